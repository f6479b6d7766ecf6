//! Migrating exports too big to hold: [`crate::migrate`]'s transform, a record at a time.
//!
//! Both exports are read into rows ([`super::reader`]). The source's users (of the migrated
//! pools) and the target's are read again, each with its identifiers, for what placing needs:
//! keys, labels and natural keys ([`crate::migrate::place`]). Then the source streams past a
//! second time and every record of a placed user is rewritten for the target
//! ([`crate::migrate::Rehome`]) straight into the desired document, spooled to an unnamed
//! temporary file, which the sieve then plans against the target like any desired file. Memory:
//! the rows, and the keys of the users placed; never a tree of either document.

use super::reader::{Reading, Refusal, read};
use super::rows::{Class, NONE, Rows, hash_str, hash_strs, user_key};
use super::source::{Ranges, Source};
use super::{Side, TooBig, WHOLE_PER_BYTE, problems::Quoting, within};
use crate::error::LoadError;
use crate::index::UserKey;
use crate::load::parse_list;
use crate::migrate::{
    Candidate, MigrateError, MigrateOptions, Migration, Placement, Rehome, TargetView,
    check_pool_flags, leave_out, migrate_groups, migrate_pools, place, transform,
};
use crate::model::{
    GroupMember, InternalGroup, Pool, Schema, TenantDump, User, UserCredential, UserIdentifier,
    UserVerifiableAddress,
};
use crate::normalize::natural_key;
use crate::scan::{Piece, RecordArray};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;
use std::io::{BufWriter, Write};

/// What messages call the migrated users' document.
pub const MIGRATED: &str = "the migrated users";

/// Why a migration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The source export does not parse.
    #[error("{0}")]
    Source(LoadError),
    /// The target export does not parse.
    #[error("{0}")]
    Target(LoadError),
    /// The migration cannot go ahead.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// An export could not be read again, or the desired document not written.
    #[error("could not write the migrated users to a temporary file")]
    Io(#[from] std::io::Error),
    /// The migration would need more memory than allowed.
    #[error(transparent)]
    TooBig(#[from] TooBig),
}

/// A migration whose desired state is a document spooled to an unnamed temporary file.
pub struct Spooled<'a> {
    /// What the migration decided.
    pub migration: Migration,
    desired: std::fs::File,
    how: How<'a>,
}

/// How the desired document is written (again, after [`Spooled::leave_out`]).
enum How<'a> {
    /// A record at a time from the source.
    Streamed(Box<Streamed<'a>>),
    /// From the whole desired state, for a source the rows do not hold.
    Whole(Box<TenantDump>),
}

struct Streamed<'a> {
    source: Source<'a>,
    target: Source<'a>,
    options: MigrateOptions,
    placements: Vec<Placement>,
    left_out: Vec<bool>,
    /// Per source user (by position): its placement, or [`NONE`].
    placed_at: Vec<u32>,
    /// Per source sub-record (in document order): its user's position, or [`NONE`].
    owner: Vec<u32>,
    pools: Vec<Pool>,
    source_groups: Vec<InternalGroup>,
    target_groups: Vec<InternalGroup>,
    /// Password credentials of the target kept under `--credentials drop`: placement, place.
    kept_passwords: Vec<(u32, u64, u64)>,
}

impl Spooled<'_> {
    /// The desired document, to plan against the target.
    pub fn desired(&self) -> Source<'_> {
        Source::Handle {
            name: MIGRATED,
            file: &self.desired,
        }
    }

    /// Leaves `users` (target keys) out, whole: record, sub-records and memberships.
    pub fn leave_out(&mut self, users: &BTreeSet<UserKey>) -> Result<(), MigrationError> {
        if users.is_empty() {
            return Ok(());
        }
        self.migration.leave_out(users);
        self.desired = match &mut self.how {
            How::Streamed(streamed) => {
                for (placement, out) in streamed.placements.iter().zip(&mut streamed.left_out) {
                    *out |= users.contains(&placement.target);
                }
                streamed.write()?
            }
            How::Whole(desired) => {
                leave_out(desired, users);
                spool(desired)?
            }
        };
        Ok(())
    }
}

/// Transforms the `source` export into the `target`'s desired state (see
/// [`crate::migrate::transform`], whose result it is), spooled. `max_memory` bounds the
/// whole-document path, for a document rows cannot hold.
pub fn migrate<'a>(
    source: Source<'a>,
    target: Source<'a>,
    options: &MigrateOptions,
    max_memory: u64,
) -> Result<Spooled<'a>, MigrationError> {
    let reading = Reading {
        side: Side::Current,
        rules: None,
        check: false,
        progress: None,
    };
    let (source_read, target_read) = std::thread::scope(|scope| {
        let handle = scope.spawn(|| read(target, reading));
        let source_read = read(source, reading);
        let target_read = handle
            .join()
            .unwrap_or_else(|_| Err(Refusal::Unsupported("reading failed".into())));
        (source_read, target_read)
    });
    let whole = |reason: String| whole(source, target, options, max_memory, reason);
    let mut source_rows = match source_read {
        Ok(rows) => rows,
        Err(Refusal::Load(error)) => return Err(MigrationError::Source(error)),
        Err(Refusal::Unsupported(reason)) => return whole(reason),
    };
    let mut target_rows = match target_read {
        Ok(rows) => rows,
        Err(Refusal::Load(error)) => return Err(MigrationError::Target(error)),
        Err(Refusal::Unsupported(reason)) => return whole(reason),
    };
    let source_tickets = match source_rows.join(false) {
        Ok(tickets) => tickets,
        Err(reason) => return whole(reason),
    };
    if let Err(reason) = target_rows.join(false) {
        return whole(reason);
    }
    if !source_tickets.is_empty() {
        let mut quoting = Quoting {
            rows: &source_rows,
            ranges: Ranges::open(source)?,
        };
        let (problems, total) = quoting.placing(&source_tickets)?;
        return Err(MigrateError::Source { problems, total }.into());
    }
    let source_pools: Vec<Pool> = field(&source_rows, source, "pools")?;
    let ids: BTreeSet<&str> = source_pools
        .iter()
        .filter_map(|pool| pool.id.as_deref())
        .collect();
    check_pool_flags(&ids, options)?;

    let placed = place(
        candidates(&source_rows, source, options)?,
        &target_view(&target_rows, target)?,
        options,
    )?;
    let mut migration = Migration {
        held_back: placed.held_back,
        ..Migration::default()
    };
    let target_pools: Vec<Pool> = field(&target_rows, target, "pools")?;
    let target_schemas: Vec<Schema> = field(&target_rows, target, "schemas")?;
    let (pools, mut written) = migrate_pools(
        &source_pools,
        (&target_pools, &target_schemas),
        options,
        &mut migration,
    );
    written.extend(placed.placements.iter().map(|p| p.target.pool_id.clone()));
    migration.target_pools = written.into_iter().collect();
    migration.id_map = placed.placements.iter().map(Placement::mapping).collect();
    migration.id_map.sort();

    let mut placed_at = vec![NONE; source_rows.users.len()];
    for (index, placement) in placed.placements.iter().enumerate() {
        placed_at[placement.row as usize] = index as u32;
    }
    let kept_passwords = if options.credentials == crate::migrate::CredentialPolicy::Drop {
        kept_passwords(&target_rows, &placed.placements)
    } else {
        Vec::new()
    };
    let streamed = Streamed {
        source,
        target,
        options: options.clone(),
        left_out: vec![false; placed.placements.len()],
        placements: placed.placements,
        placed_at,
        owner: std::mem::take(&mut source_rows.owner),
        pools,
        source_groups: field(&source_rows, source, "groups")?,
        target_groups: field(&target_rows, target, "groups")?,
        kept_passwords,
    };
    drop((source_rows, target_rows));
    Ok(Spooled {
        migration,
        desired: streamed.write()?,
        how: How::Streamed(Box::new(streamed)),
    })
}

/// The in-memory transform, for documents the rows do not hold, if the budget allows.
fn whole<'a>(
    source: Source<'a>,
    target: Source<'a>,
    options: &MigrateOptions,
    max_memory: u64,
    reason: String,
) -> Result<Spooled<'a>, MigrationError> {
    tracing::info!(%reason, "migrating the whole documents in memory");
    within(
        || format!("migrating these exports whole ({reason})"),
        source.size().saturating_add(target.size()),
        WHOLE_PER_BYTE,
        max_memory,
    )?;
    let source_dump = source.load().map_err(MigrationError::Source)?;
    let target_dump = target.load().map_err(MigrationError::Target)?;
    let (migration, desired) = transform(&source_dump, &target_dump, options)?;
    Ok(Spooled {
        migration,
        desired: spool(&desired)?,
        how: How::Whole(Box::new(desired)),
    })
}

/// A document written to an unnamed temporary file.
fn spool(desired: &TenantDump) -> std::io::Result<std::fs::File> {
    let mut out = BufWriter::new(tempfile::tempfile()?);
    serde_json::to_writer(&mut out, desired)?;
    out.into_inner().map_err(|error| error.into_error())
}

/// A top-level list field of a document (small: pools, schemas, groups), read again.
fn field<T: serde::de::DeserializeOwned>(
    rows: &Rows,
    source: Source<'_>,
    key: &str,
) -> std::io::Result<Vec<T>> {
    let Some((_, offset, len)) = rows.fields.iter().find(|(name, _, _)| name == key) else {
        return Ok(Vec::new());
    };
    let mut text = Vec::new();
    Ranges::open(source)?.append(*offset, *len, &mut text)?;
    parse_list(&text).map_err(std::io::Error::other)
}

/// The users of `rows` (by position) an index keeps.
fn users(rows: &Rows, keep: impl Fn(&str) -> bool) -> Vec<u32> {
    (0..rows.users.len() as u32)
        .filter(|position| {
            let user = &rows.users[*position as usize];
            user.is_user() && keep(&rows.pools.ids[user.pool as usize])
        })
        .collect()
}

/// The source users of the migrated pools, as placing sees them, in key order.
fn candidates(
    rows: &Rows,
    source: Source<'_>,
    options: &MigrateOptions,
) -> std::io::Result<Vec<Candidate>> {
    let positions = users(rows, |pool| options.selects(pool));
    let mut candidates = Vec::with_capacity(positions.len());
    rows.read_users(source, &positions, |index, user, identifiers| {
        let key = key_of(&user);
        let aggregate = crate::index::UserAggregate {
            user: &user,
            identifiers: identifiers.iter().collect(),
            addresses: Vec::new(),
            credentials: Vec::new(),
            groups: Vec::new(),
        };
        let mut candidate = Candidate::of(&key, &aggregate);
        candidate.row = positions[index];
        candidates.push(candidate);
        Ok::<_, std::io::Error>(())
    })?;
    candidates.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(candidates)
}

/// Who holds each identifier in the target, and which users it has.
fn target_view(rows: &Rows, target: Source<'_>) -> std::io::Result<TargetView> {
    let positions = users(rows, |_| true);
    let mut users: Vec<(UserKey, Vec<String>)> = Vec::with_capacity(positions.len());
    rows.read_users(target, &positions, |_, user, identifiers| {
        let naturals = identifiers
            .iter()
            .map(|i| natural_key(i.kind.as_deref(), i.identifier.as_deref()))
            .collect();
        users.push((key_of(&user), naturals));
        Ok::<_, std::io::Error>(())
    })?;
    users.sort_by(|a, b| a.0.cmp(&b.0));
    let mut view = TargetView::default();
    for (key, naturals) in users {
        view.add(&key, naturals.into_iter());
    }
    Ok(view)
}

fn key_of(user: &User) -> UserKey {
    UserKey {
        pool_id: user.user_pool_id.clone().unwrap_or_default(),
        user_id: user.id.clone().unwrap_or_default(),
    }
}

/// The password credentials the target has for the placed users it already has.
fn kept_passwords(rows: &Rows, placements: &[Placement]) -> Vec<(u32, u64, u64)> {
    let by_position: HashMap<u32, u32> = placements
        .iter()
        .enumerate()
        .filter_map(|(index, placement)| {
            let key = user_key(
                hash_str(&placement.target.pool_id),
                hash_str(&placement.target.user_id),
            );
            Some((*rows.by_key.get(&key)?, index as u32))
        })
        .collect();
    let password = hash_strs(&mut Vec::new(), &[&[Class::Credential as u8], b"password"]);
    rows.subs
        .iter()
        .zip(&rows.owner)
        .filter(|(sub, _)| sub.class == Class::Credential && sub.natural == password)
        .filter_map(|(sub, owner)| {
            let placement = by_position.get(owner)?;
            Some((*placement, sub.offset, u64::from(sub.len)))
        })
        .collect()
}

/// The desired document being written: one array of records after another.
struct Writer<W: Write> {
    out: W,
    open: Option<RecordArray>,
    first: bool,
}

impl<W: Write> Writer<W> {
    /// Writes `record` into `array`, opening it (and closing the one before) as needed.
    fn record(
        &mut self,
        array: RecordArray,
        record: &impl serde::Serialize,
    ) -> std::io::Result<()> {
        if self.open != Some(array) {
            self.close()?;
            write!(self.out, ",\"{}\":[", array.key())?;
            self.open = Some(array);
            self.first = true;
        }
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, record)?;
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        if self.open.take().is_some() {
            self.out.write_all(b"]")?;
        }
        Ok(())
    }
}

impl Streamed<'_> {
    /// Writes the desired document: the source streams past and the records of the placed
    /// users are rewritten for the target.
    fn write(&self) -> Result<std::fs::File, MigrationError> {
        let mut writer = Writer {
            out: BufWriter::new(tempfile::tempfile()?),
            open: None,
            first: true,
        };
        writer.out.write_all(b"{\"pools\":")?;
        serde_json::to_writer(&mut writer.out, &self.pools).map_err(std::io::Error::from)?;
        let mut target = Ranges::open(self.target)?;
        let mut passwords_written = false;
        let mut member_groups = BTreeSet::new();
        let mut sub_row = 0usize;
        let scanned = self.source.scan(|piece| -> std::io::Result<()> {
            let Piece::Record {
                array,
                index,
                bytes,
                ..
            } = piece
            else {
                return Ok(());
            };
            let position = if array == RecordArray::Users {
                index as u32
            } else {
                sub_row += 1;
                self.owner[sub_row - 1]
            };
            let placement = match self.placed_at.get(position as usize) {
                Some(placement) if *placement != NONE && !self.left_out[*placement as usize] => {
                    *placement
                }
                _ => return Ok(()),
            };
            if writer.open == Some(RecordArray::Credentials) && array != RecordArray::Credentials {
                self.write_passwords(&mut writer, &mut target)?;
                passwords_written = true;
            }
            let rehome = Rehome::new(&self.placements[placement as usize], &self.options);
            let parse = std::io::Error::other;
            match array {
                RecordArray::Users => {
                    let user: User = serde_json::from_slice(bytes).map_err(parse)?;
                    writer.record(array, &rehome.user(user))
                }
                RecordArray::Identifiers => {
                    let record: UserIdentifier = serde_json::from_slice(bytes).map_err(parse)?;
                    writer.record(array, &rehome.adopt(record))
                }
                RecordArray::Addresses => {
                    let record: UserVerifiableAddress =
                        serde_json::from_slice(bytes).map_err(parse)?;
                    writer.record(array, &rehome.adopt(record))
                }
                RecordArray::Credentials => {
                    let record: UserCredential = serde_json::from_slice(bytes).map_err(parse)?;
                    match rehome.credential(record) {
                        Some(credential) => writer.record(array, &credential),
                        None => Ok(()),
                    }
                }
                RecordArray::GroupMembers => {
                    let member: GroupMember = serde_json::from_slice(bytes).map_err(parse)?;
                    if let Some(group) = &member.group_id {
                        member_groups.insert(group.clone());
                    }
                    writer.record(array, &rehome.member(member))
                }
            }
        });
        scanned.map_err(|error| match error {
            crate::scan::ScanError::Io(error) | crate::scan::ScanError::Visit(error) => error,
            other => std::io::Error::other(other.to_string()),
        })?;
        if !passwords_written {
            self.write_passwords(&mut writer, &mut target)?;
        }
        writer.close()?;
        let groups = migrate_groups(
            &self.source_groups,
            &self.target_groups,
            &member_groups,
            &self.options,
        );
        writer.out.write_all(b",\"groups\":")?;
        serde_json::to_writer(&mut writer.out, &groups).map_err(std::io::Error::from)?;
        writer.out.write_all(b"}")?;
        Ok(writer
            .out
            .into_inner()
            .map_err(|error| error.into_error())?)
    }

    /// The target's passwords kept under `--credentials drop`, into the credentials array.
    fn write_passwords(
        &self,
        writer: &mut Writer<impl Write>,
        target: &mut Ranges<'_>,
    ) -> std::io::Result<()> {
        for (placement, offset, len) in &self.kept_passwords {
            if !self.left_out[*placement as usize] {
                let credential: UserCredential = target.record(*offset, *len)?;
                let rehome = Rehome::new(&self.placements[*placement as usize], &self.options);
                writer.record(RecordArray::Credentials, &rehome.kept_password(credential))?;
            }
        }
        Ok(())
    }
}
