//! Checks a desired document without touching anything and reports every problem found.
//!
//! Covers what typed parsing cannot: required fields (except those poolsync derives), enum
//! values per the vendor spec, duplicate user and pool ids, identifiers held twice within a
//! pool, sub-records of missing users, users of unknown pools, and malformed e-mail and E.164
//! values. JSON syntax and field types are checked earlier, by [`crate::load`]. Pure: no I/O.

use crate::index::{Problem, TenantIndex, record_name, shorten, thousands};
use crate::model::{
    InternalGroup, Pool, TenantDump, User, UserCredential, UserIdentifier, UserVerifiableAddress,
    enum_values,
};
use crate::normalize::{natural_key, user_problems};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// What the validator may assume beyond the document.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Pools that exist in the tenant although the file does not list them.
    pub known_pools: Vec<String>,
}

/// A record's name, formatted (by [`record_name`]) only when a problem is reported.
#[derive(Clone, Copy, Debug)]
struct Name<'a> {
    array: &'static str,
    position: usize,
    id: Option<&'a str>,
}

impl<'a> Name<'a> {
    fn new(array: &'static str, position: usize, id: Option<&'a str>) -> Self {
        Name {
            array,
            position,
            id,
        }
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&record_name(self.array, self.position, self.id))
    }
}

/// Collects the problems of records checked one at a time.
#[derive(Debug, Default)]
pub struct Checker {
    /// What was found, in the order checked.
    pub problems: Vec<Problem>,
}

impl Checker {
    fn report(&mut self, record: Name<'_>, field: &str, message: String) {
        self.problems.push(Problem {
            record: record.to_string(),
            field: Some(field.to_string()),
            message,
        });
    }

    fn require(&mut self, record: Name<'_>, field: &str, present: bool) {
        if !present {
            self.report(record, field, "missing: this field is required".into());
        }
    }

    fn check_id(&mut self, record: Name<'_>, field: &str, id: Option<&str>) {
        if let Some(problem) = id.and_then(id_problem) {
            self.report(record, field, problem);
        }
    }

    fn check_enum(&mut self, array: &str, record: Name<'_>, field: &str, value: Option<&str>) {
        let (Some(value), Some(allowed)) = (value, enum_values(array, field)) else {
            return;
        };
        if !allowed.contains(&value) {
            let allowed: Vec<String> = allowed.iter().map(|v| format!("`{v}`")).collect();
            self.report(
                record,
                field,
                format!("`{}` is not one of {}", shorten(value), allowed.join(", ")),
            );
        }
    }

    /// The checks of one `users` record that need no other record.
    pub fn user(&mut self, position: usize, user: &User) {
        let name = Name::new("users", position, user.id.as_deref());
        self.check_id(name, "id", user.id.as_deref());
        self.check_id(name, "user_pool_id", user.user_pool_id.as_deref());
        self.require(name, "status", user.status.is_some());
        self.check_enum("users", name, "status", user.status.as_deref());
    }

    /// The checks of one `user_identifiers` record that need no other record.
    pub fn identifier(&mut self, position: usize, identifier: &UserIdentifier) {
        let name = Name::new("user_identifiers", position, identifier.id.as_deref());
        self.check_id(name, "id", identifier.id.as_deref());
        if identifier
            .identifier
            .as_deref()
            .is_some_and(|v| v.len() > MAX_ID_LENGTH)
        {
            self.report(
                name,
                "identifier",
                format!("is longer than {} bytes", thousands(MAX_ID_LENGTH)),
            );
        }
        self.require(name, "type", identifier.kind.is_some());
        self.require(name, "identifier", identifier.identifier.is_some());
        self.check_enum("user_identifiers", name, "type", identifier.kind.as_deref());
        self.check_value(
            name,
            "identifier",
            identifier.kind.as_deref(),
            identifier.identifier.as_deref(),
        );
    }

    /// The checks of one `user_verifiable_addresses` record.
    pub fn address(&mut self, position: usize, address: &UserVerifiableAddress) {
        let name = Name::new("user_verifiable_addresses", position, address.id.as_deref());
        self.require(name, "type", address.kind.is_some());
        self.require(name, "address", address.address.is_some());
        self.require(name, "status", address.status.is_some());
        self.require(name, "verified", address.verified.is_some());
        for (field, value) in [
            ("type", address.kind.as_deref()),
            ("status", address.status.as_deref()),
            (
                "preferred_contact_method",
                address
                    .extra
                    .get("preferred_contact_method")
                    .and_then(|v| v.as_str()),
            ),
        ] {
            self.check_enum("user_verifiable_addresses", name, field, value);
        }
        self.check_value(
            name,
            "address",
            address.kind.as_deref(),
            address.address.as_deref(),
        );
    }

    /// The checks of one `user_credentials` record.
    pub fn credential(&mut self, position: usize, credential: &UserCredential) {
        let name = Name::new("user_credentials", position, credential.id.as_deref());
        self.require(name, "type", credential.kind.is_some());
        self.require(name, "payload", credential.payload.is_some());
        self.check_enum("user_credentials", name, "type", credential.kind.as_deref());
        self.check_enum(
            "user_credentials",
            name,
            "state",
            credential.state.as_deref(),
        );
    }

    /// The checks of the `pools` records, duplicate ids included; returns the ids listed.
    pub fn pools<'p>(&mut self, pools: &'p [Pool]) -> BTreeSet<&'p str> {
        let mut pool_ids: BTreeSet<&str> = BTreeSet::new();
        for (position, pool) in pools.iter().enumerate() {
            let name = Name::new("pools", position, pool.id.as_deref());
            self.require(name, "id", pool.id.is_some());
            self.check_id(name, "id", pool.id.as_deref());
            self.require(name, "name", pool.name.is_some());
            if let Some(id) = pool.id.as_deref() {
                if !pool_ids.insert(id) {
                    self.report(name, "id", format!("duplicate pool id `{}`", shorten(id)));
                }
            }
        }
        pool_ids
    }

    /// The checks of the `groups` records.
    pub fn groups(&mut self, groups: &[InternalGroup]) {
        for (position, group) in groups.iter().enumerate() {
            let name = Name::new("groups", position, group.id.as_deref());
            self.require(name, "id", group.id.is_some());
            self.require(name, "user_pool_id", group.user_pool_id.is_some());
        }
    }

    /// E-mail and mobile values must look like an e-mail address and an E.164 number.
    fn check_value(
        &mut self,
        record: Name<'_>,
        field: &str,
        kind: Option<&str>,
        value: Option<&str>,
    ) {
        let Some(value) = value else { return };
        match kind {
            Some("email") if !is_email(value) => self.report(
                record,
                field,
                format!("`{}` is not an e-mail address", shorten(value)),
            ),
            Some("mobile") if !is_e164(value) => self.report(
                record,
                field,
                format!(
                    "`{}` is not an E.164 phone number (like `+14155550100`)",
                    shorten(value)
                ),
            ),
            _ => {}
        }
    }
}

/// The longest id poolsync accepts; the service's ids are UUIDs (36 characters).
pub const MAX_ID_LENGTH: usize = 1024;

/// An id must be non-empty, at most [`MAX_ID_LENGTH`] long, and free of control characters.
fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("is empty".into())
    } else if id.len() > MAX_ID_LENGTH {
        Some(format!(
            "is {} bytes long; ids are at most {}",
            thousands(id.len()),
            thousands(MAX_ID_LENGTH)
        ))
    } else if id.chars().any(char::is_control) {
        Some("contains a control character".into())
    } else {
        None
    }
}

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace)
}

/// An E.164 number: `+`, a non-zero digit, then 1 to 14 more digits.
pub fn is_e164(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A user of a pool that is neither in the file's `pools` nor known to be in the tenant.
pub(crate) fn unknown_pool(position: usize, user_id: Option<&str>, pool: &str) -> Problem {
    let pool = shorten(pool);
    Problem {
        record: record_name("users", position, user_id),
        field: Some("user_pool_id".into()),
        message: format!(
            "pool `{pool}` is not in the file's `pools`; add it there, or pass `--pool {pool}` \
             if it exists in the tenant"
        ),
    }
}

/// An identifier (at its position) that another user's identifier (`holder`, at its position)
/// already holds in `pool`.
pub(crate) fn held_twice(
    (position, identifier): (usize, &UserIdentifier),
    (holder_position, holder): (usize, &UserIdentifier),
    pool: &str,
) -> Problem {
    let key = natural_key(identifier.kind.as_deref(), identifier.identifier.as_deref());
    let holder_name = record_name("user_identifiers", holder_position, holder.id.as_deref());
    Problem {
        record: record_name("user_identifiers", position, identifier.id.as_deref()),
        field: Some("identifier".into()),
        message: format!(
            "`{}` is already held by user `{}` ({holder_name}) in pool `{}`",
            shorten(&key),
            shorten(holder.user_id.as_deref().unwrap_or_default()),
            shorten(pool)
        ),
    }
}

/// Returns every problem of `dump`.
pub fn validate(dump: &TenantDump, options: &ValidateOptions) -> Vec<Problem> {
    let mut checker = Checker::default();

    let pool_ids = checker.pools(&dump.pools);
    let pool_known =
        |pool: &str| pool_ids.contains(pool) || options.known_pools.iter().any(|p| p == pool);

    for (position, user) in dump.users.iter().enumerate() {
        checker.user(position, user);
        if let Some(pool) = user.user_pool_id.as_deref() {
            if !pool_known(pool) {
                checker
                    .problems
                    .push(unknown_pool(position, user.id.as_deref(), pool));
            }
        }
    }

    // An identifier is unique within a pool: two users holding it is a conflict on import.
    let pool_of_user: HashMap<&str, &str> = dump
        .users
        .iter()
        .filter_map(|user| Some((user.id.as_deref()?, user.user_pool_id.as_deref()?)))
        .collect();
    let mut holders: HashMap<(&str, String), (&str, usize)> = HashMap::new();
    for (position, identifier) in dump.user_identifiers.iter().enumerate() {
        checker.identifier(position, identifier);
        let pool = identifier
            .user_pool_id
            .as_deref()
            .or_else(|| pool_of_user.get(identifier.user_id.as_deref()?).copied());
        if let (Some(pool), Some(user_id), Some(_)) = (
            pool,
            identifier.user_id.as_deref(),
            identifier.identifier.as_deref(),
        ) {
            let key = natural_key(identifier.kind.as_deref(), identifier.identifier.as_deref());
            match holders.get(&(pool, key.clone())) {
                Some((other_user, holder)) if *other_user != user_id => {
                    let holder = (*holder, &dump.user_identifiers[*holder]);
                    let problem = held_twice((position, identifier), holder, pool);
                    checker.problems.push(problem);
                }
                Some(_) => {}
                None => {
                    holders.insert((pool, key), (user_id, position));
                }
            }
        }
    }

    for (position, address) in dump.user_verifiable_addresses.iter().enumerate() {
        checker.address(position, address);
    }

    for (position, credential) in dump.user_credentials.iter().enumerate() {
        checker.credential(position, credential);
    }

    checker.groups(&dump.groups);

    // Grouping into users finds duplicate and missing user ids and orphan sub-records; each
    // user's keys show sub-records that repeat within it.
    let index = TenantIndex::build(dump);
    checker.problems.extend(index.problems.iter().cloned());
    for user in index.users.values() {
        checker.problems.extend(user_problems(user));
    }
    checker.problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(value: serde_json::Value) -> Vec<String> {
        let dump: TenantDump = serde_json::from_value(value).unwrap();
        validate(&dump, &ValidateOptions::default())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_clean_document_has_no_problems() {
        let found = problems(json!({
            "pools": [{"id": "p", "name": "P"}],
            "users": [{"id": "u1", "user_pool_id": "p", "status": "active"}],
            "user_identifiers": [{"user_id": "u1", "type": "mobile", "identifier": "+4915112345678"}],
            "user_verifiable_addresses": [{"user_id": "u1", "type": "email", "address": "a@b.io",
                                           "status": "active", "verified": true}]
        }));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_record() {
        let found = problems(json!({
            "pools": [{"id": "p", "name": "P"}],
            "users": [
                {"id": "u1", "user_pool_id": "p", "status": "activ"},
                {"id": "u2", "user_pool_id": "elsewhere", "status": "active"},
                {"id": "u3", "user_pool_id": "p"}
            ],
            "user_identifiers": [
                {"user_id": "u1", "type": "email", "identifier": "Same@x.io"},
                {"user_id": "u3", "type": "email", "identifier": "same@X.io"},
                {"user_id": "u1", "type": "mobile", "identifier": "0151 1234"},
                {"user_id": "u1", "type": "email", "identifier": "not-an-email"},
                {"user_id": "gone", "type": "uid", "identifier": "x"}
            ],
            "user_credentials": [{"user_id": "u1", "type": "pin"}]
        }));
        let expected = [
            "users[0] (id `u1`): `status`: `activ` is not one of `active`, `inactive`, `deleted`, `new`",
            "users[1] (id `u2`): `user_pool_id`: pool `elsewhere` is not in the file's `pools`",
            "users[2] (id `u3`): `status`: missing: this field is required",
            "user_identifiers[1]: `identifier`: `email:same@x.io` is already held by user `u1` (user_identifiers[0]) in pool `p`",
            "user_identifiers[2]: `identifier`: `0151 1234` is not an E.164 phone number",
            "user_identifiers[3]: `identifier`: `not-an-email` is not an e-mail address",
            "user_credentials[0]: `payload`: missing",
            "user_credentials[0]: `type`: `pin` is not one of",
            "user_identifiers[4]: `user_id`: points at user `gone`, which is not in `users`",
        ];
        for (found, expected) in found.iter().zip(expected) {
            assert!(
                found.starts_with(expected),
                "{found}\n  does not start with\n{expected}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");
    }

    #[test]
    fn known_pools_satisfy_user_pool_references() {
        let dump: TenantDump = serde_json::from_value(json!({
            "users": [{"id": "u1", "user_pool_id": "p", "status": "active"}]
        }))
        .unwrap();
        assert_eq!(validate(&dump, &ValidateOptions::default()).len(), 1);
        let options = ValidateOptions {
            known_pools: vec!["p".into()],
        };
        assert!(validate(&dump, &options).is_empty());
    }

    #[test]
    fn email_and_e164_shapes() {
        assert!(is_email("a.b+c@example.co.uk"));
        for bad in ["a", "@x.io", "a@x", "a@@x.io", "a b@x.io", "a@x.io."] {
            assert!(!is_email(bad), "{bad}");
        }
        assert!(is_e164("+14155550100"));
        for bad in ["14155550100", "+0123", "+1", "+1234567890123456", "+1-415"] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
