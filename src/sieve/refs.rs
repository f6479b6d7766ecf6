//! Users a plan names without diffing them: the users only the tenant has (unmanaged), and the
//! creates a grouped text plan does not show. Each is read again alone, its record and its
//! identifiers, for its ids and label: what the exact diff would say of it, without its trees.

use super::rows::{Class, NONE, Rows};
use super::source::{Ranges, Source};
use crate::index::UserAggregate;
use crate::model::{User, UserIdentifier};
use crate::plan::UserRef;
use rustc_hash::FxHashMap as HashMap;

impl Rows {
    /// Reads `users` (by position) again, each with its identifiers, and hands them to `visit`
    /// with their index in `users`.
    pub(crate) fn read_users<E: From<std::io::Error>>(
        &self,
        source: Source<'_>,
        users: &[u32],
        mut visit: impl FnMut(usize, User, Vec<UserIdentifier>) -> Result<(), E>,
    ) -> Result<(), E> {
        let wanted: HashMap<u32, usize> = users
            .iter()
            .enumerate()
            .map(|(index, position)| (*position, index))
            .collect();
        let mut identifiers: Vec<(usize, usize)> = self
            .subs
            .iter()
            .zip(&self.owner)
            .enumerate()
            .filter(|(_, (sub, owner))| sub.class == Class::Identifier && **owner != NONE)
            .filter_map(|(row, (_, owner))| Some((*wanted.get(owner)?, row)))
            .collect();
        identifiers.sort_unstable();
        let mut ranges = Ranges::open(source)?;
        let mut next = identifiers.iter().peekable();
        for (index, position) in users.iter().enumerate() {
            let row = &self.users[*position as usize];
            let user: User = ranges.record(row.offset, row.len)?;
            let mut records: Vec<UserIdentifier> = Vec::new();
            while let Some((_, sub)) = next.next_if(|(owner, _)| *owner == index) {
                let sub = &self.subs[*sub];
                records.push(ranges.record(sub.offset, u64::from(sub.len))?);
            }
            visit(index, user, records)?;
        }
        Ok(())
    }

    /// The pool, id and label of `users` (by position), in that order.
    pub(crate) fn refs(&self, source: Source<'_>, users: &[u32]) -> std::io::Result<Vec<UserRef>> {
        let mut refs = Vec::with_capacity(users.len());
        self.read_users(source, users, |_, user, identifiers| {
            let label = UserAggregate {
                user: &user,
                identifiers: identifiers.iter().collect(),
                addresses: Vec::new(),
                credentials: Vec::new(),
                groups: Vec::new(),
            }
            .label();
            refs.push(UserRef {
                pool_id: user.user_pool_id.clone().unwrap_or_default(),
                user_id: user.id.clone().unwrap_or_default(),
                label,
            });
            Ok::<_, std::io::Error>(())
        })?;
        Ok(refs)
    }
}
