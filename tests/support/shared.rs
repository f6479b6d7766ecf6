//! The material beside the repository in `../shared/` (the vendor specs, real export files of
//! other platforms), which tests read in place and never copy.
//!
//! A test that needs it calls [`shared_path`]: when the path is missing, the test **fails** if
//! the `CI` variable is set (CI must check it) and otherwise says on stderr that it skipped, so
//! that no test passes silently having checked nothing.

use std::path::PathBuf;

/// The `../shared` folder (override it with `POOLSYNC_SHARED_DIR`).
pub(crate) fn shared_dir() -> PathBuf {
    match std::env::var_os("POOLSYNC_SHARED_DIR") {
        Some(folder) => PathBuf::from(folder),
        None => super::root().join("../shared"),
    }
}

/// `../shared/<relative>` when it exists. When it does not: a panic under `CI`, else `None`
/// after a `skipped:` line on stderr naming the test's purpose (`what`).
pub(crate) fn shared_path(relative: &str, what: &str) -> Option<PathBuf> {
    let path = shared_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let message = format!("`{}` is missing, needed to test {what}", path.display());
    if std::env::var_os("CI").is_some_and(|value| !value.is_empty()) {
        panic!("{message} (CI is set, so this fails instead of skipping)");
    }
    #[allow(clippy::print_stderr, reason = "the test must say that it skipped")]
    {
        eprintln!("skipped: {message}");
    }
    None
}
