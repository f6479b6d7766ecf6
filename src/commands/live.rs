//! The commands that talk to a tenant: `plan` and `apply` (`export` is in `export.rs`).

use super::export::DownloadBar;
use super::{diff_options, plan_documents, plan_exit_code, print_plan, read_failure};
use crate::cli::{ApplyArgs, GlobalArgs, PlanArgs, PlanOutputArgs, TargetArgs};
use crate::ui::{self, Failure};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use poolsync::apply::{
    ApplyError, ApplyOptions, ApplyReport, PlanInputs, SPILL_ABOVE, apply_plan, check_mode,
    check_prune, export_source,
};
use poolsync::client::{
    ApiClient, ApiError, BatchEvent, BatchObserver, BatchOptions, BatchStatus, Cancellation,
    ConnectionSettings, SettingsError, SpooledExport, settings::process_env,
};
use poolsync::clock::now_rfc3339;
use poolsync::exit_codes;
use poolsync::export::{canonicalize, extract_users, filter_pools, to_pretty_json};
use poolsync::fsutil::write_atomic_with;
use poolsync::journal::{Journal, JournalStart};
use poolsync::model::TenantDump;
use poolsync::plan::Plan;
use poolsync::planfile::{KIND, PlanFile};
use poolsync::redact::Redactor;
use poolsync::render::{self, count_noun};
use poolsync::sieve::{Sifted, Source};
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

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn connect(target: &TargetArgs, global: &GlobalArgs) -> Result<ApiClient, Failure> {
    let settings = ConnectionSettings::resolve(&target.connection(global), &process_env)?;
    Ok(ApiClient::new(settings)?)
}

pub(crate) async fn export_tenant(
    client: &ApiClient,
    pools: &[String],
) -> Result<TenantDump, Failure> {
    let bar = DownloadBar::new();
    let result = client.export(&bar).await;
    bar.0.finish_and_clear();
    let mut dump = result?;
    filter_pools(&mut dump, pools);
    Ok(dump)
}

/// The desired file's SHA-256, for saved plans and journals, read in chunks.
fn desired_sha(path: &Path) -> Result<String, Failure> {
    poolsync::planfile::sha256_file(path).map_err(|source| read_failure(path, source))
}

/// Downloads the tenant's export, with a byte counter on a terminal; a big body goes to an
/// unnamed temporary file instead of memory.
async fn download(client: &ApiClient) -> Result<SpooledExport, Failure> {
    let bar = DownloadBar::new();
    let result = client.export_spooled(&bar, SPILL_ABOVE).await;
    bar.0.finish_and_clear();
    Ok(result?)
}

/// Exports the tenant and plans the desired file against it (limited to `--pool`s): the
/// export's body is the only copy of the tenant held, and only changed users are parsed whole.
fn plan_tenant(
    runtime: &tokio::runtime::Runtime,
    client: &ApiClient,
    desired: &Path,
    output: &PlanOutputArgs,
) -> Result<Sifted, Failure> {
    // An unreadable desired file is reported before anything is downloaded.
    std::fs::File::open(desired).map_err(|source| read_failure(desired, source))?;
    let options = diff_options(output)?;
    let body = runtime.block_on(download(client))?;
    let tenant = format!("tenant `{}`", client.settings().tenant);
    plan_documents(
        export_source(&body),
        &tenant,
        desired,
        &options,
        true,
        |error| Failure::from(body.not_a_tenant_document(&error)),
    )
}

pub fn run_plan(args: PlanArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let client = connect(&args.target, global)?;
    let sifted = plan_tenant(&runtime()?, &client, &args.desired, &args.output)?;
    let plan = &sifted.plan;
    let tenant = client.settings().tenant.clone();
    print_plan(plan, &args.output, global)?;
    if let Some(out) = &args.out {
        let mut saved = PlanFile::new(
            plan,
            &tenant,
            &args.desired.display().to_string(),
            &[],
            &args.output.ignore,
            &args.output.pools,
            &args.output.protect,
        );
        saved.desired_sha256 = desired_sha(&args.desired)?;
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

/// Writes a saved plan, atomically with mode 0600.
pub(crate) fn write_planfile(path: &Path, saved: &PlanFile) -> Result<(), Failure> {
    let bytes = serde_json::to_vec_pretty(saved).map_err(Failure::new)?;
    poolsync::fsutil::write_atomic(path, &bytes).map_err(|error| {
        Failure::new(error).hint(format!("could not write the plan `{}`", path.display()))
    })
}

/// How an apply's outcome is shown and recorded.
#[derive(Clone, Copy)]
pub(crate) struct ReportOptions<'a> {
    /// Print the plan and the report as JSON.
    pub json: bool,
    /// Mask e-mail addresses and phone numbers.
    pub redact_pii: bool,
    /// The journal to record requests in, if any.
    pub journal: Option<&'a Journal>,
}

/// Passes batch events to several observers (the progress bar and the journal).
struct Observers<'a>(Vec<&'a dyn BatchObserver>);

impl BatchObserver for Observers<'_> {
    fn on_event(&self, event: &BatchEvent<'_>) {
        for observer in &self.0 {
            observer.on_event(event);
        }
    }
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

/// Whether to go ahead: yes with `auto_approve`, else only after `yes` on a terminal. Without a
/// terminal it refuses with `hint`; a declined prompt says that nothing was changed.
pub(crate) fn approve(tenant: &str, auto_approve: bool, hint: &str) -> Result<bool, Failure> {
    if auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            "refusing to apply without confirmation: stdin is not a terminal",
        )
        .hint(hint));
    }
    if !confirm(tenant)? {
        writeln!(std::io::stderr(), "\nApply cancelled: nothing was changed.")?;
        return Ok(false);
    }
    Ok(true)
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

pub fn run_apply(mut args: ApplyArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let saved: Option<PlanFile> = match &args.planfile {
        Some(path) => Some(read_planfile(path)?),
        None => None,
    };
    if let (Some(saved), Some(path)) = (&saved, &args.planfile) {
        if saved
            .desired_path
            .starts_with(super::migrate::MIGRATION_ORIGIN)
        {
            return Err(Failure::new(format!(
                "`{}` is a plan of `poolsync migrate`",
                path.display()
            ))
            .hint(format!(
                "apply it with the `poolsync migrate` command that saved it, with `--plan {}` instead of `-o`",
                path.display()
            )));
        }
    }
    // A resumed run takes its settings from the journal: the same desired file, checked by
    // hash, and the same options; what is left to do comes from a fresh export.
    let resumed = match &args.resume {
        Some(path) => Some(poolsync::journal::read_start(path).map_err(|error| {
            Failure::new(error)
                .hint("pass the journal file an interrupted `poolsync apply` printed")
        })?),
        None => None,
    };
    if let Some(start) = &resumed {
        args.desired = Some(start.desired_path.clone().into());
        args.mode = start.mode;
        args.ignore = start.ignore.clone();
        args.pools = start.pools.clone();
        args.prune = start.prune;
        args.protect = start.protect.clone();
        args.max_deletes = start.max_deletes;
        args.batch_size = start.batch_size;
        args.journal = args.journal.take().or_else(|| args.resume.clone());
    }
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
    let desired_sha = desired_sha(&desired_path)?;
    let client = connect(&args.target, global)?;
    let tenant = client.settings().tenant.clone();
    if let Some(start) = &resumed {
        if start.desired_sha256 != desired_sha {
            return Err(stale(vec![format!(
                "the desired file `{}` changed since the interrupted run",
                desired_path.display()
            )]));
        }
        if start.tenant != tenant {
            return Err(stale(vec![format!(
                "the journal is of a run against tenant `{}`, not `{tenant}`",
                start.tenant
            )]));
        }
    }
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
    let sifted = plan_tenant(&runtime, &client, &desired_path, &output)?;
    let plan = &sifted.plan;
    let inputs = PlanInputs::new(&sifted, Source::File(&desired_path));
    if let Some(saved) = &saved {
        let reasons = saved.stale_reasons(plan);
        if !reasons.is_empty() {
            return Err(stale(reasons));
        }
    }
    check_mode(plan, args.mode).map_err(apply_failure)?;
    check_prune(plan, &inputs, args.max_deletes).map_err(apply_failure)?;

    if !args.json {
        print_plan(plan, &output, global)?;
    }
    if !plan.has_changes() {
        if args.json {
            print_apply_json(plan, None, args.redact_pii)?;
        }
        return Ok(exit_codes::SUCCESS);
    }
    if saved.is_none()
        && resumed.is_none()
        && !approve(
            &tenant,
            args.auto_approve,
            "review the plan, then run again with `--auto-approve`, or save it with `poolsync plan -o PLANFILE` and apply that",
        )?
    {
        return Ok(exit_codes::ERROR);
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
        let mut saved_users = extract_users(inputs.current, &users);
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
    let journal_path = args.journal.clone().unwrap_or_else(|| {
        let base = args
            .planfile
            .clone()
            .unwrap_or_else(|| desired_path.clone());
        let mut name = base.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{tenant}.journal.jsonl"));
        match std::env::var_os("POOLSYNC_JOURNAL_DIR") {
            Some(directory) if !directory.is_empty() => {
                std::path::PathBuf::from(directory).join(name)
            }
            _ => base.with_file_name(name),
        }
    });
    let start = JournalStart {
        event: "start".into(),
        format_version: poolsync::journal::FORMAT_VERSION.into(),
        time: now_rfc3339(),
        tenant: tenant.clone(),
        desired_path: desired_path.display().to_string(),
        desired_sha256: desired_sha.clone(),
        mode: args.mode,
        ignore: output.ignore.clone(),
        pools: output.pools.clone(),
        prune: output.prune,
        protect: output.protect.clone(),
        max_deletes: args.max_deletes,
        batch_size: args.batch_size,
        planned: [
            plan.summary.create,
            plan.summary.update,
            plan.summary.delete,
        ],
    };
    let journal = Journal::open(&journal_path, &start, now_rfc3339).map_err(|error| {
        Failure::new(error).hint(format!(
            "could not write the journal `{}`; pass `--journal FILE` to put it elsewhere; nothing was sent",
            journal_path.display()
        ))
    })?;
    apply_and_report(
        &runtime,
        &client,
        plan,
        &inputs,
        &options,
        &ReportOptions {
            json: args.json,
            redact_pii: args.redact_pii,
            journal: Some(&journal),
        },
    )
}

/// Sends `plan` with a progress bar on a terminal, verifies it, prints the report (as JSON with
/// the plan when `json`), and returns the exit code.
pub(crate) fn apply_and_report(
    runtime: &tokio::runtime::Runtime,
    client: &ApiClient,
    plan: &Plan,
    inputs: &PlanInputs<'_>,
    options: &ApplyOptions,
    shown: &ReportOptions<'_>,
) -> Result<u8, Failure> {
    let ReportOptions {
        json,
        redact_pii,
        journal,
    } = *shown;
    let total_users = (plan.changes.len() + plan.deletes.len()) as u64;
    let bar = if ui::stderr_is_terminal() && !json {
        ProgressBar::with_draw_target(Some(total_users), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("applying {wide_bar} {pos}/{len} users {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let bar = ApplyBar(bar);
    let mut observers: Vec<&dyn BatchObserver> = vec![&bar];
    if let Some(journal) = journal {
        observers.push(journal);
    }
    let observer = Observers(observers);
    let cancellation = Cancellation::new();
    let report = runtime.block_on(async {
        let ctrl_c = cancellation.escalate_on_ctrl_c();
        let report = apply_plan(client, plan, inputs, options, &observer, &cancellation).await;
        ctrl_c.abort();
        report
    });
    bar.0.finish_and_clear();
    let report = report.map_err(apply_failure)?;
    if let Some(journal) = journal {
        if let Err(error) = journal.record_end(&report) {
            tracing::warn!(
                "could not write the journal `{}`: {error}",
                journal.path().display()
            );
        }
    }
    if json {
        print_apply_json(plan, Some(&report), redact_pii)?;
    } else {
        let shown = if redact_pii {
            Redactor::new().apply_report(&report)
        } else {
            report.clone()
        };
        let mut out = std::io::stdout().lock();
        render::render_apply_report(&shown, &mut out)?;
        if let Some(journal) = journal.filter(|_| !report.is_complete()) {
            writeln!(
                out,
                "The journal is `{}`; continue with `poolsync apply --resume {}`.",
                journal.path().display(),
                journal.path().display()
            )?;
        }
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

pub(crate) fn read_planfile(path: &Path) -> Result<PlanFile, Failure> {
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

pub(crate) fn stale(reasons: Vec<String>) -> Failure {
    let mut failure = Failure::new(
        "the saved plan is stale: the tenant or the desired file changed since it was made",
    )
    .details(reasons)
    .hint("run `poolsync plan` again, review it, and apply the new plan");
    failure.code = exit_codes::STALE_PLAN;
    failure
}

pub(crate) fn apply_failure(error: ApplyError) -> Failure {
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

pub fn run_emulate(args: poolsync::emulator::cli::EmulateArgs) -> Result<u8, Failure> {
    runtime()?
        .block_on(poolsync::emulator::cli::run_emulate(args))
        .map_err(Failure::new)?;
    Ok(exit_codes::SUCCESS)
}
