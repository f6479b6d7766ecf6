//! The apply journal: an append-only JSON-lines record of what an apply set out to do and what
//! each request came to, so that an interrupted run can be understood and resumed.
//!
//! The first line says what was planned and with which settings (the desired file and its
//! SHA-256, the tenant, the options); one line follows per finished request (users in it,
//! attempts, outcome, the server's error); the last line closes the run. Every line goes to the
//! operating system in one write as it happens, so a killed process loses nothing written; the
//! start and end lines are also synced to disk. (Syncing every request's line cost a disk flush
//! per batch on the executor's path; `--resume` never needs those lines, as it re-plans from a
//! fresh export.) The journal holds user ids
//! and error messages, never personal data or secrets, and is created with mode 0600.
//!
//! `apply --resume` trusts only the first line: what is left to do is found by a fresh export,
//! never taken from the journal.

use crate::client::{BatchEvent, BatchObserver, BatchOutcome};
use crate::diff::PlanScope;
use crate::model::ImportMode;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Version of the journal format.
pub const FORMAT_VERSION: &str = "1";

/// What an apply set out to do: enough to resume it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalStart {
    /// Always `start`.
    pub event: String,
    /// See [`FORMAT_VERSION`].
    pub format_version: String,
    /// When the run started (RFC 3339).
    pub time: String,
    /// The tenant.
    pub tenant: String,
    /// The desired file, as given.
    pub desired_path: String,
    /// SHA-256 of the desired file's bytes.
    pub desired_sha256: String,
    /// Import mode.
    pub mode: ImportMode,
    /// The ignore paths, pools, pruning and protected patterns of the run.
    #[serde(flatten)]
    pub scope: PlanScope,
    /// `--max-deletes`.
    #[serde(default)]
    pub max_deletes: Option<usize>,
    /// Users per request.
    pub batch_size: usize,
    /// Users planned for creation, update and deletion.
    pub planned: [usize; 3],
}

#[derive(Serialize)]
struct BatchLine<'a> {
    event: &'static str,
    time: String,
    index: usize,
    users: &'a [String],
    attempts: u32,
    rate_limited: u32,
    status: crate::client::BatchStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    history: &'a [crate::client::batch::AttemptFailure],
}

#[derive(Serialize)]
struct EndLine<'a> {
    event: &'static str,
    time: String,
    outcome: &'a str,
    created: usize,
    updated: usize,
    deleted: usize,
    not_converged: usize,
}

/// An open journal; also a [`BatchObserver`] that records each finished request.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    clock: fn() -> String,
}

impl Journal {
    /// Creates (or appends to, when resuming) the journal at `path`, mode 0600, and writes
    /// the start line.
    pub fn open(path: &Path, start: &JournalStart, clock: fn() -> String) -> io::Result<Journal> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        let journal = Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            clock,
        };
        journal.write_line(start)?;
        journal.sync()?;
        Ok(journal)
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_line(&self, value: &impl Serialize) -> io::Result<()> {
        let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // One write per line: a killed process leaves whole lines only (an operating system
        // crash may leave a torn last line, which the reader skips).
        file.write_all(&line)
    }

    fn sync(&self) -> io::Result<()> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.sync_data()
    }

    /// Records a finished request.
    pub fn record_batch(&self, outcome: &BatchOutcome) -> io::Result<()> {
        self.write_line(&BatchLine {
            event: "batch",
            time: (self.clock)(),
            index: outcome.index,
            users: &outcome.user_ids,
            attempts: outcome.attempts,
            rate_limited: outcome.rate_limited,
            status: outcome.status,
            error: outcome.error.as_ref().map(ToString::to_string),
            history: &outcome.history,
        })
    }

    /// Closes the run with its verified outcome.
    pub fn record_end(&self, report: &crate::apply::ApplyReport) -> io::Result<()> {
        let outcome = if report.is_complete() {
            "complete"
        } else if report.interrupted {
            "interrupted"
        } else {
            "incomplete"
        };
        self.write_line(&EndLine {
            event: "end",
            time: (self.clock)(),
            outcome,
            created: report.created,
            updated: report.updated,
            deleted: report.deleted,
            not_converged: report.not_converged.len(),
        })?;
        self.sync()
    }
}

impl BatchObserver for Journal {
    fn on_event(&self, event: &BatchEvent<'_>) {
        if let BatchEvent::Finished { outcome } = event {
            if let Err(error) = self.record_batch(outcome) {
                tracing::warn!(
                    "could not write the journal `{}`: {error}",
                    self.path.display()
                );
            }
        }
    }
}

/// Reading a journal failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be read.
    #[error("cannot read the journal `{}`", path.display())]
    Read {
        /// The journal.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file has no start line.
    #[error("`{}` is not a poolsync journal: its first line is not a start record", path.display())]
    NotAJournal {
        /// The journal.
        path: PathBuf,
    },
}

/// Reads the settings of the most recent run recorded in a journal.
pub fn read_start(path: &Path) -> Result<JournalStart, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| JournalError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // A torn last line (a crash mid-write) or another event is skipped.
        if let Ok(start) = serde_json::from_str::<JournalStart>(&line) {
            if start.event == "start" {
                last = Some(start);
            }
        }
    }
    last.ok_or_else(|| JournalError::NotAJournal {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> JournalStart {
        JournalStart {
            event: "start".into(),
            format_version: FORMAT_VERSION.into(),
            time: "2026-01-01T00:00:00Z".into(),
            tenant: "acme".into(),
            desired_path: "desired.json".into(),
            desired_sha256: "ab".into(),
            mode: ImportMode::Update,
            scope: PlanScope {
                ignore: vec!["/metadata/x".into()],
                ..PlanScope::default()
            },
            max_deletes: None,
            batch_size: 100,
            planned: [1, 2, 0],
        }
    }

    #[test]
    fn the_start_line_is_read_back_and_a_torn_last_line_is_skipped() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("apply.journal.jsonl");
        let journal = Journal::open(&path, &start(), || "now".into()).unwrap();
        journal
            .record_batch(&BatchOutcome {
                index: 0,
                user_ids: vec!["u1".into()],
                status: crate::client::BatchStatus::Applied,
                attempts: 1,
                rate_limited: 0,
                error: None,
                history: Vec::new(),
            })
            .unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"event\": \"batch\", \"ind").unwrap();
        assert_eq!(read_start(&path).unwrap(), start());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .contains("\"status\":\"applied\"")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_file_without_a_start_line_is_not_a_journal() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("other.jsonl");
        std::fs::write(&path, "{\"event\": \"batch\"}\n").unwrap();
        assert!(matches!(
            read_start(&path),
            Err(JournalError::NotAJournal { .. })
        ));
    }
}
