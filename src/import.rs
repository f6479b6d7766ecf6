//! Builds the import request bodies that carry out a plan: whole users, ready for the tenant.
//!
//! Every user that the plan creates or updates is sent whole (record, identifiers, addresses,
//! credentials, memberships), because an `update` import replaces a user and its sub-records as
//! a unit. Derived fields are filled in here (`tenant_id`, `identifier_lc`, `address_lc`,
//! timestamps), sub-records get the same ids the diff matched them to, and users are cut into
//! batches of at most [`MAX_USERS_PER_REQUEST`]. Pure: the caller passes the clock in as `now`.

use crate::index::{TenantIndex, UserAggregate, UserKey};
use crate::model::{GroupMember, MAX_USERS_PER_REQUEST, TenantDump};
use crate::normalize::{address_id, credential_id, identifier_id, natural_key};
use crate::plan::{Action, Plan, RecordChanges, UserChange};
use std::collections::BTreeSet;

/// A request body and the users in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Position of the batch, from 0 (the pool batch, when there is one, comes first).
    pub number: usize,
    /// The users sent, by key.
    pub users: Vec<UserKey>,
    /// The body.
    pub body: TenantDump,
}

/// The whole desired user, with every derived field filled in for `tenant_id`.
pub fn materialize_user(
    desired: &UserAggregate<'_>,
    current: Option<&UserAggregate<'_>>,
    tenant_id: &str,
    now: &str,
    into: &mut TenantDump,
) {
    let user_id = desired.user.id.clone().unwrap_or_default();
    let pool_id = desired.user.user_pool_id.clone().unwrap_or_default();
    let created = |current_created: Option<&Option<String>>| -> Option<String> {
        current_created
            .cloned()
            .flatten()
            .or_else(|| Some(now.to_string()))
    };

    let mut user = desired.user.clone();
    user.tenant_id = Some(tenant_id.to_string());
    user.created_at = user
        .created_at
        .or_else(|| created(current.map(|c| &c.user.created_at)));
    user.updated_at = Some(now.to_string());
    let same_status = current.is_some_and(|c| c.user.status == desired.user.status);
    user.status_updated_at = user.status_updated_at.or_else(|| {
        if same_status {
            current.and_then(|c| c.user.status_updated_at.clone())
        } else {
            Some(now.to_string())
        }
    });
    into.users.push(user);

    // What every sub-record of the user gets: its owner, and the timestamps of the record it
    // replaces (`existing`), or now.
    macro_rules! stamp {
        ($record:ident, $existing:expr) => {
            $record.tenant_id = Some(tenant_id.to_string());
            $record.user_pool_id = Some(pool_id.clone());
            $record.user_id = Some(user_id.clone());
            $record.created_at = $record
                .created_at
                .or_else(|| created($existing.map(|e| &e.created_at)));
            $record.updated_at = Some(now.to_string());
        };
    }
    for record in &desired.identifiers {
        let mut record = (*record).clone();
        record.id = Some(identifier_id(&record, &user_id, current));
        let key = natural_key(record.kind.as_deref(), record.identifier.as_deref());
        let existing = current.and_then(|c| {
            c.identifiers
                .iter()
                .find(|o| natural_key(o.kind.as_deref(), o.identifier.as_deref()) == key)
        });
        stamp!(record, existing);
        record.identifier_lc = record.identifier.as_deref().map(str::to_lowercase);
        into.user_identifiers.push(record);
    }
    for record in &desired.addresses {
        let mut record = (*record).clone();
        record.id = Some(address_id(&record, &user_id, current));
        let key = natural_key(record.kind.as_deref(), record.address.as_deref());
        let existing = current.and_then(|c| {
            c.addresses
                .iter()
                .find(|o| natural_key(o.kind.as_deref(), o.address.as_deref()) == key)
        });
        stamp!(record, existing);
        record.address_lc = record.address.as_deref().map(str::to_lowercase);
        if record.verified == Some(true) && record.verified_at.is_none() {
            record.verified_at = existing
                .and_then(|e| e.verified_at.clone())
                .or_else(|| Some(now.to_string()));
        }
        into.user_verifiable_addresses.push(record);
    }
    for record in &desired.credentials {
        let mut record = (*record).clone();
        record.id = Some(credential_id(&record, &user_id, current));
        let existing = current.and_then(|c| c.credentials.iter().find(|o| o.id == record.id));
        stamp!(record, existing);
        into.user_credentials.push(record);
    }
    let groups: BTreeSet<&str> = desired.groups.iter().copied().collect();
    for group_id in groups {
        into.group_members.push(GroupMember {
            group_id: Some(group_id.to_string()),
            tenant_id: Some(tenant_id.to_string()),
            user_id: Some(user_id.clone()),
            user_pool_id: Some(pool_id.clone()),
            extra: Default::default(),
        });
    }
}

/// The import requests that carry out `plan`: first one with the pools and groups to create or
/// update (if any), then the users in batches of at most `batch_size` (capped at
/// [`MAX_USERS_PER_REQUEST`] whatever is asked).
pub fn build_batches(
    plan: &Plan,
    current: &TenantDump,
    desired: &TenantDump,
    tenant_id: &str,
    now: &str,
    batch_size: usize,
) -> Vec<Batch> {
    let builder = BatchBuilder::new(plan, current, desired, tenant_id, now, batch_size);
    let mut batches: Vec<Batch> = builder.pool_batch().into_iter().collect();
    batches.extend((0..builder.user_batch_count()).map(|n| builder.user_batch(n)));
    batches
}

/// The batches of [`build_batches`], one at a time and in any order: each user batch is built
/// on its own from the indexes made once here, so callers can build them in parallel or as
/// they are needed, and never hold more of them than they want.
pub struct BatchBuilder<'a> {
    plan: &'a Plan,
    desired: &'a TenantDump,
    current_index: TenantIndex<'a>,
    desired_index: TenantIndex<'a>,
    tenant_id: &'a str,
    now: &'a str,
    batch_size: usize,
    /// Whether the plan changes pools or groups: then batch 0 carries them.
    has_pool_batch: bool,
}

impl<'a> BatchBuilder<'a> {
    /// Indexes `current` and `desired` (both at once, on two threads).
    pub fn new(
        plan: &'a Plan,
        current: &'a TenantDump,
        desired: &'a TenantDump,
        tenant_id: &'a str,
        now: &'a str,
        batch_size: usize,
    ) -> Self {
        let (current_index, desired_index) = rayon::join(
            || TenantIndex::build(current),
            || TenantIndex::build(desired),
        );
        BatchBuilder {
            plan,
            desired,
            current_index,
            desired_index,
            tenant_id,
            now,
            batch_size: batch_size.clamp(1, MAX_USERS_PER_REQUEST),
            has_pool_batch: !plan.pools.changes.is_empty() || !plan.groups.changes.is_empty(),
        }
    }

    /// The request with the pools and groups to create or update, numbered 0, if any.
    pub fn pool_batch(&self) -> Option<Batch> {
        if !self.has_pool_batch {
            return None;
        }
        let ids = |changes: &'a RecordChanges| -> BTreeSet<&'a str> {
            changes.changes.iter().map(|c| c.id.as_str()).collect()
        };
        let (pool_ids, group_ids) = (ids(&self.plan.pools), ids(&self.plan.groups));
        let mut body = TenantDump::default();
        for pool in &self.desired.pools {
            if pool.id.as_deref().is_some_and(|id| pool_ids.contains(id)) {
                let mut pool = pool.clone();
                pool.tenant_id = Some(self.tenant_id.to_string());
                body.pools.push(pool);
            }
        }
        for group in &self.desired.groups {
            if group.id.as_deref().is_some_and(|id| group_ids.contains(id)) {
                let mut group = group.clone();
                group.tenant_id = Some(self.tenant_id.to_string());
                body.groups.push(group);
            }
        }
        Some(Batch {
            number: 0,
            users: Vec::new(),
            body,
        })
    }

    /// How many user batches the plan needs.
    pub fn user_batch_count(&self) -> usize {
        self.plan.changes.len().div_ceil(self.batch_size)
    }

    /// The changes of the `n`-th user batch (from 0).
    pub fn user_batch_changes(&self, n: usize) -> &'a [UserChange] {
        let start = (n * self.batch_size).min(self.plan.changes.len());
        let end = (start + self.batch_size).min(self.plan.changes.len());
        &self.plan.changes[start..end]
    }

    /// The `n`-th user batch (from 0), numbered after the pool batch when there is one.
    pub fn user_batch(&self, n: usize) -> Batch {
        self.user_batch_with(n, &TenantDump::default())
    }

    /// [`BatchBuilder::user_batch`], with the desired records of users the desired document
    /// given to [`BatchBuilder::new`] does not hold (creates planned without their records,
    /// [`crate::sieve::LightCreates`]) in `more`.
    pub fn user_batch_with(&self, n: usize, more: &TenantDump) -> Batch {
        let chunk = self.user_batch_changes(n);
        let more_index = TenantIndex::build(more);
        let mut body = TenantDump::default();
        let mut users = Vec::with_capacity(chunk.len());
        for change in chunk {
            let key = change.key();
            let Some(desired_user) = self
                .desired_index
                .users
                .get(&key)
                .or_else(|| more_index.users.get(&key))
            else {
                continue;
            };
            let current_user = match change.action {
                Action::Create => None,
                Action::Update | Action::Delete => self.current_index.users.get(&key),
            };
            materialize_user(
                desired_user,
                current_user,
                self.tenant_id,
                self.now,
                &mut body,
            );
            users.push(key);
        }
        Batch {
            number: n + usize::from(self.has_pool_batch),
            users,
            body,
        }
    }
}

/// What an `update`-mode import does to a tenant, as a pure function: every user in `body`
/// replaces the user of the same id (record and all sub-records); pools and groups are upserted
/// by id. poolsync's own checks use it to predict the result of a plan.
pub fn merge_update(current: &TenantDump, body: &TenantDump) -> TenantDump {
    let replaced: BTreeSet<&str> = body.users.iter().filter_map(|u| u.id.as_deref()).collect();
    let keep =
        |user_id: &Option<String>| !user_id.as_deref().is_some_and(|id| replaced.contains(id));
    let mut result = current.clone();
    result.users.retain(|r| keep(&r.id));
    result.user_identifiers.retain(|r| keep(&r.user_id));
    result
        .user_verifiable_addresses
        .retain(|r| keep(&r.user_id));
    result.user_credentials.retain(|r| keep(&r.user_id));
    result.group_members.retain(|r| keep(&r.user_id));
    result.users.extend(body.users.iter().cloned());
    result
        .user_identifiers
        .extend(body.user_identifiers.iter().cloned());
    result
        .user_verifiable_addresses
        .extend(body.user_verifiable_addresses.iter().cloned());
    result
        .user_credentials
        .extend(body.user_credentials.iter().cloned());
    result
        .group_members
        .extend(body.group_members.iter().cloned());

    // Pools and groups are few: a linear search per record is cheaper than an index.
    for pool in &body.pools {
        match result.pools.iter_mut().find(|p| p.id == pool.id) {
            Some(existing) => *existing = pool.clone(),
            None => result.pools.push(pool.clone()),
        }
    }
    for group in &body.groups {
        match result.groups.iter_mut().find(|g| g.id == group.id) {
            Some(existing) => *existing = group.clone(),
            None => result.groups.push(group.clone()),
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffOptions, diff};
    use serde_json::json;

    fn dump(value: serde_json::Value) -> TenantDump {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn batches_hold_whole_users_with_derived_fields_and_never_more_than_100() {
        let current = dump(json!({"pools": [{"id": "p", "name": "P"}]}));
        let users: Vec<_> = (0..250)
            .map(|n| json!({"id": format!("u{n:03}"), "user_pool_id": "p", "status": "active"}))
            .collect();
        let identifiers: Vec<_> = (0..250)
            .map(|n| json!({"user_id": format!("u{n:03}"), "type": "email", "identifier": format!("User{n}@X.io")}))
            .collect();
        let desired = dump(json!({"users": users, "user_identifiers": identifiers}));
        let plan = diff(&current, &desired, &DiffOptions::default()).unwrap();
        let batches = build_batches(
            &plan,
            &current,
            &desired,
            "acme",
            "2026-01-01T00:00:00Z",
            500,
        );
        let sizes: Vec<usize> = batches.iter().map(|b| b.body.users.len()).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let identifier = &batches[0].body.user_identifiers[0];
        assert_eq!(identifier.tenant_id.as_deref(), Some("acme"));
        assert_eq!(identifier.identifier_lc.as_deref(), Some("user0@x.io"));
        assert_eq!(identifier.user_pool_id.as_deref(), Some("p"));
        assert_eq!(
            identifier.created_at.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(batches[2].users.len(), 50);
    }

    #[test]
    fn the_builder_makes_each_batch_alone_and_in_any_order() {
        let current = dump(json!({"pools": [{"id": "p", "name": "P"}]}));
        let users: Vec<_> = (0..7)
            .map(|n| json!({"id": format!("u{n}"), "user_pool_id": "p", "status": "active"}))
            .collect();
        let desired = dump(
            json!({"pools": [{"id": "p", "name": "P", "description": "new"}],
            "users": users}),
        );
        let plan = diff(&current, &desired, &DiffOptions::default()).unwrap();
        let now = "2026-01-01T00:00:00Z";
        let all = build_batches(&plan, &current, &desired, "t", now, 3);
        let builder = BatchBuilder::new(&plan, &current, &desired, "t", now, 3);
        assert_eq!(builder.user_batch_count(), 3);
        let mut alone: Vec<Batch> = (0..3).rev().map(|n| builder.user_batch(n)).collect();
        alone.push(builder.pool_batch().unwrap());
        alone.reverse();
        assert_eq!(alone, all);
        assert_eq!(
            all.iter().map(|b| b.number).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(all[3].users.len(), 1);
    }

    #[test]
    fn applying_the_batches_converges() {
        let current = dump(json!({
            "pools": [{"id": "p", "name": "P"}],
            "users": [{"id": "u1", "user_pool_id": "p", "status": "active", "created_at": "2020-01-01T00:00:00Z"}],
            "user_identifiers": [{"id": "i1", "user_id": "u1", "type": "email", "identifier": "a@x.io"},
                                 {"id": "i2", "user_id": "u1", "type": "uid", "identifier": "old"}]
        }));
        let desired = dump(json!({
            "pools": [{"id": "p", "name": "P"}, {"id": "q", "name": "Q"}],
            "users": [{"id": "u1", "user_pool_id": "p", "status": "inactive"},
                      {"id": "u2", "user_pool_id": "q", "status": "active"}],
            "user_identifiers": [{"user_id": "u1", "type": "email", "identifier": "A@x.io"}]
        }));
        let plan = diff(&current, &desired, &DiffOptions::default()).unwrap();
        let mut tenant = current.clone();
        for batch in build_batches(&plan, &current, &desired, "t", "2026-01-01T00:00:00Z", 100) {
            tenant = merge_update(&tenant, &batch.body);
        }
        let after = diff(&tenant, &desired, &DiffOptions::default()).unwrap();
        assert!(!after.has_changes(), "{after:#?}");
        let user = tenant
            .users
            .iter()
            .find(|u| u.id.as_deref() == Some("u1"))
            .unwrap();
        assert_eq!(user.created_at.as_deref(), Some("2020-01-01T00:00:00Z"));
        let kept = tenant
            .user_identifiers
            .iter()
            .find(|i| i.user_id.as_deref() == Some("u1"))
            .unwrap();
        assert_eq!(
            kept.id.as_deref(),
            Some("i1"),
            "the matched identifier keeps its id"
        );
        assert_eq!(
            tenant.user_identifiers.len(),
            1,
            "the identifier not sent is gone"
        );
    }
}
