//! Command-line arguments (binary only). Doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use poolsync::client::settings::parse_duration;
use poolsync::client::{ApiPath, ConnectionArgs, ImportMode};
use poolsync::migrate::{CredentialPolicy, MatchBy, parse_pool_mapping};
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
pub struct Cli {
    /// What to do
    #[command(subcommand)]
    pub command: Command,
    /// Options every command takes
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options that work before or after the subcommand
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log more: `-v` info, `-vv` debug, `-vvv` trace (`RUST_LOG` also sets the level)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// When to use colors
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Config file with `[profiles.NAME]` tables [env: POOLSYNC_CONFIG] [default: ./poolsync.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use this profile of the config file [env: POOLSYNC_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

/// How to reach the tenant (`export`, `plan`, `apply`)
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Connection")]
pub struct TargetArgs {
    /// Base URL of the service, such as `https://example.com` [env: POOLSYNC_URL]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Tenant id [env: POOLSYNC_TENANT]
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// OAuth2 client id of a client in the tenant's System workspace [env: POOLSYNC_CLIENT_ID]
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Read the client secret from this file (otherwise from `POOLSYNC_CLIENT_SECRET`)
    #[arg(long, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,
    /// Pin the configuration path instead of trying `legacy` first and `current` on 404
    #[arg(long, value_name = "STYLE", value_enum)]
    pub api_path: Option<ApiPath>,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// How to talk to any tenant: transport security and timeouts
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Connection")]
pub struct TransportArgs {
    /// Allow plain `http://` to hosts other than loopback (credentials travel unencrypted)
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Give up connecting after this long, such as `10s` or `500ms` [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Give up when the server sends nothing for this long, such as `60s` or `2m` [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

impl TransportArgs {
    /// Connection arguments with only these set (and the global config file).
    fn connection(&self, global: &GlobalArgs) -> ConnectionArgs {
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
    pub fn connection(&self, global: &GlobalArgs) -> ConnectionArgs {
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
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set
    Auto,
    /// Always
    Always,
    /// Never
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the plan between two tenant files, without any network
    Diff(DiffArgs),
    /// Check a desired file without touching anything
    Validate(ValidateArgs),
    /// Export the tenant's pools and users as a canonical `TenantDump`
    Export(ExportArgs),
    /// Show what apply would change in the tenant to match a desired file
    Plan(PlanArgs),
    /// Change the tenant to match a desired file (or a saved plan), then verify it
    Apply(ApplyArgs),
    /// Move users from one tenant (or a saved export) into another, then verify
    Migrate(MigrateArgs),
    /// Convert another identity platform's user export into a desired file
    Convert(crate::commands::convert::ConvertArgs),
    /// Serve a local emulator of the SecureAuth System API, for rehearsals and tests
    Emulate(poolsync::emulator::cli::EmulateArgs),
}

/// How a plan is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people, in the style of `terraform plan`
    Text,
    /// The versioned JSON plan, for machines
    Json,
    /// For a pull-request comment: tables, collapsible sections, kept under GitHub's size limit
    Markdown,
}

/// How a plan is computed and shown (shared by `diff` and `plan`)
#[derive(Debug, Args, Clone)]
pub struct PlanOutputArgs {
    /// How to print the plan [default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,
    /// Print the versioned JSON plan instead of text (same as `--format json`)
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Mask e-mail addresses and phone numbers in the output with stable short hashes, for public CI logs
    #[arg(long)]
    pub redact_pii: bool,
    /// Show every changed user, even in large plans
    #[arg(long)]
    pub full: bool,
    /// Exit 2 when the plan has changes, 0 when it has none
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Leave a path inside users out of the comparison, like `/metadata/last_sync` (repeatable; `*` matches any key)
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Only plan users of this pool (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pub pools: Vec<String>,
    /// Above this many changed users, group similar changes (see `--full`)
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub summary_threshold: usize,
    /// Plan to delete users that are in the tenant but not in the desired file
    #[arg(long)]
    pub prune: bool,
    /// Never delete users whose id or an identifier matches this glob, like `*@example.com` (repeatable)
    #[arg(long, value_name = "PATTERN", requires = "prune")]
    pub protect: Vec<String>,
}

impl PlanOutputArgs {
    /// The format asked for, `--json` included.
    pub fn format(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.format.unwrap_or(OutputFormat::Text)
        }
    }
}

/// Show the plan between two tenant files, without any network
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The current state: a tenant export
    pub current: PathBuf,
    /// The desired state: a `TenantDump` file, ids and derived fields optional
    pub desired: PathBuf,
    #[command(flatten)]
    pub output: PlanOutputArgs,
}

/// Check a desired file without touching anything
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The file to check
    pub file: PathBuf,
    /// A pool that exists in the tenant although the file does not list it (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pub known_pools: Vec<String>,
}

/// Export the tenant's pools and users as a canonical `TenantDump`
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Write to this file (mode 0600, written atomically) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only export this pool and its users (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pub pools: Vec<String>,
}

/// Show what apply would change in the tenant to match a desired file
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The desired state: a `TenantDump` file
    #[arg(long, value_name = "FILE")]
    pub desired: PathBuf,
    /// Also save the plan here, for `poolsync apply PLANFILE` (no secrets, no personal data)
    #[arg(short = 'o', long = "out", value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub output: PlanOutputArgs,
}

/// Change the tenant to match a desired file (or a saved plan), then verify it
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// A plan saved by `poolsync plan -o`; applied exactly, without asking
    #[arg(
        value_name = "PLANFILE",
        conflicts_with_all = ["desired", "resume"],
        required_unless_present_any = ["desired", "resume"]
    )]
    pub planfile: Option<PathBuf>,
    /// Continue an interrupted apply from its journal: re-plans what is left against a fresh export
    #[arg(long, value_name = "JOURNAL", conflicts_with = "desired")]
    pub resume: Option<PathBuf>,
    /// Write the journal here [default: `<file>.<tenant>.journal.jsonl` next to the plan or desired file, or in `POOLSYNC_JOURNAL_DIR`]
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// The desired state: a `TenantDump` file
    #[arg(long, value_name = "FILE")]
    pub desired: Option<PathBuf>,
    /// `update` creates and replaces users; `fail` only creates and refuses plans with updates
    #[arg(long, value_enum, default_value_t = ImportMode::Update)]
    pub mode: ImportMode,
    /// Apply without asking (required when stdin is not a terminal)
    #[arg(long)]
    pub auto_approve: bool,
    /// Users per import request (at most 100, whatever is asked)
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub batch_size: usize,
    /// Requests in flight at once (1 to 8)
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub parallelism: u8,
    /// Print the plan and the apply report as JSON
    #[arg(long)]
    pub json: bool,
    /// Mask e-mail addresses and phone numbers in the output with stable short hashes, for public CI logs
    #[arg(long)]
    pub redact_pii: bool,
    /// Show every changed user, even in large plans
    #[arg(long)]
    pub full: bool,
    /// Leave a path inside users out of the comparison (repeatable)
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Only apply users of this pool (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pub pools: Vec<String>,
    /// Delete users that are in the tenant but not in the desired file (guarded, see below)
    #[arg(long)]
    pub prune: bool,
    /// With `--prune`: refuse the whole plan if it deletes more than N users (required to delete any)
    #[arg(long, value_name = "N", requires = "prune")]
    pub max_deletes: Option<usize>,
    /// With `--prune`: never delete users whose id or an identifier matches this glob (repeatable)
    #[arg(long, value_name = "PATTERN", requires = "prune")]
    pub protect: Vec<String>,
    /// With `--prune`: where to save the users about to be deleted [default: poolsync-backup-<tenant>-<UTC time>.json]
    #[arg(long, value_name = "FILE", requires = "prune")]
    pub backup: Option<PathBuf>,
}

/// What a migration does with users that already exist in the target and differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MigrateMode {
    /// Leave them as they are, list them, and migrate the rest
    Fail,
    /// Replace them with the source's version
    Update,
}

/// Move users from one tenant (or a saved export) into another, then verify
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Profile of the source tenant, from the config file
    #[arg(
        long,
        value_name = "PROFILE",
        conflicts_with = "from_file",
        required_unless_present = "from_file"
    )]
    pub from: Option<String>,
    /// Take the source from a saved export instead of a tenant
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Profile of the target tenant, from the config file
    #[arg(long, value_name = "PROFILE")]
    pub to: String,
    /// Move the users of source pool SRC into target pool DST (repeatable; other pools keep their id)
    #[arg(long = "pool-map", value_name = "SRC=DST", value_parser = parse_pool_mapping)]
    pub pool_map: Vec<(String, String)>,
    /// Only migrate this source pool (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pub pools: Vec<String>,
    /// Users that exist in the target and differ: `fail` lists them and leaves them out, `update` replaces them
    #[arg(long, value_enum, default_value_t = MigrateMode::Fail)]
    pub mode: MigrateMode,
    /// Password credentials: `keep` the hashes, `force-reset` keeps them expired, `drop` leaves them out
    #[arg(long, value_enum, default_value_t = CredentialPolicy::Keep, value_name = "POLICY")]
    pub credentials: CredentialPolicy,
    /// Find a source user's target user by `id`, or by a shared e-mail, mobile or uid `identifier`
    #[arg(long, value_enum, default_value_t = MatchBy::Id, value_name = "HOW")]
    pub match_by: MatchBy,
    /// Write where every user lands, as CSV (or JSON for a `.json` name; mode 0600)
    #[arg(long, value_name = "FILE")]
    pub id_map_out: Option<PathBuf>,
    /// Save the plan here and stop, without applying (no secrets, no personal data)
    #[arg(
        short = 'o',
        long = "out",
        value_name = "PLANFILE",
        conflicts_with_all = ["auto_approve", "plan"]
    )]
    pub out: Option<PathBuf>,
    /// Apply exactly this plan, saved by `migrate -o` with the same options; refuse if anything changed
    #[arg(long, value_name = "PLANFILE")]
    pub plan: Option<PathBuf>,
    /// Apply without asking (required when stdin is not a terminal)
    #[arg(long)]
    pub auto_approve: bool,
    /// Show every changed user, even in large plans
    #[arg(long)]
    pub full: bool,
    /// Users per import request (at most 100, whatever is asked)
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub batch_size: usize,
    /// Requests in flight at once (1 to 8)
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub parallelism: u8,
    #[command(flatten)]
    pub transport: TransportArgs,
}

impl MigrateArgs {
    /// The connection arguments both profiles resolve with: only the config file and the
    /// transport settings, never a URL, tenant or secret (those come from each profile).
    pub fn connection(&self, global: &GlobalArgs) -> ConnectionArgs {
        self.transport.connection(global)
    }
}
