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

use crate::index::{Problem, TenantIndex, UserAggregate, UserKey};
use crate::model::{
    InternalGroup, Pool, TenantDump, UserCredential, UserIdentifier, UserVerifiableAddress,
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

/// The result of [`transform`].
#[derive(Debug, Clone, Default)]
pub struct Migration {
    /// What the target should hold: plan it against the target with [`crate::diff::diff`].
    pub desired: TenantDump,
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
    /// Removes `users` (target keys) from the desired state and the id map, whole: record,
    /// sub-records and memberships.
    pub fn leave_out(&mut self, users: &BTreeSet<UserKey>) {
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
        let desired = &mut self.desired;
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
        self.id_map
            .retain(|m| !ids.contains(&(m.target_pool.as_str(), m.target_user_id.as_str())));
    }
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
    #[error("the source has {} {}", problems.len(), if problems.len() == 1 { "problem" } else { "problems" })]
    Source {
        /// Every problem.
        problems: Vec<Problem>,
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
fn identifier_keys<'a>(user: &'a UserAggregate<'_>) -> impl Iterator<Item = (&'a str, String)> {
    user.identifiers.iter().map(|identifier| {
        (
            identifier.kind.as_deref().unwrap_or_default(),
            natural_key(identifier.kind.as_deref(), identifier.identifier.as_deref()),
        )
    })
}

fn describe_source(key: &UserKey) -> String {
    format!("`{}` (pool `{}`)", key.user_id, key.pool_id)
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The keys that more than one placement claims, each with its claimants.
fn claimed_twice<'p, 's, K: Ord>(
    placements: &'p [Placement<'s>],
    keys: impl Fn(&Placement<'s>) -> Vec<K>,
) -> Vec<(K, Vec<&'p Placement<'s>>)> {
    let mut claims: BTreeMap<K, Vec<&Placement<'s>>> = BTreeMap::new();
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
fn sources(placements: &[&Placement<'_>]) -> String {
    let names: Vec<String> = placements
        .iter()
        .map(|p| describe_source(&p.source))
        .collect();
    list(&names)
}

/// Where one source user goes.
struct Placement<'s> {
    source: UserKey,
    aggregate: &'s UserAggregate<'s>,
    target: UserKey,
    matched_by: String,
}

/// Turns the source export into the target's desired state; see the module docs.
pub fn transform(
    source: &TenantDump,
    target: &TenantDump,
    options: &MigrateOptions,
) -> Result<Migration, MigrateError> {
    let source_pools: BTreeMap<&str, &Pool> = source
        .pools
        .iter()
        .filter_map(|pool| Some((pool.id.as_deref()?, pool)))
        .collect();
    for pool in &options.pools {
        if !source_pools.contains_key(pool.as_str()) {
            return Err(MigrateError::UnknownPool {
                flag: "--pool",
                value: pool.clone(),
                pool: pool.clone(),
            });
        }
    }
    for (from, to) in &options.pool_map {
        if !source_pools.contains_key(from.as_str()) {
            return Err(MigrateError::UnknownPool {
                flag: "--pool-map",
                value: format!("{from}={to}"),
                pool: from.clone(),
            });
        }
    }
    let selected = |pool: &str| options.pools.is_empty() || options.pools.iter().any(|p| p == pool);
    let map_pool = |pool: &str| -> String {
        options
            .pool_map
            .get(pool)
            .cloned()
            .unwrap_or_else(|| pool.to_string())
    };

    let source_index = TenantIndex::build(source);
    if !source_index.problems.is_empty() {
        return Err(MigrateError::Source {
            problems: source_index.problems,
        });
    }
    let target_index = TenantIndex::build(target);
    // Who holds each identifier in the target: (pool, `type:value`) -> user id. The index of a
    // consistent export has one holder; an inconsistent one keeps the first.
    let mut target_holders: BTreeMap<(&str, String), &str> = BTreeMap::new();
    for (key, user) in &target_index.users {
        for (_, natural) in identifier_keys(user) {
            target_holders
                .entry((key.pool_id.as_str(), natural))
                .or_insert(key.user_id.as_str());
        }
    }
    let target_users: BTreeSet<(&str, &str)> = target_index
        .users
        .keys()
        .map(|key| (key.pool_id.as_str(), key.user_id.as_str()))
        .collect();

    let mut problems = Vec::new();
    let mut placements = Vec::new();
    for (key, user) in &source_index.users {
        if !selected(&key.pool_id) {
            continue;
        }
        let target_pool = map_pool(&key.pool_id);
        let mut target_id = key.user_id.clone();
        let mut matched_by = None;
        if options.match_by == MatchBy::Identifier {
            let mut matches: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (kind, natural) in identifier_keys(user) {
                if !MATCH_TYPES.contains(&kind) {
                    continue;
                }
                if let Some(holder) = target_holders.get(&(target_pool.as_str(), natural.clone())) {
                    matches.entry(holder).or_default().push(natural);
                }
            }
            if matches.len() > 1 {
                let found: Vec<String> = matches
                    .iter()
                    .map(|(holder, keys)| {
                        let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                        format!("`{holder}` (by {})", list(&keys))
                    })
                    .collect();
                problems.push(format!(
                    "source user {} matches {} users of target pool `{target_pool}`: {}",
                    describe_source(key),
                    matches.len(),
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
        let matched_by = matched_by.unwrap_or_else(|| {
            if target_users.contains(&(target_pool.as_str(), target_id.as_str())) {
                "id".into()
            } else {
                "new".into()
            }
        });
        placements.push(Placement {
            source: key.clone(),
            aggregate: user,
            target: UserKey {
                pool_id: target_pool,
                user_id: target_id,
            },
            matched_by,
        });
    }

    // Two source users must not claim one identifier, nor one user, of a target pool.
    let mut reported: BTreeSet<(UserKey, UserKey)> = BTreeSet::new();
    let by_identifier = claimed_twice(&placements, |placement| {
        identifier_keys(placement.aggregate)
            .map(|(_, natural)| (placement.target.pool_id.clone(), natural))
            .collect()
    });
    for ((pool, natural), claimants) in &by_identifier {
        problems.push(format!(
            "`{natural}` in target pool `{pool}` is claimed by source users {}",
            sources(claimants)
        ));
        for first in claimants {
            for second in claimants {
                reported.insert((first.source.clone(), second.source.clone()));
            }
        }
    }
    let by_user = claimed_twice(&placements, |placement| vec![placement.target.clone()]);
    for (target_key, claimants) in &by_user {
        let unreported = claimants.iter().any(|first| {
            claimants
                .iter()
                .any(|second| !reported.contains(&(first.source.clone(), second.source.clone())))
        });
        if unreported {
            problems.push(format!(
                "target user `{}` in pool `{}` is claimed by source users {}",
                target_key.user_id,
                target_key.pool_id,
                sources(claimants)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(MigrateError::Ambiguous { problems });
    }

    // A user whose identifier another target user holds would be refused by the import.
    let mut held_back = Vec::new();
    let mut held_keys = BTreeSet::new();
    for placement in &placements {
        let mut taken: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (_, natural) in identifier_keys(placement.aggregate) {
            let key = (placement.target.pool_id.as_str(), natural.clone());
            if let Some(holder) = target_holders.get(&key) {
                if *holder != placement.target.user_id {
                    taken
                        .entry(holder)
                        .or_default()
                        .push(format!("`{natural}`"));
                }
            }
        }
        if !taken.is_empty() {
            let reasons: Vec<String> = taken
                .iter()
                .map(|(holder, keys)| {
                    let verb = if keys.len() == 1 { "belongs" } else { "belong" };
                    format!("{} {verb} to target user `{holder}`", list(keys))
                })
                .collect();
            held_back.push(Conflict {
                pool_id: placement.target.pool_id.clone(),
                user_id: placement.target.user_id.clone(),
                label: placement.aggregate.label(),
                reason: list(&reasons),
            });
            held_keys.insert(placement.source.clone());
        }
    }
    placements.retain(|p| !held_keys.contains(&p.source));

    let mut migration = Migration {
        held_back,
        ..Migration::default()
    };
    let tenant = Some(options.target_tenant.clone());
    let target_pool_records: BTreeMap<&str, &Pool> = target
        .pools
        .iter()
        .filter_map(|pool| Some((pool.id.as_deref()?, pool)))
        .collect();
    let mut written_pools = BTreeSet::new();
    for (source_id, pool) in &source_pools {
        if !selected(source_id) {
            continue;
        }
        let target_id = map_pool(source_id);
        migration
            .pool_mapping
            .push((source_id.to_string(), target_id.clone()));
        if !written_pools.insert(target_id.clone()) {
            continue;
        }
        let record = match target_pool_records.get(target_id.as_str()) {
            Some(existing) => (*existing).clone(),
            None => {
                let mut created = (*pool).clone();
                created.id = Some(target_id.clone());
                created.tenant_id = tenant.clone();
                missing_schemas(&created, target, &options.target_tenant, &mut migration);
                created
            }
        };
        migration.desired.pools.push(record);
    }
    // Users may name a pool the source does not list: their target pool is still in scope, so
    // that the plan reports it if the target lacks it too, rather than skipping the users.
    written_pools.extend(placements.iter().map(|p| p.target.pool_id.clone()));
    migration.target_pools = written_pools.into_iter().collect();

    let new_ids: BTreeMap<(&str, &str), &Placement<'_>> = placements
        .iter()
        .map(|p| ((p.source.pool_id.as_str(), p.source.user_id.as_str()), p))
        .collect();
    migrate_groups(
        source,
        target,
        &new_ids,
        &selected,
        &map_pool,
        &tenant,
        &mut migration,
    );

    let desired = &mut migration.desired;
    for placement in &placements {
        let user = placement.aggregate;
        let remapped = placement.source.user_id != placement.target.user_id;
        let pool_id = Some(placement.target.pool_id.clone());
        let user_id = Some(placement.target.user_id.clone());
        let mut record = user.user.clone();
        record.id = user_id.clone();
        record.user_pool_id = pool_id.clone();
        record.tenant_id = tenant.clone();
        desired.users.push(record);
        // A user that takes a target user's id takes its sub-records' ids too: left without an
        // id, each is matched to the target's by natural key (or gets a derived id).
        let owner = Owner {
            user_id: &user_id,
            pool_id: &pool_id,
            tenant_id: &tenant,
            remapped,
        };
        for identifier in &user.identifiers {
            desired.user_identifiers.push(owner.adopt(identifier));
        }
        for address in &user.addresses {
            desired.user_verifiable_addresses.push(owner.adopt(address));
        }
        for credential in &user.credentials {
            let is_password = credential.kind.as_deref() == Some("password");
            if is_password && options.credentials == CredentialPolicy::Drop {
                continue;
            }
            let mut credential = owner.adopt(*credential);
            if is_password && options.credentials == CredentialPolicy::ForceReset {
                credential.state = Some(MUST_BE_RESET.into());
                credential.expires_at = Some(EXPIRED_AT.into());
            }
            desired.user_credentials.push(credential);
        }
        // `drop` migrates no password; it does not take away the one a user already has in
        // the target (which `--mode update` would otherwise remove with the rest of the user).
        if options.credentials == CredentialPolicy::Drop {
            let existing = target_index
                .users
                .get(&placement.target)
                .map(|current| current.credentials.as_slice())
                .unwrap_or_default();
            desired.user_credentials.extend(
                existing
                    .iter()
                    .filter(|c| c.kind.as_deref() == Some("password"))
                    .map(|c| (*c).clone()),
            );
        }
        migration.id_map.push(IdMapping {
            source_pool: placement.source.pool_id.clone(),
            source_user_id: placement.source.user_id.clone(),
            target_pool: placement.target.pool_id.clone(),
            target_user_id: placement.target.user_id.clone(),
            matched_by: placement.matched_by.clone(),
        });
    }
    migration.id_map.sort();
    Ok(migration)
}

/// The user a sub-record moves to, in the target.
struct Owner<'a> {
    user_id: &'a Option<String>,
    pool_id: &'a Option<String>,
    tenant_id: &'a Option<String>,
    /// Whether the user takes another id: its sub-records then drop theirs, to be matched to the
    /// target user's by natural key (or to get a derived id).
    remapped: bool,
}

/// A sub-record of a user: identifier, verifiable address or credential.
trait SubRecord: Clone {
    fn rehome(&mut self, owner: &Owner<'_>);
}

macro_rules! sub_record {
    ($($record:ty),*) => {$(
        impl SubRecord for $record {
            fn rehome(&mut self, owner: &Owner<'_>) {
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

impl Owner<'_> {
    /// A copy of `record` that belongs to this user.
    fn adopt<R: SubRecord>(&self, record: &R) -> R {
        let mut record = record.clone();
        record.rehome(self);
        record
    }
}

/// Carries the groups of the migrated pools (and any group a migrated user belongs to) and the
/// memberships of the migrated users. Groups the target has are kept as they are there.
fn migrate_groups(
    source: &TenantDump,
    target: &TenantDump,
    new_ids: &BTreeMap<(&str, &str), &Placement<'_>>,
    selected: &dyn Fn(&str) -> bool,
    map_pool: &dyn Fn(&str) -> String,
    tenant: &Option<String>,
    migration: &mut Migration,
) {
    let mut memberships = Vec::new();
    let mut member_groups = BTreeSet::new();
    let pool_of_user: BTreeMap<&str, &str> =
        new_ids.keys().map(|(pool, id)| (*id, *pool)).collect();
    for member in &source.group_members {
        let Some(user_id) = member.user_id.as_deref() else {
            continue;
        };
        let pool = member
            .user_pool_id
            .as_deref()
            .or_else(|| pool_of_user.get(user_id).copied())
            .unwrap_or_default();
        let Some(placement) = new_ids.get(&(pool, user_id)) else {
            continue;
        };
        let mut member = member.clone();
        member.user_id = Some(placement.target.user_id.clone());
        member.user_pool_id = Some(placement.target.pool_id.clone());
        member.tenant_id = tenant.clone();
        if let Some(group) = member.group_id.as_deref() {
            member_groups.insert(group.to_string());
        }
        memberships.push(member);
    }
    let target_groups: BTreeMap<&str, &InternalGroup> = target
        .groups
        .iter()
        .filter_map(|group| Some((group.id.as_deref()?, group)))
        .collect();
    for group in &source.groups {
        let Some(id) = group.id.as_deref() else {
            continue;
        };
        let in_selected_pool = group.user_pool_id.as_deref().is_some_and(selected);
        if !in_selected_pool && !member_groups.contains(id) {
            continue;
        }
        let record = match target_groups.get(id) {
            Some(existing) => (*existing).clone(),
            None => {
                let mut created = group.clone();
                created.user_pool_id = group.user_pool_id.as_deref().map(map_pool);
                created.tenant_id = tenant.clone();
                created
            }
        };
        migration.desired.groups.push(record);
    }
    migration.desired.group_members = memberships;
}

/// Warns when a pool to create names a schema the target does not have.
fn missing_schemas(pool: &Pool, target: &TenantDump, tenant: &str, migration: &mut Migration) {
    let known: BTreeSet<&str> = target
        .schemas
        .iter()
        .filter_map(|schema| schema.id.as_deref())
        .collect();
    for field in ["payload_schema_id", "metadata_schema_id"] {
        if let Some(schema) = pool.extra.get(field).and_then(|v| v.as_str()) {
            if !known.contains(schema) {
                migration.warnings.push(format!(
                    "pool `{}` to create names schema `{schema}` in `{field}`, which tenant `{tenant}` does not have",
                    pool.id.as_deref().unwrap_or_default()
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
        assert_eq!(passwords, [&target.user_credentials[0]]);
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
