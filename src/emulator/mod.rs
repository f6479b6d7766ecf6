//! A local emulator of the SecureAuth System API, served over real HTTP.
//!
//! It serves what `system-api.md` describes: the client-credentials token endpoint, export and
//! import of a tenant's `TenantDump` on both path styles, the delete-one-user endpoint and the
//! password check (which verifies every hash method of the contract), for
//! several tenants at once, with deterministic fault injection for rehearsals and tests. Tests
//! start it in-process on `127.0.0.1:0` ([`Emulator::start`], or
//! [`Emulator::start_in_background`] for tests that run the `poolsync` binary); people start it
//! with `poolsync emulate`.
//!
//! ```no_run
//! # async fn demo(seed: poolsync::model::TenantDump) -> Result<(), poolsync::emulator::EmulatorError> {
//! use poolsync::emulator::{Emulator, EmulatorConfig};
//! let config = EmulatorConfig::new()
//!     .tenant("acme", seed)
//!     .client("rehearsal", "s3cret", &[]);
//! let emulator = Emulator::start(config, "127.0.0.1:0".parse().unwrap()).await?;
//! let token_url = format!("{}/acme/system/oauth2/token", emulator.url());
//! # let _ = token_url;
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! It does not implement the rest of the Identity API (single-user CRUD, OTPs, login flows), nor
//! PATCH of the configuration, nor real OAuth2 (no JWTs, no consent, no refresh tokens).

mod api_error;
mod auth;
mod config;
mod error;
mod faults;
mod password;
mod persist;
mod rules;
mod server;
mod state;

pub use config::{
    ClientConfig, DEFAULT_SCOPES, EmulatorConfig, SCOPE_IDENTITY, SCOPE_MANAGE_CONFIGURATION,
    SCOPE_READ_CONFIGURATION,
};
pub use error::EmulatorError;
pub use faults::{Fault, FaultConfig, RateLimit};
pub use server::{Emulator, EmulatorHandle, EmulatorView, RequestRecord};
