//! Shaping an exported tenant for Git: canonical order, codes stripped, pools filtered.
//!
//! The export itself (the HTTP GET) lives in [`crate::client`]; this module is the pure part that
//! makes two exports of the same tenant byte-identical, so a Git diff shows only real changes.
//!
//! Two ways to the same bytes: the typed one ([`filter_pools`], [`canonicalize`],
//! [`to_pretty_json`] on a parsed [`TenantDump`]), for documents already in memory such as prune
//! backups; and [`CanonicalExport`], which `poolsync export` uses to write a body of millions of
//! users straight from its bytes (in memory, or spooled to a file), with an index of its records
//! instead of a tree (`canonical`).

use crate::model::{
    GroupMember, InternalGroup, Pool, Schema, TenantDump, User, UserCredential, UserIdentifier,
    UserVerifiableAddress,
};
use std::collections::BTreeSet;
use std::io::{self, Write};

/// Keeps only the records of `pools` (all when empty).
pub fn filter_pools(dump: &mut TenantDump, pools: &[String]) {
    if pools.is_empty() {
        return;
    }
    let wanted: BTreeSet<&str> = pools.iter().map(String::as_str).collect();
    let keep = |pool: &Option<String>| pool.as_deref().is_some_and(|p| wanted.contains(p));
    dump.pools.retain(|r| keep(&r.id));
    dump.users.retain(|r| keep(&r.user_pool_id));
    let users: BTreeSet<String> = dump.users.iter().filter_map(|u| u.id.clone()).collect();
    let owned = |user: &Option<String>| user.as_ref().is_some_and(|u| users.contains(u));
    dump.user_identifiers.retain(|r| owned(&r.user_id));
    dump.user_verifiable_addresses.retain(|r| owned(&r.user_id));
    dump.user_credentials.retain(|r| owned(&r.user_id));
    dump.codes.retain(|r| owned(&r.user_id));
    dump.groups.retain(|r| keep(&r.user_pool_id));
    dump.group_members.retain(|r| owned(&r.user_id));
}

/// The whole records of `users` (with their sub-records, memberships, and the pools and groups
/// they belong to), as a document that `apply --desired` can restore.
pub fn extract_users(dump: &TenantDump, users: &[(String, String)]) -> TenantDump {
    let wanted: BTreeSet<(&str, &str)> = users
        .iter()
        .map(|(pool, user)| (pool.as_str(), user.as_str()))
        .collect();
    let mut result = TenantDump {
        users: dump
            .users
            .iter()
            .filter(|u| {
                let key = (
                    u.user_pool_id.as_deref().unwrap_or_default(),
                    u.id.as_deref().unwrap_or_default(),
                );
                wanted.contains(&key)
            })
            .cloned()
            .collect(),
        ..TenantDump::default()
    };
    let ids: BTreeSet<&str> = result
        .users
        .iter()
        .filter_map(|u| u.id.as_deref())
        .collect();
    let pools: BTreeSet<&str> = result
        .users
        .iter()
        .filter_map(|u| u.user_pool_id.as_deref())
        .collect();
    let owned = |user: &Option<String>| user.as_deref().is_some_and(|u| ids.contains(u));
    result.user_identifiers = dump
        .user_identifiers
        .iter()
        .filter(|r| owned(&r.user_id))
        .cloned()
        .collect();
    result.user_verifiable_addresses = dump
        .user_verifiable_addresses
        .iter()
        .filter(|r| owned(&r.user_id))
        .cloned()
        .collect();
    result.user_credentials = dump
        .user_credentials
        .iter()
        .filter(|r| owned(&r.user_id))
        .cloned()
        .collect();
    result.group_members = dump
        .group_members
        .iter()
        .filter(|r| owned(&r.user_id))
        .cloned()
        .collect();
    let groups: BTreeSet<&str> = result
        .group_members
        .iter()
        .filter_map(|m| m.group_id.as_deref())
        .collect();
    result.groups = dump
        .groups
        .iter()
        .filter(|g| g.id.as_deref().is_some_and(|id| groups.contains(id)))
        .cloned()
        .collect();
    result.pools = dump
        .pools
        .iter()
        .filter(|p| p.id.as_deref().is_some_and(|id| pools.contains(id)))
        .cloned()
        .collect();
    result
}

/// The sort key of a record, as [`canonicalize`] orders an array: its parts compared in turn, a
/// missing part as the empty string; records with equal keys keep their order.
trait Keyed<const N: usize> {
    fn key(&self) -> [&Option<String>; N];
}

impl Keyed<1> for Pool {
    fn key(&self) -> [&Option<String>; 1] {
        [&self.id]
    }
}

impl Keyed<1> for Schema {
    fn key(&self) -> [&Option<String>; 1] {
        [&self.id]
    }
}

impl Keyed<2> for User {
    fn key(&self) -> [&Option<String>; 2] {
        [&self.user_pool_id, &self.id]
    }
}

impl Keyed<4> for UserIdentifier {
    fn key(&self) -> [&Option<String>; 4] {
        [&self.user_id, &self.kind, &self.identifier_lc, &self.id]
    }
}

impl Keyed<4> for UserVerifiableAddress {
    fn key(&self) -> [&Option<String>; 4] {
        [&self.user_id, &self.kind, &self.address_lc, &self.id]
    }
}

impl Keyed<3> for UserCredential {
    fn key(&self) -> [&Option<String>; 3] {
        [&self.user_id, &self.kind, &self.id]
    }
}

impl Keyed<2> for InternalGroup {
    fn key(&self) -> [&Option<String>; 2] {
        [&self.user_pool_id, &self.id]
    }
}

impl Keyed<2> for GroupMember {
    fn key(&self) -> [&Option<String>; 2] {
        [&self.group_id, &self.user_id]
    }
}

fn sort_by_key<T: Keyed<N>, const N: usize>(records: &mut [T]) {
    records.sort_by_cached_key(|record| {
        record
            .key()
            .map(|part| part.as_deref().unwrap_or_default().to_string())
    });
}

/// Sorts every array by a stable key and drops one-time codes.
pub fn canonicalize(dump: &mut TenantDump) {
    dump.codes.clear();
    sort_by_key(&mut dump.pools);
    sort_by_key(&mut dump.schemas);
    sort_by_key(&mut dump.users);
    sort_by_key(&mut dump.user_identifiers);
    sort_by_key(&mut dump.user_verifiable_addresses);
    sort_by_key(&mut dump.user_credentials);
    sort_by_key(&mut dump.groups);
    sort_by_key(&mut dump.group_members);
}

/// Writes a canonical export as pretty JSON with a final newline.
pub fn to_pretty_json(dump: &TenantDump, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, dump)?;
    out.write_all(b"\n")
}

mod canonical;

pub(crate) use canonical::pretty;
pub use canonical::{CanonicalExport, ExportCounts};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_is_independent_of_input_order_and_drops_codes() {
        let a: TenantDump = serde_json::from_value(json!({
            "users": [{"id": "b", "user_pool_id": "p"}, {"id": "a", "user_pool_id": "p"}],
            "user_identifiers": [{"id": "2", "user_id": "b"}, {"id": "1", "user_id": "a"}],
            "codes": [{"id": "c", "user_id": "a"}]
        }))
        .unwrap();
        let mut b = a.clone();
        b.users.reverse();
        b.user_identifiers.reverse();
        let mut a = a;
        canonicalize(&mut a);
        canonicalize(&mut b);
        assert_eq!(a, b);
        assert!(a.codes.is_empty());
        assert_eq!(a.users[0].id.as_deref(), Some("a"));
    }

    /// The typed path: what `poolsync export` wrote before it streamed.
    #[test]
    fn pool_filter_keeps_only_those_pools_and_their_users() {
        let mut dump: TenantDump = serde_json::from_value(json!({
            "pools": [{"id": "p"}, {"id": "q"}],
            "users": [{"id": "a", "user_pool_id": "p"}, {"id": "b", "user_pool_id": "q"}],
            "user_identifiers": [{"user_id": "a"}, {"user_id": "b"}],
            "groups": [{"id": "g", "user_pool_id": "q"}]
        }))
        .unwrap();
        filter_pools(&mut dump, &["p".to_string()]);
        assert_eq!(dump.pools.len(), 1);
        assert_eq!(dump.users.len(), 1);
        assert_eq!(dump.user_identifiers.len(), 1);
        assert!(dump.groups.is_empty());
    }
}
