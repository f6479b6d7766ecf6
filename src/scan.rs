//! Splits a `TenantDump` document into its top-level fields and, inside the per-user arrays
//! (`users`, `user_identifiers`, ...), into single records, reading the input a chunk at a time.
//!
//! This is what lets poolsync read a million-user export (about 2 GB) without holding it, or a
//! tree of it, in memory: each record is handed to the caller as a byte slice, parsed there with
//! `serde_json::from_slice` (which checks it fully) and dropped. The scanner itself checks only
//! the document's outline (an object of distinct keys, arrays of comma-separated values, nothing
//! after the end); it finds where a value ends by counting brackets outside strings. Whatever it
//! refuses, [`crate::load::parse_dump`] refuses too, and that is where the located error message
//! comes from: callers fall back to it.

use std::io::Read;

/// The top-level arrays whose records are handed over one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordArray {
    /// `users`.
    Users,
    /// `user_identifiers`.
    Identifiers,
    /// `user_verifiable_addresses`.
    Addresses,
    /// `user_credentials`.
    Credentials,
    /// `group_members`.
    GroupMembers,
}

impl RecordArray {
    /// Every record array, in the order a document lists them.
    pub const ALL: [RecordArray; 5] = [
        RecordArray::Users,
        RecordArray::Identifiers,
        RecordArray::Addresses,
        RecordArray::Credentials,
        RecordArray::GroupMembers,
    ];

    /// The array's key in a `TenantDump`.
    pub fn key(self) -> &'static str {
        match self {
            RecordArray::Users => "users",
            RecordArray::Identifiers => "user_identifiers",
            RecordArray::Addresses => "user_verifiable_addresses",
            RecordArray::Credentials => "user_credentials",
            RecordArray::GroupMembers => "group_members",
        }
    }

    fn from_key(key: &str) -> Option<RecordArray> {
        RecordArray::ALL
            .into_iter()
            .find(|array| array.key() == key)
    }
}

/// A part of the document, borrowed from the scanner's buffer for the length of one call.
#[derive(Debug)]
pub enum Piece<'a> {
    /// One record of a [`RecordArray`].
    Record {
        /// Its array.
        array: RecordArray,
        /// Its position in the array.
        index: usize,
        /// Where its bytes start in the input.
        offset: u64,
        /// Its JSON text.
        bytes: &'a [u8],
    },
    /// The whole value of any other top-level key (`pools`, `groups`, unknown keys).
    Field {
        /// The key, unescaped.
        key: &'a str,
        /// Where the value's bytes start in the input.
        offset: u64,
        /// The value's JSON text.
        bytes: &'a [u8],
    },
}

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E> {
    /// Reading the input failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The input is not a JSON object of the expected outline; the full parser says why.
    #[error("not a well-formed tenant document (at byte {offset})")]
    Malformed {
        /// About where the scanner gave up.
        offset: u64,
    },
    /// The caller's visitor refused a piece.
    #[error(transparent)]
    Visit(E),
}

/// How much is read from a reader at a time.
pub const CHUNK: usize = 8 << 20;

/// The deepest nesting serde_json reads, counted from the document's root: it refuses the 128th
/// level. A piece parsed on its own starts below that root (a record two levels down, a field
/// one), so a piece is checked with [`too_deep`] before its own parse is trusted.
pub const MAX_NESTING: usize = 127;

/// How deep `bytes` (one JSON value) nests: 0 for a scalar, 1 for `[]`.
pub fn nesting(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
    while at < bytes.len() {
        match bytes[at] {
            b'"' => loop {
                at += 1;
                match memchr::memchr2(b'"', b'\\', bytes.get(at..).unwrap_or_default()) {
                    Some(found) if bytes[at + found] == b'\\' => at += found + 1,
                    Some(found) => {
                        at += found;
                        break;
                    }
                    // Unterminated: the parse refuses it anyway.
                    None => return deepest,
                }
            },
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    deepest
}

/// Whether `bytes` (one JSON value), `depth` levels into a document, nests deeper than serde_json
/// reads a document ([`MAX_NESTING`]): then it may parse on its own and still make the whole
/// document fail.
pub fn too_deep(bytes: &[u8], depth: usize) -> bool {
    // The count of opening brackets bounds the depth and is quick to take.
    let bound = memchr::memchr2_iter(b'{', b'[', bytes).count();
    depth + bound > MAX_NESTING && depth + nesting(bytes) > MAX_NESTING
}

/// Scans a whole document held in memory.
pub fn scan_slice<E>(
    bytes: &[u8],
    visit: impl FnMut(Piece<'_>) -> Result<(), E>,
) -> Result<u64, ScanError<E>> {
    Scanner {
        window: SliceWindow { bytes, start: 0 },
        visit,
    }
    .document()
}

/// Scans a document from a reader, `chunk` bytes at a time (a record longer than that is read
/// whole all the same). Returns the number of bytes read.
pub fn scan_reader<R: Read, E>(
    reader: R,
    chunk: usize,
    visit: impl FnMut(Piece<'_>) -> Result<(), E>,
) -> Result<u64, ScanError<E>> {
    Scanner {
        window: ReadWindow {
            reader,
            buffer: Vec::new(),
            start: 0,
            base: 0,
            chunk: chunk.max(1),
            eof: false,
        },
        visit,
    }
    .document()
}

/// The unread part of the input; positions are relative to its start, which moves only on
/// [`Window::consume`].
trait Window {
    fn data(&self) -> &[u8];
    /// The input offset of `data()[0]`.
    fn base(&self) -> u64;
    fn consume(&mut self, count: usize);
    /// Reads more input onto the end of `data()`; `false` at the end of the input.
    fn more(&mut self) -> std::io::Result<bool>;
}

struct SliceWindow<'s> {
    bytes: &'s [u8],
    start: usize,
}

impl Window for SliceWindow<'_> {
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
    fn base(&self) -> u64 {
        self.start as u64
    }
    fn consume(&mut self, count: usize) {
        self.start += count;
    }
    fn more(&mut self) -> std::io::Result<bool> {
        Ok(false)
    }
}

struct ReadWindow<R> {
    reader: R,
    buffer: Vec<u8>,
    start: usize,
    base: u64,
    chunk: usize,
    eof: bool,
}

impl<R: Read> Window for ReadWindow<R> {
    fn data(&self) -> &[u8] {
        &self.buffer[self.start..]
    }
    fn base(&self) -> u64 {
        self.base
    }
    fn consume(&mut self, count: usize) {
        self.start += count;
        self.base += count as u64;
    }
    fn more(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        // Drop what has been consumed before reading on, so the buffer holds at most a chunk
        // plus the record being read.
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        loop {
            let before = self.buffer.len();
            match self
                .reader
                .by_ref()
                .take(self.chunk as u64)
                .read_to_end(&mut self.buffer)
            {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(_) => return Ok(self.buffer.len() > before),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
    }
}

struct Scanner<W, F> {
    window: W,
    visit: F,
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

impl<W: Window, F, E> Scanner<W, F>
where
    F: FnMut(Piece<'_>) -> Result<(), E>,
{
    fn malformed(&self, at: usize) -> ScanError<E> {
        ScanError::Malformed {
            offset: self.window.base() + at as u64,
        }
    }

    /// The first non-whitespace byte at or after `at`, and its position.
    fn skip_whitespace(&mut self, mut at: usize) -> Result<Option<(usize, u8)>, ScanError<E>> {
        loop {
            let data = self.window.data();
            while at < data.len() {
                if !is_whitespace(data[at]) {
                    return Ok(Some((at, data[at])));
                }
                at += 1;
            }
            if !self.window.more()? {
                return Ok(None);
            }
        }
    }

    /// The next non-whitespace byte, which must exist.
    fn next_byte(&mut self, at: usize) -> Result<(usize, u8), ScanError<E>> {
        match self.skip_whitespace(at)? {
            Some(found) => Ok(found),
            None => Err(self.malformed(at)),
        }
    }

    /// Where the JSON value starting at `at` ends (one past its last byte). The value itself is
    /// checked by whoever parses it; this only has to find its end.
    fn value_end(&mut self, at: usize) -> Result<usize, ScanError<E>> {
        let mut position = at;
        let mut depth = 0usize;
        let mut in_string = false;
        loop {
            let data = self.window.data();
            while position < data.len() {
                if in_string {
                    match memchr::memchr2(b'"', b'\\', &data[position..]) {
                        None => position = data.len(),
                        Some(found) => {
                            position += found;
                            if data[position] == b'\\' {
                                if position + 1 >= data.len() {
                                    break;
                                }
                                position += 2;
                                continue;
                            }
                            position += 1;
                            in_string = false;
                            if depth == 0 {
                                return Ok(position);
                            }
                        }
                    }
                    continue;
                }
                let byte = data[position];
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        if depth == 0 {
                            // A scalar ended right before a closing bracket.
                            return Ok(position);
                        }
                        depth -= 1;
                        if depth == 0 {
                            return Ok(position + 1);
                        }
                    }
                    b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return Ok(position),
                    _ => {}
                }
                position += 1;
            }
            if !self.window.more()? {
                // A scalar may end the input (and be refused later); anything open may not.
                if depth == 0 && !in_string && position > at {
                    return Ok(position);
                }
                return Err(self.malformed(position));
            }
        }
    }

    fn document(mut self) -> Result<u64, ScanError<E>> {
        // A UTF-8 byte-order mark may precede the document, as `load` allows.
        while self.window.data().len() < 3 && self.window.more()? {}
        if self.window.data().starts_with(b"\xEF\xBB\xBF") {
            self.window.consume(3);
        }
        let (at, byte) = self.next_byte(0)?;
        if byte != b'{' {
            return Err(self.malformed(at));
        }
        self.window.consume(at + 1);
        let mut seen: Vec<String> = Vec::new();
        let (mut at, mut byte) = self.next_byte(0)?;
        if byte == b'}' {
            self.window.consume(at + 1);
        } else {
            loop {
                if byte != b'"' {
                    return Err(self.malformed(at));
                }
                let end = self.value_end(at)?;
                let key: String = serde_json::from_slice(&self.window.data()[at..end])
                    .map_err(|_| self.malformed(at))?;
                if seen.contains(&key) {
                    return Err(self.malformed(at));
                }
                let (colon, found) = self.next_byte(end)?;
                if found != b':' {
                    return Err(self.malformed(colon));
                }
                self.window.consume(colon + 1);
                let (start, first) = self.next_byte(0)?;
                match RecordArray::from_key(&key) {
                    Some(array) if first == b'[' => {
                        self.window.consume(start + 1);
                        self.records(array)?;
                    }
                    Some(_) if first == b'n' => {
                        let end = self.value_end(start)?;
                        if &self.window.data()[start..end] != b"null" {
                            return Err(self.malformed(start));
                        }
                        self.window.consume(end);
                    }
                    Some(_) => return Err(self.malformed(start)),
                    None => {
                        let end = self.value_end(start)?;
                        if end == start {
                            return Err(self.malformed(start));
                        }
                        let offset = self.window.base() + start as u64;
                        let bytes = &self.window.data()[start..end];
                        (self.visit)(Piece::Field {
                            key: &key,
                            offset,
                            bytes,
                        })
                        .map_err(ScanError::Visit)?;
                        self.window.consume(end);
                    }
                }
                seen.push(key);
                let (next, separator) = self.next_byte(0)?;
                match separator {
                    b',' => {
                        (at, byte) = self.next_byte(next + 1)?;
                        self.window.consume(at);
                        at = 0;
                    }
                    b'}' => {
                        self.window.consume(next + 1);
                        break;
                    }
                    _ => return Err(self.malformed(next)),
                }
            }
        }
        if let Some((at, _)) = self.skip_whitespace(0)? {
            return Err(self.malformed(at));
        }
        Ok(self.window.base() + self.window.data().len() as u64)
    }

    /// The records of an array whose `[` has been consumed, up to and including its `]`.
    fn records(&mut self, array: RecordArray) -> Result<(), ScanError<E>> {
        let (at, byte) = self.next_byte(0)?;
        if byte == b']' {
            self.window.consume(at + 1);
            return Ok(());
        }
        let mut at = at;
        let mut index = 0;
        loop {
            let end = self.value_end(at)?;
            if end == at {
                return Err(self.malformed(at));
            }
            let offset = self.window.base() + at as u64;
            let bytes = &self.window.data()[at..end];
            (self.visit)(Piece::Record {
                array,
                index,
                offset,
                bytes,
            })
            .map_err(ScanError::Visit)?;
            index += 1;
            self.window.consume(end);
            let (next, separator) = self.next_byte(0)?;
            match separator {
                b',' => {
                    let (start, _) = self.next_byte(next + 1)?;
                    self.window.consume(start);
                    at = 0;
                }
                b']' => {
                    self.window.consume(next + 1);
                    return Ok(());
                }
                _ => return Err(self.malformed(next)),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A reader that hands out `step` bytes per call, to put chunk edges everywhere.
    pub(crate) struct Trickle<'a> {
        pub(crate) bytes: &'a [u8],
        pub(crate) step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let count = self.step.min(out.len()).min(self.bytes.len());
            out[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    /// Rebuilds the document from its pieces, as a `Value`, checking offsets on the way.
    fn reassemble(input: &[u8], pieces: Vec<(Option<RecordArray>, String, u64, Vec<u8>)>) -> Value {
        let mut object = serde_json::Map::new();
        for (array, key, offset, bytes) in pieces {
            let start = usize::try_from(offset).unwrap();
            assert_eq!(&input[start..start + bytes.len()], &bytes[..]);
            let value: Value = serde_json::from_slice(&bytes).unwrap();
            match array {
                Some(_) => object
                    .entry(key)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .unwrap()
                    .push(value),
                None => {
                    object.insert(key, value);
                }
            }
        }
        Value::Object(object)
    }

    type Collected = Vec<(Option<RecordArray>, String, u64, Vec<u8>)>;

    fn collect(input: &[u8], step: Option<usize>) -> Result<Collected, ScanError<()>> {
        let mut pieces = Vec::new();
        let visit = |piece: Piece<'_>| {
            match piece {
                Piece::Record {
                    array,
                    offset,
                    bytes,
                    index,
                } => {
                    let expected = pieces
                        .iter()
                        .filter(|(a, _, _, _)| *a == Some(array))
                        .count();
                    assert_eq!(index, expected);
                    pieces.push((Some(array), array.key().to_string(), offset, bytes.to_vec()))
                }
                Piece::Field { key, offset, bytes } => {
                    pieces.push((None, key.to_string(), offset, bytes.to_vec()))
                }
            }
            Ok(())
        };
        let total = match step {
            None => scan_slice(input, visit)?,
            Some(step) => scan_reader(Trickle { bytes: input, step }, step, visit)?,
        };
        assert_eq!(total, input.len() as u64);
        Ok(pieces)
    }

    const DOCUMENT: &str = r#"
    { "pools" : [{"id": "p", "name": "a \"quoted\" ]} name"}],
      "users": [ {"id": "u1", "payload": {"list": [1, {"x": "]"}], "n": -1.5e3}},
                 {"id": "u\u00e9\\", "payload": null} ],
      "user_identifiers": [],
      "user_credentials": null,
      "extra_number": 42, "extra_text": "}", "extra_true": true,
      "group_members": [{"group_id": "g", "user_id": "u1"}]
    }
    "#;

    #[test]
    fn pieces_reassemble_into_the_document_at_any_chunk_size() {
        let expected: Value = serde_json::from_str(DOCUMENT).unwrap();
        let mut expected_without_empties = expected.clone();
        let object = expected_without_empties.as_object_mut().unwrap();
        object.remove("user_identifiers");
        object.remove("user_credentials");
        for step in [None, Some(1), Some(2), Some(3), Some(7), Some(64)] {
            let pieces = collect(DOCUMENT.as_bytes(), step).unwrap();
            assert_eq!(
                reassemble(DOCUMENT.as_bytes(), pieces),
                expected_without_empties,
                "step {step:?}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_and_an_empty_object_are_accepted() {
        assert!(collect(b"\xEF\xBB\xBF {}", Some(1)).unwrap().is_empty());
        assert!(collect(b"{}", None).unwrap().is_empty());
    }

    #[test]
    fn outlines_the_parser_refuses_are_refused() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"users\": [}",
            "{\"users\": [{\"id\": 1},]}",
            "{\"users\": [{\"id\": 1}}",
            "{\"users\": {}}",
            "{\"users\": \"x\"}",
            "{\"users\": nul}",
            "{\"pools\": [], \"pools\": []}",
            "{\"pools\" []}",
            "{\"pools\": [],}",
            "{\"pools\": []} x",
            "{\"pools\": }",
            "{pools: []}",
            "{\"users\": [{\"id\": \"unterminated}]}",
        ] {
            for step in [None, Some(1), Some(5)] {
                assert!(
                    matches!(
                        collect(bad.as_bytes(), step),
                        Err(ScanError::Malformed { .. })
                    ),
                    "{bad:?} at step {step:?} was accepted"
                );
            }
        }
    }

    #[test]
    fn the_visitor_can_stop_the_scan() {
        let result = scan_slice(DOCUMENT.as_bytes(), |piece| match piece {
            Piece::Record { .. } => Err("stop"),
            Piece::Field { .. } => Ok(()),
        });
        assert!(matches!(result, Err(ScanError::Visit("stop"))));
    }

    proptest::proptest! {
        #[test]
        fn any_json_object_scans_like_serde_reads_it(
            users in proptest::collection::vec("[a-z\"\\\\{}\\[\\] ,:]{0,12}", 0..6),
            step in 1usize..40,
        ) {
            let document = json!({
                "pools": [{"id": users.first().cloned().unwrap_or_default()}],
                "users": users.iter().map(|id| json!({"id": id, "payload": {"tags": [id, {"k": id}]}})).collect::<Vec<_>>(),
                "odd": users,
            });
            for text in [serde_json::to_string(&document).unwrap(), serde_json::to_string_pretty(&document).unwrap()] {
                let pieces = collect(text.as_bytes(), Some(step)).unwrap();
                let mut expected = document.clone();
                if document["users"].as_array().unwrap().is_empty() {
                    expected.as_object_mut().unwrap().remove("users");
                }
                proptest::prop_assert_eq!(reassemble(text.as_bytes(), pieces), expected);
            }
        }
    }
}
