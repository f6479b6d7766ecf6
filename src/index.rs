//! Groups a `TenantDump`'s flat record arrays into whole users, keyed by (pool id, user id).
//!
//! A user here is the `users` record with its identifiers, verifiable addresses, credentials and
//! group memberships. Records that cannot be placed (a sub-record of no user, a user without an id)
//! are reported as [`Problem`]s rather than dropped, so nothing is lost silently. This module only
//! borrows from the document; it copies no record.

use crate::model::{TenantDump, User, UserCredential, UserIdentifier, UserVerifiableAddress};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Identifies a user: the pool it lives in and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserKey {
    /// Pool id.
    pub pool_id: String,
    /// User id.
    pub user_id: String,
}

impl fmt::Display for UserKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.pool_id, self.user_id)
    }
}

/// The most problems a document's check words and keeps; the rest are counted. However broken
/// a document is, its problems then cost bounded memory, and no reader needs more of them.
pub const MAX_KEPT_PROBLEMS: usize = 1_000;

/// A problem found in a document, naming the record and field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// The record, such as ``users[3] (id `u-1`)``.
    pub record: String,
    /// The field, when one field is at fault.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(formatter, "{}: `{}`: {}", self.record, field, self.message),
            None => write!(formatter, "{}: {}", self.record, self.message),
        }
    }
}

/// Names a record by its array and position, and its id when it has one (cut short when it
/// is absurdly long, so that an error still fits on a screen).
pub fn record_name(array: &str, position: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{array}[{position}] (id `{}`)", shorten(id)),
        None => format!("{array}[{position}]"),
    }
}

/// A `users` record without an id or a pool: it cannot be placed.
pub(crate) fn user_without_key(position: usize, user: &User) -> Problem {
    let field = if user.id.is_none() {
        "id"
    } else {
        "user_pool_id"
    };
    Problem {
        record: record_name("users", position, user.id.as_deref()),
        field: Some(field.into()),
        message: "missing: every user needs an `id` and a `user_pool_id`".into(),
    }
}

/// A `users` record of a (pool, id) an earlier record has.
pub(crate) fn duplicate_user(position: usize, user_id: &str, pool_id: &str) -> Problem {
    Problem {
        record: record_name("users", position, Some(user_id)),
        field: Some("id".into()),
        message: format!(
            "duplicate user id `{}` in pool `{}`",
            shorten(user_id),
            shorten(pool_id)
        ),
    }
}

/// Why a sub-record (or membership) has no user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unplaced {
    /// It names no user.
    NoUser,
    /// It names no pool, and its user id is in several pools.
    SeveralPools,
    /// No user of that id (in that pool).
    Missing,
}

/// A sub-record at `array[position]` that names `user_id` (and `pool_id`) and cannot be placed.
pub(crate) fn unplaced(
    array: &str,
    position: usize,
    id: Option<&str>,
    (user_id, pool_id): (Option<&str>, Option<&str>),
    why: Unplaced,
) -> Problem {
    let user = shorten(user_id.unwrap_or_default());
    let (field, message) = match why {
        Unplaced::NoUser => ("user_id", "missing: a sub-record must name its user".into()),
        Unplaced::SeveralPools => (
            "user_pool_id",
            format!("user `{user}` exists in several pools; name the pool with `user_pool_id`"),
        ),
        Unplaced::Missing => {
            let place = pool_id
                .map(|pool| format!(" in pool `{}`", shorten(pool)))
                .unwrap_or_default();
            (
                "user_id",
                format!("points at user `{user}`{place}, which is not in `users`"),
            )
        }
    };
    Problem {
        record: record_name(array, position, id),
        field: Some(field.into()),
        message,
    }
}

/// A `group_members` record without a group.
pub(crate) fn membership_without_group(position: usize) -> Problem {
    Problem {
        record: format!("group_members[{position}] (group `?`)"),
        field: Some("group_id".into()),
        message: "missing: a membership must name its group".into(),
    }
}

/// How many characters of a value messages show.
pub const SHOWN_CHARACTERS: usize = 64;

/// A value as any message or warning shows it: whole when it is short, else its first
/// [`SHOWN_CHARACTERS`] characters, `…` and its size (`AAAA… (52,428,800 bytes)`), so that a
/// hostile or absurd value (an identifier, a pool id, a `status` of 50 MB, a server's answer)
/// keeps an error to a screen. Control characters are escaped (`\u{1b}`), so that a value can
/// neither flood nor drive the terminal. Whatever the field, this is the one place values are
/// cut; plan lines, whose paths and values are longer by nature, cut at a longer length
/// ([`shorten_to`]).
pub fn shorten(value: &str) -> Cow<'_, str> {
    shorten_to(value, SHOWN_CHARACTERS)
}

/// [`shorten`] at `characters` characters.
pub fn shorten_to(value: &str, characters: usize) -> Cow<'_, str> {
    let cut = value.char_indices().nth(characters).map(|(end, _)| end);
    let head = &value[..cut.unwrap_or(value.len())];
    if cut.is_none() && !head.chars().any(char::is_control) {
        return value.into();
    }
    let mut shown = String::with_capacity(head.len() + 24);
    for character in head.chars() {
        if character.is_control() {
            shown.extend(character.escape_unicode());
        } else {
            shown.push(character);
        }
    }
    if cut.is_some() {
        shown.push_str("… (");
        shown.push_str(&thousands(value.len()));
        shown.push_str(" bytes)");
    }
    shown.into()
}

/// Formats a count with thousands separators: `1,204`.
pub fn thousands(count: usize) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A whole user, borrowed from its document.
#[derive(Clone, Debug)]
pub struct UserAggregate<'a> {
    /// The user record.
    pub user: &'a User,
    /// Its identifiers.
    pub identifiers: Vec<&'a UserIdentifier>,
    /// Its verifiable addresses.
    pub addresses: Vec<&'a UserVerifiableAddress>,
    /// Its credentials.
    pub credentials: Vec<&'a UserCredential>,
    /// Ids of the groups it belongs to.
    pub groups: Vec<&'a str>,
}

impl UserAggregate<'_> {
    /// The identifier that names this user in output: the first e-mail, else the first
    /// identifier of any type (in sorted order, so the choice is stable).
    pub fn label(&self) -> Option<String> {
        let mut candidates: Vec<(&str, &str)> = self
            .identifiers
            .iter()
            .filter_map(|identifier| {
                Some((
                    identifier.kind.as_deref()?,
                    identifier.identifier.as_deref()?,
                ))
            })
            .collect();
        candidates.sort_by_key(|(kind, value)| (*kind != "email", *kind, value.to_lowercase()));
        candidates.first().map(|(_, value)| (*value).to_string())
    }
}

/// All users of a document, by key, plus the problems met while grouping them.
#[derive(Debug, Default)]
pub struct TenantIndex<'a> {
    /// Users by (pool id, user id), in key order.
    pub users: BTreeMap<UserKey, UserAggregate<'a>>,
    /// Records that could not be placed.
    pub problems: Vec<Problem>,
}

impl<'a> TenantIndex<'a> {
    /// Groups the records of `dump` into users.
    pub fn build(dump: &'a TenantDump) -> Self {
        let mut index = TenantIndex::default();
        // Sub-records name their user by id and, usually, by pool; a user id is unique in
        // practice (UUIDs), so a sub-record without a pool finds its user through this map.
        let mut pools_by_user_id: HashMap<&'a str, Vec<&'a str>> = HashMap::new();
        for (position, user) in dump.users.iter().enumerate() {
            let (Some(user_id), Some(pool_id)) = (user.id.as_deref(), user.user_pool_id.as_deref())
            else {
                index.problems.push(user_without_key(position, user));
                continue;
            };
            let key = UserKey {
                pool_id: pool_id.to_string(),
                user_id: user_id.to_string(),
            };
            if index.users.contains_key(&key) {
                index
                    .problems
                    .push(duplicate_user(position, user_id, pool_id));
                continue;
            }
            pools_by_user_id.entry(user_id).or_default().push(pool_id);
            index.users.insert(
                key,
                UserAggregate {
                    user,
                    identifiers: Vec::new(),
                    addresses: Vec::new(),
                    credentials: Vec::new(),
                    groups: Vec::new(),
                },
            );
        }

        let mut located_problems = Vec::new();
        let mut locate = |array: &str,
                          position: usize,
                          id: Option<&str>,
                          user_id: Option<&'a str>,
                          pool_id: Option<&'a str>|
         -> Option<UserKey> {
            // The record's name is only needed for a problem: word it then, not per record.
            let mut unplaced_as = |why| {
                located_problems.push(unplaced(array, position, id, (user_id, pool_id), why));
                None
            };
            let Some(user_id) = user_id else {
                return unplaced_as(Unplaced::NoUser);
            };
            let pools = pools_by_user_id
                .get(user_id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let pool = match pool_id {
                Some(pool_id) if pools.contains(&pool_id) => Some(pool_id),
                Some(_) => None,
                None if pools.len() == 1 => Some(pools[0]),
                None if pools.len() > 1 => return unplaced_as(Unplaced::SeveralPools),
                None => None,
            };
            match pool {
                Some(pool_id) => Some(UserKey {
                    pool_id: pool_id.to_string(),
                    user_id: user_id.to_string(),
                }),
                None => unplaced_as(Unplaced::Missing),
            }
        };

        let mut identifiers = Vec::new();
        for (position, record) in dump.user_identifiers.iter().enumerate() {
            let key = locate(
                "user_identifiers",
                position,
                record.id.as_deref(),
                record.user_id.as_deref(),
                record.user_pool_id.as_deref(),
            );
            identifiers.push((key, record));
        }
        let mut addresses = Vec::new();
        for (position, record) in dump.user_verifiable_addresses.iter().enumerate() {
            let key = locate(
                "user_verifiable_addresses",
                position,
                record.id.as_deref(),
                record.user_id.as_deref(),
                record.user_pool_id.as_deref(),
            );
            addresses.push((key, record));
        }
        let mut credentials = Vec::new();
        for (position, record) in dump.user_credentials.iter().enumerate() {
            let key = locate(
                "user_credentials",
                position,
                record.id.as_deref(),
                record.user_id.as_deref(),
                record.user_pool_id.as_deref(),
            );
            credentials.push((key, record));
        }
        let mut memberships = Vec::new();
        let mut missing_groups = Vec::new();
        for (position, record) in dump.group_members.iter().enumerate() {
            let key = locate(
                "group_members",
                position,
                None,
                record.user_id.as_deref(),
                record.user_pool_id.as_deref(),
            );
            match record.group_id.as_deref() {
                Some(group_id) => memberships.push((key, group_id)),
                None => missing_groups.push(membership_without_group(position)),
            }
        }

        index.problems.append(&mut located_problems);
        index.problems.append(&mut missing_groups);
        for (key, record) in identifiers {
            if let Some(user) = key.and_then(|key| index.users.get_mut(&key)) {
                user.identifiers.push(record);
            }
        }
        for (key, record) in addresses {
            if let Some(user) = key.and_then(|key| index.users.get_mut(&key)) {
                user.addresses.push(record);
            }
        }
        for (key, record) in credentials {
            if let Some(user) = key.and_then(|key| index.users.get_mut(&key)) {
                user.credentials.push(record);
            }
        }
        for (key, group_id) in memberships {
            if let Some(user) = key.and_then(|key| index.users.get_mut(&key)) {
                user.groups.push(group_id);
            }
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sub_records_join_their_user_and_orphans_are_reported() {
        let dump: TenantDump = serde_json::from_value(json!({
            "users": [{"id": "u1", "user_pool_id": "p"}, {"id": "u2", "user_pool_id": "p"}],
            "user_identifiers": [
                {"user_id": "u1", "type": "email", "identifier": "a@x.io"},
                {"user_id": "ghost", "type": "email", "identifier": "g@x.io", "id": "i9"}
            ],
            "user_credentials": [{"user_id": "u2", "user_pool_id": "p", "type": "password"}],
            "group_members": [{"group_id": "g", "user_id": "u1"}]
        }))
        .unwrap();
        let index = TenantIndex::build(&dump);
        let u1 = &index.users[&UserKey {
            pool_id: "p".into(),
            user_id: "u1".into(),
        }];
        assert_eq!(u1.identifiers.len(), 1);
        assert_eq!(u1.groups, vec!["g"]);
        assert_eq!(u1.label().as_deref(), Some("a@x.io"));
        let u2 = &index.users[&UserKey {
            pool_id: "p".into(),
            user_id: "u2".into(),
        }];
        assert_eq!(u2.credentials.len(), 1);
        assert_eq!(index.problems.len(), 1);
        assert_eq!(
            index.problems[0].to_string(),
            "user_identifiers[1] (id `i9`): `user_id`: points at user `ghost`, which is not in `users`"
        );
    }

    #[test]
    fn a_long_value_is_cut_with_its_size_and_control_characters_are_escaped() {
        assert!(matches!(shorten("alice@example.com"), Cow::Borrowed(_)));
        let huge = "A".repeat(52_428_800);
        assert_eq!(
            shorten(&huge),
            format!("{}… (52,428,800 bytes)", "A".repeat(64))
        );
        assert_eq!(shorten("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        // Characters, not bytes, are counted: a cut never splits one.
        let wide = "é".repeat(65);
        assert_eq!(shorten(&wide), format!("{}… (130 bytes)", "é".repeat(64)));
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn duplicate_user_ids_and_missing_ids_are_reported() {
        let dump: TenantDump = serde_json::from_value(json!({
            "users": [{"id": "u1", "user_pool_id": "p"}, {"id": "u1", "user_pool_id": "p"},
                      {"user_pool_id": "p"}]
        }))
        .unwrap();
        let index = TenantIndex::build(&dump);
        assert_eq!(index.users.len(), 1);
        let messages: Vec<String> = index.problems.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("duplicate user id `u1`"));
        assert!(messages[1].starts_with("users[2]: `id`: missing"));
    }
}
