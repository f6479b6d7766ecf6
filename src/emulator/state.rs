//! One tenant's data and the import rules of the System API.
//!
//! Users live in a slab in insertion order (so exports are stable and follow the seed), found by
//! id through a hash map, each with its own identifiers, addresses, credentials, memberships and
//! codes. Identifiers are indexed by `(pool, type, identifier_lc)`. Replacing or deleting a user
//! therefore costs what that user holds, never what the tenant holds.
//!
//! Import is two passes. The first (`rules`) checks the whole body (tenant ids, required fields, enums,
//! references between records, the lower-cased fields) and changes nothing when it fails: a
//! rejected body (400/422) leaves the tenant as it was. The second applies records in order
//! (schemas, pools, groups, then users in request order, then sub-records of users not in the
//! request) and is **not atomic**: a `fail`-mode conflict or an identifier conflict (409) stops
//! it where it is, and what came before stays, as on the real service. Schemas, pools and groups
//! follow the mode by id, as users do.
//!
//! What depends only on the request (ids left out, which request user each sub-record belongs
//! to) is worked out by [`PreparedImport`] before the tenant is locked, so concurrent imports
//! hold the lock only for the checks against the tenant and the changes.
//!
//! Statuses: a broken rule of the first pass is 422 (`validation_error`) and a conflict 409
//! (`conflict`), each with a message like `` `users[2].status`: `x` is not one of ... `` and
//! `details` naming the record, its id and the field. (A body that is not JSON, or has a field of
//! the wrong JSON type, is a 400 before this module sees it.)
//!
//! Choices where the contract is silent:
//! - `codes` in an import body are ignored (they are transient one-time codes); codes already
//!   held by a user stay with it when the user is replaced and go when it is deleted.
//! - Server-managed fields are kept as sent. Where the spec does not require them and they are
//!   absent, the server fills them: `created_at` (kept from the replaced record on `update`),
//!   `updated_at`, `status_updated_at` (kept while the status does not change) and `verified_at`
//!   of a verified address. Ids left out are generated (UUIDv4).
//! - `identifier_lc` and `address_lc` must be the lower-cased `identifier` and `address` (422).
//! - A sub-record whose user is in the tenant but not in the request is a record of its own,
//!   matched by its id (a membership by its group) under the request's mode.
//!
//! This module does no I/O and reads no clock: the caller passes the time.

use super::api_error::ApiError;
use super::rules::At;
use crate::model::{
    Code, GroupMember, ImportMode, InternalGroup, Pool, Schema, TenantDump, User, UserCredential,
    UserIdentifier, UserVerifiableAddress,
};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Reads the `mode` query parameter; missing means `ignore` (the vendor page's default).
pub(crate) fn parse_mode(mode: Option<&str>) -> Result<ImportMode, ApiError> {
    match mode {
        None => Ok(ImportMode::Ignore),
        Some(name) => ImportMode::from_name(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid `mode` `{name}`: expected `ignore`, `fail` or `update`"
            ))
            .detail("field", "mode")
        }),
    }
}

/// What one import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ImportSummary {
    pub created: usize,
    pub replaced: usize,
    pub ignored: usize,
}

/// A user with everything that hangs from it.
#[derive(Clone, Debug, Default)]
struct StoredUser {
    user: User,
    identifiers: Vec<UserIdentifier>,
    addresses: Vec<UserVerifiableAddress>,
    credentials: Vec<UserCredential>,
    memberships: Vec<GroupMember>,
    codes: Vec<Code>,
}

/// The sub-records of one user in a request, each with its index in the request's array.
#[derive(Default)]
struct UserParts {
    identifiers: Vec<(usize, UserIdentifier)>,
    addresses: Vec<(usize, UserVerifiableAddress)>,
    credentials: Vec<(usize, UserCredential)>,
    memberships: Vec<(usize, GroupMember)>,
}

/// One tenant.
#[derive(Debug)]
pub(crate) struct TenantState {
    tenant_id: String,
    schemas: Vec<Schema>,
    pools: Vec<Pool>,
    groups: Vec<InternalGroup>,
    /// Users in insertion order; `None` where a user was deleted. Boxed, so that growing the
    /// vector (under the tenant's lock) moves pointers, not whole users.
    slots: Vec<Option<Box<StoredUser>>>,
    deleted_slots: usize,
    user_slot: HashMap<String, usize>,
    /// `(pool, type, identifier_lc)` joined by NUL → id of the user holding it.
    identifier_owner: HashMap<String, String>,
    /// Counts changes, so the state file is written only when something changed.
    generation: u64,
}

fn identifier_key(pool: &str, kind: &str, identifier_lc: &str) -> String {
    let mut key = String::with_capacity(pool.len() + kind.len() + identifier_lc.len() + 2);
    key.push_str(pool);
    key.push('\0');
    key.push_str(kind);
    key.push('\0');
    key.push_str(identifier_lc);
    key
}

fn key_of(identifier: &UserIdentifier) -> String {
    identifier_key(
        identifier.user_pool_id.as_deref().unwrap_or_default(),
        identifier.kind.as_deref().unwrap_or_default(),
        identifier.identifier_lc.as_deref().unwrap_or_default(),
    )
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An import body made ready before the tenant is locked: the ids it left out generated, and
/// each sub-record assigned to the user of the request it belongs to, so that the part under
/// the lock neither hashes user ids nor allocates to group records. Nothing here depends on the
/// tenant, so concurrent requests prepare in parallel.
pub(crate) struct PreparedImport {
    dump: TenantDump,
    owners: Owners,
}

/// For each array of sub-records, the position in `users` of the request's user that owns each
/// record, or `None` for a record of a user not in the request.
struct Owners {
    identifiers: Vec<Option<usize>>,
    addresses: Vec<Option<usize>>,
    credentials: Vec<Option<usize>>,
    memberships: Vec<Option<usize>>,
}

impl PreparedImport {
    pub(super) fn new(mut dump: TenantDump) -> Self {
        fill_missing_ids(&mut dump);
        // A user id sent twice is refused by validation before anything is applied.
        let position: HashMap<&str, usize> = dump
            .users
            .iter()
            .enumerate()
            .map(|(index, user)| (user.id.as_deref().unwrap_or_default(), index))
            .collect();
        let owner = |user_id: &Option<String>| {
            position
                .get(user_id.as_deref().unwrap_or_default())
                .copied()
        };
        let owners = Owners {
            identifiers: dump
                .user_identifiers
                .iter()
                .map(|r| owner(&r.user_id))
                .collect(),
            addresses: dump
                .user_verifiable_addresses
                .iter()
                .map(|r| owner(&r.user_id))
                .collect(),
            credentials: dump
                .user_credentials
                .iter()
                .map(|r| owner(&r.user_id))
                .collect(),
            memberships: dump
                .group_members
                .iter()
                .map(|r| owner(&r.user_id))
                .collect(),
        };
        PreparedImport { dump, owners }
    }
}

/// Generates the ids a request left out, before validation, so messages can name them.
fn fill_missing_ids(dump: &mut TenantDump) {
    for schema in &mut dump.schemas {
        schema.id.get_or_insert_with(new_id);
    }
    for pool in &mut dump.pools {
        pool.id.get_or_insert_with(new_id);
    }
    for group in &mut dump.groups {
        group.id.get_or_insert_with(new_id);
    }
    for user in &mut dump.users {
        user.id.get_or_insert_with(new_id);
    }
    for identifier in &mut dump.user_identifiers {
        identifier.id.get_or_insert_with(new_id);
    }
    for address in &mut dump.user_verifiable_addresses {
        address.id.get_or_insert_with(new_id);
    }
    for credential in &mut dump.user_credentials {
        credential.id.get_or_insert_with(new_id);
    }
}

/// Fills what a real tenant always has, for seeds and state files: seeds are existing data, not
/// requests, so they may leave out server-managed fields. `tenant_id` fields are rewritten.
pub(crate) fn fill_server_fields(dump: &mut TenantDump, tenant_id: &str, now: &str) {
    let tenant = || Some(tenant_id.to_string());
    let now_value = || Some(now.to_string());
    for schema in &mut dump.schemas {
        schema.tenant_id = tenant();
    }
    for pool in &mut dump.pools {
        pool.tenant_id = tenant();
    }
    for group in &mut dump.groups {
        group.tenant_id = tenant();
    }
    for user in &mut dump.users {
        user.tenant_id = tenant();
    }
    for member in &mut dump.group_members {
        member.tenant_id = tenant();
    }
    for identifier in &mut dump.user_identifiers {
        identifier.tenant_id = tenant();
        if identifier.identifier_lc.is_none() {
            identifier.identifier_lc = identifier
                .identifier
                .as_ref()
                .map(|value| value.to_lowercase());
        }
        identifier.created_at.get_or_insert_with(|| now.to_string());
        identifier.updated_at.get_or_insert_with(|| now.to_string());
    }
    for address in &mut dump.user_verifiable_addresses {
        address.tenant_id = tenant();
        if address.address_lc.is_none() {
            address.address_lc = address.address.as_ref().map(|value| value.to_lowercase());
        }
        address.verified.get_or_insert(false);
        if address.created_at.is_none() {
            address.created_at = now_value();
        }
        if address.updated_at.is_none() {
            address.updated_at = now_value();
        }
    }
    for credential in &mut dump.user_credentials {
        credential.tenant_id = tenant();
        credential.created_at.get_or_insert_with(|| now.to_string());
        credential.updated_at.get_or_insert_with(|| now.to_string());
    }
    for code in &mut dump.codes {
        code.extra.insert(
            "tenant_id".to_string(),
            Value::String(tenant_id.to_string()),
        );
    }
}

/// What to do with one record found by id.
enum Action {
    Insert,
    Replace(usize),
    Skip,
}

fn decide<T>(
    list: &[T],
    id: &str,
    id_of: impl Fn(&T) -> Option<&str>,
    mode: ImportMode,
    at: &At<'_>,
    what: &str,
) -> Result<Action, ApiError> {
    match list.iter().position(|item| id_of(item) == Some(id)) {
        None => Ok(Action::Insert),
        Some(position) => match mode {
            ImportMode::Ignore => Ok(Action::Skip),
            ImportMode::Update => Ok(Action::Replace(position)),
            ImportMode::Fail => Err(at.conflict(
                "id",
                format!(
                    "{what} `{id}` already exists (mode `{}`)",
                    ImportMode::Fail.as_str()
                ),
            )),
        },
    }
}

/// Inserts or replaces `item` in `list` as `action` says; returns whether anything changed.
fn put<T>(list: &mut Vec<T>, action: Action, item: T) -> bool {
    match action {
        Action::Insert => {
            list.push(item);
            true
        }
        Action::Replace(position) => {
            list[position] = item;
            true
        }
        Action::Skip => false,
    }
}

impl TenantState {
    pub(super) fn new(tenant_id: &str) -> Self {
        TenantState {
            tenant_id: tenant_id.to_string(),
            schemas: Vec::new(),
            pools: Vec::new(),
            groups: Vec::new(),
            slots: Vec::new(),
            deleted_slots: 0,
            user_slot: HashMap::new(),
            identifier_owner: HashMap::new(),
            generation: 0,
        }
    }

    /// A tenant holding `seed`, after [`fill_server_fields`]; the seed must satisfy every rule
    /// of an import (the message says which it breaks).
    pub(super) fn from_seed(
        tenant_id: &str,
        mut seed: TenantDump,
        now: &str,
    ) -> Result<Self, String> {
        fill_server_fields(&mut seed, tenant_id, now);
        let codes = std::mem::take(&mut seed.codes);
        let mut state = TenantState::new(tenant_id);
        state
            .import(seed, ImportMode::Update, now)
            .map_err(|error| error.message)?;
        for (index, code) in codes.into_iter().enumerate() {
            let user_id = code.user_id.clone().unwrap_or_default();
            let slot = state
                .user_slot
                .get(&user_id)
                .copied()
                .ok_or_else(|| format!("`codes[{index}].user_id`: no user `{user_id}`"))?;
            if let Some(stored) = state.slots[slot].as_mut() {
                stored.codes.push(code);
            }
        }
        state.generation = 0;
        Ok(state)
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    pub(super) fn user_count(&self) -> usize {
        self.user_slot.len()
    }

    fn users(&self) -> impl Iterator<Item = &StoredUser> {
        self.slots.iter().flatten().map(|stored| &**stored)
    }

    pub(super) fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The pool of a stored user.
    pub(super) fn stored_user_pool(&self, user_id: &str) -> Option<&str> {
        self.stored_user(user_id)
            .and_then(|stored| stored.user.user_pool_id.as_deref())
    }

    pub(super) fn group_exists(&self, group_id: &str) -> bool {
        self.groups
            .iter()
            .any(|group| group.id.as_deref() == Some(group_id))
    }

    pub(super) fn pool_exists(&self, pool_id: &str) -> bool {
        self.pools
            .iter()
            .any(|pool| pool.id.as_deref() == Some(pool_id))
    }

    fn stored_user(&self, user_id: &str) -> Option<&StoredUser> {
        self.user_slot
            .get(user_id)
            .and_then(|slot| self.slots[*slot].as_deref())
    }

    /// Imports `dump` under `mode`. On error, see the module docs for what may have changed.
    pub(super) fn import(
        &mut self,
        dump: TenantDump,
        mode: ImportMode,
        now: &str,
    ) -> Result<ImportSummary, ApiError> {
        self.import_prepared(PreparedImport::new(dump), mode, now)
    }

    /// [`TenantState::import`] of a body prepared beforehand (outside the tenant's lock).
    pub(super) fn import_prepared(
        &mut self,
        prepared: PreparedImport,
        mode: ImportMode,
        now: &str,
    ) -> Result<ImportSummary, ApiError> {
        super::rules::check_request(self, &prepared.dump)?;
        self.apply(prepared, mode, now)
    }

    /// The second pass: applies records in order, stopping at the first conflict.
    fn apply(
        &mut self,
        prepared: PreparedImport,
        mode: ImportMode,
        now: &str,
    ) -> Result<ImportSummary, ApiError> {
        let PreparedImport { dump, owners } = prepared;
        let TenantDump {
            pools,
            schemas,
            users,
            user_identifiers,
            user_verifiable_addresses,
            user_credentials,
            groups,
            group_members,
            ..
        } = dump;
        let mut summary = ImportSummary::default();

        for (index, mut schema) in schemas.into_iter().enumerate() {
            let id = schema.id.clone().unwrap_or_default();
            let at = At {
                section: "schemas",
                index,
                id: Some(&id),
            };
            let action = decide(
                &self.schemas,
                &id,
                |item| item.id.as_deref(),
                mode,
                &at,
                "schema",
            )?;
            if let Action::Replace(position) = action {
                if let Some(created) = self.schemas[position].extra.get("created_at").cloned() {
                    schema.extra.entry("created_at").or_insert(created);
                }
            }
            schema
                .extra
                .entry("created_at")
                .or_insert_with(|| Value::String(now.to_string()));
            schema
                .extra
                .entry("updated_at")
                .or_insert_with(|| Value::String(now.to_string()));
            if put(&mut self.schemas, action, schema) {
                self.generation += 1;
            }
        }
        for (index, pool) in pools.into_iter().enumerate() {
            let id = pool.id.clone().unwrap_or_default();
            let at = At {
                section: "pools",
                index,
                id: Some(&id),
            };
            let action = decide(
                &self.pools,
                &id,
                |item| item.id.as_deref(),
                mode,
                &at,
                "pool",
            )?;
            if put(&mut self.pools, action, pool) {
                self.generation += 1;
            }
        }
        for (index, group) in groups.into_iter().enumerate() {
            let id = group.id.clone().unwrap_or_default();
            let at = At {
                section: "groups",
                index,
                id: Some(&id),
            };
            let action = decide(
                &self.groups,
                &id,
                |item| item.id.as_deref(),
                mode,
                &at,
                "group",
            )?;
            if put(&mut self.groups, action, group) {
                self.generation += 1;
            }
        }

        // Sub-records of users in the request travel with their user; the others stand alone.
        let mut parts: Vec<UserParts> = std::iter::repeat_with(UserParts::default)
            .take(users.len())
            .collect();
        let mut loose = UserParts::default();
        fn sort<T>(
            records: Vec<T>,
            owners: Vec<Option<usize>>,
            parts: &mut [UserParts],
            loose: &mut UserParts,
            list_of: fn(&mut UserParts) -> &mut Vec<(usize, T)>,
        ) {
            for ((index, record), owner) in records.into_iter().enumerate().zip(owners) {
                let bucket = match owner {
                    Some(position) => &mut parts[position],
                    None => &mut *loose,
                };
                list_of(bucket).push((index, record));
            }
        }
        sort(
            user_identifiers,
            owners.identifiers,
            &mut parts,
            &mut loose,
            |parts| &mut parts.identifiers,
        );
        sort(
            user_verifiable_addresses,
            owners.addresses,
            &mut parts,
            &mut loose,
            |parts| &mut parts.addresses,
        );
        sort(
            user_credentials,
            owners.credentials,
            &mut parts,
            &mut loose,
            |parts| &mut parts.credentials,
        );
        sort(
            group_members,
            owners.memberships,
            &mut parts,
            &mut loose,
            |parts| &mut parts.memberships,
        );

        for (index, user) in users.into_iter().enumerate() {
            let id = user.id.clone().unwrap_or_default();
            let at = At {
                section: "users",
                index,
                id: Some(&id),
            };
            let user_parts = std::mem::take(&mut parts[index]);
            match (self.user_slot.get(&id).copied(), mode) {
                (Some(_), ImportMode::Ignore) => summary.ignored += 1,
                (Some(_), ImportMode::Fail) => {
                    return Err(
                        at.conflict("id", format!("user `{id}` already exists (mode `fail`)"))
                    );
                }
                (Some(slot), ImportMode::Update) => {
                    self.put_user(Some(slot), user, user_parts, now)?;
                    summary.replaced += 1;
                }
                (None, _) => {
                    self.put_user(None, user, user_parts, now)?;
                    summary.created += 1;
                }
            }
        }
        self.apply_loose(loose, mode)?;
        Ok(summary)
    }

    /// Creates (`slot` `None`) or replaces a whole user, after checking its identifiers.
    fn put_user(
        &mut self,
        slot: Option<usize>,
        mut user: User,
        parts: UserParts,
        now: &str,
    ) -> Result<(), ApiError> {
        let id = user.id.clone().unwrap_or_default();
        let mut keys = HashSet::with_capacity(parts.identifiers.len());
        for (index, identifier) in &parts.identifiers {
            let at = At {
                section: "user_identifiers",
                index: *index,
                id: identifier.id.as_deref(),
            };
            let key = key_of(identifier);
            self.check_identifier_free(&at, &key, &id, identifier)?;
            if !keys.insert(key) {
                return Err(at.conflict(
                    "identifier_lc",
                    "the same identifier is sent twice for this user",
                ));
            }
        }
        let previous = slot.and_then(|slot| self.slots[slot].take());
        let mut codes = Vec::new();
        if let Some(previous) = previous {
            for identifier in &previous.identifiers {
                let key = key_of(identifier);
                if self.identifier_owner.get(&key) == Some(&id) {
                    self.identifier_owner.remove(&key);
                }
            }
            if user.created_at.is_none() {
                user.created_at = previous.user.created_at;
            }
            if user.status_updated_at.is_none() && user.status == previous.user.status {
                user.status_updated_at = previous.user.status_updated_at;
            }
            codes = previous.codes;
        }
        user.created_at.get_or_insert_with(|| now.to_string());
        user.updated_at.get_or_insert_with(|| now.to_string());
        user.status_updated_at
            .get_or_insert_with(|| now.to_string());
        for key in keys {
            self.identifier_owner.insert(key, id.clone());
        }
        let mut addresses: Vec<UserVerifiableAddress> = parts
            .addresses
            .into_iter()
            .map(|(_, record)| record)
            .collect();
        for address in &mut addresses {
            if address.verified == Some(true) && address.verified_at.is_none() {
                address.verified_at = Some(now.to_string());
            }
        }
        let stored = StoredUser {
            user,
            identifiers: parts
                .identifiers
                .into_iter()
                .map(|(_, record)| record)
                .collect(),
            addresses,
            credentials: parts
                .credentials
                .into_iter()
                .map(|(_, record)| record)
                .collect(),
            memberships: parts
                .memberships
                .into_iter()
                .map(|(_, record)| record)
                .collect(),
            codes,
        };
        match slot {
            Some(slot) => self.slots[slot] = Some(Box::new(stored)),
            None => {
                self.user_slot.insert(id, self.slots.len());
                self.slots.push(Some(Box::new(stored)));
            }
        }
        self.generation += 1;
        Ok(())
    }

    fn check_identifier_free(
        &self,
        at: &At<'_>,
        key: &str,
        user_id: &str,
        identifier: &UserIdentifier,
    ) -> Result<(), ApiError> {
        match self.identifier_owner.get(key) {
            Some(owner) if owner != user_id => Err(at.conflict(
                "identifier_lc",
                format!(
                    "{} `{}` is already held by user `{owner}` in pool `{}`",
                    identifier.kind.as_deref().unwrap_or_default(),
                    identifier.identifier_lc.as_deref().unwrap_or_default(),
                    identifier.user_pool_id.as_deref().unwrap_or_default(),
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Sub-records of stored users that are not in the request, each matched by id.
    fn apply_loose(&mut self, loose: UserParts, mode: ImportMode) -> Result<(), ApiError> {
        for (index, identifier) in loose.identifiers {
            let user_id = identifier.user_id.clone().unwrap_or_default();
            let id = identifier.id.clone().unwrap_or_default();
            let at = At {
                section: "user_identifiers",
                index,
                id: Some(&id),
            };
            let key = key_of(&identifier);
            self.check_identifier_free(&at, &key, &user_id, &identifier)?;
            let Some(slot) = self.user_slot.get(&user_id).copied() else {
                continue;
            };
            let Some(stored) = self.slots[slot].as_mut() else {
                continue;
            };
            let action = decide(
                &stored.identifiers,
                &id,
                |item| item.id.as_deref(),
                mode,
                &at,
                "identifier",
            )?;
            let held_twice = stored
                .identifiers
                .iter()
                .any(|item| item.id.as_deref() != Some(&id) && key_of(item) == key);
            if !matches!(action, Action::Skip) && held_twice {
                return Err(at.conflict(
                    "identifier_lc",
                    "this user already holds the same identifier",
                ));
            }
            if let Action::Replace(position) = action {
                self.identifier_owner
                    .remove(&key_of(&stored.identifiers[position]));
            }
            if !matches!(action, Action::Skip) {
                self.identifier_owner.insert(key, user_id.clone());
            }
            if put(&mut stored.identifiers, action, identifier) {
                self.generation += 1;
            }
        }
        self.upsert_loose(
            loose.addresses,
            mode,
            ("user_verifiable_addresses", "address"),
            |record| record.id.as_deref(),
            |record| record.user_id.as_deref(),
            |stored| &mut stored.addresses,
        )?;
        self.upsert_loose(
            loose.credentials,
            mode,
            ("user_credentials", "credential"),
            |record| record.id.as_deref(),
            |record| record.user_id.as_deref(),
            |stored| &mut stored.credentials,
        )?;
        self.upsert_loose(
            loose.memberships,
            mode,
            ("group_members", "membership of group"),
            |record| record.group_id.as_deref(),
            |record| record.user_id.as_deref(),
            |stored| &mut stored.memberships,
        )?;
        Ok(())
    }

    /// Inserts, replaces or keeps each record of a stored user under `mode`, matched by `key`;
    /// `names` are the request's section and what a record is called in messages.
    fn upsert_loose<T>(
        &mut self,
        records: Vec<(usize, T)>,
        mode: ImportMode,
        names: (&'static str, &str),
        key: fn(&T) -> Option<&str>,
        user_of: fn(&T) -> Option<&str>,
        list_of: fn(&mut StoredUser) -> &mut Vec<T>,
    ) -> Result<(), ApiError> {
        let (section, what) = names;
        for (index, record) in records {
            let id = key(&record).unwrap_or_default().to_string();
            let at = At {
                section,
                index,
                id: Some(&id),
            };
            let user_id = user_of(&record).map(str::to_string);
            let Some(stored) = self.stored_user_mut(user_id.as_deref()) else {
                continue;
            };
            let list = list_of(stored);
            let action = decide(list, &id, key, mode, &at, what)?;
            if put(list, action, record) {
                self.generation += 1;
            }
        }
        Ok(())
    }

    fn stored_user_mut(&mut self, user_id: Option<&str>) -> Option<&mut StoredUser> {
        let slot = *self.user_slot.get(user_id?)?;
        self.slots[slot].as_deref_mut()
    }

    /// For the password check: the user of `pool_id` with id `user_id`, or else the one holding
    /// `identifier` (of any type, letter case ignored), with its `password` credential if it has
    /// one. `None` when no such user is in the pool.
    pub(super) fn password_of(
        &self,
        pool_id: &str,
        user_id: Option<&str>,
        identifier: Option<&str>,
    ) -> Option<(String, Option<UserCredential>)> {
        let owner = match (user_id, identifier) {
            (Some(user_id), _) => user_id.to_string(),
            (None, Some(identifier)) => {
                let identifier_lc = identifier.to_lowercase();
                ["email", "mobile", "uid", "external", "federated"]
                    .iter()
                    .find_map(|kind| {
                        self.identifier_owner
                            .get(&identifier_key(pool_id, kind, &identifier_lc))
                    })?
                    .clone()
            }
            (None, None) => return None,
        };
        let stored = self.slots[*self.user_slot.get(&owner)?].as_deref()?;
        if stored.user.user_pool_id.as_deref() != Some(pool_id) {
            return None;
        }
        let password = stored
            .credentials
            .iter()
            .find(|credential| credential.kind.as_deref() == Some("password"))
            .cloned();
        Some((owner, password))
    }

    /// Deletes a user of `pool_id` with everything that hangs from it; false if there is none.
    pub(super) fn delete_user(&mut self, pool_id: &str, user_id: &str) -> bool {
        let Some(slot) = self.user_slot.get(user_id).copied() else {
            return false;
        };
        let in_pool = self.slots[slot]
            .as_ref()
            .is_some_and(|stored| stored.user.user_pool_id.as_deref() == Some(pool_id));
        if !in_pool {
            return false;
        }
        self.user_slot.remove(user_id);
        if let Some(stored) = self.slots[slot].take() {
            for identifier in &stored.identifiers {
                let key = key_of(identifier);
                if self.identifier_owner.get(&key).map(String::as_str) == Some(user_id) {
                    self.identifier_owner.remove(&key);
                }
            }
        }
        self.deleted_slots += 1;
        self.generation += 1;
        // Compacting now and then keeps exports and memory proportional to the live users.
        if self.deleted_slots > 1024 && self.deleted_slots * 2 > self.slots.len() {
            self.slots.retain(Option::is_some);
            self.deleted_slots = 0;
            self.user_slot.clear();
            for (slot, stored) in self.slots.iter().enumerate() {
                if let Some(stored) = stored {
                    self.user_slot
                        .insert(stored.user.id.clone().unwrap_or_default(), slot);
                }
            }
        }
        true
    }

    /// A copy of the tenant as a document, in export order.
    pub(super) fn to_dump(&self) -> TenantDump {
        let mut dump = TenantDump {
            pools: self.pools.clone(),
            schemas: self.schemas.clone(),
            groups: self.groups.clone(),
            ..TenantDump::default()
        };
        for stored in self.users() {
            dump.users.push(stored.user.clone());
            dump.user_identifiers
                .extend(stored.identifiers.iter().cloned());
            dump.user_verifiable_addresses
                .extend(stored.addresses.iter().cloned());
            dump.user_credentials
                .extend(stored.credentials.iter().cloned());
            dump.codes.extend(stored.codes.iter().cloned());
            dump.group_members
                .extend(stored.memberships.iter().cloned());
        }
        dump
    }

    /// The export document, serialized straight from the store (no copy, no `Value` tree).
    pub(super) fn export_view(&self) -> ExportView<'_> {
        ExportView(self)
    }
}

/// Serializes a tenant as a `TenantDump`, every array present (empty arrays included).
pub(crate) struct ExportView<'a>(&'a TenantState);

/// One array of the export, flattened over all users.
struct UserSection<'a, T, F>(&'a TenantState, F, std::marker::PhantomData<T>);

impl<'a, T, F> Serialize for UserSection<'a, T, F>
where
    T: Serialize + 'a,
    F: Fn(&'a StoredUser) -> &'a [T],
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.users().flat_map(|stored| (self.1)(stored).iter()))
    }
}

fn section<'a, T, F>(state: &'a TenantState, pick: F) -> UserSection<'a, T, F>
where
    T: 'a,
    F: Fn(&'a StoredUser) -> &'a [T],
{
    UserSection(state, pick, std::marker::PhantomData)
}

impl Serialize for ExportView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let state = self.0;
        let mut map = serializer.serialize_map(Some(9))?;
        map.serialize_entry("pools", &state.pools)?;
        map.serialize_entry("schemas", &state.schemas)?;
        map.serialize_entry(
            "users",
            &section(state, |stored| std::slice::from_ref(&stored.user)),
        )?;
        map.serialize_entry(
            "user_identifiers",
            &section(state, |stored| &stored.identifiers),
        )?;
        map.serialize_entry(
            "user_verifiable_addresses",
            &section(state, |stored| &stored.addresses),
        )?;
        map.serialize_entry(
            "user_credentials",
            &section(state, |stored| &stored.credentials),
        )?;
        map.serialize_entry("codes", &section(state, |stored| &stored.codes))?;
        map.serialize_entry("groups", &state.groups)?;
        map.serialize_entry(
            "group_members",
            &section(state, |stored| &stored.memberships),
        )?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2026-01-01T00:00:00Z";

    fn dump(value: serde_json::Value) -> TenantDump {
        serde_json::from_value(value).unwrap()
    }

    fn seed() -> TenantState {
        TenantState::from_seed(
            "t",
            dump(json!({
                "pools": [{"id": "p", "name": "P"}],
                "users": [{"id": "u1", "user_pool_id": "p", "status": "active"}],
                "user_identifiers": [{"id": "i1", "user_id": "u1", "user_pool_id": "p",
                    "type": "email", "identifier": "A@x.io"}]
            })),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn seed_fields_are_filled_and_export_matches_the_copy() {
        let state = seed();
        let exported: serde_json::Value = serde_json::to_value(state.export_view()).unwrap();
        assert_eq!(exported["user_identifiers"][0]["identifier_lc"], "a@x.io");
        assert_eq!(exported["users"][0]["tenant_id"], "t");
        let copy = serde_json::to_value(state.to_dump()).unwrap();
        assert_eq!(exported["users"], copy["users"]);
        assert_eq!(exported["codes"], json!([]));
    }

    #[test]
    fn deleting_releases_identifiers_and_compaction_keeps_order() {
        let mut state = seed();
        for number in 0..3000 {
            let id = format!("n{number}");
            let body = dump(
                json!({"users": [{"id": id, "tenant_id": "t", "user_pool_id": "p", "status": "new"}]}),
            );
            state.import(body, ImportMode::Ignore, NOW).unwrap();
        }
        for number in 0..2000 {
            assert!(state.delete_user("p", &format!("n{number}")));
        }
        assert!(state.delete_user("p", "u1"));
        assert!(!state.delete_user("p", "u1"));
        assert_eq!(state.user_count(), 1000);
        assert!(state.identifier_owner.is_empty());
        let users = state.to_dump().users;
        assert_eq!(users[0].id.as_deref(), Some("n2000"));
        assert_eq!(users[999].id.as_deref(), Some("n2999"));
        assert!(state.delete_user("p", "n2500"));
    }
}
