//! The problems of a document read into rows, worded as [`crate::validate::validate`] and
//! [`crate::index::TenantIndex`] word them and in their order: the rows say which records have
//! a problem, and those records alone are read again, by byte range, to name them.

use super::join::Ticket;
use super::rows::{
    CHECKS, Class, HOLDS, NO_ID, NO_USER, NONE, Order, PLACING, Rows, SubRow, check_rank,
};
use super::source::Ranges;
use crate::index::{
    MAX_KEPT_PROBLEMS, Problem, TenantIndex, UserKey, duplicate_user, membership_without_group,
    unplaced, user_without_key,
};
use crate::model::{
    GroupMember, TenantDump, User, UserCredential, UserIdentifier, UserVerifiableAddress,
};
use crate::normalize::user_problems;
use crate::validate::{held_twice, unknown_pool};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BinaryHeap;
use std::io;

/// A sub-record read again, whatever its kind.
enum Record {
    Identifier(UserIdentifier),
    Address(UserVerifiableAddress),
    Credential(UserCredential),
    Member(GroupMember),
}

impl Record {
    /// Its id, user id and pool id.
    fn keys(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match self {
            Record::Identifier(r) => (
                r.id.as_deref(),
                r.user_id.as_deref(),
                r.user_pool_id.as_deref(),
            ),
            Record::Address(r) => (
                r.id.as_deref(),
                r.user_id.as_deref(),
                r.user_pool_id.as_deref(),
            ),
            Record::Credential(r) => (
                r.id.as_deref(),
                r.user_id.as_deref(),
                r.user_pool_id.as_deref(),
            ),
            Record::Member(r) => (None, r.user_id.as_deref(), r.user_pool_id.as_deref()),
        }
    }
}

/// Reads the records problems are about.
pub(crate) struct Quoting<'r, 'a> {
    pub rows: &'r Rows,
    pub ranges: Ranges<'a>,
}

impl Quoting<'_, '_> {
    fn user(&mut self, position: u32) -> io::Result<User> {
        let user = &self.rows.users[position as usize];
        self.ranges.record(user.offset, user.len)
    }

    fn sub(&mut self, row: u32) -> io::Result<Record> {
        let sub: &SubRow = &self.rows.subs[row as usize];
        let (offset, len) = (sub.offset, u64::from(sub.len));
        Ok(match sub.class {
            Class::Identifier => Record::Identifier(self.ranges.record(offset, len)?),
            Class::Address => Record::Address(self.ranges.record(offset, len)?),
            Class::Credential => Record::Credential(self.ranges.record(offset, len)?),
            Class::Member | Class::User => Record::Member(self.ranges.record(offset, len)?),
        })
    }

    fn identifier(&mut self, row: u32) -> io::Result<(usize, UserIdentifier)> {
        let position = self.rows.subs[row as usize].position as usize;
        match self.sub(row)? {
            Record::Identifier(identifier) => Ok((position, identifier)),
            _ => Err(io::Error::other("an identifier's row names another record")),
        }
    }

    /// The problem a ticket stands for.
    pub(crate) fn word(&mut self, ticket: Ticket) -> io::Result<Problem> {
        Ok(match ticket {
            Ticket::UserWithoutKey(position) => {
                user_without_key(position as usize, &self.user(position)?)
            }
            Ticket::DuplicateUser(position) => {
                let user = self.user(position)?;
                let id = user.id.as_deref().unwrap_or_default();
                let pool = user.user_pool_id.as_deref().unwrap_or_default();
                duplicate_user(position as usize, id, pool)
            }
            Ticket::Unplaced(row, why) => {
                let sub = &self.rows.subs[row as usize];
                let (array, position) = (sub.class.array().key(), sub.position as usize);
                let record = self.sub(row)?;
                let (id, user_id, pool_id) = record.keys();
                unplaced(array, position, id, (user_id, pool_id), why)
            }
            Ticket::NoGroup(row) => {
                membership_without_group(self.rows.subs[row as usize].position as usize)
            }
            Ticket::UnknownPool(position) => {
                let user = self.user(position)?;
                let pool = user.user_pool_id.as_deref().unwrap_or_default();
                unknown_pool(position as usize, user.id.as_deref(), pool)
            }
            Ticket::HeldTwice { sub, holder, pool } => {
                let (position, identifier) = self.identifier(sub)?;
                let (holder_position, holder) = self.identifier(holder)?;
                let pool = &self.rows.pools.ids[pool as usize];
                held_twice((position, &identifier), (holder_position, &holder), pool)
            }
        })
    }

    /// The problems of placing records into users (what the index reports): the first
    /// [`MAX_KEPT_PROBLEMS`] worded, and how many there are in all.
    pub(crate) fn placing(&mut self, tickets: &[Ticket]) -> io::Result<(Vec<Problem>, usize)> {
        let problems = tickets
            .iter()
            .take(MAX_KEPT_PROBLEMS)
            .map(|ticket| self.word(*ticket))
            .collect::<io::Result<_>>()?;
        Ok((problems, tickets.len()))
    }

    /// The problems [`crate::validate::validate`] reports, in its order, with `known` pools
    /// besides those the document lists (`placing` are the tickets of [`Rows::join`]): the
    /// first [`MAX_KEPT_PROBLEMS`] worded, and how many there are in all.
    pub(crate) fn validation(
        &mut self,
        placing: &[Ticket],
        known: &dyn Fn(&str) -> bool,
    ) -> io::Result<(Vec<Problem>, usize)> {
        let rows = self.rows;
        // The records' own problems were kept only while among the first; the tickets are
        // small, so all of them are sorted, and only the first are worded.
        let mut ordered: Vec<(Order, Result<&Problem, Ticket>)> = rows
            .found
            .kept()
            .map(|(order, problem)| (*order, Ok(problem)))
            .collect();
        let mut total = rows.found.total;
        let last = |array: &str, position: u32| Order {
            section: CHECKS,
            rank: check_rank(array),
            position: u64::from(position),
            sequence: u32::MAX,
        };
        for (position, ticket) in unknown_pools(rows, known) {
            ordered.push((last("users", position), Err(ticket)));
            total += 1;
        }
        for (position, ticket) in held_twice_tickets(rows) {
            ordered.push((last("user_identifiers", position), Err(ticket)));
            total += 1;
        }
        for (sequence, ticket) in placing.iter().enumerate() {
            let order = Order {
                section: PLACING,
                rank: 0,
                position: 0,
                sequence: sequence as u32,
            };
            ordered.push((order, Err(*ticket)));
            total += 1;
        }
        ordered.sort_by_key(|(order, _)| *order);
        let mut problems = Vec::with_capacity(ordered.len().min(MAX_KEPT_PROBLEMS));
        for (_, found) in ordered.into_iter().take(MAX_KEPT_PROBLEMS) {
            problems.push(match found {
                Ok(problem) => problem.clone(),
                Err(ticket) => self.word(ticket)?,
            });
        }
        let (user_problems, counted) = self.user_problems(MAX_KEPT_PROBLEMS - problems.len())?;
        problems.extend(user_problems);
        Ok((problems, total + counted))
    }

    /// [`user_problems`] of every user that may have one (see [`super::rows::UNUSUAL`]), by
    /// user key: each such user read again alone, with its sub-records. The first `keep` are
    /// returned, with how many there are in all.
    fn user_problems(&mut self, keep: usize) -> io::Result<(Vec<Problem>, usize)> {
        let rows = self.rows;
        let unusual: HashSet<u32> = (0..rows.users.len() as u32)
            .filter(|position| {
                let user = &rows.users[*position as usize];
                user.is_user() && user.is_unusual()
            })
            .collect();
        if unusual.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let mut subs: HashMap<u32, Vec<u32>> = HashMap::default();
        for (row, owner) in rows.owner.iter().enumerate() {
            if unusual.contains(owner) {
                subs.entry(*owner).or_default().push(row as u32);
            }
        }
        // The users with problems, by key: at most `keep` of them with their problems (each
        // has one at least, so they hold the first `keep` problems), the rest only counted.
        let mut found: BinaryHeap<(UserKey, Vec<Problem>)> = BinaryHeap::new();
        let mut total = 0;
        for position in unusual {
            let mut dump = TenantDump {
                users: vec![self.user(position)?],
                ..TenantDump::default()
            };
            for row in subs.remove(&position).unwrap_or_default() {
                match self.sub(row)? {
                    Record::Identifier(r) => dump.user_identifiers.push(r),
                    Record::Address(r) => dump.user_verifiable_addresses.push(r),
                    Record::Credential(r) => dump.user_credentials.push(r),
                    Record::Member(r) => dump.group_members.push(r),
                }
            }
            let index = TenantIndex::build(&dump);
            for (key, user) in &index.users {
                let problems = user_problems(user);
                total += problems.len();
                if problems.is_empty() || keep == 0 {
                    continue;
                }
                if found.len() < keep {
                    found.push((key.clone(), problems));
                } else if found.peek().is_some_and(|(last, _)| key < last) {
                    found.pop();
                    found.push((key.clone(), problems));
                }
            }
        }
        let mut problems: Vec<Problem> = found
            .into_sorted_vec()
            .into_iter()
            .flat_map(|(_, problems)| problems)
            .collect();
        problems.truncate(keep);
        Ok((problems, total))
    }
}

/// Users whose pool is neither listed in the document nor `known`: by position.
fn unknown_pools(rows: &Rows, known: &dyn Fn(&str) -> bool) -> Vec<(u32, Ticket)> {
    let listed: HashSet<u32> = rows.listed_pools.iter().copied().collect();
    let mut verdicts: HashMap<u32, bool> = HashMap::default();
    let mut tickets = Vec::new();
    for (position, user) in rows.users.iter().enumerate() {
        if user.pool == NONE {
            continue;
        }
        let unknown = *verdicts.entry(user.pool).or_insert_with(|| {
            !listed.contains(&user.pool) && !known(&rows.pools.ids[user.pool as usize])
        });
        if unknown {
            tickets.push((position as u32, Ticket::UnknownPool(position as u32)));
        }
    }
    tickets
}

/// Identifiers another user already holds in their pool, as `validate` finds them: the pool is
/// the one the identifier names, else that of the last user of its user id; the first
/// identifier of a (pool, key) holds it.
fn held_twice_tickets(rows: &Rows) -> Vec<(u32, Ticket)> {
    let mut pool_of_user: HashMap<u128, u32> = HashMap::default();
    for user in &rows.users {
        if user.flags & NO_ID == 0 && user.pool != NONE {
            pool_of_user.insert(user.uid, user.pool);
        }
    }
    let mut holders: HashMap<(u32, u128), (u128, u32)> = HashMap::default();
    let mut tickets = Vec::new();
    for (row, sub) in rows.subs.iter().enumerate() {
        if sub.class != Class::Identifier || sub.flags & NO_USER != 0 || sub.flags & HOLDS == 0 {
            continue;
        }
        let pool = match sub.pool {
            NONE => match pool_of_user.get(&sub.uid) {
                Some(pool) => *pool,
                None => continue,
            },
            named => named,
        };
        match holders.get(&(pool, sub.natural)) {
            Some((holder_uid, holder)) if *holder_uid != sub.uid => {
                let ticket = Ticket::HeldTwice {
                    sub: row as u32,
                    holder: *holder,
                    pool,
                };
                tickets.push((sub.position, ticket));
            }
            Some(_) => {}
            None => {
                holders.insert((pool, sub.natural), (sub.uid, row as u32));
            }
        }
    }
    tickets
}
