//! What an apply did, as plain data: the report that `render` prints, `redact` masks and the
//! JSON output carries (schema in `examples/schemas/apply-report.schema.json`). `apply` fills it
//! in; nothing here touches the network.

use crate::model::ImportMode;
use crate::plan::Action;
use serde::Serialize;

/// Version of the JSON apply report.
pub const REPORT_VERSION: &str = "1";

/// What is known about a batch (or a delete) at the end of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// The service confirmed it (204; for a delete, 204 or 404).
    Applied,
    /// The service refused it with a final answer (4xx). Imports are not atomic: users before
    /// the failing one may have been applied anyway.
    Rejected,
    /// No final answer after all attempts, and at least one attempt may have reached the
    /// service: it may or may not have been applied.
    Unknown,
    /// Never processed by the service: not started (cancelled, or stopped by a credentials
    /// failure), or every attempt failed before reaching it.
    NotSent,
}

/// The fate of one request, for people and for the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    /// Position (0 is the pool request when there is one).
    pub index: usize,
    /// Users in it.
    pub users: usize,
    /// What the service answered in the end.
    pub status: BatchStatus,
    /// Requests sent.
    pub attempts: u32,
    /// Of which answered 429.
    pub rate_limited: u32,
    /// The last error, unless applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A planned user that the tenant does not match after the apply.
#[derive(Debug, Clone, Serialize)]
pub struct NotConverged {
    /// Create or update, as planned.
    pub action: Action,
    /// Pool.
    pub pool_id: String,
    /// User id.
    pub user_id: String,
    /// Primary identifier, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Why, as far as is known: the server's error for its batch, or what still differs.
    pub reason: String,
}

/// What an apply did, settled by a fresh export.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// See [`REPORT_VERSION`].
    pub format_version: String,
    /// Import mode used.
    pub mode: ImportMode,
    /// Users planned for creation that now match.
    pub created: usize,
    /// Users planned for update that now match.
    pub updated: usize,
    /// Users planned for deletion that are gone.
    pub deleted: usize,
    /// Planned users that do not match.
    pub not_converged: Vec<NotConverged>,
    /// Whether the verification export succeeded (if not, nothing is known for sure).
    pub verified: bool,
    /// Why verification could not be done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_error: Option<String>,
    /// Requests sent, all attempts included.
    pub requests: u32,
    /// Requests sent again after a failure.
    pub retries: u32,
    /// Every request.
    pub batches: Vec<BatchReport>,
    /// Whether the run was stopped early (Ctrl-C).
    pub interrupted: bool,
}

impl ApplyReport {
    /// Every planned user matches the desired state, and that was checked.
    pub fn is_complete(&self) -> bool {
        self.verified && self.not_converged.is_empty() && !self.interrupted
    }

    /// Some planned user matches now.
    pub fn applied_any(&self) -> bool {
        self.created + self.updated + self.deleted > 0
    }
}
