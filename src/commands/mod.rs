//! One `run_*` function per subcommand, plus what several of them share.

pub mod convert;
mod diff;
mod export;
mod live;
mod migrate;
mod validate;

use crate::cli::{Cli, Command, OutputFormat, PlanOutputArgs};
use crate::ui::{self, Failure};
use poolsync::diff::{DiffError, DiffOptions};
use poolsync::error::LoadError;
use poolsync::exit_codes;
use poolsync::markdown::{MarkdownOptions, render_markdown};
use poolsync::model::TenantDump;
use poolsync::normalize::IgnorePath;
use poolsync::plan::Plan;
use poolsync::redact::{Redactor, redact_plan};
use poolsync::render::{self, TextOptions};
use poolsync::sieve::{PlanError, Side, SieveOptions, SieveProgress, Sifted, Source};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

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
        Command::Convert(args) => convert::run_convert(args, &cli.global),
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
    poolsync::load::read_dump(path).map_err(|error| load_failure(error, path))
}

/// A file that could not be read or parsed, with a hint.
pub fn load_failure(error: LoadError, path: &Path) -> Failure {
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
pub fn read_failure(path: &Path, source: std::io::Error) -> Failure {
    load_failure(
        LoadError::Read {
            path: path.to_path_buf(),
            source,
        },
        path,
    )
}

/// Plans `desired` against `current` (see [`poolsync::sieve::plan`]), with the desired
/// document checked first, a progress line on a terminal, and errors that name the files.
/// `current_error` words a current document that cannot be read.
pub fn plan_documents(
    current: Source<'_>,
    current_name: &str,
    desired: &Path,
    options: &DiffOptions,
    scope_current: bool,
    current_error: impl FnOnce(LoadError) -> Failure,
) -> Result<Sifted, Failure> {
    let bar = ReadingBar::new();
    let result = poolsync::sieve::plan(
        current,
        Source::File(desired),
        SieveOptions {
            check_desired: true,
            scope_current,
            progress: Some(&bar),
            ..SieveOptions::new(options)
        },
    );
    bar.0.finish_and_clear();
    let desired_name = desired.display().to_string();
    result.map_err(|error| match error {
        PlanError::Load {
            side: Side::Current,
            error,
        } => current_error(error),
        PlanError::Load { error, .. } => load_failure(error, desired),
        PlanError::Desired(problems) => desired_problems(&problems, &desired_name),
        PlanError::Diff(error) => diff_failure(error, current_name, &desired_name),
    })
}

/// Users read so far, on stderr while a plan is made, on a terminal only.
struct ReadingBar(indicatif::ProgressBar, [AtomicU64; 4]);

impl ReadingBar {
    fn new() -> ReadingBar {
        let bar = if ui::stderr_is_terminal() {
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        ReadingBar(bar, Default::default())
    }
}

impl SieveProgress for ReadingBar {
    fn read(&self, side: Side, bytes: u64, users: usize) {
        let base = if side == Side::Current { 0 } else { 2 };
        self.1[base].store(bytes, Ordering::Relaxed);
        self.1[base + 1].store(users as u64, Ordering::Relaxed);
        let [current_bytes, current_users, desired_bytes, desired_users] =
            self.1.each_ref().map(|value| value.load(Ordering::Relaxed));
        self.0.set_message(format!(
            "reading: current {} users ({}), desired {} users ({})",
            current_users,
            indicatif::HumanBytes(current_bytes),
            desired_users,
            indicatif::HumanBytes(desired_bytes)
        ));
    }
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

/// The problems `validate` found in the desired document, as an error.
pub fn desired_problems(problems: &[poolsync::index::Problem], desired_name: &str) -> Failure {
    Failure::new(format!(
        "the desired state `{desired_name}` has {}",
        poolsync::render::count_noun(problems.len(), "problem", "problems")
    ))
    .details(problem_lines(problems))
    .hint(format!(
        "`poolsync validate {desired_name}` lists every problem; nothing was sent"
    ))
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
