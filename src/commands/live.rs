//! The commands that talk to a tenant: `export`, `plan` and `apply`.

use super::{diff_failure, diff_options, load_file, plan_exit_code, print_plan};
use crate::cli::{ApplyArgs, ExportArgs, GlobalArgs, PlanArgs, PlanOutputArgs, TargetArgs};
use crate::ui::{self, Failure};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use poolsync::apply::{ApplyError, ApplyOptions, ApplyReport, apply_plan, check_mode, check_prune};
use poolsync::client::{
    ApiClient, ApiError, BatchEvent, BatchObserver, BatchOptions, BatchStatus, Cancellation,
    ConnectionSettings, ExportProgress, SettingsError, settings::process_env,
};
use poolsync::diff::diff;
use poolsync::exit_codes;
use poolsync::export::{canonicalize, extract_users, filter_pools, to_pretty_json};
use poolsync::fsutil::write_atomic_with;
use poolsync::model::TenantDump;
use poolsync::plan::Plan;
use poolsync::planfile::{KIND, PlanFile, sha256_hex};
use poolsync::redact::Redactor;
use poolsync::render::{self, count_noun};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        let hint = error.hint();
        let failure = Failure::new(error);
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

impl From<SettingsError> for Failure {
    fn from(error: SettingsError) -> Self {
        let hint = error.hint();
        let failure = Failure::new(error);
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn connect(target: &TargetArgs, global: &GlobalArgs) -> Result<ApiClient, Failure> {
    let settings = ConnectionSettings::resolve(&target.connection(global), &process_env)?;
    Ok(ApiClient::new(settings)?)
}

/// A byte counter on stderr while an export downloads, on a terminal only.
struct DownloadBar(ProgressBar);

impl DownloadBar {
    fn new() -> DownloadBar {
        let bar = if ui::stderr_is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("exporting {bytes} ({bytes_per_sec}) {wide_bar} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        DownloadBar(bar)
    }
}

impl ExportProgress for DownloadBar {
    fn started(&self, total_bytes: Option<u64>) {
        if let Some(total) = total_bytes {
            self.0.set_length(total);
        }
    }
    fn received(&self, bytes_so_far: u64) {
        self.0.set_position(bytes_so_far);
    }
}

async fn export_tenant(client: &ApiClient, pools: &[String]) -> Result<TenantDump, Failure> {
    let bar = DownloadBar::new();
    let result = client.export(&bar).await;
    bar.0.finish_and_clear();
    let mut dump = result?;
    filter_pools(&mut dump, pools);
    Ok(dump)
}

pub fn run_export(args: ExportArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let client = connect(&args.target, global)?;
    let mut dump = runtime()?.block_on(export_tenant(&client, &args.pools))?;
    canonicalize(&mut dump);
    let tenant = &client.settings().tenant;
    match &args.output {
        Some(path) => {
            write_atomic_with(path, |out| to_pretty_json(&dump, out)).map_err(|error| {
                Failure::new(error).hint(format!("could not write `{}`", path.display()))
            })?;
            writeln!(
                std::io::stderr(),
                "Exported {} in {} from tenant `{tenant}` to `{}`",
                count_noun(dump.users.len(), "user", "users"),
                count_noun(dump.pools.len(), "pool", "pools"),
                path.display()
            )?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            to_pretty_json(&dump, &mut out)?;
            out.flush()?;
        }
    }
    Ok(exit_codes::SUCCESS)
}

/// Reads the desired file, keeping its bytes' hash for saved plans.
fn read_desired(path: &Path) -> Result<(TenantDump, String), Failure> {
    let bytes = std::fs::read(path).map_err(|source| {
        Failure::new(poolsync::error::LoadError::Read {
            path: path.to_path_buf(),
            source,
        })
        .hint("check the path and its permissions")
    })?;
    let sha = sha256_hex(&bytes);
    drop(bytes);
    Ok((load_file(path)?, sha))
}

fn compute_plan(
    current: &TenantDump,
    desired: &TenantDump,
    output: &PlanOutputArgs,
    desired_path: &Path,
    tenant: &str,
) -> Result<Plan, Failure> {
    let options = diff_options(output)?;
    diff(current, desired, &options).map_err(|error| {
        diff_failure(
            error,
            &format!("tenant `{tenant}`"),
            &desired_path.display().to_string(),
        )
    })
}

pub fn run_plan(args: PlanArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let (desired, desired_sha) = read_desired(&args.desired)?;
    let client = connect(&args.target, global)?;
    let current = runtime()?.block_on(export_tenant(&client, &args.output.pools))?;
    let tenant = client.settings().tenant.clone();
    let plan = compute_plan(&current, &desired, &args.output, &args.desired, &tenant)?;
    print_plan(&plan, &args.output, global)?;
    if let Some(out) = &args.out {
        let mut saved = PlanFile::new(
            &plan,
            &tenant,
            &args.desired.display().to_string(),
            &[],
            &args.output.ignore,
            &args.output.pools,
            &args.output.protect,
        );
        saved.desired_sha256 = desired_sha;
        let bytes = serde_json::to_vec_pretty(&saved).map_err(Failure::new)?;
        poolsync::fsutil::write_atomic(out, &bytes)?;
        writeln!(
            std::io::stderr(),
            "Saved the plan to `{}`; apply exactly this plan with `poolsync apply {}`",
            out.display(),
            out.display()
        )?;
    }
    Ok(plan_exit_code(&plan, args.output.detailed_exitcode))
}

/// Drives a progress bar from batch events: users done, users/s and ETA.
struct ApplyBar(ProgressBar);

impl BatchObserver for ApplyBar {
    fn on_event(&self, event: &BatchEvent<'_>) {
        if let BatchEvent::Finished { outcome } = event {
            if outcome.status == BatchStatus::Applied {
                self.0.inc(outcome.user_ids.len() as u64);
            }
        }
    }
}

fn confirm(tenant: &str) -> Result<bool, Failure> {
    let mut stderr = std::io::stderr();
    write!(
        stderr,
        "\nDo you want to perform these actions on tenant `{tenant}`?\n  Only `yes` will be accepted to approve.\n\n  Enter a value: "
    )?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

pub fn run_apply(args: ApplyArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let saved: Option<PlanFile> = match &args.planfile {
        Some(path) => Some(read_planfile(path)?),
        None => None,
    };
    let desired_path = match (&saved, &args.desired) {
        (Some(saved), _) => std::path::PathBuf::from(&saved.desired_path),
        (None, Some(path)) => path.clone(),
        (None, None) => return Err(Failure::new("give a saved plan or `--desired FILE`")),
    };
    let output = PlanOutputArgs {
        format: None,
        json: args.json,
        redact_pii: args.redact_pii,
        full: args.full,
        detailed_exitcode: false,
        ignore: saved
            .as_ref()
            .map_or(args.ignore.clone(), |s| s.ignore.clone()),
        pools: saved
            .as_ref()
            .map_or(args.pools.clone(), |s| s.pools.clone()),
        summary_threshold: 50,
        prune: saved.as_ref().map_or(args.prune, |s| s.prune),
        protect: saved
            .as_ref()
            .map_or(args.protect.clone(), |s| s.protect.clone()),
    };
    let (desired, desired_sha) = read_desired(&desired_path)?;
    let client = connect(&args.target, global)?;
    let tenant = client.settings().tenant.clone();
    if let Some(saved) = &saved {
        if saved.desired_sha256 != desired_sha {
            return Err(stale(vec![format!(
                "the desired file `{}` changed since the plan was made",
                desired_path.display()
            )]));
        }
        if saved.tenant != tenant {
            return Err(stale(vec![format!(
                "the plan was made for tenant `{}`, not `{tenant}`",
                saved.tenant
            )]));
        }
    }
    let runtime = runtime()?;
    let current = runtime.block_on(export_tenant(&client, &output.pools))?;
    let plan = compute_plan(&current, &desired, &output, &desired_path, &tenant)?;
    if let Some(saved) = &saved {
        let reasons = saved.stale_reasons(&plan);
        if !reasons.is_empty() {
            return Err(stale(reasons));
        }
    }
    check_mode(&plan, args.mode).map_err(apply_failure)?;
    check_prune(&plan, &current, &desired, args.max_deletes).map_err(apply_failure)?;

    if !args.json {
        print_plan(&plan, &output, global)?;
    }
    if !plan.has_changes() {
        if args.json {
            print_apply_json(&plan, None, args.redact_pii)?;
        }
        return Ok(exit_codes::SUCCESS);
    }
    if saved.is_none() && !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::new("refusing to apply without confirmation: stdin is not a terminal")
                .hint("review the plan, then run again with `--auto-approve`, or save it with `poolsync plan -o PLANFILE` and apply that"));
        }
        if !confirm(&tenant)? {
            writeln!(std::io::stderr(), "\nApply cancelled: nothing was changed.")?;
            return Ok(exit_codes::ERROR);
        }
    }

    if !plan.deletes.is_empty() {
        let backup = args
            .backup
            .clone()
            .unwrap_or_else(|| default_backup_path(&tenant));
        let users: Vec<(String, String)> = plan
            .deletes
            .iter()
            .map(|d| (d.pool_id.clone(), d.user_id.clone()))
            .collect();
        let mut saved_users = extract_users(&current, &users);
        canonicalize(&mut saved_users);
        write_atomic_with(&backup, |out| to_pretty_json(&saved_users, out)).map_err(|error| {
            Failure::new(error).hint(format!(
                "could not write the backup `{}`; nothing was sent",
                backup.display()
            ))
        })?;
        writeln!(
            std::io::stderr(),
            "Saved the {} about to be deleted to `{}` (restore with `poolsync apply --desired {}`)",
            count_noun(users.len(), "user", "users"),
            backup.display(),
            backup.display()
        )?;
    }
    let total_users = (plan.changes.len() + plan.deletes.len()) as u64;
    let bar = if ui::stderr_is_terminal() && !args.json {
        ProgressBar::with_draw_target(Some(total_users), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("applying {wide_bar} {pos}/{len} users {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let observer = ApplyBar(bar);
    let options = ApplyOptions {
        mode: args.mode,
        batch_size: args.batch_size,
        batch: BatchOptions {
            parallelism: usize::from(args.parallelism),
            ..BatchOptions::default()
        },
        diff: diff_options(&output)?,
        now: now_rfc3339(),
        max_deletes: args.max_deletes,
    };
    let cancellation = Cancellation::new();
    let report = runtime.block_on(async {
        let ctrl_c = cancellation.escalate_on_ctrl_c();
        let report = apply_plan(
            &client,
            &plan,
            &current,
            &desired,
            &options,
            &observer,
            &cancellation,
        )
        .await;
        ctrl_c.abort();
        report
    });
    observer.0.finish_and_clear();
    let report = report.map_err(apply_failure)?;
    if args.json {
        print_apply_json(&plan, Some(&report), args.redact_pii)?;
    } else if args.redact_pii {
        let report = Redactor::new().apply_report(&report);
        render::render_apply_report(&report, &mut std::io::stdout().lock())?;
    } else {
        render::render_apply_report(&report, &mut std::io::stdout().lock())?;
    }
    Ok(if report.is_complete() {
        exit_codes::SUCCESS
    } else if report.applied_any() || report.interrupted {
        exit_codes::PARTIAL
    } else {
        exit_codes::ERROR
    })
}

/// `{"plan": …, "apply": …}` (see `examples/schemas/apply-report.schema.json`); `apply` is
/// `null` when there was nothing to do.
fn print_apply_json(
    plan: &Plan,
    report: Option<&ApplyReport>,
    redact_pii: bool,
) -> Result<(), Failure> {
    let (plan, report) = if redact_pii {
        let mut redactor = Redactor::new();
        (
            redactor.plan(plan),
            report.map(|r| redactor.apply_report(r)),
        )
    } else {
        (plan.clone(), report.cloned())
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(
        &mut out,
        &serde_json::json!({"plan": plan, "apply": report}),
    )
    .map_err(Failure::new)?;
    writeln!(out)?;
    Ok(())
}

fn read_planfile(path: &Path) -> Result<PlanFile, Failure> {
    let bytes = std::fs::read(path).map_err(|source| {
        Failure::new(poolsync::error::LoadError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let saved: PlanFile = serde_json::from_slice(&bytes).map_err(|error| {
        Failure::new(format!("`{}` is not a poolsync plan: {error}", path.display()))
            .hint("save a plan with `poolsync plan --desired FILE -o PLANFILE`, or pass the desired file with `--desired`")
    })?;
    if saved.kind != KIND {
        return Err(Failure::new(format!(
            "`{}` is not a poolsync plan",
            path.display()
        )));
    }
    Ok(saved)
}

fn stale(reasons: Vec<String>) -> Failure {
    let mut failure = Failure::new(
        "the saved plan is stale: the tenant or the desired file changed since it was made",
    )
    .details(reasons)
    .hint("run `poolsync plan` again, review it, and apply the new plan");
    failure.code = exit_codes::STALE_PLAN;
    failure
}

fn apply_failure(error: ApplyError) -> Failure {
    match &error {
        ApplyError::FailModeWithUpdates { examples, .. } => {
            let details = examples.clone();
            Failure::new(error).details(details).hint(
                "nothing was sent; use `--mode update` to replace existing records, or drop them from the desired file",
            )
        }
        ApplyError::Batch(_) => Failure::new(error),
        ApplyError::DeletesNeedLimit { count } => {
            let hint = format!("nothing was sent; review the plan, then pass `--max-deletes {count}` (or more) to allow it, or `--protect PATTERN` to keep users");
            Failure::new(error).hint(hint)
        }
        ApplyError::TooManyDeletes { .. } => Failure::new(error)
            .hint("check that the desired file is complete; raise `--max-deletes` only if these deletes are intended"),
        ApplyError::EmptyPool { .. } => Failure::new(error).hint(
            "a truncated desired file must not empty a pool; nothing was sent",
        ),
    }
}

/// `poolsync-backup-<tenant>-<UTC timestamp>.json` in the working directory.
fn default_backup_path(tenant: &str) -> std::path::PathBuf {
    let stamp = now_rfc3339().replace([':', '-'], "");
    std::path::PathBuf::from(format!("poolsync-backup-{tenant}-{stamp}.json"))
}

/// The current UTC time as RFC 3339, for derived timestamps of imported records.
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

pub fn run_emulate(args: poolsync::emulator::cli::EmulateArgs) -> Result<u8, Failure> {
    runtime()?
        .block_on(poolsync::emulator::cli::run_emulate(args))
        .map_err(Failure::new)?;
    Ok(exit_codes::SUCCESS)
}
