//! Resolving connection settings from flags, environment and profiles.

use poolsync::client::{ApiPath, ConnectionArgs, ConnectionSettings, SettingsError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

struct Fixture {
    directory: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Fixture {
    /// A directory with an empty `poolsync.toml`, and an empty environment.
    fn new() -> Fixture {
        let fixture = Fixture {
            directory: tempfile::tempdir().unwrap(),
            env: HashMap::new(),
        };
        fixture.file("poolsync.toml", "");
        fixture
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.directory.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn set(&mut self, name: &str, value: &str) -> &mut Fixture {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// Args that point at the fixture's config file, so no test ever reads a `poolsync.toml`
    /// of the working directory.
    fn args(&self) -> ConnectionArgs {
        ConnectionArgs {
            config: Some(self.directory.path().join("poolsync.toml")),
            ..ConnectionArgs::default()
        }
    }

    fn resolve(&self, args: &ConnectionArgs) -> Result<ConnectionSettings, SettingsError> {
        ConnectionSettings::resolve(args, &|name| self.env.get(name).cloned())
    }
}

const PROFILES: &str = r#"
[profiles.staging]
url = "https://staging.example.com/"
tenant = "staging-tenant"
client_id = "staging-client"
client_secret_env = "STAGING_SECRET"

[profiles.prod]
url = "https://prod.example.com"
tenant = "prod-tenant"
client_id = "prod-client"
client_secret_file = "prod.secret"
api_path = "current"
"#;

#[test]
fn flags_beat_environment_which_beats_the_profile() {
    let mut fixture = Fixture::new();
    fixture.file("poolsync.toml", PROFILES);
    fixture
        .set("POOLSYNC_PROFILE", "staging")
        .set("STAGING_SECRET", "from-profile-variable")
        .set("POOLSYNC_TENANT", "env-tenant")
        .set("POOLSYNC_CLIENT_ID", "env-client");
    let args = ConnectionArgs {
        client_id: Some("flag-client".into()),
        ..fixture.args()
    };
    let settings = fixture.resolve(&args).unwrap();
    assert_eq!(settings.url.as_str(), "https://staging.example.com/");
    assert_eq!(settings.tenant, "env-tenant");
    assert_eq!(settings.client_id, "flag-client");
    assert_eq!(settings.client_secret.expose(), "from-profile-variable");
    assert_eq!(settings.profile.as_deref(), Some("staging"));
    assert_eq!(settings.connect_timeout, Duration::from_secs(10));

    fixture.set("POOLSYNC_CLIENT_SECRET", "from-environment");
    let settings = fixture.resolve(&args).unwrap();
    assert_eq!(settings.client_secret.expose(), "from-environment");

    let secret_file = fixture.file("flag.secret", "from-flag-file\n");
    let args = ConnectionArgs {
        client_secret_file: Some(secret_file),
        ..args
    };
    let settings = fixture.resolve(&args).unwrap();
    assert_eq!(settings.client_secret.expose(), "from-flag-file");
}

#[test]
fn profile_secret_file_is_relative_to_the_config_file_and_pins_the_path() {
    let mut fixture = Fixture::new();
    let config = fixture.file("elsewhere.toml", PROFILES);
    fixture.file("prod.secret", "prod-secret\r\n");
    fixture.set("POOLSYNC_CONFIG", config.to_str().unwrap());
    let args = ConnectionArgs {
        profile: Some("prod".into()),
        ..ConnectionArgs::default()
    };
    let settings = fixture.resolve(&args).unwrap();
    assert_eq!(settings.client_secret.expose(), "prod-secret");
    assert_eq!(settings.api_path, Some(ApiPath::Current));
    assert_eq!(settings.tenant, "prod-tenant");
}

#[test]
fn resolve_profile_ignores_connection_flags_and_variables() {
    let mut fixture = Fixture::new();
    fixture.file("poolsync.toml", PROFILES);
    fixture.file("prod.secret", "prod-secret");
    fixture
        .set("STAGING_SECRET", "staging-secret")
        .set("POOLSYNC_URL", "https://env.example.com")
        .set("POOLSYNC_CLIENT_SECRET", "env-secret");
    let args = ConnectionArgs {
        tenant: Some("flag-tenant".into()),
        timeout: Some(Duration::from_secs(7)),
        ..fixture.args()
    };
    let lookup = |name: &str| fixture.env.get(name).cloned();
    let from = ConnectionSettings::resolve_profile(&args, "staging", &lookup).unwrap();
    let to = ConnectionSettings::resolve_profile(&args, "prod", &lookup).unwrap();
    assert_eq!(from.tenant, "staging-tenant");
    assert_eq!(from.client_secret.expose(), "staging-secret");
    assert_eq!(to.url.as_str(), "https://prod.example.com/");
    assert_eq!(to.client_secret.expose(), "prod-secret");
    assert_eq!(to.read_timeout, Duration::from_secs(7));
}

#[test]
fn a_missing_setting_names_every_way_to_give_it() {
    let mut fixture = Fixture::new();
    fixture.set("POOLSYNC_URL", "https://example.com");
    let error = fixture.resolve(&fixture.args()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no tenant given: pass `--tenant`, set `POOLSYNC_TENANT`, or set `tenant` in a profile \
         of the config file"
    );
    fixture
        .set("POOLSYNC_TENANT", "t")
        .set("POOLSYNC_CLIENT_ID", "c");
    let error = fixture.resolve(&fixture.args()).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("no client secret given"), "{message}");
    for way in [
        "POOLSYNC_CLIENT_SECRET",
        "--client-secret-file",
        "client_secret_env",
        "client_secret_file",
    ] {
        assert!(message.contains(way), "{message}");
    }
    assert!(error.hint().unwrap().contains("never accepted as a flag"));
}

#[test]
fn the_default_config_file_may_be_missing_but_a_named_one_may_not() {
    let mut fixture = Fixture::new();
    fixture
        .set("POOLSYNC_URL", "https://example.com")
        .set("POOLSYNC_TENANT", "t")
        .set("POOLSYNC_CLIENT_ID", "c")
        .set("POOLSYNC_CLIENT_SECRET", "s");
    // No `--config` and no `POOLSYNC_CONFIG`: `./poolsync.toml` is optional. The test's
    // working directory is the crate root, which has none.
    assert!(fixture.resolve(&ConnectionArgs::default()).is_ok());
    let error = fixture
        .resolve(&ConnectionArgs {
            profile: Some("prod".into()),
            ..ConnectionArgs::default()
        })
        .unwrap_err();
    assert_eq!(error.to_string(), "no profile `prod` in `poolsync.toml`");
    assert!(error.hint().unwrap().contains("--config FILE"));
    fixture.set("POOLSYNC_CONFIG", "/nonexistent/poolsync.toml");
    let error = fixture.resolve(&ConnectionArgs::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot read the config file `/nonexistent/poolsync.toml`"
    );
}

#[test]
fn an_unknown_profile_lists_the_ones_there_are() {
    let mut fixture = Fixture::new();
    fixture.file("poolsync.toml", PROFILES);
    fixture.set("POOLSYNC_PROFILE", "qa");
    let error = fixture.resolve(&fixture.args()).unwrap_err();
    assert!(
        error.to_string().starts_with("no profile `qa` in `"),
        "{error}"
    );
    assert_eq!(
        error.hint().unwrap(),
        "profiles in the file: `prod`, `staging`"
    );
}

#[test]
fn config_files_with_unknown_keys_or_bad_toml_are_refused() {
    let fixture = Fixture::new();
    fixture.file(
        "poolsync.toml",
        "[profiles.x]\nurl = \"https://e.com\"\nclient_secret = \"plain\"\n",
    );
    let error = fixture.resolve(&fixture.args()).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `client_secret`"),
        "{error}"
    );
    fixture.file("poolsync.toml", "[profiles.x\n");
    let error = fixture.resolve(&fixture.args()).unwrap_err();
    assert!(
        error.to_string().starts_with("invalid config file"),
        "{error}"
    );
}

#[test]
fn a_profile_variable_that_is_unset_is_named() {
    let mut fixture = Fixture::new();
    fixture.file("poolsync.toml", PROFILES);
    fixture.set("POOLSYNC_PROFILE", "staging");
    let error = fixture.resolve(&fixture.args()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "profile `staging` takes the client secret from `STAGING_SECRET`, which is not set"
    );
}

fn with_url(url: &str, allow_insecure_http: bool) -> Result<ConnectionSettings, SettingsError> {
    let mut fixture = Fixture::new();
    fixture
        .set("POOLSYNC_URL", url)
        .set("POOLSYNC_TENANT", "t")
        .set("POOLSYNC_CLIENT_ID", "c")
        .set("POOLSYNC_CLIENT_SECRET", "s");
    let args = ConnectionArgs {
        allow_insecure_http,
        ..fixture.args()
    };
    fixture.resolve(&args)
}

#[test]
fn plain_http_is_only_for_loopback_unless_allowed() {
    for loopback in [
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://[::1]:9000",
        "http://localhost:3000/",
    ] {
        assert!(with_url(loopback, false).is_ok(), "{loopback}");
    }
    let error = with_url("http://example.com", false).unwrap_err();
    assert_eq!(
        error.to_string(),
        "refusing plain `http://` to `example.com`: the client secret and the users' data would \
         travel unencrypted"
    );
    assert!(error.hint().unwrap().contains("--allow-insecure-http"));
    assert!(with_url("http://example.com", true).is_ok());
    assert!(with_url("https://example.com/prefix/", false).is_ok());
}

#[test]
fn urls_with_credentials_or_odd_schemes_are_refused_without_echoing_the_password() {
    let error = with_url("https://user:hunter2@example.com", false).unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert!(
        error.to_string().contains("credentials in the URL"),
        "{error}"
    );
    let error = with_url("ftp://example.com", false).unwrap_err();
    assert!(error.to_string().contains("scheme"), "{error}");
    assert!(with_url("example.com", false).is_err());
}

#[test]
fn debug_output_of_settings_never_shows_the_secret() {
    let mut settings = with_url("https://example.com", false).unwrap();
    settings.client_secret = poolsync::secret::Secret::new("very-secret-value");
    let shown = format!("{settings:?}");
    assert!(shown.contains("client_secret: (redacted)"), "{shown}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
}
