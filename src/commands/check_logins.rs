//! `poolsync check-logins FILE`: canary accounts' known passwords checked through the tenant's
//! password check ([`poolsync::canary`]), one after another; exit 0 when every one verified, 5
//! when any did not.

use super::common::{connect, runtime};
use crate::cli::{GlobalArgs, TargetArgs};
use crate::command_error::{Failure, read_failure};
use crate::ui;
use clap::Args;
use poolsync::canary::{self, CanaryError, CanaryFileError};
use poolsync::exit_codes;
use poolsync::redact::Redactor;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Check that canary accounts can sign in: their known passwords through the tenant's password
/// check
#[derive(Debug, Args)]
pub(crate) struct CheckLoginsArgs {
    /// CSV of canaries: a header `identifier,password` (and optionally `pool`), one account a
    /// row, at most 1,000; it holds passwords, so keep it readable by you alone (mode 0600)
    file: PathBuf,
    /// Pool of the canaries whose row names none
    #[arg(long, value_name = "ID")]
    pool: Option<String>,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Mask identifiers (e-mail addresses, phone numbers, usernames) in the report and errors
    #[arg(long)]
    redact_pii: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn run_check_logins(args: CheckLoginsArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let result = check(&args, global);
    if args.redact_pii {
        result.map_err(Failure::redacted)
    } else {
        result
    }
}

fn check(args: &CheckLoginsArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let file =
        std::fs::File::open(&args.file).map_err(|source| read_failure(&args.file, source))?;
    warn_if_others_can_read(&args.file, &file);
    let canaries = canary::read_canaries(BufReader::new(file), args.pool.as_deref())
        .map_err(|error| file_failure(error, &args.file))?;
    let client = connect(&args.target, global)?;
    let report = runtime()?
        .block_on(canary::check_canaries(&client, &canaries))
        .map_err(check_failure)?;
    let report = if args.redact_pii {
        report.redacted(&mut Redactor::new())
    } else {
        report
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        let color = ui::use_color(global.color, ui::stdout_is_terminal());
        canary::render_text(&report, &mut out, color)?;
    }
    out.flush()?;
    Ok(if report.passed {
        exit_codes::SUCCESS
    } else {
        exit_codes::CANARY_FAILED
    })
}

/// The file holds passwords: say so when other users of the machine can read it.
fn warn_if_others_can_read(path: &Path, file: &std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = file.metadata() {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                #[allow(
                    clippy::print_stderr,
                    reason = "a warning for the person running the command"
                )]
                {
                    eprintln!(
                        "warning: `{}` holds passwords and other users can read it (mode {mode:o}): \
                         `chmod 600 {}`",
                        path.display(),
                        path.display()
                    );
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
}

fn file_failure(error: CanaryFileError, path: &Path) -> Failure {
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

fn check_failure(error: CanaryError) -> Failure {
    let hint = error.error.hint();
    let failure = Failure::new(error);
    match hint {
        Some(hint) => failure.hint(hint),
        None => failure,
    }
}
