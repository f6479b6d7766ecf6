//! Moving users between tenants: the pure transform from a source tenant's export to the state
//! the target tenant should reach, and the conflict rules of a migration.
//!
//! [`transform`] takes the source and the target as exported and returns a desired
//! [`TenantDump`] for the target: only the chosen pools, tenant ids rewritten, pools renamed by
//! the pool map (and taken from the source when the target lacks them), the credential policy
//! applied, one-time codes left out, and the groups and memberships of the migrated users
//! carried along. The normal [`crate::diff`] then plans it against the target like any desired
//! file, so a second run of the same migration plans nothing.
//!
//! With [`MatchBy::Identifier`], a source user that shares an e-mail, mobile or uid identifier
//! with a user of the target pool takes that user's id, and its sub-records take the ids of the
//! target's by natural key (see [`crate::normalize::identifier_id`]). Ambiguities (two source
//! users claiming one target identifier or user, one source user matching two target users) are
//! errors that list every case, found before anything is sent.
//!
//! Pools and groups that already exist in the target are never changed: a migration moves users.
//! Pure: no I/O, no clock, no network.

use crate::index::{Problem, TenantIndex, UserAggregate, UserKey, shorten};
use crate::model::{
    GroupMember, InternalGroup, Pool, Schema, TenantDump, User, UserCredential, UserIdentifier,
    UserVerifiableAddress,
};
use crate::normalize::natural_key;
use crate::plan::{Action, Plan};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The instant `--credentials force-reset` writes into `expires_at`: fixed, so that a second run
/// of the same migration plans nothing.
pub const EXPIRED_AT: &str = "1970-01-01T00:00:00Z";

/// The credential state that makes users reset their password at the next sign-in.
pub const MUST_BE_RESET: &str = "must_be_reset";

/// Identifier types that `--match-by identifier` matches on.
pub const MATCH_TYPES: &[&str] = &["email", "mobile", "uid"];

/// What a migration does with password credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialPolicy {
    /// Copy password hashes as they are
    #[default]
    Keep,
    /// Copy password hashes, expired, so that users must reset their password
    ForceReset,
    /// Leave password credentials out
    Drop,
}

/// How source users find their user in the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchBy {
    /// A source user is the target user with the same id
    #[default]
    Id,
    /// A source user is the target user of the mapped pool that shares an e-mail, mobile or uid identifier
    Identifier,
}

/// Settings of a migration.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// The target tenant's id, written into every record.
    pub target_tenant: String,
    /// Source pools to migrate (all when empty).
    pub pools: Vec<String>,
    /// Source pool id -> target pool id; pools not named keep their id.
    pub pool_map: BTreeMap<String, String>,
    /// What happens to password credentials.
    pub credentials: CredentialPolicy,
    /// How source users are matched to target users.
    pub match_by: MatchBy,
}

/// Where one migrated user lands: one line of the id map (`--id-map-out`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IdMapping {
    /// Pool in the source.
    pub source_pool: String,
    /// Id in the source.
    pub source_user_id: String,
    /// Pool in the target.
    pub target_pool: String,
    /// Id in the target.
    pub target_user_id: String,
    /// `email`, `mobile` or `uid` when matched by that identifier; `id` when the target has a
    /// user of the same id; `new` when the user is created under its source id.
    pub matched_by: String,
}

impl IdMapping {
    /// Whether the user changes id or pool.
    pub fn is_remapped(&self) -> bool {
        self.source_user_id != self.target_user_id || self.source_pool != self.target_pool
    }
}

/// A user the migration leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Conflict {
    /// Pool in the target.
    pub pool_id: String,
    /// Id in the target.
    pub user_id: String,
    /// The user's primary identifier, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What stands in the way, such as `differs: /status, /payload/given_name`.
    pub reason: String,
}

/// What a migration decided, beside the desired state itself (a `TenantDump` from
/// [`transform`], a spooled document from `crate::sieve::migrate`).
#[derive(Debug, Clone, Default)]
pub struct Migration {
    /// Where every migrated user lands, ordered by source pool and id.
    pub id_map: Vec<IdMapping>,
    /// Users left out because the target gives one of their identifiers to another user (the
    /// import would refuse them with a conflict).
    pub held_back: Vec<Conflict>,
    /// The pools of the target the migration writes to, sorted.
    pub target_pools: Vec<String>,
    /// Each migrated source pool and the target pool it goes to, by source pool.
    pub pool_mapping: Vec<(String, String)>,
    /// Things worth knowing that do not stop the migration.
    pub warnings: Vec<String>,
}

impl Migration {
    /// Removes `users` (target keys) from the id map.
    pub fn leave_out(&mut self, users: &BTreeSet<UserKey>) {
        self.id_map.retain(|m| {
            !users
                .iter()
                .any(|key| key.pool_id == m.target_pool && key.user_id == m.target_user_id)
        });
    }
}

/// Removes `users` (target keys) from a desired state, whole: record, sub-records and
/// memberships.
pub fn leave_out(desired: &mut TenantDump, users: &BTreeSet<UserKey>) {
    if users.is_empty() {
        return;
    }
    let ids: BTreeSet<(&str, &str)> = users
        .iter()
        .map(|key| (key.pool_id.as_str(), key.user_id.as_str()))
        .collect();
    let gone = |pool: &Option<String>, user: &Option<String>| {
        ids.contains(&(
            pool.as_deref().unwrap_or_default(),
            user.as_deref().unwrap_or_default(),
        ))
    };
    desired.users.retain(|r| !gone(&r.user_pool_id, &r.id));
    desired
        .user_identifiers
        .retain(|r| !gone(&r.user_pool_id, &r.user_id));
    desired
        .user_verifiable_addresses
        .retain(|r| !gone(&r.user_pool_id, &r.user_id));
    desired
        .user_credentials
        .retain(|r| !gone(&r.user_pool_id, &r.user_id));
    desired
        .group_members
        .retain(|r| !gone(&r.user_pool_id, &r.user_id));
}

/// A migration that cannot go ahead; nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// `--pool` or `--pool-map` names a pool the source does not have.
    #[error("`{flag} {value}` names pool `{pool}`, which is not in the source")]
    UnknownPool {
        /// The flag.
        flag: &'static str,
        /// The flag's value.
        value: String,
        /// The pool.
        pool: String,
    },
    /// `--pool-map` maps one source pool twice.
    #[error("`--pool-map` maps pool `{pool}` to both `{first}` and `{second}`")]
    MappedTwice {
        /// The source pool.
        pool: String,
        /// One target.
        first: String,
        /// The other.
        second: String,
    },
    /// The source document is inconsistent.
    #[error("the source has {total} {}", if *total == 1 { "problem" } else { "problems" })]
    Source {
        /// The problems, the first [`crate::index::MAX_KEPT_PROBLEMS`] at most.
        problems: Vec<Problem>,
        /// How many there are in all.
        total: usize,
    },
    /// Source users cannot be placed in the target unambiguously.
    #[error("cannot place the source users in the target unambiguously: {} {}", problems.len(), if problems.len() == 1 { "conflict" } else { "conflicts" })]
    Ambiguous {
        /// Every case, naming the users involved.
        problems: Vec<String>,
    },
}

/// Parses `SRC=DST` of `--pool-map`.
pub fn parse_pool_mapping(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((source, target)) if !source.is_empty() && !target.is_empty() => {
            Ok((source.to_string(), target.to_string()))
        }
        _ => Err(format!(
            "`{text}` is not a pool mapping: write `SOURCE_POOL=TARGET_POOL`"
        )),
    }
}

/// Collects `--pool-map` pairs, refusing a source pool mapped to two targets.
pub fn pool_map(pairs: &[(String, String)]) -> Result<BTreeMap<String, String>, MigrateError> {
    let mut map = BTreeMap::new();
    for (source, target) in pairs {
        if let Some(first) = map.insert(source.clone(), target.clone()) {
            if first != *target {
                return Err(MigrateError::MappedTwice {
                    pool: source.clone(),
                    first,
                    second: target.clone(),
                });
            }
        }
    }
    Ok(map)
}

/// `type:lower-cased value` keys of a user's identifiers, with their type.
fn identifier_keys(user: &UserAggregate<'_>) -> Vec<(String, String)> {
    user.identifiers
        .iter()
        .map(|identifier| {
            (
                identifier.kind.clone().unwrap_or_default(),
                natural_key(identifier.kind.as_deref(), identifier.identifier.as_deref()),
            )
        })
        .collect()
}

fn describe_source(key: &UserKey) -> String {
    format!(
        "`{}` (pool `{}`)",
        shorten(&key.user_id),
        shorten(&key.pool_id)
    )
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The keys that more than one placement claims, each with its claimants.
fn claimed_twice<K: Ord>(
    placements: &[Placement],
    keys: impl Fn(&Placement) -> Vec<K>,
) -> Vec<(K, Vec<&Placement>)> {
    let mut claims: BTreeMap<K, Vec<&Placement>> = BTreeMap::new();
    for placement in placements {
        for key in keys(placement) {
            claims.entry(key).or_default().push(placement);
        }
    }
    claims
        .into_iter()
        .filter(|(_, claimants)| claimants.len() > 1)
        .collect()
}

/// The source users of `placements`, for a message.
fn sources(placements: &[&Placement]) -> String {
    let names: Vec<String> = placements
        .iter()
        .map(|p| describe_source(&p.source))
        .collect();
    list(&names)
}

/// A source user as placing sees it: its key, its label and its identifiers' types and natural
/// keys.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) key: UserKey,
    pub(crate) label: Option<String>,
    pub(crate) identifiers: Vec<(String, String)>,
    /// Where the caller keeps it (its position in the source document, when streamed).
    pub(crate) row: u32,
}

impl Candidate {
    pub(crate) fn of(key: &UserKey, user: &UserAggregate<'_>) -> Candidate {
        Candidate {
            key: key.clone(),
            label: user.label(),
            identifiers: identifier_keys(user),
            row: 0,
        }
    }
}

/// What placing needs of the target: who holds each identifier, and which users exist.
#[derive(Debug, Default)]
pub(crate) struct TargetView {
    /// (pool, `type:value`) -> user id: the first holder in user key order (a consistent export
    /// has one).
    holders: BTreeMap<(String, String), String>,
    users: BTreeSet<UserKey>,
}

impl TargetView {
    fn of(index: &TenantIndex<'_>) -> TargetView {
        let mut view = TargetView::default();
        for (key, user) in &index.users {
            view.add(
                key,
                identifier_keys(user)
                    .into_iter()
                    .map(|(_, natural)| natural),
            );
        }
        view
    }

    /// Adds a user and the natural keys of its identifiers; users come in key order.
    pub(crate) fn add(&mut self, key: &UserKey, naturals: impl Iterator<Item = String>) {
        for natural in naturals {
            self.holders
                .entry((key.pool_id.clone(), natural))
                .or_insert_with(|| key.user_id.clone());
        }
        self.users.insert(key.clone());
    }
}

/// Where one source user goes.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    pub(crate) source: UserKey,
    pub(crate) target: UserKey,
    pub(crate) matched_by: String,
    /// The candidate's row.
    pub(crate) row: u32,
    /// Its identifiers' types and natural keys, while it is being placed.
    identifiers: Vec<(String, String)>,
}

impl Placement {
    /// Whether the user takes another id, so that its sub-records drop theirs.
    pub(crate) fn remapped(&self) -> bool {
        self.source.user_id != self.target.user_id
    }

    /// Its line of the id map.
    pub(crate) fn mapping(&self) -> IdMapping {
        IdMapping {
            source_pool: self.source.pool_id.clone(),
            source_user_id: self.source.user_id.clone(),
            target_pool: self.target.pool_id.clone(),
            target_user_id: self.target.user_id.clone(),
            matched_by: self.matched_by.clone(),
        }
    }
}

/// Checks that `--pool` and `--pool-map` name pools of the source (`source_pools`, by id).
pub(crate) fn check_pool_flags(
    source_pools: &BTreeSet<&str>,
    options: &MigrateOptions,
) -> Result<(), MigrateError> {
    for pool in &options.pools {
        if !source_pools.contains(pool.as_str()) {
            return Err(MigrateError::UnknownPool {
                flag: "--pool",
                value: pool.clone(),
                pool: pool.clone(),
            });
        }
    }
    for (from, to) in &options.pool_map {
        if !source_pools.contains(from.as_str()) {
            return Err(MigrateError::UnknownPool {
                flag: "--pool-map",
                value: format!("{from}={to}"),
                pool: from.clone(),
            });
        }
    }
    Ok(())
}

impl MigrateOptions {
    /// Whether the source pool is migrated.
    pub(crate) fn selects(&self, pool: &str) -> bool {
        self.pools.is_empty() || self.pools.iter().any(|p| p == pool)
    }

    /// The target pool a source pool goes to.
    pub(crate) fn target_pool(&self, pool: &str) -> String {
        self.pool_map
            .get(pool)
            .cloned()
            .unwrap_or_else(|| pool.to_string())
    }

    fn tenant(&self) -> Option<String> {
        Some(self.target_tenant.clone())
    }
}

/// The users placed in the target, and those held back.
#[derive(Debug, Default)]
pub(crate) struct Placed {
    /// In source key order.
    pub(crate) placements: Vec<Placement>,
    pub(crate) held_back: Vec<Conflict>,
}

/// Places the source users (`candidates` of the migrated pools, in key order) in the target:
/// matched by id or identifier, checked for ambiguities (every case an error), and held back
/// where the target gives one of their identifiers to another user.
pub(crate) fn place(
    candidates: Vec<Candidate>,
    target: &TargetView,
    options: &MigrateOptions,
) -> Result<Placed, MigrateError> {
    let mut problems = Vec::new();
    let mut placements = Vec::with_capacity(candidates.len());
    let mut labels = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let key = &candidate.key;
        let target_pool = options.target_pool(&key.pool_id);
        let mut target_id = key.user_id.clone();
        let mut matched_by = None;
        if options.match_by == MatchBy::Identifier {
            let mut matches: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (kind, natural) in &candidate.identifiers {
                if !MATCH_TYPES.contains(&kind.as_str()) {
                    continue;
                }
                let holder = target.holders.get(&(target_pool.clone(), natural.clone()));
                if let Some(holder) = holder {
                    matches.entry(holder).or_default().push(natural);
                }
            }
            if matches.len() > 1 {
                let found: Vec<String> = matches
                    .iter()
                    .map(|(holder, keys)| {
                        let keys: Vec<String> =
                            keys.iter().map(|k| format!("`{}`", shorten(k))).collect();
                        format!("`{}` (by {})", shorten(holder), list(&keys))
                    })
                    .collect();
                problems.push(format!(
                    "source user {} matches {} users of target pool `{}`: {}",
                    describe_source(key),
                    matches.len(),
                    shorten(&target_pool),
                    list(&found)
                ));
                continue;
            }
            if let Some((holder, keys)) = matches.into_iter().next() {
                target_id = holder.to_string();
                let kinds: BTreeSet<&str> = keys
                    .iter()
                    .filter_map(|k| k.split_once(':').map(|(kind, _)| kind))
                    .collect();
                // Reported in the order of MATCH_TYPES, the first one wins.
                matched_by = MATCH_TYPES
                    .iter()
                    .find(|kind| kinds.contains(**kind))
                    .map(|kind| (*kind).to_string());
            }
        }
        let placed_at = UserKey {
            pool_id: target_pool,
            user_id: target_id,
        };
        let matched_by = matched_by.unwrap_or_else(|| {
            if target.users.contains(&placed_at) {
                "id".into()
            } else {
                "new".into()
            }
        });
        labels.push(candidate.label);
        placements.push(Placement {
            source: candidate.key,
            target: placed_at,
            matched_by,
            row: candidate.row,
            identifiers: candidate.identifiers,
        });
    }
    problems.extend(ambiguities(&placements));
    if !problems.is_empty() {
        return Err(MigrateError::Ambiguous { problems });
    }

    // A user whose identifier another target user holds would be refused by the import.
    let mut placed = Placed::default();
    for (placement, label) in placements.into_iter().zip(labels) {
        let mut taken: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (_, natural) in &placement.identifiers {
            let key = (placement.target.pool_id.clone(), natural.clone());
            if let Some(holder) = target.holders.get(&key) {
                if *holder != placement.target.user_id {
                    taken
                        .entry(holder)
                        .or_default()
                        .push(format!("`{}`", shorten(natural)));
                }
            }
        }
        if taken.is_empty() {
            placed.placements.push(Placement {
                identifiers: Vec::new(),
                ..placement
            });
            continue;
        }
        let reasons: Vec<String> = taken
            .iter()
            .map(|(holder, keys)| {
                let verb = if keys.len() == 1 { "belongs" } else { "belong" };
                format!("{} {verb} to target user `{}`", list(keys), shorten(holder))
            })
            .collect();
        placed.held_back.push(Conflict {
            pool_id: placement.target.pool_id.clone(),
            user_id: placement.target.user_id.clone(),
            label,
            reason: list(&reasons),
        });
    }
    Ok(placed)
}

/// Two source users must not claim one identifier, nor one user, of a target pool.
fn ambiguities(placements: &[Placement]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut reported: BTreeSet<(&UserKey, &UserKey)> = BTreeSet::new();
    let by_identifier = claimed_twice(placements, |placement| {
        placement
            .identifiers
            .iter()
            .map(|(_, natural)| (placement.target.pool_id.clone(), natural.clone()))
            .collect()
    });
    for ((pool, natural), claimants) in &by_identifier {
        problems.push(format!(
            "`{}` in target pool `{}` is claimed by source users {}",
            shorten(natural),
            shorten(pool),
            sources(claimants)
        ));
        for first in claimants {
            for second in claimants {
                reported.insert((&first.source, &second.source));
            }
        }
    }
    let by_user = claimed_twice(placements, |placement| vec![placement.target.clone()]);
    for (target_key, claimants) in &by_user {
        let unreported = claimants.iter().any(|first| {
            claimants
                .iter()
                .any(|second| !reported.contains(&(&first.source, &second.source)))
        });
        if unreported {
            problems.push(format!(
                "target user `{}` in pool `{}` is claimed by source users {}",
                shorten(&target_key.user_id),
                shorten(&target_key.pool_id),
                sources(claimants)
            ));
        }
    }
    problems
}

/// The pools the migration writes, one per target pool: the target's own if it has it, else
/// the source's, renamed and moved to the target tenant (with a warning for a schema the
/// target lacks). Fills `migration.pool_mapping`; returns the pools and their ids.
pub(crate) fn migrate_pools(
    source_pools: &[Pool],
    target: (&[Pool], &[Schema]),
    options: &MigrateOptions,
    migration: &mut Migration,
) -> (Vec<Pool>, BTreeSet<String>) {
    let (target_pools, target_schemas) = target;
    let source_pools: BTreeMap<&str, &Pool> = source_pools
        .iter()
        .filter_map(|pool| Some((pool.id.as_deref()?, pool)))
        .collect();
    let target_pool_records: BTreeMap<&str, &Pool> = target_pools
        .iter()
        .filter_map(|pool| Some((pool.id.as_deref()?, pool)))
        .collect();
    let mut written = BTreeSet::new();
    let mut pools = Vec::new();
    for (source_id, pool) in &source_pools {
        if !options.selects(source_id) {
            continue;
        }
        let target_id = options.target_pool(source_id);
        migration
            .pool_mapping
            .push((source_id.to_string(), target_id.clone()));
        if !written.insert(target_id.clone()) {
            continue;
        }
        let record = match target_pool_records.get(target_id.as_str()) {
            Some(existing) => (*existing).clone(),
            None => {
                let mut created = (*pool).clone();
                created.id = Some(target_id.clone());
                created.tenant_id = options.tenant();
                missing_schemas(&created, target_schemas, &options.target_tenant, migration);
                created
            }
        };
        pools.push(record);
    }
    (pools, written)
}

/// The groups to carry: those of the migrated pools and any a migrated user belongs to
/// (`member_groups`); a group the target has is kept as it is there.
pub(crate) fn migrate_groups(
    source_groups: &[InternalGroup],
    target_groups: &[InternalGroup],
    member_groups: &BTreeSet<String>,
    options: &MigrateOptions,
) -> Vec<InternalGroup> {
    let target_groups: BTreeMap<&str, &InternalGroup> = target_groups
        .iter()
        .filter_map(|group| Some((group.id.as_deref()?, group)))
        .collect();
    let mut groups = Vec::new();
    for group in source_groups {
        let Some(id) = group.id.as_deref() else {
            continue;
        };
        let in_selected_pool = group
            .user_pool_id
            .as_deref()
            .is_some_and(|pool| options.selects(pool));
        if !in_selected_pool && !member_groups.contains(id) {
            continue;
        }
        let record = match target_groups.get(id) {
            Some(existing) => (*existing).clone(),
            None => {
                let mut created = group.clone();
                created.user_pool_id = group
                    .user_pool_id
                    .as_deref()
                    .map(|pool| options.target_pool(pool));
                created.tenant_id = options.tenant();
                created
            }
        };
        groups.push(record);
    }
    groups
}

/// The records of one placed user, rewritten for the target.
pub(crate) struct Rehome<'a> {
    user_id: Option<String>,
    pool_id: Option<String>,
    tenant_id: Option<String>,
    /// Whether the user takes another id: its sub-records then drop theirs, to be matched to the
    /// target user's by natural key (or to get a derived id).
    remapped: bool,
    policy: CredentialPolicy,
    placement: &'a Placement,
}

/// A sub-record of a user: identifier, verifiable address or credential.
pub(crate) trait SubRecord {
    /// Moves it to `owner`'s user.
    fn rehome(&mut self, owner: &Rehome<'_>);
}

macro_rules! sub_record {
    ($($record:ty),*) => {$(
        impl SubRecord for $record {
            fn rehome(&mut self, owner: &Rehome<'_>) {
                self.user_id = owner.user_id.clone();
                self.user_pool_id = owner.pool_id.clone();
                self.tenant_id = owner.tenant_id.clone();
                if owner.remapped {
                    self.id = None;
                }
            }
        }
    )*};
}

sub_record!(UserIdentifier, UserVerifiableAddress, UserCredential);

impl<'a> Rehome<'a> {
    pub(crate) fn new(placement: &'a Placement, options: &MigrateOptions) -> Rehome<'a> {
        Rehome {
            user_id: Some(placement.target.user_id.clone()),
            pool_id: Some(placement.target.pool_id.clone()),
            tenant_id: options.tenant(),
            remapped: placement.remapped(),
            policy: options.credentials,
            placement,
        }
    }

    /// The user record, with the target's ids and tenant.
    pub(crate) fn user(&self, mut user: User) -> User {
        user.id = self.user_id.clone();
        user.user_pool_id = self.pool_id.clone();
        user.tenant_id = self.tenant_id.clone();
        user
    }

    /// A sub-record of the user, moved to the target's user.
    pub(crate) fn adopt<R: SubRecord>(&self, mut record: R) -> R {
        record.rehome(self);
        record
    }

    /// A credential under the credential policy: `None` when it is left out.
    pub(crate) fn credential(&self, credential: UserCredential) -> Option<UserCredential> {
        let is_password = credential.kind.as_deref() == Some("password");
        if is_password && self.policy == CredentialPolicy::Drop {
            return None;
        }
        let mut credential = self.adopt(credential);
        if is_password && self.policy == CredentialPolicy::ForceReset {
            credential.state = Some(MUST_BE_RESET.into());
            credential.expires_at = Some(EXPIRED_AT.into());
        }
        Some(credential)
    }

    /// A membership of the user, moved to the target's user.
    pub(crate) fn member(&self, mut member: GroupMember) -> GroupMember {
        member.user_id = Some(self.placement.target.user_id.clone());
        member.user_pool_id = Some(self.placement.target.pool_id.clone());
        member.tenant_id = self.tenant_id.clone();
        member
    }

    /// Whether the target's password credentials of this user are kept: `drop` migrates no
    /// password, but does not take away the one a user already has in the target (which
    /// `--mode update` would otherwise remove with the rest of the user).
    pub(crate) fn keeps_target_passwords(&self) -> bool {
        self.policy == CredentialPolicy::Drop
    }

    /// A password credential the target has for this user, kept as it is, naming its user
    /// whole (so that leaving the user out takes it too).
    pub(crate) fn kept_password(&self, mut credential: UserCredential) -> UserCredential {
        credential.user_id = self.user_id.clone();
        credential.user_pool_id = self.pool_id.clone();
        credential.tenant_id = self.tenant_id.clone();
        credential
    }
}

/// Turns the source export into the target's desired state, in memory; see the module docs.
/// (`crate::sieve::migrate` does the same a record at a time, for exports too big to hold.)
pub fn transform(
    source: &TenantDump,
    target: &TenantDump,
    options: &MigrateOptions,
) -> Result<(Migration, TenantDump), MigrateError> {
    let source_pool_ids: BTreeSet<&str> = source
        .pools
        .iter()
        .filter_map(|pool| pool.id.as_deref())
        .collect();
    check_pool_flags(&source_pool_ids, options)?;
    let source_index = TenantIndex::build(source);
    if !source_index.problems.is_empty() {
        return Err(MigrateError::Source {
            total: source_index.problems.len(),
            problems: source_index.problems,
        });
    }
    let target_index = TenantIndex::build(target);
    let candidates = source_index
        .users
        .iter()
        .filter(|(key, _)| options.selects(&key.pool_id))
        .map(|(key, user)| Candidate::of(key, user))
        .collect();
    let placed = place(candidates, &TargetView::of(&target_index), options)?;

    let mut migration = Migration {
        held_back: placed.held_back,
        ..Migration::default()
    };
    let mut desired = TenantDump::default();
    let (pools, mut written) = migrate_pools(
        &source.pools,
        (&target.pools, &target.schemas),
        options,
        &mut migration,
    );
    desired.pools = pools;
    // Users may name a pool the source does not list: their target pool is still in scope, so
    // that the plan reports it if the target lacks it too, rather than skipping the users.
    written.extend(placed.placements.iter().map(|p| p.target.pool_id.clone()));
    migration.target_pools = written.into_iter().collect();

    let by_source: BTreeMap<&UserKey, &Placement> =
        placed.placements.iter().map(|p| (&p.source, p)).collect();
    let pool_of_user: BTreeMap<&str, &str> = by_source
        .keys()
        .map(|key| (key.user_id.as_str(), key.pool_id.as_str()))
        .collect();
    let mut member_groups = BTreeSet::new();
    for member in &source.group_members {
        let Some(user_id) = member.user_id.as_deref() else {
            continue;
        };
        let pool = member
            .user_pool_id
            .as_deref()
            .or_else(|| pool_of_user.get(user_id).copied())
            .unwrap_or_default();
        let key = UserKey {
            pool_id: pool.to_string(),
            user_id: user_id.to_string(),
        };
        let Some(placement) = by_source.get(&key) else {
            continue;
        };
        if let Some(group) = member.group_id.as_deref() {
            member_groups.insert(group.to_string());
        }
        let rehome = Rehome::new(placement, options);
        desired.group_members.push(rehome.member(member.clone()));
    }
    desired.groups = migrate_groups(&source.groups, &target.groups, &member_groups, options);

    for placement in &placed.placements {
        let user = &source_index.users[&placement.source];
        let rehome = Rehome::new(placement, options);
        desired.users.push(rehome.user(user.user.clone()));
        for identifier in &user.identifiers {
            desired
                .user_identifiers
                .push(rehome.adopt((*identifier).clone()));
        }
        for address in &user.addresses {
            desired
                .user_verifiable_addresses
                .push(rehome.adopt((*address).clone()));
        }
        for credential in &user.credentials {
            desired
                .user_credentials
                .extend(rehome.credential((*credential).clone()));
        }
        if rehome.keeps_target_passwords() {
            let existing = target_index
                .users
                .get(&placement.target)
                .map(|current| current.credentials.as_slice())
                .unwrap_or_default();
            desired.user_credentials.extend(
                existing
                    .iter()
                    .filter(|c| c.kind.as_deref() == Some("password"))
                    .map(|c| rehome.kept_password((*c).clone())),
            );
        }
        migration.id_map.push(placement.mapping());
    }
    migration.id_map.sort();
    Ok((migration, desired))
}

/// Warns when a pool to create names a schema the target does not have.
fn missing_schemas(
    pool: &Pool,
    target_schemas: &[Schema],
    tenant: &str,
    migration: &mut Migration,
) {
    let known: BTreeSet<&str> = target_schemas
        .iter()
        .filter_map(|schema| schema.id.as_deref())
        .collect();
    for field in ["payload_schema_id", "metadata_schema_id"] {
        if let Some(schema) = pool.extra.get(field).and_then(|v| v.as_str()) {
            if !known.contains(schema) {
                migration.warnings.push(format!(
                    "pool `{}` to create names schema `{}` in `{field}`, which tenant `{}` does not have",
                    shorten(pool.id.as_deref().unwrap_or_default()),
                    shorten(schema),
                    shorten(tenant)
                ));
            }
        }
    }
}

/// Users of the target that the plan would overwrite: every update, with what differs.
pub fn overwrites(plan: &Plan) -> Vec<Conflict> {
    plan.changes
        .iter()
        .filter(|change| change.action == Action::Update)
        .map(|change| {
            let mut paths: Vec<&str> = change.fields.iter().map(|f| f.path.as_str()).collect();
            paths.dedup();
            let shown = paths.len().min(5);
            let more = match paths.len() - shown {
                0 => String::new(),
                more => format!(" and {more} more"),
            };
            Conflict {
                pool_id: change.pool_id.clone(),
                user_id: change.user_id.clone(),
                label: change.label.clone(),
                reason: format!("differs at {}{more}", paths[..shown].join(", ")),
            }
        })
        .collect()
}

/// The id map as CSV: a header, then one line per user.
pub fn id_map_csv(mappings: &[IdMapping]) -> String {
    fn field(value: &str) -> String {
        if value.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_string()
        }
    }
    let mut out =
        String::from("source_pool,source_user_id,target_pool,target_user_id,matched_by\n");
    for m in mappings {
        let line = [
            &m.source_pool,
            &m.source_user_id,
            &m.target_pool,
            &m.target_user_id,
            &m.matched_by,
        ]
        .map(|value| field(value))
        .join(",");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffOptions, diff};
    use serde_json::json;

    fn dump(value: serde_json::Value) -> TenantDump {
        serde_json::from_value(value).unwrap()
    }

    /// A migration and its desired state, as [`super::transform`] returns them.
    #[derive(Debug)]
    struct Whole {
        migration: Migration,
        desired: TenantDump,
    }

    impl std::ops::Deref for Whole {
        type Target = Migration;
        fn deref(&self) -> &Migration {
            &self.migration
        }
    }

    impl Whole {
        fn leave_out(&mut self, users: &BTreeSet<UserKey>) {
            self.migration.leave_out(users);
            super::leave_out(&mut self.desired, users);
        }
    }

    fn transform(
        source: &TenantDump,
        target: &TenantDump,
        options: &MigrateOptions,
    ) -> Result<Whole, MigrateError> {
        super::transform(source, target, options)
            .map(|(migration, desired)| Whole { migration, desired })
    }

    fn source() -> TenantDump {
        dump(json!({
            "pools": [
                {"id": "a", "tenant_id": "src", "name": "A", "payload_schema_id": "s1"},
                {"id": "b", "tenant_id": "src", "name": "B"}
            ],
            "users": [
                {"id": "u1", "tenant_id": "src", "user_pool_id": "a", "status": "active"},
                {"id": "u2", "tenant_id": "src", "user_pool_id": "b", "status": "active"}
            ],
            "user_identifiers": [
                {"id": "i1", "user_id": "u1", "user_pool_id": "a", "type": "email", "identifier": "Ann@x.io"},
                {"id": "i2", "user_id": "u2", "user_pool_id": "b", "type": "email", "identifier": "bo@x.io"}
            ],
            "user_credentials": [
                {"id": "c1", "user_id": "u1", "user_pool_id": "a", "type": "password", "state": "valid",
                 "payload": {"hashed_password": {"value": "$2a$10$hash"}}},
                {"id": "c2", "user_id": "u1", "user_pool_id": "a", "type": "totp", "payload": {"secret": "x"}}
            ],
            "codes": [{"id": "k", "user_id": "u1", "user_pool_id": "a", "code": "123456"}],
            "groups": [{"id": "g", "tenant_id": "src", "user_pool_id": "a", "name": "G"}],
            "group_members": [{"group_id": "g", "user_id": "u1", "user_pool_id": "a"}]
        }))
    }

    fn options() -> MigrateOptions {
        MigrateOptions {
            target_tenant: "dst".into(),
            ..MigrateOptions::default()
        }
    }

    #[test]
    fn pools_are_mapped_tenants_rewritten_codes_left_out_and_groups_carried() {
        let mut options = options();
        options.pool_map.insert("a".into(), "eu".into());
        let migration = transform(&source(), &TenantDump::default(), &options).unwrap();
        let desired = &migration.desired;
        let pools: Vec<_> = desired
            .pools
            .iter()
            .map(|p| p.id.clone().unwrap())
            .collect();
        assert_eq!(pools, ["eu", "b"]);
        assert_eq!(desired.pools[0].name.as_deref(), Some("A"));
        assert!(desired.codes.is_empty());
        assert!(
            desired
                .users
                .iter()
                .all(|u| u.tenant_id.as_deref() == Some("dst"))
                && desired
                    .pools
                    .iter()
                    .all(|p| p.tenant_id.as_deref() == Some("dst"))
        );
        assert_eq!(desired.users[0].user_pool_id.as_deref(), Some("eu"));
        assert_eq!(
            desired.user_identifiers[0].user_pool_id.as_deref(),
            Some("eu")
        );
        assert_eq!(desired.user_identifiers[0].id.as_deref(), Some("i1"));
        assert_eq!(desired.groups[0].user_pool_id.as_deref(), Some("eu"));
        assert_eq!(desired.group_members[0].user_pool_id.as_deref(), Some("eu"));
        assert_eq!(migration.target_pools, ["b", "eu"]);
        assert_eq!(
            migration.warnings,
            [
                "pool `eu` to create names schema `s1` in `payload_schema_id`, which tenant `dst` does not have"
            ]
        );
        let plan = diff(&TenantDump::default(), desired, &DiffOptions::default()).unwrap();
        assert_eq!(
            (plan.summary.create, plan.pools.create, plan.groups.create),
            (2, 2, 1)
        );
    }

    #[test]
    fn only_the_chosen_pools_move_and_unknown_pools_are_refused() {
        let mut options = options();
        options.pools = vec!["b".into()];
        let migration = transform(&source(), &TenantDump::default(), &options).unwrap();
        assert_eq!(migration.desired.users.len(), 1);
        assert!(
            migration.desired.groups.is_empty() && migration.desired.user_credentials.is_empty()
        );

        options.pools = vec!["nope".into()];
        let error = transform(&source(), &TenantDump::default(), &options).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`--pool nope` names pool `nope`, which is not in the source"
        );

        // A user of a pool the source does not list stays in scope, for the plan to report.
        let mut orphan = source();
        orphan.users[1].user_pool_id = Some("z".into());
        orphan.user_identifiers[1].user_pool_id = Some("z".into());
        let migration = transform(
            &orphan,
            &TenantDump::default(),
            &super::MigrateOptions {
                target_tenant: "dst".into(),
                ..MigrateOptions::default()
            },
        )
        .unwrap();
        assert_eq!(migration.target_pools, ["a", "b", "z"]);
        let error = diff(
            &TenantDump::default(),
            &migration.desired,
            &DiffOptions {
                pools: migration.target_pools.clone(),
                ..DiffOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(error.problems.len(), 1, "{error:?}");
    }

    #[test]
    fn credential_policies() {
        let mut options = options();
        let kept = transform(&source(), &TenantDump::default(), &options).unwrap();
        assert_eq!(kept.desired.user_credentials, {
            let mut expected = source().user_credentials;
            for credential in &mut expected {
                credential.tenant_id = Some("dst".into());
            }
            expected
        });

        options.credentials = CredentialPolicy::ForceReset;
        let reset = transform(&source(), &TenantDump::default(), &options).unwrap();
        let password = &reset.desired.user_credentials[0];
        assert_eq!(password.state.as_deref(), Some(MUST_BE_RESET));
        assert_eq!(password.expires_at.as_deref(), Some(EXPIRED_AT));
        assert_eq!(password.payload, source().user_credentials[0].payload);
        assert_eq!(
            reset.desired.user_credentials[1].state, None,
            "totp untouched"
        );

        options.credentials = CredentialPolicy::Drop;
        let dropped = transform(&source(), &TenantDump::default(), &options).unwrap();
        let kinds: Vec<_> = dropped
            .desired
            .user_credentials
            .iter()
            .map(|c| c.kind.as_deref().unwrap())
            .collect();
        assert_eq!(kinds, ["totp"]);
    }

    #[test]
    fn drop_keeps_the_password_a_target_user_already_has() {
        let mut options = options();
        options.credentials = CredentialPolicy::Drop;
        let mut target = source();
        target.user_credentials[0].payload = None;
        let migration = transform(&source(), &target, &options).unwrap();
        let passwords: Vec<_> = migration
            .desired
            .user_credentials
            .iter()
            .filter(|c| c.kind.as_deref() == Some("password"))
            .collect();
        // Kept as the target has it, naming its user and the target tenant like every record.
        let mut kept = target.user_credentials[0].clone();
        kept.tenant_id = Some("dst".into());
        assert_eq!(passwords, [&kept]);
    }

    #[test]
    fn a_migration_applied_plans_nothing_the_second_time() {
        for credentials in [
            CredentialPolicy::Keep,
            CredentialPolicy::ForceReset,
            CredentialPolicy::Drop,
        ] {
            let mut options = options();
            options.credentials = credentials;
            let first = transform(&source(), &TenantDump::default(), &options).unwrap();
            // The target after the import holds exactly the desired records.
            let target = first.desired.clone();
            let second = transform(&source(), &target, &options).unwrap();
            let plan = diff(&target, &second.desired, &DiffOptions::default()).unwrap();
            assert!(!plan.has_changes(), "{credentials:?}: {plan:?}");
            assert!(second.id_map.iter().all(|m| m.matched_by == "id"));
        }
    }

    fn target_with_ann() -> TenantDump {
        dump(json!({
            "pools": [{"id": "eu", "tenant_id": "dst", "name": "EU (target's own)"}],
            "users": [{"id": "t1", "tenant_id": "dst", "user_pool_id": "eu", "status": "active"}],
            "user_identifiers": [
                {"id": "ti1", "user_id": "t1", "user_pool_id": "eu", "type": "email", "identifier": "ann@x.io"}
            ]
        }))
    }

    #[test]
    fn matching_by_identifier_takes_the_target_ids() {
        let mut options = options();
        options.pool_map.insert("a".into(), "eu".into());
        options.match_by = MatchBy::Identifier;
        let target = target_with_ann();
        let migration = transform(&source(), &target, &options).unwrap();
        assert_eq!(
            migration.desired.pools[0].name.as_deref(),
            Some("EU (target's own)")
        );
        assert_eq!(
            migration.id_map,
            [
                IdMapping {
                    source_pool: "a".into(),
                    source_user_id: "u1".into(),
                    target_pool: "eu".into(),
                    target_user_id: "t1".into(),
                    matched_by: "email".into(),
                },
                IdMapping {
                    source_pool: "b".into(),
                    source_user_id: "u2".into(),
                    target_pool: "b".into(),
                    target_user_id: "u2".into(),
                    matched_by: "new".into(),
                },
            ]
        );
        let identifier = &migration.desired.user_identifiers[0];
        assert_eq!(
            (identifier.user_id.as_deref(), identifier.id.as_deref()),
            (Some("t1"), None)
        );
        assert_eq!(
            migration.desired.group_members[0].user_id.as_deref(),
            Some("t1")
        );
        // The plan keeps the target's identifier id: only what really differs is an update.
        let plan = diff(&target, &migration.desired, &DiffOptions::default()).unwrap();
        let update = plan.changes.iter().find(|c| c.user_id == "t1").unwrap();
        assert!(
            update
                .fields
                .iter()
                .all(|f| f.path != "/identifiers/email:ann@x.io/id"),
            "{:?}",
            update.fields
        );
        let conflicts = overwrites(&plan);
        assert_eq!(conflicts.len(), 1);
        assert!(
            conflicts[0]
                .reason
                .starts_with("differs at /credentials/password"),
            "{conflicts:?}"
        );
    }

    #[test]
    fn two_source_users_claiming_one_target_identifier_is_an_error_naming_both() {
        let mut source = source();
        source.user_identifiers[1].identifier = Some("ANN@x.io".into());
        let mut options = options();
        options.pool_map.insert("a".into(), "eu".into());
        options.pool_map.insert("b".into(), "eu".into());
        options.match_by = MatchBy::Identifier;
        let error = transform(&source, &target_with_ann(), &options).unwrap_err();
        let MigrateError::Ambiguous { problems } = error else {
            panic!("{error}")
        };
        assert_eq!(
            problems,
            [
                "`email:ann@x.io` in target pool `eu` is claimed by source users `u1` (pool `a`) and `u2` (pool `b`)"
            ]
        );
    }

    #[test]
    fn one_source_user_matching_two_target_users_is_an_error() {
        let mut target = target_with_ann();
        target.users.push(target.users[0].clone());
        target.users[1].id = Some("t2".into());
        target.user_identifiers.push(dump(json!({"user_identifiers": [
            {"id": "ti2", "user_id": "t2", "user_pool_id": "eu", "type": "uid", "identifier": "ann"}
        ]})).user_identifiers[0].clone());
        let mut source = source();
        source.user_identifiers.push(dump(json!({"user_identifiers": [
            {"id": "i3", "user_id": "u1", "user_pool_id": "a", "type": "uid", "identifier": "Ann"}
        ]})).user_identifiers[0].clone());
        let mut options = options();
        options.pool_map.insert("a".into(), "eu".into());
        options.match_by = MatchBy::Identifier;
        let error = transform(&source, &target, &options).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot place the source users in the target unambiguously: 1 conflict"
        );
        let MigrateError::Ambiguous { problems } = error else {
            unreachable!()
        };
        assert_eq!(
            problems,
            [
                "source user `u1` (pool `a`) matches 2 users of target pool `eu`: `t1` (by `email:ann@x.io`) and `t2` (by `uid:ann`)"
            ]
        );
    }

    #[test]
    fn a_user_whose_identifier_another_target_user_holds_is_held_back() {
        let mut options = options();
        options.pool_map.insert("a".into(), "eu".into());
        let mut migration = transform(&source(), &target_with_ann(), &options).unwrap();
        assert_eq!(
            migration.held_back,
            [Conflict {
                pool_id: "eu".into(),
                user_id: "u1".into(),
                label: Some("Ann@x.io".into()),
                reason: "`email:ann@x.io` belongs to target user `t1`".into(),
            }]
        );
        assert!(
            migration
                .desired
                .users
                .iter()
                .all(|u| u.id.as_deref() != Some("u1"))
        );
        assert!(migration.desired.group_members.is_empty());

        let keys = BTreeSet::from([UserKey {
            pool_id: "b".into(),
            user_id: "u2".into(),
        }]);
        migration.leave_out(&keys);
        assert!(migration.desired.users.is_empty() && migration.id_map.is_empty());
        assert!(migration.desired.user_identifiers.is_empty());
    }

    #[test]
    fn pool_mappings_parse_and_conflicting_ones_are_refused() {
        assert_eq!(parse_pool_mapping("a=b"), Ok(("a".into(), "b".into())));
        assert!(parse_pool_mapping("a").is_err() && parse_pool_mapping("=b").is_err());
        let pairs = [("a".to_string(), "b".to_string()), ("a".into(), "c".into())];
        assert_eq!(
            pool_map(&pairs).unwrap_err().to_string(),
            "`--pool-map` maps pool `a` to both `b` and `c`"
        );
    }

    #[test]
    fn the_id_map_csv_quotes_what_needs_it() {
        let mapping = IdMapping {
            source_pool: "a,b".into(),
            source_user_id: "u".into(),
            target_pool: "p".into(),
            target_user_id: "t".into(),
            matched_by: "email".into(),
        };
        assert_eq!(
            id_map_csv(&[mapping]),
            "source_pool,source_user_id,target_pool,target_user_id,matched_by\n\"a,b\",u,p,t,email\n"
        );
    }
}
