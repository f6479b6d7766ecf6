//! Reads the rows of a CSV export as a stream, each row a record keyed by the header's names.
//!
//! Lines starting with `#` are comments (Clerk's export opens with one), a UTF-8 byte-order mark
//! is skipped, quoting is RFC 4180's. A row shorter than its header still gives a record, with
//! the missing cells reported as lost; cells beyond the header are kept under `column N`. Empty
//! cells are absent. This module only splits; what a column means is the source's business.

use super::MAX_LINE_BYTES;
use super::json::{Event, skip_bom};
use super::user::{Lost, Position};
use crate::index::shorten;
use crate::model::Object;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

/// A row: its line, its cells by column name, and what did not fit the header.
#[derive(Debug)]
pub struct Row {
    /// The line the row starts on.
    pub line: u64,
    /// Non-empty cells by column name.
    pub cells: Object,
    /// Missing cells of a short row (as one entry) and cells beyond the header.
    pub lost: Vec<Lost>,
}

/// Reads the header, then hands over every row. Problems (a row that is not UTF-8, a header
/// naming a column twice or missing a `required` one) go to `on_problem` as
/// [`Event::Problem`]s; a header with a problem ends the reading.
pub fn read_rows(
    input: &mut dyn BufRead,
    required: &[&str],
    on_row: &mut dyn FnMut(Row),
    on_problem: &mut dyn FnMut(Event),
) -> io::Result<Option<Vec<String>>> {
    skip_bom(input)?;
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .has_headers(false)
        .from_reader(Lines::new(input));
    let mut record = csv::ByteRecord::new();
    let header: Vec<String> = loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => {
                on_problem(Event::Problem(
                    Position::Line(1),
                    "the file is empty: expected a CSV header row".into(),
                ));
                return Ok(None);
            }
            Ok(true) if record.iter().all(|cell| cell.trim_ascii().is_empty()) => continue,
            Ok(true) => {
                let line = line_of(&mut reader, &record);
                let mut names = Vec::with_capacity(record.len());
                let mut seen = std::collections::HashSet::with_capacity(record.len());
                for (index, cell) in record.iter().enumerate() {
                    let Ok(name) = std::str::from_utf8(cell) else {
                        on_problem(Event::Problem(
                            Position::Line(line),
                            format!("the header's column {} is not UTF-8 text", index + 1),
                        ));
                        return Ok(None);
                    };
                    let name = name.trim().to_string();
                    if !seen.insert(name.clone()) {
                        on_problem(Event::Problem(
                            Position::Line(line),
                            format!("the header names the column `{}` twice", shorten(&name)),
                        ));
                        return Ok(None);
                    }
                    names.push(name);
                }
                if let Some(missing) = required
                    .iter()
                    .find(|name| !names.iter().any(|n| n == *name))
                {
                    on_problem(Event::Problem(
                        Position::Line(line),
                        format!("the header has no `{missing}` column"),
                    ));
                    return Ok(None);
                }
                break names;
            }
            Err(error) => return Err(csv_error(error)),
        }
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(Some(header)),
            Ok(true) => {
                let line = line_of(&mut reader, &record);
                if record.len() == 1 && record[0].trim_ascii().is_empty() {
                    continue;
                }
                match row(&header, &record, line) {
                    Ok(row) => on_row(row),
                    Err(message) => on_problem(Event::Problem(Position::Line(line), message)),
                }
            }
            Err(error) => return Err(csv_error(error)),
        }
    }
}

fn line_of<R: Read>(reader: &mut csv::Reader<Lines<R>>, record: &csv::ByteRecord) -> u64 {
    let byte = record.position().map_or(0, csv::Position::byte);
    reader.get_mut().line_at(byte)
}

/// A reader that notes where lines start as a CSV reader reads through it, so that a record's
/// line is right where the `csv` crate's own count is not: after a CRLF it names the line
/// before (BurntSushi/rust-csv#395), and after comment or blank lines the first of those.
/// It keeps only the lines of the CSV reader's buffer, and refuses a line longer than
/// [`MAX_LINE_BYTES`] (an I/O error of kind `InvalidData`), so that no line fills memory.
pub struct Lines<R> {
    inner: R,
    /// Bytes read so far.
    read: u64,
    /// Bytes read since the last line's end.
    line_bytes: u64,
    /// Lines before the first of `starts`.
    passed: u64,
    /// Each line's start (from the line of the last record on) and its first byte, once read.
    starts: VecDeque<(u64, Option<u8>)>,
}

impl<R> Lines<R> {
    /// Counts the lines of `inner`.
    pub fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            read: 0,
            line_bytes: 0,
            passed: 0,
            starts: VecDeque::from([(0, None)]),
        }
    }

    /// The line of the record the CSV reader says starts at `byte`: the first line from there
    /// that is neither blank nor a `#` comment. Records must be asked for in order.
    pub fn line_at(&mut self, byte: u64) -> u64 {
        while self.starts.get(1).is_some_and(|(start, _)| *start <= byte) {
            self.starts.pop_front();
            self.passed += 1;
        }
        // At a line's last byte (its `\n`, after a CRLF's `\r`) the record is on the next.
        let mut index = usize::from(
            self.starts
                .get(1)
                .is_some_and(|(start, _)| *start == byte + 1),
        );
        while let Some((_, Some(b'#' | b'\r' | b'\n'))) = self.starts.get(index) {
            if index + 1 == self.starts.len() {
                break;
            }
            index += 1;
        }
        self.passed + index as u64 + 1
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        for (at, &byte) in buffer[..count].iter().enumerate() {
            let offset = self.read + at as u64;
            if let Some((start, first @ None)) = self.starts.back_mut() {
                if *start == offset {
                    *first = Some(byte);
                }
            }
            if byte == b'\n' {
                self.starts.push_back((offset + 1, None));
                self.line_bytes = 0;
            } else {
                self.line_bytes += 1;
            }
        }
        self.read += count as u64;
        if self.line_bytes > MAX_LINE_BYTES {
            let line = self.passed + self.starts.len() as u64;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "line {line} is longer than {} MiB: not a CSV file",
                    MAX_LINE_BYTES >> 20
                ),
            ));
        }
        Ok(count)
    }
}

/// A CSV reader's or writer's error as an I/O error.
pub fn csv_error(error: csv::Error) -> io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

fn row(header: &[String], record: &csv::ByteRecord, line: u64) -> Result<Row, String> {
    let mut cells = Object::new();
    let mut lost = Vec::new();
    let mut beyond = Vec::new();
    for (index, cell) in record.iter().enumerate() {
        let text = std::str::from_utf8(cell)
            .map_err(|_| format!("column {} is not UTF-8 text", index + 1))?;
        match header.get(index) {
            _ if text.is_empty() => {}
            Some(name) => {
                cells.insert(name.clone(), Value::String(text.to_string()));
            }
            None => beyond.push(Value::String(text.to_string())),
        }
    }
    // Cells beyond the header are kept together, however many there are.
    if !beyond.is_empty() {
        let first = header.len() + 1;
        lost.push(Lost {
            field: if record.len() == first {
                format!("column {first}")
            } else {
                format!("columns {first}-{}", record.len())
            },
            value: if beyond.len() == 1 {
                beyond.remove(0)
            } else {
                Value::Array(beyond)
            },
            why: format!("beyond the header's {} columns", header.len()),
        });
    }
    if record.len() < header.len() {
        lost.push(Lost {
            field: missing_columns(&header[record.len()..]),
            value: Value::Null,
            why: format!(
                "the row has {} of the header's {} columns",
                record.len(),
                header.len()
            ),
        });
    }
    Ok(Row { line, cells, lost })
}

/// The names of missing columns, the first three and a count of the rest.
fn missing_columns(names: &[String]) -> String {
    let shown = names
        .iter()
        .take(3)
        .map(|name| shorten(name))
        .collect::<Vec<_>>()
        .join(", ");
    match names.len() {
        0..=3 => shown,
        more => format!("{shown} and {} more", more - 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> (Vec<Row>, Vec<String>) {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        read_rows(
            &mut text.as_bytes(),
            &["id"],
            &mut |row| found.push(row),
            &mut |event| {
                if let Event::Problem(position, message) = event {
                    problems.push(format!("{position}: {message}"));
                }
            },
        )
        .unwrap();
        (found, problems)
    }

    #[test]
    fn comments_bom_quotes_and_empty_cells() {
        let (found, problems) = rows(
            "\u{feff}# Password for users: x\nid,email,meta\nu1,a@x.io,\"{\"\"a\"\":1}\"\nu2,,\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].line, 3);
        assert_eq!(found[0].cells["meta"], "{\"a\":1}");
        assert_eq!(found[1].cells.len(), 1);
    }

    #[test]
    fn short_and_long_rows_lose_cells_but_keep_the_row() {
        let (found, _) = rows("id,email,phone\nu1\nu2,a@x.io,+4512345678,extra\n");
        assert_eq!(found[0].lost.len(), 1);
        assert_eq!(found[0].lost[0].field, "email, phone");
        assert_eq!(found[1].lost[0].field, "column 4");
        assert_eq!(found[1].cells.len(), 3);
    }

    #[test]
    fn lines_are_right_after_crlf_comments_and_blank_lines() {
        for text in [
            "id,email\n# a comment\nu1,a\n\n# another\nu2,\"b\nc\"\nu3,d\n",
            "id,email\r\n# a comment\r\nu1,a\r\n\r\n# another\r\nu2,\"b\r\nc\"\r\nu3,d\r\n",
            "\u{feff}# first\r\nid,email\r\n# a comment\r\nu1,a\r\n\r\n# x\r\nu2,\"b\nc\"\r\nu3,d",
        ] {
            let (found, problems) = rows(text);
            assert!(problems.is_empty(), "{problems:?}");
            let lines: Vec<u64> = found.iter().map(|row| row.line).collect();
            let offset = u64::from(text.starts_with('\u{feff}'));
            assert_eq!(lines, [3 + offset, 6 + offset, 8 + offset], "{text:?}");
        }
    }

    #[test]
    fn an_endless_line_is_refused_not_read_into_memory() {
        let endless = io::repeat(b'x').take(MAX_LINE_BYTES + 10);
        let mut input = io::BufReader::new(io::Cursor::new(b"id\nu1\n".to_vec()).chain(endless));
        let error = read_rows(&mut input, &["id"], &mut |_| {}, &mut |_| {}).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "line 3 is longer than 256 MiB: not a CSV file"
        );
    }

    #[test]
    fn a_header_naming_a_column_twice_is_a_problem() {
        let (_, problems) = rows("id,email,email\n");
        assert_eq!(
            problems,
            ["line 1: the header names the column `email` twice"]
        );
    }
}
