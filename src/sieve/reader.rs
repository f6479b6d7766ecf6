//! Reading a document a record at a time into [`Rows`]: each record parsed into its type (which
//! checks it as the whole parse would), checked like `validate` checks it (when asked), and,
//! for the sieve, normalized in place and hashed; then dropped.
//!
//! Whatever a record-at-a-time reading cannot take (a record that does not parse, an outline
//! the scanner refuses) ends the reading with the error the whole parse reports, found again a
//! record at a time ([`Source::check`]).

use super::rows::{
    CHECKS, Class, HAS_ID, HOLDS, ID_IGNORED, KEPT, NO_GROUP, NO_ID, NO_USER, NONE, Order, Rows,
    SubRow, UNUSUAL, UserRow, check_rank, hash_serialized, hash_str, hash_strs,
};
use super::source::Source;
use super::{Side, SieveProgress};
use crate::diff::DiffOptions;
use crate::error::LoadError;
use crate::load::{check_list, parse_list};
use crate::model::{
    Code, GroupMember, InternalGroup, Object, Pool, Schema, User, UserCredential, UserIdentifier,
    UserVerifiableAddress,
};
use crate::normalize::{
    ADDRESSES, CREDENTIALS, EntryEffect, GROUPS, IDENTIFIERS, IgnoreTarget, InPlace, natural_key,
    prune_empty, remove_path,
};
use crate::scan::{Piece, RecordArray, ScanError, too_deep};
use crate::validate::Checker;
use serde_json::Value;

/// How to read a document.
#[derive(Clone, Copy)]
pub(crate) struct Reading<'r> {
    pub side: Side,
    /// Fingerprint the records, with these ignore paths (the sieve); `None` keeps keys only.
    pub rules: Option<&'r IgnoreRules>,
    /// Check each record as `validate` does.
    pub check: bool,
    pub progress: Option<&'r (dyn SieveProgress + Sync)>,
}

/// Why a document was not read a record at a time.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// It does not parse: the whole parse's error.
    Load(LoadError),
    /// It parses, but in a way the rows do not hold (a record over 4 GiB...).
    Unsupported(String),
}

/// Reads `source` into rows.
pub(crate) fn read(source: Source<'_>, reading: Reading<'_>) -> Result<Rows, Refusal> {
    let started = std::time::Instant::now();
    let mut reader = Reader {
        reading,
        records: 0,
        checker: Checker::default(),
        buffer: Vec::with_capacity(4096),
        rows: Rows::default(),
    };
    // Room for the rows of a typical export of this size, so that they are not copied as they
    // grow; pages never written are never touched.
    let size = usize::try_from(source.size()).unwrap_or(0);
    reader.rows.users.reserve(size / 1_000);
    reader.rows.subs.reserve(size / 300);
    let scanned = source.scan(|piece| reader.piece(piece));
    let reason = match scanned {
        Ok(bytes) => {
            reader.rows.bytes = bytes;
            if let Some(progress) = reading.progress {
                progress.read(reading.side, bytes, reader.rows.users.len());
            }
            reader.rows.seconds = started.elapsed().as_secs_f64();
            return Ok(reader.rows);
        }
        Err(ScanError::Visit(Stop::Unsupported(reason))) => {
            return Err(Refusal::Unsupported(reason));
        }
        Err(ScanError::Visit(Stop::Refused(reason))) => reason,
        Err(ScanError::Io(error)) => error.to_string(),
        Err(ScanError::Malformed { offset }) => format!("the outline is refused at byte {offset}"),
    };
    drop(reader);
    match source.check() {
        Err(error) => Err(Refusal::Load(error)),
        Ok(()) => Err(Refusal::Unsupported(reason)),
    }
}

/// Why reading stopped.
enum Stop {
    /// A piece the whole parse may refuse: it says why.
    Refused(String),
    /// A piece the rows cannot hold.
    Unsupported(String),
}

impl From<String> for Stop {
    fn from(reason: String) -> Stop {
        Stop::Unsupported(reason)
    }
}

impl From<&str> for Stop {
    fn from(reason: &str) -> Stop {
        Stop::Unsupported(reason.to_string())
    }
}

struct Reader<'r> {
    reading: Reading<'r>,
    records: usize,
    checker: Checker,
    buffer: Vec<u8>,
    rows: Rows,
}

/// Parses one piece. The piece is checked to be UTF-8 once, as a whole, and then read as text:
/// reading bytes, serde_json checks every string on its own, which cost a tenth of the reading.
/// `depth` is how far into the document it is.
fn parse<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8], depth: usize) -> Result<T, Stop> {
    let refused = |why: &str| Stop::Refused(why.to_string());
    if too_deep(bytes, depth) {
        return Err(refused("a value nested deeper than the parser reads"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| refused("a record is not UTF-8"))?;
    serde_json::from_str(text).map_err(|_| refused("a record does not parse"))
}

impl Reader<'_> {
    fn piece(&mut self, piece: Piece<'_>) -> Result<(), Stop> {
        match piece {
            Piece::Field { key, offset, bytes } => {
                self.field(key, bytes)?;
                self.rows
                    .fields
                    .push((key.to_string(), offset, bytes.len() as u64));
                Ok(())
            }
            Piece::Record {
                array,
                index,
                offset,
                bytes,
            } => {
                self.records += 1;
                if self.records % 4096 == 0 {
                    if let Some(progress) = self.reading.progress {
                        progress.read(self.reading.side, offset, self.rows.users.len());
                    }
                }
                let place = (offset, bytes.len() as u64);
                let before = self.checker.problems.len();
                match array {
                    RecordArray::Users => self.user(index, place, bytes)?,
                    RecordArray::Identifiers => {
                        let record: UserIdentifier = parse(bytes, 2)?;
                        if self.reading.check {
                            self.checker.identifier(index, &record);
                        }
                        let key = natural_key(record.kind.as_deref(), record.identifier.as_deref());
                        let holds = if record.identifier.is_some() {
                            HOLDS
                        } else {
                            0
                        };
                        self.keyed(Class::Identifier, (index, place), record, &key, holds)?;
                    }
                    RecordArray::Addresses => {
                        let record: UserVerifiableAddress = parse(bytes, 2)?;
                        if self.reading.check {
                            self.checker.address(index, &record);
                        }
                        let key = natural_key(record.kind.as_deref(), record.address.as_deref());
                        self.keyed(Class::Address, (index, place), record, &key, 0)?;
                    }
                    RecordArray::Credentials => {
                        let record: UserCredential = parse(bytes, 2)?;
                        if self.reading.check {
                            self.checker.credential(index, &record);
                        }
                        let key = record.kind.clone().unwrap_or_default();
                        self.keyed(Class::Credential, (index, place), record, &key, 0)?;
                    }
                    RecordArray::GroupMembers => {
                        let record: GroupMember = parse(bytes, 2)?;
                        let flags = if record.group_id.is_none() {
                            NO_GROUP
                        } else {
                            0
                        };
                        let owner = (record.user_id, record.user_pool_id);
                        let sub = Sub {
                            class: Class::Member,
                            position: index,
                            place,
                            owner,
                            id: None,
                            flags,
                        };
                        let group = record.group_id.unwrap_or_default();
                        self.sub(sub, &group, Empty)?;
                    }
                }
                self.found(array.key(), index, before);
                Ok(())
            }
        }
    }

    /// Files the problems the checker found in the record at `array[position]` since `before`.
    fn found(&mut self, array: &str, position: usize, before: usize) {
        for (sequence, problem) in self.checker.problems.drain(before..).enumerate() {
            let order = Order {
                section: CHECKS,
                rank: check_rank(array),
                position: position as u64,
                sequence: sequence as u32,
            };
            self.rows.found.push(order, problem);
        }
    }

    /// A top-level field other than the record arrays, checked as the whole parse reads it.
    fn field(&mut self, key: &str, bytes: &[u8]) -> Result<(), Stop> {
        if too_deep(bytes, 1) {
            return Err(Stop::Refused(
                "a field nested deeper than the parser reads".into(),
            ));
        }
        let refused = Stop::Refused;
        match key {
            "pools" => {
                let pools: Vec<Pool> = parse_list(bytes).map_err(refused)?;
                if self.reading.check {
                    self.checker.pools(&pools);
                    self.found("pools", 0, 0);
                }
                for pool in pools {
                    if let Some(id) = pool.id {
                        let number = self.rows.pools.number(&id)?;
                        self.rows.listed_pools.push(number);
                    }
                }
            }
            "groups" => {
                let groups: Vec<InternalGroup> = parse_list(bytes).map_err(refused)?;
                if self.reading.check {
                    self.checker.groups(&groups);
                    self.found("groups", 0, 0);
                }
            }
            "schemas" => check_list::<Schema>(bytes).map_err(refused)?,
            "codes" => check_list::<Code>(bytes).map_err(refused)?,
            _ => {
                serde_json::from_slice::<Value>(bytes)
                    .map_err(|error| Stop::Refused(error.to_string()))?;
            }
        }
        Ok(())
    }

    fn user(&mut self, index: usize, (offset, len): (u64, u64), bytes: &[u8]) -> Result<(), Stop> {
        let mut user: User = parse(bytes, 2)?;
        if self.reading.check {
            self.checker.user(index, &user);
        }
        let mut flags = 0;
        if [IDENTIFIERS, ADDRESSES, CREDENTIALS, GROUPS]
            .iter()
            .any(|name| user.extra.contains_key(*name))
        {
            flags |= UNUSUAL;
        }
        let uid = match user.id.take() {
            Some(id) => hash_str(&id),
            None => {
                flags |= NO_ID;
                0
            }
        };
        let pool = match user.user_pool_id.take() {
            Some(pool) => self.rows.pools.number(&pool)?,
            None => NONE,
        };
        let (content, mask) = match self.reading.rules {
            Some(rules) => {
                let (content, _, mask) = self.content(rules, Class::User, "", user);
                (content.unwrap_or_default(), mask)
            }
            None => (0, 0),
        };
        self.rows.users.push(UserRow {
            uid,
            content,
            id_sum: 0,
            offset,
            len,
            mask,
            pool,
            with_id: 0,
            without_id: 0,
            flags,
        });
        Ok(())
    }

    /// A sub-record with an id: its user, pool and id are taken out of it (they are its keys,
    /// not its content) before it is hashed.
    fn keyed<T: InPlace + Keyed>(
        &mut self,
        class: Class,
        (position, place): (usize, (u64, u64)),
        mut record: T,
        key: &str,
        flags: u8,
    ) -> Result<(), Stop> {
        let (user_id, pool_id, id) = record.take_keys();
        let sub = Sub {
            class,
            position,
            place,
            owner: (user_id, pool_id),
            id,
            flags,
        };
        self.sub(sub, key, record)
    }

    fn sub<T: InPlace>(&mut self, sub: Sub, key: &str, record: T) -> Result<(), Stop> {
        let Sub {
            class,
            position,
            place: (offset, len),
            owner: (user_id, pool_id),
            id,
            mut flags,
        } = sub;
        let (content, mut mask) = (0, 0);
        let mut content = content;
        if let Some(rules) = self.reading.rules {
            let (hashed, ignore_id, matched) = self.content(rules, class, key, record);
            mask = matched;
            if let Some(hashed) = hashed {
                content = hashed;
                flags |= KEPT;
            }
            if ignore_id {
                flags |= ID_IGNORED;
            }
        }
        let tag = [class as u8];
        let natural = hash_strs(&mut self.buffer, &[&tag, key.as_bytes()]);
        let id_hash = match id.as_deref() {
            Some(id) => {
                flags |= HAS_ID;
                hash_strs(&mut self.buffer, &[&tag, key.as_bytes(), id.as_bytes()])
            }
            None => 0,
        };
        let uid = match user_id.as_deref() {
            Some(user_id) => hash_str(user_id),
            None => {
                flags |= NO_USER;
                0
            }
        };
        let pool = match pool_id.as_deref() {
            Some(pool) => self.rows.pools.number(pool)?,
            None => NONE,
        };
        self.rows.subs.push(SubRow {
            uid,
            natural,
            content,
            id: id_hash,
            offset,
            mask,
            len: u32::try_from(len).map_err(|_| "a record is over 4 GiB")?,
            pool,
            position: u32::try_from(position).map_err(|_| "too many records")?,
            class,
            flags,
        });
        Ok(())
    }

    /// The hash of a record's normalized form (without id), unless an ignore path removed it;
    /// whether an ignore path leaves its id out; and the ignore paths that matched.
    fn content<T: InPlace>(
        &mut self,
        rules: &IgnoreRules,
        class: Class,
        key: &str,
        mut record: T,
    ) -> (Option<u128>, bool, u64) {
        if !rules.touch(class) {
            record.strip_in_place();
            let hash = hash_serialized(&mut self.buffer, class as u8, key, &record);
            return (Some(hash), false, 0);
        }
        let mut value = Value::Object(record.normalized_fields());
        prune_empty(&mut value);
        let outcome = if class == Class::User {
            Applied {
                kept: true,
                ignore_id: false,
                mask: rules.user_fields(&mut value),
            }
        } else {
            rules.entry(class, key, &mut value)
        };
        let content = outcome
            .kept
            .then(|| hash_serialized(&mut self.buffer, class as u8, key, &value));
        (content, outcome.ignore_id, outcome.mask)
    }
}

/// A sub-record's keys, before it is hashed.
struct Sub {
    class: Class,
    position: usize,
    place: (u64, u64),
    owner: (Option<String>, Option<String>),
    id: Option<String>,
    flags: u8,
}

/// A sub-record that names its user and pool and has an id of its own.
trait Keyed {
    /// Takes its user id, pool id and id out of it.
    fn take_keys(&mut self) -> (Option<String>, Option<String>, Option<String>);
}

macro_rules! keyed {
    ($($record:ty),*) => {$(
        impl Keyed for $record {
            fn take_keys(&mut self) -> (Option<String>, Option<String>, Option<String>) {
                (self.user_id.take(), self.user_pool_id.take(), self.id.take())
            }
        }
    )*};
}

keyed!(UserIdentifier, UserVerifiableAddress, UserCredential);

/// The content of a group membership: nothing beyond its key (the group).
#[derive(serde::Serialize)]
struct Empty;

impl InPlace for Empty {
    fn strip_in_place(&mut self) {}
    fn normalized_fields(&self) -> Object {
        Object::new()
    }
}

/// The ignore paths, as they apply record by record ([`IgnoreTarget`]), each with the bit of
/// the path it comes from.
pub(crate) struct IgnoreRules {
    rules: Vec<(u64, Rule)>,
}

enum Rule {
    UserFields(Vec<String>),
    Entries {
        class: Class,
        key: Option<String>,
        effect: Effect,
    },
    Groups,
}

enum Effect {
    Remove,
    IgnoreId,
    Inside(Vec<String>),
}

/// What the ignore paths did to one record.
struct Applied {
    /// It stays part of its user.
    kept: bool,
    /// Its id is not compared.
    ignore_id: bool,
    /// The paths that matched.
    mask: u64,
}

impl IgnoreRules {
    /// `None` with more paths than a mask has bits (64): the exact path applies them.
    pub(crate) fn compile(options: &DiffOptions) -> Option<IgnoreRules> {
        if options.ignore.len() > 64 {
            return None;
        }
        let mut rules = Vec::new();
        for (position, path) in options.ignore.iter().enumerate() {
            let bit = 1u64 << position;
            for target in path.targets() {
                let rule = match target {
                    IgnoreTarget::UserFields(segments) => Rule::UserFields(segments.to_vec()),
                    IgnoreTarget::Groups => Rule::Groups,
                    IgnoreTarget::Entries {
                        container,
                        key,
                        effect,
                    } => Rule::Entries {
                        class: match container {
                            IDENTIFIERS => Class::Identifier,
                            ADDRESSES => Class::Address,
                            _ => Class::Credential,
                        },
                        key: key.map(str::to_string),
                        effect: match effect {
                            EntryEffect::Remove => Effect::Remove,
                            EntryEffect::IgnoreId => Effect::IgnoreId,
                            EntryEffect::Inside(inside) => Effect::Inside(inside.to_vec()),
                        },
                    },
                };
                rules.push((bit, rule));
            }
        }
        Some(IgnoreRules { rules })
    }

    /// Whether any path reaches records of `class`.
    fn touch(&self, class: Class) -> bool {
        self.rules.iter().any(|(_, rule)| match rule {
            Rule::UserFields(_) => class == Class::User,
            Rule::Entries { class: of, .. } => *of == class,
            Rule::Groups => class == Class::Member,
        })
    }

    /// Applies the paths into the user record's fields; returns the bits of those that matched.
    fn user_fields(&self, value: &mut Value) -> u64 {
        let mut mask = 0;
        for (bit, rule) in &self.rules {
            if let Rule::UserFields(segments) = rule {
                if remove_path(value, segments) {
                    mask |= bit;
                }
            }
        }
        mask
    }

    /// Applies the paths to one sub-record's entry (its fields without id).
    fn entry(&self, class: Class, key: &str, value: &mut Value) -> Applied {
        let mut applied = Applied {
            kept: true,
            ignore_id: false,
            mask: 0,
        };
        for (bit, rule) in &self.rules {
            match rule {
                Rule::Groups if class == Class::Member => {
                    applied.kept = false;
                    applied.mask |= bit;
                    return applied;
                }
                Rule::Entries {
                    class: rule_class,
                    key: rule_key,
                    effect,
                } if *rule_class == class
                    && rule_key.as_deref().is_none_or(|rule_key| rule_key == key) =>
                {
                    match effect {
                        Effect::Remove => {
                            applied.kept = false;
                            applied.mask |= bit;
                            return applied;
                        }
                        // Every entry has an id in the normalized user: the path always matches.
                        Effect::IgnoreId => {
                            applied.ignore_id = true;
                            applied.mask |= bit;
                        }
                        Effect::Inside(inside) => {
                            if remove_path(value, inside) {
                                applied.mask |= bit;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        applied
    }
}
