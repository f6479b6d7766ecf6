//! Helpers shared by the integration tests: snapshot settings and running the binary.

pub(crate) mod schemas;
pub(crate) mod shared;
pub(crate) mod spec;
pub(crate) mod tenant;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// insta settings: snapshots in `snapshots/`, ports, temp dirs and timings filtered.
pub(crate) fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"\d+(\.\d+)?(ms|s)\b", "[TIME]");
    settings.add_filter(r"/tmp/[^\s`'\x22]+", "[TEMP]");
    // The emulator stamps what it changes with its clock, to the nanosecond (the examples'
    // own timestamps are whole seconds and stay).
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", "[EMULATOR CLOCK]");
    settings
}

/// A `poolsync` command with a clean environment (no color, no inherited settings).
pub(crate) fn poolsync() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_poolsync"));
    command.current_dir(root());
    for (name, _) in std::env::vars() {
        if name.starts_with("POOLSYNC_") || name == "RUST_LOG" || name == "NO_COLOR" {
            command.env_remove(name);
        }
    }
    command.env("POOLSYNC_TEST_NO_RETRY_DELAY", "1");
    // Journals go to a directory of their own, not next to the example files.
    let journals = tempfile::Builder::new()
        .prefix("poolsync-journals-")
        .tempdir()
        .expect("a temporary directory")
        .keep();
    command.env("POOLSYNC_JOURNAL_DIR", journals);
    command
}

/// Stdout, stderr and exit code as one string, for snapshots.
pub(crate) fn transcript(output: &Output) -> String {
    format!(
        "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
        output
            .status
            .code()
            .map_or("signal".to_string(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `poolsync` with `args` and returns its output.
pub(crate) fn run(args: &[&str]) -> Output {
    poolsync()
        .args(args)
        .output()
        .expect("the poolsync binary runs")
}

/// Snapshots `text` under `name` in `snapshots/`, with the shared filters.
pub(crate) fn snapshot_text(name: &str, text: &str) {
    snapshot_settings().bind(|| insta::assert_snapshot!(name, text));
}

/// Snapshots stdout, stderr and exit code of an output under `name`.
pub(crate) fn snapshot_output(name: &str, output: &Output) {
    snapshot_text(name, &transcript(output));
}

/// Runs `poolsync` with `args`, snapshots the transcript under `name`, and returns the output.
pub(crate) fn snapshot_run(name: &str, args: &[&str]) -> Output {
    let output = run(args);
    snapshot_output(name, &output);
    output
}

/// A path relative to the repository root, as a string.
pub(crate) fn path(relative: &str) -> String {
    let path: &Path = relative.as_ref();
    path.display().to_string()
}

/// The first `characters` characters of `text`, for a failing assertion's message about a
/// hostile output.
pub(crate) fn head(text: &str, characters: usize) -> String {
    text.chars().take(characters).collect()
}
