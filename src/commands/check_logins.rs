//! `poolsync check-logins FILE`: canary accounts' known passwords checked through the tenant's
//! password check ([`poolsync::canary`]), one after another; exit 0 when every one verified, 5
//! when any did not.

use super::common::{connect, read_canary_file, runtime};
use crate::cli::{GlobalArgs, TargetArgs};
use crate::command_error::Failure;
use crate::ui;
use clap::Args;
use poolsync::canary;
use poolsync::exit_codes;
use poolsync::redact::Redactor;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

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
    pub(crate) redact_pii: bool,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn run(args: CheckLoginsArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let canaries = read_canary_file(&args.file, args.pool.as_deref())?;
    let client = connect(&args.target, global)?;
    let report = runtime()?.block_on(canary::check_canaries(&client, &canaries))?;
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
