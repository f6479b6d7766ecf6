//! `poolsync migrate`: export the source (or read a saved export), transform it for the target,
//! plan against the target, and apply and verify like `apply`.

use super::common::{
    ReportOptions, apply_and_report, check_unchanged, download, memory_budget, read_canary_file,
    read_planfile, runtime, write_planfile,
};
use crate::cli::{Choice, GlobalArgs, TransportArgs, choice};
use crate::command_error::{
    Failure, apply_failure, load_failure, migrate_failure, problem_lines_of, read_failure, stale,
    too_big,
};
use crate::ui::{self, approve};
use clap::{Args, ValueEnum};
use poolsync::apply::{ApplyOptions, PlanInputs, check_mode, export_source};
use poolsync::client::settings::process_env;
use poolsync::client::{ApiClient, BatchOptions, ConnectionSettings};
use poolsync::clock::now_rfc3339;
use poolsync::diff::{DiffError, DiffOptions, PlanScope};
use poolsync::exit_codes;
use poolsync::export::CanonicalExport;
use poolsync::index::{UserKey, shorten};
use poolsync::migrate::{
    Conflict, CredentialPolicy, IdMapping, MatchBy, MigrateOptions, Migration, id_map_csv,
    overwrites, parse_pool_mapping, pool_map,
};
use poolsync::model::ImportMode;
use poolsync::plan::Plan;
use poolsync::planfile::{PlanFile, PlanOrigin};
use poolsync::render::{self, TextOptions, count_noun};
use poolsync::sieve::DocumentError;
use poolsync::sieve::{Detail, MigrationError, PlanError, Side, SieveOptions, Source, Spooled};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What a migration does with users that already exist in the target and differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MigrateMode {
    /// Leave them as they are, list them, and migrate the rest
    Fail,
    /// Replace them with the source's version
    Update,
}

/// Move users from one tenant (or a saved export) into another, then verify
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    /// Profile of the source tenant, from the config file
    #[arg(
        long,
        value_name = "PROFILE",
        conflicts_with = "from_file",
        required_unless_present = "from_file"
    )]
    from: Option<String>,
    /// Take the source from a saved export instead of a tenant
    #[arg(long, value_name = "FILE")]
    from_file: Option<PathBuf>,
    /// Profile of the target tenant, from the config file
    #[arg(long, value_name = "PROFILE")]
    to: String,
    /// Move the users of source pool SRC into target pool DST (repeatable; other pools keep their id)
    #[arg(long = "pool-map", value_name = "SRC=DST", value_parser = parse_pool_mapping)]
    pool_map: Vec<(String, String)>,
    /// Only migrate this source pool (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pools: Vec<String>,
    /// Users that exist in the target and differ: `fail` lists them and leaves them out, `update` replaces them
    #[arg(long, value_enum, default_value_t = MigrateMode::Fail)]
    mode: MigrateMode,
    /// Password credentials: `keep` the hashes, `force-reset` keeps them expired, `drop` leaves them out
    #[arg(long, value_parser = choice::<CredentialPolicy>(), default_value = "keep", value_name = "POLICY")]
    credentials: CredentialPolicy,
    /// Find a source user's target user by `id`, or by a shared e-mail, mobile or uid `identifier`
    #[arg(long, value_parser = choice::<MatchBy>(), default_value = "id", value_name = "HOW")]
    match_by: MatchBy,
    /// Write where every user lands, as CSV (or JSON for a `.json` name; mode 0600)
    #[arg(long, value_name = "FILE")]
    id_map_out: Option<PathBuf>,
    /// Save the plan here and stop, without applying (no secrets, no personal data)
    #[arg(
        short = 'o',
        long = "out",
        value_name = "PLANFILE",
        conflicts_with_all = ["auto_approve", "plan"]
    )]
    out: Option<PathBuf>,
    /// Apply exactly this plan, saved by `migrate -o` with the same options; refuse if anything changed
    #[arg(long, value_name = "PLANFILE")]
    plan: Option<PathBuf>,
    /// Apply without asking (required when stdin is not a terminal)
    #[arg(long)]
    auto_approve: bool,
    /// Then check that these canary accounts can sign in to the target, as `check-logins FILE` does (exit 5 if one cannot); rows without a `pool` take the one target pool
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    canaries: Option<PathBuf>,
    /// Show every changed user, even in large plans
    #[arg(long)]
    full: bool,
    /// Users per import request (at most 100, whatever is asked)
    #[arg(long, default_value_t = 100, value_name = "N")]
    batch_size: usize,
    /// Requests in flight at once (1 to 8)
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    parallelism: u8,
    #[command(flatten)]
    transport: TransportArgs,
}

/// How many remapped ids the plan lists before pointing at `--id-map-out` (`--full` lists all).
const ID_MAP_SHOWN: usize = 20;

fn connect_profile(
    args: &MigrateArgs,
    global: &GlobalArgs,
    name: &str,
) -> Result<ApiClient, Failure> {
    let settings = ConnectionSettings::resolve_profile(
        &args.transport.connection(global),
        name,
        &process_env,
    )?;
    Ok(ApiClient::new(settings)?)
}

/// The plan could not be made: the target's export, or the users taken from the source, do
/// not hold together. Every problem is listed.
fn inconsistent(error: DiffError, target_tenant: &str, source_name: &str) -> Failure {
    let count = count_noun(error.total, "problem", "problems");
    let (message, hint) = match error.side {
        "current" => (
            format!("the export of tenant `{target_tenant}` has {count}"),
            "nothing was sent; `poolsync export` and `poolsync validate` show the tenant's problems".to_string(),
        ),
        _ => (
            format!("the users taken from {source_name} have {count}"),
            "nothing was sent; `poolsync validate` on an export of the source shows its problems".to_string(),
        ),
    };
    Failure::new(message)
        .details(problem_lines_of(&error.problems, error.total))
        .hint(hint)
}

pub(crate) fn run(args: MigrateArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    if let Some(profile) = &global.profile {
        return Err(Failure::new(format!(
            "`--profile {profile}` does not apply to `migrate`, which talks to two tenants"
        ))
        .hint("name the source with `--from PROFILE` (or `--from-file FILE`) and the target with `--to PROFILE`"));
    }
    let runtime = runtime()?;
    let target_client = connect_profile(&args, global, &args.to)?;
    let target_tenant = target_client.settings().tenant.clone();
    // Both exports are read a record at a time: a downloaded body stays in (a temporary file
    // behind) its spool, a saved export in its file.
    let (source_body, source_name) = match (&args.from, &args.from_file) {
        (Some(profile), _) => {
            let source_client = connect_profile(&args, global, profile)?;
            let from = source_client.settings();
            let to = target_client.settings();
            if from.url == to.url && from.tenant == to.tenant {
                return Err(Failure::new(format!(
                    "profiles `{profile}` and `{}` name the same tenant `{}`",
                    args.to, to.tenant
                ))
                .hint(
                    "a migration moves users between two tenants; `poolsync apply` changes one",
                ));
            }
            let body = runtime.block_on(download(&source_client))?;
            (
                Some(body),
                format!("tenant `{}` (profile `{profile}`)", from.tenant),
            )
        }
        (None, Some(path)) => {
            // An unreadable file is reported before anything is downloaded.
            std::fs::File::open(path).map_err(|source| read_failure(path, source))?;
            (None, format!("`{}`", path.display()))
        }
        (None, None) => return Err(Failure::new("give `--from PROFILE` or `--from-file FILE`")),
    };
    let target_body = runtime.block_on(download(&target_client))?;
    let source = match (&source_body, &args.from_file) {
        (Some(body), _) => export_source(body),
        (None, Some(path)) => Source::File(path),
        (None, None) => return Err(Failure::new("give `--from PROFILE` or `--from-file FILE`")),
    };
    let target = export_source(&target_body);

    let options = MigrateOptions {
        target_tenant: target_tenant.clone(),
        pools: args.pools.clone(),
        pool_map: pool_map(&args.pool_map).map_err(migrate_failure)?,
        credentials: args.credentials,
        match_by: args.match_by,
    };
    let mut spooled =
        poolsync::sieve::migrate(source, target, &options, memory_budget()).map_err(|error| {
            match error {
                MigrationError::Source(error) => match (&source_body, &args.from_file) {
                    (Some(body), _) => Failure::from(body.not_a_tenant_document(&error)),
                    (None, Some(path)) => load_failure(error, path),
                    (None, None) => Failure::new(error),
                },
                MigrationError::Target(error) => {
                    Failure::from(target_body.not_a_tenant_document(&error))
                }
                MigrationError::Migrate(error) => migrate_failure(error),
                MigrationError::TooBig(error) => too_big(error),
                error @ MigrationError::Io(_) => Failure::new(error),
            }
        })?;
    // Read before anything is sent, so that a broken canary file stops the run.
    let canaries = match &args.canaries {
        Some(path) => {
            let one_pool = match spooled.migration.target_pools.as_slice() {
                [pool] => Some(pool.as_str()),
                _ => None,
            };
            Some(read_canary_file(path, one_pool)?)
        }
        None => None,
    };
    let shown = ReportOptions {
        json: false,
        redact_pii: false,
        journal: None,
        canaries: canaries.as_deref(),
    };
    let diff_options = DiffOptions {
        pools: spooled.migration.target_pools.clone(),
        ..DiffOptions::default()
    };
    // Of a million creates, the few a grouped plan shows are worked out whole; the others are
    // read again from the spooled desired document when they are sent.
    let detail = if !args.full {
        let text = TextOptions::default();
        Detail::Shown {
            threshold: text.summary_threshold,
            examples: text.examples_per_group,
        }
    } else {
        Detail::Full
    };
    let plan_of = |spooled: &Spooled<'_>| {
        let options = SieveOptions {
            max_memory: memory_budget(),
            detail,
            ..SieveOptions::new(&diff_options)
        };
        poolsync::sieve::plan(target, spooled.desired(), options).map_err(|error| match error {
            PlanError::Load {
                side: Side::Current,
                error,
            } => Failure::from(target_body.not_a_tenant_document(&error)),
            PlanError::Diff(error) => inconsistent(error, &target_tenant, &source_name),
            PlanError::TooBig(error) => too_big(error),
            error => Failure::new(error),
        })
    };
    let mut sifted = plan_of(&spooled)?;
    let mut overwritten = Vec::new();
    if args.mode == MigrateMode::Fail {
        overwritten = overwrites(&sifted.plan);
        if !overwritten.is_empty() {
            let keys: BTreeSet<UserKey> = overwritten
                .iter()
                .map(|c| UserKey {
                    pool_id: c.pool_id.clone(),
                    user_id: c.user_id.clone(),
                })
                .collect();
            spooled.leave_out(&keys).map_err(Failure::new)?;
            sifted = plan_of(&spooled)?;
        }
    }
    let migration = &spooled.migration;
    sifted
        .plan
        .warnings
        .extend(migration.warnings.iter().cloned());
    let plan = &sifted.plan;

    print_migration(
        &args,
        global,
        migration,
        plan,
        &overwritten,
        &source_name,
        &target_tenant,
    )?;
    if let Some(path) = &args.id_map_out {
        write_id_map(path, &migration.id_map)?;
    }
    if let Some(out) = &args.out {
        save_plan(out, plan, &spooled, &target_tenant, &source_name)?;
        return Ok(exit_codes::SUCCESS);
    }
    if let Some(path) = &args.plan {
        check_saved_plan(path, plan, &spooled, &target_tenant)?;
    }
    if !plan.has_changes() {
        return check_unchanged(&runtime, &target_client, plan, &shown);
    }
    let mode = match args.mode {
        MigrateMode::Fail => ImportMode::Fail,
        MigrateMode::Update => ImportMode::Update,
    };
    check_mode(plan, mode).map_err(apply_failure)?;
    if args.plan.is_none()
        && !approve(
            &target_tenant,
            args.auto_approve,
            "review the plan, then run again with `--auto-approve`",
        )?
    {
        return Ok(exit_codes::ERROR);
    }
    let apply_options = ApplyOptions {
        mode,
        batch_size: args.batch_size,
        batch: BatchOptions {
            parallelism: usize::from(args.parallelism),
            ..BatchOptions::default()
        },
        diff: diff_options.clone(),
        now: now_rfc3339(),
        max_deletes: None,
        max_memory: memory_budget(),
    };
    let inputs = PlanInputs::new(&sifted, spooled.desired());
    apply_and_report(
        &runtime,
        &target_client,
        plan,
        &inputs,
        &apply_options,
        &shown,
    )
}

/// The header, the plan, the id mapping and the users left out, on stdout.
fn print_migration(
    args: &MigrateArgs,
    global: &GlobalArgs,
    migration: &Migration,
    plan: &Plan,
    overwritten: &[Conflict],
    source_name: &str,
    target_tenant: &str,
) -> Result<(), Failure> {
    let color = ui::use_color(global.color, ui::stdout_is_terminal());
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    writeln!(
        out,
        "Migrating {} from {source_name} to tenant `{target_tenant}` (credentials: {}, match by: {}, existing users that differ: {})",
        count_noun(
            migration.id_map.len() + migration.held_back.len() + overwritten.len(),
            "user",
            "users"
        ),
        args.credentials.name(),
        args.match_by.name(),
        match args.mode {
            MigrateMode::Fail => "left out",
            MigrateMode::Update => "replaced",
        }
    )?;
    for (from, to) in &migration.pool_mapping {
        writeln!(out, "  pool `{}` -> `{}`", shorten(from), shorten(to))?;
    }
    writeln!(out)?;
    let options = TextOptions {
        color,
        full: args.full,
        ..TextOptions::default()
    };
    render::render_text(plan, &mut out, &options)?;

    let remapped: Vec<&IdMapping> = migration
        .id_map
        .iter()
        .filter(|m| m.source_user_id != m.target_user_id)
        .collect();
    if !remapped.is_empty() {
        writeln!(
            out,
            "\nId mapping: {} the id of an existing user of tenant `{target_tenant}`:",
            if remapped.len() == 1 {
                "1 user takes".to_string()
            } else {
                format!("{} take", count_noun(remapped.len(), "user", "users"))
            }
        )?;
        let shown = if args.full {
            remapped.len()
        } else {
            remapped.len().min(ID_MAP_SHOWN)
        };
        for mapping in &remapped[..shown] {
            writeln!(
                out,
                "  `{}` in pool `{}` -> `{}` in pool `{}` (by {})",
                shorten(&mapping.source_user_id),
                shorten(&mapping.source_pool),
                shorten(&mapping.target_user_id),
                shorten(&mapping.target_pool),
                mapping.matched_by
            )?;
        }
        if shown < remapped.len() {
            writeln!(
                out,
                "  ... and {} more (`--full` lists them, `--id-map-out FILE` saves them)",
                render::thousands(remapped.len() - shown)
            )?;
        }
    }

    write_conflicts(
        &mut out,
        &migration.held_back,
        (
            &format!("tenant `{target_tenant}` gives an identifier of this user to another user"),
            &format!("tenant `{target_tenant}` gives an identifier of each to another user"),
        ),
        "`--match-by identifier` matches users by e-mail, mobile or uid",
    )?;
    write_conflicts(
        &mut out,
        overwritten,
        (
            &format!(
                "it exists in tenant `{target_tenant}` and differs, and `--mode fail` never overwrites"
            ),
            &format!(
                "they exist in tenant `{target_tenant}` and differ, and `--mode fail` never overwrites"
            ),
        ),
        "`--mode update` replaces them",
    )?;
    out.flush()?;
    Ok(())
}

/// Lists users left out, under a heading that says why (`reason` is `(singular, plural)`).
fn write_conflicts(
    out: &mut dyn Write,
    conflicts: &[Conflict],
    reason: (&str, &str),
    remedy: &str,
) -> std::io::Result<()> {
    if conflicts.is_empty() {
        return Ok(());
    }
    let why = if conflicts.len() == 1 {
        reason.0
    } else {
        reason.1
    };
    writeln!(
        out,
        "\nLeft out ({}): {why}; {remedy}",
        count_noun(conflicts.len(), "user", "users"),
    )?;
    for conflict in conflicts {
        let label = conflict
            .label
            .as_deref()
            .map(|l| format!(" ({})", shorten(l)))
            .unwrap_or_default();
        writeln!(
            out,
            "  ! user `{}`{label} in pool `{}`: {}",
            shorten(&conflict.user_id),
            shorten(&conflict.pool_id),
            conflict.reason
        )?;
    }
    Ok(())
}

/// Writes the id map as JSON for a `.json` path, else CSV; mode 0600, atomically.
fn write_id_map(path: &Path, mappings: &[IdMapping]) -> Result<(), Failure> {
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let bytes = if is_json {
        let mut bytes = serde_json::to_vec_pretty(mappings).map_err(Failure::new)?;
        bytes.push(b'\n');
        bytes
    } else {
        id_map_csv(mappings).into_bytes()
    };
    poolsync::fsutil::write_atomic(path, &bytes).map_err(|error| {
        Failure::new(error).hint(format!("could not write the id map `{}`", path.display()))
    })?;
    writeln!(
        std::io::stderr(),
        "Wrote the id map of {} to `{}`",
        count_noun(mappings.len(), "user", "users"),
        path.display()
    )?;
    Ok(())
}

/// SHA-256 of the migration's desired state in canonical order (as `poolsync export` writes
/// it, straight from the spooled document), so that a saved plan notices a change in the
/// source, the options or the target's pools, but not a reordered export.
fn desired_fingerprint(spooled: &Spooled<'_>) -> Result<String, Failure> {
    struct Hashing(Sha256);
    impl Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let export = CanonicalExport::index(spooled.desired(), &[], &|_| {}, memory_budget()).map_err(
        |error| match error {
            DocumentError::TooBig(error) => too_big(error),
            error => Failure::new(error),
        },
    )?;
    let mut hashing = Hashing(Sha256::new());
    export.write(&mut hashing, &|_| {})?;
    Ok(hex::encode(hashing.0.finalize()))
}

/// Refuses (exit code 4) unless the migration planned now is the one saved in `path`.
fn check_saved_plan(
    path: &Path,
    plan: &Plan,
    spooled: &Spooled<'_>,
    target_tenant: &str,
) -> Result<(), Failure> {
    let saved = read_planfile(path)?;
    if !matches!(saved.origin, PlanOrigin::Migration { .. }) {
        return Err(Failure::new(format!(
            "`{}` is a plan of `poolsync plan`, not of `poolsync migrate`",
            path.display()
        ))
        .hint(format!("apply it with `poolsync apply {}`", path.display())));
    }
    let mut reasons = Vec::new();
    if saved.tenant != target_tenant {
        reasons.push(format!(
            "the plan was made for tenant `{}`, not `{target_tenant}`",
            saved.tenant
        ));
    } else if saved.origin.sha256() != desired_fingerprint(spooled)? {
        reasons.push(
            "the source, the migration options or the target's pools and groups changed since the plan was made"
                .to_string(),
        );
    }
    if reasons.is_empty() {
        reasons = saved.stale_reasons(plan);
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(stale(reasons))
    }
}

/// Saves the plan like `plan -o`: ids and fingerprints only, no secret, no personal data.
fn save_plan(
    out: &Path,
    plan: &Plan,
    spooled: &Spooled<'_>,
    target_tenant: &str,
    source_name: &str,
) -> Result<(), Failure> {
    let origin = PlanOrigin::Migration {
        source: source_name.replace('`', ""),
        sha256: desired_fingerprint(spooled)?,
    };
    let scope = PlanScope {
        pools: spooled.migration.target_pools.clone(),
        ..PlanScope::default()
    };
    write_planfile(out, &PlanFile::new(plan, target_tenant, origin, &scope))?;
    writeln!(
        std::io::stderr(),
        "Saved the plan to `{}`; nothing was applied. Apply exactly this plan with the same command and `--plan {}` instead of `-o`",
        out.display(),
        out.display()
    )?;
    Ok(())
}
