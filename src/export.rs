//! Shaping an exported tenant for Git: canonical order, codes stripped, pools filtered.
//!
//! The export itself (the HTTP GET) lives in [`crate::client`]; this module is the pure part that
//! makes two exports of the same tenant byte-identical, so a Git diff shows only real changes.

use crate::model::TenantDump;
use std::collections::BTreeSet;

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

/// Sorts every array by a stable key and drops one-time codes.
pub fn canonicalize(dump: &mut TenantDump) {
    fn key(parts: &[&Option<String>]) -> Vec<String> {
        parts
            .iter()
            .map(|p| (*p).clone().unwrap_or_default())
            .collect()
    }
    dump.codes.clear();
    dump.pools.sort_by_cached_key(|r| key(&[&r.id]));
    dump.schemas.sort_by_cached_key(|r| key(&[&r.id]));
    dump.users
        .sort_by_cached_key(|r| key(&[&r.user_pool_id, &r.id]));
    dump.user_identifiers
        .sort_by_cached_key(|r| key(&[&r.user_id, &r.kind, &r.identifier_lc, &r.id]));
    dump.user_verifiable_addresses
        .sort_by_cached_key(|r| key(&[&r.user_id, &r.kind, &r.address_lc, &r.id]));
    dump.user_credentials
        .sort_by_cached_key(|r| key(&[&r.user_id, &r.kind, &r.id]));
    dump.groups
        .sort_by_cached_key(|r| key(&[&r.user_pool_id, &r.id]));
    dump.group_members
        .sort_by_cached_key(|r| key(&[&r.group_id, &r.user_id]));
}

/// Writes a canonical export as pretty JSON with a final newline.
pub fn to_pretty_json(dump: &TenantDump, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, dump)?;
    out.write_all(b"\n")
}

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
