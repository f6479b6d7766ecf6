//! Terminal concerns of the binary: colors, logging, progress lines and the confirmation
//! prompt. (How errors are told is `command_error`.)

use crate::cli::ColorChoice;
use crate::command_error::Failure;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use poolsync::client::{BatchEvent, BatchObserver, BatchStatus, ExportProgress};
use poolsync::sieve::{Side, SieveProgress};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether to color a stream, from the flag, `NO_COLOR` and whether it is a terminal.
pub(crate) fn use_color(choice: ColorChoice, is_terminal: bool) -> bool {
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
pub(crate) fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal.
pub(crate) fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Sends logs to stderr; `RUST_LOG` wins over `-v`. `chatty` commands (the emulator, whose
/// banner and request lines are logs) start one level higher.
pub(crate) fn init_logging(verbose: u8, chatty: bool, color: bool) {
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

/// A progress bar on stderr when it is a terminal, else one that draws nothing.
fn stderr_bar(length: Option<u64>) -> ProgressBar {
    if stderr_is_terminal() {
        ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A progress bar on stderr, on a terminal only: bytes while an export downloads (and, for
/// `poolsync export`, while it is read), then users while they are written. It is cleared when
/// dropped, so an error never shows under a stale bar.
pub(crate) struct DownloadBar(pub(crate) ProgressBar);

impl DownloadBar {
    pub(crate) fn new() -> DownloadBar {
        let download = DownloadBar(stderr_bar(None));
        download.phase("exporting {bytes} ({bytes_per_sec}) {wide_bar} {eta}", None);
        download
    }

    /// Starts a phase: a new template, length and position 0.
    pub(crate) fn phase(&self, template: &str, length: Option<u64>) {
        self.0.set_style(style(template));
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

/// Users read so far on each side while a plan is made, on stderr, on a terminal only; cleared
/// when dropped.
pub(crate) struct ReadingBar(ProgressBar, [AtomicU64; 4]);

impl ReadingBar {
    pub(crate) fn new() -> ReadingBar {
        let bar = stderr_bar(None);
        bar.set_style(style("{spinner} {msg} {elapsed}"));
        ReadingBar(bar, Default::default())
    }
}

impl Drop for ReadingBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
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
            HumanBytes(current_bytes),
            desired_users,
            HumanBytes(desired_bytes)
        ));
    }
}

/// Users applied so far, whole users per second and the time left, on stderr, on a terminal
/// only (and never with `--json`); cleared when dropped.
pub(crate) struct ApplyBar(ProgressBar);

impl ApplyBar {
    pub(crate) fn new(total_users: u64, shown: bool) -> ApplyBar {
        let bar = if shown {
            stderr_bar(Some(total_users))
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            style("applying {wide_bar} {pos}/{len} users {rate} ETA {eta}").with_key(
                "rate",
                |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = write!(out, "{}", users_per_second(state.per_sec()));
                },
            ),
        );
        ApplyBar(bar)
    }
}

/// `1,703 users/s`: whole users, thousands separated.
pub(crate) fn users_per_second(rate: f64) -> String {
    let whole = if rate.is_finite() && rate > 0.0 {
        rate.round() as usize
    } else {
        0
    };
    format!("{} users/s", poolsync::render::thousands(whole))
}

impl Drop for ApplyBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl BatchObserver for ApplyBar {
    fn on_event(&self, event: &BatchEvent<'_>) {
        if let BatchEvent::Finished { outcome } = event {
            if outcome.status == BatchStatus::Applied {
                self.0.inc(outcome.user_ids.len() as u64);
            }
        }
    }
}

/// Whether to go ahead: yes with `auto_approve`, else only after `yes` on a terminal. Without a
/// terminal it refuses with `hint`; a declined prompt says that nothing was changed.
pub(crate) fn approve(tenant: &str, auto_approve: bool, hint: &str) -> Result<bool, Failure> {
    if auto_approve {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            "refusing to apply without confirmation: stdin is not a terminal",
        )
        .hint(hint));
    }
    let mut stderr = std::io::stderr();
    write!(
        stderr,
        "\nDo you want to perform these actions on tenant `{tenant}`?\n  Only `yes` will be accepted to approve.\n\n  Enter a value: "
    )?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        writeln!(stderr, "\nApply cancelled: nothing was changed.")?;
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_whole_users_per_second() {
        assert_eq!(users_per_second(1_703.093_6), "1,703 users/s");
        assert_eq!(users_per_second(0.4), "0 users/s");
        assert_eq!(users_per_second(f64::NAN), "0 users/s");
    }
}
