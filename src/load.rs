//! Reading `TenantDump` documents from bytes and files, with errors that name the place.
//!
//! Parsing is typed (no `serde_json::Value` tree of the whole document) and a failure names the
//! file, the line and column, and the record path (`users[3].status`). A UTF-8 byte-order mark at
//! the start is skipped: editors on some platforms add one and it carries no meaning.

use crate::error::LoadError;
use crate::index::shorten;
use crate::model::{
    Code, GroupMember, InternalGroup, Pool, Schema, TenantDump, User, UserCredential,
    UserIdentifier, UserVerifiableAddress,
};
use serde::de::DeserializeOwned;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a document from bytes; `source` names where they came from in errors.
pub fn parse_dump(bytes: &[u8], source: &str) -> Result<TenantDump, LoadError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    opening(bytes, first.map(|at| bytes[at]), source)?;
    // The fast path parses without tracking where it is; only a failed parse is repeated with
    // path tracking (which costs about a tenth of the parse) to name the record and field.
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let fast = TenantDump::deserialize(&mut deserializer).and_then(|dump| {
        deserializer.end()?;
        Ok(dump)
    });
    if let Ok(dump) = fast {
        return Ok(dump);
    }
    located::<TenantDump>(bytes, source)
}

/// Finds the error [`parse_dump`] reports for a document held in memory, without building
/// the document: each record is read into its type, as the whole parse reads it, and dropped.
pub fn check_slice(bytes: &[u8], source: &str) -> Result<(), LoadError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    opening(bytes, first.map(|at| bytes[at]), source)?;
    located::<Outline>(bytes, source).map(|_| ())
}

/// [`check_slice`] for a document read from `reader` a chunk at a time: the memory it takes is
/// the largest record's, whatever the document's size. I/O errors are reported as the parse
/// error they cause, as `parse_dump` of a cut-off document would report it.
pub fn check_reader(reader: impl Read, source: &str) -> Result<(), LoadError> {
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    // The opening checks look at the first two bytes after a byte-order mark and at the first
    // byte that is not white space; white space before it is kept, for the parser's line count.
    let mut head = Vec::new();
    let first = loop {
        let start = if head.starts_with(BOM) { BOM.len() } else { 0 };
        // A byte-order mark cut short is not read as a document's first byte.
        let mark_unsure = head.len() < BOM.len() && BOM.starts_with(&head);
        let found = head[start..].iter().find(|b| !b.is_ascii_whitespace());
        if let Some(first) = found.filter(|_| head.len() >= start + 2 && !mark_unsure) {
            break Some(*first);
        }
        let taken = match reader.fill_buf() {
            Ok([]) | Err(_) => break found.copied(),
            Ok(chunk) => {
                // Up to the first byte that is not white space, and one more.
                let wanted = chunk.iter().position(|b| !b.is_ascii_whitespace());
                let taken = wanted.map_or(chunk.len(), |at| (at + 2).min(chunk.len()));
                head.extend_from_slice(&chunk[..taken]);
                taken
            }
        };
        reader.consume(taken);
    };
    let start = if head.starts_with(BOM) { BOM.len() } else { 0 };
    opening(&head[start..], first, source)?;
    let text = std::io::Cursor::new(&head[start..]).chain(reader);
    located::<Outline>(text, source).map(|_| ())
}

/// The checks before the parse: an empty input, UTF-16, HTML. `bytes` starts the document
/// (after a byte-order mark); `first` is its first byte that is not white space.
fn opening(bytes: &[u8], first: Option<u8>, source: &str) -> Result<(), LoadError> {
    let Some(first) = first else {
        return Err(LoadError::Empty {
            source_name: source.to_string(),
        });
    };
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(LoadError::NotJson {
            source_name: source.to_string(),
            what: "UTF-16 text (save it as UTF-8)".into(),
        });
    }
    if first == b'<' {
        return Err(LoadError::NotJson {
            source_name: source.to_string(),
            what: "HTML or XML (an error page from a proxy?)".into(),
        });
    }
    Ok(())
}

/// Parses `T` with path tracking, so that an error names the file, line, column and record.
/// Always through serde_json's reader interface, whether the text is in memory or not: it
/// words and places errors the same way whatever the source.
fn located<T: DeserializeOwned>(text: impl Read, source: &str) -> Result<T, LoadError> {
    let mut deserializer = serde_json::Deserializer::from_reader(text);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        LoadError::Parse {
            source_name: source.to_string(),
            line: inner.line(),
            column: inner.column(),
            // The record path means something only for data errors; a syntax error's
            // position is already given by line and column.
            record: (inner.classify() == serde_json::error::Category::Data && path != ".")
                .then_some(path),
            message: message(&inner),
        }
    })?;
    deserializer.end().map_err(|inner| LoadError::Parse {
        source_name: source.to_string(),
        line: inner.line(),
        column: inner.column(),
        record: None,
        message: message(&inner),
    })?;
    Ok(parsed)
}

/// A document read the way [`TenantDump`] reads it, keeping nothing: the same types, in the
/// same places, with the same errors (duplicate fields included), one record at a time.
struct Outline;

impl<'de> Deserialize<'de> for Outline {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OutlineVisitor;
        impl<'de> Visitor<'de> for OutlineVisitor {
            type Value = Outline;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(DUMP_EXPECTED)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outline, A::Error> {
                let mut seen: HashSet<String> = HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    let list = LISTS.iter().find(|list| **list == key);
                    // As `TenantDump` does: a list given twice is refused at its key, any other
                    // field after its value.
                    if let Some(list) = list.filter(|_| seen.contains(&key)) {
                        return Err(de::Error::duplicate_field(list));
                    }
                    match key.as_str() {
                        "pools" => map.next_value::<Option<Each<Pool>>>().map(drop),
                        "schemas" => map.next_value::<Option<Each<Schema>>>().map(drop),
                        "users" => map.next_value::<Option<Each<User>>>().map(drop),
                        "user_identifiers" => {
                            map.next_value::<Option<Each<UserIdentifier>>>().map(drop)
                        }
                        "user_verifiable_addresses" => map
                            .next_value::<Option<Each<UserVerifiableAddress>>>()
                            .map(drop),
                        "user_credentials" => {
                            map.next_value::<Option<Each<UserCredential>>>().map(drop)
                        }
                        "codes" => map.next_value::<Option<Each<Code>>>().map(drop),
                        "groups" => map.next_value::<Option<Each<InternalGroup>>>().map(drop),
                        "group_members" => map.next_value::<Option<Each<GroupMember>>>().map(drop),
                        _ => map.next_value::<Value>().map(drop),
                    }?;
                    if seen.contains(&key) {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    seen.insert(key);
                }
                Ok(Outline)
            }
        }
        deserializer.deserialize_map(OutlineVisitor)
    }
}

/// What [`TenantDump`]'s visitor expects, as its errors say.
const DUMP_EXPECTED: &str = "a JSON object (a `TenantDump`)";

/// The list fields of a [`TenantDump`].
const LISTS: [&str; 9] = [
    "pools",
    "schemas",
    "users",
    "user_identifiers",
    "user_verifiable_addresses",
    "user_credentials",
    "codes",
    "groups",
    "group_members",
];

/// A list read as `Vec<T>` reads it, each item dropped once read.
struct Each<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Each<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EachVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for EachVisitor<T> {
            type Value = Each<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                // As `Vec`'s visitor words it.
                formatter.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Each<T>, A::Error> {
                while items.next_element::<T>()?.is_some() {}
                Ok(Each(PhantomData))
            }
        }
        deserializer.deserialize_seq(EachVisitor(PhantomData))
    }
}

/// Reads the value of an array field (`null` reads as empty), as `TenantDump` does.
pub(crate) fn parse_list<T: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, String> {
    serde_json::from_slice::<Option<Vec<T>>>(bytes)
        .map(Option::unwrap_or_default)
        .map_err(|error| error.to_string())
}

/// Checks the value of an array field as [`parse_list`] would read it, a record at a time.
pub(crate) fn check_list<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<Option<Each<T>>>(bytes)
        .map(drop)
        .map_err(|error| error.to_string())
}

/// Reads and parses a document file.
pub fn read_dump(path: &Path) -> Result<TenantDump, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_dump(&bytes, &path.display().to_string())
}

/// serde_json's message without the " at line L column C" it appends (poolsync prints the
/// position itself), and with a value it quotes cut short (see [`shorten`]).
fn message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(index) => &message[..index],
        None => &message,
    };
    cut_quoted(message)
}

/// A message with the value it quotes (between the first and the last `"`, or backticks)
/// shortened: serde_json's messages quote the value they refused whole, a string of 50 MB too.
fn cut_quoted(message: &str) -> String {
    for mark in ['"', '`'] {
        if let (Some(start), Some(end)) = (message.find(mark), message.rfind(mark)) {
            if end > start + 1 {
                let inner = &message[start + 1..end];
                let short = shorten(inner);
                if short != inner {
                    return format!("{}{short}{}", &message[..=start], &message[end..]);
                }
            }
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::tests::Trickle;

    fn parse_error(text: &[u8]) -> String {
        parse_dump(text, "desired.json").unwrap_err().to_string()
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let message = parse_error(b"{\n  \"users\": [\n    {\"id\": \"u1\",}\n  ]\n}");
        assert!(message.starts_with("desired.json:3:"), "{message}");
    }

    #[test]
    fn type_error_names_the_record_and_field() {
        let message = parse_error(br#"{"users": [{"id": "u1"}, {"id": "u2", "status": 7}]}"#);
        assert!(message.contains("users[1].status"), "{message}");
        assert!(message.contains("invalid type: integer `7`"), "{message}");
    }

    #[test]
    fn html_is_named_as_such() {
        let message = parse_error(b"\n<html><body>502 Bad Gateway</body></html>");
        assert!(message.contains("is HTML or XML"), "{message}");
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let dump = parse_dump(b"\xEF\xBB\xBF{\"users\": [{\"id\": \"u1\"}]}", "f").unwrap();
        assert_eq!(dump.users.len(), 1);
    }

    #[test]
    fn empty_input_trailing_garbage_and_deep_nesting_are_errors() {
        assert!(parse_error(b"  \n").contains("is empty"));
        assert!(parse_error(b"{} {}").contains("trailing characters"));
        let deep = format!(
            "{{\"users\": [{{\"payload\": {{\"a\": {}{}}}}}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse_error(deep.as_bytes()).contains("recursion limit"));
    }

    /// `check_slice` and `check_reader` (at several chunk sizes) report what `parse_dump` does.
    fn assert_checks_alike(bytes: &[u8]) {
        let expected = parse_dump(bytes, "f").map(drop).map_err(|e| e.to_string());
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_string();
        assert_eq!(
            check_slice(bytes, "f").map_err(|e| e.to_string()),
            expected,
            "{shown}"
        );
        for step in [1, 2, 3, 7, 4096] {
            let reader = Trickle { bytes, step };
            let checked = check_reader(reader, "f").map_err(|e| e.to_string());
            assert_eq!(checked, expected, "{shown} at step {step}");
        }
    }

    #[test]
    fn checking_a_document_reports_what_parsing_it_reports() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut documents: Vec<Vec<u8>> = Vec::new();
        for directory in ["tests/data/invalid", "tests/data/hostile", "examples/acme"] {
            for entry in std::fs::read_dir(root.join(directory)).unwrap() {
                documents.push(std::fs::read(entry.unwrap().path()).unwrap());
            }
        }
        for text in [
            &b""[..],
            b"\xEF\xBB\xBF",
            b"\xEF\xBB",
            b"\xEF\xBB\xBF  \n {}",
            b"\xFF\xFE{}",
            b" \xFF\xFE{}",
            b"  <html>",
            b"{\"users\": [{\"id\": \"u1\",}]}",
            b"{\"users\": [{\"id\": \"u1\"}], \"users\": []}",
            b"{\"x\": 1, \"x\": 2}",
            b"{\"users\": {}}",
            b"{\"pools\": null, \"codes\": [{\"code\": 5}]}",
            b"{\"groups\": [{\"id\": [1]}]}",
            b"{\"users\": [{\"id\": \"\xff\xfe\"}]}",
            b"{\"z\": 1e400}",
            b"{} {}",
            b"{\"users\": [",
        ] {
            documents.push(text.to_vec());
        }
        let deep = |levels: usize| {
            format!(
                "{{\"users\": [{{\"id\": \"u\", \"x\": {}{}}}]}}",
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        documents.push(deep(124).into_bytes());
        documents.push(deep(125).into_bytes());
        for document in &documents {
            assert_checks_alike(document);
        }
    }

    #[test]
    fn a_long_value_in_a_message_is_cut_to_a_screen() {
        let long = "x".repeat(1 << 20);
        let message = parse_error(
            format!("{{\"users\": [{{\"status\": [], \"verified\": \"{long}\"}}]}}").as_bytes(),
        );
        assert!(message.len() < 300, "{message}");
        let message = parse_error(
            format!("{{\"users\": [{{\"status\": \"{long}\"}}]}}")
                .replace("[{", "{")
                .as_bytes(),
        );
        assert!(message.len() < 300, "{message}");
        let message = parse_error(format!("{{\"{long}\": 1, \"{long}\": 2}}").as_bytes());
        assert!(message.contains("(1,048,576 bytes)"), "{message}");
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let message = parse_error(b"{\"users\": [{\"id\": \"\xff\xfe\"}]}");
        assert!(message.contains("desired.json:1:"), "{message}");
    }
}
