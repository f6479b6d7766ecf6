//! Command-line arguments (binary only). Doc comments here are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
}

/// How a plan is computed and shown (shared by `diff` and `plan`)
#[derive(Debug, Args, Clone)]
pub struct PlanOutputArgs {
    /// Print the versioned JSON plan instead of text
    #[arg(long)]
    pub json: bool,
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
