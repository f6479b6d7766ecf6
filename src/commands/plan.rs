//! `poolsync plan --desired FILE [-o PLANFILE]`: export the tenant, plan the desired file
//! against it, print the plan, and save it for `apply` on request.

use super::common::{
    connect, desired_sha, plan_exit_code, plan_tenant, print_plan, runtime, write_planfile,
};
use crate::cli::{GlobalArgs, PlanOutputArgs, TargetArgs};
use crate::command_error::Failure;
use clap::Args;
use poolsync::planfile::{PlanFile, PlanOrigin};
use std::io::Write;
use std::path::PathBuf;

/// Show what apply would change in the tenant to match a desired file
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The desired state: a `TenantDump` file
    #[arg(long, value_name = "FILE")]
    desired: PathBuf,
    /// Also save the plan here, for `poolsync apply PLANFILE` (no secrets, no personal data)
    #[arg(short = 'o', long = "out", value_name = "PLANFILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) output: PlanOutputArgs,
}

pub(crate) fn run(args: PlanArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let scope = args.output.scope.scope();
    let options = scope.diff_options()?;
    let client = connect(&args.target, global)?;
    // The plan saved with `-o` holds each user's action and fingerprint, not patches, so what
    // the output shows decides how much is worked out.
    let shown = args.output.shown();
    let sifted = plan_tenant(
        &runtime()?,
        &client,
        &args.desired,
        &options,
        shown.detail(),
    )?;
    let plan = &sifted.plan;
    print_plan(plan, shown, global)?;
    if let Some(out) = &args.out {
        let origin = PlanOrigin::DesiredFile {
            path: args.desired.display().to_string(),
            sha256: desired_sha(&args.desired)?,
        };
        let saved = PlanFile::new(plan, &client.settings().tenant, origin, &scope);
        write_planfile(out, &saved)?;
        writeln!(
            std::io::stderr(),
            "Saved the plan to `{}`; apply exactly this plan with `poolsync apply {}`",
            out.display(),
            out.display()
        )?;
    }
    Ok(plan_exit_code(plan, args.output.detailed_exitcode))
}
