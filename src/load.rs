//! Reading `TenantDump` documents from bytes and files, with errors that name the place.
//!
//! Parsing is typed (no `serde_json::Value` tree of the whole document) and a failure names the
//! file, the line and column, and the record path (`users[3].status`). A UTF-8 byte-order mark at
//! the start is skipped: editors on some platforms add one and it carries no meaning.

use crate::error::LoadError;
use crate::model::TenantDump;
use serde::Deserialize;
use std::path::Path;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a document from bytes; `source` names where they came from in errors.
pub fn parse_dump(bytes: &[u8], source: &str) -> Result<TenantDump, LoadError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(LoadError::Empty {
            source_name: source.to_string(),
        });
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(LoadError::NotJson {
            source_name: source.to_string(),
            what: "UTF-16 text (save it as UTF-8)".into(),
        });
    }
    if let Some(b'<') = bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        return Err(LoadError::NotJson {
            source_name: source.to_string(),
            what: "HTML or XML (an error page from a proxy?)".into(),
        });
    }
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
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let dump: TenantDump =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
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
                message: strip_position(&inner.to_string()),
            }
        })?;
    deserializer.end().map_err(|inner| LoadError::Parse {
        source_name: source.to_string(),
        line: inner.line(),
        column: inner.column(),
        record: None,
        message: strip_position(&inner.to_string()),
    })?;
    Ok(dump)
}

/// Reads and parses a document file.
pub fn read_dump(path: &Path) -> Result<TenantDump, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_dump(&bytes, &path.display().to_string())
}

/// serde_json appends " at line L column C"; poolsync prints the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn invalid_utf8_is_an_error() {
        let message = parse_error(b"{\"users\": [{\"id\": \"\xff\xfe\"}]}");
        assert!(message.contains("desired.json:1:"), "{message}");
    }
}
