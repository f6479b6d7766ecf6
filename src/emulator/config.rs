//! What an emulator serves and how: tenants and their seeds, clients, limits, paths, faults and
//! the state file. Plain data with builder-style helpers; nothing here touches the network.

use super::faults::FaultConfig;
use crate::model::TenantDump;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Scope that allows import (and export).
pub const SCOPE_MANAGE_CONFIGURATION: &str = "manage_configuration";
/// Scope that allows export only.
pub const SCOPE_READ_CONFIGURATION: &str = "read_configuration";
/// Scope that allows deleting users.
pub const SCOPE_IDENTITY: &str = "identity";
/// Scopes of a client configured without any.
pub const DEFAULT_SCOPES: &[&str] = &[
    SCOPE_MANAGE_CONFIGURATION,
    SCOPE_READ_CONFIGURATION,
    SCOPE_IDENTITY,
];

/// An OAuth2 client allowed to get tokens from every tenant of the emulator.
#[derive(Clone)]
pub struct ClientConfig {
    /// The `client_id`.
    pub id: String,
    /// The `client_secret`; never logged, never shown by `Debug`.
    pub secret: String,
    /// The scopes the client may hold.
    pub scopes: Vec<String>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientConfig")
            .field("id", &self.id)
            .field("secret", &crate::SENSITIVE)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Everything an emulator needs to start.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Tenants served, in order, each with the document it starts from. The `tenant_id` fields
    /// of a seed are rewritten to the tenant's id, so one file can seed several tenants.
    pub tenants: Vec<(String, TenantDump)>,
    /// Clients that may get tokens.
    pub clients: Vec<ClientConfig>,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Most users one import request may hold (413 above it); the vendor's figure is 100.
    pub max_users_per_request: usize,
    /// Serve `/api/identity/system/{tid}/configuration` (the vendor page's path).
    pub legacy_path_enabled: bool,
    /// Serve `/api/identity/{tid}/configuration` (the current spec's path).
    pub current_path_enabled: bool,
    /// Fault injection.
    pub faults: FaultConfig,
    /// Where tenants persist across restarts; `None` keeps them in memory only.
    pub state_file: Option<PathBuf>,
    /// How long after a change the state file is written; changes within that time are written
    /// together.
    pub state_write_delay: Duration,
    /// Largest request body accepted, in bytes (413 above it).
    pub body_limit: usize,
    /// Time allowed to send a request's headers before the connection is closed.
    pub header_read_timeout: Duration,
    /// Time allowed to send a request's body (408 after it).
    pub body_read_timeout: Duration,
    /// How many requests the in-memory request log keeps (the oldest are dropped first).
    pub request_log_capacity: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            tenants: Vec::new(),
            clients: Vec::new(),
            token_ttl: Duration::from_secs(3600),
            max_users_per_request: 100,
            legacy_path_enabled: true,
            current_path_enabled: true,
            faults: FaultConfig::default(),
            state_file: None,
            state_write_delay: Duration::from_millis(200),
            body_limit: 64 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(120),
            request_log_capacity: 10_000,
        }
    }
}

impl EmulatorConfig {
    /// A configuration with no tenant, no client and the defaults above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tenant seeded from `seed`.
    pub fn tenant(mut self, tenant_id: impl Into<String>, seed: TenantDump) -> Self {
        self.tenants.push((tenant_id.into(), seed));
        self
    }

    /// Adds a client; an empty `scopes` gives it [`DEFAULT_SCOPES`].
    pub fn client(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
        scopes: &[&str],
    ) -> Self {
        let scopes = if scopes.is_empty() {
            DEFAULT_SCOPES
        } else {
            scopes
        };
        self.clients.push(ClientConfig {
            id: id.into(),
            secret: secret.into(),
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
        });
        self
    }

    /// Sets the token lifetime.
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Sets the most users one import request may hold.
    pub fn max_users_per_request(mut self, max: usize) -> Self {
        self.max_users_per_request = max;
        self
    }

    /// Serves or hides (404) `/api/identity/system/{tid}/configuration`.
    pub fn legacy_path(mut self, enabled: bool) -> Self {
        self.legacy_path_enabled = enabled;
        self
    }

    /// Serves or hides (404) `/api/identity/{tid}/configuration`.
    pub fn current_path(mut self, enabled: bool) -> Self {
        self.current_path_enabled = enabled;
        self
    }

    /// Sets the fault injection.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Persists tenants in `path` across restarts.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Sets the largest request body accepted, in bytes.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}
