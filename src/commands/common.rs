//! What several commands share: connecting, downloading and planning a tenant, printing a plan,
//! saved plans, and carrying out a plan with its report.

use crate::cli::{GlobalArgs, OutputFormat, PlanShown, TargetArgs};
use crate::command_error::{
    Failure, apply_failure, canary_file_failure, desired_problems, diff_failure, load_failure,
    read_failure, too_big,
};
use crate::ui::{self, ApplyBar, DownloadBar, ReadingBar};
use poolsync::apply::{ApplyOptions, ApplyReport, PlanInputs, SPILL_ABOVE, apply_plan};
use poolsync::canary::{self, Canary, CanaryFileError, CanaryReport};
use poolsync::client::{
    ApiClient, BatchEvent, BatchObserver, Cancellation, ConnectionSettings, SpooledExport,
    settings::process_env,
};
use poolsync::diff::DiffOptions;
use poolsync::error::LoadError;
use poolsync::exit_codes;
use poolsync::journal::Journal;
use poolsync::markdown::{MarkdownOptions, render_markdown};
use poolsync::plan::Plan;
use poolsync::planfile::{KIND, PlanFile};
use poolsync::redact::Redactor;
use poolsync::render::{self, TextOptions};
use poolsync::sieve::{Detail, PlanError, Side, SieveOptions, Sifted, Source};
use std::io::{BufWriter, Write};
use std::path::Path;

/// The async runtime of the network commands.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A client of the tenant named by the flags, the environment and the config file.
pub(crate) fn connect(target: &TargetArgs, global: &GlobalArgs) -> Result<ApiClient, Failure> {
    let settings = ConnectionSettings::resolve(&target.connection(global), &process_env)?;
    Ok(ApiClient::new(settings)?)
}

/// The desired file's SHA-256, for saved plans and journals, read in chunks.
pub(crate) fn desired_sha(path: &Path) -> Result<String, Failure> {
    poolsync::planfile::sha256_file(path).map_err(|source| read_failure(path, source))
}

/// Downloads the tenant's export, with a byte counter on a terminal; a big body goes to an
/// unnamed temporary file instead of memory.
pub(crate) async fn download(client: &ApiClient) -> Result<SpooledExport, Failure> {
    let bar = DownloadBar::new();
    Ok(client.export_spooled(&bar, SPILL_ABOVE).await?)
}

/// Plans `desired` against `current` (see [`poolsync::sieve::plan`]), with the desired
/// document checked first, a progress line on a terminal, and errors that name the files.
/// `current_error` words a current document that cannot be read.
pub(crate) fn plan_documents(
    current: Source<'_>,
    current_name: &str,
    desired: &Path,
    options: &DiffOptions,
    scope_current: bool,
    detail: Detail,
    current_error: impl FnOnce(LoadError) -> Failure,
) -> Result<Sifted, Failure> {
    let bar = ReadingBar::new();
    let result = poolsync::sieve::plan(
        current,
        Source::File(desired),
        SieveOptions {
            check_desired: true,
            scope_current,
            progress: Some(&bar),
            max_memory: memory_budget(),
            detail,
            ..SieveOptions::new(options)
        },
    );
    drop(bar);
    let desired_name = desired.display().to_string();
    result.map_err(|error| match error {
        PlanError::Load {
            side: Side::Current,
            error,
        } => current_error(error),
        PlanError::Load { error, .. } => load_failure(error, desired),
        PlanError::Desired { problems, total } => desired_problems(&problems, total, &desired_name),
        PlanError::Diff(error) => diff_failure(error, current_name, &desired_name),
        PlanError::TooBig(error) => too_big(error),
    })
}

/// The memory budget of this run (`--max-memory`), set once before the command runs.
static MEMORY_BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Sets the memory budget: `--max-memory`, else half the machine's memory (or of the control
/// group's limit, in a container, when lower).
pub(crate) fn set_memory_budget(global: &GlobalArgs) {
    let budget = global.max_memory.unwrap_or_else(|| {
        let machine = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|meminfo| {
                let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            });
        let group = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
            .ok()
            .and_then(|limit| limit.trim().parse::<u64>().ok());
        match (machine, group) {
            (Some(machine), Some(group)) => machine.min(group) / 2,
            (Some(memory), None) | (None, Some(memory)) => memory / 2,
            // Not Linux: no budget to go by.
            (None, None) => u64::MAX,
        }
    });
    let _ = MEMORY_BUDGET.set(budget);
}

/// See [`set_memory_budget`].
pub(crate) fn memory_budget() -> u64 {
    MEMORY_BUDGET.get().copied().unwrap_or(u64::MAX)
}

/// Exports the tenant and plans the desired file against it (limited to the scope's pools): the
/// export's body is the only copy of the tenant held, and only changed users are parsed whole.
pub(crate) fn plan_tenant(
    runtime: &tokio::runtime::Runtime,
    client: &ApiClient,
    desired: &Path,
    options: &DiffOptions,
    detail: Detail,
) -> Result<Sifted, Failure> {
    // An unreadable desired file is reported before anything is downloaded.
    std::fs::File::open(desired).map_err(|source| read_failure(desired, source))?;
    let body = runtime.block_on(download(client))?;
    let tenant = format!("tenant `{}`", client.settings().tenant);
    plan_documents(
        poolsync::apply::export_source(&body),
        &tenant,
        desired,
        options,
        true,
        detail,
        |error| Failure::from(body.not_a_tenant_document(&error)),
    )
}

/// Writes the plan to stdout as text, JSON or Markdown, masked with `--redact-pii`.
pub(crate) fn print_plan(
    plan: &Plan,
    shown: PlanShown,
    global: &GlobalArgs,
) -> Result<(), Failure> {
    let redacted;
    let plan = if shown.redact_pii {
        redacted = Redactor::new().plan(plan);
        &redacted
    } else {
        plan
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match shown.format {
        OutputFormat::Json => {
            for warning in &plan.warnings {
                tracing::warn!("{warning}");
            }
            render::render_json(plan, &mut out)?;
        }
        OutputFormat::Markdown => {
            render_markdown(plan, &mut out, &MarkdownOptions::default())?;
        }
        OutputFormat::Text => {
            let options = TextOptions {
                color: ui::use_color(global.color, ui::stdout_is_terminal()),
                full: shown.full,
                summary_threshold: shown.summary_threshold,
                ..TextOptions::default()
            };
            render::render_text(plan, &mut out, &options)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// 0, or 2 with `--detailed-exitcode` when the plan has changes.
pub(crate) fn plan_exit_code(plan: &Plan, detailed: bool) -> u8 {
    if detailed && plan.has_changes() {
        exit_codes::CHANGES
    } else {
        exit_codes::SUCCESS
    }
}

/// Reads a saved plan (of `plan -o` or `migrate -o`).
pub(crate) fn read_planfile(path: &Path) -> Result<PlanFile, Failure> {
    let bytes = std::fs::read(path).map_err(|source| {
        Failure::new(LoadError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let not_a_plan = || {
        Failure::new(format!("`{}` is not a poolsync plan", path.display())).hint(
            "save a plan with `poolsync plan --desired FILE -o PLANFILE`, or pass the desired file with `--desired`",
        )
    };
    let header: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
        let failure = not_a_plan();
        Failure {
            error: format!("{}: {error}", failure.error).into(),
            ..failure
        }
    })?;
    if header.get("kind").and_then(|kind| kind.as_str()) != Some(KIND) {
        return Err(Failure::new(format!(
            "`{}` is not a poolsync plan",
            path.display()
        )));
    }
    let version = header.get("format_version").and_then(|v| v.as_str());
    if version != Some(poolsync::planfile::FORMAT_VERSION) {
        return Err(Failure::new(format!(
            "`{}` is a plan of format version {}, and this poolsync reads version {}",
            path.display(),
            version.unwrap_or("(none)"),
            poolsync::planfile::FORMAT_VERSION
        ))
        .hint("make the plan again with this poolsync, review it, and apply that"));
    }
    serde_json::from_value(header).map_err(|error| {
        let failure = not_a_plan();
        Failure {
            error: format!("{}: {error}", failure.error).into(),
            ..failure
        }
    })
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
    pub(crate) json: bool,
    /// Mask e-mail addresses and phone numbers.
    pub(crate) redact_pii: bool,
    /// The journal to record requests in, if any.
    pub(crate) journal: Option<&'a Journal>,
    /// Canaries whose sign-in is checked once the apply is verified (`--canaries`).
    pub(crate) canaries: Option<&'a [Canary]>,
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
    let total_users = (plan.changes.len() + plan.deletes.len()) as u64;
    let bar = ApplyBar::new(total_users, !shown.json);
    let mut observers: Vec<&dyn BatchObserver> = vec![&bar];
    if let Some(journal) = shown.journal {
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
    drop(observer);
    drop(bar);
    let report = report.map_err(apply_failure)?;
    if let Some(journal) = shown.journal {
        if let Err(error) = journal.record_end(&report) {
            tracing::warn!(
                "could not write the journal `{}`: {error}",
                journal.path().display()
            );
        }
    }
    // An interrupted run stops there; any other is followed by its canaries' sign-ins.
    let canaries = shown
        .canaries
        .filter(|_| !report.interrupted)
        .map(|canaries| runtime.block_on(canary::check_canaries(client, canaries)));
    let (canaries, canary_error) = match canaries {
        Some(Ok(checked)) => (Some(checked), None),
        Some(Err(error)) => (None, Some(error)),
        None => (None, None),
    };
    if shown.json {
        print_apply_json(plan, Some(&report), canaries.as_ref(), shown.redact_pii)?;
    } else {
        let mut redactor = Redactor::new();
        let shown_report = if shown.redact_pii {
            redactor.apply_report(&report)
        } else {
            report.clone()
        };
        let mut out = std::io::stdout().lock();
        render::render_apply_report(&shown_report, &mut out)?;
        if let Some(journal) = shown.journal.filter(|_| !report.is_complete()) {
            writeln!(
                out,
                "The journal is `{}`; continue with `poolsync apply --resume {}`.",
                journal.path().display(),
                journal.path().display()
            )?;
        }
        if let Some(checked) = &canaries {
            writeln!(out)?;
            print_canaries(checked, shown.redact_pii.then_some(&mut redactor), &mut out)?;
        }
    }
    if let Some(error) = canary_error {
        return Err(Failure::from(error));
    }
    let canaries_failed = canaries.as_ref().is_some_and(|checked| !checked.passed);
    Ok(if report.is_complete() {
        if canaries_failed {
            exit_codes::CANARY_FAILED
        } else {
            exit_codes::SUCCESS
        }
    } else if report.applied_any() || report.interrupted {
        exit_codes::PARTIAL
    } else {
        exit_codes::ERROR
    })
}

/// Checks the canaries of a plan with nothing to apply, and prints them (with the plan as JSON
/// when `json`); the exit code is 5 when one did not pass.
pub(crate) fn check_unchanged(
    runtime: &tokio::runtime::Runtime,
    client: &ApiClient,
    plan: &Plan,
    shown: &ReportOptions<'_>,
) -> Result<u8, Failure> {
    let canaries = match shown.canaries {
        Some(canaries) => Some(runtime.block_on(canary::check_canaries(client, canaries))?),
        None => None,
    };
    if shown.json {
        print_apply_json(plan, None, canaries.as_ref(), shown.redact_pii)?;
    } else if let Some(checked) = &canaries {
        let mut out = std::io::stdout().lock();
        writeln!(out)?;
        let mut redactor = Redactor::new();
        print_canaries(checked, shown.redact_pii.then_some(&mut redactor), &mut out)?;
    }
    Ok(if canaries.is_some_and(|checked| !checked.passed) {
        exit_codes::CANARY_FAILED
    } else {
        exit_codes::SUCCESS
    })
}

/// The canary report as text, masked with the run's redactor under `--redact-pii`.
fn print_canaries(
    checked: &CanaryReport,
    redactor: Option<&mut Redactor>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let masked;
    let checked = match redactor {
        Some(redactor) => {
            masked = checked.redacted(redactor);
            &masked
        }
        None => checked,
    };
    canary::render_text(checked, out, false)?;
    Ok(())
}

/// Reads a canary file (`check-logins FILE`, `--canaries FILE`) before anything is sent,
/// warning when others can read it: it holds passwords.
pub(crate) fn read_canary_file(
    path: &Path,
    default_pool: Option<&str>,
) -> Result<Vec<Canary>, Failure> {
    let file = std::fs::File::open(path).map_err(|source| read_failure(path, source))?;
    warn_if_others_can_read(path, &file);
    canary::read_canaries(std::io::BufReader::new(file), default_pool)
        .map_err(|error: CanaryFileError| canary_file_failure(error, path))
}

/// The file holds passwords: say so when other users of the machine can read it.
fn warn_if_others_can_read(path: &Path, file: &std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = file.metadata() {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: `{}` holds passwords and other users can read it (mode {mode:o}): \
                     `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
}

/// `{"plan": …, "apply": …, "canaries": …}` (see `examples/schemas/apply-report.schema.json`);
/// `apply` is `null` when there was nothing to do, `canaries` when none were checked.
pub(crate) fn print_apply_json(
    plan: &Plan,
    report: Option<&ApplyReport>,
    canaries: Option<&CanaryReport>,
    redact_pii: bool,
) -> Result<(), Failure> {
    let (plan, report, canaries) = if redact_pii {
        let mut redactor = Redactor::new();
        (
            redactor.plan(plan),
            report.map(|r| redactor.apply_report(r)),
            canaries.map(|c| c.redacted(&mut redactor)),
        )
    } else {
        (plan.clone(), report.cloned(), canaries.cloned())
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut document = serde_json::json!({"plan": plan, "apply": report});
    if let Some(canaries) = canaries {
        document["canaries"] = serde_json::to_value(canaries).map_err(Failure::new)?;
    }
    serde_json::to_writer_pretty(&mut out, &document).map_err(Failure::new)?;
    writeln!(out)?;
    Ok(())
}
