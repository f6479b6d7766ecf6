//! The HTTP side: routes, handlers, the connection loop, fault injection around each request,
//! the request log, the state-file writer and the [`Emulator`] and [`EmulatorHandle`] types.
//!
//! Connections are served by hyper directly rather than `axum::serve`, because a dropped
//! connection (fault injection) needs the service to fail, which makes hyper close the socket
//! without an answer; the routes themselves are an axum `Router`. Handlers never panic on input:
//! every problem with a request becomes an error body.
//!
//! The async workers only move bytes and wake requests: an import is parsed, prepared and
//! applied on a blocking thread (the tenant's lock taken for the last step only), so a worker
//! busy parsing never delays another request's latency or answer. An import's latency ends on
//! that thread too (see [`LATENCY_HANDOFF`]).

use super::api_error::{ApiError, TokenError};
use super::auth::Authority;
use super::config::{
    EmulatorConfig, SCOPE_IDENTITY, SCOPE_MANAGE_CONFIGURATION, SCOPE_READ_CONFIGURATION,
};
use super::error::EmulatorError;
use super::faults::{Fault, FaultInjector, RateWindow};
use super::password::PasswordChecks;
use super::persist;
use super::state::{PreparedImport, TenantState, parse_mode};
use crate::model::TenantDump;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// One request as the emulator saw it, for tests' assertions.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// Arrival number, from 0.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The tenant the path names, if the emulator serves it.
    pub tenant: Option<String>,
    /// The `mode` query parameter of an import, as sent.
    pub mode: Option<String>,
    /// Status of the answer (for [`Fault::Dropped`], the answer the client never got).
    pub status: u16,
    /// Users in an import body, once it was parsed.
    pub users_in_body: Option<usize>,
    /// Users in an export answer.
    pub users_in_response: Option<usize>,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// Time from arrival to answer, latency faults included.
    pub duration: Duration,
}

/// What a handler tells the request log, carried in the response's extensions.
#[derive(Clone, Copy, Debug, Default)]
struct RequestNote {
    users_in_body: Option<usize>,
    users_in_response: Option<usize>,
    /// The handler waited out the injected latency itself (see [`LATENCY_HANDOFF`]).
    waited: bool,
}

/// When a request may be acted on: its arrival plus its injected latency. Carried in the
/// request's extensions to handlers.
#[derive(Clone, Copy, Debug)]
struct Deadline(Instant);

impl Deadline {
    /// Blocks this (blocking) thread until the deadline, to the operating system's timer
    /// precision; returns at once when it has passed.
    fn wait_blocking(self) {
        let left = self.0.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            std::thread::sleep(left);
        }
    }
}

/// How long before the end of its latency an import is handed to the handler, which finishes
/// the wait on the blocking thread that then parses and applies it. tokio's timer rounds up to
/// whole milliseconds and a blocking thread takes a while to wake on a busy machine; handing
/// over early keeps both inside the latency instead of adding them to it, so an import is acted
/// on when its latency is over, not a millisecond or two later. What the handler does before
/// that wait (checking the token, the mode, reading the body) changes nothing.
const LATENCY_HANDOFF: Duration = Duration::from_millis(2);

/// A tenant served.
struct Tenant {
    state: RwLock<TenantState>,
    rate: Mutex<RateWindow>,
}

/// Everything the handlers share.
struct Shared {
    tenants: HashMap<String, Arc<Tenant>>,
    tenant_order: Vec<String>,
    authority: Authority,
    faults: FaultInjector,
    log: Mutex<VecDeque<RequestRecord>>,
    log_capacity: usize,
    seq: AtomicU64,
    max_users_per_request: usize,
    legacy_path_enabled: bool,
    current_path_enabled: bool,
    body_limit: usize,
    body_read_timeout: Duration,
    state_file: Option<PathBuf>,
    state_write_delay: Duration,
    state_changed: Notify,
    passwords: PasswordChecks,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not take the emulator down with poisoned locks.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn tenant(&self, tenant_id: &str) -> Result<&Arc<Tenant>, ApiError> {
        self.tenants
            .get(tenant_id)
            .ok_or_else(|| ApiError::not_found(format!("tenant `{tenant_id}` not found")))
    }

    fn record(&self, record: RequestRecord) {
        let mut log = lock(&self.log);
        if log.len() >= self.log_capacity {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// Each tenant's id and serialized document, or `None` when nothing changed since
    /// `written`, which is updated.
    fn snapshot_if_changed(
        &self,
        written: &mut HashMap<String, u64>,
    ) -> Option<Vec<(String, Vec<u8>)>> {
        let changed = self.tenant_order.iter().any(|tenant_id| {
            let generation = read(&self.tenants[tenant_id].state).generation();
            written.get(tenant_id) != Some(&generation)
        });
        if !changed {
            return None;
        }
        let mut tenants = Vec::with_capacity(self.tenant_order.len());
        for tenant_id in &self.tenant_order {
            let state = read(&self.tenants[tenant_id].state);
            let mut bytes = Vec::new();
            if let Err(error) = serde_json::to_writer(&mut bytes, &state.export_view()) {
                tracing::error!(
                    "cannot serialize tenant `{tenant_id}` for the state file: {error}"
                );
                return None;
            }
            written.insert(tenant_id.clone(), state.generation());
            tenants.push((tenant_id.clone(), bytes));
        }
        Some(tenants)
    }
}

/// A running emulator. [`Emulator::shutdown`] stops it cleanly; dropping it leaves the server
/// running until the runtime ends.
pub struct Emulator {
    view: EmulatorView,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    persister: Option<tokio::task::JoinHandle<()>>,
}

/// The tenants an emulator starts with.
struct BuiltTenants {
    order: Vec<String>,
    tenants: HashMap<String, Arc<Tenant>>,
    /// Tenants read from the state file, which therefore need no write yet.
    loaded: Vec<String>,
}

/// Builds the tenants: from the state file where it has them, else from the seeds.
fn build_tenants(
    seeds: Vec<(String, TenantDump)>,
    state_file: Option<PathBuf>,
) -> Result<BuiltTenants, EmulatorError> {
    let now = crate::clock::now_rfc3339_precise();
    let stored = match &state_file {
        Some(path) => persist::load(path)?,
        None => None,
    };
    let mut stored: Vec<(String, TenantDump)> = stored.unwrap_or_default();
    let loaded: Vec<String> = stored
        .iter()
        .map(|(tenant_id, _)| tenant_id.clone())
        .collect();
    let mut sources: Vec<(String, TenantDump)> = Vec::new();
    for (tenant_id, seed) in seeds {
        if sources.iter().any(|(known, _)| *known == tenant_id) {
            return Err(EmulatorError::DuplicateTenant { tenant: tenant_id });
        }
        match stored.iter().position(|(known, _)| *known == tenant_id) {
            Some(position) => sources.push(stored.remove(position)),
            None => sources.push((tenant_id, seed)),
        }
    }
    // Tenants only the state file knows are served too: they were created by an earlier run.
    sources.append(&mut stored);
    if sources.is_empty() {
        return Err(EmulatorError::Config(
            "no tenant to serve: add one with a seed".to_string(),
        ));
    }
    let mut order = Vec::with_capacity(sources.len());
    let mut tenants = HashMap::with_capacity(sources.len());
    for (tenant_id, dump) in sources {
        let state = TenantState::from_seed(&tenant_id, dump, &now).map_err(|message| {
            EmulatorError::Seed {
                tenant: tenant_id.clone(),
                message,
            }
        })?;
        order.push(tenant_id.clone());
        tenants.insert(
            tenant_id,
            Arc::new(Tenant {
                state: RwLock::new(state),
                rate: Mutex::new(RateWindow::default()),
            }),
        );
    }
    Ok(BuiltTenants {
        order,
        tenants,
        loaded,
    })
}

impl Emulator {
    /// Seeds the tenants (or loads them from the state file), binds `addr` and serves.
    pub async fn start(
        config: EmulatorConfig,
        addr: SocketAddr,
    ) -> Result<Emulator, EmulatorError> {
        for client in &config.clients {
            if client.id.is_empty() {
                return Err(EmulatorError::Config(
                    "a client has an empty id".to_string(),
                ));
            }
        }
        let mut config = config;
        // The seeds move into the tenants: a large seed is not copied.
        let seeds = std::mem::take(&mut config.tenants);
        let state_file = config.state_file.clone();
        // Seeding a large tenant takes a while: keep it off the async workers.
        let BuiltTenants {
            order: tenant_order,
            tenants,
            loaded,
        } = tokio::task::spawn_blocking(move || build_tenants(seeds, state_file))
            .await
            .map_err(|error| EmulatorError::Config(format!("seeding failed: {error}")))??;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            tenants,
            tenant_order,
            authority: Authority::new(config.clients.clone(), config.token_ttl),
            faults: FaultInjector::new(config.faults.clone()),
            log: Mutex::new(VecDeque::new()),
            log_capacity: config.request_log_capacity.max(1),
            seq: AtomicU64::new(0),
            max_users_per_request: config.max_users_per_request,
            legacy_path_enabled: config.legacy_path_enabled,
            current_path_enabled: config.current_path_enabled,
            body_limit: config.body_limit,
            body_read_timeout: config.body_read_timeout,
            state_file: config.state_file.clone(),
            state_write_delay: config.state_write_delay,
            state_changed: Notify::new(),
            passwords: PasswordChecks::new(&config.faults),
        });
        let (shutdown, shutdown_signal) = watch::channel(false);
        let persister = shared.state_file.as_ref().map(|_| {
            // What was just loaded is what the file holds: no need to write it again.
            let written: HashMap<String, u64> = loaded
                .iter()
                .map(|tenant_id| (tenant_id.clone(), 0))
                .collect();
            tokio::spawn(persist_loop(
                Arc::clone(&shared),
                shutdown_signal.clone(),
                written,
            ))
        });
        if shared.state_file.is_some() && loaded.len() < shared.tenant_order.len() {
            // Seeded tenants are not in the file yet (or there is no file): write it soon.
            shared.state_changed.notify_one();
        }
        let router = router(Arc::clone(&shared));
        let server = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            router,
            shutdown_signal,
            config.header_read_timeout,
        ));
        tracing::info!(target: "poolsync::emulator", "listening on http://{addr}");
        Ok(Emulator {
            view: EmulatorView { addr, shared },
            shutdown,
            server,
            persister,
        })
    }

    /// Starts an emulator on `127.0.0.1:0` in a thread of its own with its own runtime, for
    /// tests that are not async or that run the `poolsync` binary; dropping the handle stops it.
    pub fn start_in_background(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        let (started_sender, started) = std::sync::mpsc::channel();
        let (stop, stop_signal) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("poolsync-emulator".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = started_sender.send(Err(EmulatorError::Runtime(error)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
                    match Emulator::start(config, addr).await {
                        Ok(emulator) => {
                            let view = (emulator.view.addr, Arc::clone(&emulator.view.shared));
                            let _ = started_sender.send(Ok(view));
                            // A dropped sender (the handle went away) also means stop.
                            let _ = stop_signal.await;
                            emulator.shutdown().await;
                        }
                        Err(error) => {
                            let _ = started_sender.send(Err(error));
                        }
                    }
                });
            })
            .map_err(EmulatorError::Runtime)?;
        let received = started.recv().map_err(|_| {
            EmulatorError::Runtime(std::io::Error::other(
                "the emulator thread ended before it started",
            ))
        })?;
        let (addr, shared) = received?;
        Ok(EmulatorHandle {
            view: EmulatorView { addr, shared },
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops accepting, lets requests under way finish (up to 5 s), writes the state file if
    /// anything changed, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(error) = self.server.await {
            tracing::warn!(target: "poolsync::emulator", "server task ended badly: {error}");
        }
        if let Some(persister) = self.persister {
            if let Err(error) = persister.await {
                tracing::warn!(target: "poolsync::emulator", "state writer ended badly: {error}");
            }
        }
        tracing::info!(target: "poolsync::emulator", "stopped");
    }
}

/// What tests and tools can ask a running emulator, whether it runs in their runtime
/// ([`Emulator`]) or on a thread of its own ([`EmulatorHandle`]); both dereference to it.
pub struct EmulatorView {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl EmulatorView {
    /// The base URL, such as `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of a tenant's current data, in export order.
    pub fn tenant_dump(&self, tenant_id: &str) -> Option<TenantDump> {
        self.shared
            .tenants
            .get(tenant_id)
            .map(|tenant| read(&tenant.state).to_dump())
    }

    /// The requests seen so far (the most recent ones, up to the log's capacity), oldest first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// Empties the request log.
    pub fn clear_request_log(&self) {
        lock(&self.shared.log).clear();
    }

    /// Each tenant served, in order, with its number of users.
    pub fn tenant_summaries(&self) -> Vec<(String, usize)> {
        self.shared
            .tenant_order
            .iter()
            .map(|tenant_id| {
                let users = read(&self.shared.tenants[tenant_id].state).user_count();
                (tenant_id.clone(), users)
            })
            .collect()
    }
}

impl std::ops::Deref for Emulator {
    type Target = EmulatorView;

    fn deref(&self) -> &EmulatorView {
        &self.view
    }
}

impl std::ops::Deref for EmulatorHandle {
    type Target = EmulatorView;

    fn deref(&self) -> &EmulatorView {
        &self.view
    }
}

/// An emulator running on its own thread; dropping it shuts the emulator down and waits.
pub struct EmulatorHandle {
    view: EmulatorView,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes the state file a little after changes, and once more at shutdown.
async fn persist_loop(
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    mut written: HashMap<String, u64>,
) {
    loop {
        tokio::select! {
            _ = shared.state_changed.notified() => {}
            _ = until_stopped(&mut shutdown) => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.state_write_delay) => {}
            _ = until_stopped(&mut shutdown) => break,
        }
        written = write_state(&shared, written).await;
    }
    write_state(&shared, written).await;
}

async fn write_state(
    shared: &Arc<Shared>,
    mut written: HashMap<String, u64>,
) -> HashMap<String, u64> {
    let shared = Arc::clone(shared);
    let task = tokio::task::spawn_blocking(move || {
        let previous = written.clone();
        if let (Some(path), Some(tenants)) =
            (&shared.state_file, shared.snapshot_if_changed(&mut written))
        {
            match persist::write(path, &tenants) {
                Ok(()) => {
                    tracing::debug!(target: "poolsync::emulator", "state written to `{}`", path.display())
                }
                Err(error) => {
                    tracing::error!(target: "poolsync::emulator", "{error}: {}", crate::error::causes(&error).join(": "));
                    // Try again at the next change.
                    return previous;
                }
            }
        }
        written
    });
    task.await.unwrap_or_default()
}

/// Waits until shutdown is asked for (or the emulator is gone).
async fn until_stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across other awaits: it is not `Send`.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The connection has to be dropped without an answer (fault injection).
#[derive(Debug)]
struct DroppedConnection;

impl std::fmt::Display for DroppedConnection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedConnection {}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    header_read_timeout: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let router = router.clone();
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        serve_request(Arc::clone(&shared), router.clone(), request)
                    });
                    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(target: "poolsync::emulator", "connection ended: {error}");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(target: "poolsync::emulator", "cannot accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = until_stopped(&mut shutdown) => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(5)) => {
            tracing::warn!(target: "poolsync::emulator", "requests still under way at shutdown were cut");
        }
    }
}

/// The tenant id a path names: `/{tid}/system/oauth2/token`, `/api/identity/system/{tid}/…`
/// or `/api/identity/{tid}/…`.
fn tenant_of_path(path: &str) -> Option<&str> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (
        segments.next()?,
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        ("api", Some("identity"), Some("system"), Some(tenant))
            if path.ends_with("/configuration") =>
        {
            Some(tenant)
        }
        ("api", Some("identity"), Some(tenant), _) => Some(tenant),
        (tenant, Some("system"), Some("oauth2"), _) => Some(tenant),
        _ => None,
    }
}

fn query_mode(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == "mode")
        .map(|(_, value)| value.into_owned())
}

fn fault_response(status: StatusCode, error_code: &'static str, message: &str) -> Response {
    ApiError::new(status, error_code, format!("injected fault: {message}")).into_response()
}

/// Serves one request: faults before, the router, faults after, the log.
async fn serve_request(
    shared: Arc<Shared>,
    router: Router,
    request: Request<Incoming>,
) -> Result<Response, DroppedConnection> {
    let started = Instant::now();
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let mode = query_mode(request.uri());
    let tenant = tenant_of_path(&path)
        .filter(|tenant| shared.tenants.contains_key(*tenant))
        .map(str::to_string);
    let draw = shared.faults.draw();
    let fault_config = shared.faults.config();
    let refused = tenant.as_ref().and_then(|tenant| {
        lock(&shared.tenants[tenant].rate).admit(
            fault_config.rate_limit,
            fault_config.retry_after_secs,
            Instant::now(),
        )
    });
    let mut fault = None;
    let mut response = if let Some(retry_after) = refused {
        fault = Some(Fault::RateLimited);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("rate limit exceeded: retry after {retry_after} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        response
    } else {
        // Latency is counted from arrival, as a network's delay would be, and every request
        // waits on its own task, so latencies overlap as they do on a network.
        let deadline = started + draw.latency;
        let handoff = if method == Method::PUT && !draw.error_before {
            LATENCY_HANDOFF
        } else {
            Duration::ZERO
        };
        if let Some(wake) = deadline.checked_sub(handoff).filter(|wake| *wake > started) {
            tokio::time::sleep_until(wake.into()).await;
        }
        if draw.error_before {
            fault = Some(Fault::ErrorBefore);
            fault_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "service unavailable, nothing was done",
            )
        } else {
            let is_mutation = method == Method::PUT || method == Method::DELETE;
            let mut request = request;
            request.extensions_mut().insert(Deadline(deadline));
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let waited = response
                .extensions()
                .get::<RequestNote>()
                .is_some_and(|note| note.waited);
            if !waited && Instant::now() < deadline {
                // Handed over early, but answered without waiting (refused before the body
                // was looked at, or no import route): the answer still waits for the latency.
                tokio::time::sleep_until(deadline.into()).await;
            }
            if draw.error_after && is_mutation && response.status().is_success() {
                fault = Some(Fault::Error502After);
                let mut replaced = fault_response(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "bad gateway after the change was applied",
                );
                if let Some(note) = response.extensions().get::<RequestNote>() {
                    replaced.extensions_mut().insert(*note);
                }
                replaced
            } else {
                response
            }
        }
    };
    let note = response
        .extensions_mut()
        .remove::<RequestNote>()
        .unwrap_or_default();
    if draw.drop {
        fault = Some(Fault::Dropped);
    }
    let status = response.status().as_u16();
    let duration = started.elapsed();
    let users = note
        .users_in_body
        .or(note.users_in_response)
        .map(|users| format!(" users={users}"))
        .unwrap_or_default();
    let mode_shown = mode
        .as_ref()
        .map(|mode| format!("?mode={mode}"))
        .unwrap_or_default();
    let fault_shown = fault
        .map(|fault| format!(" fault={fault:?}"))
        .unwrap_or_default();
    tracing::info!(
        target: "poolsync::emulator",
        "{method} {path}{mode_shown} {status}{users} {:.1}ms{fault_shown}",
        duration.as_secs_f64() * 1000.0
    );
    shared.record(RequestRecord {
        seq,
        method: method.to_string(),
        path,
        query,
        tenant,
        mode,
        status,
        users_in_body: note.users_in_body,
        users_in_response: note.users_in_response,
        fault,
        duration,
    });
    if draw.drop {
        return Err(DroppedConnection);
    }
    Ok(response)
}

fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new().route("/{tenant}/system/oauth2/token", post(token));
    // A path switched off is simply not routed: clients see the same 404 as for any unknown path.
    if shared.legacy_path_enabled {
        router = router.route(
            "/api/identity/system/{tenant}/configuration",
            get(export).put(import),
        );
    }
    if shared.current_path_enabled {
        router = router.route(
            "/api/identity/{tenant}/configuration",
            get(export).put(import),
        );
    }
    router
        .route(
            "/api/identity/{tenant}/system/pools/{pool}/users/{user}",
            delete(delete_user),
        )
        .route(
            "/api/identity/{tenant}/system/pools/{pool}/user/password/v2/verify",
            post(verify_password),
        )
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::not_found(format!("no route for {method} `{}`", uri.path()))
        })
        .with_state(shared)
}

/// Reads a request body up to the configured size and time.
async fn read_body(shared: &Shared, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = shared.body_limit;
    let too_large = || ApiError::too_large(format!("request body larger than {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let reading = async {
        let mut stream = body.into_data_stream();
        let mut buffer = Vec::with_capacity(declared.map_or(0, |length| length as usize));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                ApiError::bad_request(format!("cannot read the request body: {error}"))
            })?;
            if buffer.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer)
    };
    tokio::time::timeout(shared.body_read_timeout, reading)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body took too long to arrive",
            )
        })?
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        format!("internal error: {error}"),
    )
}

fn with_note(mut response: Response, note: RequestNote) -> Response {
    response.extensions_mut().insert(note);
    response
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !shared.tenants.contains_key(&tenant_id) {
        return TokenError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("tenant `{tenant_id}` not found"),
        )
        .into_response();
    }
    let bytes = match read_body(&shared, &headers, body).await {
        Ok(bytes) => bytes,
        Err(error) => {
            return TokenError::new(error.status, "invalid_request", error.message).into_response();
        }
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&bytes)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    match shared.authority.grant(&tenant_id, &headers, &form) {
        Ok(issued) => {
            let body = serde_json::json!({
                "access_token": issued.access_token,
                "token_type": "bearer",
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            });
            let mut response = (StatusCode::OK, axum::Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn export(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = Arc::clone(shared.tenant(&tenant_id)?);
        shared.authority.check(
            &headers,
            &tenant_id,
            &[SCOPE_MANAGE_CONFIGURATION, SCOPE_READ_CONFIGURATION],
        )?;
        // One serde pass straight from the store, off the async workers: a large tenant takes
        // seconds, and readers do not block each other.
        let (bytes, users) = tokio::task::spawn_blocking(move || {
            let state = read(&tenant.state);
            let mut bytes = Vec::with_capacity(state.user_count() * 1024 + 1024);
            serde_json::to_writer(&mut bytes, &state.export_view())
                .map(|()| (bytes, state.user_count()))
        })
        .await
        .map_err(internal)?
        .map_err(internal)?;
        let mut response = (StatusCode::OK, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok::<_, ApiError>(with_note(
            response,
            RequestNote {
                users_in_response: Some(users),
                ..RequestNote::default()
            },
        ))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// Parses an import body; a body that is not a `TenantDump` is a 400 naming the place.
fn parse_import_body(bytes: &[u8]) -> Result<TenantDump, ApiError> {
    crate::load::parse_dump(bytes, "request body").map_err(|error| {
        let mut api_error = ApiError::bad_request(format!("invalid `TenantDump`: {error}"));
        if let crate::error::LoadError::Parse {
            record: Some(record),
            ..
        } = &error
        {
            api_error = api_error.detail("path", record.as_str());
        }
        api_error
    })
}

async fn import(
    State(shared): State<Arc<Shared>>,
    Path(tenant_id): Path<String>,
    deadline: Option<Extension<Deadline>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let deadline = deadline.map_or(Deadline(Instant::now()), |Extension(deadline)| deadline);
    let mut note = RequestNote::default();
    let result = async {
        let tenant = Arc::clone(shared.tenant(&tenant_id)?);
        shared
            .authority
            .check(&headers, &tenant_id, &[SCOPE_MANAGE_CONFIGURATION])?;
        let mode = parse_mode(query_mode(&uri).as_deref())?;
        let bytes = read_body(&shared, &headers, body).await?;
        // Parsing and applying are CPU work: they run on a blocking thread, so that the async
        // workers keep serving other connections and waking requests whose latency is over.
        let work = Arc::clone(&shared);
        let (users, outcome) = tokio::task::spawn_blocking(move || {
            deadline.wait_blocking();
            let dump = match parse_import_body(&bytes) {
                Ok(dump) => dump,
                Err(error) => return (None, Err(error)),
            };
            drop(bytes);
            let users = dump.users.len();
            if users > work.max_users_per_request {
                let error = ApiError::too_large(format!(
                    "{users} users in one request: at most {} are accepted",
                    work.max_users_per_request
                ))
                .detail("max_users_per_request", work.max_users_per_request);
                return (Some(users), Err(error));
            }
            // What does not depend on the tenant is done before taking its lock.
            let prepared = PreparedImport::new(dump);
            let now = crate::clock::now_rfc3339_precise();
            let mut state = write(&tenant.state);
            let before = state.generation();
            let outcome = state.import_prepared(prepared, mode, &now);
            if state.generation() != before {
                work.state_changed.notify_one();
            }
            (Some(users), outcome)
        })
        .await
        .map_err(internal)?;
        note.waited = true;
        note.users_in_body = users;
        let outcome = outcome?;
        tracing::debug!(
            target: "poolsync::emulator",
            "import into `{tenant_id}`: {} created, {} replaced, {} left as they were",
            outcome.created, outcome.replaced, outcome.ignored
        );
        Ok::<_, ApiError>(StatusCode::NO_CONTENT.into_response())
    };
    let response = result.await.unwrap_or_else(IntoResponse::into_response);
    with_note(response, note)
}

async fn delete_user(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, pool_id, user_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = shared.tenant(&tenant_id)?;
        shared
            .authority
            .check(&headers, &tenant_id, &[SCOPE_IDENTITY])?;
        let deleted = write(&tenant.state).delete_user(&pool_id, &user_id);
        if !deleted {
            return Err(
                ApiError::not_found(format!("no user `{user_id}` in pool `{pool_id}`"))
                    .detail("user_id", user_id.as_str())
                    .detail("pool_id", pool_id.as_str()),
            );
        }
        shared.state_changed.notify_one();
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// The password check (`super::password`): the token and the body here, the rest there.
async fn verify_password(
    State(shared): State<Arc<Shared>>,
    Path((tenant_id, pool_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let tenant = Arc::clone(shared.tenant(&tenant_id)?);
        shared
            .authority
            .check(&headers, &tenant_id, &[SCOPE_IDENTITY])?;
        let body = read_body(&shared, &headers, body).await?;
        let lookup = Box::new(move |user_id: Option<&str>, identifier: Option<&str>| {
            read(&tenant.state).password_of(&pool_id, user_id, identifier)
        });
        shared.passwords.answer(&tenant_id, &body, lookup).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_is_read_from_every_path_style() {
        assert_eq!(tenant_of_path("/acme/system/oauth2/token"), Some("acme"));
        assert_eq!(
            tenant_of_path("/api/identity/system/acme/configuration"),
            Some("acme")
        );
        assert_eq!(
            tenant_of_path("/api/identity/acme/configuration"),
            Some("acme")
        );
        assert_eq!(
            tenant_of_path("/api/identity/acme/system/pools/p/users/u"),
            Some("acme")
        );
        assert_eq!(tenant_of_path("/elsewhere"), None);
    }
}
