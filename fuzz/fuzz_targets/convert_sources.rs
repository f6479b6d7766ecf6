//! `convert` on any bytes, through every source of `convert::SOURCES` (and Auth0's `--passwords`
//! reader): it must never panic; a conversion that succeeds must write a document that loads as
//! a `TenantDump` and that `validate` accepts, whose carried hashes appear nowhere but in
//! `user_credentials` (not in a payload, metadata or the report); a conversion that fails must
//! say so in a bounded number of short lines, as the binary prints it.
//!
//! The first byte picks the source (modulo their number), the second the options: bit 0
//! `--strict`, bits 1-2 `--credentials` (keep, force-reset, drop), bit 3 `--drop-extra`, bit 4
//! splits the rest at its first NUL byte into two files (for Auth0: the user export and the
//! `--passwords` file; for the others: two files read in order as one export).
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolsync::convert::spool::Spool;
use poolsync::convert::{ConvertError, ConvertOptions, Input, SOURCES, convert};
use poolsync::migrate::CredentialPolicy;
use poolsync::validate::{ValidateOptions, validate};
use std::error::Error as _;
use std::io::Cursor;

/// The longest line an error or a report may have: a line shows at most two values (a record's
/// id and a field's value), each cut to 64 characters, and a control character is shown
/// escaped in up to 6 (`\u{9f}`), so 384 bytes a value at worst.
const MAX_LINE: usize = 1024;
/// The problems the binary lists under an error (`command_error::problem_lines`).
const LISTED: usize = 20;
/// The longest report, in lines: a bounded number of tallies, each naming three records.
const MAX_REPORT_LINES: usize = 200;

fn input(name: &str, bytes: &[u8]) -> Input<'static> {
    Input {
        name: name.to_string(),
        reader: Box::new(Cursor::new(bytes.to_vec())),
    }
}

fn assert_short_lines(what: &str, text: &str) {
    for line in text.lines() {
        assert!(
            line.len() <= MAX_LINE,
            "{what}: a line of {} bytes: {}…",
            line.len(),
            line.chars().take(200).collect::<String>()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [source, flags, rest @ ..] = data else {
        return;
    };
    let source = SOURCES[usize::from(*source) % SOURCES.len()];
    let options = ConvertOptions {
        pool: "p".into(),
        strict: flags & 1 != 0,
        credentials: match (flags >> 1) & 3 {
            0 | 3 => CredentialPolicy::Keep,
            1 => CredentialPolicy::ForceReset,
            _ => CredentialPolicy::Drop,
        },
        drop_extra: flags & 8 != 0,
    };
    let split = (flags & 16 != 0)
        .then(|| rest.iter().position(|&byte| byte == 0))
        .flatten();
    let (inputs, passwords) = match split {
        Some(at) if source.name() == "auth0" => (
            vec![input("users.json", &rest[..at])],
            Some(input("passwords.json", &rest[at + 1..])),
        ),
        Some(at) => (
            vec![input("one", &rest[..at]), input("two", &rest[at + 1..])],
            None,
        ),
        None => (vec![input("users", rest)], None),
    };
    let files = || Cursor::new(Vec::new());
    let mut spool = Spool::new([files(), files(), files(), files()], None);
    let result = convert(source, inputs, passwords, &options, &mut |user| {
        spool.push(user)
    });
    match result {
        Ok(report) => {
            let mut document = Vec::new();
            spool.write_document(&mut document).expect("writing to memory");
            let dump = poolsync::load::parse_dump(&document, "converted")
                .unwrap_or_else(|error| panic!("the converted document does not load: {error}"));
            assert_eq!(dump.users.len() as u64, report.users.converted);
            let problems = validate(
                &dump,
                &ValidateOptions {
                    known_pools: vec!["p".into()],
                },
            );
            assert!(
                problems.is_empty(),
                "validate refuses the converted document: {problems:?}"
            );
            let mut text = Vec::new();
            report.write_text(&mut text).expect("writing to memory");
            let text = String::from_utf8(text).expect("the report is text");
            assert_short_lines("report", &text);
            assert!(text.lines().count() <= MAX_REPORT_LINES, "a long report");
            let json = serde_json::to_string(&report).expect("the report serializes");

            // A carried hash (and its salt) is in `user_credentials` only.
            let places: Vec<String> = dump
                .users
                .iter()
                .flat_map(|user| [&user.payload, &user.metadata])
                .map(|object| serde_json::to_string(object).unwrap())
                .chain([text, json])
                .collect();
            for credential in &dump.user_credentials {
                let hash = &credential.payload.as_ref().expect("a payload").0["hashed_password"];
                let method = hash["config"]["method"].as_str().unwrap_or_default();
                let salt = &hash["config"][method]["salt"];
                for secret in [&hash["value"], salt].into_iter().filter_map(|v| v.as_str()) {
                    if secret.len() < 12 {
                        continue;
                    }
                    for place in &places {
                        assert!(!place.contains(secret), "a carried secret elsewhere: {secret} in {place}");
                    }
                }
            }
        }
        Err(error) => {
            // What the binary prints: the error, the first problems, a count, the causes.
            let mut text = format!("error: {error}\n");
            if let ConvertError::Problems {
                problems, total, ..
            } = &error
            {
                assert!(!problems.is_empty() && problems.len() <= *total);
                assert!(problems.len() <= poolsync::convert::KEPT_PROBLEMS);
                for problem in problems.iter().take(LISTED) {
                    text.push_str(&format!("  {problem}\n"));
                }
            }
            let mut cause = error.source();
            while let Some(error) = cause {
                text.push_str(&format!("  Caused by: {error}\n"));
                cause = error.source();
            }
            assert_short_lines("error", &text);
            assert!(text.lines().count() <= LISTED + 4, "a long error");
        }
    }
});
