//! Errors of starting and running an emulator (not the HTTP error bodies it serves, which live
//! with the handlers). None of them holds a secret.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Starting or running the emulator failed.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listening socket could not be opened.
    #[error("cannot listen on `{addr}`")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A seed document breaks a rule of the API.
    #[error("seed of tenant `{tenant}` is not a valid tenant: {message}")]
    Seed {
        /// The tenant.
        tenant: String,
        /// What is wrong, naming the record and field.
        message: String,
    },
    /// The same tenant was configured twice.
    #[error("tenant `{tenant}` is configured twice")]
    DuplicateTenant {
        /// The tenant.
        tenant: String,
    },
    /// The configuration cannot work (no tenant, a bad client...).
    #[error("{0}")]
    Config(String),
    /// The state file exists but cannot be read or parsed.
    #[error("cannot load state file `{}`: {message}", path.display())]
    StateLoad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The state file cannot be written.
    #[error("cannot write state file `{}`", path.display())]
    StateWrite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A seed file named on the command line cannot be read.
    #[error("cannot read seed of tenant `{tenant}`")]
    SeedFile {
        /// The tenant.
        tenant: String,
        /// Why.
        #[source]
        source: crate::error::LoadError,
    },
    /// The background runtime of [`super::Emulator::start_in_background`] failed.
    #[error("cannot start the emulator's background runtime")]
    Runtime(#[source] std::io::Error),
    /// Waiting for Ctrl-C failed.
    #[error("cannot wait for Ctrl-C")]
    Signal(#[source] std::io::Error),
}
