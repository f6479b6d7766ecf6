//! How a failed command is told: [`Failure`] (the error, the lines under it, a hint and the exit
//! code) and the one place that maps each library error to its hint and exit code.

use poolsync::apply::ApplyError;
use poolsync::canary::{CanaryError, CanaryFileError};
use poolsync::client::{ApiError, SettingsError};
use poolsync::diff::{DiffError, ScopeError};
use poolsync::error::LoadError;
use poolsync::exit_codes;
use poolsync::index::Problem;
use poolsync::migrate::MigrateError;
use poolsync::redact::Redactor;
use poolsync::render::count_noun;
use poolsync::sieve::TooBig;
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;

/// A command failed: what to print and which exit code to use.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The error itself.
    pub(crate) error: Box<dyn Error + Send + Sync>,
    /// Lines listed under the error (every problem of a file).
    pub(crate) details: Vec<String>,
    /// What to try.
    pub(crate) hint: Option<String>,
    /// The exit code.
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Failure {
            error: error.into(),
            details: Vec::new(),
            hint: None,
            code: exit_codes::ERROR,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    pub(crate) fn code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// Whether the failure is only a closed stdout (`poolsync diff ... | head`).
    pub(crate) fn is_broken_pipe(&self) -> bool {
        self.error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// `error: …`, the details, one `Caused by:` line per source, then the hint.
    pub(crate) fn render(&self, color: bool) -> String {
        let mut out = String::new();
        let label = if color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let _ = writeln!(out, "{label}: {}", self.error);
        for detail in &self.details {
            let _ = writeln!(out, "  {detail}");
        }
        let mut source = self.error.source();
        while let Some(cause) = source {
            let _ = writeln!(out, "  Caused by: {cause}");
            source = cause.source();
        }
        if let Some(hint) = &self.hint {
            let label = if color {
                "\x1b[1;36mhint\x1b[0m"
            } else {
                "hint"
            };
            let _ = writeln!(out, "\n{label}: {hint}");
        }
        out
    }

    /// The failure with e-mail addresses and phone numbers masked in everything it prints (an
    /// error can quote a desired file's identifiers), for `--redact-pii`.
    pub(crate) fn redacted(self) -> Failure {
        if self.is_broken_pipe() {
            return self;
        }
        let mut redactor = Redactor::new();
        let mut causes = Vec::new();
        let mut source = self.error.source();
        while let Some(cause) = source {
            causes.push(redactor.text(&cause.to_string()));
            source = cause.source();
        }
        let chain = causes.into_iter().rev().fold(None, |source, message| {
            Some(Box::new(RedactedError { message, source }))
        });
        Failure {
            error: Box::new(RedactedError {
                message: redactor.text(&self.error.to_string()),
                source: chain,
            }),
            details: self.details.iter().map(|d| redactor.text(d)).collect(),
            hint: self.hint.as_deref().map(|hint| redactor.text(hint)),
            code: self.code,
        }
    }
}

/// An error whose text was masked by `--redact-pii`, causes kept as text.
#[derive(Debug)]
struct RedactedError {
    message: String,
    source: Option<Box<RedactedError>>,
}

impl std::fmt::Display for RedactedError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl Error for RedactedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::new(error)
    }
}

/// A library error that knows what to try next.
trait Hinted: Error + Send + Sync + 'static {
    fn what_to_try(&self) -> Option<String>;
}

impl Hinted for ApiError {
    fn what_to_try(&self) -> Option<String> {
        self.hint()
    }
}

impl Hinted for SettingsError {
    fn what_to_try(&self) -> Option<String> {
        self.hint()
    }
}

impl<E: Hinted> From<E> for Failure {
    fn from(error: E) -> Self {
        let hint = error.what_to_try();
        let failure = Failure::new(error);
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

impl Hinted for CanaryError {
    fn what_to_try(&self) -> Option<String> {
        self.error.hint()
    }
}

/// A canary file that cannot be used, with what it must look like.
pub(crate) fn canary_file_failure(error: CanaryFileError, path: &Path) -> Failure {
    let hint = match error {
        CanaryFileError::TooMany { .. } => {
            "check a few accounts of each pool; `poolsync plan` and `apply` verify the rest"
        }
        _ => {
            "the file is a CSV with the header `identifier,password` and optionally `pool`; rows \
             without a pool take `--pool`"
        }
    };
    Failure::new(format!("canary file `{}`: {error}", path.display())).hint(hint)
}

impl Hinted for ScopeError {
    fn what_to_try(&self) -> Option<String> {
        Some(match self {
            ScopeError::Ignore(_) => {
                "paths are JSON pointers into a user, as shown in the plan".to_string()
            }
            ScopeError::Protect { .. } => {
                "patterns use `*` for any text and `?` for one character, like `*@example.com`"
                    .to_string()
            }
        })
    }
}

/// A file that could not be read or parsed, with a hint.
pub(crate) fn load_failure(error: LoadError, path: &Path) -> Failure {
    let hint = match error {
        LoadError::Read { .. } => "check the path and its permissions".to_string(),
        _ => format!(
            "the file must be a JSON `TenantDump` (as `poolsync export` writes); `poolsync validate {}` lists every problem",
            path.display()
        ),
    };
    Failure::new(error).hint(hint)
}

/// A file that could not be read at all, with a hint.
pub(crate) fn read_failure(path: &Path, source: std::io::Error) -> Failure {
    load_failure(
        LoadError::Read {
            path: path.to_path_buf(),
            source,
        },
        path,
    )
}

/// At most this many problems are listed under an error, so that it fits on a screen.
const MAX_LISTED_PROBLEMS: usize = 20;

/// The problems as detail lines, the first [`MAX_LISTED_PROBLEMS`] and a count of the rest.
pub(crate) fn problem_lines<T: ToString>(problems: &[T]) -> Vec<String> {
    problem_lines_of(problems, problems.len())
}

/// [`problem_lines`] of the first problems kept out of `total` found.
pub(crate) fn problem_lines_of<T: ToString>(problems: &[T], total: usize) -> Vec<String> {
    let mut lines: Vec<String> = problems
        .iter()
        .take(MAX_LISTED_PROBLEMS)
        .map(ToString::to_string)
        .collect();
    if total > lines.len() {
        lines.push(format!(
            "... and {} more",
            poolsync::render::thousands(total - lines.len())
        ));
    }
    lines
}

/// The problems `validate` found in the desired document, as an error.
pub(crate) fn desired_problems(problems: &[Problem], total: usize, desired_name: &str) -> Failure {
    Failure::new(format!(
        "the desired state `{desired_name}` has {}",
        count_noun(total, "problem", "problems")
    ))
    .details(problem_lines_of(problems, total))
    .hint(format!(
        "`poolsync validate {desired_name}` lists every problem; nothing was sent"
    ))
}

/// Turns an inconsistent document into an error listing every problem.
pub(crate) fn diff_failure(error: DiffError, current: &str, desired: &str) -> Failure {
    let (name, file) = match error.side {
        "current" => ("current", current),
        _ => ("desired", desired),
    };
    Failure::new(format!(
        "the {name} state `{file}` has {}",
        count_noun(error.total, "problem", "problems")
    ))
    .details(problem_lines_of(&error.problems, error.total))
    .hint(format!(
        "`poolsync validate {file}` checks a file on its own"
    ))
}

/// A plan or check refused because it would need more memory than allowed.
pub(crate) fn too_big(error: TooBig) -> Failure {
    Failure::new(error).hint(
        "`--max-memory SIZE` sets the budget (by default half the machine's memory); nothing was sent",
    )
}

/// A migration that cannot be made, with what to do about it.
pub(crate) fn migrate_failure(error: MigrateError) -> Failure {
    match error {
        MigrateError::Source {
            ref problems,
            total,
        } => {
            let details = problem_lines_of(problems, total);
            Failure::new(error)
                .details(details)
                .hint("nothing was sent; `poolsync validate FILE` checks a saved export on its own")
        }
        MigrateError::Ambiguous { ref problems } => {
            let details = problem_lines(problems);
            Failure::new(error).details(details).hint(
                "nothing was sent; resolve the duplicates in the source, or migrate the pools separately",
            )
        }
        MigrateError::UnknownPool { .. } | MigrateError::MappedTwice { .. } => {
            Failure::new(error).hint("pools are named by id, as `poolsync export` shows them")
        }
    }
}

/// A saved plan or an interrupted run no longer matches the tenant or the desired file.
pub(crate) fn stale(reasons: Vec<String>) -> Failure {
    Failure::new(
        "the saved plan is stale: the tenant or the desired file changed since it was made",
    )
    .details(reasons)
    .hint("run `poolsync plan` again, review it, and apply the new plan")
    .code(exit_codes::STALE_PLAN)
}

/// Apply refused before sending anything, with what to do about it.
pub(crate) fn apply_failure(error: ApplyError) -> Failure {
    match &error {
        ApplyError::FailModeWithUpdates { examples, .. } => {
            let details = examples.clone();
            Failure::new(error).details(details).hint(
                "nothing was sent; use `--mode update` to replace existing records, or drop them from the desired file",
            )
        }
        ApplyError::Batch(_) => Failure::new(error),
        ApplyError::Reread(_) => Failure::new(error).hint(
            "keep the desired file as it was planned until apply ends; run `poolsync apply` again",
        ),
        ApplyError::DeletesNeedLimit { count } => {
            let hint = format!("nothing was sent; review the plan, then pass `--max-deletes {count}` (or more) to allow it, or `--protect PATTERN` to keep users");
            Failure::new(error).hint(hint)
        }
        ApplyError::TooManyDeletes { .. } => Failure::new(error)
            .hint("check that the desired file is complete; raise `--max-deletes` only if these deletes are intended"),
        ApplyError::EmptyPool { .. } => Failure::new(error).hint(
            "a truncated desired file must not empty a pool; nothing was sent",
        ),
    }
}
