//! `poolsync export`: the tenant's canonical document, written straight from the response body
//! ([`poolsync::export::CanonicalExport`]), with one progress bar for its three phases.

use super::live::{connect, runtime};
use crate::cli::{ExportArgs, GlobalArgs};
use crate::ui::{self, Failure};
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use poolsync::client::{ExportBody, ExportProgress};
use poolsync::exit_codes;
use poolsync::export::CanonicalExport;
use poolsync::fsutil::write_atomic_with;
use poolsync::render::count_noun;
use std::io::Write;

/// A progress bar on stderr, on a terminal only: bytes while an export downloads (and, for
/// `poolsync export`, while it is read), then users while they are written. It is cleared when
/// dropped, so an error never shows under a stale bar.
pub(crate) struct DownloadBar(pub(crate) ProgressBar);

impl DownloadBar {
    pub(crate) fn new() -> DownloadBar {
        let bar = if ui::stderr_is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let download = DownloadBar(bar);
        download.phase("exporting {bytes} ({bytes_per_sec}) {wide_bar} {eta}", None);
        download
    }

    /// Starts a phase: a new template, length and position 0.
    fn phase(&self, template: &str, length: Option<u64>) {
        self.0.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.0.unset_length();
        if let Some(length) = length {
            self.0.set_length(length);
        }
        self.0.reset();
    }
}

impl Drop for DownloadBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl ExportProgress for DownloadBar {
    fn started(&self, total_bytes: Option<u64>) {
        if let Some(total) = total_bytes {
            self.0.set_length(total);
        }
    }
    fn received(&self, bytes_so_far: u64) {
        self.0.set_position(bytes_so_far);
    }
}

pub fn run_export(args: ExportArgs, global: &GlobalArgs) -> Result<u8, Failure> {
    let client = connect(&args.target, global)?;
    let tenant = &client.settings().tenant;
    let bar = DownloadBar::new();
    let body: ExportBody = runtime()?.block_on(client.export_response(&bar))?;
    bar.phase(
        "reading {bytes}/{total_bytes} {wide_bar} {eta}",
        Some(body.bytes.len() as u64),
    );
    let export = CanonicalExport::index(&body.bytes, ExportBody::SOURCE_NAME, &args.pools, &|at| {
        bar.0.set_position(at)
    })
    .map_err(|error| Failure::from(body.not_a_tenant_document(&error)))?;
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
