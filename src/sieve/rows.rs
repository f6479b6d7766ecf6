//! What reading a document leaves: a row of hashes and places per record, and the pools by
//! number. A row is the record's keys (whose user, which pool, which natural key), its
//! fingerprints when the sieve compares documents, and where its text is, to read it again.

use crate::index::{MAX_KEPT_PROBLEMS, Problem};
use crate::scan::RecordArray;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BinaryHeap;
use xxhash_rust::xxh3::xxh3_128;

/// No pool, no owner: the `u32` that stands for "none" in rows.
pub(crate) const NONE: u32 = u32::MAX;

/// A 128-bit hash of one string.
pub(crate) fn hash_str(text: &str) -> u128 {
    xxh3_128(text.as_bytes())
}

/// A 128-bit hash of several strings, each length-prefixed so that `("ab", "c")` and
/// `("a", "bc")` differ.
pub(crate) fn hash_strs(buffer: &mut Vec<u8>, parts: &[&[u8]]) -> u128 {
    buffer.clear();
    for part in parts {
        buffer.extend_from_slice(&(part.len() as u64).to_le_bytes());
        buffer.extend_from_slice(part);
    }
    xxh3_128(buffer)
}

/// A 128-bit hash of a tag, a key and a normalized record in its canonical JSON (a stripped
/// record, see [`crate::normalize::InPlace`], or a `Value`, whose maps are ordered by key).
pub(crate) fn hash_serialized(
    buffer: &mut Vec<u8>,
    tag: u8,
    key: &str,
    value: &impl serde::Serialize,
) -> u128 {
    buffer.clear();
    buffer.push(tag);
    buffer.extend_from_slice(&(key.len() as u64).to_le_bytes());
    buffer.extend_from_slice(key.as_bytes());
    // Writing to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *buffer, value);
    xxh3_128(buffer)
}

/// Combines two hashes into one.
pub(crate) fn hash_pair(first: u128, second: u128) -> u128 {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&first.to_le_bytes());
    bytes[16..].copy_from_slice(&second.to_le_bytes());
    xxh3_128(&bytes)
}

/// The kinds of record, as tags in fingerprints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub(crate) enum Class {
    User = 0,
    Identifier = 1,
    Address = 2,
    Credential = 3,
    Member = 4,
}

impl Class {
    pub(crate) fn array(self) -> RecordArray {
        match self {
            Class::User => RecordArray::Users,
            Class::Identifier => RecordArray::Identifiers,
            Class::Address => RecordArray::Addresses,
            Class::Credential => RecordArray::Credentials,
            Class::Member => RecordArray::GroupMembers,
        }
    }
}

/// A `users` record.
#[derive(Debug)]
pub(crate) struct UserRow {
    /// Hash of its id.
    pub uid: u128,
    /// Its record's content; after [`Rows::join`](super::join), the whole user's.
    pub content: u128,
    /// Sum of its sub-records' id hashes.
    pub id_sum: u128,
    pub offset: u64,
    pub len: u64,
    /// Ignore paths that matched.
    pub mask: u64,
    /// Its pool, by number ([`NONE`] when it names none).
    pub pool: u32,
    pub with_id: u32,
    pub without_id: u32,
    pub flags: u8,
}

/// The user names no id.
pub(crate) const NO_ID: u8 = 1;
/// Something only the exact path handles: a sub-record key given twice, several credentials
/// of a type, a field poolsync reserves.
pub(crate) const UNUSUAL: u8 = 2;
/// An earlier user has the same pool and id: this one is a problem, not a user.
pub(crate) const DUPLICATE: u8 = 4;

impl UserRow {
    /// Whether it is a user the index keeps: it has an id and a pool and is the first of them.
    pub(crate) fn is_user(&self) -> bool {
        self.flags & (NO_ID | DUPLICATE) == 0 && self.pool != NONE
    }

    pub(crate) fn is_unusual(&self) -> bool {
        self.flags & UNUSUAL != 0
    }
}

/// A sub-record or group membership.
#[derive(Debug)]
pub(crate) struct SubRow {
    /// Hash of the user id it names (0 with [`NO_USER`]).
    pub uid: u128,
    /// Hash of its natural key within the user (with its class): for identifiers also the key
    /// that two users holding one identifier share.
    pub natural: u128,
    /// Hash of its content (class, key and normalized entry without id), unless an ignore path
    /// removed it ([`KEPT`] unset).
    pub content: u128,
    /// Hash of (class, key, id) when it has one ([`HAS_ID`]).
    pub id: u128,
    pub offset: u64,
    pub mask: u64,
    pub len: u32,
    /// The pool it names, by number ([`NONE`] when it names none).
    pub pool: u32,
    /// Its position in its array.
    pub position: u32,
    pub class: Class,
    pub flags: u8,
}

/// An ignore path left it in its user.
pub(crate) const KEPT: u8 = 1;
pub(crate) const HAS_ID: u8 = 2;
/// An identifier with a value: one that two users could both claim.
pub(crate) const HOLDS: u8 = 4;
/// It names no user.
pub(crate) const NO_USER: u8 = 8;
/// A membership that names no group.
pub(crate) const NO_GROUP: u8 = 16;
/// An ignore path leaves its id out of the comparison.
pub(crate) const ID_IGNORED: u8 = 32;

/// The pools a document names, by number.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    pub ids: Vec<String>,
    pub hashes: Vec<u128>,
    numbers: HashMap<String, u32>,
}

impl Pools {
    /// The number of pool `id`, given one if new.
    pub(crate) fn number(&mut self, id: &str) -> Result<u32, String> {
        if let Some(number) = self.numbers.get(id) {
            return Ok(*number);
        }
        let number = u32::try_from(self.ids.len())
            .ok()
            .filter(|number| *number != NONE)
            .ok_or("too many pools")?;
        self.ids.push(id.to_string());
        self.hashes.push(hash_str(id));
        self.numbers.insert(id.to_string(), number);
        Ok(number)
    }

    /// The number of pool `id`, if the document names it.
    pub(crate) fn find(&self, id: &str) -> Option<u32> {
        self.numbers.get(id).copied()
    }
}

/// Where a problem goes in the list `validate` writes: record checks by array and position,
/// then what grouping records into users finds (see [`crate::validate::validate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Order {
    pub section: u8,
    pub rank: u8,
    pub position: u64,
    pub sequence: u32,
}

/// Problems of single records, in `validate`'s order: pools, users, identifiers, addresses,
/// credentials, groups.
pub(crate) const CHECKS: u8 = 0;
/// Problems of placing records into users: users without id or pool and duplicates, then
/// sub-records without a user (by array), then memberships without a group.
pub(crate) const PLACING: u8 = 1;

/// The rank of an array among [`CHECKS`].
pub(crate) fn check_rank(array: &str) -> u8 {
    match array {
        "pools" => 0,
        "users" => 1,
        "user_identifiers" => 2,
        "user_verifiable_addresses" => 3,
        "user_credentials" => 4,
        _ => 5,
    }
}

/// The problems of single records found while reading: the first [`MAX_KEPT_PROBLEMS`] in
/// `validate`'s order, and how many there are in all.
#[derive(Debug, Default)]
pub(crate) struct Found {
    kept: BinaryHeap<(Order, Problem)>,
    /// Every problem found, kept or not.
    pub total: usize,
}

impl Found {
    /// Counts a problem, and keeps it while it is among the first.
    pub(crate) fn push(&mut self, order: Order, problem: Problem) {
        self.total += 1;
        if self.kept.len() < MAX_KEPT_PROBLEMS {
            self.kept.push((order, problem));
        } else if self.kept.peek().is_some_and(|(last, _)| order < *last) {
            self.kept.pop();
            self.kept.push((order, problem));
        }
    }

    /// The problems kept, in no order.
    pub(crate) fn kept(&self) -> impl Iterator<Item = &(Order, Problem)> {
        self.kept.iter()
    }
}

/// What reading one document leaves.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub users: Vec<UserRow>,
    pub subs: Vec<SubRow>,
    pub pools: Pools,
    /// The ids the `pools` field lists, by number.
    pub listed_pools: Vec<u32>,
    /// Top-level fields other than the record arrays: key, offset, length.
    pub fields: Vec<(String, u64, u64)>,
    /// Problems of single records found while reading (with `validate`'s checks on).
    pub found: Found,
    pub bytes: u64,
    pub seconds: f64,
    /// After joining: the user each sub-record belongs to ([`NONE`] if none).
    pub owner: Vec<u32>,
    /// After joining: users by key ([`user_key`]).
    pub by_key: HashMap<u128, u32>,
}

/// The key of a user: its pool's hash and its id's.
pub(crate) fn user_key(pool_hash: u128, uid: u128) -> u128 {
    hash_pair(pool_hash, uid)
}

impl Rows {
    /// The hash of a user's pool.
    pub(crate) fn pool_hash(&self, user: &UserRow) -> u128 {
        self.pools.hashes[user.pool as usize]
    }

    /// The pool ids a document lists in `pools`, as hashes.
    pub(crate) fn listed_hashes(&self) -> impl Iterator<Item = u128> + '_ {
        self.listed_pools
            .iter()
            .map(|number| self.pools.hashes[*number as usize])
    }
}
