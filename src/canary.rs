//! Canary logins: a few accounts whose passwords are known, checked against the tenant's password
//! check (`system-api.md`, "Checking a password") to prove that migrated users can still sign in.
//!
//! The vendor publishes `HashConfig`'s field names but not its encodings: a `password_correct`
//! for a migrated canary turns poolsync's reading of them into a measured fact, and a
//! `password_incorrect` for one whose password is right means the encodings differ, so the
//! migration must stop. The list comes from a small CSV ([`read_canaries`]: `identifier,password`
//! and an optional `pool`, at most [`MAX_CANARIES`] rows); [`check_canaries`] asks the service
//! one canary after another (the real endpoint locks out brute force) and returns a
//! [`CanaryReport`], plain data that [`render_text`] and serde turn into text and JSON. A canary
//! whose credential is `must_be_reset` or `must_be_changed` passes: its hash verified.
//!
//! Passwords are [`Secret`]s: no report, error or log line holds one. Reading takes any reader:
//! opening the file (and warning when others can read it) is the caller's.

use crate::client::{ApiClient, ApiError, PasswordResult, PasswordSubject};
use crate::convert::table::Lines;
use crate::redact::Redactor;
use crate::render::{count_noun, thousands};
use crate::secret::Secret;
use crate::validate::MAX_ID_LENGTH;
use owo_colors::OwoColorize;
use serde::Serialize;
use std::io::{Read, Write};

/// The most canaries one check takes: the endpoint is for a few accounts, not for every user.
pub const MAX_CANARIES: usize = 1000;

/// The longest password a canary may have, in bytes: a known test account's password, far
/// longer than any real one (bcrypt reads 72 bytes).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The version of the JSON report's layout.
pub const FORMAT_VERSION: u32 = 1;

/// One canary account: where it is, how to name it and its password.
#[derive(Clone, Debug)]
pub struct Canary {
    /// The line of the file it came from.
    pub line: u64,
    /// The pool it belongs to.
    pub pool: String,
    /// Any identifier of the user (e-mail address, phone number, username).
    pub identifier: String,
    /// Its password; `Debug` shows `(redacted)`.
    pub password: Secret,
}

/// Why a canary file cannot be read. No message repeats a password.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanaryFileError {
    /// The file is empty.
    #[error("the canary file is empty: it needs the header `identifier,password`")]
    NoHeader,
    /// A required column is missing.
    #[error("the canary file has no `{column}` column")]
    MissingColumn {
        /// `identifier` or `password`.
        column: &'static str,
    },
    /// A column poolsync does not know.
    #[error("unknown column `{column}`: the columns are `identifier`, `password` and `pool`")]
    UnknownColumn {
        /// The column's name (cut when long).
        column: String,
    },
    /// A column named twice.
    #[error("column `{column}` appears twice")]
    DuplicateColumn {
        /// The column's name.
        column: String,
    },
    /// A row that is not one canary.
    #[error("line {line}: {problem}")]
    Row {
        /// The line in the file.
        line: u64,
        /// What is wrong, without the row's values.
        problem: String,
    },
    /// More rows than [`MAX_CANARIES`].
    #[error(
        "more than {}: the password check is for a few known accounts, not for every user (the \
         real endpoint locks out brute force)",
        count_noun(*max, "canary", "canaries")
    )]
    TooMany {
        /// [`MAX_CANARIES`].
        max: usize,
    },
    /// A header and no row.
    #[error("the canary file has no canaries, only a header")]
    Empty,
}

/// Reads a canary CSV: a header row with `identifier` and `password` and optionally `pool`
/// (any order, any letter case), then one canary a row. Lines starting with `#` are comments.
/// Identifiers and pools are trimmed, passwords kept exactly. A row with an empty `pool` (or a
/// file without the column) belongs to `default_pool`.
pub fn read_canaries(
    reader: impl Read,
    default_pool: Option<&str>,
) -> Result<Vec<Canary>, CanaryFileError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::None)
        .from_reader(Lines::new(reader));
    let headers = csv
        .headers()
        .map_err(|error| {
            let line = csv::Error::position(&error).map_or(0, csv::Position::line);
            csv_error(&error, line)
        })?
        .clone();
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(CanaryFileError::NoHeader);
    }
    let mut columns: [Option<usize>; 3] = [None; 3];
    for (index, name) in headers.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        let slot = match name.as_str() {
            "identifier" => 0,
            "password" => 1,
            "pool" => 2,
            _ => {
                return Err(CanaryFileError::UnknownColumn {
                    column: crate::index::shorten(&name).into_owned(),
                });
            }
        };
        if columns[slot].replace(index).is_some() {
            return Err(CanaryFileError::DuplicateColumn {
                column: crate::index::shorten(&name).into_owned(),
            });
        }
    }
    let [Some(identifier_column), Some(password_column), pool_column] = columns else {
        let column = if columns[0].is_none() {
            "identifier"
        } else {
            "password"
        };
        return Err(CanaryFileError::MissingColumn { column });
    };
    let mut canaries = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                let byte = error.position().map_or(0, csv::Position::byte);
                return Err(csv_error(&error, csv.get_mut().line_at(byte)));
            }
        }
        if canaries.len() == MAX_CANARIES {
            return Err(CanaryFileError::TooMany { max: MAX_CANARIES });
        }
        let line = csv
            .get_mut()
            .line_at(record.position().map_or(0, csv::Position::byte));
        let row = |problem: &str| CanaryFileError::Row {
            line,
            problem: problem.to_string(),
        };
        let field = |column: usize| record.get(column).unwrap_or_default();
        let identifier = field(identifier_column).trim();
        if identifier.is_empty() {
            return Err(row("no identifier"));
        }
        // A value no tenant can hold is refused here, not sent, and never repeated.
        let too_long = |what: &str, length: usize, max: usize| {
            row(&format!(
                "the {what} is {} bytes long (at most {})",
                thousands(length),
                thousands(max)
            ))
        };
        if identifier.len() > MAX_ID_LENGTH {
            return Err(too_long("identifier", identifier.len(), MAX_ID_LENGTH));
        }
        let password = field(password_column);
        if password.is_empty() {
            return Err(row("no password"));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(too_long("password", password.len(), MAX_PASSWORD_BYTES));
        }
        let pool = pool_column
            .map(|column| field(column).trim())
            .filter(|pool| !pool.is_empty())
            .or(default_pool)
            .ok_or_else(|| row("no pool: give it in a `pool` column or with `--pool`"))?;
        if pool.len() > MAX_ID_LENGTH {
            return Err(too_long("pool id", pool.len(), MAX_ID_LENGTH));
        }
        canaries.push(Canary {
            line,
            pool: pool.to_string(),
            identifier: identifier.to_string(),
            password: Secret::new(password),
        });
    }
    if canaries.is_empty() {
        return Err(CanaryFileError::Empty);
    }
    Ok(canaries)
}

/// A CSV error at `line` in words that never quote the file (a field may be a password).
fn csv_error(error: &csv::Error, line: u64) -> CanaryFileError {
    let problem = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Io(error) => format!("cannot be read: {error}"),
        _ => "not CSV".to_string(),
    };
    CanaryFileError::Row { line, problem }
}

/// What the service said of one canary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CanaryOutcome {
    /// The line of the canary file.
    pub line: u64,
    /// The pool.
    pub pool: String,
    /// The identifier the canary was checked by.
    pub identifier: String,
    /// The user's id; empty when the user was not found.
    pub user_id: String,
    /// The verdict.
    pub result: PasswordResult,
    /// The credential's state; empty when there is none.
    pub state: String,
}

impl CanaryOutcome {
    /// Whether the canary's password verified (whatever its credential's state).
    pub fn passed(&self) -> bool {
        self.result == PasswordResult::PasswordCorrect
    }
}

/// How many canaries got each result, and how many of those that passed must set a new
/// password at their next sign-in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CanarySummary {
    /// Canaries checked.
    pub canaries: usize,
    /// `password_correct`.
    pub password_correct: usize,
    /// `password_incorrect`.
    pub password_incorrect: usize,
    /// `password_expired`.
    pub password_expired: usize,
    /// `no_password`.
    pub no_password: usize,
    /// `user_not_found`.
    pub user_not_found: usize,
    /// Passed with state `must_be_reset`.
    pub must_be_reset: usize,
    /// Passed with state `must_be_changed`.
    pub must_be_changed: usize,
}

/// The check of every canary, in the file's order: plain data for the renderers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CanaryReport {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The tenant checked.
    pub tenant: String,
    /// Whether every canary's password verified.
    pub passed: bool,
    /// The counts.
    pub summary: CanarySummary,
    /// One outcome per canary.
    pub canaries: Vec<CanaryOutcome>,
}

impl CanaryReport {
    /// The report of `outcomes` in `tenant`.
    pub fn new(tenant: impl Into<String>, outcomes: Vec<CanaryOutcome>) -> CanaryReport {
        let mut summary = CanarySummary {
            canaries: outcomes.len(),
            ..CanarySummary::default()
        };
        for outcome in &outcomes {
            *match outcome.result {
                PasswordResult::PasswordCorrect => &mut summary.password_correct,
                PasswordResult::PasswordIncorrect => &mut summary.password_incorrect,
                PasswordResult::PasswordExpired => &mut summary.password_expired,
                PasswordResult::NoPassword => &mut summary.no_password,
                PasswordResult::UserNotFound => &mut summary.user_not_found,
            } += 1;
            if outcome.passed() {
                match outcome.state.as_str() {
                    "must_be_reset" => summary.must_be_reset += 1,
                    "must_be_changed" => summary.must_be_changed += 1,
                    _ => {}
                }
            }
        }
        CanaryReport {
            format_version: FORMAT_VERSION,
            tenant: tenant.into(),
            passed: summary.password_correct == summary.canaries,
            summary,
            canaries: outcomes,
        }
    }

    /// The report with every identifier masked (`--redact-pii`): e-mail addresses and phone
    /// numbers as everywhere else, usernames as `<identifier:…>`.
    pub fn redacted(&self, redactor: &mut Redactor) -> CanaryReport {
        let mut redacted = self.clone();
        for outcome in &mut redacted.canaries {
            outcome.identifier = redactor.identifier(&outcome.identifier);
        }
        redacted
    }
}

/// A password check that failed (after the client's retries): which canary, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot check the canary of line {line}")]
pub struct CanaryError {
    /// The line of the canary file.
    pub line: u64,
    /// What the client met.
    #[source]
    pub error: ApiError,
}

/// Checks every canary, one after another, in the file's order; stops at the first check that
/// fails (no connection, a missing scope, a rate limit that outlasts the retry policy).
pub async fn check_canaries(
    client: &ApiClient,
    canaries: &[Canary],
) -> Result<CanaryReport, CanaryError> {
    let mut outcomes = Vec::with_capacity(canaries.len());
    for canary in canaries {
        let subject = PasswordSubject::Identifier(canary.identifier.clone());
        let check = client
            .verify_password(&canary.pool, &subject, &canary.password)
            .await
            .map_err(|error| CanaryError {
                line: canary.line,
                error,
            })?;
        tracing::debug!(line = canary.line, result = %check.result, "canary checked");
        outcomes.push(CanaryOutcome {
            line: canary.line,
            pool: canary.pool.clone(),
            identifier: canary.identifier.clone(),
            user_id: check.id,
            result: check.result,
            state: check.state,
        });
    }
    Ok(CanaryReport::new(&client.settings().tenant, outcomes))
}

/// The report for people: one line per canary (mark, identifier, result, state; the pool too
/// when canaries come from several), then a summary and, when a password did not verify, what
/// that means.
pub fn render_text(report: &CanaryReport, out: &mut dyn Write, color: bool) -> std::io::Result<()> {
    let pools: std::collections::BTreeSet<&str> = report
        .canaries
        .iter()
        .map(|outcome| outcome.pool.as_str())
        .collect();
    let several_pools = pools.len() > 1;
    match pools.iter().next() {
        Some(pool) if !several_pools => writeln!(
            out,
            "Canary logins in tenant `{}`, pool `{pool}`:\n",
            report.tenant
        )?,
        _ => writeln!(out, "Canary logins in tenant `{}`:\n", report.tenant)?,
    }
    let width = |text: fn(&CanaryOutcome) -> &str| {
        report
            .canaries
            .iter()
            .map(|outcome| text(outcome).chars().count())
            .max()
            .unwrap_or(0)
    };
    let identifier_width = width(|outcome| &outcome.identifier);
    let pool_width = width(|outcome| &outcome.pool);
    let result_width = width(|outcome| outcome.result.as_str());
    for outcome in &report.canaries {
        let mark = match (outcome.passed(), color) {
            (true, true) => "ok  ".green().to_string(),
            (true, false) => "ok  ".to_string(),
            (false, true) => "FAIL".red().bold().to_string(),
            (false, false) => "FAIL".to_string(),
        };
        let mut line = format!("  {mark}  {:identifier_width$}", outcome.identifier);
        if several_pools {
            line.push_str(&format!("  {:pool_width$}", outcome.pool));
        }
        line.push_str(&format!("  {:result_width$}", outcome.result.as_str()));
        if !outcome.state.is_empty() {
            line.push_str(&format!("  {}", outcome.state));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out)?;
    let summary = &report.summary;
    if report.passed {
        let all = if summary.canaries == 1 { "the" } else { "all" };
        writeln!(
            out,
            "{all} {} passed: every password verified",
            count_noun(summary.canaries, "canary", "canaries")
        )?;
    } else {
        let failed: Vec<String> = [
            (summary.password_incorrect, "password_incorrect"),
            (summary.password_expired, "password_expired"),
            (summary.no_password, "no_password"),
            (summary.user_not_found, "user_not_found"),
        ]
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, result)| format!("{count} {result}"))
        .collect();
        writeln!(
            out,
            "{} of {} failed: {}",
            summary.canaries - summary.password_correct,
            count_noun(summary.canaries, "canary", "canaries"),
            failed.join(", ")
        )?;
    }
    for (count, state) in [
        (summary.must_be_reset, "must_be_reset"),
        (summary.must_be_changed, "must_be_changed"),
    ] {
        if count > 0 {
            writeln!(
                out,
                "{} with state `{state}` passed: the hash verified, and the user sets a new \
                 password at the next sign-in",
                count_noun(count, "canary", "canaries")
            )?;
        }
    }
    if summary.user_not_found > 0 {
        writeln!(
            out,
            "\nuser_not_found means no user of that pool has the identifier: check the identifier, \
             the pool, and that the canary was migrated."
        )?;
    }
    if summary.password_incorrect > 0 {
        writeln!(
            out,
            "\npassword_incorrect for a canary whose password is right means the tenant does not \
             verify the hash as poolsync carried it: the hash encoding differs from the contract. \
             Stop the migration and report it."
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, pool: Option<&str>) -> Result<Vec<Canary>, CanaryFileError> {
        read_canaries(text.as_bytes(), pool)
    }

    #[test]
    fn a_file_with_and_without_a_pool_column() {
        let canaries = read(
            "# canaries for the rehearsal\nidentifier,password\n alice@example.com ,  spaced pw \nbob,\"with,comma\"\n",
            Some("customers"),
        )
        .unwrap();
        assert_eq!(canaries.len(), 2);
        assert_eq!(
            (
                canaries[0].identifier.as_str(),
                canaries[0].password.expose()
            ),
            ("alice@example.com", "  spaced pw ")
        );
        assert_eq!(canaries[0].pool, "customers");
        assert_eq!(canaries[0].line, 3);
        assert_eq!(canaries[1].password.expose(), "with,comma");
        let canaries = read(
            "\u{feff}Password,POOL,Identifier\nhunter2,partners,carol\nhunter3,,dave\n",
            Some("customers"),
        )
        .unwrap();
        assert_eq!(
            canaries
                .iter()
                .map(|canary| (canary.identifier.as_str(), canary.pool.as_str()))
                .collect::<Vec<_>>(),
            [("carol", "partners"), ("dave", "customers")]
        );
    }

    #[test]
    fn bad_files_are_refused_without_quoting_a_password() {
        let cases = [
            ("", CanaryFileError::NoHeader),
            (
                "identifier\nalice\n",
                CanaryFileError::MissingColumn { column: "password" },
            ),
            (
                "password\nhunter2\n",
                CanaryFileError::MissingColumn {
                    column: "identifier",
                },
            ),
            (
                "identifier,password,note\nalice,hunter2,x\n",
                CanaryFileError::UnknownColumn {
                    column: "note".into(),
                },
            ),
            (
                "identifier,password,Identifier\n",
                CanaryFileError::DuplicateColumn {
                    column: "identifier".into(),
                },
            ),
            ("identifier,password\n", CanaryFileError::Empty),
        ];
        for (text, expected) in cases {
            assert_eq!(read(text, Some("p")).unwrap_err(), expected, "{text}");
        }
        for (text, line) in [
            ("identifier,password\nalice,hunter2-secret\n", 2),
            ("identifier,password\n,hunter2-secret\n", 2),
            ("identifier,password\nalice,\n", 2),
            ("identifier,password\nalice,hunter2-secret,extra\n", 2),
        ] {
            let error = read(text, None).unwrap_err();
            assert!(
                matches!(error, CanaryFileError::Row { line: at, .. } if at == line),
                "{error:?}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        let invalid_utf8 = b"identifier,password\nalice,\xff\xfe\n";
        let error = read_canaries(&invalid_utf8[..], Some("p")).unwrap_err();
        assert_eq!(error.to_string(), "line 2: not UTF-8 text");
    }

    #[test]
    fn a_bom_crlf_and_a_quoted_password_with_commas_are_read_exactly() {
        let canaries = read(
            "\u{feff}identifier,password,pool\r\nalice,\"a,b \"\"c\"\" ,\",p1\r\nbob,x,\r\n",
            Some("p2"),
        )
        .unwrap();
        assert_eq!(canaries[0].password.expose(), "a,b \"c\" ,");
        assert_eq!(canaries[1].password.expose(), "x");
        assert_eq!(canaries[1].line, 3);
        let error = read("identifier,password\r\nalice,x\r\nbob,x,y\r\n", Some("p"));
        assert_eq!(
            error.unwrap_err().to_string(),
            "line 3: 3 fields where the header has 2"
        );
        assert_eq!(
            (canaries[1].identifier.as_str(), canaries[1].pool.as_str()),
            ("bob", "p2")
        );
    }

    #[test]
    fn values_no_tenant_can_hold_are_refused_without_being_repeated() {
        let huge = "x".repeat(50 << 20);
        for (text, expected) in [
            (
                format!("identifier,password\n{huge},pw\n"),
                "line 2: the identifier is 52,428,800 bytes long (at most 1,024)",
            ),
            (
                format!("identifier,password,pool\nalice,pw,{huge}\n"),
                "line 2: the pool id is 52,428,800 bytes long (at most 1,024)",
            ),
            (
                format!("identifier,password\nalice,{huge}\n"),
                "line 2: the password is 52,428,800 bytes long (at most 1,024)",
            ),
        ] {
            let error = read(&text, Some("p")).unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
        let error = read(&format!("identifier,password,{huge}\n"), Some("p")).unwrap_err();
        assert!(error.to_string().len() < 200, "{error}");
        let error = read(
            &format!("identifier,password,Identifier{huge}\n"),
            Some("p"),
        );
        assert!(error.unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn more_than_a_thousand_rows_are_refused() {
        let mut text = String::from("identifier,password\n");
        for index in 0..MAX_CANARIES {
            text.push_str(&format!("user{index},pw{index}\n"));
        }
        assert_eq!(read(&text, Some("p")).unwrap().len(), MAX_CANARIES);
        text.push_str("one,more\n");
        assert_eq!(
            read(&text, Some("p")).unwrap_err(),
            CanaryFileError::TooMany { max: MAX_CANARIES }
        );
    }

    fn outcome(identifier: &str, result: PasswordResult, state: &str) -> CanaryOutcome {
        CanaryOutcome {
            line: 2,
            pool: "customers".into(),
            identifier: identifier.into(),
            user_id: "u1".into(),
            result,
            state: state.into(),
        }
    }

    #[test]
    fn a_reset_state_passes_and_anything_but_correct_fails() {
        let passing = CanaryReport::new(
            "acme",
            vec![
                outcome(
                    "alice@example.com",
                    PasswordResult::PasswordCorrect,
                    "valid",
                ),
                outcome("bob", PasswordResult::PasswordCorrect, "must_be_reset"),
            ],
        );
        assert!(passing.passed);
        assert_eq!(passing.summary.must_be_reset, 1);
        for result in [
            PasswordResult::PasswordIncorrect,
            PasswordResult::PasswordExpired,
            PasswordResult::NoPassword,
            PasswordResult::UserNotFound,
        ] {
            let report = CanaryReport::new("acme", vec![outcome("carol", result, "")]);
            assert!(!report.passed, "{result}");
        }
        let redacted = passing.redacted(&mut Redactor::new());
        assert!(redacted.canaries[0].identifier.starts_with("<email:"));
        assert!(redacted.canaries[1].identifier.starts_with("<identifier:"));
        assert_eq!(redacted.summary, passing.summary);
    }
}
