//! The HTTP client for the System API: export, import and single-user delete.
//!
//! [`ApiClient`] sends one request per call, with a bearer token from the token cache (one
//! refresh and one retry on a 401), on the configuration path that works for this tenant (the
//! vendor page's path first, the spec's on 404, then remembered for the client's lifetime). It
//! classifies failures into [`ApiError`]s. Exports retry by the client's [`RetryPolicy`]; a single
//! import or delete does not retry itself: that is the batch executor's job
//! ([`crate::client::batch`]), which sees the whole run and paces it.
//!
//! Export bodies are read chunk by chunk into one buffer, pre-sized from `Content-Length`, and
//! parsed by [`crate::load::parse_dump`], the same parser as desired files: there is never a
//! second copy of the body, and the document gets the same located errors. A streaming parse
//! (`serde_json::from_reader` fed as chunks arrive) would save the buffer, but measured slower:
//! on a 55 MB export of 50,000 users (`measure_export` in `tests/client/export.rs`, debug build,
//! loopback), receiving alone ran at 828 MB/s, receiving plus `parse_dump` at 24 MB/s, and a
//! `from_reader` parse alone at 14 MB/s. Parsing, not the network, is the cost, and a slice is
//! also what the faster parsers of issue 7 (`sonic-rs`, `simd-json`) need; callers with their own
//! parser use [`ApiClient::export_bytes`] or [`ApiClient::export_response`] (`poolsync export`
//! writes its canonical form straight from the body, [`crate::export::CanonicalExport`]). Error bodies are read only up to a small limit, so a
//! hostile answer cannot exhaust memory through an error page.

use crate::client::error::{ApiError, Operation, ServerMessage, TransportKind};
use crate::client::retry::{RetryPolicy, RetryTally};
use crate::client::settings::{ApiPath, ConnectionSettings, is_loopback};
use crate::client::token::TokenCache;
use crate::model::{ImportMode, TenantDump};
use bytes::Bytes;
use reqwest::{Method, Response, StatusCode, Url, header};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("poolsync/", env!("CARGO_PKG_VERSION"));
/// How much of an error body is read.
const ERROR_BODY_LIMIT: usize = 16 * 1024;
/// The largest `Content-Length` trusted for pre-sizing the export buffer; beyond it the buffer
/// grows as bytes actually arrive, so a lying header cannot reserve absurd memory.
const PRESIZE_LIMIT: u64 = 16 * 1024 * 1024 * 1024;

/// What a delete found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOutcome {
    /// The user was deleted (204).
    Deleted,
    /// The user was already gone (404).
    AlreadyAbsent,
}

/// Receives export progress, for a progress bar.
pub trait ExportProgress: Sync {
    /// The answer arrived; `total_bytes` is its `Content-Length`, when it has one.
    fn started(&self, total_bytes: Option<u64>) {
        let _ = total_bytes;
    }
    /// `bytes_so_far` bytes of the body have arrived.
    fn received(&self, bytes_so_far: u64) {
        let _ = bytes_so_far;
    }
}

/// An export's body, as received, and the URL that answered.
#[derive(Debug)]
pub struct ExportBody {
    /// The JSON text.
    pub bytes: Vec<u8>,
    /// The configuration endpoint that answered.
    pub endpoint: Url,
}

impl ExportBody {
    /// What parse errors call the body.
    pub const SOURCE_NAME: &str = "response body";

    /// The error for a body that does not parse as a tenant document (parsed with
    /// [`ExportBody::SOURCE_NAME`] as its name), worded as [`ApiClient::export`] words it.
    pub fn not_a_tenant_document(&self, error: &crate::error::LoadError) -> ApiError {
        not_a_tenant_document(&self.endpoint, error)
    }
}

fn not_a_tenant_document(endpoint: &Url, error: &crate::error::LoadError) -> ApiError {
    ApiError::InvalidResponse {
        operation: Operation::Export,
        endpoint: endpoint.to_string(),
        reason: format!("not a tenant document: {error}"),
    }
}

/// Where an export's body is kept.
#[derive(Debug)]
pub enum SpooledBody {
    /// In memory.
    Memory(Vec<u8>),
    /// In an unnamed temporary file, positioned anywhere (read it by offset, or seek first).
    File(std::fs::File),
}

/// An export's body, in memory or in a temporary file, and the URL that answered.
#[derive(Debug)]
pub struct SpooledExport {
    /// The JSON text.
    pub body: SpooledBody,
    /// The configuration endpoint that answered.
    pub endpoint: Url,
}

impl SpooledExport {
    /// The error for a body that does not parse as a tenant document, as
    /// [`ExportBody::not_a_tenant_document`] words it.
    pub fn not_a_tenant_document(&self, error: &crate::error::LoadError) -> ApiError {
        not_a_tenant_document(&self.endpoint, error)
    }
}

/// A body being received: in memory up to a limit, then in an unnamed temporary file. The
/// first bytes are kept aside either way, to check what the body is.
struct Spool {
    body: SpooledBody,
    writer: Option<std::io::BufWriter<std::fs::File>>,
    head: Vec<u8>,
    len: u64,
    limit: u64,
}

/// How many of a body's first bytes are kept to tell what it is.
const HEAD: usize = 4096;

impl Spool {
    fn new(limit: u64) -> Spool {
        Spool {
            body: SpooledBody::Memory(Vec::new()),
            writer: None,
            head: Vec::new(),
            len: 0,
            limit,
        }
    }

    fn reserve(&mut self, total: u64) {
        if let SpooledBody::Memory(bytes) = &mut self.body {
            // Reserving can fail on a small machine; the buffer then simply grows.
            let _ = bytes.try_reserve_exact(usize::try_from(total).unwrap_or(0));
        }
    }

    /// Moves what was received so far to a temporary file, and what follows too.
    fn spill(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        if self.writer.is_some() {
            return Ok(());
        }
        let file = tempfile::tempfile()?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file.try_clone()?);
        if let SpooledBody::Memory(bytes) = &self.body {
            writer.write_all(bytes)?;
        }
        self.body = SpooledBody::File(file);
        self.writer = Some(writer);
        Ok(())
    }

    fn push(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        if self.head.len() < HEAD {
            let room = HEAD - self.head.len();
            self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        }
        self.len += chunk.len() as u64;
        if self.writer.is_none() && self.len > self.limit {
            self.spill()?;
            // `spill` wrote what was in memory; this chunk is not there yet.
        }
        match (&mut self.writer, &mut self.body) {
            (Some(writer), _) => writer.write_all(chunk),
            (None, SpooledBody::Memory(bytes)) => {
                bytes.extend_from_slice(chunk);
                Ok(())
            }
            (None, SpooledBody::File(_)) => Ok(()),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(mut writer) = self.writer.take() {
            writer.flush()?;
        }
        Ok(())
    }

    /// The body's first bytes.
    fn head(&self) -> &[u8] {
        match &self.body {
            SpooledBody::Memory(bytes) => bytes,
            SpooledBody::File(_) => &self.head,
        }
    }
}

/// An [`ExportProgress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl ExportProgress for NoProgress {}

/// A client for one tenant. Cloning is cheap and clones share the token cache, the connection
/// pool and the remembered path.
#[derive(Clone, Debug)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    settings: ConnectionSettings,
    retry: RetryPolicy,
    tokens: TokenCache,
    /// The path that answered: 0 not known yet, 1 legacy, 2 current.
    resolved_path: AtomicU8,
}

impl ApiClient {
    /// Builds a client with the default [`RetryPolicy`]; sends nothing yet.
    pub fn new(settings: ConnectionSettings) -> Result<ApiClient, ApiError> {
        ApiClient::with_retry_policy(settings, RetryPolicy::default())
    }

    /// Builds a client whose exports retry by `retry`; sends nothing yet.
    pub fn with_retry_policy(
        settings: ConnectionSettings,
        retry: RetryPolicy,
    ) -> Result<ApiClient, ApiError> {
        let mut builder = reqwest::Client::builder();
        if is_loopback(&settings.url) {
            // A proxy from the environment cannot reach this machine's loopback address.
            builder = builder.no_proxy();
        }
        let http = builder
            .user_agent(USER_AGENT)
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            // A redirect is not part of this API; following one could carry the token or the
            // users' data somewhere unexpected, so it is reported instead.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|error| ApiError::Setup {
                message: error_chain(&error),
            })?;
        Ok(ApiClient {
            inner: Arc::new(Inner {
                http,
                settings,
                retry,
                tokens: TokenCache::default(),
                resolved_path: AtomicU8::new(0),
            }),
        })
    }

    /// The settings the client was built from.
    pub fn settings(&self) -> &ConnectionSettings {
        &self.inner.settings
    }

    /// The configuration path in use: the pinned one, or the one that answered, once known.
    pub fn api_path(&self) -> Option<ApiPath> {
        self.inner.settings.api_path.or(self.resolved_path())
    }

    /// How many tokens the client fetched so far (for tests and diagnostics).
    pub fn tokens_fetched(&self) -> u64 {
        self.inner.tokens.fetched()
    }

    /// The URL of the configuration endpoint in `style`.
    pub fn configuration_url(&self, style: ApiPath) -> Url {
        self.endpoint(&style.configuration_segments(&self.inner.settings.tenant))
    }

    /// Exports the tenant and parses it. A rate limit, a 5xx, a timeout or a dropped connection
    /// is retried by the client's [`RetryPolicy`] (a GET changes nothing, so it is always safe).
    pub async fn export(&self, progress: &dyn ExportProgress) -> Result<TenantDump, ApiError> {
        let body = self.export_response(progress).await?;
        let endpoint = body.endpoint.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            crate::load::parse_dump(&body.bytes, ExportBody::SOURCE_NAME)
        })
        .await;
        match parsed {
            Ok(Ok(dump)) => Ok(dump),
            Ok(Err(error)) => Err(not_a_tenant_document(&endpoint, &error)),
            Err(join_error) => Err(ApiError::InvalidResponse {
                operation: Operation::Export,
                endpoint: endpoint.to_string(),
                reason: format!("the parser failed: {join_error}"),
            }),
        }
    }

    /// Exports the tenant as raw bytes, checked to look like a JSON object but not parsed, for
    /// callers with their own parser.
    pub async fn export_bytes(&self, progress: &dyn ExportProgress) -> Result<Vec<u8>, ApiError> {
        Ok(self.export_response(progress).await?.bytes)
    }

    /// Exports the tenant as raw bytes (checked to look like a JSON object but not parsed) with
    /// the URL that answered, so that the caller's parser can report errors as
    /// [`ApiClient::export`] does ([`ExportBody::not_a_tenant_document`]).
    pub async fn export_response(
        &self,
        progress: &dyn ExportProgress,
    ) -> Result<ExportBody, ApiError> {
        let (bytes, endpoint) = self.retrying(|| self.export_body(progress)).await?;
        Ok(ExportBody { bytes, endpoint })
    }

    /// Runs `call` until it succeeds or the retry policy gives up.
    pub(super) async fn retrying<T, Call, Answer>(&self, mut call: Call) -> Result<T, ApiError>
    where
        Call: FnMut() -> Answer,
        Answer: std::future::Future<Output = Result<T, ApiError>>,
    {
        let mut tally = RetryTally::default();
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Some(retry) = self.inner.retry.next(&error, &mut tally) else {
                return Err(error);
            };
            tracing::debug!(delay = ?retry.delay, %error, "retrying");
            tokio::time::sleep(retry.delay).await;
        }
    }

    async fn export_body(&self, progress: &dyn ExportProgress) -> Result<(Vec<u8>, Url), ApiError> {
        let (spool, endpoint) = self.export_spool(progress, u64::MAX).await?;
        match spool.body {
            SpooledBody::Memory(bytes) => Ok((bytes, endpoint)),
            // A limit of `u64::MAX` never spills.
            SpooledBody::File(_) => Err(ApiError::InvalidResponse {
                operation: Operation::Export,
                endpoint: endpoint.to_string(),
                reason: "the body did not fit in memory".into(),
            }),
        }
    }

    /// Exports the tenant, keeping a body of more than `spill_above` bytes in an unnamed
    /// temporary file (mode 0600, gone when closed, even after a crash) instead of memory: a
    /// million users are 1.5 GB that the planner reads a chunk at a time anyway. Retried like
    /// [`ApiClient::export`].
    pub async fn export_spooled(
        &self,
        progress: &dyn ExportProgress,
        spill_above: u64,
    ) -> Result<SpooledExport, ApiError> {
        let (spool, endpoint) = self
            .retrying(|| self.export_spool(progress, spill_above))
            .await?;
        Ok(SpooledExport {
            body: spool.body,
            endpoint,
        })
    }

    async fn export_spool(
        &self,
        progress: &dyn ExportProgress,
        spill_above: u64,
    ) -> Result<(Spool, Url), ApiError> {
        let (response, endpoint) = self
            .configuration_request(Operation::Export, Method::GET, None, None)
            .await?;
        let mut response = self.success(Operation::Export, &endpoint, response).await?;
        let content_type = content_type(&response);
        let total = response.content_length();
        progress.started(total);
        let spool_failed = |error: std::io::Error| ApiError::InvalidResponse {
            operation: Operation::Export,
            endpoint: endpoint.to_string(),
            reason: format!("could not keep the body in a temporary file: {error}"),
        };
        let mut spool = Spool::new(spill_above);
        if let Some(total) = total {
            if total > spill_above {
                spool.spill().map_err(spool_failed)?;
            } else if total <= PRESIZE_LIMIT {
                spool.reserve(total);
            }
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    spool.push(&chunk).map_err(spool_failed)?;
                    progress.received(spool.len);
                }
                Ok(None) => break,
                Err(error) => {
                    let mut failure = transport_error(Operation::Export, &endpoint, &error);
                    if let ApiError::Transport { message, .. } = &mut failure {
                        let expected = total
                            .map(|total| format!(" of {total}"))
                            .unwrap_or_default();
                        *message = format!("after {}{expected} bytes: {message}", spool.len);
                    }
                    return Err(failure);
                }
            }
        }
        spool.finish().map_err(spool_failed)?;
        tracing::debug!(bytes = spool.len, %endpoint, "export received");
        let head = spool.head();
        let first_byte = head
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(head)
            .iter()
            .find(|byte| !byte.is_ascii_whitespace());
        let reason = match first_byte {
            None if spool.len as usize <= head.len() => {
                Some("the body is empty; expected a JSON object (a `TenantDump`)".to_string())
            }
            None => Some("expected a JSON object (a `TenantDump`), got white space".to_string()),
            Some(b'{') => None,
            Some(_) => Some(format!(
                "expected a JSON object (a `TenantDump`), got {}",
                ServerMessage::parse(content_type.as_deref(), head)
            )),
        };
        match reason {
            Some(reason) => Err(ApiError::InvalidResponse {
                operation: Operation::Export,
                endpoint: endpoint.to_string(),
                reason,
            }),
            None => Ok((spool, endpoint)),
        }
    }

    /// Imports `dump` in one request (204 is success).
    pub async fn import(&self, dump: &TenantDump, mode: ImportMode) -> Result<(), ApiError> {
        let body = serde_json::to_vec(dump).map_err(|error| ApiError::InvalidRequest {
            operation: Operation::Import,
            reason: format!("cannot serialize the document: {error}"),
        })?;
        self.import_body(Bytes::from(body), mode).await
    }

    /// Imports an already serialized `TenantDump`; retries reuse the bytes without copying.
    pub async fn import_body(&self, body: Bytes, mode: ImportMode) -> Result<(), ApiError> {
        let (response, endpoint) = self
            .configuration_request(Operation::Import, Method::PUT, Some(mode), Some(body))
            .await?;
        self.success(Operation::Import, &endpoint, response).await?;
        Ok(())
    }

    /// Deletes one user; a user that is already gone (404) counts as done.
    pub async fn delete_user(&self, pool: &str, user: &str) -> Result<DeleteOutcome, ApiError> {
        if pool.is_empty() || user.is_empty() {
            // An empty segment would address another resource, whose 404 would look like success.
            return Err(ApiError::InvalidRequest {
                operation: Operation::Delete,
                reason: "a delete needs a pool id and a user id".to_string(),
            });
        }
        let tenant = self.inner.settings.tenant.as_str();
        let endpoint = self.endpoint(&[
            "api", "identity", tenant, "system", "pools", pool, "users", user,
        ]);
        let response = self
            .send_authorized(Operation::Delete, Method::DELETE, &endpoint, None)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(DeleteOutcome::AlreadyAbsent);
        }
        self.success(Operation::Delete, &endpoint, response).await?;
        Ok(DeleteOutcome::Deleted)
    }

    pub(super) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.settings.url.clone();
        url.path_segments_mut()
            .expect("validated base URLs have a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    fn resolved_path(&self) -> Option<ApiPath> {
        match self.inner.resolved_path.load(Ordering::Relaxed) {
            1 => Some(ApiPath::Legacy),
            2 => Some(ApiPath::Current),
            _ => None,
        }
    }

    fn remember_path(&self, style: ApiPath) {
        let value = match style {
            ApiPath::Legacy => 1,
            ApiPath::Current => 2,
        };
        if self.inner.resolved_path.swap(value, Ordering::Relaxed) != value {
            tracing::debug!(path = style.name(), "configuration path in use");
        }
    }

    /// Sends a configuration request on the path in use; while no path is known and none is
    /// pinned, a 404 on the first path is retried once on the other.
    async fn configuration_request(
        &self,
        operation: Operation,
        method: Method,
        mode: Option<ImportMode>,
        body: Option<Bytes>,
    ) -> Result<(Response, Url), ApiError> {
        let pinned = self.inner.settings.api_path;
        let known = pinned.or(self.resolved_path());
        let first = known.unwrap_or(ApiPath::Legacy);
        let url_for = |style: ApiPath| {
            let mut url = self.configuration_url(style);
            if let Some(mode) = mode {
                url.query_pairs_mut().append_pair("mode", mode.as_str());
            }
            url
        };
        let first_url = url_for(first);
        let response = self
            .send_authorized(operation, method.clone(), &first_url, body.clone())
            .await?;
        if response.status() != StatusCode::NOT_FOUND {
            if pinned.is_none() {
                self.remember_path(first);
            }
            return Ok((response, first_url));
        }
        if known.is_some() {
            return Ok((response, first_url));
        }
        tracing::debug!(
            path = first.name(),
            "configuration path answered 404, trying the other"
        );
        let second = first.other();
        let second_url = url_for(second);
        let response = self
            .send_authorized(operation, method, &second_url, body)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            let content_type = content_type(&response);
            let (text, _) = read_limited(response, ERROR_BODY_LIMIT).await;
            return Err(ApiError::NotFound {
                operation,
                first: first_url.to_string(),
                second: second_url.to_string(),
                server: Box::new(ServerMessage::parse(content_type.as_deref(), &text)),
            });
        }
        self.remember_path(second);
        Ok((response, second_url))
    }

    /// Sends a request with a bearer token; on a 401, fetches a fresh token and sends once more.
    pub(super) async fn send_authorized(
        &self,
        operation: Operation,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
    ) -> Result<Response, ApiError> {
        let inner = &self.inner;
        let mut refreshed = false;
        loop {
            let (token, scope) = inner
                .tokens
                .get_for(&inner.http, &inner.settings, operation)
                .await?;
            let mut request = inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.value.expose());
            if let Some(body) = &body {
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            tracing::trace!(%method, %url, "sending");
            let response = request
                .send()
                .await
                .map_err(|error| transport_error(operation, url, &error))?;
            if response.status() == StatusCode::UNAUTHORIZED && !refreshed {
                tracing::debug!(%url, "401: fetching a fresh token and retrying once");
                inner.tokens.invalidate(scope, &token).await;
                refreshed = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// Passes a 2xx answer through; turns anything else into an [`ApiError`].
    pub(super) async fn success(
        &self,
        operation: Operation,
        endpoint: &Url,
        response: Response,
    ) -> Result<Response, ApiError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("nowhere")
                .chars()
                .take(200)
                .collect::<String>();
            return Err(ApiError::InvalidResponse {
                operation,
                endpoint: endpoint.to_string(),
                reason: format!("unexpected redirect (status {status}) to `{location}`"),
            });
        }
        Err(error_from_response(operation, endpoint, &self.inner.settings, response).await)
    }
}

/// Turns an error answer into an [`ApiError::Status`], reading a bounded part of its body.
pub(crate) async fn error_from_response(
    operation: Operation,
    endpoint: &Url,
    settings: &ConnectionSettings,
    response: Response,
) -> ApiError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, crate::clock::now()));
    let content_type = content_type(&response);
    let (body, _) = read_limited(response, ERROR_BODY_LIMIT).await;
    ApiError::Status {
        operation,
        endpoint: endpoint.to_string(),
        tenant: settings.tenant.clone(),
        status: status.as_u16(),
        server: Box::new(ServerMessage::parse(content_type.as_deref(), &body)),
        retry_after,
        client_id: settings.client_id.clone(),
    }
}

pub(crate) fn content_type(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// Reads at most `limit` bytes of a body; the rest is dropped with the connection. A body that
/// breaks off is returned as far as it came: an error answer is informative even when cut.
pub(crate) async fn read_limited(mut response: Response, limit: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            return (body, true);
        }
        body.extend_from_slice(&chunk);
    }
    (body, false)
}

/// Classifies a reqwest failure. The message is the error's source chain: reqwest's own top
/// line repeats the URL, which the [`ApiError`] already names.
pub(crate) fn transport_error(operation: Operation, url: &Url, error: &reqwest::Error) -> ApiError {
    if error.is_builder() {
        // The request could not even be built (say, a header value it cannot carry): sending
        // it again would fail the same way. The chain names the problem, not the value.
        return ApiError::InvalidRequest {
            operation,
            reason: error_chain(error),
        };
    }
    let kind = if error.is_connect() {
        TransportKind::Connect
    } else if error.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Dropped
    };
    ApiError::Transport {
        operation,
        endpoint: url.to_string(),
        kind,
        message: error_chain(error),
    }
}

/// The causes of `error` joined with `: `, or the error itself when it has none.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let causes = crate::error::causes(error);
    if causes.is_empty() {
        error.to_string()
    } else {
        causes.join(": ")
    }
}

/// Reads `Retry-After`: delay-seconds, or an HTTP-date (a date in the past means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(1e9)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
