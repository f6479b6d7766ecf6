//! Writes converted users without holding them: each of the document's four arrays goes to a
//! spool of its own as users come, and the document is put together from the spools at the end,
//! byte for byte what [`crate::export::to_pretty_json`] writes for the same `TenantDump`.
//!
//! The spools are any `Read + Write + Seek` the caller gives (the command passes unnamed
//! temporary files, mode 0600, since they hold password hashes; tests pass memory). The id map
//! (`--id-map-out`) is spooled the same way. Nothing here opens a file.

use super::converter::Converted;
use super::table::csv_error;
use crate::export::pretty;
use serde::Serialize;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

/// The arrays a converted document has, in the order a `TenantDump` writes them.
const ARRAYS: [&str; 4] = [
    "users",
    "user_identifiers",
    "user_verifiable_addresses",
    "user_credentials",
];

/// How the id map is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdMapFormat {
    /// `source_id,user_id` lines under that header.
    Csv,
    /// A JSON array of `{"source_id": …, "user_id": …}`.
    Json,
}

struct Array<F: Write> {
    writer: BufWriter<F>,
    records: u64,
}

/// The id map's spool.
enum IdMap<F: Write> {
    Csv(Option<Box<csv::Writer<F>>>),
    Json(Array<F>),
}

/// The spools of one conversion.
pub struct Spool<F: Read + Write + Seek> {
    arrays: [Array<F>; 4],
    id_map: Option<IdMap<F>>,
    buffer: Vec<u8>,
}

#[derive(Serialize)]
struct IdMapping<'a> {
    source_id: &'a str,
    user_id: &'a str,
}

impl<F: Read + Write + Seek> Spool<F> {
    /// Spools the four arrays to `files`, and the id map to `id_map` if given.
    pub fn new(files: [F; 4], id_map: Option<(F, IdMapFormat)>) -> Spool<F> {
        let array = |file| Array {
            writer: BufWriter::with_capacity(1 << 16, file),
            records: 0,
        };
        Spool {
            arrays: files.map(array),
            id_map: id_map.map(|(file, format)| match format {
                IdMapFormat::Csv => IdMap::Csv(Some(Box::new(csv::Writer::from_writer(file)))),
                IdMapFormat::Json => IdMap::Json(array(file)),
            }),
            buffer: Vec::new(),
        }
    }

    /// Adds a converted user's records.
    pub fn push(&mut self, converted: &Converted) -> io::Result<()> {
        let buffer = &mut self.buffer;
        let [users, identifiers, addresses, credentials] = &mut self.arrays;
        append(users, &converted.user, buffer)?;
        for record in &converted.identifiers {
            append(identifiers, record, buffer)?;
        }
        for record in &converted.addresses {
            append(addresses, record, buffer)?;
        }
        for record in &converted.credentials {
            append(credentials, record, buffer)?;
        }
        let mapping = IdMapping {
            source_id: &converted.source_id,
            user_id: converted.user.id.as_deref().unwrap_or_default(),
        };
        match &mut self.id_map {
            Some(IdMap::Csv(Some(writer))) => writer.serialize(&mapping).map_err(csv_error)?,
            Some(IdMap::Json(map)) => append_at(map, &mapping, buffer, 1)?,
            _ => {}
        }
        Ok(())
    }

    /// Users spooled so far.
    pub fn users(&self) -> u64 {
        self.arrays[0].records
    }

    /// Writes the document (pretty JSON with a final newline) to `out`.
    pub fn write_document(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let mut written = 0;
        out.write_all(b"{")?;
        for (name, array) in ARRAYS.iter().zip(&mut self.arrays) {
            if array.records == 0 {
                continue;
            }
            if written > 0 {
                out.write_all(b",")?;
            }
            write!(out, "\n  \"{name}\": [\n    ")?;
            copy_back(array, out)?;
            out.write_all(b"\n  ]")?;
            written += 1;
        }
        if written > 0 {
            out.write_all(b"\n")?;
        }
        out.write_all(b"}\n")
    }

    /// Writes the id map, if one was spooled, to `out`; `Ok(false)` when there is none.
    pub fn write_id_map(&mut self, out: &mut dyn Write) -> io::Result<bool> {
        match &mut self.id_map {
            None | Some(IdMap::Csv(None)) => return Ok(false),
            Some(IdMap::Csv(writer)) => {
                let Some(writer) = writer.take() else {
                    return Ok(false);
                };
                let written = self.arrays[0].records;
                let mut file = writer.into_inner().map_err(|error| error.into_error())?;
                if written == 0 {
                    out.write_all(b"source_id,user_id\n")?;
                }
                file.seek(SeekFrom::Start(0))?;
                io::copy(&mut file, out)?;
            }
            Some(IdMap::Json(map)) if map.records == 0 => out.write_all(b"[]\n")?,
            Some(IdMap::Json(map)) => {
                out.write_all(b"[\n  ")?;
                copy_back(map, out)?;
                out.write_all(b"\n]\n")?;
            }
        }
        Ok(true)
    }
}

fn append<F: Write>(
    array: &mut Array<F>,
    record: &impl Serialize,
    buffer: &mut Vec<u8>,
) -> io::Result<()> {
    append_at(array, record, buffer, 2)
}

/// Appends a record `depth` levels into the document, after a separator when it is not the
/// first (the first's margin is written with the array's opening).
fn append_at<F: Write>(
    array: &mut Array<F>,
    record: &impl Serialize,
    buffer: &mut Vec<u8>,
    depth: usize,
) -> io::Result<()> {
    buffer.clear();
    if array.records > 0 {
        buffer.push(b',');
        buffer.push(b'\n');
        buffer.extend(std::iter::repeat_n(b' ', 2 * depth));
    }
    pretty(record, depth, buffer)?;
    array.records += 1;
    array.writer.write_all(buffer)
}

/// Everything spooled to `array`, copied to `out` from the start.
fn copy_back<F: Read + Write + Seek>(array: &mut Array<F>, out: &mut dyn Write) -> io::Result<()> {
    array.writer.flush()?;
    let file = array.writer.get_mut();
    file.seek(SeekFrom::Start(0))?;
    io::copy(file, out)?;
    Ok(())
}
