//! Connection settings: which tenant to talk to, as which client, and how.
//!
//! [`ConnectionArgs`] are the command-line flags; [`ConnectionSettings::resolve`] merges them with
//! the environment and an optional TOML config file of named profiles into validated settings,
//! before any request is made. Precedence is flags, then environment, then the profile. The
//! environment is passed in as a lookup function so tests never touch the process environment.
//!
//! The client secret is never a flag value (it would sit in shell history and process lists): it
//! comes from `POOLSYNC_CLIENT_SECRET`, from `--client-secret-file`, or from the profile's
//! `client_secret_env` / `client_secret_file`. This module does no network I/O.

use crate::secret::Secret;
use reqwest::Url;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable holding the base URL.
pub const ENV_URL: &str = "POOLSYNC_URL";
/// Environment variable holding the tenant id.
pub const ENV_TENANT: &str = "POOLSYNC_TENANT";
/// Environment variable holding the OAuth2 client id.
pub const ENV_CLIENT_ID: &str = "POOLSYNC_CLIENT_ID";
/// Environment variable holding the OAuth2 client secret.
pub const ENV_CLIENT_SECRET: &str = "POOLSYNC_CLIENT_SECRET";
/// Environment variable naming the profile to use.
pub const ENV_PROFILE: &str = "POOLSYNC_PROFILE";
/// Environment variable naming the config file.
pub const ENV_CONFIG: &str = "POOLSYNC_CONFIG";
/// The config file read when none is named; it may be absent.
pub const DEFAULT_CONFIG_FILE: &str = "poolsync.toml";
/// The profile used when none is named, if the config file has one by that name.
pub const DEFAULT_PROFILE: &str = "default";
/// Connect timeout when none is given.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout (longest silence while waiting for bytes) when none is given.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Which of the two published paths serves `/configuration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiPath {
    /// `/api/identity/system/{tid}/configuration`, the path on the vendor's migration page.
    Legacy,
    /// `/api/identity/{tid}/configuration`, the path of the current Swagger spec.
    Current,
}

impl ApiPath {
    /// The other path style, tried once when this one answers 404.
    pub fn other(self) -> ApiPath {
        match self {
            ApiPath::Legacy => ApiPath::Current,
            ApiPath::Current => ApiPath::Legacy,
        }
    }

    /// The path segments of the configuration endpoint after the base URL.
    pub fn configuration_segments(self, tenant: &str) -> Vec<&str> {
        match self {
            ApiPath::Legacy => vec!["api", "identity", "system", tenant, "configuration"],
            ApiPath::Current => vec!["api", "identity", tenant, "configuration"],
        }
    }

    /// The name used by `--api-path`.
    pub fn name(self) -> &'static str {
        match self {
            ApiPath::Legacy => "legacy",
            ApiPath::Current => "current",
        }
    }
}

/// What the command line says about how to reach the tenant (the binary's `TargetArgs` and
/// global options fill it); [`ConnectionSettings::resolve`] layers it over the environment and
/// the config file.
#[derive(Debug, Clone, Default)]
pub struct ConnectionArgs {
    /// `--url`: base URL of the service.
    pub url: Option<String>,
    /// `--tenant`: tenant id.
    pub tenant: Option<String>,
    /// `--client-id`: OAuth2 client id.
    pub client_id: Option<String>,
    /// `--client-secret-file`: file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// `--profile`: profile of the config file.
    pub profile: Option<String>,
    /// `--config`: the config file.
    pub config: Option<PathBuf>,
    /// `--api-path`: a pinned configuration path.
    pub api_path: Option<ApiPath>,
    /// `--allow-insecure-http`: plain HTTP beyond loopback.
    pub allow_insecure_http: bool,
    /// `--connect-timeout`.
    pub connect_timeout: Option<Duration>,
    /// `--timeout`: the longest silence tolerated while waiting for bytes.
    pub timeout: Option<Duration>,
}

/// Validated settings, ready to build an [`crate::client::ApiClient`].
///
/// Its `Debug` output is safe to log: the secret is a [`Secret`].
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Base URL, without a trailing slash, `https` or loopback `http` unless allowed otherwise.
    pub url: Url,
    /// Tenant id.
    pub tenant: String,
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret.
    pub client_secret: Secret,
    /// A pinned configuration path, or `None` to try `legacy` then `current`.
    pub api_path: Option<ApiPath>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout: the longest silence tolerated while waiting for bytes.
    pub read_timeout: Duration,
    /// The profile the settings came from, if any.
    pub profile: Option<String>,
}

/// One profile of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Base URL.
    pub url: Option<String>,
    /// Tenant id.
    pub tenant: Option<String>,
    /// OAuth2 client id.
    pub client_id: Option<String>,
    /// Name of the environment variable that holds the client secret.
    pub client_secret_env: Option<String>,
    /// File holding the client secret; relative paths start at the config file's directory.
    pub client_secret_file: Option<PathBuf>,
    /// Pinned configuration path.
    pub api_path: Option<ApiPath>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// Resolving connection settings failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A required setting has no value anywhere.
    #[error(
        "no {setting} given: pass `--{flag}`, set `{env}`, or set `{key}` in a profile of the config file"
    )]
    Missing {
        /// What is missing, in words.
        setting: &'static str,
        /// The flag, without dashes.
        flag: &'static str,
        /// The environment variable.
        env: &'static str,
        /// The profile key.
        key: &'static str,
    },
    /// No client secret anywhere.
    #[error(
        "no client secret given: set `{ENV_CLIENT_SECRET}`, pass `--client-secret-file PATH`, or set `client_secret_env` or `client_secret_file` in a profile of the config file"
    )]
    MissingSecret,
    /// The profile names an environment variable that is not set.
    #[error("profile `{profile}` takes the client secret from `{variable}`, which is not set")]
    SecretVariableUnset {
        /// The profile.
        profile: String,
        /// The variable it names.
        variable: String,
    },
    /// The secret file could not be read.
    #[error("cannot read the client secret file `{}`", path.display())]
    SecretFileRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The secret file or variable holds nothing.
    #[error("the client secret from {origin} is empty")]
    EmptySecret {
        /// Where it came from, in words.
        origin: String,
    },
    /// A profile sets both ways of giving the secret.
    #[error("profile `{profile}` sets both `client_secret_env` and `client_secret_file`")]
    ConflictingSecretSources {
        /// The profile.
        profile: String,
    },
    /// An explicitly named config file does not exist or cannot be read.
    #[error("cannot read the config file `{}`", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown keys.
    #[error("invalid config file `{}`: {message}", path.display())]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its position.
        message: String,
    },
    /// The named profile is not in the config file.
    #[error("no profile `{name}` in `{}`", path.display())]
    UnknownProfile {
        /// The profile asked for.
        name: String,
        /// The config file.
        path: PathBuf,
        /// The profiles it has.
        available: Vec<String>,
        /// Whether the file exists at all (the default one may not).
        file_exists: bool,
    },
    /// The URL does not parse or is not usable as a base URL.
    #[error("invalid URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL (without any password).
        url: String,
        /// Why.
        reason: String,
    },
    /// Plain HTTP to a host that is not loopback, without `--allow-insecure-http`.
    #[error(
        "refusing plain `http://` to `{host}`: the client secret and the users' data would travel unencrypted"
    )]
    InsecureUrl {
        /// The host.
        host: String,
    },
    /// The tenant id cannot be a path segment.
    #[error("invalid tenant id `{tenant}`: use letters, digits, `-`, `_` and `.` only")]
    InvalidTenant {
        /// The tenant id.
        tenant: String,
    },
}

impl SettingsError {
    /// A hint on what to do, shown after the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            SettingsError::MissingSecret => Some(
                "the secret is never accepted as a flag value, so that it stays out of shell \
                 history and process lists"
                    .to_string(),
            ),
            SettingsError::UnknownProfile {
                file_exists: false, ..
            } => Some(format!(
                "there is no such file: name one with `--config FILE` or `{ENV_CONFIG}`"
            )),
            SettingsError::UnknownProfile { available, .. } if available.is_empty() => {
                Some("the file defines no `[profiles.NAME]` table".to_string())
            }
            SettingsError::UnknownProfile { available, .. } => Some(format!(
                "profiles in the file: {}",
                available
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            SettingsError::InsecureUrl { .. } => Some(
                "use `https://`, or pass `--allow-insecure-http` if the network is trusted"
                    .to_string(),
            ),
            SettingsError::InvalidUrl { .. } => {
                Some("give the base URL only, such as `https://example.com`".to_string())
            }
            _ => None,
        }
    }
}

/// Looks up environment variables; tests pass a map, the binary passes [`process_env`].
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads the process environment; an empty value counts as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

impl ConnectionSettings {
    /// Resolves flags, environment (through `env`) and the config file into settings.
    ///
    /// The profile is `--profile`, else `POOLSYNC_PROFILE`, else `default` if the file has one.
    /// Each value comes from the flag, else the environment, else the profile.
    pub fn resolve(args: &ConnectionArgs, env: EnvLookup<'_>) -> Result<Self, SettingsError> {
        let config = load_config(args, env)?;
        let wanted_profile = args.profile.clone().or_else(|| non_empty(env(ENV_PROFILE)));
        let (profile_name, profile) = match wanted_profile {
            Some(name) => {
                let profile = config.profile(&name)?;
                (Some(name), profile)
            }
            None => match config.file.profiles.get(DEFAULT_PROFILE) {
                Some(profile) => (Some(DEFAULT_PROFILE.to_string()), profile.clone()),
                None => (None, Profile::default()),
            },
        };
        let layered = |flag: &Option<String>, variable: &str, from_profile: &Option<String>| {
            non_empty(flag.clone())
                .or_else(|| non_empty(env(variable)))
                .or_else(|| non_empty(from_profile.clone()))
        };
        let url = layered(&args.url, ENV_URL, &profile.url);
        let tenant = layered(&args.tenant, ENV_TENANT, &profile.tenant);
        let client_id = layered(&args.client_id, ENV_CLIENT_ID, &profile.client_id);
        let secret = match &args.client_secret_file {
            Some(path) => Some(read_secret_file(path)?),
            None => match non_empty(env(ENV_CLIENT_SECRET)) {
                Some(value) => Some(Secret::new(value)),
                None => secret_from_profile(profile_name.as_deref(), &profile, &config.path, env)?,
            },
        };
        build(
            args,
            Layered {
                url,
                tenant,
                client_id,
                secret,
                api_path: args.api_path.or(profile.api_path),
                profile: profile_name,
            },
        )
    }

    /// Resolves settings from one named profile only, ignoring the connection flags and
    /// `POOLSYNC_*` variables; for commands that talk to two tenants (`migrate --from --to`),
    /// where one flag or variable must not silently apply to both.
    ///
    /// The config file, `--allow-insecure-http` and the timeouts still come from `args`, and
    /// `--api-path` pins the path when the profile does not.
    pub fn resolve_profile(
        args: &ConnectionArgs,
        name: &str,
        env: EnvLookup<'_>,
    ) -> Result<Self, SettingsError> {
        let config = load_config(args, env)?;
        let profile = config.profile(name)?;
        let secret = secret_from_profile(Some(name), &profile, &config.path, env)?;
        build(
            args,
            Layered {
                url: non_empty(profile.url.clone()),
                tenant: non_empty(profile.tenant.clone()),
                client_id: non_empty(profile.client_id.clone()),
                secret,
                api_path: profile.api_path.or(args.api_path),
                profile: Some(name.to_string()),
            },
        )
    }
}

/// Values gathered from the layers, before validation.
struct Layered {
    url: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    secret: Option<Secret>,
    api_path: Option<ApiPath>,
    profile: Option<String>,
}

fn build(args: &ConnectionArgs, values: Layered) -> Result<ConnectionSettings, SettingsError> {
    let url = values.url.ok_or(SettingsError::Missing {
        setting: "URL",
        flag: "url",
        env: ENV_URL,
        key: "url",
    })?;
    let tenant = values.tenant.ok_or(SettingsError::Missing {
        setting: "tenant",
        flag: "tenant",
        env: ENV_TENANT,
        key: "tenant",
    })?;
    let client_id = values.client_id.ok_or(SettingsError::Missing {
        setting: "client id",
        flag: "client-id",
        env: ENV_CLIENT_ID,
        key: "client_id",
    })?;
    let client_secret = values.secret.ok_or(SettingsError::MissingSecret)?;
    let valid_tenant = tenant
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && tenant != "."
        && tenant != "..";
    if !valid_tenant {
        return Err(SettingsError::InvalidTenant { tenant });
    }
    Ok(ConnectionSettings {
        url: validate_url(&url, args.allow_insecure_http)?,
        tenant,
        client_id,
        client_secret,
        api_path: values.api_path,
        connect_timeout: args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        read_timeout: args.timeout.unwrap_or(DEFAULT_READ_TIMEOUT),
        profile: values.profile,
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

/// The config file as read, with its path for messages.
struct LoadedConfig {
    path: PathBuf,
    file: ConfigFile,
    exists: bool,
}

impl LoadedConfig {
    fn profile(&self, name: &str) -> Result<Profile, SettingsError> {
        self.file
            .profiles
            .get(name)
            .cloned()
            .ok_or_else(|| SettingsError::UnknownProfile {
                name: name.to_string(),
                path: self.path.clone(),
                available: self.file.profiles.keys().cloned().collect(),
                file_exists: self.exists,
            })
    }
}

/// Reads the config file: a named one must exist, the default one may be absent.
fn load_config(args: &ConnectionArgs, env: EnvLookup<'_>) -> Result<LoadedConfig, SettingsError> {
    let named = args
        .config
        .clone()
        .or_else(|| non_empty(env(ENV_CONFIG)).map(PathBuf::from));
    let path = named
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if named.is_none() && error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LoadedConfig {
                path,
                file: ConfigFile::default(),
                exists: false,
            });
        }
        Err(source) => return Err(SettingsError::ConfigRead { path, source }),
    };
    let file = toml::from_str(&text).map_err(|error| SettingsError::ConfigParse {
        path: path.clone(),
        message: error.to_string().trim().replace('\n', " "),
    })?;
    Ok(LoadedConfig {
        path,
        file,
        exists: true,
    })
}

fn secret_from_profile(
    profile_name: Option<&str>,
    profile: &Profile,
    config_path: &Path,
    env: EnvLookup<'_>,
) -> Result<Option<Secret>, SettingsError> {
    let profile_name = profile_name.unwrap_or(DEFAULT_PROFILE).to_string();
    match (&profile.client_secret_env, &profile.client_secret_file) {
        (Some(_), Some(_)) => Err(SettingsError::ConflictingSecretSources {
            profile: profile_name,
        }),
        (Some(variable), None) => match env(variable) {
            Some(value) if !value.is_empty() => Ok(Some(Secret::new(value))),
            _ => Err(SettingsError::SecretVariableUnset {
                profile: profile_name,
                variable: variable.clone(),
            }),
        },
        (None, Some(file)) => {
            let base = config_path.parent().unwrap_or(Path::new(""));
            Ok(Some(read_secret_file(&base.join(file))?))
        }
        (None, None) => Ok(None),
    }
}

/// Reads a secret file; a trailing line break (as editors and `echo` add) is not part of it.
fn read_secret_file(path: &Path) -> Result<Secret, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::SecretFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(SettingsError::EmptySecret {
            origin: format!("`{}`", path.display()),
        });
    }
    Ok(Secret::new(value))
}

/// Checks a base URL: `https`, or `http` to loopback (or anywhere with `allow_insecure_http`);
/// no credentials, query or fragment. Returns it without a trailing slash.
pub fn validate_url(raw: &str, allow_insecure_http: bool) -> Result<Url, SettingsError> {
    let mut url = Url::parse(raw.trim()).map_err(|error| SettingsError::InvalidUrl {
        url: raw.to_string(),
        reason: error.to_string(),
    })?;
    let invalid = |url: &Url, reason: &str| {
        let mut shown = url.clone();
        let _ = shown.set_password(None);
        SettingsError::InvalidUrl {
            url: shown.to_string(),
            reason: reason.to_string(),
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            &url,
            "credentials in the URL are not accepted; the client id and secret are separate settings",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(&url, "a base URL has no query or fragment"));
    }
    let host = match url.host() {
        Some(host) => host.to_string(),
        None => return Err(invalid(&url, "no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&url) => {}
        "http" => return Err(SettingsError::InsecureUrl { host }),
        _ => {
            return Err(invalid(
                &url,
                "the scheme must be `https` (or `http` to loopback)",
            ));
        }
    }
    let trimmed = url.path().trim_end_matches('/').to_string();
    url.set_path(&trimmed);
    Ok(url)
}

/// Whether `url` names this machine (127.0.0.0/8, `::1` or `localhost`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => IpAddr::V4(address).is_loopback(),
        Some(url::Host::Ipv6(address)) => IpAddr::V6(address).is_loopback(),
        None => false,
    }
}

/// Parses `90`, `1.5`, `30s`, `500ms` or `2m` into a duration; zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit_seconds) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as `30s`, `500ms` or `2m`"))?;
    let seconds = value * unit_seconds;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 86_400.0 {
        return Err(format!(
            "`{text}` is out of range: give a duration above zero and at most a day"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}
