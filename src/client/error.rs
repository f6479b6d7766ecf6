//! Errors of the network client, and what the server said when it refused.
//!
//! Every [`ApiError`] names the operation and the endpoint, and carries the server's answer as a
//! short [`ServerMessage`]: the JSON error fields when there are any, else the first line (or
//! the HTML title) of whatever came back, truncated, so a proxy's error page never fills the
//! screen. No variant ever holds the client secret or a token. [`ApiError::delivery`] tells the
//! executor whether a failed write may have been applied.

use crate::client::token::Scope;
use std::fmt;
use std::time::Duration;

/// Longest excerpt of a server's text kept in an error.
const EXCERPT_LIMIT: usize = 200;

/// The request an error comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `POST …/system/oauth2/token`.
    Token,
    /// `GET …/configuration`.
    Export,
    /// `PUT …/configuration`.
    Import,
    /// `DELETE …/system/pools/{pool}/users/{user}`.
    Delete,
    /// `POST …/system/pools/{pool}/user/password/v2/verify`.
    VerifyPassword,
}

impl Operation {
    /// The scope the request needs.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Operation::Token => None,
            Operation::Export | Operation::Import => Some(Scope::ManageConfiguration),
            Operation::Delete | Operation::VerifyPassword => Some(Scope::Identity),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Operation::Token => "token request",
            Operation::Export => "export",
            Operation::Import => "import",
            Operation::Delete => "delete",
            Operation::VerifyPassword => "password check",
        })
    }
}

/// What a failure means for a write that was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// The request never reached the service, or the service refused it without processing
    /// (rate limit, missing token): nothing was applied.
    NotSent,
    /// The service answered with a final refusal (4xx). An import is not atomic, so users before
    /// the failing one may still have been applied.
    Rejected,
    /// No final answer (5xx, timeout, dropped connection): the change may or may not have been
    /// applied; only a fresh export tells.
    Unknown,
}

/// Why a request failed without an HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be opened (refused, DNS, TLS): nothing was sent.
    Connect,
    /// The service went silent for longer than the read timeout.
    Timeout,
    /// The connection closed or reset before the answer was complete.
    Dropped,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            TransportKind::Connect => "cannot connect",
            TransportKind::Timeout => "timed out",
            TransportKind::Dropped => "connection dropped",
        })
    }
}

/// What the server said in an error answer, as far as it could be read; every part is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerMessage {
    /// The `error` field.
    pub error: Option<String>,
    /// The `error_code` field (a string from the API, a number from the token endpoint).
    pub error_code: Option<String>,
    /// The token endpoint's `error_hint` or `error_description`.
    pub error_hint: Option<String>,
    /// The API's `details` as sent (for example the user that conflicted); error bodies are
    /// read up to 16 KiB, so it stays small. Shown as compact JSON, truncated.
    pub details: Option<serde_json::Value>,
    /// For an answer that is not a JSON object: its HTML title or first line, truncated.
    pub excerpt: Option<String>,
    /// The answer's content type, when it was not JSON.
    pub content_type: Option<String>,
    /// Whether the body was empty.
    pub empty: bool,
}

impl ServerMessage {
    /// Reads an error body. `content_type` is the answer's header, if any.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> ServerMessage {
        if body.iter().all(u8::is_ascii_whitespace) {
            return ServerMessage {
                empty: true,
                ..ServerMessage::default()
            };
        }
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(body) {
            let text = |name: &str| {
                fields.get(name).and_then(|value| match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(text) if text.is_empty() => None,
                    serde_json::Value::String(text) => Some(clean(text)),
                    other => Some(clean(&other.to_string())),
                })
            };
            let message = ServerMessage {
                error: text("error").or_else(|| text("message")),
                error_code: text("error_code"),
                error_hint: text("error_hint").or_else(|| text("error_description")),
                details: fields.get("details").cloned().filter(|details| {
                    !details.is_null()
                        && details.as_object().is_none_or(|object| !object.is_empty())
                }),
                ..ServerMessage::default()
            };
            if message != ServerMessage::default() {
                return message;
            }
        }
        ServerMessage {
            excerpt: Some(excerpt(body)),
            content_type: content_type.map(clean),
            ..ServerMessage::default()
        }
    }
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.empty {
            return formatter.write_str("empty answer");
        }
        if let Some(excerpt) = &self.excerpt {
            return match &self.content_type {
                Some(content_type) => write!(formatter, "`{content_type}` answer: {excerpt}"),
                None => write!(formatter, "answer: {excerpt}"),
            };
        }
        let mut parts = Vec::new();
        if let Some(error) = &self.error {
            // A message that quotes values itself reads better without another pair around it.
            if error.contains('`') {
                parts.push(error.clone());
            } else {
                parts.push(format!("`{error}`"));
            }
        }
        if let Some(code) = &self.error_code {
            parts.push(format!("(error code `{code}`)"));
        }
        if let Some(hint) = &self.error_hint {
            parts.push(format!("- {hint}"));
        }
        if let Some(details) = &self.details {
            parts.push(format!("details: {}", clean(&details.to_string())));
        }
        formatter.write_str(&parts.join(" "))
    }
}

/// Makes server text safe for one line on a terminal: no control characters (a hostile server
/// could otherwise send escape sequences), at most [`EXCERPT_LIMIT`] characters.
fn clean(text: &str) -> String {
    let mut cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if cleaned.chars().count() > EXCERPT_LIMIT {
        // The size is that of the whole text, as `shorten` gives it for any value.
        let head: String = cleaned.chars().take(EXCERPT_LIMIT).collect();
        cleaned = format!("{head}… ({} bytes)", crate::index::thousands(text.len()));
    }
    cleaned
}

/// Summarizes a body that is not a JSON object: an HTML page by its title, anything else by its
/// first non-blank line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let lower = text.to_ascii_lowercase();
    if let Some(start) = lower.find("<title>") {
        let start = start + "<title>".len();
        let end = lower[start..]
            .find("</title>")
            .map_or(lower.len(), |end| start + end);
        // The lower-cased copy has the same byte offsets for ASCII tags; guard non-ASCII titles.
        if let Some(title) = text.get(start..end) {
            let title = clean(title);
            if !title.is_empty() {
                return format!("`{title}` (HTML page)");
            }
        }
    }
    let first_line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    format!("`{}`", clean(first_line))
}

/// A request to the service failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client: {message}")]
    Setup {
        /// Why.
        message: String,
    },
    /// The service answered with an error status.
    #[error("{operation} at `{endpoint}` failed with status {status}: {server}")]
    Status {
        /// Which request.
        operation: Operation,
        /// The URL (it holds the tenant, never a secret).
        endpoint: String,
        /// The tenant.
        tenant: String,
        /// The HTTP status code.
        status: u16,
        /// What the server said.
        server: Box<ServerMessage>,
        /// The `Retry-After` delay, when the answer had one.
        retry_after: Option<Duration>,
        /// The OAuth2 client id (for hints on 401/403).
        client_id: String,
    },
    /// No HTTP answer: connect failure, timeout or dropped connection.
    #[error("{operation} at `{endpoint}` failed: {kind}: {message}")]
    Transport {
        /// Which request.
        operation: Operation,
        /// The URL.
        endpoint: String,
        /// What happened.
        kind: TransportKind,
        /// The underlying error chain.
        message: String,
    },
    /// Both configuration paths answered 404.
    #[error("{operation} failed: both `{first}` and `{second}` answered 404: {server}")]
    NotFound {
        /// Which request.
        operation: Operation,
        /// The path tried first.
        first: String,
        /// The path tried second.
        second: String,
        /// What the second one said.
        server: Box<ServerMessage>,
    },
    /// A success answer that cannot be used: an export that is not a tenant document, a token
    /// answer without a token, a redirect.
    #[error("{operation} at `{endpoint}` gave an unusable answer: {reason}")]
    InvalidResponse {
        /// Which request.
        operation: Operation,
        /// The URL.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request could not be built from the caller's input.
    #[error("{operation} not sent: {reason}")]
    InvalidRequest {
        /// Which request.
        operation: Operation,
        /// Why.
        reason: String,
    },
    /// The run was cancelled before this request was sent (or while it was in flight).
    #[error("{operation} cancelled")]
    Cancelled {
        /// Which request.
        operation: Operation,
        /// Whether a request was in flight when it was abandoned.
        in_flight: bool,
    },
}

impl ApiError {
    /// The HTTP status, if the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// Whether the same request may succeed if sent again: rate limits, 5xx, 408, timeouts and
    /// dropped or refused connections. A 4xx is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            ApiError::Transport { .. } => true,
            _ => false,
        }
    }

    /// How the request failed without an answer, if it did.
    pub fn transport_kind(&self) -> Option<TransportKind> {
        match self {
            ApiError::Transport { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether this is a rate-limit answer (429).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429)
    }

    /// Whether the failure concerns credentials or permissions (token refused, 401, 403): every
    /// other request of the run would fail the same way.
    pub fn is_auth_failure(&self) -> bool {
        match self {
            ApiError::Status {
                operation: Operation::Token,
                status,
                ..
            } => (400..500).contains(status) && *status != 429 && *status != 408,
            ApiError::Status { status, .. } => *status == 401 || *status == 403,
            ApiError::InvalidResponse {
                operation: Operation::Token,
                ..
            } => true,
            _ => false,
        }
    }

    /// What the server said, when it answered with an error status.
    pub fn server(&self) -> Option<&ServerMessage> {
        match self {
            ApiError::Status { server, .. } | ApiError::NotFound { server, .. } => Some(server),
            _ => None,
        }
    }

    /// The `Retry-After` delay the server asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether a write that failed this way may have been applied.
    pub fn delivery(&self) -> Delivery {
        match self {
            ApiError::Status {
                operation: Operation::Token,
                ..
            } => Delivery::NotSent,
            ApiError::Status { status, .. } => match status {
                401 | 403 | 429 => Delivery::NotSent,
                400..=499 if *status != 408 => Delivery::Rejected,
                _ => Delivery::Unknown,
            },
            ApiError::Transport {
                kind: TransportKind::Connect,
                ..
            }
            | ApiError::Transport {
                operation: Operation::Token,
                ..
            } => Delivery::NotSent,
            ApiError::Transport { .. } => Delivery::Unknown,
            ApiError::Cancelled { in_flight, .. } if *in_flight => Delivery::Unknown,
            _ => Delivery::NotSent,
        }
    }

    /// A hint on what to do, shown after the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApiError::Status {
                operation: Operation::Token,
                status,
                server,
                tenant,
                client_id,
                ..
            } => Some(token_hint(*status, server, tenant, client_id)),
            ApiError::Status {
                status: 401,
                tenant,
                client_id,
                ..
            } => Some(format!(
                "the service refused the token even after a fresh one was fetched: check that \
                 client `{client_id}` belongs to the System workspace of tenant `{tenant}`"
            )),
            ApiError::Status {
                status: 403,
                operation,
                client_id,
                ..
            } => {
                let scope = match operation {
                    Operation::Export => "`manage_configuration` or `read_configuration`",
                    Operation::Delete | Operation::VerifyPassword => "`identity`",
                    _ => "`manage_configuration`",
                };
                Some(format!(
                    "the token lacks the permission for this {operation}: check that client \
                     `{client_id}` is in the System workspace and has the {scope} scope"
                ))
            }
            ApiError::Status { status: 404, .. } | ApiError::NotFound { .. } => Some(
                "check `--url` and `--tenant`; `--api-path legacy|current` pins the path style"
                    .to_string(),
            ),
            ApiError::Status {
                status: 409,
                operation: Operation::Import,
                ..
            } => Some(
                "a user, pool or identifier already exists in the tenant; an import is not \
                 atomic, so users before the conflicting one may have been imported"
                    .to_string(),
            ),
            ApiError::Status { status: 413, .. } => Some(
                "the service refused the request size; batches hold at most 100 users".to_string(),
            ),
            ApiError::Status { status: 429, .. } => {
                Some("the service is rate limiting requests; try again later".to_string())
            }
            ApiError::Status {
                status: 500..,
                operation: Operation::Import | Operation::Delete,
                ..
            }
            | ApiError::Transport {
                kind: TransportKind::Timeout | TransportKind::Dropped,
                operation: Operation::Import | Operation::Delete,
                ..
            } => Some(
                "the change may or may not have been applied; a fresh export shows which"
                    .to_string(),
            ),
            ApiError::Transport {
                kind: TransportKind::Connect,
                ..
            } => Some("check `--url` and that the service is reachable from here".to_string()),
            ApiError::Transport {
                kind: TransportKind::Timeout,
                ..
            } => Some("a slow service may need a longer `--timeout`".to_string()),
            _ => None,
        }
    }
}

fn token_hint(status: u16, server: &ServerMessage, tenant: &str, client_id: &str) -> String {
    let error = server.error.as_deref().unwrap_or("");
    if error == "invalid_scope" || error == "unauthorized_client" {
        return format!(
            "give client `{client_id}` the scope it needs in the System workspace of tenant \
             `{tenant}`: `manage_configuration` to import, `manage_configuration` or \
             `read_configuration` to export, `identity` to delete users and check passwords"
        );
    }
    match status {
        404 => format!("no token endpoint there: check `--url` and that tenant `{tenant}` exists"),
        400 | 401 | 403 => format!(
            "check the client id `{client_id}` and its secret (`POOLSYNC_CLIENT_SECRET` or \
             `--client-secret-file`), and that the client belongs to the System workspace of \
             tenant `{tenant}`"
        ),
        429 => "the service is rate limiting token requests; try again later".to_string(),
        _ => "the token endpoint failed; try again later".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_bodies_keep_their_fields_whatever_their_types() {
        let message = ServerMessage::parse(
            Some("application/json"),
            br#"{"error":"invalid_client","error_code":401,"error_hint":"bad secret"}"#,
        );
        let quoting = ServerMessage::parse(None, br#"{"error":"user `u1` already exists"}"#);
        assert_eq!(quoting.to_string(), "user `u1` already exists");
        assert_eq!(message.error.as_deref(), Some("invalid_client"));
        assert_eq!(message.error_code.as_deref(), Some("401"));
        assert_eq!(
            message.to_string(),
            "`invalid_client` (error code `401`) - bad secret"
        );
        let details = ServerMessage::parse(
            None,
            br#"{"error":"conflict","status_code":409,"details":{"user_id":"u1"}}"#,
        );
        assert_eq!(
            details.to_string(),
            r#"`conflict` details: {"user_id":"u1"}"#
        );
    }

    #[test]
    fn html_pages_are_summarized_by_their_title() {
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>{}</body></html>",
            "x".repeat(100_000)
        );
        let message = ServerMessage::parse(Some("text/html"), page.as_bytes());
        assert_eq!(
            message.to_string(),
            "`text/html` answer: `502 Bad Gateway` (HTML page)"
        );
    }

    #[test]
    fn plain_text_is_cut_to_its_first_line_without_control_characters() {
        let body = format!("\n  upstream \x1b[31mfailed\n{}", "second line");
        let message = ServerMessage::parse(None, body.as_bytes());
        assert_eq!(message.to_string(), "answer: `upstream [31mfailed`");
        let long = "y".repeat(1000);
        let shown = ServerMessage::parse(None, long.as_bytes()).to_string();
        assert!(shown.len() < 300, "{shown}");
        assert!(ServerMessage::parse(None, b"  ").empty);
    }

    #[test]
    fn delivery_separates_final_refusals_from_unknown_outcomes() {
        let status = |status: u16| ApiError::Status {
            operation: Operation::Import,
            endpoint: "e".into(),
            tenant: "t".into(),
            status,
            server: Box::default(),
            retry_after: None,
            client_id: "c".into(),
        };
        assert_eq!(status(409).delivery(), Delivery::Rejected);
        assert_eq!(status(429).delivery(), Delivery::NotSent);
        assert_eq!(status(502).delivery(), Delivery::Unknown);
        assert!(status(502).is_retryable());
        assert!(!status(409).is_retryable());
        assert!(status(403).is_auth_failure());
    }
}
