//! Creates planned without their records: a grouped text plan of a million creates shows a
//! few ([`super::Detail::Shown`]); the records of the others stay in the desired document and
//! are read again by byte range, a batch at a time, when apply sends them.

use super::rows::{NONE, Rows};
use super::source::Source;
use crate::error::LoadError;
use crate::index::UserKey;
use crate::load::parse_dump;
use crate::model::TenantDump;
use crate::scan::RecordArray;
use std::collections::HashMap;

/// The creates of a plan whose records were not read (their changes carry no patch), and where
/// their records are in the desired document.
#[derive(Default)]
pub struct LightCreates {
    /// The desired document's rows; `None` when there are no light creates.
    rows: Option<Rows>,
    /// Each light create's position among the rows' users.
    positions: HashMap<UserKey, u32>,
    /// The rows' sub-records ordered by owner (in document order within one), and where each
    /// user's start: user `n` owns `subs[first_sub[n]..first_sub[n + 1]]`.
    subs: Vec<u32>,
    first_sub: Vec<u32>,
}

impl std::fmt::Debug for LightCreates {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LightCreates")
            .field("users", &self.positions.len())
            .finish()
    }
}

impl LightCreates {
    /// The light creates `users` (key and position) of the desired document read into `rows`.
    pub(crate) fn new(rows: Rows, users: Vec<(UserKey, u32)>) -> Self {
        let mut first_sub = vec![0u32; rows.users.len() + 1];
        for owner in rows.owner.iter().filter(|owner| **owner != NONE) {
            first_sub[*owner as usize + 1] += 1;
        }
        for n in 1..first_sub.len() {
            first_sub[n] += first_sub[n - 1];
        }
        let mut next = first_sub.clone();
        let mut subs = vec![0u32; first_sub.last().copied().unwrap_or(0) as usize];
        for (sub, owner) in rows.owner.iter().enumerate() {
            if *owner != NONE {
                let slot = &mut next[*owner as usize];
                subs[*slot as usize] = sub as u32;
                *slot += 1;
            }
        }
        LightCreates {
            rows: Some(rows),
            positions: users.into_iter().collect(),
            subs,
            first_sub,
        }
    }

    /// How many creates are light.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether every create carries its records.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Whether the create of `key` is light.
    pub fn contains(&self, key: &UserKey) -> bool {
        self.positions.contains_key(key)
    }

    /// The desired records of the light creates among `keys` (others are left out), read again
    /// from `source`, the desired document the plan was made from: a document of those users
    /// with the other fields whole, as the exact path reads the users it diffs.
    pub fn read(&self, source: Source<'_>, keys: &[&UserKey]) -> Result<TenantDump, LoadError> {
        let Some(rows) = &self.rows else {
            return Ok(TenantDump::default());
        };
        let mut places = Vec::new();
        for key in keys {
            let Some(&position) = self.positions.get(*key) else {
                continue;
            };
            let user = &rows.users[position as usize];
            places.push((RecordArray::Users, user.offset, user.len));
            let owned = self.first_sub[position as usize]..self.first_sub[position as usize + 1];
            for sub in &self.subs[owned.start as usize..owned.end as usize] {
                let sub = &rows.subs[*sub as usize];
                places.push((sub.class.array(), sub.offset, u64::from(sub.len)));
            }
        }
        let name = source.name();
        let bytes = rows
            .excerpt_of(source, &places)
            .map_err(|source| LoadError::Read {
                path: name.clone().into(),
                source,
            })?;
        parse_dump(&bytes, &name)
    }
}
