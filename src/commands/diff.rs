//! `poolsync diff CURRENT DESIRED`: the plan between two files, no network.

use super::common::{plan_documents, plan_exit_code, print_plan};
use crate::cli::{GlobalArgs, PlanOutputArgs};
use crate::command_error::{Failure, load_failure};
use clap::Args;
use poolsync::sieve::Source;
use std::path::PathBuf;

/// Show the plan between two tenant files, without any network
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The current state: a tenant export
    current: PathBuf,
    /// The desired state: a `TenantDump` file, ids and derived fields optional
    desired: PathBuf,
    #[command(flatten)]
    pub(crate) output: PlanOutputArgs,
}

pub(crate) fn run(args: DiffArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let options = args.output.scope.scope().diff_options()?;
    let sifted = plan_documents(
        Source::File(&args.current),
        &args.current.display().to_string(),
        &args.desired,
        &options,
        false,
        args.output.shown().detail(),
        |error| load_failure(error, &args.current),
    )?;
    print_plan(&sifted.plan, args.output.shown(), global)?;
    Ok(plan_exit_code(&sifted.plan, args.output.detailed_exitcode))
}
