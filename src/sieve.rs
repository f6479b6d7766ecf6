//! Planning documents too big to hold: unchanged users are sifted out by fingerprint while the
//! documents stream past, and only the rest is diffed in full.
//!
//! Each side is read on its own thread, a record at a time ([`crate::scan`]). Every record is
//! parsed, checked like [`crate::validate`] would check it, normalized the way
//! [`crate::normalize`] does, and reduced to 128-bit fingerprints and its place in the input;
//! the record itself is dropped. Per user, the fingerprints of its record and sub-records are
//! combined (order-insensitively) into one for its content and one for its sub-record ids. A
//! desired user whose fingerprints equal its current user's is unchanged and costs nothing more.
//! Every other user (changed, created, only in the tenant, or unusual: several credentials of a
//! type, a sub-record key given twice...) has its records read again from their places, and the
//! two small documents so gathered are validated and diffed by the exact in-memory path
//! ([`crate::validate::validate`], [`crate::diff::diff`]), which writes the plan.
//!
//! The fingerprints only ever decide that users are *equal*, and only when the exact path would
//! find them equal too; whenever a document is unusual in a way they do not model (a problem
//! `validate` would report, a record the scanner or a typed parse refuses, an orphan sub-record,
//! an ignore path starting with `*`), the whole plan falls back to the exact path on both whole
//! documents, which reports the problem with its location. The result is therefore the plan
//! [`crate::diff::diff`] computes, with the same errors; `tests/properties.rs` and the
//! `sieve_documents` fuzz target check that on random documents. (Equal fingerprints stand for
//! equal users up to a collision of 128-bit xxh3 hashes and their sums: not a defence against a
//! crafted file, whose author could only hide a change of their own.)

use crate::diff::{DiffError, DiffOptions, diff, diff_matching, ignore_warnings};
use crate::error::LoadError;
use crate::export::filter_pools;
use crate::index::Problem;
use crate::load::{parse_dump, read_dump};
use crate::model::{
    GroupMember, Object, Pool, TenantDump, User, UserCredential, UserIdentifier,
    UserVerifiableAddress,
};
use crate::normalize::{
    ADDRESSES, CREDENTIALS, GROUPS, IDENTIFIERS, InPlace, natural_key, prune_empty, remove_path,
};
use crate::plan::Plan;
use crate::scan::{CHUNK, Piece, RecordArray, ScanError, scan_reader, scan_slice};
use crate::validate::{Checker, ValidateOptions, validate};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_128;

/// Where a document comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A file, read in chunks.
    File(&'a Path),
    /// Bytes already in memory (an export's body), named in messages by `name`.
    Memory {
        /// What to call it in messages.
        name: &'a str,
        /// The document.
        bytes: &'a [u8],
    },
    /// An open file, such as an export's body spooled to an unnamed temporary file; read from
    /// its start whatever its position.
    Handle {
        /// What to call it in messages.
        name: &'a str,
        /// The document.
        file: &'a std::fs::File,
    },
}

impl Source<'_> {
    fn load(&self) -> Result<TenantDump, LoadError> {
        match self {
            Source::File(path) => read_dump(path),
            Source::Memory { name, bytes } => parse_dump(bytes, name),
            Source::Handle { name, file } => {
                let mut bytes = Vec::new();
                self.reader()
                    .and_then(|mut reader| std::io::Read::read_to_end(&mut reader, &mut bytes))
                    .map_err(|source| LoadError::Read {
                        path: (*name).into(),
                        source,
                    })?;
                let _ = file;
                parse_dump(&bytes, name)
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Memory { name, .. } | Source::Handle { name, .. } => (*name).to_string(),
        }
    }

    /// The size in bytes, when it can be known cheaply.
    fn size(&self) -> u64 {
        match self {
            Source::Memory { bytes, .. } => bytes.len() as u64,
            Source::File(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
            Source::Handle { file, .. } => file.metadata().map_or(0, |m| m.len()),
        }
    }

    /// A reader from the start of a file or handle.
    fn reader(&self) -> std::io::Result<std::fs::File> {
        match self {
            Source::File(path) => std::fs::File::open(path),
            Source::Handle { file, .. } => {
                let mut file = file.try_clone()?;
                std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
                Ok(file)
            }
            Source::Memory { .. } => Err(std::io::Error::other("a slice is read in place")),
        }
    }
}

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
}

/// The pools that have at least one user in `dump`.
pub fn pools_with_users(dump: &TenantDump) -> BTreeSet<String> {
    dump.users
        .iter()
        .filter_map(|user| user.user_pool_id.clone())
        .collect()
}

impl<'a> SieveOptions<'a> {
    /// Whether the current document holds `pool` at all (with `scope_current`, only the pools
    /// of `diff.pools` are part of it).
    fn current_holds(&self, pool: &str) -> bool {
        !self.scope_current
            || self.diff.pools.is_empty()
            || self.diff.pools.iter().any(|p| p == pool)
    }

    /// Plain settings: compare by `diff`, check nothing, report no progress.
    pub fn new(diff: &'a DiffOptions) -> Self {
        SieveOptions {
            diff,
            check_desired: false,
            scope_current: false,
            progress: None,
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
    #[error("the desired document has {} problem(s)", .0.len())]
    Desired(Vec<Problem>),
    /// The documents are inconsistent in a way only the diff finds.
    #[error(transparent)]
    Diff(#[from] DiffError),
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
    /// The desired document, in the same way.
    pub desired: TenantDump,
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
            "an ignore path starts with `*` or touches sub-record ids".into(),
        );
    };
    let (current_read, desired_read) = std::thread::scope(|scope| {
        let rules = &rules;
        let handle = scope.spawn(move || Reader::new(rules, Side::Current, options).read(current));
        let desired_read = Reader::new(rules, Side::Desired, options).read(desired);
        let current_read = handle
            .join()
            .unwrap_or_else(|_| Err("reading the current document failed".into()));
        (current_read, desired_read)
    });
    let (current_side, desired_side) = match (current_read, desired_read) {
        (Ok(current_side), Ok(desired_side)) => (current_side, desired_side),
        (Err(reason), _) | (_, Err(reason)) => {
            return whole(current, desired, options, reason);
        }
    };
    if options.check_desired {
        let known = |pool: &String| {
            desired_side.pool_ids.contains(pool)
                || (current_side.pool_ids.contains(pool) && options.current_holds(pool))
        };
        if !desired_side.user_pools.values().all(known) {
            return whole(current, desired, options, "a user's pool is unknown".into());
        }
    }
    match sift(current, desired, options, current_side, desired_side) {
        Ok(sifted) => Ok(sifted),
        Err(Sifting::Fallback(reason)) => whole(current, desired, options, reason),
        Err(Sifting::Failed(error)) => Err(error),
    }
}

/// Loads both whole documents and plans them the exact way.
fn whole(
    current: Source<'_>,
    desired: Source<'_>,
    options: SieveOptions<'_>,
    reason: String,
) -> Result<Sifted, PlanError> {
    tracing::info!(%reason, "planning the whole documents in memory");
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
        check(&current_dump, &desired_dump)?;
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
        stats,
    })
}

/// `validate` on the desired document, with the current tenant's pools known.
fn check(current: &TenantDump, desired: &TenantDump) -> Result<(), PlanError> {
    let options = ValidateOptions {
        known_pools: current.pools.iter().filter_map(|p| p.id.clone()).collect(),
    };
    let problems = validate(desired, &options);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Desired(problems))
    }
}

enum Sifting {
    Fallback(String),
    Failed(PlanError),
}

/// Compares the fingerprints, gathers the users that need the exact diff and runs it.
fn sift(
    current: Source<'_>,
    desired: Source<'_>,
    options: SieveOptions<'_>,
    current_side: SideData,
    desired_side: SideData,
) -> Result<Sifted, Sifting> {
    let scope: HashSet<u128> = options
        .diff
        .pools
        .iter()
        .map(|pool| hash_str(pool))
        .collect();
    let in_scope = |pool: u128| scope.is_empty() || scope.contains(&pool);
    let started = std::time::Instant::now();
    let mut current_chosen = vec![false; current_side.users.len()];
    let mut desired_chosen = vec![false; desired_side.users.len()];
    let mut current_matched = vec![false; current_side.users.len()];
    let mut unchanged = 0usize;
    let mut matched_mask = 0u64;
    for (position, user) in desired_side.users.iter().enumerate() {
        if !in_scope(user.pool) {
            // Out of the plan, but `validate` still sees it: its own oddities must be reported.
            desired_chosen[position] = user.unusual;
            continue;
        }
        let Some(&other) = current_side.by_key.get(&user.key) else {
            desired_chosen[position] = true;
            continue;
        };
        let other_position = other as usize;
        current_matched[other_position] = true;
        let theirs = &current_side.users[other_position];
        let ids_agree = match (user.with_id, user.without_id) {
            (0, _) => true,
            (_, 0) => theirs.without_id == 0 && theirs.id_sum == user.id_sum,
            _ => false,
        };
        let equal = !user.unusual
            && !theirs.unusual
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
    for (position, user) in current_side.users.iter().enumerate() {
        if in_scope(user.pool) && !current_matched[position] {
            current_chosen[position] = true;
        }
    }

    let excerpt = |source: Source<'_>, side: &SideData, chosen: &[bool]| {
        let bytes = side.excerpt(source, chosen).map_err(|error| {
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
        let handle = scope.spawn(|| excerpt(current, &current_side, &current_chosen));
        let desired_part = excerpt(desired, &desired_side, &desired_chosen);
        let current_part = handle
            .join()
            .unwrap_or_else(|_| Err(Sifting::Fallback("reading an excerpt failed".into())));
        (current_part, desired_part)
    });
    let (mut current_part, desired_part) = (current_part?, desired_part?);
    // The fingerprints have done their work: free them before the exact diff needs memory.
    let current_pools_with_users: BTreeSet<String> = current_side
        .user_pools
        .values()
        .filter(|pool| options.current_holds(pool))
        .cloned()
        .collect();
    let desired_pools_with_users: BTreeSet<String> =
        desired_side.user_pools.values().cloned().collect();
    let mut stats = SieveStats {
        current_bytes: current_side.bytes,
        desired_bytes: desired_side.bytes,
        current_users: current_side.users.len(),
        desired_users: desired_side.users.len(),
        unchanged_by_fingerprint: unchanged,
        read_seconds: (current_side.seconds, desired_side.seconds),
        ..SieveStats::default()
    };
    drop((current_side, desired_side));
    drop((current_chosen, desired_chosen, current_matched));
    if options.scope_current {
        filter_pools(&mut current_part, &options.diff.pools);
    }
    if options.check_desired {
        check(&current_part, &desired_part).map_err(Sifting::Failed)?;
    }
    let (mut plan, exact_matched) = diff_matching(&current_part, &desired_part, options.diff)
        .map_err(|error| Sifting::Failed(error.into()))?;
    plan.summary.unchanged += unchanged;
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
        current_pools_with_users,
        desired_pools_with_users,
        stats,
    })
}

/// The content of a group membership: nothing beyond its key (the group).
#[derive(serde::Serialize)]
struct Empty;

impl InPlace for Empty {
    fn strip_in_place(&mut self) {}
    fn normalized_fields(&self) -> Object {
        Object::new()
    }
}

/// A 128-bit hash of one string.
fn hash_str(text: &str) -> u128 {
    xxh3_128(text.as_bytes())
}

/// A 128-bit hash of several strings, each length-prefixed so that `("ab", "c")` and
/// `("a", "bc")` differ.
fn hash_strs(buffer: &mut Vec<u8>, parts: &[&[u8]]) -> u128 {
    buffer.clear();
    for part in parts {
        buffer.extend_from_slice(&(part.len() as u64).to_le_bytes());
        buffer.extend_from_slice(part);
    }
    xxh3_128(buffer)
}

/// A 128-bit hash of a tag, a key and a normalized record in its canonical JSON (a stripped
/// record, see [`InPlace`], or a `Value`, whose maps are ordered by key).
fn hash_serialized(
    buffer: &mut Vec<u8>,
    tag: u8,
    key: &str,
    value: &impl serde::Serialize,
) -> u128 {
    buffer.clear();
    buffer.push(tag);
    buffer.extend_from_slice(&(key.len() as u64).to_le_bytes());
    buffer.extend_from_slice(key.as_bytes());
    // Writing a `Value` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *buffer, value);
    xxh3_128(buffer)
}

/// Combines two hashes into one.
fn hash_pair(first: u128, second: u128) -> u128 {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&first.to_le_bytes());
    bytes[16..].copy_from_slice(&second.to_le_bytes());
    xxh3_128(&bytes)
}

/// The kinds of sub-record, as tags in fingerprints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Class {
    User = 0,
    Identifier = 1,
    Address = 2,
    Credential = 3,
    Member = 4,
}

impl Class {
    fn array(self) -> RecordArray {
        match self {
            Class::User => RecordArray::Users,
            Class::Identifier => RecordArray::Identifiers,
            Class::Address => RecordArray::Addresses,
            Class::Credential => RecordArray::Credentials,
            Class::Member => RecordArray::GroupMembers,
        }
    }
}

/// The ignore paths, split by the part of a normalized user they address.
struct IgnoreRules {
    rules: Vec<Rule>,
}

enum Rule {
    /// A path into the user record's own fields.
    UserRecord(Vec<String>),
    /// A path into the sub-records of one kind: all of them (`key` `None`, `rest` empty), the
    /// one(s) whose key matches, or a path inside those.
    Sub {
        class: Class,
        key: Option<String>,
        rest: Vec<String>,
    },
    /// `/groups`: every membership.
    Groups,
    /// `/groups/...`: matches nothing (the groups are an array, which paths do not enter).
    Nothing,
}

impl IgnoreRules {
    /// `None` when a path cannot be applied record by record; the exact path then applies it.
    fn compile(options: &DiffOptions) -> Option<IgnoreRules> {
        if options.ignore.len() > 64 {
            return None;
        }
        let mut rules = Vec::new();
        for path in &options.ignore {
            let segments = path.segments();
            let (first, rest) = segments.split_first()?;
            let class = match first.as_str() {
                "*" => return None,
                IDENTIFIERS => Some(Class::Identifier),
                ADDRESSES => Some(Class::Address),
                CREDENTIALS => Some(Class::Credential),
                _ => None,
            };
            let rule = match class {
                Some(class) => match rest.split_first() {
                    None => Rule::Sub {
                        class,
                        key: None,
                        rest: Vec::new(),
                    },
                    Some((key, inner)) => {
                        // Inside an entry, a path may not reach its `id`: ids are compared apart.
                        if inner
                            .first()
                            .is_some_and(|segment| segment == "id" || segment == "*")
                        {
                            return None;
                        }
                        Rule::Sub {
                            class,
                            key: (key != "*").then(|| key.clone()),
                            rest: if inner.is_empty() {
                                Vec::new()
                            } else {
                                inner.to_vec()
                            },
                        }
                    }
                },
                None if first == GROUPS && rest.is_empty() => Rule::Groups,
                None if first == GROUPS => Rule::Nothing,
                None => Rule::UserRecord(segments.to_vec()),
            };
            rules.push(rule);
        }
        Some(IgnoreRules { rules })
    }

    /// Whether any path addresses records of `class`.
    fn touch(&self, class: Class) -> bool {
        self.rules.iter().any(|rule| match rule {
            Rule::UserRecord(_) => class == Class::User,
            Rule::Sub { class: of, .. } => *of == class,
            Rule::Groups => class == Class::Member,
            Rule::Nothing => false,
        })
    }

    /// Applies the user-record paths; returns the bits of the paths that matched.
    fn user_record(&self, value: &mut Value) -> u64 {
        let mut mask = 0;
        for (position, rule) in self.rules.iter().enumerate() {
            if let Rule::UserRecord(segments) = rule {
                if remove_path(value, segments) {
                    mask |= 1 << position;
                }
            }
        }
        mask
    }

    /// Applies the paths to one sub-record's entry; returns whether the entry is still part of
    /// the user, and the bits of the paths that matched.
    fn sub_record(&self, class: Class, key: &str, value: &mut Value) -> (bool, u64) {
        let mut mask = 0;
        for (position, rule) in self.rules.iter().enumerate() {
            let bit = 1 << position;
            match rule {
                Rule::Groups if class == Class::Member => return (false, mask | bit),
                Rule::Sub {
                    class: rule_class,
                    key: rule_key,
                    rest,
                } if *rule_class == class
                    && rule_key.as_deref().is_none_or(|rule_key| rule_key == key) =>
                {
                    if rest.is_empty() {
                        return (false, mask | bit);
                    }
                    if remove_path(value, rest) {
                        mask |= bit;
                    }
                }
                _ => {}
            }
        }
        (true, mask)
    }
}

/// A user as the fingerprints see it.
#[derive(Debug)]
struct UserRow {
    /// Hash of (pool id, user id).
    key: u128,
    /// Hash of the user id.
    uid: u128,
    /// Hash of the pool id.
    pool: u128,
    /// The user record's content; after [`SideData::finish`], the whole user's.
    content: u128,
    /// Sum of its sub-records' id hashes.
    id_sum: u128,
    with_id: u32,
    without_id: u32,
    /// Ignore paths that matched.
    mask: u64,
    /// Something only the exact path handles (a reserved field, a key given twice...).
    unusual: bool,
    offset: u64,
    len: u64,
}

/// A sub-record (or group membership) as the fingerprints see it.
#[derive(Debug)]
struct SubRow {
    /// Hash of (pool id, user id) when it names its pool (`NAMES_POOL`), else of the user id.
    owner: u128,
    /// Hash of its natural key within the user (with its class); for identifiers, also the
    /// key under which two users holding one identifier are found.
    natural: u128,
    /// Hash of its content (class, key and normalized entry without id), unless an ignore path
    /// removed it (`KEPT` unset).
    content: u128,
    /// Hash of (class, key, id) when it has one (`HAS_ID`); memberships have none and need none.
    id: u128,
    offset: u64,
    mask: u64,
    len: u32,
    class: Class,
    flags: u8,
}

const NAMES_POOL: u8 = 1;
const KEPT: u8 = 2;
const HAS_ID: u8 = 4;
/// An identifier with a value: one that two users could both claim.
const HOLDS: u8 = 8;

/// What reading one document leaves.
#[derive(Debug, Default)]
struct SideData {
    users: Vec<UserRow>,
    subs: Vec<SubRow>,
    /// The user each sub-record belongs to (after [`SideData::finish`]).
    owner: Vec<u32>,
    by_key: HashMap<u128, u32>,
    /// Top-level fields other than the record arrays: key, offset, length.
    fields: Vec<(String, u64, u64)>,
    pool_ids: HashSet<String>,
    /// Pool ids of users, by hash.
    user_pools: HashMap<u128, String>,
    bytes: u64,
    seconds: f64,
}

struct Reader<'r> {
    rules: &'r IgnoreRules,
    side: Side,
    progress: Option<&'r (dyn SieveProgress + Sync)>,
    records: usize,
    check: bool,
    checker: Checker,
    buffer: Vec<u8>,
    data: SideData,
}

impl<'r> Reader<'r> {
    fn new(rules: &'r IgnoreRules, side: Side, options: SieveOptions<'r>) -> Self {
        Reader {
            rules,
            side,
            progress: options.progress,
            records: 0,
            check: side == Side::Desired && options.check_desired,
            checker: Checker::default(),
            buffer: Vec::with_capacity(4096),
            data: SideData::default(),
        }
    }

    /// Reads a document; `Err` says why it needs the exact path.
    fn read(mut self, source: Source<'_>) -> Result<SideData, String> {
        let started = std::time::Instant::now();
        // Room for the rows of a typical export of this size, so that they are not copied as
        // they grow; pages never written are never touched.
        let size = usize::try_from(source.size()).unwrap_or(0);
        self.data.users.reserve(size / 1_000);
        self.data.subs.reserve(size / 300);
        let visit = |piece: Piece<'_>| self.piece(piece);
        let scanned = match source {
            Source::Memory { bytes, .. } => scan_slice(bytes, visit),
            Source::File(_) | Source::Handle { .. } => {
                let file = source.reader().map_err(|error| error.to_string())?;
                scan_reader(file, CHUNK, visit)
            }
        };
        self.data.bytes = match scanned {
            Ok(bytes) => bytes,
            Err(ScanError::Visit(reason)) => return Err(reason),
            Err(error) => return Err(error.to_string()),
        };
        if let Some(progress) = self.progress {
            progress.read(self.side, self.data.bytes, self.data.users.len());
        }
        self.finish()?;
        self.data.seconds = started.elapsed().as_secs_f64();
        Ok(self.data)
    }

    fn piece(&mut self, piece: Piece<'_>) -> Result<(), String> {
        match piece {
            Piece::Field { key, offset, bytes } => {
                if key == "pools" {
                    let pools: Option<Vec<Pool>> = serde_json::from_slice(bytes)
                        .map_err(|_| "the pools do not parse".to_string())?;
                    self.data
                        .pool_ids
                        .extend(pools.into_iter().flatten().filter_map(|p| p.id));
                }
                self.data
                    .fields
                    .push((key.to_string(), offset, bytes.len() as u64));
                Ok(())
            }
            Piece::Record {
                array,
                index,
                offset,
                bytes,
            } => {
                self.records += 1;
                if self.records % 4096 == 0 {
                    if let Some(progress) = self.progress {
                        progress.read(self.side, offset, self.data.users.len());
                    }
                }
                let place = (offset, bytes.len() as u64);
                match array {
                    RecordArray::Users => self.user(index, place, bytes),
                    RecordArray::Identifiers => {
                        let mut record: UserIdentifier = parse(bytes)?;
                        if self.check {
                            self.checker.identifier(index, &record);
                        }
                        let key = natural_key(record.kind.as_deref(), record.identifier.as_deref());
                        let holds = record.identifier.is_some();
                        let owner = (record.user_id.take(), record.user_pool_id.take());
                        let id = record.id.take();
                        self.sub(Class::Identifier, &key, owner, id, record, holds, place)
                    }
                    RecordArray::Addresses => {
                        let mut record: UserVerifiableAddress = parse(bytes)?;
                        if self.check {
                            self.checker.address(index, &record);
                        }
                        let key = natural_key(record.kind.as_deref(), record.address.as_deref());
                        let owner = (record.user_id.take(), record.user_pool_id.take());
                        let id = record.id.take();
                        self.sub(Class::Address, &key, owner, id, record, false, place)
                    }
                    RecordArray::Credentials => {
                        let mut record: UserCredential = parse(bytes)?;
                        if self.check {
                            self.checker.credential(index, &record);
                        }
                        let key = record.kind.clone().unwrap_or_default();
                        let owner = (record.user_id.take(), record.user_pool_id.take());
                        let id = record.id.take();
                        self.sub(Class::Credential, &key, owner, id, record, false, place)
                    }
                    RecordArray::GroupMembers => {
                        let record: GroupMember = parse(bytes)?;
                        let group = record
                            .group_id
                            .as_deref()
                            .ok_or("a membership names no group")?;
                        let owner = (record.user_id.clone(), record.user_pool_id.clone());
                        self.sub(Class::Member, group, owner, None, Empty, false, place)
                    }
                }?;
                if self.check && !self.checker.problems.is_empty() {
                    return Err(format!("{} has a problem", array.key()));
                }
                Ok(())
            }
        }
    }

    /// The hash of a record's normalized form (without id), and the ignore paths that matched;
    /// `None` when an ignore path removed it.
    fn content<T: InPlace>(
        &mut self,
        class: Class,
        key: &str,
        mut record: T,
    ) -> (Option<u128>, u64) {
        if !self.rules.touch(class) {
            record.strip_in_place();
            return (
                Some(hash_serialized(&mut self.buffer, class as u8, key, &record)),
                0,
            );
        }
        let mut value = Value::Object(record.normalized_fields());
        prune_empty(&mut value);
        let (kept, mask) = if class == Class::User {
            (true, self.rules.user_record(&mut value))
        } else {
            self.rules.sub_record(class, key, &mut value)
        };
        let content = kept.then(|| hash_serialized(&mut self.buffer, class as u8, key, &value));
        (content, mask)
    }

    fn user(
        &mut self,
        index: usize,
        (offset, len): (u64, u64),
        bytes: &[u8],
    ) -> Result<(), String> {
        let mut user: User = parse(bytes)?;
        if self.check {
            self.checker.user(index, &user);
        }
        let (Some(id), Some(pool)) = (user.id.take(), user.user_pool_id.take()) else {
            return Err("a user has no id or no pool".into());
        };
        let pool_hash = hash_str(&pool);
        self.data
            .user_pools
            .entry(pool_hash)
            .or_insert_with(|| pool.clone());
        let unusual = [IDENTIFIERS, ADDRESSES, CREDENTIALS, GROUPS]
            .iter()
            .any(|name| user.extra.contains_key(*name));
        let (content, mask) = self.content(Class::User, "", user);
        let key = hash_strs(&mut self.buffer, &[pool.as_bytes(), id.as_bytes()]);
        self.data.users.push(UserRow {
            key,
            uid: hash_str(&id),
            pool: pool_hash,
            content: content.unwrap_or_default(),
            id_sum: 0,
            with_id: 0,
            without_id: 0,
            mask,
            unusual,
            offset,
            len,
        });
        Ok(())
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one record's parts, each from a different place of the scan"
    )]
    fn sub<T: InPlace>(
        &mut self,
        class: Class,
        key: &str,
        (user_id, pool_id): (Option<String>, Option<String>),
        id: Option<String>,
        record: T,
        holds: bool,
        (offset, len): (u64, u64),
    ) -> Result<(), String> {
        let user_id = user_id.ok_or("a sub-record names no user")?;
        let (content, mask) = self.content(class, key, record);
        let tag = [class as u8];
        let natural = hash_strs(&mut self.buffer, &[&tag, key.as_bytes()]);
        let id_hash = id.as_deref().map_or(0, |id| {
            hash_strs(&mut self.buffer, &[&tag, key.as_bytes(), id.as_bytes()])
        });
        let owner = match pool_id.as_deref() {
            Some(pool) => hash_strs(&mut self.buffer, &[pool.as_bytes(), user_id.as_bytes()]),
            None => hash_str(&user_id),
        };
        let flags = if pool_id.is_some() { NAMES_POOL } else { 0 }
            | if content.is_some() { KEPT } else { 0 }
            | if id.is_some() { HAS_ID } else { 0 }
            | if holds { HOLDS } else { 0 };
        self.data.subs.push(SubRow {
            owner,
            natural,
            content: content.unwrap_or_default(),
            id: id_hash,
            offset,
            mask,
            len: u32::try_from(len).map_err(|_| "a record is over 4 GiB")?,
            class,
            flags,
        });
        Ok(())
    }

    /// Joins sub-records to their users and folds them into the users' fingerprints.
    fn finish(&mut self) -> Result<(), String> {
        const SEVERAL: u32 = u32::MAX;
        let data = &mut self.data;
        let mut by_uid: HashMap<u128, u32> =
            HashMap::with_capacity_and_hasher(data.users.len(), Default::default());
        data.by_key.reserve(data.users.len());
        for (position, user) in data.users.iter().enumerate() {
            let position = u32::try_from(position).map_err(|_| "too many users")?;
            if data.by_key.insert(user.key, position).is_some() {
                return Err("a user id is given twice in a pool".into());
            }
            by_uid
                .entry(user.uid)
                .and_modify(|found| *found = SEVERAL)
                .or_insert(position);
        }
        let mut naturals: HashSet<u128> =
            HashSet::with_capacity_and_hasher(data.subs.len(), Default::default());
        let mut holders: HashMap<u128, u32> = HashMap::default();
        let mut sums = vec![0u128; data.users.len()];
        data.owner = Vec::with_capacity(data.subs.len());
        for sub in &data.subs {
            let owner = if sub.flags & NAMES_POOL != 0 {
                data.by_key.get(&sub.owner).copied()
            } else {
                by_uid.get(&sub.owner).copied().filter(|o| *o != SEVERAL)
            }
            .ok_or("a sub-record's user is missing or ambiguous")?;
            data.owner.push(owner);
            let user = &mut data.users[owner as usize];
            user.mask |= sub.mask;
            if !naturals.insert(hash_pair(u128::from(owner), sub.natural)) {
                // Two credentials of one type (keyed by id) or a key given twice (a problem):
                // the exact path knows which.
                user.unusual = true;
            }
            if self.check && sub.flags & HOLDS != 0 {
                let place = hash_pair(user.pool, sub.natural);
                let holder = *holders.entry(place).or_insert(owner);
                if data.users[holder as usize].uid != data.users[owner as usize].uid {
                    return Err("an identifier is held by two users".into());
                }
            }
            if sub.flags & KEPT == 0 {
                continue;
            }
            let user = &mut data.users[owner as usize];
            sums[owner as usize] = sums[owner as usize].wrapping_add(sub.content);
            if sub.flags & HAS_ID != 0 {
                user.with_id += 1;
                user.id_sum = user.id_sum.wrapping_add(sub.id);
            } else if sub.class != Class::Member {
                user.without_id += 1;
            }
        }
        for (user, sum) in data.users.iter_mut().zip(sums) {
            user.content = hash_pair(user.content, sum);
        }
        Ok(())
    }
}

/// Parses one record. The record is checked to be UTF-8 once, as a whole, and then read as text:
/// reading bytes, serde_json checks every string on its own, which cost a tenth of the reading.
fn parse<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "a record is not UTF-8".to_string())?;
    serde_json::from_str(text).map_err(|_| "a record does not parse".to_string())
}

impl SideData {
    /// A document of this side's other fields whole and the chosen users with their records,
    /// read again from `source`, in their original order.
    fn excerpt(&self, source: Source<'_>, chosen: &[bool]) -> std::io::Result<Vec<u8>> {
        let mut places: Vec<(RecordArray, u64, u64)> = Vec::new();
        for (user, _) in self.users.iter().zip(chosen).filter(|(_, c)| **c) {
            places.push((RecordArray::Users, user.offset, user.len));
        }
        for (sub, owner) in self.subs.iter().zip(&self.owner) {
            if chosen[*owner as usize] {
                places.push((sub.class.array(), sub.offset, u64::from(sub.len)));
            }
        }
        let mut reader = Bytes::open(source)?;
        let mut out = Vec::new();
        out.push(b'{');
        let mut first_field = true;
        for (key, offset, len) in &self.fields {
            if !first_field {
                out.push(b',');
            }
            first_field = false;
            serde_json::to_writer(&mut out, key).map_err(std::io::Error::other)?;
            out.push(b':');
            reader.append(*offset, *len, &mut out)?;
        }
        for array in RecordArray::ALL {
            let mut first = true;
            for (_, offset, len) in places.iter().filter(|(a, _, _)| *a == array) {
                if first {
                    if !first_field {
                        out.push(b',');
                    }
                    first_field = false;
                    out.push(b'"');
                    out.extend_from_slice(array.key().as_bytes());
                    out.extend_from_slice(b"\":[");
                    first = false;
                } else {
                    out.push(b',');
                }
                reader.append(*offset, *len, &mut out)?;
            }
            if !first {
                out.push(b']');
            }
        }
        out.push(b'}');
        Ok(out)
    }
}

/// Reads byte ranges of a source again.
enum Bytes<'a> {
    File(std::fs::File),
    Memory(&'a [u8]),
}

impl<'a> Bytes<'a> {
    fn open(source: Source<'a>) -> std::io::Result<Bytes<'a>> {
        Ok(match source {
            Source::File(path) => Bytes::File(std::fs::File::open(path)?),
            Source::Handle { file, .. } => Bytes::File(file.try_clone()?),
            Source::Memory { bytes, .. } => Bytes::Memory(bytes),
        })
    }

    fn append(&mut self, offset: u64, len: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
        let short = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the input shrank");
        let len = usize::try_from(len).map_err(|_| short())?;
        match self {
            Bytes::Memory(bytes) => {
                let start = usize::try_from(offset).map_err(|_| short())?;
                out.extend_from_slice(bytes.get(start..start + len).ok_or_else(short)?);
            }
            Bytes::File(file) => {
                use std::os::unix::fs::FileExt;
                let start = out.len();
                out.resize(start + len, 0);
                file.read_exact_at(&mut out[start..], offset)?;
            }
        }
        Ok(())
    }
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
    fn a_problem_falls_back_to_the_whole_documents_and_their_exact_error() {
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
}
