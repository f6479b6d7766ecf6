//! Planning and checking documents too big to hold: unchanged users are sifted out by
//! fingerprint while the documents stream past, and only the rest is diffed in full.
//!
//! Each side is read on its own thread, a record at a time (`reader`, over [`crate::scan`]).
//! Every record is parsed, checked like [`crate::validate`] would check it, normalized the way
//! [`crate::normalize`] does, and reduced to a row (`rows`): 128-bit fingerprints, its keys
//! and its place in the input; the record itself is dropped. Rows are then joined into users as
//! [`crate::index::TenantIndex`] groups records (`join`): the sub-records' fingerprints are
//! combined (order-insensitively) into one for each user's content and one for its sub-record
//! ids, and what cannot be placed (an orphan, a duplicate user) is noted. A desired user whose
//! fingerprints equal its current user's is unchanged and costs nothing more. Every other user
//! (changed, created, only in the tenant, or unusual: several credentials of a type, a
//! sub-record key given twice...) has its records read again from their places, and the two
//! small documents so gathered are diffed by the exact in-memory path ([`crate::diff::diff`]),
//! which writes the plan.
//!
//! Problems are found the same way, with the same memory (`problems`): the rows say which
//! records have one (a bad value, a duplicate id, an identifier held twice, an orphan, a pool
//! nobody lists), and only those records are read again to word it, as `validate` and the index
//! word it, in their order. A document that does not parse is read again a record at a time
//! for the error the whole parse reports ([`crate::load::check_reader`]). [`validate`] is the
//! same reading for one document.
//!
//! The fingerprints only ever decide that users are *equal*, and only when the exact path would
//! find them equal too. The result is therefore the plan [`crate::diff::diff`] computes, with
//! the same errors; `tests/properties.rs` and the `sieve_documents` fuzz target check that on
//! random documents. (Equal fingerprints stand for equal users up to a collision of 128-bit
//! xxh3 hashes and their sums: not a defence against a crafted file, whose author could only
//! hide a change of their own.) What the rows cannot hold (more than 64 ignore paths, a record
//! over 4 GiB) is planned from the whole documents, within the memory budget
//! ([`SieveOptions::max_memory`]), or refused before it is exceeded.

mod excerpt;
mod join;
mod light;
mod migrate;
mod problems;
mod reader;
mod refs;
mod rows;
mod source;

pub(crate) use crate::diff::{DiffError, DiffOptions, diff, diff_matching, ignore_warnings};
use crate::error::LoadError;
use crate::export::filter_pools;
use crate::index::{Problem, UserKey, thousands};
use crate::load::parse_dump;
use crate::model::TenantDump;
use crate::plan::{Action, Plan, UserChange};
use crate::validate::{ValidateOptions, validate as validate_whole};
use join::Ticket;
pub use light::LightCreates;
pub use migrate::{MIGRATED, MigrationError, Spooled, migrate};
use problems::Quoting;
use reader::{IgnoreRules, Reading, Refusal, read};
use rows::{NONE, Rows, hash_str, user_key};
use rustc_hash::FxHashSet as HashSet;
pub(crate) use source::Ranges;
pub use source::Source;
use std::collections::BTreeSet;

/// Settings of a plan.
#[derive(Clone, Copy)]
pub struct SieveOptions<'a> {
    /// How to compare.
    pub diff: &'a DiffOptions,
    /// Check the desired document as `validate` does (with the current tenant's pools known)
    /// and refuse to plan if it has problems.
    pub check_desired: bool,
    /// The current document is an export limited to `diff.pools` (as `export --pool` writes
    /// it): the other pools, their groups and users are not part of it at all.
    pub scope_current: bool,
    /// Told how reading goes.
    pub progress: Option<&'a (dyn SieveProgress + Sync)>,
    /// Bytes of memory a plan may take where it needs more than its rows: the whole-document
    /// path, and the exact diff of the users that differ. Above it, the plan is refused
    /// ([`PlanError::TooBig`]) before it starts.
    pub max_memory: u64,
    /// How much of the plan is worked out.
    pub detail: Detail,
}

/// How much of a plan is worked out in full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detail {
    /// Every change with its patch and field changes: a plan to carry out, or to print whole.
    #[default]
    Full,
    /// A plan for [`crate::render::render_text`] with these settings: when it has more than
    /// `threshold` creates, and so is grouped, only the creates it shows (the first `examples`
    /// of each pool) are diffed in full; the others carry their ids and label, no patch and no
    /// field changes. A million creates then take the memory of their ids, not of their trees.
    Shown {
        /// [`crate::render::TextOptions::summary_threshold`].
        threshold: usize,
        /// [`crate::render::TextOptions::examples_per_group`].
        examples: usize,
    },
}

/// The pools that have at least one user in `dump`.
pub fn pools_with_users(dump: &TenantDump) -> BTreeSet<String> {
    dump.users
        .iter()
        .filter_map(|user| user.user_pool_id.clone())
        .collect()
}

impl<'a> SieveOptions<'a> {
    /// Plain settings: compare by `diff`, check nothing, report no progress, no memory budget.
    pub fn new(diff: &'a DiffOptions) -> Self {
        SieveOptions {
            diff,
            check_desired: false,
            scope_current: false,
            progress: None,
            max_memory: u64::MAX,
            detail: Detail::Full,
        }
    }
}

/// Watches a plan being made.
pub trait SieveProgress {
    /// `side` has been read up to `bytes` and `users` users (called every few thousand records).
    fn read(&self, side: Side, bytes: u64, users: usize);
}

/// Which document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The tenant's state.
    Current,
    /// The desired state.
    Desired,
}

/// Why no plan was made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A document could not be read or parsed.
    #[error("{error}")]
    Load {
        /// Which.
        side: Side,
        /// Why.
        error: LoadError,
    },
    /// The desired document has problems (as `validate` reports them).
    #[error("the desired document has {total} problem(s)")]
    Desired {
        /// The first [`crate::index::MAX_KEPT_PROBLEMS`], in `validate`'s order.
        problems: Vec<Problem>,
        /// How many there are in all.
        total: usize,
    },
    /// The documents are inconsistent in a way only the diff finds.
    #[error(transparent)]
    Diff(#[from] DiffError),
    /// The plan would need more memory than allowed.
    #[error(transparent)]
    TooBig(#[from] TooBig),
}

/// A plan or check that would take more memory than [`SieveOptions::max_memory`] allows,
/// refused before it starts.
#[derive(Debug, thiserror::Error)]
#[error("{what} would need about {} of memory, more than the budget of {}", gigabytes(*.needed), gigabytes(*.budget))]
pub struct TooBig {
    /// What would need it, and why.
    pub what: String,
    /// About how many bytes.
    pub needed: u64,
    /// The budget.
    pub budget: u64,
}

/// A size as `--max-memory` takes it (powers of 1024): `12.4 GiB`, `512 MiB`, `64 KiB`.
fn gigabytes(bytes: u64) -> String {
    let size = bytes as f64;
    match bytes {
        0..0x10_0000 => format!("{:.0} KiB", size / 1024.0),
        0x10_0000..0x4000_0000 => format!("{:.0} MiB", size / 1_048_576.0),
        _ => format!("{:.1} GiB", size / 1_073_741_824.0),
    }
}

/// Memory the whole-document path takes per byte of JSON: the typed tree, the index and the
/// normalized users of both documents (measured: 6.7 to 6.9 at a million users).
pub(crate) const WHOLE_PER_BYTE: u64 = 8;
/// Memory the exact diff takes per byte of the users it diffs: their typed records, index,
/// normalized forms and changes (measured: 11 for a plan of 100,000 creates).
const EXACT_PER_BYTE: u64 = 12;

/// Refuses `what` when `bytes` of JSON at `per_byte` exceed the budget.
pub(crate) fn within(
    what: impl FnOnce() -> String,
    bytes: u64,
    per_byte: u64,
    budget: u64,
) -> Result<(), TooBig> {
    let needed = bytes.saturating_mul(per_byte);
    if needed > budget {
        return Err(TooBig {
            what: what(),
            needed,
            budget,
        });
    }
    Ok(())
}

/// How a plan was made, for logs and benchmarks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SieveStats {
    /// Bytes read of the current document.
    pub current_bytes: u64,
    /// Bytes read of the desired document.
    pub desired_bytes: u64,
    /// Users in the current document.
    pub current_users: usize,
    /// Users in the desired document.
    pub desired_users: usize,
    /// Users (of both sides) that were read again and diffed in full.
    pub diffed_in_full: usize,
    /// Desired users found unchanged by their fingerprints alone.
    pub unchanged_by_fingerprint: usize,
    /// Why both documents were planned whole, if they were.
    pub fell_back: Option<String>,
    /// Seconds spent reading the current and the desired document (in parallel).
    pub read_seconds: (f64, f64),
    /// Seconds spent gathering the users to diff in full, and diffing them.
    pub exact_seconds: f64,
}

/// A plan and the parts of both documents it was made from.
#[derive(Debug)]
pub struct Sifted {
    /// The plan, as [`crate::diff::diff`] computes it on the whole documents.
    pub plan: Plan,
    /// The current document: its pools, groups and other fields whole, and of its users those
    /// the plan names (and, after a fallback, all).
    pub current: TenantDump,
    /// The desired document, in the same way, but for the [`Sifted::light`] creates.
    pub desired: TenantDump,
    /// The creates planned without their records ([`Detail::Shown`]), read again when sent.
    pub light: LightCreates,
    /// Pools that have at least one user, in the whole current document.
    pub current_pools_with_users: BTreeSet<String>,
    /// Pools that have at least one user, in the whole desired document.
    pub desired_pools_with_users: BTreeSet<String>,
    /// How the plan was made.
    pub stats: SieveStats,
}

/// Plans `desired` against `current`: the same plan and errors as loading both, validating the
/// desired one (when asked) and [`diff`]ing them, with memory for the changed users only.
pub fn plan(
    current: Source<'_>,
    desired: Source<'_>,
    options: SieveOptions<'_>,
) -> Result<Sifted, PlanError> {
    let Some(rules) = IgnoreRules::compile(options.diff) else {
        return whole(
            current,
            desired,
            options,
            "more than 64 ignore paths".into(),
        );
    };
    let reading = |side| Reading {
        side,
        rules: Some(&rules),
        check: side == Side::Desired && options.check_desired,
        progress: options.progress,
    };
    let (current_read, desired_read) = std::thread::scope(|scope| {
        let handle = scope.spawn(|| read(current, reading(Side::Current)));
        let desired_read = read(desired, reading(Side::Desired));
        let current_read = handle
            .join()
            .unwrap_or_else(|_| Err(Refusal::Unsupported("reading failed".into())));
        (current_read, desired_read)
    });
    let mut sides = Vec::with_capacity(2);
    for (side, read) in [(Side::Current, current_read), (Side::Desired, desired_read)] {
        match read {
            Ok(rows) => sides.push(rows),
            Err(Refusal::Load(error)) => return Err(PlanError::Load { side, error }),
            Err(Refusal::Unsupported(reason)) => return whole(current, desired, options, reason),
        }
    }
    let (Some(mut desired_rows), Some(mut current_rows)) = (sides.pop(), sides.pop()) else {
        return whole(current, desired, options, "reading failed".into());
    };
    if options.scope_current {
        current_rows.keep_pools(&options.diff.pools);
    }
    let joined = current_rows
        .join(true)
        .and_then(|current| Ok((current, desired_rows.join(true)?)));
    let (current_tickets, desired_tickets) = match joined {
        Ok(tickets) => tickets,
        Err(reason) => return whole(current, desired, options, reason),
    };
    match problems_of(
        current,
        desired,
        options,
        &current_rows,
        &desired_rows,
        (&current_tickets, &desired_tickets),
    ) {
        Ok(Ok(desired_placing)) => {
            match sift(
                current,
                desired,
                options,
                current_rows,
                desired_rows,
                desired_placing,
            ) {
                Ok(sifted) => Ok(sifted),
                Err(Sifting::Fallback(reason)) => whole(current, desired, options, reason),
                Err(Sifting::Failed(error)) => Err(error),
            }
        }
        Ok(Err(error)) => Err(error),
        Err(reason) => whole(current, desired, options, reason),
    }
}

/// The problems that stop a plan before any diff, as the exact path finds them: the desired
/// document's (when checked), then the current one's placing problems. `Ok(Ok(..))` holds the
/// desired document's placing problems, which the diff reports after the users'. The outer
/// `Err` says why a record could not be read again.
fn problems_of(
    current: Source<'_>,
    desired: Source<'_>,
    options: SieveOptions<'_>,
    current_rows: &Rows,
    desired_rows: &Rows,
    (current_tickets, desired_tickets): (&[Ticket], &[Ticket]),
) -> Result<Result<(Vec<Problem>, usize), PlanError>, String> {
    fn reread(source: Source<'_>) -> impl Fn(std::io::Error) -> String + '_ {
        move |error| format!("could not read {} again: {error}", source.name())
    }
    let mut desired_quoting = Quoting {
        rows: desired_rows,
        ranges: Ranges::open(desired).map_err(reread(desired))?,
    };
    if options.check_desired {
        let known: HashSet<&str> = current_rows
            .listed_pools
            .iter()
            .map(|number| current_rows.pools.ids[*number as usize].as_str())
            .collect();
        let problems = desired_quoting
            .validation(desired_tickets, &|pool| known.contains(pool))
            .map_err(reread(desired))?;
        if let (problems, total @ 1..) = problems {
            return Ok(Err(PlanError::Desired { problems, total }));
        }
    }
    if !current_tickets.is_empty() {
        let mut quoting = Quoting {
            rows: current_rows,
            ranges: Ranges::open(current).map_err(reread(current))?,
        };
        let (problems, total) = quoting.placing(current_tickets).map_err(reread(current))?;
        return Ok(Err(PlanError::Diff(DiffError {
            side: "current",
            problems,
            total,
        })));
    }
    Ok(Ok(desired_quoting
        .placing(desired_tickets)
        .map_err(reread(desired))?))
}

/// Loads both whole documents and plans them the exact way, if the budget allows.
fn whole(
    current: Source<'_>,
    desired: Source<'_>,
    options: SieveOptions<'_>,
    reason: String,
) -> Result<Sifted, PlanError> {
    tracing::info!(%reason, "planning the whole documents in memory");
    let bytes = current.size().saturating_add(desired.size());
    within(
        || format!("planning these documents whole ({reason})"),
        bytes,
        WHOLE_PER_BYTE,
        options.max_memory,
    )?;
    let (current_dump, desired_dump) = std::thread::scope(|scope| {
        let handle = scope.spawn(|| current.load());
        let desired_dump = desired.load();
        let current_dump = handle.join().unwrap_or_else(|_| {
            Err(LoadError::Empty {
                source_name: current.name(),
            })
        });
        (current_dump, desired_dump)
    });
    let mut current_dump = current_dump.map_err(|error| PlanError::Load {
        side: Side::Current,
        error,
    })?;
    if options.scope_current {
        filter_pools(&mut current_dump, &options.diff.pools);
    }
    let desired_dump = desired_dump.map_err(|error| PlanError::Load {
        side: Side::Desired,
        error,
    })?;
    if options.check_desired {
        let known = ValidateOptions {
            known_pools: current_dump
                .pools
                .iter()
                .filter_map(|p| p.id.clone())
                .collect(),
        };
        let mut problems = validate_whole(&desired_dump, &known);
        if !problems.is_empty() {
            let total = problems.len();
            problems.truncate(crate::index::MAX_KEPT_PROBLEMS);
            return Err(PlanError::Desired { problems, total });
        }
    }
    let plan = diff(&current_dump, &desired_dump, options.diff)?;
    let stats = SieveStats {
        current_users: current_dump.users.len(),
        desired_users: desired_dump.users.len(),
        diffed_in_full: current_dump.users.len() + desired_dump.users.len(),
        fell_back: Some(reason),
        ..SieveStats::default()
    };
    Ok(Sifted {
        plan,
        current_pools_with_users: pools_with_users(&current_dump),
        desired_pools_with_users: pools_with_users(&desired_dump),
        current: current_dump,
        desired: desired_dump,
        light: LightCreates::default(),
        stats,
    })
}

enum Sifting {
    Fallback(String),
    Failed(PlanError),
}

/// The pools with users in `rows`.
fn rows_pools_with_users(rows: &Rows) -> BTreeSet<String> {
    let numbers: HashSet<u32> = rows
        .users
        .iter()
        .filter(|user| user.pool != NONE)
        .map(|user| user.pool)
        .collect();
    numbers
        .into_iter()
        .map(|number| rows.pools.ids[number as usize].clone())
        .collect()
}

/// Compares the fingerprints, gathers the users that need the exact diff and runs it.
/// `desired_placing` are the desired document's placing problems, which the diff reports with
/// the users' own.
fn sift(
    current: Source<'_>,
    desired: Source<'_>,
    options: SieveOptions<'_>,
    current_rows: Rows,
    desired_rows: Rows,
    (desired_placing, placing_total): (Vec<Problem>, usize),
) -> Result<Sifted, Sifting> {
    let scope: HashSet<u128> = options
        .diff
        .pools
        .iter()
        .map(|pool| hash_str(pool))
        .collect();
    let in_scope = |pool: u128| scope.is_empty() || scope.contains(&pool);
    // The diff reports a user of a pool that neither document lists.
    let known: HashSet<u128> = current_rows
        .listed_hashes()
        .chain(desired_rows.listed_hashes())
        .collect();
    let started = std::time::Instant::now();
    let mut current_chosen = vec![false; current_rows.users.len()];
    let mut desired_chosen = vec![false; desired_rows.users.len()];
    let mut current_matched = vec![false; current_rows.users.len()];
    let mut unchanged = 0usize;
    let mut matched_mask = 0u64;
    // Desired users only the desired document has, and current users only the current one has:
    // both may be named by reference rather than diffed (see [`Detail`] and [`refs`]).
    let mut created = Vec::new();
    let mut current_only = Vec::new();
    for (position, user) in desired_rows.users.iter().enumerate() {
        if !user.is_user() {
            continue;
        }
        let pool = desired_rows.pool_hash(user);
        if !in_scope(pool) {
            continue;
        }
        let found = current_rows.by_key.get(&user_key(pool, user.uid));
        let (true, Some(&other)) = (known.contains(&pool), found) else {
            desired_chosen[position] = true;
            if known.contains(&pool) && !user.is_unusual() {
                created.push(position as u32);
            }
            continue;
        };
        let other_position = other as usize;
        current_matched[other_position] = true;
        let theirs = &current_rows.users[other_position];
        let ids_agree = match (user.with_id, user.without_id) {
            (0, _) => true,
            (_, 0) => theirs.without_id == 0 && theirs.id_sum == user.id_sum,
            _ => false,
        };
        let equal = !user.is_unusual()
            && !theirs.is_unusual()
            && theirs.without_id == 0
            && user.content == theirs.content
            && ids_agree;
        if equal {
            unchanged += 1;
            matched_mask |= user.mask | theirs.mask;
        } else {
            desired_chosen[position] = true;
            current_chosen[other_position] = true;
        }
    }
    for (position, user) in current_rows.users.iter().enumerate() {
        if user.is_user() && in_scope(current_rows.pool_hash(user)) && !current_matched[position] {
            // A user to delete is diffed, for its backup; one left alone is only named.
            if options.diff.prune {
                current_chosen[position] = true;
            } else {
                current_only.push(position as u32);
            }
        }
    }
    fn reread(source: Source<'_>) -> impl Fn(std::io::Error) -> Sifting + '_ {
        move |error| Sifting::Fallback(format!("could not read {} again: {error}", source.name()))
    }
    let unmanaged = current_rows
        .refs(current, &current_only)
        .map_err(reread(current))?;
    let mut light_positions = Vec::new();
    let light_creates = match options.detail {
        Detail::Shown {
            threshold,
            examples,
        } if created.len() > threshold => {
            let refs = desired_rows
                .refs(desired, &created)
                .map_err(reread(desired))?;
            let mut order: Vec<usize> = (0..created.len()).collect();
            order.sort_by(|a, b| {
                let (a, b) = (&refs[*a], &refs[*b]);
                (&a.pool_id, &a.user_id).cmp(&(&b.pool_id, &b.user_id))
            });
            let mut light = Vec::new();
            light_positions.reserve(created.len());
            let mut shown_in_pool = 0;
            for (number, index) in order.iter().enumerate() {
                let same_pool =
                    number > 0 && refs[order[number - 1]].pool_id == refs[*index].pool_id;
                shown_in_pool = if same_pool { shown_in_pool + 1 } else { 1 };
                if shown_in_pool > examples {
                    let position = created[*index];
                    desired_chosen[position as usize] = false;
                    matched_mask |= desired_rows.users[position as usize].mask;
                    light.push(*index);
                    let reference = &refs[*index];
                    light_positions.push((
                        UserKey {
                            pool_id: reference.pool_id.clone(),
                            user_id: reference.user_id.clone(),
                        },
                        position,
                    ));
                }
            }
            light
                .into_iter()
                .map(|index| {
                    let reference = &refs[index];
                    UserChange {
                        action: Action::Create,
                        pool_id: reference.pool_id.clone(),
                        user_id: reference.user_id.clone(),
                        label: reference.label.clone(),
                        patch: json_patch::Patch(Vec::new()),
                        fields: Vec::new(),
                        current_sha256: None,
                    }
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let chosen_bytes = |rows: &Rows, chosen: &[bool]| -> u64 {
        rows.users
            .iter()
            .zip(chosen)
            .filter(|(_, chosen)| **chosen)
            .map(|(user, _)| user.len)
            .sum::<u64>()
            .saturating_mul(3)
    };
    let users_in_full = current_chosen
        .iter()
        .chain(&desired_chosen)
        .filter(|c| **c)
        .count();
    within(
        || {
            format!(
                "diffing the {} users that differ in full",
                thousands(users_in_full)
            )
        },
        chosen_bytes(&current_rows, &current_chosen) + chosen_bytes(&desired_rows, &desired_chosen),
        EXACT_PER_BYTE,
        options.max_memory,
    )
    .map_err(|error| Sifting::Failed(error.into()))?;

    let excerpt = |source: Source<'_>, rows: &Rows, chosen: &[bool]| {
        let bytes = rows.excerpt(source, chosen).map_err(|error| {
            Sifting::Fallback(format!("could not read {} again: {error}", source.name()))
        })?;
        parse_dump(&bytes, &source.name()).map_err(|error| {
            Sifting::Fallback(format!(
                "an excerpt of {} did not parse: {error}",
                source.name()
            ))
        })
    };
    let (current_part, desired_part) = std::thread::scope(|scope| {
        let handle = scope.spawn(|| excerpt(current, &current_rows, &current_chosen));
        let desired_part = excerpt(desired, &desired_rows, &desired_chosen);
        let current_part = handle
            .join()
            .unwrap_or_else(|_| Err(Sifting::Fallback("reading an excerpt failed".into())));
        (current_part, desired_part)
    });
    let (mut current_part, desired_part) = (current_part?, desired_part?);
    // The fingerprints have done their work: free them before the exact diff needs memory.
    let current_pools_with_users = rows_pools_with_users(&current_rows);
    let desired_pools_with_users = rows_pools_with_users(&desired_rows);
    let mut stats = SieveStats {
        current_bytes: current_rows.bytes,
        desired_bytes: desired_rows.bytes,
        current_users: current_rows.users.len(),
        desired_users: desired_rows.users.len(),
        unchanged_by_fingerprint: unchanged,
        read_seconds: (current_rows.seconds, desired_rows.seconds),
        ..SieveStats::default()
    };
    // The rows of the desired document stay for the creates planned without their records.
    let light = if light_positions.is_empty() {
        drop(desired_rows);
        LightCreates::default()
    } else {
        LightCreates::new(desired_rows, light_positions)
    };
    drop(current_rows);
    drop((current_chosen, desired_chosen, current_matched));
    if options.scope_current {
        filter_pools(&mut current_part, &options.diff.pools);
    }
    let (mut plan, exact_matched) = match diff_matching(&current_part, &desired_part, options.diff)
    {
        Ok(planned) => planned,
        Err(error) if error.side == "current" => return Err(Sifting::Failed(error.into())),
        Err(error) => {
            let mut problems = desired_placing;
            problems.extend(error.problems);
            problems.truncate(crate::index::MAX_KEPT_PROBLEMS);
            let error = DiffError {
                side: "desired",
                problems,
                total: placing_total + error.total,
            };
            return Err(Sifting::Failed(error.into()));
        }
    };
    if placing_total > 0 {
        let error = DiffError {
            side: "desired",
            problems: desired_placing,
            total: placing_total,
        };
        return Err(Sifting::Failed(error.into()));
    }
    plan.summary.unchanged += unchanged;
    plan.summary.create += light_creates.len();
    plan.changes.extend(light_creates);
    plan.changes
        .sort_by(|a, b| (&a.pool_id, &a.user_id).cmp(&(&b.pool_id, &b.user_id)));
    plan.unmanaged.extend(unmanaged);
    plan.unmanaged
        .sort_by(|a, b| (&a.pool_id, &a.user_id).cmp(&(&b.pool_id, &b.user_id)));
    plan.summary.unmanaged = plan.unmanaged.len();
    // An ignore path matched if it matched in a user compared here or in the exact diff.
    let matched: Vec<bool> = exact_matched
        .iter()
        .enumerate()
        .map(|(position, exact)| *exact || matched_mask & (1 << position) != 0)
        .collect();
    plan.warnings = ignore_warnings(&options.diff.ignore, &matched);

    stats.diffed_in_full = current_part.users.len() + desired_part.users.len();
    stats.exact_seconds = started.elapsed().as_secs_f64();
    tracing::debug!(?stats, "planned by fingerprints");
    Ok(Sifted {
        plan,
        current: current_part,
        desired: desired_part,
        light,
        current_pools_with_users,
        desired_pools_with_users,
        stats,
    })
}

/// What [`validate`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// The first [`crate::index::MAX_KEPT_PROBLEMS`] problems, as
    /// [`crate::validate::validate`] reports them.
    pub problems: Vec<Problem>,
    /// How many problems there are in all.
    pub total_problems: usize,
    /// How many `users` records the document has.
    pub users: usize,
    /// The pools its users name.
    pub pools_with_users: BTreeSet<String>,
}

/// Why a document could not be read ([`validate`], [`crate::export::CanonicalExport`]).
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// It could not be read or parsed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading it would need more memory than allowed.
    #[error(transparent)]
    TooBig(#[from] TooBig),
}

/// Checks a document as [`crate::validate::validate`] does (every problem, in the same words
/// and order), reading it a record at a time: memory for the rows of its records, not for the
/// records. `max_memory` bounds the whole-document path, taken only for what rows cannot hold.
pub fn validate(
    source: Source<'_>,
    options: &ValidateOptions,
    max_memory: u64,
) -> Result<Validation, DocumentError> {
    let reading = Reading {
        side: Side::Desired,
        rules: None,
        check: true,
        progress: None,
    };
    let reason = match read(source, reading) {
        Ok(mut rows) => match rows.join(false) {
            Ok(tickets) => {
                let quoted = Ranges::open(source).and_then(|ranges| {
                    let mut quoting = Quoting {
                        rows: &rows,
                        ranges,
                    };
                    quoting.validation(&tickets, &|pool| {
                        options.known_pools.iter().any(|known| known == pool)
                    })
                });
                match quoted {
                    Ok((problems, total_problems)) => {
                        return Ok(Validation {
                            problems,
                            total_problems,
                            users: rows.users.len(),
                            pools_with_users: rows_pools_with_users(&rows),
                        });
                    }
                    Err(error) => format!("could not read {} again: {error}", source.name()),
                }
            }
            Err(reason) => reason,
        },
        Err(Refusal::Load(error)) => return Err(error.into()),
        Err(Refusal::Unsupported(reason)) => reason,
    };
    tracing::info!(%reason, "checking the whole document in memory");
    within(
        || format!("checking {} whole ({reason})", source.name()),
        source.size(),
        WHOLE_PER_BYTE,
        max_memory,
    )?;
    let dump = source.load()?;
    let mut problems = validate_whole(&dump, options);
    let total_problems = problems.len();
    problems.truncate(crate::index::MAX_KEPT_PROBLEMS);
    Ok(Validation {
        problems,
        total_problems,
        users: dump.users.len(),
        pools_with_users: pools_with_users(&dump),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const CURRENT: &str = r#"{"pools": [{"id": "p", "name": "P"}],
        "users": [{"id": "u1", "user_pool_id": "p", "status": "active"},
                  {"id": "u2", "user_pool_id": "p", "status": "active"}],
        "user_identifiers": [{"id": "i1", "user_id": "u1", "type": "email", "identifier": "a@x.io"}]}"#;
    const DESIRED: &str = r#"{"users": [{"id": "u1", "user_pool_id": "p", "status": "inactive"},
                  {"id": "u2", "user_pool_id": "p", "status": "active"}],
        "user_identifiers": [{"user_id": "u1", "type": "email", "identifier": "a@x.io"}]}"#;

    fn planned(current: Source<'_>, desired: Source<'_>) -> Sifted {
        let options = DiffOptions::default();
        plan(current, desired, SieveOptions::new(&options)).unwrap()
    }

    #[test]
    fn a_file_handle_a_path_and_memory_plan_alike() {
        let mut handle = tempfile::tempfile().unwrap();
        handle.write_all(CURRENT.as_bytes()).unwrap();
        let mut named = tempfile::NamedTempFile::new().unwrap();
        named.write_all(DESIRED.as_bytes()).unwrap();
        let from_memory = planned(
            Source::Memory {
                name: "current",
                bytes: CURRENT.as_bytes(),
            },
            Source::Memory {
                name: "desired",
                bytes: DESIRED.as_bytes(),
            },
        );
        // The handle is read from its start, wherever its position was left.
        let from_files = planned(
            Source::Handle {
                name: "current",
                file: &handle,
            },
            Source::File(named.path()),
        );
        assert_eq!(from_memory.plan, from_files.plan);
        assert_eq!(from_files.plan.summary.update, 1);
        assert_eq!(from_files.stats.unchanged_by_fingerprint, 1);
        assert_eq!(from_files.stats.fell_back, None);
        // Only the changed user was read again.
        assert_eq!(from_files.current.users.len(), 1);
        assert_eq!(from_files.desired.users.len(), 1);
    }

    #[test]
    fn problems_past_the_first_thousand_are_counted_not_kept() {
        use crate::index::MAX_KEPT_PROBLEMS;
        // Every user has a bad status, every second one an orphan identifier too: more
        // problems of each kind than are kept.
        let users = 1_500;
        let mut document = serde_json::json!({"pools": [{"id": "p", "name": "P"}]});
        document["users"] = (0..users)
            .map(|n| serde_json::json!({"id": format!("u{n}"), "user_pool_id": "p", "status": "activ"}))
            .collect();
        document["user_identifiers"] = (0..users / 2)
            .map(|n| serde_json::json!({"user_id": format!("gone{n}"), "type": "email", "identifier": format!("x{n}@x.io")}))
            .collect();
        let bytes = serde_json::to_vec(&document).unwrap();
        let source = Source::Memory {
            name: "desired",
            bytes: &bytes,
        };
        let streamed = validate(source, &ValidateOptions::default(), u64::MAX).unwrap();
        let mut whole = validate_whole(
            &serde_json::from_slice(&bytes).unwrap(),
            &ValidateOptions::default(),
        );
        assert_eq!(streamed.total_problems, whole.len());
        assert!(whole.len() > 2 * MAX_KEPT_PROBLEMS, "{}", whole.len());
        whole.truncate(MAX_KEPT_PROBLEMS);
        assert_eq!(
            streamed.problems, whole,
            "the first ones, in validate's order"
        );

        let options = DiffOptions::default();
        let current = Source::Memory {
            name: "current",
            bytes: br#"{"pools": [{"id": "p", "name": "P"}]}"#,
        };
        let checked = SieveOptions {
            check_desired: true,
            ..SieveOptions::new(&options)
        };
        match plan(current, source, checked) {
            Err(PlanError::Desired { problems, total }) => {
                assert!(problems == whole, "the first problems, in order");
                assert_eq!(total, streamed.total_problems);
            }
            Err(other) => panic!(
                "another error: {}",
                crate::index::shorten(&other.to_string())
            ),
            Ok(_) => panic!("planned a document with problems"),
        }
        // Without the check, the placing problems alone stop the plan, kept and counted alike.
        match plan(current, source, SieveOptions::new(&options)) {
            Err(PlanError::Diff(error)) => {
                assert_eq!(error.total, users / 2);
                assert_eq!(error.problems.len(), users / 2);
            }
            Err(other) => panic!(
                "another error: {}",
                crate::index::shorten(&other.to_string())
            ),
            Ok(_) => panic!("planned a document with problems"),
        }
    }

    #[test]
    fn a_document_that_does_not_parse_gets_the_whole_parses_error() {
        let broken = DESIRED.replace("\"inactive\"", "7");
        let options = DiffOptions::default();
        let error = plan(
            Source::Memory {
                name: "current",
                bytes: CURRENT.as_bytes(),
            },
            Source::Memory {
                name: "desired",
                bytes: broken.as_bytes(),
            },
            SieveOptions::new(&options),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("desired:1:"), "{message}");
        assert!(message.contains("users[0].status"), "{message}");
    }

    #[test]
    fn what_would_exceed_the_memory_budget_is_refused_before_it_starts() {
        let memory = |bytes| Source::Memory {
            name: "document",
            bytes,
        };
        // More ignore paths than rows hold take the whole-document path: 8 bytes a byte.
        let many = DiffOptions {
            ignore: (0..65)
                .map(|n| crate::normalize::IgnorePath::parse(&format!("/x{n}")).unwrap())
                .collect(),
            ..DiffOptions::default()
        };
        let budget = |max_memory| SieveOptions {
            max_memory,
            ..SieveOptions::new(&many)
        };
        let size = (CURRENT.len() + DESIRED.len()) as u64;
        let sources = (memory(CURRENT.as_bytes()), memory(DESIRED.as_bytes()));
        let error = plan(sources.0, sources.1, budget(size)).unwrap_err();
        let PlanError::TooBig(too_big) = &error else {
            panic!("{error:?}");
        };
        assert_eq!((too_big.needed, too_big.budget), (8 * size, size));
        assert!(
            error.to_string().starts_with(
                "planning these documents whole (more than 64 ignore paths) would need about"
            ),
            "{error}"
        );
        let planned = plan(sources.0, sources.1, budget(8 * size)).unwrap();
        assert!(planned.stats.fell_back.is_some());
        // The users that differ are diffed in full only if the budget allows it too.
        let options = DiffOptions::default();
        let tight = SieveOptions {
            max_memory: 100,
            ..SieveOptions::new(&options)
        };
        let error = plan(sources.0, sources.1, tight).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("diffing the 2 users that differ in full"),
            "{error}"
        );
    }
}
