//! `poolsync apply`: plan a desired file (or a saved plan, or what an interrupted run left)
//! against a fresh export, ask, send the changed users, then verify the tenant.

use super::common::{
    ReportOptions, apply_and_report, check_unchanged, connect, desired_sha, memory_budget,
    plan_tenant, print_plan, read_canary_file, read_planfile, runtime,
};
use crate::cli::{GlobalArgs, OutputFormat, PlanShown, TargetArgs, choice};
use crate::command_error::{Failure, apply_failure, stale};
use crate::ui::approve;
use clap::Args;
use poolsync::apply::{ApplyOptions, PlanInputs, check_mode, check_prune};
use poolsync::canary::Canary;
use poolsync::client::BatchOptions;
use poolsync::clock::now_rfc3339;
use poolsync::diff::{DiffOptions, PlanScope};
use poolsync::exit_codes;
use poolsync::export::{canonicalize, extract_users, to_pretty_json};
use poolsync::fsutil::write_atomic_with;
use poolsync::journal::{Journal, JournalStart};
use poolsync::model::ImportMode;
use poolsync::plan::Plan;
use poolsync::planfile::{PlanFile, PlanOrigin};
use poolsync::render::{SUMMARY_THRESHOLD, count_noun};
use poolsync::sieve::{Detail, Source};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Change the tenant to match a desired file (or a saved plan), then verify it
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// A plan saved by `poolsync plan -o`; applied exactly, without asking
    #[arg(
        value_name = "PLANFILE",
        conflicts_with_all = ["desired", "resume"],
        required_unless_present_any = ["desired", "resume"]
    )]
    planfile: Option<PathBuf>,
    /// Continue an interrupted apply from its journal: re-plans what is left against a fresh export
    #[arg(long, value_name = "JOURNAL", conflicts_with = "desired")]
    resume: Option<PathBuf>,
    /// Write the journal here [default: `<file>.<tenant>.journal.jsonl` next to the plan or desired file, or in `POOLSYNC_JOURNAL_DIR`]
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// The desired state: a `TenantDump` file
    #[arg(long, value_name = "FILE")]
    desired: Option<PathBuf>,
    /// `update` creates and replaces users; `fail` only creates and refuses plans with updates
    #[arg(long, value_parser = choice::<ImportMode>(), default_value = "update")]
    mode: ImportMode,
    /// Apply without asking (required when stdin is not a terminal)
    #[arg(long)]
    auto_approve: bool,
    /// Users per import request (at most 100, whatever is asked)
    #[arg(long, default_value_t = 100, value_name = "N")]
    batch_size: usize,
    /// Requests in flight at once (1 to 8)
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    parallelism: u8,
    /// Print the plan and the apply report as JSON
    #[arg(long)]
    json: bool,
    /// Mask e-mail addresses and phone numbers in the output with stable short hashes, for public CI logs
    #[arg(long)]
    pub(crate) redact_pii: bool,
    /// Show every changed user, even in large plans
    #[arg(long)]
    full: bool,
    /// Leave a path inside users out of the comparison (repeatable)
    #[arg(long, value_name = "PATH")]
    ignore: Vec<String>,
    /// Only apply users of this pool (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pools: Vec<String>,
    /// Delete users that are in the tenant but not in the desired file (guarded, see below)
    #[arg(long)]
    prune: bool,
    /// With `--prune`: refuse the whole plan if it deletes more than N users (required to delete any)
    #[arg(long, value_name = "N", requires = "prune")]
    max_deletes: Option<usize>,
    /// With `--prune`: never delete users whose id or an identifier matches this glob (repeatable)
    #[arg(long, value_name = "PATTERN", requires = "prune")]
    protect: Vec<String>,
    /// With `--prune`: where to save the users about to be deleted [default: poolsync-backup-<tenant>-<UTC time>.json]
    #[arg(long, value_name = "FILE", requires = "prune")]
    backup: Option<PathBuf>,
    /// Then check that these canary accounts can sign in, as `check-logins FILE` does (exit 5 if one cannot); rows without a `pool` take the one `--pool`
    #[arg(long, value_name = "FILE")]
    canaries: Option<PathBuf>,
}

/// What the apply builds on besides the command line.
enum Basis {
    /// Nothing: a desired file planned now.
    Fresh,
    /// A saved plan, applied exactly if the tenant and the desired file still match it.
    SavedPlan { path: PathBuf, saved: PlanFile },
    /// The journal of an interrupted run, whose settings the run takes over.
    Resumed { start: JournalStart },
}

/// Everything an apply needs to know before it talks to the tenant, resolved once from the
/// flags, the saved plan or the journal.
struct ApplySettings {
    basis: Basis,
    desired: PathBuf,
    scope: PlanScope,
    diff: DiffOptions,
    mode: ImportMode,
    batch_size: usize,
    parallelism: u8,
    max_deletes: Option<usize>,
    backup: Option<PathBuf>,
    journal: Option<PathBuf>,
    canaries: Option<Vec<Canary>>,
    auto_approve: bool,
    json: bool,
    redact_pii: bool,
    full: bool,
}

impl ApplySettings {
    /// A saved plan's scope and desired file, or an interrupted run's settings, over the flags.
    fn resolve(args: ApplyArgs) -> Result<ApplySettings, Failure> {
        let basis = match (&args.planfile, &args.resume) {
            (Some(path), _) => Basis::SavedPlan {
                path: path.clone(),
                saved: read_planfile(path)?,
            },
            (None, Some(journal)) => Basis::Resumed {
                start: poolsync::journal::read_start(journal).map_err(|error| {
                    Failure::new(error)
                        .hint("pass the journal file an interrupted `poolsync apply` printed")
                })?,
            },
            (None, None) => Basis::Fresh,
        };
        let flags = PlanScope {
            ignore: args.ignore,
            pools: args.pools,
            prune: args.prune,
            protect: args.protect,
        };
        let (desired, scope, mode, batch_size, max_deletes, journal) = match &basis {
            Basis::Fresh => (
                args.desired
                    .ok_or_else(|| Failure::new("give a saved plan or `--desired FILE`"))?,
                flags,
                args.mode,
                args.batch_size,
                args.max_deletes,
                args.journal,
            ),
            Basis::SavedPlan { path, saved } => match &saved.origin {
                PlanOrigin::DesiredFile { path: desired, .. } => (
                    PathBuf::from(desired),
                    saved.scope.clone(),
                    args.mode,
                    args.batch_size,
                    args.max_deletes,
                    args.journal,
                ),
                PlanOrigin::Migration { .. } => {
                    return Err(Failure::new(format!(
                        "`{}` is a plan of `poolsync migrate`",
                        path.display()
                    ))
                    .hint(format!(
                        "apply it with the `poolsync migrate` command that saved it, with `--plan {}` instead of `-o`",
                        path.display()
                    )));
                }
            },
            Basis::Resumed { start } => (
                PathBuf::from(&start.desired_path),
                start.scope.clone(),
                start.mode,
                start.batch_size,
                start.max_deletes,
                args.journal.or(args.resume),
            ),
        };
        let diff = scope.diff_options()?;
        // Read now, so that a broken canary file stops the run before anything is sent.
        let canaries = match &args.canaries {
            Some(path) => Some(read_canary_file(path, one_pool(&scope))?),
            None => None,
        };
        Ok(ApplySettings {
            basis,
            desired,
            scope,
            diff,
            mode,
            batch_size,
            parallelism: args.parallelism,
            max_deletes,
            backup: args.backup,
            journal,
            canaries,
            auto_approve: args.auto_approve,
            json: args.json,
            redact_pii: args.redact_pii,
            full: args.full,
        })
    }

    /// Refuses (exit code 4) to go on from a saved plan or a journal made against another
    /// tenant or another version of the desired file.
    fn check_recorded(&self, tenant: &str, desired_sha: &str) -> Result<(), Failure> {
        let (recorded_tenant, recorded_sha, since, made_for) = match &self.basis {
            Basis::Fresh => return Ok(()),
            Basis::SavedPlan { saved, .. } => (
                &saved.tenant,
                saved.origin.sha256(),
                "since the plan was made",
                "the plan was made for",
            ),
            Basis::Resumed { start } => (
                &start.tenant,
                start.desired_sha256.as_str(),
                "since the interrupted run",
                "the journal is of a run against",
            ),
        };
        if recorded_sha != desired_sha {
            return Err(stale(vec![format!(
                "the desired file `{}` changed {since}",
                self.desired.display()
            )]));
        }
        if recorded_tenant != tenant {
            return Err(stale(vec![format!(
                "{made_for} tenant `{recorded_tenant}`, not `{tenant}`"
            )]));
        }
        Ok(())
    }

    /// Refuses (exit code 4) a saved plan that the plan made now does not match.
    fn check_saved_plan_holds(&self, plan: &Plan) -> Result<(), Failure> {
        if let Basis::SavedPlan { saved, .. } = &self.basis {
            let reasons = saved.stale_reasons(plan);
            if !reasons.is_empty() {
                return Err(stale(reasons));
            }
        }
        Ok(())
    }

    /// Only a plan made now is confirmed: a saved plan was reviewed, a resumed run was
    /// confirmed when it started.
    fn needs_approval(&self) -> bool {
        matches!(self.basis, Basis::Fresh)
    }

    /// How the plan is shown before it is applied.
    fn shown(&self) -> PlanShown {
        PlanShown {
            format: OutputFormat::Text,
            redact_pii: self.redact_pii,
            full: self.full,
            summary_threshold: SUMMARY_THRESHOLD,
        }
    }

    /// `--journal`, else `<file>.<tenant>.journal.jsonl` next to the saved plan or the desired
    /// file, or in `POOLSYNC_JOURNAL_DIR`.
    fn journal_path(&self, tenant: &str) -> PathBuf {
        if let Some(path) = &self.journal {
            return path.clone();
        }
        let base = match &self.basis {
            Basis::SavedPlan { path, .. } => path,
            _ => &self.desired,
        };
        let mut name = base.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{tenant}.journal.jsonl"));
        match std::env::var_os("POOLSYNC_JOURNAL_DIR") {
            Some(directory) if !directory.is_empty() => PathBuf::from(directory).join(name),
            _ => base.with_file_name(name),
        }
    }

    fn apply_options(&self) -> ApplyOptions {
        ApplyOptions {
            mode: self.mode,
            batch_size: self.batch_size,
            batch: BatchOptions {
                parallelism: usize::from(self.parallelism),
                ..BatchOptions::default()
            },
            diff: self.diff.clone(),
            now: now_rfc3339(),
            max_deletes: self.max_deletes,
            max_memory: memory_budget(),
        }
    }
}

pub(crate) fn run(args: ApplyArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let target = args.target.clone();
    let settings = ApplySettings::resolve(args)?;
    let desired_sha = desired_sha(&settings.desired)?;
    let client = connect(&target, global)?;
    let tenant = client.settings().tenant.clone();
    settings.check_recorded(&tenant, &desired_sha)?;

    let runtime = runtime()?;
    // What the text plan shows is worked out whole; the other creates of a grouped plan are
    // read again from the desired file, a batch at a time, when they are sent. `--json` prints
    // every change whole.
    let detail = if settings.json {
        Detail::Full
    } else {
        settings.shown().detail()
    };
    let sifted = plan_tenant(&runtime, &client, &settings.desired, &settings.diff, detail)?;
    let plan = &sifted.plan;
    let inputs = PlanInputs::new(&sifted, Source::File(&settings.desired));
    settings.check_saved_plan_holds(plan)?;
    check_mode(plan, settings.mode).map_err(apply_failure)?;
    check_prune(plan, &inputs, settings.max_deletes).map_err(apply_failure)?;

    if !settings.json {
        print_plan(plan, settings.shown(), global)?;
    }
    let shown = ReportOptions {
        json: settings.json,
        redact_pii: settings.redact_pii,
        journal: None,
        canaries: settings.canaries.as_deref(),
    };
    if !plan.has_changes() {
        return check_unchanged(&runtime, &client, plan, &shown);
    }
    if settings.needs_approval()
        && !approve(
            &tenant,
            settings.auto_approve,
            "review the plan, then run again with `--auto-approve`, or save it with `poolsync plan -o PLANFILE` and apply that",
        )?
    {
        return Ok(exit_codes::ERROR);
    }
    // The creates planned without their records are read from the desired file as they are
    // sent: it must still be the file that was planned (it may have changed during review).
    if !sifted.light.is_empty() && super::common::desired_sha(&settings.desired)? != desired_sha {
        return Err(stale(vec![format!(
            "the desired file `{}` changed since it was planned",
            settings.desired.display()
        )]));
    }
    back_up_deletes(plan, &inputs, settings.backup.as_deref(), &tenant)?;
    let journal = open_journal(&settings, &tenant, &desired_sha, plan)?;
    apply_and_report(
        &runtime,
        &client,
        plan,
        &inputs,
        &settings.apply_options(),
        &ReportOptions {
            journal: Some(&journal),
            ..shown
        },
    )
}

/// The pool of a scope limited to exactly one, for canaries whose row names none.
fn one_pool(scope: &PlanScope) -> Option<&str> {
    match scope.pools.as_slice() {
        [pool] => Some(pool),
        _ => None,
    }
}

/// Saves the users the plan deletes (to `--backup`, or a time-stamped file), before anything is
/// sent.
fn back_up_deletes(
    plan: &Plan,
    inputs: &PlanInputs<'_>,
    backup: Option<&Path>,
    tenant: &str,
) -> Result<(), Failure> {
    if plan.deletes.is_empty() {
        return Ok(());
    }
    let backup = backup.map_or_else(|| default_backup_path(tenant), Path::to_path_buf);
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
    Ok(())
}

/// `poolsync-backup-<tenant>-<UTC timestamp>.json` in the working directory.
fn default_backup_path(tenant: &str) -> PathBuf {
    let stamp = now_rfc3339().replace([':', '-'], "");
    PathBuf::from(format!("poolsync-backup-{tenant}-{stamp}.json"))
}

/// Starts the journal with what the run sets out to do.
fn open_journal(
    settings: &ApplySettings,
    tenant: &str,
    desired_sha: &str,
    plan: &Plan,
) -> Result<Journal, Failure> {
    let path = settings.journal_path(tenant);
    let start = JournalStart {
        event: "start".into(),
        format_version: poolsync::journal::FORMAT_VERSION.into(),
        time: now_rfc3339(),
        tenant: tenant.to_string(),
        desired_path: settings.desired.display().to_string(),
        desired_sha256: desired_sha.to_string(),
        mode: settings.mode,
        scope: settings.scope.clone(),
        max_deletes: settings.max_deletes,
        batch_size: settings.batch_size,
        planned: [
            plan.summary.create,
            plan.summary.update,
            plan.summary.delete,
        ],
    };
    Journal::open(&path, &start, now_rfc3339).map_err(|error| {
        Failure::new(error).hint(format!(
            "could not write the journal `{}`; pass `--journal FILE` to put it elsewhere; nothing was sent",
            path.display()
        ))
    })
}
