//! Helpers shared by the integration tests.

pub mod spec;

use std::path::PathBuf;

/// A file of the crate, by its path relative to the manifest.
pub fn crate_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}
