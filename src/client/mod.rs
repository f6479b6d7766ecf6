//! The network client: settings, tokens, export, import, delete, the password check, and the
//! batch executor.
//!
//! This is the only part of poolsync that talks to the network. It knows nothing about diffs or
//! plans: it moves `TenantDump`s and user ids over HTTP and reports, per batch, what the service
//! answered. The layers:
//!
//! - [`settings`]: flags, environment and profiles resolved into [`ConnectionSettings`].
//! - [`token`]: OAuth2 client-credentials tokens, cached per scope.
//! - [`transport`]: [`ApiClient`], one request per call, failures classified into [`ApiError`].
//! - [`retry`]: which failures are retried, and after how long.
//! - [`batch`]: imports and deletes in parallel with retries, pacing and cancellation.
//! - [`verify`]: the password check, one at a time.
//!
//! ```no_run
//! use poolsync::client::{
//!     ApiClient, BatchOptions, Cancellation, ConnectionArgs, ConnectionSettings, NoProgress,
//!     run_batches, settings::process_env,
//! };
//!
//! # async fn example(args: ConnectionArgs, batches: Vec<poolsync::client::Batch>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let settings = ConnectionSettings::resolve(&args, &process_env)?;
//! let client = ApiClient::new(settings)?;
//! let current = client.export(&NoProgress).await?;
//! // ... diff `current` against the desired file; `import::build_batches` turns the plan into
//! // `batches` of whole users, at most 100 each ...
//! let cancellation = Cancellation::new();
//! let _ctrl_c = cancellation.escalate_on_ctrl_c();
//! let outcomes = run_batches(
//!     &client,
//!     batches,
//!     &BatchOptions::default(),
//!     &(),
//!     &cancellation,
//! )
//! .await;
//! // Batches that are not `Applied` are settled by exporting again, never by assumption.
//! # let _ = (current, outcomes);
//! # Ok(())
//! # }
//! ```

pub mod batch;
pub mod error;
pub mod retry;
pub mod settings;
pub mod token;
pub mod transport;
pub mod verify;

/// Import modes belong to the contract; re-exported where the client takes them.
pub use crate::model::ImportMode;
pub use batch::{
    Batch, BatchError, BatchEvent, BatchObserver, BatchOptions, BatchOutcome, BatchStatus,
    Cancellation, DeleteJob, run_batches, run_deletes,
};
pub use error::{ApiError, Delivery, Operation, ServerMessage, TransportKind};
pub use retry::RetryPolicy;
pub use settings::{ApiPath, ConnectionArgs, ConnectionSettings, SettingsError};
pub use token::Scope;
pub use transport::{
    ApiClient, DeleteOutcome, ExportBody, ExportProgress, NoProgress, SpooledBody, SpooledExport,
};
pub use verify::{PasswordCheck, PasswordResult, PasswordSubject};
