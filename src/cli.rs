//! The top of the command line and the argument groups several commands share (binary only).
//! Each command's own arguments live next to it in `commands/`; doc comments are the `--help`
//! text.

use crate::commands::Command;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, ValueEnum};
use poolsync::client::settings::parse_duration;
use poolsync::client::{ApiPath, ConnectionArgs};
use poolsync::diff::PlanScope;
use poolsync::markdown::SHOWN_CREATES;
use poolsync::migrate::{CredentialPolicy, MatchBy};
use poolsync::model::ImportMode;
use poolsync::render::TextOptions;
use poolsync::sieve::Detail;
use std::path::PathBuf;
use std::time::Duration;

/// Plan and apply SecureAuth Identity Pool users like `terraform plan` / `terraform apply`
#[derive(Debug, Parser)]
#[command(
    name = "poolsync",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// What to do
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Options every command takes
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
}

/// Options that work before or after the subcommand
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Log more: `-v` info, `-vv` debug, `-vvv` trace (`RUST_LOG` also sets the level)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    pub(crate) verbose: u8,
    /// When to use colors
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, help_heading = "Global options", value_name = "WHEN")]
    pub(crate) color: ColorChoice,
    /// Config file with `[profiles.NAME]` tables [env: POOLSYNC_CONFIG] [default: ./poolsync.toml]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub(crate) config: Option<PathBuf>,
    /// Use this profile of the config file [env: POOLSYNC_PROFILE]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub(crate) profile: Option<String>,
    /// Memory a plan or check may take beyond reading a record at a time, like `8G` or `512M`; what would need more is refused before it starts [default: half the machine's memory]
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) max_memory: Option<u64>,
}

/// A size in bytes: a number, with `K`, `M`, `G` or `T` (powers of 1024) and an optional `B`.
fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let number = upper.strip_suffix('B').unwrap_or(&upper);
    let (digits, unit) = match number.char_indices().last() {
        Some((at, unit @ ('K' | 'M' | 'G' | 'T'))) => (&number[..at], unit),
        _ => (number, ' '),
    };
    let scale = match unit {
        'K' => 1u64 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        'T' => 1 << 40,
        _ => 1,
    };
    digits
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite() && *value > 0.0)
        .map(|value| (value * scale as f64) as u64)
        .ok_or_else(|| {
            format!("`{text}` is not a size; write it like `8G`, `512M` or `1500000000`")
        })
}

/// How to reach the tenant (`export`, `plan`, `apply`)
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Connection")]
pub(crate) struct TargetArgs {
    /// Base URL of the service, such as `https://example.com` [env: POOLSYNC_URL]
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// Tenant id [env: POOLSYNC_TENANT]
    #[arg(long, value_name = "ID")]
    pub(crate) tenant: Option<String>,
    /// OAuth2 client id of a client in the tenant's System workspace [env: POOLSYNC_CLIENT_ID]
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Read the client secret from this file (otherwise from `POOLSYNC_CLIENT_SECRET`)
    #[arg(long, value_name = "PATH")]
    pub(crate) client_secret_file: Option<PathBuf>,
    /// Pin the configuration path instead of trying `legacy` first and `current` on 404
    #[arg(long, value_name = "STYLE", value_parser = choice::<ApiPath>())]
    pub(crate) api_path: Option<ApiPath>,
    #[command(flatten)]
    pub(crate) transport: TransportArgs,
}

/// How to talk to any tenant: transport security and timeouts
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Connection")]
pub(crate) struct TransportArgs {
    /// Allow plain `http://` to hosts other than loopback (credentials travel unencrypted)
    #[arg(long)]
    pub(crate) allow_insecure_http: bool,
    /// Give up connecting after this long, such as `10s` or `500ms` [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) connect_timeout: Option<Duration>,
    /// Give up when the server sends nothing for this long, such as `60s` or `2m` [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
}

impl TransportArgs {
    /// Connection arguments with only these set (and the global config file).
    pub(crate) fn connection(&self, global: &GlobalArgs) -> ConnectionArgs {
        ConnectionArgs {
            config: global.config.clone(),
            allow_insecure_http: self.allow_insecure_http,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            ..ConnectionArgs::default()
        }
    }
}

impl TargetArgs {
    /// The library's connection arguments: these, plus the global config file and profile.
    pub(crate) fn connection(&self, global: &GlobalArgs) -> ConnectionArgs {
        ConnectionArgs {
            url: self.url.clone(),
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
            client_secret_file: self.client_secret_file.clone(),
            profile: global.profile.clone(),
            api_path: self.api_path,
            ..self.transport.connection(global)
        }
    }
}

/// When to color output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set
    Auto,
    /// Always
    Always,
    /// Never
    Never,
}

/// How a plan is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// For people, in the style of `terraform plan`
    Text,
    /// The versioned JSON plan, for machines
    Json,
    /// For a pull-request comment: tables, collapsible sections, kept under GitHub's size limit
    Markdown,
}

/// What a plan covers: ignore paths, pools, pruning (shared by `diff`, `plan` and `apply`)
#[derive(Debug, Args, Clone)]
pub(crate) struct ScopeArgs {
    /// Leave a path inside users out of the comparison, like `/metadata/last_sync` (repeatable; `*` matches any key)
    #[arg(long, value_name = "PATH")]
    pub(crate) ignore: Vec<String>,
    /// Only plan users of this pool (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pub(crate) pools: Vec<String>,
    /// Plan to delete users that are in the tenant but not in the desired file
    #[arg(long)]
    pub(crate) prune: bool,
    /// Never delete users whose id or an identifier matches this glob, like `*@example.com` (repeatable)
    #[arg(long, value_name = "PATTERN", requires = "prune")]
    pub(crate) protect: Vec<String>,
}

impl ScopeArgs {
    /// The scope as the library records it.
    pub(crate) fn scope(&self) -> PlanScope {
        PlanScope {
            ignore: self.ignore.clone(),
            pools: self.pools.clone(),
            prune: self.prune,
            protect: self.protect.clone(),
        }
    }
}

/// How a plan is computed and shown (shared by `diff` and `plan`)
#[derive(Debug, Args, Clone)]
pub(crate) struct PlanOutputArgs {
    /// How to print the plan [default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<OutputFormat>,
    /// Print the versioned JSON plan instead of text (same as `--format json`)
    #[arg(long, conflicts_with = "format")]
    pub(crate) json: bool,
    /// Mask e-mail addresses and phone numbers in the output with stable short hashes, for public CI logs
    #[arg(long)]
    pub(crate) redact_pii: bool,
    /// Show every changed user, even in large plans
    #[arg(long)]
    pub(crate) full: bool,
    /// Exit 2 when the plan has changes, 0 when it has none
    #[arg(long)]
    pub(crate) detailed_exitcode: bool,
    #[command(flatten)]
    pub(crate) scope: ScopeArgs,
    /// Above this many changed users, group similar changes (see `--full`)
    #[arg(long, default_value_t = poolsync::render::SUMMARY_THRESHOLD, value_name = "N")]
    pub(crate) summary_threshold: usize,
}

impl PlanOutputArgs {
    /// How the plan is shown.
    pub(crate) fn shown(&self) -> PlanShown {
        PlanShown {
            format: if self.json {
                OutputFormat::Json
            } else {
                self.format.unwrap_or(OutputFormat::Text)
            },
            redact_pii: self.redact_pii,
            full: self.full,
            summary_threshold: self.summary_threshold,
        }
    }
}

/// How a plan is shown, resolved from any command's flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanShown {
    /// Text, JSON or Markdown.
    pub(crate) format: OutputFormat,
    /// Mask e-mail addresses and phone numbers.
    pub(crate) redact_pii: bool,
    /// Every changed user, however many.
    pub(crate) full: bool,
    /// Above this many changed users, group similar changes.
    pub(crate) summary_threshold: usize,
}

impl PlanShown {
    /// How much of the plan to work out for this output: a grouped text plan shows a few
    /// creates of each pool, so only those are diffed in full (a million creates then cost their
    /// ids), and a Markdown comment has room for fewer than 2,000; JSON and a text
    /// `--full` show every change whole.
    pub(crate) fn detail(&self) -> Detail {
        match self.format {
            OutputFormat::Text if !self.full => Detail::Shown {
                threshold: self.summary_threshold,
                examples: TextOptions::default().examples_per_group,
            },
            // A comment has room for fewer creates than this.
            OutputFormat::Markdown => Detail::Shown {
                threshold: SHOWN_CREATES,
                examples: SHOWN_CREATES,
            },
            _ => Detail::Full,
        }
    }
}

/// A library enum offered as a command-line value. The library does not depend on clap, so its
/// enums list their names and help here, next to the other `--help` text.
pub(crate) trait Choice: Copy + PartialEq + Send + Sync + 'static {
    /// Each value with its name on the command line and its help.
    const CHOICES: &'static [(Self, &'static str, &'static str)];

    /// The value's name on the command line.
    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(value, _, _)| *value == self)
            .map_or("", |(_, name, _)| name)
    }
}

/// The parser of a [`Choice`]: clap's possible values, with their help, mapped to the value.
pub(crate) fn choice<T: Choice>() -> impl TypedValueParser<Value = T> {
    let values = T::CHOICES
        .iter()
        .map(|(_, name, help)| PossibleValue::new(*name).help(*help));
    PossibleValuesParser::new(values).map(|name: String| {
        T::CHOICES
            .iter()
            .find(|(_, known, _)| *known == name)
            .map(|(value, _, _)| *value)
            .unwrap_or(T::CHOICES[0].0)
    })
}

impl Choice for ApiPath {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            ApiPath::Legacy,
            "legacy",
            "`/api/identity/system/{tid}/configuration`, the path on the vendor's migration page",
        ),
        (
            ApiPath::Current,
            "current",
            "`/api/identity/{tid}/configuration`, the path of the current Swagger spec",
        ),
    ];
}

impl Choice for ImportMode {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            ImportMode::Ignore,
            "ignore",
            "Existing users are left as they are",
        ),
        (
            ImportMode::Fail,
            "fail",
            "Create only: the import stops with 409 at the first existing user",
        ),
        (
            ImportMode::Update,
            "update",
            "Existing users are replaced as a whole",
        ),
    ];
}

impl Choice for CredentialPolicy {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            CredentialPolicy::Keep,
            "keep",
            "Copy password hashes as they are",
        ),
        (
            CredentialPolicy::ForceReset,
            "force-reset",
            "Copy password hashes, expired, so that users must reset their password",
        ),
        (
            CredentialPolicy::Drop,
            "drop",
            "Leave password credentials out",
        ),
    ];
}

impl Choice for MatchBy {
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (
            MatchBy::Id,
            "id",
            "A source user is the target user with the same id",
        ),
        (
            MatchBy::Identifier,
            "identifier",
            "A source user is the target user of the mapped pool that shares an e-mail, mobile or uid identifier",
        ),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every choice's command-line name is the name the library writes in JSON.
    fn names_match_serde<T: Choice + serde::Serialize>() {
        for (value, name, _) in T::CHOICES {
            assert_eq!(serde_json::to_value(value).unwrap(), *name);
            assert_eq!(value.name(), *name);
        }
    }

    #[test]
    fn choices_are_named_as_the_library_serializes_them() {
        names_match_serde::<ImportMode>();
        names_match_serde::<CredentialPolicy>();
        names_match_serde::<MatchBy>();
        for (value, name, _) in ApiPath::CHOICES {
            assert_eq!(value.name(), *name);
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
