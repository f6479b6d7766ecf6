//! The canonical form of a user and of a pool: what the diff compares and what patches address.
//!
//! A normalized user is one JSON object: the user record's own fields (`status`, `payload`,
//! `metadata`...) plus `identifiers`, `verifiable_addresses` and `credentials` as objects keyed by
//! natural key (`type:lower-cased value`, or `type` for credentials) and `groups` as a sorted
//! array of group ids. Keying sub-records makes the comparison blind to array order and gives
//! patches stable paths such as `/identifiers/email:alice@example.com/identifier`.
//!
//! Server-managed and derived fields (`tenant_id`, timestamps, `identifier_lc`, `address_lc`,
//! the sub-records' `user_id`/`user_pool_id`) are dropped; `null`, `{}` and `[]` are the same as
//! absent. Pure functions of data: no I/O, no clock.

use crate::index::{Problem, UserAggregate, shorten};
use crate::model::{Object, User, UserCredential, UserIdentifier, UserVerifiableAddress};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Namespace of the deterministic (v5) ids poolsync gives sub-records that have none.
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_1f4e_2b9d_4c57_9a3e_8d52_7c0b_51aa);

/// Fields of a user record that the server manages or derives.
pub const USER_SERVER_FIELDS: &[&str] = &[
    "id",
    "user_pool_id",
    "tenant_id",
    "created_at",
    "updated_at",
    "status_updated_at",
];
/// Fields of a sub-record that the server manages, that derive from another field, or that
/// repeat what the parent user already says.
pub const SUB_RECORD_SERVER_FIELDS: &[&str] = &[
    "tenant_id",
    "user_pool_id",
    "user_id",
    "identifier_lc",
    "address_lc",
    "created_at",
    "updated_at",
    "verified_at",
];
/// Fields of a pool or group record that the server manages.
pub const RECORD_SERVER_FIELDS: &[&str] = &["id", "tenant_id", "created_at", "updated_at"];

/// Keys a normalized user uses for its sub-records.
pub const IDENTIFIERS: &str = "identifiers";
/// See [`IDENTIFIERS`].
pub const ADDRESSES: &str = "verifiable_addresses";
/// See [`IDENTIFIERS`].
pub const CREDENTIALS: &str = "credentials";
/// See [`IDENTIFIERS`].
pub const GROUPS: &str = "groups";

/// The deterministic id of a sub-record that has none: a v5 UUID of its kind, its user, its type
/// and its lower-cased value. Re-running a plan therefore never invents a second id for the same
/// identifier.
pub fn derived_id(record_kind: &str, user_id: &str, kind: &str, value_lc: &str) -> String {
    let name = format!("{record_kind}\u{0}{user_id}\u{0}{kind}\u{0}{value_lc}");
    Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).to_string()
}

/// Natural key of an identifier or address: `type:lower-cased value`.
pub fn natural_key(kind: Option<&str>, value: Option<&str>) -> String {
    format!(
        "{}:{}",
        kind.unwrap_or_default(),
        value.unwrap_or_default().to_lowercase()
    )
}

/// Removes `null`, `{}` and `[]` members from objects, recursively, so that they compare equal
/// to absent ones. Array elements are kept in place: their position is data.
pub fn prune_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(prune_empty);
            map.retain(|_, member| !is_empty(member));
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn to_object(record: &impl Serialize) -> Object {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        // The model types are structs with string keys: they always serialize to an object.
        _ => Object::new(),
    }
}

fn strip(mut object: Object, fields: &[&str]) -> Object {
    for field in fields {
        object.remove(*field);
    }
    object
}

/// The id of an identifier: its own, else that of the matched user's identifier with the same
/// natural key, else a [`derived_id`].
pub fn identifier_id(
    record: &UserIdentifier,
    user_id: &str,
    matched: Option<&UserAggregate<'_>>,
) -> String {
    let key = natural_key(record.kind.as_deref(), record.identifier.as_deref());
    record
        .id
        .clone()
        .or_else(|| {
            let current = matched?.identifiers.iter().find(|other| {
                natural_key(other.kind.as_deref(), other.identifier.as_deref()) == key
            })?;
            current.id.clone()
        })
        .unwrap_or_else(|| {
            let (kind, value) = key.split_once(':').unwrap_or_default();
            derived_id("identifier", user_id, kind, value)
        })
}

/// The id of a verifiable address, found like [`identifier_id`].
pub fn address_id(
    record: &UserVerifiableAddress,
    user_id: &str,
    matched: Option<&UserAggregate<'_>>,
) -> String {
    let key = natural_key(record.kind.as_deref(), record.address.as_deref());
    record
        .id
        .clone()
        .or_else(|| {
            let current = matched?.addresses.iter().find(|other| {
                natural_key(other.kind.as_deref(), other.address.as_deref()) == key
            })?;
            current.id.clone()
        })
        .unwrap_or_else(|| {
            let (kind, value) = key.split_once(':').unwrap_or_default();
            derived_id("address", user_id, kind, value)
        })
}

/// The id of a credential: its own, else that of the matched user's credential of the same
/// type, else a [`derived_id`].
pub fn credential_id(
    record: &UserCredential,
    user_id: &str,
    matched: Option<&UserAggregate<'_>>,
) -> String {
    let kind = record.kind.as_deref().unwrap_or_default();
    record
        .id
        .clone()
        .or_else(|| {
            let current = matched?
                .credentials
                .iter()
                .find(|other| other.kind.as_deref().unwrap_or_default() == kind)?;
            current.id.clone()
        })
        .unwrap_or_else(|| derived_id("credential", user_id, kind, ""))
}

/// A user record's own part of its normalized form, before empties are pruned: every field but
/// the server-managed ones.
pub fn user_fields(user: &User) -> Object {
    strip(to_object(user), USER_SERVER_FIELDS)
}

/// A sub-record's entry in its user's normalized form, before empties are pruned and without
/// its `id`: every field but the server-managed ones and `type` (which is in the entry's key).
pub fn sub_record_fields(record: &impl Serialize) -> Object {
    let mut entry = strip(to_object(record), SUB_RECORD_SERVER_FIELDS);
    entry.remove("type");
    entry.remove("id");
    entry
}

/// Removes `null`, `{}` and `[]` members from an object, recursively (see [`prune_empty`]).
fn prune_object(object: &mut Object) {
    object.values_mut().for_each(prune_empty);
    object.retain(|_, member| !is_empty(member));
}

/// Prunes an optional object, and leaves `None` where nothing remains.
fn prune_field(field: &mut Option<Object>) {
    if let Some(object) = field {
        prune_object(object);
        if object.is_empty() {
            *field = None;
        }
    }
}

/// Sets the named `Option` fields of a record to `None`.
macro_rules! clear {
    ($record:ident: $($field:ident),+) => {
        $($record.$field = None;)+
    };
}

/// A record that can be brought to its normalized form in place, without building a `Value`.
///
/// After [`InPlace::strip_in_place`], serializing the record gives the same JSON for two
/// records exactly when their normalized forms ([`user_fields`] or [`sub_record_fields`],
/// pruned) are equal: the fields normalization drops are cleared and empty members pruned,
/// and the rest serializes in a fixed order (declared fields, then the others by key).
pub trait InPlace: Serialize {
    /// Clears the fields normalization drops and prunes empty members.
    fn strip_in_place(&mut self);

    /// The normalized fields as an object, before pruning ([`user_fields`] or
    /// [`sub_record_fields`]).
    fn normalized_fields(&self) -> Object;
}

impl InPlace for User {
    fn normalized_fields(&self) -> Object {
        user_fields(self)
    }

    fn strip_in_place(&mut self) {
        // USER_SERVER_FIELDS, all declared fields.
        clear!(self: id, user_pool_id, tenant_id, created_at, updated_at, status_updated_at);
        prune_field(&mut self.payload);
        prune_field(&mut self.metadata);
        prune_field(&mut self.business_metadata);
        prune_object(&mut self.extra);
    }
}

/// Removes the sub-record server fields a record does not declare from its other fields.
fn strip_extra(extra: &mut Object) {
    if !extra.is_empty() {
        for field in SUB_RECORD_SERVER_FIELDS.iter().chain(&["id", "type"]) {
            extra.remove(*field);
        }
        prune_object(extra);
    }
}

impl InPlace for UserIdentifier {
    fn normalized_fields(&self) -> Object {
        sub_record_fields(self)
    }

    fn strip_in_place(&mut self) {
        clear!(self: id, tenant_id, user_pool_id, user_id, kind, identifier_lc,
            created_at, updated_at);
        strip_extra(&mut self.extra);
    }
}

impl InPlace for UserVerifiableAddress {
    fn normalized_fields(&self) -> Object {
        sub_record_fields(self)
    }

    fn strip_in_place(&mut self) {
        clear!(self: id, tenant_id, user_pool_id, user_id, kind, address_lc, verified_at,
            created_at, updated_at);
        strip_extra(&mut self.extra);
    }
}

impl InPlace for UserCredential {
    fn normalized_fields(&self) -> Object {
        sub_record_fields(self)
    }

    fn strip_in_place(&mut self) {
        clear!(self: id, tenant_id, user_pool_id, user_id, kind, created_at, updated_at);
        if let Some(payload) = &mut self.payload {
            prune_empty(&mut payload.0);
            if is_empty(&payload.0) {
                self.payload = None;
            }
        }
        strip_extra(&mut self.extra);
    }
}

/// A normalized user and the problems met while normalizing it.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedUser {
    /// The canonical object.
    pub value: Value,
    /// Duplicate natural keys and the like, naming the user.
    pub problems: Vec<Problem>,
}

/// The natural keys a user's sub-records take in its normalized form, in record order.
struct SubRecordKeys {
    identifiers: Vec<String>,
    addresses: Vec<String>,
    credentials: Vec<String>,
}

fn sub_record_keys(user: &UserAggregate<'_>) -> SubRecordKeys {
    // Credentials have no value to key on: one per type is the norm, so the type is the key.
    // Several of one type (webauthn keys) are told apart by id.
    let count_of = |kind: Option<&str>| {
        user.credentials
            .iter()
            .filter(|other| other.kind.as_deref() == kind)
            .count()
    };
    SubRecordKeys {
        identifiers: user
            .identifiers
            .iter()
            .map(|r| natural_key(r.kind.as_deref(), r.identifier.as_deref()))
            .collect(),
        addresses: user
            .addresses
            .iter()
            .map(|r| natural_key(r.kind.as_deref(), r.address.as_deref()))
            .collect(),
        credentials: user
            .credentials
            .iter()
            .map(|r| {
                let kind = r.kind.as_deref().unwrap_or_default();
                match (count_of(r.kind.as_deref()) > 1, r.id.as_deref()) {
                    (true, Some(id)) => format!("{kind}:{id}"),
                    _ => kind.to_string(),
                }
            })
            .collect(),
    }
}

fn key_problems(user: &UserAggregate<'_>, keys: &SubRecordKeys) -> Vec<Problem> {
    let mut problems = Vec::new();
    let record = || {
        format!(
            "user `{}`",
            shorten(user.user.id.as_deref().unwrap_or_default())
        )
    };
    let mut report = |field: &str, message: String| {
        problems.push(Problem {
            record: record(),
            field: Some(field.into()),
            message,
        })
    };
    let mut seen = std::collections::HashSet::new();
    for key in &keys.identifiers {
        if !seen.insert(key) {
            report(
                "user_identifiers",
                format!("identifier `{}` appears twice", shorten(key)),
            );
        }
    }
    seen.clear();
    for key in &keys.addresses {
        if !seen.insert(key) {
            report(
                "user_verifiable_addresses",
                format!("verifiable address `{}` appears twice", shorten(key)),
            );
        }
    }
    seen.clear();
    for key in &keys.credentials {
        if !seen.insert(key) {
            report(
                "user_credentials",
                format!(
                    "several `{}` credentials without ids: give each an `id` to tell them apart",
                    shorten(key)
                ),
            );
        }
    }
    for name in [IDENTIFIERS, ADDRESSES, CREDENTIALS, GROUPS] {
        if user.user.extra.contains_key(name) {
            report(
                name,
                format!(
                    "the user record has a field `{name}`, which poolsync uses for sub-records"
                ),
            );
        }
    }
    problems
}

/// What would keep a user from normalizing cleanly (sub-records repeated within the user, a
/// field poolsync reserves), found without building the normalized form.
pub fn user_problems(user: &UserAggregate<'_>) -> Vec<Problem> {
    key_problems(user, &sub_record_keys(user))
}

/// Normalizes a whole user. `matched` is the same user's current state, if any: sub-records
/// without an id take the id of the current sub-record with the same natural key, so that an
/// export stripped of ids still matches the tenant.
pub fn normalize_user(
    user: &UserAggregate<'_>,
    matched: Option<&UserAggregate<'_>>,
) -> NormalizedUser {
    let user_id = user.user.id.as_deref().unwrap_or_default();
    let keys = sub_record_keys(user);
    let problems = key_problems(user, &keys);
    let mut object = user_fields(user.user);
    fn entry(record: &impl Serialize, id: String) -> Value {
        let mut entry = sub_record_fields(record);
        entry.insert("id".into(), Value::String(id));
        Value::Object(entry)
    }
    let identifiers: Map<String, Value> = user
        .identifiers
        .iter()
        .zip(keys.identifiers)
        .map(|(r, key)| (key, entry(*r, identifier_id(r, user_id, matched))))
        .collect();
    let addresses: Map<String, Value> = user
        .addresses
        .iter()
        .zip(keys.addresses)
        .map(|(r, key)| (key, entry(*r, address_id(r, user_id, matched))))
        .collect();
    let credentials: Map<String, Value> = user
        .credentials
        .iter()
        .zip(keys.credentials)
        .map(|(r, key)| (key, entry(*r, credential_id(r, user_id, matched))))
        .collect();

    let mut groups: Vec<&str> = user.groups.clone();
    groups.sort_unstable();
    groups.dedup();
    let groups = groups
        .into_iter()
        .map(|g| Value::String(g.into()))
        .collect();

    object.insert(IDENTIFIERS.into(), Value::Object(identifiers));
    object.insert(ADDRESSES.into(), Value::Object(addresses));
    object.insert(CREDENTIALS.into(), Value::Object(credentials));
    object.insert(GROUPS.into(), Value::Array(groups));
    let mut value = Value::Object(object);
    prune_empty(&mut value);
    NormalizedUser { value, problems }
}

/// Normalizes a pool or group record: server-managed fields dropped, empties pruned.
pub fn normalize_record(record: &impl Serialize) -> Value {
    let mut value = Value::Object(strip(to_object(record), RECORD_SERVER_FIELDS));
    prune_empty(&mut value);
    value
}

/// A path inside a normalized user to leave out of the comparison, such as
/// `/metadata/last_sync`. A segment `*` matches any key (`/identifiers/*/metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnorePath {
    text: String,
    segments: Vec<String>,
}

impl IgnorePath {
    /// Parses a JSON-pointer-like path (`~1` for `/`, `~0` for `~` inside a segment).
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "ignore path `{text}` must start with `/`, like `/metadata/last_sync`"
            ));
        };
        if rest.is_empty() {
            return Err("ignore path `/` would ignore the whole user".into());
        }
        let segments = rest
            .split('/')
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect();
        Ok(IgnorePath {
            text: text.to_string(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path's segments, unescaped.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Removes what this path matches from `value`; returns whether anything was removed.
    pub fn remove_from(&self, value: &mut Value) -> bool {
        remove_path(value, &self.segments)
    }
}

/// What an ignore path removes, by the part of a normalized user that holds it: the user
/// record's own fields, the entries of one sub-record kind, or the group memberships. Applied
/// part by part (as the sieve does, record by record), the targets of a path remove what
/// [`IgnorePath::remove_from`] removes from the whole user, and match where it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreTarget<'a> {
    /// The user record's normalized fields: [`remove_path`] with these segments.
    UserFields(&'a [String]),
    /// Entries under [`IDENTIFIERS`], [`ADDRESSES`] or [`CREDENTIALS`]: those keyed `key` (all
    /// when `None`), and what happens to each.
    Entries {
        /// Which kind of sub-record.
        container: &'static str,
        /// The natural key, or `None` for every entry.
        key: Option<&'a str>,
        /// What the path does to a matching entry.
        effect: EntryEffect<'a>,
    },
    /// Every group membership (`/groups`).
    Groups,
}

/// What an ignore path does to a sub-record's entry, which always holds an `id` (its own, the
/// matched one or a derived one) beside its other fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryEffect<'a> {
    /// The entry leaves the user (the path ends at it, or clears it with `*`).
    Remove,
    /// Its `id` is not compared.
    IgnoreId,
    /// [`remove_path`] inside its fields other than `id` (whose value is a string, which no
    /// longer path enters).
    Inside(&'a [String]),
}

impl IgnorePath {
    /// Where this path removes something; see [`IgnoreTarget`].
    pub fn targets(&self) -> Vec<IgnoreTarget<'_>> {
        let Some((first, rest)) = self.segments.split_first() else {
            return Vec::new();
        };
        let entries = |container: &'static str| {
            let Some((key, inside)) = rest.split_first() else {
                return Some(IgnoreTarget::Entries {
                    container,
                    key: None,
                    effect: EntryEffect::Remove,
                });
            };
            let effect = match inside {
                [] => EntryEffect::Remove,
                [only] if only == "*" => EntryEffect::Remove,
                [only] if only == "id" => EntryEffect::IgnoreId,
                [first, ..] if first == "id" => return None,
                inside => EntryEffect::Inside(inside),
            };
            Some(IgnoreTarget::Entries {
                container,
                key: (key != "*").then_some(key.as_str()),
                effect,
            })
        };
        let groups = rest.is_empty().then_some(IgnoreTarget::Groups);
        match first.as_str() {
            "*" => std::iter::once(Some(IgnoreTarget::UserFields(&self.segments)))
                .chain([IDENTIFIERS, ADDRESSES, CREDENTIALS].map(entries))
                .chain([groups])
                .flatten()
                .collect(),
            IDENTIFIERS | ADDRESSES | CREDENTIALS => {
                let container = [IDENTIFIERS, ADDRESSES, CREDENTIALS]
                    .into_iter()
                    .find(|container| container == first)
                    .unwrap_or(IDENTIFIERS);
                entries(container).into_iter().collect()
            }
            GROUPS => groups.into_iter().collect(),
            _ => vec![IgnoreTarget::UserFields(&self.segments)],
        }
    }
}

/// Removes what `segments` (as in [`IgnorePath`], `*` for any key) match inside `value`, then
/// the members left empty on the way; returns whether anything was removed.
pub fn remove_path(value: &mut Value, segments: &[String]) -> bool {
    let Value::Object(map) = value else {
        return false;
    };
    let (first, rest) = match segments.split_first() {
        Some(split) => split,
        None => return false,
    };
    if rest.is_empty() {
        if first == "*" {
            let had = !map.is_empty();
            map.clear();
            return had;
        }
        return map.remove(first).is_some();
    }
    let mut removed = false;
    if first == "*" {
        for child in map.values_mut() {
            removed |= remove_path(child, rest);
        }
    } else if let Some(child) = map.get_mut(first) {
        removed = remove_path(child, rest);
    }
    if removed {
        map.retain(|_, member| !is_empty(member));
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{TenantIndex, UserKey};
    use crate::model::TenantDump;
    use serde_json::json;

    fn dump(value: Value) -> TenantDump {
        serde_json::from_value(value).unwrap()
    }

    fn key(user: &str) -> UserKey {
        UserKey {
            pool_id: "p".into(),
            user_id: user.into(),
        }
    }

    #[test]
    fn sub_records_are_keyed_and_server_fields_dropped() {
        let document = dump(json!({
            "users": [{"id": "u1", "user_pool_id": "p", "tenant_id": "t", "status": "active",
                       "created_at": "2024-01-01T00:00:00Z", "payload": {"name": "A", "x": null},
                       "metadata": {}}],
            "user_identifiers": [
                {"id": "i2", "user_id": "u1", "type": "mobile", "identifier": "+15550001",
                 "identifier_lc": "+15550001", "tenant_id": "t"},
                {"id": "i1", "user_id": "u1", "type": "email", "identifier": "Alice@X.io",
                 "identifier_lc": "alice@x.io", "created_at": "2024-01-01T00:00:00Z"}
            ],
            "group_members": [{"group_id": "g2", "user_id": "u1"}, {"group_id": "g1", "user_id": "u1"}]
        }));
        let index = TenantIndex::build(&document);
        let normalized = normalize_user(&index.users[&key("u1")], None);
        assert_eq!(
            normalized.value,
            json!({
                "status": "active",
                "payload": {"name": "A"},
                "identifiers": {
                    "email:alice@x.io": {"id": "i1", "identifier": "Alice@X.io"},
                    "mobile:+15550001": {"id": "i2", "identifier": "+15550001"}
                },
                "groups": ["g1", "g2"]
            })
        );
        assert!(normalized.problems.is_empty());
    }

    #[test]
    fn missing_ids_come_from_the_current_user_or_are_derived_deterministically() {
        let current = dump(json!({
            "users": [{"id": "u1", "user_pool_id": "p"}],
            "user_identifiers": [{"id": "cur-1", "user_id": "u1", "type": "email", "identifier": "a@x.io"}]
        }));
        let desired = dump(json!({
            "users": [{"id": "u1", "user_pool_id": "p"}],
            "user_identifiers": [
                {"user_id": "u1", "type": "email", "identifier": "A@x.io"},
                {"user_id": "u1", "type": "uid", "identifier": "alice"}
            ]
        }));
        let current_index = TenantIndex::build(&current);
        let desired_index = TenantIndex::build(&desired);
        let matched = &current_index.users[&key("u1")];
        let first = normalize_user(&desired_index.users[&key("u1")], Some(matched));
        let second = normalize_user(&desired_index.users[&key("u1")], Some(matched));
        assert_eq!(first, second);
        let identifiers = &first.value["identifiers"];
        assert_eq!(identifiers["email:a@x.io"]["id"], "cur-1");
        assert_eq!(
            identifiers["uid:alice"]["id"],
            derived_id("identifier", "u1", "uid", "alice")
        );
        assert_eq!(
            Uuid::parse_str(identifiers["uid:alice"]["id"].as_str().unwrap())
                .unwrap()
                .get_version_num(),
            5
        );
    }

    #[test]
    fn duplicate_natural_keys_are_problems() {
        let document = dump(json!({
            "users": [{"id": "u1", "user_pool_id": "p"}],
            "user_identifiers": [
                {"user_id": "u1", "type": "email", "identifier": "a@x.io"},
                {"user_id": "u1", "type": "email", "identifier": "A@X.IO"}
            ]
        }));
        let index = TenantIndex::build(&document);
        let normalized = normalize_user(&index.users[&key("u1")], None);
        assert_eq!(normalized.problems.len(), 1);
        assert!(
            normalized.problems[0]
                .message
                .contains("`email:a@x.io` appears twice")
        );
    }

    #[test]
    fn ignore_paths_remove_matches_and_report_whether_they_matched() {
        let mut value = json!({
            "metadata": {"last_sync": 1, "keep": 2},
            "identifiers": {"email:a": {"id": "1", "metadata": {"m": 1}}, "uid:b": {"id": "2"}}
        });
        assert!(
            IgnorePath::parse("/metadata/last_sync")
                .unwrap()
                .remove_from(&mut value)
        );
        assert!(
            IgnorePath::parse("/identifiers/*/metadata")
                .unwrap()
                .remove_from(&mut value)
        );
        assert!(
            !IgnorePath::parse("/payload/x")
                .unwrap()
                .remove_from(&mut value)
        );
        assert_eq!(
            value,
            json!({"metadata": {"keep": 2},
                   "identifiers": {"email:a": {"id": "1"}, "uid:b": {"id": "2"}}})
        );
        assert!(IgnorePath::parse("metadata").is_err());
        assert_eq!(
            IgnorePath::parse("/payload/a~1b").unwrap().segments,
            vec!["payload", "a/b"]
        );
    }

    #[test]
    fn stripping_in_place_gives_the_normalized_entry() {
        let document = dump(json!({
            "users": [{"id": "u1", "user_pool_id": "p", "tenant_id": "t", "status": "active",
                       "created_at": "x", "updated_at": "y", "status_updated_at": "z",
                       "payload": {"a": null, "b": {"c": {}}, "d": [null], "e": 1},
                       "metadata": {"x": null}, "business_metadata": {}, "kind": "person",
                       "empty": []}],
            "user_identifiers": [{"id": "i", "user_id": "u1", "user_pool_id": "p",
                "tenant_id": "t", "type": "email", "identifier": "A@x.io",
                "identifier_lc": "a@x.io", "created_at": "x", "updated_at": "y",
                "metadata": {"m": null}, "address_lc": "stray", "verified_at": "stray"}],
            "user_verifiable_addresses": [{"id": "a", "user_id": "u1", "user_pool_id": "p",
                "tenant_id": "t", "type": "email", "address": "A@x.io", "address_lc": "a@x.io",
                "status": "active", "verified": true, "verified_at": "x", "created_at": "x",
                "updated_at": "y", "preferred_contact_method": "email", "identifier_lc": "s"}],
            "user_credentials": [{"id": "c", "user_id": "u1", "user_pool_id": "p",
                "tenant_id": "t", "type": "password", "state": "valid", "expires_at": "e",
                "payload": {"hashed_password": {"value": "h", "params": {}}},
                "created_at": "x", "updated_at": "y", "other": {}}]
        }));
        fn check<T: InPlace + Clone>(record: &T, normalized: Object) {
            let mut expected = Value::Object(normalized);
            prune_empty(&mut expected);
            let mut stripped = record.clone();
            stripped.strip_in_place();
            assert_eq!(serde_json::to_value(&stripped).unwrap(), expected);
        }
        check(&document.users[0], user_fields(&document.users[0]));
        check(
            &document.user_identifiers[0],
            sub_record_fields(&document.user_identifiers[0]),
        );
        check(
            &document.user_verifiable_addresses[0],
            sub_record_fields(&document.user_verifiable_addresses[0]),
        );
        check(
            &document.user_credentials[0],
            sub_record_fields(&document.user_credentials[0]),
        );
    }

    #[test]
    fn null_empty_and_absent_are_equal() {
        let mut with_nulls =
            json!({"a": null, "b": {}, "c": [], "d": {"e": null}, "f": [null], "g": ""});
        prune_empty(&mut with_nulls);
        assert_eq!(with_nulls, json!({"f": [null], "g": ""}));
    }
}
