//! Reads the records of a JSON export as a stream, one record at a time, whatever the layout:
//! a JSON array of records, NDJSON (one record per line, whatever the file is called), records
//! under a key of a wrapping object (`{"users": [...]}`, a Keycloak realm), or one record alone.
//!
//! Only one record is held at a time: arrays are read element by element through serde's
//! `SeqAccess`, NDJSON line by line. Keys of a wrapping object other than the record arrays are
//! skipped without building them once the array is found. A UTF-8 byte-order mark is skipped.
//! This module only splits and parses; what a record means is the source's business.

use super::user::Position;
use crate::index::shorten;
use crate::model::Object;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::{self, BufRead, Read};

/// What the reader found.
#[derive(Debug)]
pub enum Event {
    /// A record.
    Record(Position, Object),
    /// Something that is not a record where one was expected, or malformed JSON; the file's
    /// reading goes on where it can (the next NDJSON line).
    Problem(Position, String),
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Skips a UTF-8 byte-order mark at the start of `input`.
pub fn skip_bom(input: &mut dyn BufRead) -> io::Result<()> {
    let buffer = input.fill_buf()?;
    if buffer.starts_with(BOM) {
        input.consume(BOM.len());
    }
    Ok(())
}

/// The first non-white byte of `input`, without consuming anything but the byte-order mark.
pub fn sniff(input: &mut dyn BufRead) -> io::Result<Option<u8>> {
    skip_bom(input)?;
    let buffer = input.fill_buf()?;
    Ok(buffer
        .iter()
        .copied()
        .find(|byte| !byte.is_ascii_whitespace()))
}

/// Reads every record of `input`. `containers` are the keys under which a wrapping object
/// holds its records (`users` for a Keycloak realm or a Firebase export); an object with none of
/// them is a record itself.
pub fn read_records(
    input: &mut dyn BufRead,
    containers: &[&str],
    on: &mut dyn FnMut(Event),
) -> io::Result<()> {
    skip_bom(input)?;
    let mut state = State {
        on,
        containers,
        records: 0,
        line: None,
    };
    // Blank lines before the first value only move the line count.
    let mut lines_before = 0u64;
    let first_byte = loop {
        let buffer = input.fill_buf()?;
        let Some(&byte) = buffer.first() else {
            (state.on)(Event::Problem(
                Position::Line(1),
                "the file is empty: expected JSON records".into(),
            ));
            return Ok(());
        };
        if !byte.is_ascii_whitespace() {
            break byte;
        }
        lines_before += u64::from(byte == b'\n');
        input.consume(1);
    };
    if first_byte == b'[' {
        return stream(input, lines_before, &mut state);
    }
    // An object: a whole JSON value on its line means NDJSON. The line is read up to a bound,
    // so that a wrapper written on one line (a minified export) still streams.
    let mut first = Vec::new();
    Read::take(&mut *input, FIRST_LINE_LIMIT).read_until(b'\n', &mut first)?;
    let complete = first.ends_with(b"\n") || (first.len() as u64) < FIRST_LINE_LIMIT;
    if complete && is_value(&first) {
        return ndjson(input, first, lines_before + 1, &mut state);
    }
    // A first line that is not a whole value may be an NDJSON line cut short (a damaged copy):
    // when the next two lines are whole objects, it is NDJSON, and its broken lines are
    // problems of their own while the rest is read. Anything else is one JSON document.
    let mut next = Vec::new();
    let mut lines_are_objects = first.ends_with(b"\n");
    for _ in 0..2 {
        if lines_are_objects {
            let start = next.len();
            Read::take(&mut *input, FIRST_LINE_LIMIT).read_until(b'\n', &mut next)?;
            lines_are_objects = is_object(&next[start..]);
        }
    }
    if lines_are_objects {
        let mut input = io::Cursor::new(next).chain(input);
        return ndjson(&mut input, first, lines_before + 1, &mut state);
    }
    stream(
        io::Cursor::new(first)
            .chain(io::Cursor::new(next))
            .chain(input),
        lines_before,
        &mut state,
    )
}

/// Whether `line` is one whole JSON value.
fn is_value(line: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(line).is_ok()
}

/// Whether `line` is one whole JSON object, ending with a newline.
fn is_object(line: &[u8]) -> bool {
    line.ends_with(b"\n") && line.trim_ascii_start().starts_with(b"{") && is_value(line)
}

/// How much of a first line is read to tell NDJSON from one JSON document.
const FIRST_LINE_LIMIT: u64 = 1 << 20;

struct State<'a> {
    on: &'a mut dyn FnMut(Event),
    containers: &'a [&'a str],
    /// Records read so far.
    records: u64,
    /// The NDJSON line being read, if that is the layout.
    line: Option<u64>,
}

impl State<'_> {
    /// The position of the next record.
    fn next_position(&mut self) -> Position {
        self.records += 1;
        match self.line {
            Some(line) => Position::Line(line),
            None => Position::Record(self.records),
        }
    }
}

fn ndjson(
    input: &mut dyn BufRead,
    first: Vec<u8>,
    first_line: u64,
    state: &mut State<'_>,
) -> io::Result<()> {
    let mut line = first;
    let mut number = first_line;
    loop {
        if !line.iter().all(u8::is_ascii_whitespace) {
            state.line = Some(number);
            // Without its line end, so that a line cut short reads as one (`EOF while parsing`).
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let mut deserializer = serde_json::Deserializer::from_slice(text);
            let result = TopLevel { state }
                .deserialize(&mut deserializer)
                .and_then(|()| deserializer.end());
            if let Err(error) = result {
                let message = if error.is_eof() {
                    "malformed JSON: the line ends inside its value (a line cut short)".into()
                } else {
                    malformed(&error, false)
                };
                (state.on)(Event::Problem(Position::Line(number), message));
            }
        }
        line.clear();
        // Read up to the limit only, so that the buffer never grows past it.
        let limit = super::MAX_LINE_BYTES;
        if Read::take(&mut *input, limit).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        let cut = line.len() as u64 == limit && !line.ends_with(b"\n");
        if cut && !input.fill_buf()?.is_empty() {
            // Nothing after it can be placed: the reading stops here.
            (state.on)(Event::Problem(
                Position::Line(number),
                format!(
                    "a line longer than {} MiB: no NDJSON export has one",
                    limit >> 20
                ),
            ));
            return Ok(());
        }
    }
}

fn stream(input: impl Read, lines_before: u64, state: &mut State<'_>) -> io::Result<()> {
    let mut deserializer = serde_json::Deserializer::from_reader(io::BufReader::new(input));
    loop {
        if let Err(error) = (TopLevel { state: &mut *state }).deserialize(&mut deserializer) {
            if error.is_io() {
                return Err(error.into());
            }
            (state.on)(Event::Problem(
                Position::Line(lines_before + error.line() as u64),
                malformed(&error, true),
            ));
            return Ok(());
        }
        // `end` skips white space and fails if anything follows: then it is the next value
        // (pretty-printed objects one after another), read by the next turn of the loop.
        if deserializer.end().is_ok() {
            return Ok(());
        }
    }
}

/// serde_json's message without its " at line L column C" (the problem names the line).
fn malformed(error: &serde_json::Error, with_column: bool) -> String {
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(index) => &message[..index],
        None => &message,
    };
    if with_column || error.column() > 0 {
        format!("malformed JSON: {message} (column {})", error.column())
    } else {
        format!("malformed JSON: {message}")
    }
}

/// A top-level value: an array of records, a wrapping object, or a record.
struct TopLevel<'s, 'a> {
    state: &'s mut State<'a>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object or an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, sequence: A) -> Result<(), A::Error> {
        records(self.state, sequence)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut fields = Object::new();
        let mut wrapper = false;
        while let Some(key) = map.next_key::<String>()? {
            if self.state.containers.contains(&key.as_str()) {
                wrapper = true;
                fields = Object::new();
                map.next_value_seed(Container {
                    state: &mut *self.state,
                    key: &key,
                })?;
            } else if wrapper {
                map.next_value::<IgnoredAny>()?;
            } else {
                let value: Value = map.next_value()?;
                if fields.insert(key.clone(), value).is_some() {
                    return Err(de::Error::custom(format_args!(
                        "duplicate field `{}`",
                        shorten(&key)
                    )));
                }
            }
        }
        if !wrapper {
            let position = self.state.next_position();
            (self.state.on)(Event::Record(position, fields));
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_records("`null`")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_records("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_records("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_records("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_records("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_records("a string")
    }
}

impl TopLevel<'_, '_> {
    fn not_records<E>(self, what: &str) -> Result<(), E> {
        let position = match self.state.line {
            Some(line) => Position::Line(line),
            None => Position::Record(self.state.records + 1),
        };
        (self.state.on)(Event::Problem(
            position,
            format!("{what}, where a JSON object or an array of records was expected"),
        ));
        Ok(())
    }
}

/// Hands over each element of an array of records.
fn records<'de, A: SeqAccess<'de>>(state: &mut State<'_>, mut sequence: A) -> Result<(), A::Error> {
    // Records inside an array are numbered, even on an NDJSON line.
    let line = state.line.take();
    while let Some(value) = sequence.next_element::<Value>()? {
        let position = state.next_position();
        match value {
            Value::Object(object) => (state.on)(Event::Record(position, object)),
            other => (state.on)(Event::Problem(
                position,
                format!("{}, not a JSON object", kind(&other)),
            )),
        }
    }
    state.line = line;
    Ok(())
}

/// The value of a container key: an array of records (or `null`).
struct Container<'s, 'a, 'k> {
    state: &'s mut State<'a>,
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for Container<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Container<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "an array of records under `{}`", self.key)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, sequence: A) -> Result<(), A::Error> {
        records(self.state, sequence)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.not_an_array("an object")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_array("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_array("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_array("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_array("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_array("a string")
    }
}

impl Container<'_, '_, '_> {
    fn not_an_array<E>(self, what: &str) -> Result<(), E> {
        let position = match self.state.line {
            Some(line) => Position::Line(line),
            None => Position::Record(self.state.records + 1),
        };
        (self.state.on)(Event::Problem(
            position,
            format!("`{}` is {what}, not an array of records", self.key),
        ));
        Ok(())
    }
}

/// What kind of JSON value this is, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "`null`",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str, containers: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        read_records(&mut text.as_bytes(), containers, &mut |event| {
            found.push(match event {
                Event::Record(position, object) => {
                    format!("{position}: {}", Value::Object(object))
                }
                Event::Problem(position, message) => format!("{position}: problem: {message}"),
            })
        })
        .unwrap();
        found
    }

    #[test]
    fn arrays_ndjson_wrappers_and_single_objects_all_give_records() {
        let expected = ["record 1: {\"id\":1}", "record 2: {\"id\":2}"];
        assert_eq!(events("[{\"id\": 1},\n {\"id\": 2}]", &[]), expected);
        assert_eq!(
            events(
                "\u{feff}{\"users\": [\n{\"id\": 1}, {\"id\": 2}], \"x\": {}}",
                &["users"]
            ),
            expected
        );
        assert_eq!(
            events("{\"id\": 1}\n\n{\"id\": 2}\n", &[]),
            ["line 1: {\"id\":1}", "line 3: {\"id\":2}"]
        );
        assert_eq!(
            events("{\n  \"id\": 1\n}\n{\n  \"id\": 2\n}", &[]),
            expected
        );
    }

    #[test]
    fn a_wrapper_on_one_long_line_streams_its_records() {
        let records: Vec<String> = (0..100_000).map(|n| format!("{{\"id\":{n}}}")).collect();
        let text = format!("{{\"users\":[{}]}}", records.join(","));
        assert!(text.len() as u64 > FIRST_LINE_LIMIT);
        let mut count = 0;
        read_records(&mut text.as_bytes(), &["users"], &mut |event| {
            count += 1;
            assert!(
                matches!(&event, Event::Record(Position::Record(n), _) if *n == count),
                "{event:?}"
            );
        })
        .unwrap();
        assert_eq!(count, 100_000);
    }

    #[test]
    fn keys_before_the_container_are_dropped_and_later_ones_skipped() {
        let text = "{\"realm\": \"r\",\n \"users\": [{\"id\": 1}],\n \"clients\": [1, 2]}";
        assert_eq!(events(text, &["users"]), ["record 1: {\"id\":1}"]);
    }

    #[test]
    fn a_bad_ndjson_line_is_a_problem_and_reading_goes_on() {
        let found = events("{\"id\": 1}\n{\"id\": \n{\"id\": 3}\n7\n", &[]);
        assert_eq!(found[0], "line 1: {\"id\":1}");
        assert!(
            found[1].starts_with("line 2: problem: malformed JSON"),
            "{found:?}"
        );
        assert_eq!(found[2], "line 3: {\"id\":3}");
        assert!(
            found[3].starts_with("line 4: problem: a number"),
            "{found:?}"
        );
    }

    #[test]
    fn an_ndjson_file_whose_first_line_is_cut_is_still_read_line_by_line() {
        let found = events(
            "{\"id\": 1, \"na\n{\"id\": 2}\n{\"id\": 3}\n{\"id\": \n",
            &[],
        );
        assert_eq!(
            found[0],
            "line 1: problem: malformed JSON: the line ends inside its value (a line cut short)"
        );
        assert_eq!(found[1..3], ["line 2: {\"id\":2}", "line 3: {\"id\":3}"]);
        assert!(
            found[3].starts_with("line 4: problem: malformed JSON"),
            "{found:?}"
        );
        // A wrapper whose records are one per line is one document, broken or not.
        assert_eq!(
            events("{\"users\": [\n{\"id\": 1}\n]}\n", &["users"]),
            ["record 1: {\"id\":1}"]
        );
        let found = events("{\"users\": [\n{\"id\": 1},\n{\"id\" 2}\n]}\n", &["users"]);
        assert_eq!(found[0], "record 1: {\"id\":1}");
        assert!(
            found[1].starts_with("line 3: problem: malformed JSON"),
            "{found:?}"
        );
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn malformed_arrays_name_the_line_and_stop() {
        let found = events("[\n{\"id\": 1},\n{\"id\" 2}\n]", &[]);
        assert_eq!(found[0], "record 1: {\"id\":1}");
        assert!(
            found[1].starts_with("line 3: problem: malformed JSON"),
            "{found:?}"
        );
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn an_endless_ndjson_line_is_a_problem_not_a_memory_grab() {
        let endless = io::repeat(b'x').take(super::super::MAX_LINE_BYTES + 2);
        let mut input =
            io::BufReader::new(io::Cursor::new(b"{\"id\": 1}\n".to_vec()).chain(endless));
        let mut found = Vec::new();
        read_records(&mut input, &[], &mut |event| {
            found.push(match event {
                Event::Record(position, _) => format!("{position}: record"),
                Event::Problem(position, message) => format!("{position}: {message}"),
            })
        })
        .unwrap();
        assert_eq!(
            found,
            [
                "line 1: record",
                "line 2: a line longer than 256 MiB: no NDJSON export has one"
            ]
        );
    }

    #[test]
    fn empty_files_and_non_records_are_problems() {
        assert_eq!(
            events("  \n\n", &[]),
            ["line 1: problem: the file is empty: expected JSON records"]
        );
        assert_eq!(
            events("[1, {\"id\": 2}]", &[]),
            [
                "record 1: problem: a number, not a JSON object",
                "record 2: {\"id\":2}"
            ]
        );
        assert_eq!(
            events("{\"users\": 5}", &["users"]),
            ["line 1: problem: `users` is a number, not an array of records"]
        );
    }
}
