//! One module per subcommand, each holding its arguments (`…Args`, whose doc comments are the
//! help) next to its `run` function; `common` holds what several of them share. A command module
//! never imports another command module.

mod apply;
mod check_logins;
mod common;
mod completions;
mod convert;
mod diff;
mod emulate;
mod export;
mod man;
mod migrate;
mod plan;
mod validate;

use crate::cli::Cli;
use crate::command_error::Failure;
use clap::Subcommand;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show the plan between two tenant files, without any network
    Diff(diff::DiffArgs),
    /// Check a desired file without touching anything
    Validate(validate::ValidateArgs),
    /// Export the tenant's pools and users as a canonical `TenantDump`
    Export(export::ExportArgs),
    /// Show what apply would change in the tenant to match a desired file
    Plan(plan::PlanArgs),
    /// Change the tenant to match a desired file (or a saved plan), then verify it
    Apply(apply::ApplyArgs),
    /// Move users from one tenant (or a saved export) into another, then verify
    Migrate(migrate::MigrateArgs),
    /// Convert another identity platform's user export into a desired file
    Convert(convert::ConvertArgs),
    /// Check that canary accounts can sign in: their known passwords through the tenant's
    /// password check
    CheckLogins(check_logins::CheckLoginsArgs),
    /// Serve a local emulator of the SecureAuth System API, for rehearsals and tests
    Emulate(emulate::EmulateArgs),
    /// Print a shell completion script, such as `poolsync completions bash > poolsync.bash`
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), such as `poolsync man | man -l -`
    Man(man::ManArgs),
}

impl Command {
    /// Whether the command's logs are what it tells people (the emulator's banner and request
    /// lines), so that they start one level higher.
    pub(crate) fn is_chatty(&self) -> bool {
        matches!(self, Command::Emulate(_))
    }

    /// Whether `--redact-pii` masks the command's output, errors included.
    fn redacts_pii(&self) -> bool {
        match self {
            Command::Diff(args) => args.output.redact_pii,
            Command::Plan(args) => args.output.redact_pii,
            Command::Apply(args) => args.redact_pii,
            Command::CheckLogins(args) => args.redact_pii,
            _ => false,
        }
    }
}

/// Runs the command and returns the exit code.
pub(crate) fn run(cli: Cli) -> Result<u8, Failure> {
    let redact_pii = cli.command.redacts_pii();
    let global = &cli.global;
    let result = match cli.command {
        Command::Diff(args) => diff::run(args, global),
        Command::Validate(args) => validate::run(args),
        Command::Export(args) => export::run(args, global),
        Command::Plan(args) => plan::run(args, global),
        Command::Apply(args) => apply::run(args, global),
        Command::Migrate(args) => migrate::run(args, global),
        Command::Convert(args) => convert::run(args),
        Command::CheckLogins(args) => check_logins::run(args, global),
        Command::Emulate(args) => emulate::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    };
    if redact_pii {
        result.map_err(Failure::redacted)
    } else {
        result
    }
}
