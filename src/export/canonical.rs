//! [`CanonicalExport`]: an export's body written in canonical form straight from its bytes, with
//! an index of its records instead of a tree.

use super::{Keyed, canonicalize, filter_pools, to_pretty_json};
use crate::load::{check_list, parse_list};
use crate::model::{
    Code, GroupMember, Pool, TenantDump, User, UserCredential, UserIdentifier,
    UserVerifiableAddress,
};
use crate::scan::{Piece, RecordArray, ScanError, too_deep};
use crate::sieve::{DocumentError, Ranges, Source, within};
use rayon::prelude::*;
use rustc_hash::FxHashSet as HashSet;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::ser::PrettyFormatter;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::io::{self, Write};

/// How many pools and users a canonical export holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// Pools written.
    pub pools: usize,
    /// Users written.
    pub users: usize,
    /// Records of the per-user arrays written: users, identifiers, addresses, credentials and
    /// group memberships.
    pub records: usize,
}

/// An export's body, ready to be written in canonical form: byte for byte what [`to_pretty_json`]
/// writes of the body parsed by [`crate::load::parse_dump`], [`filter_pools`]ed and
/// [`canonicalize`]d, but without a tree of the document in memory.
///
/// [`CanonicalExport::index`] splits the body into records ([`crate::scan`]), parses each record
/// of the per-user arrays on its own (in parallel) into its typed model, which checks it as the
/// whole parse would, and keeps of it only where it is and its sort key: each part of the key as
/// the place of the same bytes in the record's text (they are there unless the value had
/// escapes; then they go to a side buffer), plus the key's first 16 bytes, which settle most
/// comparisons without touching the body. Pools, schemas, groups and unknown top-level fields are
/// few and kept parsed; codes are checked and dropped. [`CanonicalExport::write`] parses the
/// records again in canonical order and writes each as serde_json's pretty printer would at its
/// depth. Memory: 48 to 64 bytes per record and a window of written records, beside the body,
/// which is either in memory or spooled to a file and read again by byte range.
///
/// Whatever the scanner or a record's parse refuses (a record nested so deep that it could parse
/// on its own but not inside the document included) is reported with the whole parse's error,
/// found again a record at a time ([`crate::load::check_reader`]).
pub struct CanonicalExport<'a> {
    form: Form<'a>,
}

/// Memory the typed path takes per byte of the body: the typed tree, filtered and sorted.
const TYPED_PER_BYTE: u64 = 6;

enum Form<'a> {
    Indexed(Box<Indexed<'a>>),
    /// The typed path, filtered and sorted.
    Typed(Box<TenantDump>),
}

impl<'a> CanonicalExport<'a> {
    /// Indexes `body` (an export's JSON, in memory or spooled to a file), keeping only the
    /// records of `pools` (all when empty). `progress` is told how many bytes are read. A
    /// document the index refuses is reported with the whole parse's error, found a record at
    /// a time; one it cannot hold (a key over 2 GiB...) is read whole if `max_memory` allows.
    pub fn index(
        body: Source<'a>,
        pools: &[String],
        progress: &dyn Fn(u64),
        max_memory: u64,
    ) -> Result<CanonicalExport<'a>, DocumentError> {
        let form = match Indexed::read(body, progress) {
            Ok(mut indexed) => {
                indexed.filter(pools);
                indexed.sort();
                Form::Indexed(Box::new(indexed))
            }
            Err(reason) => {
                tracing::debug!("the export is not indexed: {reason}");
                body.check()?;
                let what = || format!("writing {} whole ({reason})", body.name());
                within(what, body.size(), TYPED_PER_BYTE, max_memory)?;
                let mut dump = body.load()?;
                filter_pools(&mut dump, pools);
                canonicalize(&mut dump);
                Form::Typed(Box::new(dump))
            }
        };
        progress(body.size());
        Ok(CanonicalExport { form })
    }

    /// The pools that will be written, in order.
    pub fn pools(&self) -> &[Pool] {
        match &self.form {
            Form::Indexed(indexed) => &indexed.frame.pools,
            Form::Typed(dump) => &dump.pools,
        }
    }

    /// Whether the body was read whole by the typed path: a document the index does not handle
    /// (one the parser refuses, or nested too deep to check a record at a time).
    pub fn read_whole(&self) -> bool {
        matches!(self.form, Form::Typed(_))
    }

    /// How many pools and users will be written.
    pub fn counts(&self) -> ExportCounts {
        match &self.form {
            Form::Indexed(indexed) => ExportCounts {
                pools: indexed.frame.pools.len(),
                users: indexed.users.len(),
                records: indexed.users.len()
                    + indexed.identifiers.len()
                    + indexed.addresses.len()
                    + indexed.credentials.len()
                    + indexed.members.len(),
            },
            Form::Typed(dump) => ExportCounts {
                pools: dump.pools.len(),
                users: dump.users.len(),
                records: dump.users.len()
                    + dump.user_identifiers.len()
                    + dump.user_verifiable_addresses.len()
                    + dump.user_credentials.len()
                    + dump.group_members.len(),
            },
        }
    }

    /// Writes the canonical document with a final newline; `progress` is told how many records
    /// of the per-user arrays are written (users come first, then their identifiers, addresses,
    /// credentials and memberships).
    pub fn write(&self, out: &mut dyn Write, progress: &dyn Fn(u64)) -> io::Result<()> {
        match &self.form {
            Form::Indexed(indexed) => indexed.write(out, progress),
            Form::Typed(dump) => {
                to_pretty_json(dump, out)?;
                progress(self.counts().records as u64);
                Ok(())
            }
        }
    }
}

/// Records gathered before they are parsed, in parallel, in chunks of [`PARSE_CHUNK`] (small in
/// unit tests, to cross every boundary).
const BATCH: usize = if cfg!(test) { 7 } else { 64 * 1024 };
const PARSE_CHUNK: usize = if cfg!(test) { 3 } else { 1024 };
/// Records written per round: parsed and serialized in parallel in chunks of [`WRITE_CHUNK`],
/// then written in order.
const WRITE_WINDOW: usize = if cfg!(test) { 5 } else { 16 * 1024 };
const WRITE_CHUNK: usize = if cfg!(test) { 2 } else { 512 };
/// A part of a sort key: `len` bytes at `at` in its record's text, or in the side buffer when
/// `at` has [`Part::SPILLED`]; absent (`None`) when `len` is [`Part::ABSENT`].
#[derive(Clone, Copy, Debug)]
struct Part {
    at: u32,
    len: u32,
}

impl Part {
    const ABSENT: Part = Part {
        at: 0,
        len: u32::MAX,
    };
    const SPILLED: u32 = 1 << 31;

    /// Where `text` is in `record`, or else its place in `spill` after copying it there.
    fn place(record: &[u8], text: &str, spill: &mut Vec<u8>) -> Result<Part, String> {
        let text = text.as_bytes();
        let too_long = || "a key too long to index".to_string();
        let len = u32::try_from(text.len())
            .ok()
            .filter(|len| *len != u32::MAX)
            .ok_or_else(too_long)?;
        let at = match memchr::memmem::find(record, text) {
            Some(at) => u32::try_from(at).ok().filter(|at| *at < Part::SPILLED),
            None => {
                let at = u32::try_from(spill.len())
                    .ok()
                    .filter(|at| *at < Part::SPILLED);
                spill.extend_from_slice(text);
                at.map(|at| at | Part::SPILLED)
            }
        };
        Ok(Part {
            at: at.ok_or_else(too_long)?,
            len,
        })
    }
}

/// A record of a per-user array: where it is, its sort key, and its key's first bytes.
#[derive(Clone, Copy, Debug)]
struct Entry<const N: usize> {
    offset: u64,
    len: u32,
    /// The first 16 bytes of the key encoded so that byte order is key order (a 0 byte as
    /// 0 255, each part ended by 0 0), zero-padded: when two prefixes differ, so do the keys, the
    /// same way.
    prefix: [u8; 16],
    parts: [Part; N],
}

fn key_prefix(parts: &[&[u8]]) -> [u8; 16] {
    let mut prefix = [0u8; 16];
    let mut at = 0;
    for part in parts {
        for &byte in *part {
            let encoded: &[u8] = if byte == 0 { &[0, 255] } else { &[byte] };
            for &byte in encoded {
                if at == prefix.len() {
                    return prefix;
                }
                prefix[at] = byte;
                at += 1;
            }
        }
        // The terminator's two zero bytes are already there.
        at += 2;
        if at >= prefix.len() {
            return prefix;
        }
    }
    prefix
}

/// Fails when `bytes`, `depth` levels into the document, nests deeper than the whole parse
/// reads (see [`crate::scan::too_deep`]).
fn check_nesting(bytes: &[u8], depth: usize) -> Result<(), String> {
    if too_deep(bytes, depth) {
        return Err("a value nested too deep to check on its own".to_string());
    }
    Ok(())
}

/// Parses one record and indexes it.
fn entry<T: DeserializeOwned + Keyed<N>, const N: usize>(
    record: &[u8],
    offset: u64,
    spill: &mut Vec<u8>,
) -> Result<Entry<N>, String> {
    // A record is inside the document's object and its array.
    check_nesting(record, 2)?;
    let parsed: T = serde_json::from_slice(record).map_err(|error| error.to_string())?;
    let key = parsed.key();
    let mut parts = [Part::ABSENT; N];
    for (part, text) in parts.iter_mut().zip(key) {
        if let Some(text) = text {
            *part = Part::place(record, text, spill)?;
        }
    }
    Ok(Entry {
        offset,
        len: u32::try_from(record.len()).map_err(|_| "a record too long to index")?,
        prefix: key_prefix(&key.map(|text| text.as_deref().unwrap_or_default().as_bytes())),
        parts,
    })
}

/// Records gathered for indexing: their texts one after another, and for each its offset in
/// the body and its length.
#[derive(Default)]
struct Pending {
    texts: Vec<u8>,
    places: Vec<(u64, u32)>,
}

/// Parses and indexes the `pending` records, in parallel, onto `entries`.
fn index_batch<T: DeserializeOwned + Keyed<N>, const N: usize>(
    pending: &Pending,
    entries: &mut Vec<Entry<N>>,
    spill: &mut Vec<u8>,
) -> Result<(), String> {
    let mut starts = Vec::with_capacity(pending.places.len());
    let mut start = 0usize;
    for (_, len) in &pending.places {
        starts.push(start);
        start += *len as usize;
    }
    let chunks = pending
        .places
        .par_chunks(PARSE_CHUNK)
        .zip(starts.par_chunks(PARSE_CHUNK))
        .map(|(chunk, starts)| {
            let mut local = Vec::with_capacity(chunk.len());
            let mut local_spill = Vec::new();
            for (&(offset, len), &start) in chunk.iter().zip(starts) {
                let record = &pending.texts[start..start + len as usize];
                local.push(entry::<T, N>(record, offset, &mut local_spill)?);
            }
            Ok((local, local_spill))
        })
        .collect::<Result<Vec<_>, String>>()?;
    for (mut local, local_spill) in chunks {
        if !local_spill.is_empty() {
            let base = u32::try_from(spill.len())
                .ok()
                .filter(|base| {
                    u64::from(*base) + local_spill.len() as u64 <= u64::from(Part::SPILLED)
                })
                .ok_or("too many keys with escapes to index")?;
            for part in local.iter_mut().flat_map(|entry| entry.parts.iter_mut()) {
                if part.len != Part::ABSENT.len && part.at & Part::SPILLED != 0 {
                    part.at += base;
                }
            }
            spill.extend_from_slice(&local_spill);
        }
        entries.extend(local);
    }
    Ok(())
}

/// The text behind the parts of entries.
#[derive(Clone, Copy)]
struct Texts<'s, 'a> {
    body: &'s Ranges<'a>,
    spill: &'s [u8],
}

impl<'s, 'a: 's> Texts<'s, 'a> {
    fn part<const N: usize>(self, entry: &Entry<N>, index: usize) -> Option<Cow<'s, [u8]>> {
        let Part { at, len } = entry.parts[index];
        if len == Part::ABSENT.len {
            return None;
        }
        if at & Part::SPILLED != 0 {
            let start = (at & !Part::SPILLED) as usize;
            return Some(Cow::Borrowed(&self.spill[start..start + len as usize]));
        }
        // The record was read from the body: its bytes are there (unless the file shrank,
        // which then reads as an empty part).
        let read = self
            .body
            .bytes(entry.offset + u64::from(at), u64::from(len));
        Some(read.unwrap_or_default())
    }

    fn record<const N: usize>(self, entry: &Entry<N>) -> io::Result<Cow<'a, [u8]>> {
        self.body.bytes(entry.offset, u64::from(entry.len))
    }

    /// Canonical order: by key, then by place in the body.
    fn compare<const N: usize>(self, a: &Entry<N>, b: &Entry<N>) -> Ordering {
        a.prefix.cmp(&b.prefix).then_with(|| {
            (0..N)
                .map(|index| {
                    let text = |entry| self.part(entry, index).unwrap_or_default();
                    text(a).cmp(&text(b))
                })
                .find(|order| order.is_ne())
                .unwrap_or(Ordering::Equal)
                .then(a.offset.cmp(&b.offset))
        })
    }
}

/// What indexing a body leaves.
struct Indexed<'a> {
    body: Ranges<'a>,
    /// Key parts that are not in their record's text as they are.
    spill: Vec<u8>,
    /// Pools, schemas, groups and unknown fields, parsed; the record arrays stay empty.
    frame: TenantDump,
    users: Vec<Entry<2>>,
    identifiers: Vec<Entry<4>>,
    addresses: Vec<Entry<4>>,
    credentials: Vec<Entry<3>>,
    members: Vec<Entry<2>>,
}

impl<'a> Indexed<'a> {
    fn read(body: Source<'a>, progress: &dyn Fn(u64)) -> Result<Indexed<'a>, String> {
        let mut indexed = Indexed {
            body: Ranges::open(body).map_err(|error| error.to_string())?,
            spill: Vec::new(),
            frame: TenantDump::default(),
            users: Vec::new(),
            identifiers: Vec::new(),
            addresses: Vec::new(),
            credentials: Vec::new(),
            members: Vec::new(),
        };
        let mut pending = Pending::default();
        let mut pending_array = RecordArray::Users;
        let scanned = body.scan(|piece| match piece {
            Piece::Record {
                array,
                offset,
                bytes,
                ..
            } => {
                if array != pending_array || pending.places.len() == BATCH {
                    indexed.index(pending_array, &pending)?;
                    pending.places.clear();
                    pending.texts.clear();
                    pending_array = array;
                    progress(offset);
                }
                let len = u32::try_from(bytes.len()).map_err(|_| "a record too long to index")?;
                pending.places.push((offset, len));
                pending.texts.extend_from_slice(bytes);
                Ok(())
            }
            Piece::Field { key, bytes, .. } => indexed.field(key, bytes),
        });
        match scanned {
            Ok(_) => indexed.index(pending_array, &pending)?,
            Err(ScanError::Visit(reason)) => return Err(reason),
            Err(error) => return Err(error.to_string()),
        }
        Ok(indexed)
    }

    fn index(&mut self, array: RecordArray, pending: &Pending) -> Result<(), String> {
        let spill = &mut self.spill;
        match array {
            RecordArray::Users => index_batch::<User, 2>(pending, &mut self.users, spill),
            RecordArray::Identifiers => {
                index_batch::<UserIdentifier, 4>(pending, &mut self.identifiers, spill)
            }
            RecordArray::Addresses => {
                index_batch::<UserVerifiableAddress, 4>(pending, &mut self.addresses, spill)
            }
            RecordArray::Credentials => {
                index_batch::<UserCredential, 3>(pending, &mut self.credentials, spill)
            }
            RecordArray::GroupMembers => {
                index_batch::<GroupMember, 2>(pending, &mut self.members, spill)
            }
        }
    }

    /// A top-level field other than the per-user arrays.
    fn field(&mut self, key: &str, bytes: &[u8]) -> Result<(), String> {
        check_nesting(bytes, 1)?;
        let frame = &mut self.frame;
        match key {
            "pools" => frame.pools = parse_list(bytes)?,
            "schemas" => frame.schemas = parse_list(bytes)?,
            "groups" => frame.groups = parse_list(bytes)?,
            "codes" => check_list::<Code>(bytes)?,
            _ => {
                let value: Value =
                    serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
                frame.extra.insert(key.to_string(), value);
            }
        }
        Ok(())
    }

    /// [`filter_pools`] on the index.
    fn filter(&mut self, pools: &[String]) {
        if pools.is_empty() {
            return;
        }
        filter_pools(&mut self.frame, pools);
        let texts = Texts {
            body: &self.body,
            spill: &self.spill,
        };
        let wanted: HashSet<&[u8]> = pools.iter().map(|pool| pool.as_bytes()).collect();
        self.users.retain(|user| {
            texts
                .part(user, 0)
                .is_some_and(|pool| wanted.contains(&*pool))
        });
        let users: HashSet<Cow<'_, [u8]>> = self
            .users
            .iter()
            .filter_map(|user| texts.part(user, 1))
            .collect();
        let owned = |user: Option<Cow<'_, [u8]>>| user.is_some_and(|user| users.contains(&*user));
        self.identifiers.retain(|r| owned(texts.part(r, 0)));
        self.addresses.retain(|r| owned(texts.part(r, 0)));
        self.credentials.retain(|r| owned(texts.part(r, 0)));
        self.members.retain(|r| owned(texts.part(r, 1)));
    }

    /// [`canonicalize`] on the index.
    fn sort(&mut self) {
        canonicalize(&mut self.frame);
        let texts = Texts {
            body: &self.body,
            spill: &self.spill,
        };
        self.users.par_sort_unstable_by(|a, b| texts.compare(a, b));
        self.identifiers
            .par_sort_unstable_by(|a, b| texts.compare(a, b));
        self.addresses
            .par_sort_unstable_by(|a, b| texts.compare(a, b));
        self.credentials
            .par_sort_unstable_by(|a, b| texts.compare(a, b));
        self.members
            .par_sort_unstable_by(|a, b| texts.compare(a, b));
    }

    fn write(&self, out: &mut dyn Write, progress: &dyn Fn(u64)) -> io::Result<()> {
        let frame = &self.frame;
        let mut document = Document { out, fields: 0 };
        document.out.write_all(b"{")?;
        document.parsed("pools", &frame.pools)?;
        document.parsed("schemas", &frame.schemas)?;
        let mut written = Written { count: 0, progress };
        self.records::<User, 2>(&mut document, "users", &self.users, &mut written)?;
        self.records::<UserIdentifier, 4>(
            &mut document,
            "user_identifiers",
            &self.identifiers,
            &mut written,
        )?;
        self.records::<UserVerifiableAddress, 4>(
            &mut document,
            "user_verifiable_addresses",
            &self.addresses,
            &mut written,
        )?;
        self.records::<UserCredential, 3>(
            &mut document,
            "user_credentials",
            &self.credentials,
            &mut written,
        )?;
        document.parsed("groups", &frame.groups)?;
        self.records::<GroupMember, 2>(
            &mut document,
            "group_members",
            &self.members,
            &mut written,
        )?;
        for (key, value) in &frame.extra {
            document.key(key)?;
            let mut buffer = Vec::new();
            pretty(value, 1, &mut buffer)?;
            document.out.write_all(&buffer)?;
        }
        document.out.write_all(if document.fields == 0 {
            b"}\n"
        } else {
            b"\n}\n"
        })
    }

    /// Writes an array of records, parsed again from the body.
    fn records<T: DeserializeOwned + Serialize, const N: usize>(
        &self,
        document: &mut Document<'_>,
        key: &str,
        entries: &[Entry<N>],
        progress: &mut Written<'_>,
    ) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        document.key(key)?;
        document.out.write_all(b"[")?;
        let texts = Texts {
            body: &self.body,
            spill: &self.spill,
        };
        let mut written = 0;
        for window in entries.chunks(WRITE_WINDOW) {
            let pieces = window
                .par_chunks(WRITE_CHUNK)
                .enumerate()
                .map(|(number, chunk)| {
                    let mut buffer = Vec::new();
                    for (index, entry) in chunk.iter().enumerate() {
                        let first = written + number + index == 0;
                        buffer.extend_from_slice(if first { b"\n    " } else { b",\n    " });
                        let text = texts.record(entry).map_err(serde_json::Error::io)?;
                        let record: T = serde_json::from_slice(&text)?;
                        pretty(&record, 2, &mut buffer)?;
                    }
                    Ok(buffer)
                })
                .collect::<serde_json::Result<Vec<Vec<u8>>>>()?;
            for piece in pieces {
                document.out.write_all(&piece)?;
            }
            written += window.len();
            progress.count += window.len() as u64;
            (progress.progress)(progress.count);
        }
        document.out.write_all(b"\n  ]")
    }
}

/// Records written so far, and whom to tell.
struct Written<'p> {
    count: u64,
    progress: &'p dyn Fn(u64),
}

/// The top-level object being written.
struct Document<'w> {
    out: &'w mut dyn Write,
    fields: usize,
}

impl Document<'_> {
    /// Starts a field: its separator, indentation and key.
    fn key(&mut self, key: &str) -> io::Result<()> {
        self.out
            .write_all(if self.fields == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer(&mut *self.out, key)?;
        self.fields += 1;
        self.out.write_all(b": ")
    }

    /// An array field of parsed records; none when empty, as `TenantDump` skips it.
    fn parsed<T: Serialize>(&mut self, key: &str, items: &[T]) -> io::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.key(key)?;
        let mut buffer = Vec::new();
        pretty(&items, 1, &mut buffer)?;
        self.out.write_all(&buffer)
    }
}

/// Appends `value` as serde_json's pretty printer writes it `depth` levels into a document.
pub(crate) fn pretty<T: Serialize + ?Sized>(
    value: &T,
    depth: usize,
    buffer: &mut Vec<u8>,
) -> serde_json::Result<()> {
    let writer = Indented {
        buffer,
        margin: &b"                "[..2 * depth],
    };
    let mut serializer =
        serde_json::Serializer::with_formatter(writer, PrettyFormatter::with_indent(b"  "));
    value.serialize(&mut serializer)
}

/// Indents every line but the first by `margin`. Pretty JSON has line breaks only between
/// tokens (a line break in a string is escaped), so this nests a value written on its own.
struct Indented<'b> {
    buffer: &'b mut Vec<u8>,
    margin: &'static [u8],
}

impl Write for Indented<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut rest = bytes;
        while let Some(at) = memchr::memchr(b'\n', rest) {
            self.buffer.extend_from_slice(&rest[..=at]);
            self.buffer.extend_from_slice(self.margin);
            rest = &rest[at + 1..];
        }
        self.buffer.extend_from_slice(rest);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_dump;

    fn typed(body: &[u8], pools: &[String]) -> Result<Vec<u8>, String> {
        let mut dump = parse_dump(body, "body").map_err(|error| error.to_string())?;
        filter_pools(&mut dump, pools);
        canonicalize(&mut dump);
        let mut out = Vec::new();
        to_pretty_json(&dump, &mut out).unwrap();
        Ok(out)
    }

    /// The streamed path, and whether it read the body whole.
    fn streamed(body: &[u8], pools: &[String]) -> (Result<Vec<u8>, String>, bool) {
        let read = std::cell::Cell::new(0);
        let written = std::cell::Cell::new(0);
        let source = Source::Memory {
            name: "body",
            bytes: body,
        };
        match CanonicalExport::index(source, pools, &|bytes| read.set(bytes), u64::MAX) {
            Err(error) => (Err(error.to_string()), true),
            Ok(export) => {
                assert_eq!(read.get(), body.len() as u64);
                let mut out = Vec::new();
                export
                    .write(&mut out, &|users| {
                        assert!(users >= written.get());
                        written.set(users);
                    })
                    .unwrap();
                assert_eq!(written.get(), export.counts().records as u64);
                let dump: TenantDump = serde_json::from_slice(&out).unwrap();
                assert_eq!(dump.pools.len(), export.counts().pools);
                assert_eq!(export.pools(), &dump.pools[..]);
                (Ok(out), export.read_whole())
            }
        }
    }

    fn assert_same(body: &[u8], pools: &[&str]) -> bool {
        let pools: Vec<String> = pools.iter().map(ToString::to_string).collect();
        let (out, whole) = streamed(body, &pools);
        assert_eq!(
            out.as_ref().map(|out| String::from_utf8_lossy(out)),
            typed(body, &pools)
                .as_ref()
                .map(|out| String::from_utf8_lossy(out)),
            "{}",
            String::from_utf8_lossy(body)
        );
        whole
    }

    const ODD: &str = r#"{
      "zeta": {"b": [1, 2.50, -0, 1e3], "a": "\u00e9\n"},
      "user_credentials": [
        {"user_id": "u2", "type": "password", "payload": {"hashed_password": {"value": "h"}}},
        {"user_id": "u1", "type": "password", "id": "c1", "future": null},
        {"user_id": "\u0075\u0031", "type": "totp", "id": "c2"}
      ],
      "codes": [{"id": "k1", "user_id": "u1", "code": "123456"}],
      "us\u0065rs": [
        {"id": "u2", "user_pool_id": "p", "payload": {"name": "Zoë 😀"}},
        {},
        {"id": "", "user_pool_id": ""},
        {"id": "u1", "user_pool_id": "p", "status": null, "metadata": {}, "x": [[], {}]},
        {"id": "u0", "user_pool_id": "q"},
        {"id": "n\u0000", "user_pool_id": "q"},
        {"id": "n", "user_pool_id": "q"},
        {"id": "n\u0001", "user_pool_id": "q"},
        {"id": "é", "user_pool_id": "q"},
        {"id": "\u00e8", "user_pool_id": "q"}
      ],
      "user_identifiers": [
        {"user_id": "u1", "type": "email", "identifier": "B@x.io", "identifier_lc": "b@x.io"},
        {"user_id": "u1", "type": "email", "identifier": "A@x.io", "identifier_lc": "a@x.io"},
        {"user_id": "u1", "type": "email", "identifier": "a@x.io", "identifier_lc": "a@x.io", "n": 2},
        {"user_id": "", "type": "uid", "identifier": "empty"},
        {"type": "uid", "identifier": "nobody"},
        {"user_id": "u0", "type": "uid", "identifier": "zero"}
      ],
      "user_verifiable_addresses": null,
      "group_members": [{"group_id": "g", "user_id": "u2"}, {"group_id": "g", "user_id": "u1"},
                        {"group_id": "g"}, {"user_id": "u1"}],
      "groups": [{"id": "g", "user_pool_id": "p"}, {"id": "h", "user_pool_id": "q"}, {"id": "i"}],
      "schemas": [{"id": "s2"}, {"id": "s1", "name": "S"}],
      "pools": [{"id": "q"}, {"id": "p", "name": "P", "settings": {"z": 1, "a": 2}}, {"id": ""}],
      "alpha": []
    }"#;

    #[test]
    fn streamed_export_is_the_typed_export_byte_for_byte() {
        for pools in [
            &[][..],
            &["p"],
            &["q", "p"],
            &[""],
            &["nowhere"],
            &["q", "q"],
        ] {
            assert!(!assert_same(ODD.as_bytes(), pools), "{pools:?}");
            let with_mark = format!("\u{feff}\n{ODD}\n\n");
            assert!(!assert_same(with_mark.as_bytes(), pools), "{pools:?}");
        }
        for empty in [
            "{}",
            " { } ",
            "{\"users\": [], \"pools\": null, \"codes\": []}",
        ] {
            assert!(!assert_same(empty.as_bytes(), &[]), "{empty}");
            assert!(!assert_same(empty.as_bytes(), &["p"]), "{empty}");
        }
    }

    #[test]
    fn keys_with_escapes_are_kept_aside_and_sort_like_the_others() {
        let users: Vec<String> = (0..40)
            .map(|n| {
                let id = if n % 3 == 0 {
                    format!("\\u0075{}", 40 - n)
                } else {
                    format!("u{}", 40 - n)
                };
                format!("{{\"id\": \"{id}\", \"user_pool_id\": \"p{}\"}}", n % 2)
            })
            .collect();
        let body = format!("{{\"users\": [{}]}}", users.join(","));
        let (_, whole) = streamed(body.as_bytes(), &[]);
        assert!(!whole);
        assert!(!assert_same(body.as_bytes(), &[]));
        assert!(!assert_same(body.as_bytes(), &["p1"]));
    }

    #[test]
    fn refused_documents_fail_as_the_typed_path_fails() {
        for broken in [
            "",
            "   ",
            "[]",
            "{\"users\": [{\"id\": \"u1\"},]}",
            "{\"users\": [{\"id\": \"u2\", \"status\": 7}]}",
            "{\"users\": [{\"id\": \"u1\", \"id\": \"u1\"}]}",
            "{\"codes\": [{\"code\": 1, \"id\": 2}]}",
            "{\"codes\": {}}",
            "{\"groups\": [1]}",
            "{\"x\": tru}",
            "{\"x\": 1, \"x\": 2}",
            "{\"users\": [{\"id\": \"\\ud800\"}]}",
            "<html></html>",
        ] {
            assert!(assert_same(broken.as_bytes(), &[]), "{broken}");
        }
    }

    #[test]
    fn records_too_deep_for_the_whole_parse_take_the_typed_path_for_its_error() {
        // serde_json refuses the 128th level; a user's own levels start at the third.
        let user = |levels: usize| {
            format!(
                "{{\"users\": [{{\"id\": \"u\", \"x\": {}{}}}], \"y\": [\"[{{\"]}}",
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        assert!(!assert_same(user(90).as_bytes(), &[]));
        assert!(!assert_same(user(124).as_bytes(), &[]));
        assert!(typed(user(124).as_bytes(), &[]).is_ok());
        assert!(assert_same(user(125).as_bytes(), &[]));
        assert!(typed(user(125).as_bytes(), &[]).is_err());
        let field =
            |levels: usize| format!("{{\"x\": {}{}}}", "[".repeat(levels), "]".repeat(levels));
        assert!(!assert_same(field(99).as_bytes(), &[]));
        assert!(!assert_same(field(126).as_bytes(), &[]));
        assert!(typed(field(126).as_bytes(), &[]).is_ok());
        assert!(assert_same(field(127).as_bytes(), &[]));
        assert!(typed(field(127).as_bytes(), &[]).is_err());
        // Brackets inside strings do not count.
        let brackets = format!(
            "{{\"users\": [{{\"id\": \"{}\\\"{}\"}}]}}",
            "[".repeat(200),
            "{".repeat(200)
        );
        assert!(!assert_same(brackets.as_bytes(), &[]));
    }

    #[test]
    fn an_index_entry_takes_48_to_64_bytes() {
        assert_eq!(std::mem::size_of::<Entry<2>>(), 48);
        assert_eq!(std::mem::size_of::<Entry<3>>(), 56);
        assert_eq!(std::mem::size_of::<Entry<4>>(), 64);
    }

    proptest::proptest! {
        #[test]
        fn key_prefixes_order_as_the_keys_do(
            a in proptest::collection::vec("[a\\x00\\x01é]{0,10}", 3),
            b in proptest::collection::vec("[a\\x00\\x01é]{0,10}", 3),
        ) {
            let prefix = |key: &[String]| key_prefix(&key.iter().map(|p| p.as_bytes()).collect::<Vec<_>>());
            let (pa, pb) = (prefix(&a), prefix(&b));
            if pa != pb {
                proptest::prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            }
            if a == b {
                proptest::prop_assert_eq!(pa, pb);
            }
        }
    }
}
