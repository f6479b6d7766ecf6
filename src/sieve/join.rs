//! Joining rows into users, as [`crate::index::TenantIndex`] groups records: the first user of
//! each (pool, id) is the user, a sub-record finds it by (pool, user id) or, naming no pool, by
//! a user id that is in one pool only. What cannot be placed becomes a [`Ticket`] for the
//! problem the index reports, worded later from the record itself ([`super::problems`]).

use super::rows::{
    Class, DUPLICATE, HAS_ID, ID_IGNORED, KEPT, NO_GROUP, NO_ID, NO_USER, NONE, Rows, UNUSUAL,
    hash_pair, user_key,
};
use crate::index::Unplaced;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// A problem found in the rows, to be worded from the records it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ticket {
    /// `users[position]` has no id or no pool.
    UserWithoutKey(u32),
    /// `users[position]` repeats an earlier user's pool and id.
    DuplicateUser(u32),
    /// A sub-record (by row) that cannot be placed.
    Unplaced(u32, Unplaced),
    /// A membership (by row) that names no group.
    NoGroup(u32),
    /// `users[position]` names a pool neither listed nor known.
    UnknownPool(u32),
    /// An identifier (by row) that another user's identifier (by row) holds in a pool (by
    /// number).
    HeldTwice { sub: u32, holder: u32, pool: u32 },
}

impl Rows {
    /// Keeps only the records of `pools`, as [`crate::export::filter_pools`] keeps them: users of
    /// those pools, the sub-records and memberships of their ids, the pools listed among them.
    /// Positions are counted again among what is kept.
    pub(crate) fn keep_pools(&mut self, pools: &[String]) {
        if pools.is_empty() {
            return;
        }
        let wanted: HashSet<u32> = pools.iter().filter_map(|id| self.pools.find(id)).collect();
        self.users.retain(|user| wanted.contains(&user.pool));
        let kept: HashSet<u128> = self
            .users
            .iter()
            .filter(|user| user.flags & NO_ID == 0)
            .map(|user| user.uid)
            .collect();
        self.subs
            .retain(|sub| sub.flags & NO_USER == 0 && kept.contains(&sub.uid));
        let mut counts = [0u32; 5];
        for sub in &mut self.subs {
            let count = &mut counts[sub.class as usize];
            sub.position = *count;
            *count += 1;
        }
        self.listed_pools.retain(|number| wanted.contains(number));
    }

    /// Places users and sub-records (see the module docs), marks users whose sub-records
    /// repeat a key as unusual and, with `fingerprints`, folds their sub-records' hashes into
    /// theirs. Returns the problems of placing, in the index's order. `Err` when the document
    /// has more users than rows can number.
    pub(crate) fn join(&mut self, fingerprints: bool) -> Result<Vec<Ticket>, String> {
        let mut tickets = Vec::new();
        let mut by_key: HashMap<u128, u32> =
            HashMap::with_capacity_and_hasher(self.users.len(), Default::default());
        // For a sub-record that names no pool: the user of its id, if its id is in one pool.
        let mut by_uid: HashMap<u128, (u32, bool)> =
            HashMap::with_capacity_and_hasher(self.users.len(), Default::default());
        for (position, user) in self.users.iter_mut().enumerate() {
            let position = u32::try_from(position)
                .ok()
                .filter(|position| *position != NONE)
                .ok_or("too many users")?;
            if user.flags & NO_ID != 0 || user.pool == NONE {
                tickets.push(Ticket::UserWithoutKey(position));
                continue;
            }
            let key = user_key(self.pools.hashes[user.pool as usize], user.uid);
            if by_key.contains_key(&key) {
                user.flags |= DUPLICATE;
                tickets.push(Ticket::DuplicateUser(position));
                continue;
            }
            by_key.insert(key, position);
            by_uid
                .entry(user.uid)
                .and_modify(|(_, alone)| *alone = false)
                .or_insert((position, true));
        }

        let mut unplaced = Vec::new();
        let mut groupless = Vec::new();
        self.owner = Vec::with_capacity(self.subs.len());
        for (row, sub) in self.subs.iter().enumerate() {
            let row = u32::try_from(row).map_err(|_| "too many records")?;
            let placed = if sub.flags & NO_USER != 0 {
                Err(Unplaced::NoUser)
            } else if sub.pool != NONE {
                let key = user_key(self.pools.hashes[sub.pool as usize], sub.uid);
                by_key.get(&key).copied().ok_or(Unplaced::Missing)
            } else {
                match by_uid.get(&sub.uid) {
                    Some((position, true)) => Ok(*position),
                    Some((_, false)) => Err(Unplaced::SeveralPools),
                    None => Err(Unplaced::Missing),
                }
            };
            if sub.flags & NO_GROUP != 0 {
                groupless.push((sub.position, Ticket::NoGroup(row)));
            }
            match placed {
                Ok(owner) if sub.flags & NO_GROUP == 0 => self.owner.push(owner),
                Ok(_) => self.owner.push(NONE),
                Err(why) => {
                    self.owner.push(NONE);
                    unplaced.push(((sub.class, sub.position), Ticket::Unplaced(row, why)));
                }
            }
        }
        // The index reports them array by array, in array order.
        unplaced.sort_by_key(|(order, _)| *order);
        groupless.sort_by_key(|(position, _)| *position);
        tickets.extend(unplaced.into_iter().map(|(_, ticket)| ticket));
        tickets.extend(groupless.into_iter().map(|(_, ticket)| ticket));

        let mut naturals: HashSet<u128> =
            HashSet::with_capacity_and_hasher(self.subs.len(), Default::default());
        let mut sums = if fingerprints {
            vec![0u128; self.users.len()]
        } else {
            Vec::new()
        };
        for (sub, owner) in self.subs.iter().zip(&self.owner) {
            if *owner == NONE {
                continue;
            }
            let user = &mut self.users[*owner as usize];
            user.mask |= sub.mask;
            if !naturals.insert(hash_pair(u128::from(*owner), sub.natural)) {
                // Two credentials of one type (keyed by id) or a key given twice (a problem):
                // the exact path knows which.
                user.flags |= UNUSUAL;
            }
            if !fingerprints || sub.flags & KEPT == 0 {
                continue;
            }
            sums[*owner as usize] = sums[*owner as usize].wrapping_add(sub.content);
            if sub.flags & ID_IGNORED != 0 {
                continue;
            }
            if sub.flags & HAS_ID != 0 {
                user.with_id += 1;
                user.id_sum = user.id_sum.wrapping_add(sub.id);
            } else if sub.class != Class::Member {
                user.without_id += 1;
            }
        }
        for (user, sum) in self.users.iter_mut().zip(sums) {
            user.content = hash_pair(user.content, sum);
        }
        self.by_key = by_key;
        Ok(tickets)
    }
}
