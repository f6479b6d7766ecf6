//! Terminal concerns of the binary: errors with causes and hints, colors, logging.

use crate::cli::ColorChoice;
use poolsync::exit_codes;
use std::error::Error;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// A command failed: what to print and which exit code to use.
#[derive(Debug)]
pub struct Failure {
    /// The error itself.
    pub error: Box<dyn Error + Send + Sync>,
    /// Lines listed under the error (every problem of a file).
    pub details: Vec<String>,
    /// What to try.
    pub hint: Option<String>,
    /// The exit code.
    pub code: u8,
}

impl Failure {
    pub fn new(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Failure {
            error: error.into(),
            details: Vec::new(),
            hint: None,
            code: exit_codes::ERROR,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    /// Whether the failure is only a closed stdout (`poolsync diff ... | head`).
    pub fn is_broken_pipe(&self) -> bool {
        self.error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// `error: …`, the details, one `Caused by:` line per source, then the hint.
    pub fn render(&self, color: bool) -> String {
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
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::new(error)
    }
}

/// Whether to color a stream, from the flag, `NO_COLOR` and whether it is a terminal.
pub fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                && std::env::var("TERM").map_or(true, |term| term != "dumb")
        }
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Sends logs to stderr; `RUST_LOG` wins over `-v`. `chatty` commands (the emulator, whose
/// banner and request lines are logs) start one level higher.
pub fn init_logging(verbose: u8, chatty: bool, color: bool) {
    let level = match verbose + u8::from(chatty) {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("poolsync={level},warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(verbose >= 2)
        .try_init();
}
