//! Carries out a plan through the import API, then proves the tenant converged.
//!
//! Pools and groups go first, in a request of their own; users follow in batches of whole users
//! (at most 100 each), every body built and serialized before the first is sent (in parallel),
//! then sent in parallel with retries by [`crate::client::run_batches`]. A batch
//! that failed, or whose fate is unknown (a timeout, a 502 that may come after the change), is
//! never assumed to have done nothing or everything: the tenant is exported again and planned
//! against the desired file ([`crate::sieve::plan`]), and that verdict is what the report says.

use crate::client::{
    ApiClient, Batch as RequestBatch, BatchObserver, BatchOptions, BatchOutcome, BatchStatus,
    Cancellation, DeleteJob, ExportBody, ImportMode, NoProgress, SpooledBody, SpooledExport,
    run_batches, run_deletes,
};
use crate::diff::DiffOptions;
use crate::import::{Batch, BatchBuilder};
use crate::index::UserKey;
use crate::model::TenantDump;
use crate::plan::{Action, Plan, UserChange};
pub use crate::report::{ApplyReport, BatchReport, NotConverged, REPORT_VERSION};
use crate::sieve::{LightCreates, PlanError, Side, SieveOptions, Sifted, Source};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};

/// Settings of an apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// `update` (upsert) or `fail` (create only).
    pub mode: ImportMode,
    /// Users per request (capped at 100).
    pub batch_size: usize,
    /// Parallelism, retries and backoff.
    pub batch: BatchOptions,
    /// The diff settings the plan was made with; verification uses the same.
    pub diff: DiffOptions,
    /// The time written into derived timestamps (RFC 3339).
    pub now: String,
    /// With pruning: the most users the plan may delete (`None` refuses any delete).
    pub max_deletes: Option<usize>,
    /// The memory the verifying plan may take, in bytes (see [`SieveOptions::max_memory`]).
    pub max_memory: u64,
}

impl Default for ApplyOptions {
    /// Mode `update`, 100 users per request, the client's default parallelism and retries, no
    /// ignore paths, the current time, no deletes allowed.
    fn default() -> Self {
        ApplyOptions {
            mode: ImportMode::Update,
            batch_size: crate::model::MAX_USERS_PER_REQUEST,
            batch: BatchOptions::default(),
            diff: DiffOptions::default(),
            now: crate::clock::now_rfc3339(),
            max_deletes: None,
            max_memory: u64::MAX,
        }
    }
}

/// Apply refused or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// `--mode fail` creates only, and the plan updates existing records.
    #[error("`--mode fail` only creates, but the plan updates {count} existing {}", if *count == 1 { "record" } else { "records" })]
    FailModeWithUpdates {
        /// How many users, pools and groups the plan updates.
        count: usize,
        /// The first few, for the message.
        examples: Vec<String>,
    },
    /// A batch could not be formed (more than 100 users).
    #[error(transparent)]
    Batch(#[from] crate::client::BatchError),
    /// The records of users to create could not be read again from the desired file (it
    /// changed or went away since it was planned); nothing was sent.
    #[error("cannot read the users to create again from the desired file; nothing was sent")]
    Reread(#[source] crate::error::LoadError),
    /// The plan deletes users and no limit was given.
    #[error("the plan deletes {count} {}, and deleting needs `--max-deletes`", if *count == 1 { "user" } else { "users" })]
    DeletesNeedLimit {
        /// Users the plan deletes.
        count: usize,
    },
    /// The plan deletes more users than allowed.
    #[error(
        "the plan deletes {count} users, more than `--max-deletes {limit}` allows; nothing was sent"
    )]
    TooManyDeletes {
        /// Users the plan deletes.
        count: usize,
        /// The limit given.
        limit: usize,
    },
    /// The desired file has no users in a pool that has some: likely a truncated file.
    #[error("refusing to prune: the desired file has no users in {} that {} users in the tenant", pools.iter().map(|p| format!("`{}`", crate::index::shorten(p))).collect::<Vec<_>>().join(", "), if pools.len() == 1 { "has" } else { "have" })]
    EmptyPool {
        /// The pools.
        pools: Vec<String>,
    },
}

/// Refuses `--mode fail` for a plan that updates anything.
pub fn check_mode(plan: &Plan, mode: ImportMode) -> Result<(), ApplyError> {
    if mode != ImportMode::Fail {
        return Ok(());
    }
    let mut updates: Vec<String> = plan
        .pools
        .changes
        .iter()
        .chain(&plan.groups.changes)
        .filter(|c| c.action == Action::Update)
        .map(|c| format!("`{}`", crate::index::shorten(&c.id)))
        .collect();
    updates.extend(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::Update)
            .map(|c| format!("user `{}`", crate::index::shorten(&c.user_id))),
    );
    if updates.is_empty() {
        return Ok(());
    }
    Err(ApplyError::FailModeWithUpdates {
        count: updates.len(),
        examples: updates.into_iter().take(5).collect(),
    })
}

/// The guard rails of pruning, checked before anything is sent: a limit must be given and
/// respected, and a desired file with no users in a pool that has some (a truncated file, a
/// wrong `--pool`) must not empty that pool.
pub fn check_prune(
    plan: &Plan,
    inputs: &PlanInputs<'_>,
    max_deletes: Option<usize>,
) -> Result<(), ApplyError> {
    let count = plan.deletes.len();
    if count == 0 {
        return Ok(());
    }
    match max_deletes {
        None => return Err(ApplyError::DeletesNeedLimit { count }),
        Some(limit) if count > limit => return Err(ApplyError::TooManyDeletes { count, limit }),
        Some(_) => {}
    }
    let deleting_in: std::collections::BTreeSet<&str> =
        plan.deletes.iter().map(|d| d.pool_id.as_str()).collect();
    let emptied: Vec<String> = deleting_in
        .into_iter()
        .filter(|pool| !inputs.desired_pools_with_users.contains(*pool))
        .filter(|pool| inputs.current_pools_with_users.contains(*pool))
        .map(str::to_string)
        .collect();
    if !emptied.is_empty() {
        return Err(ApplyError::EmptyPool { pools: emptied });
    }
    Ok(())
}

/// Export bodies larger than this are kept in an unnamed temporary file rather than in memory
/// while they are planned: the planner reads them a chunk at a time either way.
pub const SPILL_ABOVE: u64 = 64 << 20;

/// An export's body as a document to plan.
pub fn export_source(export: &SpooledExport) -> Source<'_> {
    match &export.body {
        SpooledBody::Memory(bytes) => Source::Memory {
            name: ExportBody::SOURCE_NAME,
            bytes,
        },
        SpooledBody::File(file) => Source::Handle {
            name: ExportBody::SOURCE_NAME,
            file,
        },
    }
}

/// What a plan was made from, as apply needs it.
#[derive(Clone, Copy)]
pub struct PlanInputs<'a> {
    /// The current state: pools and groups whole, and at least the users the plan names.
    pub current: &'a TenantDump,
    /// The desired state, in the same way.
    pub desired: &'a TenantDump,
    /// Pools with users in the whole current document.
    pub current_pools_with_users: &'a BTreeSet<String>,
    /// Pools with users in the whole desired document.
    pub desired_pools_with_users: &'a BTreeSet<String>,
    /// The whole desired document, read again to verify the result (and for the records of
    /// the light creates).
    pub desired_source: Source<'a>,
    /// The creates planned without their records, read from `desired_source` when sent.
    pub light: &'a LightCreates,
}

impl<'a> PlanInputs<'a> {
    /// The inputs of a plan made by [`crate::sieve::plan`] from `desired_source`.
    pub fn new(sifted: &'a Sifted, desired_source: Source<'a>) -> Self {
        PlanInputs {
            current: &sifted.current,
            desired: &sifted.desired,
            current_pools_with_users: &sifted.current_pools_with_users,
            desired_pools_with_users: &sifted.desired_pools_with_users,
            desired_source,
            light: &sifted.light,
        }
    }
}

/// The import requests of `plan`, every body built and serialized before the first is sent,
/// on all cores: the pool request (if any), the user batches in order, and which batch carries
/// each user. Each batch keeps only its JSON bytes, so the executor's requests never wait for a
/// body, and memory holds serialized batches rather than copies of the records.
fn request_batches(
    plan: &Plan,
    inputs: &PlanInputs<'_>,
    tenant_id: &str,
    options: &ApplyOptions,
) -> Result<Requests, ApplyError> {
    let builder = BatchBuilder::new(
        plan,
        inputs.current,
        inputs.desired,
        tenant_id,
        &options.now,
        options.batch_size,
    );
    // A light create's records are read again from the desired file with its batch's.
    let batch = |n: usize| -> Result<Batch, ApplyError> {
        if inputs.light.is_empty() {
            return Ok(builder.user_batch(n));
        }
        let keys: Vec<UserKey> = builder
            .user_batch_changes(n)
            .iter()
            .map(UserChange::key)
            .filter(|key| inputs.light.contains(key))
            .collect();
        let more = if keys.is_empty() {
            TenantDump::default()
        } else {
            let keys: Vec<&UserKey> = keys.iter().collect();
            inputs
                .light
                .read(inputs.desired_source, &keys)
                .map_err(ApplyError::Reread)?
        };
        Ok(builder.user_batch_with(n, &more))
    };
    let pool_batch = builder
        .pool_batch()
        .map(|batch| RequestBatch::new(batch.body, Vec::new()))
        .transpose()?;
    let built: Vec<(Vec<UserKey>, usize, Result<RequestBatch, _>)> = (0..builder
        .user_batch_count())
        .into_par_iter()
        .map(|n| match batch(n) {
            Ok(batch) => {
                let ids = batch.users.iter().map(|k| k.user_id.clone()).collect();
                (
                    batch.users,
                    batch.number,
                    RequestBatch::new(batch.body, ids).map_err(ApplyError::from),
                )
            }
            Err(error) => (Vec::new(), n, Err(error)),
        })
        .collect();
    let mut batch_of_user: HashMap<UserKey, usize> = HashMap::with_capacity(plan.changes.len());
    let mut user_batches = Vec::with_capacity(built.len());
    for (keys, number, request) in built {
        for key in keys {
            batch_of_user.insert(key, number);
        }
        user_batches.push(request?);
    }
    Ok(Requests {
        pool_batch,
        user_batches,
        batch_of_user,
    })
}

/// What [`request_batches`] builds.
struct Requests {
    pool_batch: Option<RequestBatch>,
    user_batches: Vec<RequestBatch>,
    /// The number of the batch that carries each user (the pool batch, when there is one, is 0).
    batch_of_user: HashMap<UserKey, usize>,
}

/// Sends `plan` and verifies the result against a fresh export.
pub async fn apply_plan(
    client: &ApiClient,
    plan: &Plan,
    inputs: &PlanInputs<'_>,
    options: &ApplyOptions,
    observer: &dyn BatchObserver,
    cancellation: &Cancellation,
) -> Result<ApplyReport, ApplyError> {
    check_mode(plan, options.mode)?;
    check_prune(plan, inputs, options.max_deletes)?;
    let Requests {
        pool_batch,
        user_batches,
        batch_of_user,
    } = request_batches(plan, inputs, &client.settings().tenant, options)?;
    let batch_options = BatchOptions {
        mode: options.mode,
        ..options.batch.clone()
    };

    let mut outcomes: Vec<BatchOutcome> = Vec::new();
    let offset = usize::from(pool_batch.is_some());
    let mut pools_failed = None;
    if let Some(pool_batch) = pool_batch {
        let mut result = run_batches(
            client,
            vec![pool_batch],
            &batch_options,
            observer,
            cancellation,
        )
        .await;
        let outcome = result.remove(0);
        if outcome.status != BatchStatus::Applied {
            pools_failed = Some(
                outcome
                    .error
                    .as_ref()
                    .map_or("the pool request failed".to_string(), ToString::to_string),
            );
        }
        outcomes.push(outcome);
    }
    let mut delete_outcomes = Vec::new();
    if pools_failed.is_none() {
        let mut results =
            run_batches(client, user_batches, &batch_options, observer, cancellation).await;
        for outcome in &mut results {
            outcome.index += offset;
        }
        outcomes.extend(results);
        // Deletes go last, so a run stopped early never removes users before it has written
        // the ones the desired file brings.
        let jobs: Vec<DeleteJob> = plan
            .deletes
            .iter()
            .map(|d| DeleteJob {
                pool_id: d.pool_id.clone(),
                user_id: d.user_id.clone(),
            })
            .collect();
        if !jobs.is_empty() {
            delete_outcomes =
                run_deletes(client, jobs, &batch_options, observer, cancellation).await;
        }
    }

    let batches: Vec<BatchReport> = outcomes
        .iter()
        .map(|outcome| BatchReport {
            index: outcome.index,
            users: outcome.user_ids.len(),
            status: outcome.status,
            attempts: outcome.attempts,
            rate_limited: outcome.rate_limited,
            error: outcome.error.as_ref().map(ToString::to_string),
        })
        .collect();
    let requests = outcomes
        .iter()
        .chain(&delete_outcomes)
        .map(|o| o.attempts)
        .sum();
    let retries = outcomes
        .iter()
        .chain(&delete_outcomes)
        .map(BatchOutcome::retries)
        .sum();

    // The verdict comes from the tenant itself, never from the answers alone.
    let verification = match client.export_spooled(&NoProgress, SPILL_ABOVE).await {
        Ok(after) => verify(
            &after,
            inputs.desired_source,
            &options.diff,
            options.max_memory,
        ),
        Err(error) => Err(format!("could not export the tenant to verify: {error}")),
    };
    let batch_error = |key: &UserKey| -> Option<String> {
        if let Some(reason) = &pools_failed {
            return Some(reason.clone());
        }
        let number = batch_of_user.get(key)?;
        let outcome = outcomes.iter().find(|o| o.index == *number)?;
        match outcome.status {
            BatchStatus::Applied => None,
            BatchStatus::NotSent => Some("not sent (the run was stopped)".into()),
            _ => outcome.error.as_ref().map(ToString::to_string),
        }
    };
    let mut report = ApplyReport {
        format_version: REPORT_VERSION.into(),
        mode: options.mode,
        created: 0,
        updated: 0,
        deleted: 0,
        not_converged: Vec::new(),
        verified: verification.is_ok(),
        verification_error: verification.as_ref().err().cloned(),
        requests,
        retries,
        batches,
        interrupted: cancellation.is_stopped(),
    };
    let after_plan = verification.ok();
    let still_differs: HashMap<UserKey, &crate::plan::UserChange> = after_plan
        .as_ref()
        .map(|p| p.changes.iter().map(|c| (c.key(), c)).collect())
        .unwrap_or_default();
    for change in &plan.changes {
        let key = change.key();
        let differs = match &after_plan {
            Some(_) => still_differs.get(&key).copied(),
            None => Some(change),
        };
        match differs {
            None if change.action == Action::Create => report.created += 1,
            None => report.updated += 1,
            Some(remaining) => {
                let reason = batch_error(&key).unwrap_or_else(|| {
                    if after_plan.is_none() {
                        "not verified".to_string()
                    } else if remaining.action == Action::Create {
                        "not in the tenant after apply".to_string()
                    } else {
                        let paths: Vec<&str> = remaining
                            .fields
                            .iter()
                            .map(|f| f.path.as_str())
                            .take(5)
                            .collect();
                        format!("still differs after apply: {}", paths.join(", "))
                    }
                });
                report.not_converged.push(NotConverged {
                    action: change.action,
                    pool_id: change.pool_id.clone(),
                    user_id: change.user_id.clone(),
                    label: change.label.clone(),
                    reason,
                });
            }
        }
    }
    let still_present: std::collections::HashSet<(&str, &str)> = after_plan
        .as_ref()
        .map(|p| {
            p.deletes
                .iter()
                .map(|d| (d.pool_id.as_str(), d.user_id.as_str()))
                .collect()
        })
        .unwrap_or_default();
    for (position, delete) in plan.deletes.iter().enumerate() {
        let gone = after_plan.is_some()
            && !still_present.contains(&(delete.pool_id.as_str(), delete.user_id.as_str()));
        if gone {
            report.deleted += 1;
            continue;
        }
        let reason = delete_outcomes
            .get(position)
            .and_then(|o| o.error.as_ref())
            .map(ToString::to_string)
            .unwrap_or_else(|| {
                if after_plan.is_none() {
                    "not verified".into()
                } else if pools_failed.is_some() {
                    "not sent: the pool request failed".into()
                } else {
                    "still in the tenant after apply".into()
                }
            });
        report.not_converged.push(NotConverged {
            action: Action::Delete,
            pool_id: delete.pool_id.clone(),
            user_id: delete.user_id.clone(),
            label: delete.label.clone(),
            reason,
        });
    }
    Ok(report)
}

/// Plans the desired state against the tenant's export after apply: empty when it converged.
fn verify(
    after: &SpooledExport,
    desired: Source<'_>,
    options: &DiffOptions,
    max_memory: u64,
) -> Result<Plan, String> {
    let current = export_source(after);
    // A create still to do is only named: that it is missing is the whole story.
    let settings = SieveOptions {
        scope_current: true,
        max_memory,
        detail: crate::sieve::Detail::Shown {
            threshold: 0,
            examples: 0,
        },
        ..SieveOptions::new(options)
    };
    match crate::sieve::plan(current, desired, settings) {
        Ok(sifted) => Ok(sifted.plan),
        Err(PlanError::Load {
            side: Side::Current,
            error,
        }) => Err(format!(
            "could not export the tenant to verify: {}",
            after.not_a_tenant_document(&error)
        )),
        Err(error) => Err(format!(
            "the tenant's export after apply is inconsistent: {error}"
        )),
    }
}
