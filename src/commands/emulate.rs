//! `poolsync emulate`: its arguments, their resolution into an [`EmulatorConfig`], and the run
//! until Ctrl-C.
//!
//! What it tells people (the URL, tenants and clients to use, one line per request) goes through
//! `tracing`, at `info` level: the binary installs the subscriber that prints it. A client secret
//! is never shown, whether it came from the command line or from the environment.

use super::common::runtime;
use crate::command_error::Failure;
use poolsync::emulator::{
    ClientConfig, DEFAULT_SCOPES, Emulator, EmulatorConfig, EmulatorError, FaultConfig, RateLimit,
};
use poolsync::exit_codes;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A `--client ID:SECRET[:SCOPE,SCOPE...]` value; its `Debug` output hides the secret.
#[derive(Clone)]
pub(crate) struct ClientArg(ClientConfig);

impl fmt::Debug for ClientArg {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(formatter)
    }
}

/// Splits `ID:SECRET_OR_VAR[:SCOPE,SCOPE...]`; no scopes means [`DEFAULT_SCOPES`].
fn split_client(value: &str, what: &str) -> Result<(String, String, Vec<String>), String> {
    let mut parts = value.splitn(3, ':');
    let id = parts.next().unwrap_or_default();
    let second = parts.next().unwrap_or_default();
    if id.is_empty() || second.is_empty() {
        return Err(format!("expected `ID:{what}[:SCOPE,SCOPE...]`"));
    }
    let scopes: Vec<String> = match parts.next() {
        Some(scopes) => scopes
            .split(',')
            .map(str::trim)
            .filter(|scope| !scope.is_empty())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    let scopes = if scopes.is_empty() {
        DEFAULT_SCOPES
            .iter()
            .map(|scope| scope.to_string())
            .collect()
    } else {
        scopes
    };
    Ok((id.to_string(), second.to_string(), scopes))
}

fn parse_client(value: &str) -> Result<ClientArg, String> {
    // The error must not repeat the value: it holds a secret.
    let (id, secret, scopes) = split_client(value, "SECRET")?;
    Ok(ClientArg(ClientConfig { id, secret, scopes }))
}

fn parse_fraction(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(fraction) if (0.0..=1.0).contains(&fraction) => Ok(fraction),
        _ => Err(format!("`{value}` is not a fraction between 0 and 1")),
    }
}

/// Serve a local emulator of the SecureAuth System API
#[derive(clap::Args, Debug)]
pub(crate) struct EmulateArgs {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Tenant to serve; repeat for several, each paired in order with a `--seed`
    #[arg(long = "tenant", value_name = "ID")]
    tenants: Vec<String>,

    /// Seed document (a tenant export) of the tenant in the same position; tenants without one
    /// start empty
    #[arg(long = "seed", value_name = "FILE")]
    seeds: Vec<PathBuf>,

    /// Client allowed to get tokens, as `ID:SECRET[:SCOPE,SCOPE...]`; without scopes it gets
    /// `manage_configuration`, `read_configuration` and `identity`; repeatable
    #[arg(long = "client", value_name = "ID:SECRET[:SCOPES]", value_parser = parse_client)]
    clients: Vec<ClientArg>,

    /// Client whose secret is read from an environment variable, as `ID:VAR[:SCOPE,SCOPE...]`,
    /// so that the secret stays out of the process list; repeatable
    #[arg(long = "client-secret-env", value_name = "ID:VAR[:SCOPES]")]
    client_secret_env: Vec<String>,

    /// Keep tenants in this file across restarts (written atomically, mode 0600); tenants it
    /// holds take precedence over `--seed`
    #[arg(long = "state", value_name = "FILE")]
    state: Option<PathBuf>,

    /// Lifetime of access tokens, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    token_ttl: u64,

    /// Most users accepted in one import request (413 above it)
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_users_per_request: usize,

    /// Largest request body accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    body_limit: usize,

    /// Answer 404 on `/api/identity/system/{tid}/configuration` (the vendor page's path)
    #[arg(long)]
    disable_legacy_path: bool,

    /// Answer 404 on `/api/identity/{tid}/configuration` (the current spec's path)
    #[arg(long)]
    disable_current_path: bool,

    /// Seed of the generator that picks which requests get faults
    #[arg(long, value_name = "N", default_value_t = 0)]
    fault_seed: u64,

    /// Allow at most this many requests per second per tenant; more get 429 with `Retry-After`
    #[arg(long, value_name = "RPS", conflicts_with = "fault_429_every")]
    fault_rate_limit: Option<u32>,

    /// Answer 429 to every N-th request of a tenant
    #[arg(long = "fault-429-every", value_name = "N")]
    fault_429_every: Option<u32>,

    /// `Retry-After` of the 429 answers of `--fault-429-every` and `--fault-password-429-every`,
    /// in seconds
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    fault_retry_after: u64,

    /// Answer 429 to every N-th password check of a tenant, as the real endpoint's brute-force
    /// protection does (`Retry-After` from `--fault-retry-after`)
    #[arg(long = "fault-password-429-every", value_name = "N")]
    fault_password_429_every: Option<u32>,

    /// Fraction of requests answered 503 before anything is done
    #[arg(long = "fault-5xx", value_name = "FRACTION", value_parser = parse_fraction, default_value_t = 0.0)]
    fault_5xx: f64,

    /// Fraction of successful imports and deletes answered 502 after the change was applied
    #[arg(long = "fault-502-after", value_name = "FRACTION", value_parser = parse_fraction, default_value_t = 0.0)]
    fault_502_after: f64,

    /// Fraction of requests whose connection is closed without an answer, after handling them
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, default_value_t = 0.0)]
    fault_drop: f64,

    /// Latency added to every request, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,

    /// Random extra latency, up to this many milliseconds, drawn from the fault seed
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_jitter_ms: u64,
}

impl EmulateArgs {
    /// Resolves the arguments: reads seed files and secrets from the environment.
    fn resolve(&self) -> Result<EmulatorConfig, EmulatorError> {
        if self.seeds.len() > self.tenants.len() {
            return Err(EmulatorError::Config(format!(
                "{} `--seed` files for {} `--tenant`: name the tenant before each seed",
                self.seeds.len(),
                self.tenants.len()
            )));
        }
        let mut config = EmulatorConfig::new();
        for (position, tenant_id) in self.tenants.iter().enumerate() {
            let seed = match self.seeds.get(position) {
                Some(path) => {
                    poolsync::load::read_dump(path).map_err(|source| EmulatorError::SeedFile {
                        tenant: tenant_id.clone(),
                        source,
                    })?
                }
                None => poolsync::model::TenantDump::default(),
            };
            config = config.tenant(tenant_id.clone(), seed);
        }
        config.clients = self.clients.iter().map(|client| client.0.clone()).collect();
        for value in &self.client_secret_env {
            let (id, variable, scopes) = split_client(value, "VAR").map_err(|message| {
                EmulatorError::Config(format!(
                    "invalid `--client-secret-env` `{value}`: {message}"
                ))
            })?;
            let secret = std::env::var(&variable).map_err(|_| {
                EmulatorError::Config(format!(
                    "environment variable `{variable}` of client `{id}` is not set"
                ))
            })?;
            config.clients.push(ClientConfig { id, secret, scopes });
        }
        if config.clients.is_empty() {
            return Err(EmulatorError::Config(
                "no client: add one with `--client ID:SECRET` or `--client-secret-env ID:VAR`"
                    .to_string(),
            ));
        }
        config.token_ttl = Duration::from_secs(self.token_ttl);
        config.max_users_per_request = self.max_users_per_request;
        config.body_limit = self.body_limit;
        config.legacy_path_enabled = !self.disable_legacy_path;
        config.current_path_enabled = !self.disable_current_path;
        config.state_file = self.state.clone();
        config.faults = FaultConfig {
            seed: self.fault_seed,
            rate_limit: self
                .fault_rate_limit
                .map(RateLimit::PerSecond)
                .or(self.fault_429_every.map(RateLimit::EveryNth)),
            retry_after_secs: self.fault_retry_after,
            error_5xx_before: self.fault_5xx,
            error_502_after: self.fault_502_after,
            drop_connection: self.fault_drop,
            latency: Duration::from_millis(self.latency_ms),
            latency_jitter: Duration::from_millis(self.latency_jitter_ms),
            password_429_every: self.fault_password_429_every,
        };
        Ok(config)
    }
}

pub(crate) fn run(args: EmulateArgs) -> Result<u8, Failure> {
    runtime()?.block_on(serve(args)).map_err(Failure::new)?;
    Ok(exit_codes::SUCCESS)
}

/// Runs the emulator until Ctrl-C (or SIGTERM), then shuts it down cleanly.
async fn serve(args: EmulateArgs) -> Result<(), EmulatorError> {
    let config = args.resolve()?;
    let clients: Vec<(String, Vec<String>)> = config
        .clients
        .iter()
        .map(|client| (client.id.clone(), client.scopes.clone()))
        .collect();
    let emulator = Emulator::start(config, args.listen).await?;
    let url = emulator.url();
    tracing::info!(target: "poolsync::emulator", "SecureAuth System API emulator at {url}");
    for (tenant_id, users) in emulator.tenant_summaries() {
        tracing::info!(
            target: "poolsync::emulator",
            "tenant `{tenant_id}` ({users} users): token {url}/{tenant_id}/system/oauth2/token, \
             configuration {url}/api/identity/system/{tenant_id}/configuration"
        );
    }
    for (client_id, scopes) in clients {
        tracing::info!(target: "poolsync::emulator", "client `{client_id}` (scopes: {})", scopes.join(" "));
    }
    tracing::info!(target: "poolsync::emulator", "press Ctrl-C to stop");
    let stopped = wait_for_stop().await;
    tracing::info!(target: "poolsync::emulator", "stopping");
    emulator.shutdown().await;
    stopped
}

async fn wait_for_stop() -> Result<(), EmulatorError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).map_err(EmulatorError::Signal)?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map_err(EmulatorError::Signal),
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(EmulatorError::Signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Command {
        #[command(flatten)]
        args: EmulateArgs,
    }

    #[test]
    fn client_flags_parse_without_showing_the_secret() {
        let command = Command::try_parse_from([
            "emulate",
            "--tenant",
            "acme",
            "--client",
            "ops:hunter2",
            "--client",
            "ro:pw:read_configuration",
            "--fault-5xx",
            "0.25",
            "--fault-429-every",
            "3",
        ])
        .unwrap();
        let config = command.args.resolve().unwrap();
        assert_eq!(config.clients[0].scopes, DEFAULT_SCOPES);
        assert_eq!(config.clients[1].scopes, ["read_configuration"]);
        assert_eq!(config.faults.rate_limit, Some(RateLimit::EveryNth(3)));
        assert!(!format!("{command:?}").contains("hunter2"));
        // A secret from the environment (PATH is set wherever tests run).
        let command =
            Command::try_parse_from(["emulate", "--client-secret-env", "env:PATH:identity"])
                .unwrap();
        let config = command.args.resolve().unwrap();
        assert_eq!(config.clients[0].secret, std::env::var("PATH").unwrap());
        assert_eq!(config.clients[0].scopes, ["identity"]);
        let command = Command::try_parse_from([
            "emulate",
            "--client-secret-env",
            "env:POOLSYNC_UNSET_VARIABLE",
        ])
        .unwrap();
        let error = command.args.resolve().unwrap_err().to_string();
        assert!(error.contains("`POOLSYNC_UNSET_VARIABLE`"), "{error}");
        let error = Command::try_parse_from(["emulate", "--client", "only-an-id"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("ID:SECRET"), "{error}");
        let error = Command::try_parse_from(["emulate", "--fault-drop", "2"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("fraction"), "{error}");
    }
}
