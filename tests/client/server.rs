//! A scripted HTTP/1.1 server for client tests.
//!
//! It speaks just enough HTTP by hand (request line, headers, `Content-Length` bodies,
//! keep-alive) to answer exactly what a test scripts, including what a framework would not do:
//! closing the connection without an answer, or never answering. Each route holds a queue of
//! replies; the last one repeats. Every request is logged, and the most requests seen in flight
//! at once is recorded.

use poolsync::client::{ApiClient, ConnectionSettings, RetryPolicy};
use poolsync::secret::Secret;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The tenant every test talks to.
pub(crate) const TENANT: &str = "t1";
/// The client secret every test uses; no output may ever contain it.
pub(crate) const CLIENT_SECRET: &str = "s3cret-Value-never-shown";
/// The token path for [`TENANT`].
pub(crate) const TOKEN_PATH: &str = "/t1/system/oauth2/token";
/// The configuration path of the vendor page.
pub(crate) const LEGACY_PATH: &str = "/api/identity/system/t1/configuration";
/// The configuration path of the current spec.
pub(crate) const CURRENT_PATH: &str = "/api/identity/t1/configuration";

/// Retries without backoff delays; `Retry-After` is still honoured.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        ..RetryPolicy::default()
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// An HTTP answer, sent after `delay`. With `claimed_length` above the body's length, the
    /// connection closes after the body: a body cut off mid-way.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
        claimed_length: Option<usize>,
    },
    /// Close the connection without answering.
    Drop,
    /// Never answer (the client's read timeout must fire).
    Hang,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            claimed_length: None,
        }
    }

    pub(crate) fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    pub(crate) fn token(token: &str) -> Reply {
        Reply::json(
            200,
            serde_json::json!({"access_token": token, "token_type": "bearer", "expires_in": 3600}),
        )
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub(crate) fn body(mut self, text: impl Into<Vec<u8>>) -> Reply {
        if let Reply::Respond { body, .. } = &mut self {
            *body = text.into();
        }
        self
    }

    /// Announces `length` bytes but sends only the body, then closes the connection.
    pub(crate) fn cut_off(mut self, length: usize) -> Reply {
        if let Reply::Respond { claimed_length, .. } = &mut self {
            *claimed_length = Some(length);
        }
        self
    }

    pub(crate) fn delayed(mut self, by: Duration) -> Reply {
        if let Reply::Respond { delay, .. } = &mut self {
            *delay = by;
        }
        self
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub(crate) fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct State {
    routes: HashMap<(String, String), Vec<Reply>>,
    log: Vec<Request>,
    in_flight: usize,
    max_in_flight: usize,
}

/// The running server; it stops when dropped.
pub(crate) struct StubServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StubServer {
    /// Starts a server whose token endpoint hands out `token-1`.
    pub(crate) async fn start() -> StubServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(stream, shared.clone()));
            }
        });
        let server = StubServer { addr, state, task };
        server.on("POST", TOKEN_PATH, [Reply::token("token-1")]);
        server
    }

    /// Scripts the replies of `method path`, replacing earlier ones; the last one repeats.
    pub(crate) fn on(&self, method: &str, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let replies: Vec<Reply> = replies.into_iter().collect();
        assert!(!replies.is_empty());
        self.state
            .lock()
            .unwrap()
            .routes
            .insert((method.to_string(), path.to_string()), replies);
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Settings pointing at this server, with short timeouts.
    pub(crate) fn settings(&self) -> ConnectionSettings {
        ConnectionSettings {
            url: self.url().parse().unwrap(),
            tenant: TENANT.to_string(),
            client_id: "poolsync-test".to_string(),
            client_secret: Secret::new(CLIENT_SECRET),
            api_path: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            profile: None,
        }
    }

    /// A client for this server that retries without backoff delays.
    pub(crate) fn client(&self) -> ApiClient {
        ApiClient::with_retry_policy(self.settings(), fast_retry()).unwrap()
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    /// Requests to `path`, in order.
    pub(crate) fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }

    /// The `Authorization` headers of the requests to `path`, in order.
    pub(crate) fn authorizations(&self, path: &str) -> Vec<String> {
        self.requests_to(path)
            .iter()
            .map(|request| request.header("authorization").unwrap_or("").to_string())
            .collect()
    }

    pub(crate) fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader).await else {
            return;
        };
        let reply = {
            let mut state = state.lock().unwrap();
            state.in_flight += 1;
            state.max_in_flight = state.max_in_flight.max(state.in_flight);
            state.log.push(request.clone());
            let key = (request.method.clone(), request.path.clone());
            match state.routes.get_mut(&key) {
                Some(queue) if queue.len() > 1 => queue.remove(0),
                Some(queue) => queue[0].clone(),
                None => Reply::json(404, serde_json::json!({"error": "no such route"})),
            }
        };
        let finished = || state.lock().unwrap().in_flight -= 1;
        match reply {
            Reply::Drop => {
                finished();
                return;
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                finished();
                return;
            }
            Reply::Respond {
                status,
                headers,
                body,
                delay,
                claimed_length,
            } => {
                tokio::time::sleep(delay).await;
                let reason = reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|status| status.canonical_reason())
                    .unwrap_or("Whatever");
                let mut head = format!(
                    "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\n",
                    claimed_length.unwrap_or(body.len())
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                finished();
                let stream = reader.get_mut();
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(&body).await.is_err()
                    || claimed_length.is_some()
                {
                    return;
                }
            }
        }
    }
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (target, String::new()),
    };
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await.ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}
