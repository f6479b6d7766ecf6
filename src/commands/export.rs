//! `poolsync export`: the tenant's canonical document, written straight from the response body
//! ([`poolsync::export::CanonicalExport`]), with one progress bar for its three phases.

use super::common::{connect, memory_budget, runtime};
use crate::cli::{GlobalArgs, TargetArgs};
use crate::command_error::{Failure, too_big};
use crate::ui::DownloadBar;
use clap::Args;
use indicatif::HumanCount;
use poolsync::apply::{SPILL_ABOVE, export_source};
use poolsync::exit_codes;
use poolsync::export::CanonicalExport;
use poolsync::fsutil::write_atomic_with;
use poolsync::render::count_noun;
use poolsync::sieve::DocumentError;
use std::io::Write;
use std::path::PathBuf;

/// Export the tenant's pools and users as a canonical `TenantDump`
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Write to this file (mode 0600, written atomically) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only export this pool and its users (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    pools: Vec<String>,
}

pub(crate) fn run(args: ExportArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let client = connect(&args.target, global)?;
    let tenant = &client.settings().tenant;
    let bar = DownloadBar::new();
    // Like `plan`, a big body goes to an unnamed temporary file rather than memory.
    let body = runtime()?.block_on(client.export_spooled(&bar, SPILL_ABOVE))?;
    let source = export_source(&body);
    bar.phase(
        "reading {bytes}/{total_bytes} {wide_bar} {eta}",
        Some(source.size()),
    );
    let progress = |at| bar.0.set_position(at);
    let export = CanonicalExport::index(source, &args.pools, &progress, memory_budget()).map_err(
        |error| match error {
            DocumentError::Load(error) => Failure::from(body.not_a_tenant_document(&error)),
            DocumentError::TooBig(error) => too_big(error),
        },
    )?;
    let missing: Vec<String> = args
        .pools
        .iter()
        .filter(|pool| {
            !export
                .pools()
                .iter()
                .any(|p| p.id.as_deref() == Some(pool.as_str()))
        })
        .map(|pool| format!("`{pool}`"))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::new(format!(
            "tenant `{tenant}` has no pool {}; nothing was written",
            missing.join(", ")
        ))
        .hint("`poolsync export` without `--pool` shows every pool"));
    }
    let counts = export.counts();
    // Users are written first, then their sub-records: the bar runs over all of them.
    bar.phase(
        "writing {msg} {wide_bar} {eta}",
        Some(counts.records as u64),
    );
    let users = |records: u64| format!("{} users", HumanCount(records.min(counts.users as u64)));
    bar.0.set_message(users(0));
    let progress = |records| {
        bar.0.set_message(users(records));
        bar.0.set_position(records);
    };
    match &args.output {
        Some(path) => {
            write_atomic_with(path, |out| export.write(out, &progress)).map_err(|error| {
                Failure::new(error).hint(format!("could not write `{}`", path.display()))
            })?;
            drop(bar);
            writeln!(
                std::io::stderr(),
                "Exported {} in {} from tenant `{tenant}` to `{}`",
                count_noun(counts.users, "user", "users"),
                count_noun(counts.pools, "pool", "pools"),
                path.display()
            )?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            export.write(&mut out, &progress)?;
            out.flush()?;
        }
    }
    Ok(exit_codes::SUCCESS)
}
