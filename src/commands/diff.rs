//! `poolsync diff CURRENT DESIRED`: the plan between two files, no network.

use super::{diff_options, load_failure, plan_documents, plan_exit_code, print_plan};
use crate::cli::{DiffArgs, GlobalArgs};
use crate::ui::Failure;
use poolsync::sieve::Source;

pub fn run_diff(args: DiffArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let options = diff_options(&args.output)?;
    let sifted = plan_documents(
        Source::File(&args.current),
        &args.current.display().to_string(),
        &args.desired,
        &options,
        false,
        |error| load_failure(error, &args.current),
    )?;
    print_plan(&sifted.plan, &args.output, global)?;
    Ok(plan_exit_code(&sifted.plan, args.output.detailed_exitcode))
}
