//! One `run_*` function per subcommand, plus what several of them share.

mod diff;
mod export;
mod live;
mod migrate;
mod validate;

use crate::cli::{Cli, Command, OutputFormat, PlanOutputArgs};
use crate::ui::{self, Failure};
use poolsync::diff::{DiffError, DiffOptions};
use poolsync::exit_codes;
use poolsync::markdown::{MarkdownOptions, render_markdown};
use poolsync::model::TenantDump;
use poolsync::normalize::IgnorePath;
use poolsync::plan::Plan;
use poolsync::redact::{Redactor, redact_plan};
use poolsync::render::{self, TextOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Runs the command and returns the exit code.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    let redact_pii = match &cli.command {
        Command::Diff(args) => args.output.redact_pii,
        Command::Plan(args) => args.output.redact_pii,
        Command::Apply(args) => args.redact_pii,
        _ => false,
    };
    let result = match cli.command {
        Command::Diff(args) => diff::run_diff(args, &cli.global),
        Command::Validate(args) => validate::run_validate(args, &cli.global),
        Command::Export(args) => export::run_export(args, &cli.global),
        Command::Plan(args) => live::run_plan(args, &cli.global),
        Command::Apply(args) => live::run_apply(args, &cli.global),
        Command::Migrate(args) => migrate::run_migrate(args, &cli.global),
        Command::Emulate(args) => live::run_emulate(args),
    };
    if redact_pii {
        result.map_err(redact_failure)
    } else {
        result
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

impl std::error::Error for RedactedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// The failure with e-mail addresses and phone numbers masked in everything it prints (an
/// error can quote a desired file's identifiers).
fn redact_failure(failure: Failure) -> Failure {
    if failure.is_broken_pipe() {
        return failure;
    }
    let mut redactor = Redactor::new();
    let mut causes = Vec::new();
    let mut source = failure.error.source();
    while let Some(cause) = source {
        causes.push(redactor.text(&cause.to_string()));
        source = cause.source();
    }
    let chain = causes.into_iter().rev().fold(None, |source, message| {
        Some(Box::new(RedactedError { message, source }))
    });
    Failure {
        error: Box::new(RedactedError {
            message: redactor.text(&failure.error.to_string()),
            source: chain,
        }),
        details: failure.details.iter().map(|d| redactor.text(d)).collect(),
        hint: failure.hint.as_deref().map(|hint| redactor.text(hint)),
        code: failure.code,
    }
}

/// Reads a tenant file, with a hint on how to find every problem in it.
pub fn load_file(path: &Path) -> Result<TenantDump, Failure> {
    poolsync::load::read_dump(path).map_err(|error| {
        let hint = match error {
            poolsync::error::LoadError::Read { .. } => "check the path and its permissions".to_string(),
            _ => format!(
                "the file must be a JSON `TenantDump` (as `poolsync export` writes); `poolsync validate {}` lists every problem",
                path.display()
            ),
        };
        Failure::new(error).hint(hint)
    })
}

/// Reads two tenant files at once, one per thread.
pub fn load_pair(first: &Path, second: &Path) -> Result<(TenantDump, TenantDump), Failure> {
    let (first, second) = std::thread::scope(|scope| {
        let handle = scope.spawn(|| load_file(first));
        let second = load_file(second);
        let first = handle
            .join()
            .unwrap_or_else(|_| Err(Failure::new("reading a file failed unexpectedly")));
        (first, second)
    });
    Ok((first?, second?))
}

/// Diff settings from the command line.
pub fn diff_options(args: &PlanOutputArgs) -> Result<DiffOptions, Failure> {
    let ignore = args
        .ignore
        .iter()
        .map(|path| IgnorePath::parse(path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| {
            Failure::new(message).hint("paths are JSON pointers into a user, as shown in the plan")
        })?;
    let protect = args
        .protect
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern).map_err(|error| {
                Failure::new(format!(
                    "`--protect {pattern}` is not a valid pattern: {error}"
                ))
                .hint(
                    "patterns use `*` for any text and `?` for one character, like `*@example.com`",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DiffOptions {
        ignore,
        pools: args.pools.clone(),
        prune: args.prune,
        protect,
    })
}

/// At most this many problems are listed under an error, so that it fits on a screen.
const MAX_LISTED_PROBLEMS: usize = 20;

/// The problems as detail lines, the first [`MAX_LISTED_PROBLEMS`] and a count of the rest.
fn problem_lines(problems: &[poolsync::index::Problem]) -> Vec<String> {
    let mut lines: Vec<String> = problems
        .iter()
        .take(MAX_LISTED_PROBLEMS)
        .map(ToString::to_string)
        .collect();
    if problems.len() > MAX_LISTED_PROBLEMS {
        lines.push(format!(
            "... and {} more",
            problems.len() - MAX_LISTED_PROBLEMS
        ));
    }
    lines
}

/// Checks the desired document before anything is planned: every problem `validate` finds,
/// with the current tenant's pools counted as known.
pub fn check_desired(
    desired: &TenantDump,
    current: &TenantDump,
    desired_name: &str,
) -> Result<(), Failure> {
    let options = poolsync::validate::ValidateOptions {
        known_pools: current.pools.iter().filter_map(|p| p.id.clone()).collect(),
    };
    let problems = poolsync::validate::validate(desired, &options);
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::new(format!(
        "the desired state `{desired_name}` has {}",
        poolsync::render::count_noun(problems.len(), "problem", "problems")
    ))
    .details(problem_lines(&problems))
    .hint(format!(
        "`poolsync validate {desired_name}` lists every problem; nothing was sent"
    )))
}

/// Turns an inconsistent document into an error listing every problem.
pub fn diff_failure(error: DiffError, current: &str, desired: &str) -> Failure {
    let (name, file) = match error.side {
        "current" => ("current", current),
        _ => ("desired", desired),
    };
    let count = error.problems.len();
    let details = problem_lines(&error.problems);
    Failure::new(format!(
        "the {name} state `{file}` has {} {}",
        count,
        if count == 1 { "problem" } else { "problems" }
    ))
    .details(details)
    .hint(format!(
        "`poolsync validate {file}` checks a file on its own"
    ))
}

/// Writes the plan to stdout as text, JSON or Markdown, masked with `--redact-pii`.
pub fn print_plan(
    plan: &Plan,
    args: &PlanOutputArgs,
    global: &crate::cli::GlobalArgs,
) -> Result<(), Failure> {
    let redacted;
    let plan = if args.redact_pii {
        redacted = redact_plan(plan);
        &redacted
    } else {
        plan
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format() {
        OutputFormat::Json => {
            for warning in &plan.warnings {
                tracing::warn!("{warning}");
            }
            render::render_json(plan, &mut out)?;
        }
        OutputFormat::Markdown => {
            render_markdown(plan, &mut out, &MarkdownOptions::default())?;
        }
        OutputFormat::Text => {
            let options = TextOptions {
                color: ui::use_color(global.color, ui::stdout_is_terminal()),
                full: args.full,
                summary_threshold: args.summary_threshold,
                ..TextOptions::default()
            };
            render::render_text(plan, &mut out, &options)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// 0, or 2 with `--detailed-exitcode` when the plan has changes.
pub fn plan_exit_code(plan: &Plan, detailed: bool) -> u8 {
    if detailed && plan.has_changes() {
        exit_codes::CHANGES
    } else {
        exit_codes::SUCCESS
    }
}
