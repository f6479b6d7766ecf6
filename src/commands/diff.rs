//! `poolsync diff CURRENT DESIRED`: the plan between two files, no network.

use super::{check_desired, diff_failure, diff_options, load_pair, plan_exit_code, print_plan};
use crate::cli::{DiffArgs, GlobalArgs};
use crate::ui::Failure;

pub fn run_diff(args: DiffArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let options = diff_options(&args.output)?;
    let (current, desired) = load_pair(&args.current, &args.desired)?;
    check_desired(&desired, &current, &args.desired.display().to_string())?;
    let plan = poolsync::diff::diff(&current, &desired, &options).map_err(|error| {
        diff_failure(
            error,
            &args.current.display().to_string(),
            &args.desired.display().to_string(),
        )
    })?;
    print_plan(&plan, &args.output, global)?;
    Ok(plan_exit_code(&plan, args.output.detailed_exitcode))
}
