//! Where a document comes from, and the ways it is read: a chunk at a time (the scan), again by
//! byte range (excerpts, and the records a message quotes), checked for the error the whole
//! parse would report, and, on the rare whole-document path, whole.

use crate::error::LoadError;
use crate::load::{check_reader, check_slice, parse_dump, read_dump};
use crate::model::TenantDump;
use crate::scan::{CHUNK, Piece, ScanError, scan_reader, scan_slice};
use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Where a document comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A file, read in chunks.
    File(&'a Path),
    /// Bytes already in memory (an export's body), named in messages by `name`.
    Memory {
        /// What to call it in messages.
        name: &'a str,
        /// The document.
        bytes: &'a [u8],
    },
    /// An open file, such as an export's body spooled to an unnamed temporary file; read from
    /// its start whatever its position.
    Handle {
        /// What to call it in messages.
        name: &'a str,
        /// The document.
        file: &'a std::fs::File,
    },
}

impl<'a> Source<'a> {
    /// What messages call it.
    pub fn name(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Memory { name, .. } | Source::Handle { name, .. } => (*name).to_string(),
        }
    }

    /// The size in bytes, when it can be known cheaply (0 otherwise).
    pub fn size(&self) -> u64 {
        match self {
            Source::Memory { bytes, .. } => bytes.len() as u64,
            Source::File(path) => std::fs::metadata(path).map_or(0, |m| m.len()),
            Source::Handle { file, .. } => file.metadata().map_or(0, |m| m.len()),
        }
    }

    /// A reader from the start of a file or handle.
    fn reader(&self) -> std::io::Result<std::fs::File> {
        match self {
            Source::File(path) => std::fs::File::open(path),
            Source::Handle { file, .. } => {
                let mut file = file.try_clone()?;
                file.seek(SeekFrom::Start(0))?;
                Ok(file)
            }
            Source::Memory { .. } => Err(std::io::Error::other("a slice is read in place")),
        }
    }

    /// Scans the document a piece at a time (see [`crate::scan`]); returns its size.
    pub(crate) fn scan<E>(
        &self,
        visit: impl FnMut(Piece<'_>) -> Result<(), E>,
    ) -> Result<u64, ScanError<E>> {
        match self {
            Source::Memory { bytes, .. } => scan_slice(bytes, visit),
            Source::File(_) | Source::Handle { .. } => scan_reader(self.reader()?, CHUNK, visit),
        }
    }

    /// The document parsed whole: the exact path, for what the record-at-a-time readers do not
    /// handle.
    pub(crate) fn load(&self) -> Result<TenantDump, LoadError> {
        match self {
            Source::File(path) => read_dump(path),
            Source::Memory { name, bytes } => parse_dump(bytes, name),
            Source::Handle { name, .. } => {
                let mut bytes = Vec::new();
                self.reader()
                    .and_then(|mut reader| reader.read_to_end(&mut bytes))
                    .map_err(|source| self.read_error(source))?;
                parse_dump(&bytes, name)
            }
        }
    }

    /// The error [`parse_dump`] reports for the document, found a record at a time; `Ok` when
    /// it parses.
    pub(crate) fn check(&self) -> Result<(), LoadError> {
        match self {
            Source::Memory { name, bytes } => check_slice(bytes, name),
            Source::File(_) | Source::Handle { .. } => {
                let reader = self.reader().map_err(|source| self.read_error(source))?;
                check_reader(reader, &self.name())
            }
        }
    }

    fn read_error(&self, source: std::io::Error) -> LoadError {
        LoadError::Read {
            path: match self {
                Source::File(path) => path.to_path_buf(),
                _ => self.name().into(),
            },
            source,
        }
    }
}

/// Reads byte ranges of a source again.
pub(crate) enum Ranges<'a> {
    File(std::fs::File),
    Memory(&'a [u8]),
}

impl<'a> Ranges<'a> {
    pub(crate) fn open(source: Source<'a>) -> std::io::Result<Ranges<'a>> {
        Ok(match source {
            Source::File(path) => Ranges::File(std::fs::File::open(path)?),
            Source::Handle { file, .. } => Ranges::File(file.try_clone()?),
            Source::Memory { bytes, .. } => Ranges::Memory(bytes),
        })
    }

    /// Appends `len` bytes at `offset` to `out`.
    pub(crate) fn append(
        &mut self,
        offset: u64,
        len: u64,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let short = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the input shrank");
        let len = usize::try_from(len).map_err(|_| short())?;
        match self {
            Ranges::Memory(bytes) => {
                let start = usize::try_from(offset).map_err(|_| short())?;
                let end = start.checked_add(len).ok_or_else(short)?;
                out.extend_from_slice(bytes.get(start..end).ok_or_else(short)?);
            }
            Ranges::File(file) => {
                use std::os::unix::fs::FileExt;
                let start = out.len();
                out.resize(start + len, 0);
                file.read_exact_at(&mut out[start..], offset)?;
            }
        }
        Ok(())
    }

    /// The `len` bytes at `offset`: borrowed from memory, or read from the file (at any
    /// position, from any thread).
    pub(crate) fn bytes(&self, offset: u64, len: u64) -> std::io::Result<Cow<'a, [u8]>> {
        match self {
            Ranges::Memory(bytes) => {
                let short =
                    || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the input shrank");
                let start = usize::try_from(offset).map_err(|_| short())?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| start.checked_add(len))
                    .ok_or_else(short)?;
                Ok(Cow::Borrowed(bytes.get(start..end).ok_or_else(short)?))
            }
            Ranges::File(file) => {
                use std::os::unix::fs::FileExt;
                let len = usize::try_from(len).map_err(std::io::Error::other)?;
                let mut out = vec![0; len];
                file.read_exact_at(&mut out, offset)?;
                Ok(Cow::Owned(out))
            }
        }
    }

    /// The record of `len` bytes at `offset`, parsed into its type.
    pub(crate) fn record<T: serde::de::DeserializeOwned>(
        &mut self,
        offset: u64,
        len: u64,
    ) -> std::io::Result<T> {
        let mut bytes = Vec::new();
        self.append(offset, len, &mut bytes)?;
        // The record parsed when it was first read: failing now, the input changed meanwhile.
        serde_json::from_slice(&bytes)
            .map_err(|_| std::io::Error::other("the input changed while it was read"))
    }
}
