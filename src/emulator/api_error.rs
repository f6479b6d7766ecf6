//! The error answers the emulator serves: the System API's body
//! `{"error", "status_code", "error_code", "details"}` and the token endpoint's
//! `{"error", "error_code", "error_hint"}`. Messages name the record and field, never a secret.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An error answer of the System API.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub error_code: &'static str,
    pub message: String,
    pub details: Map<String, Value>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        error_code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            error_code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Adds one `details` entry.
    pub(super) fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(super) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(super) fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// A rule broken by one record of an import body: `record` is like `users[2]`.
    pub(super) fn record(
        status: StatusCode,
        error_code: &'static str,
        record: &str,
        id: Option<&str>,
        field: &str,
        problem: impl std::fmt::Display,
    ) -> Self {
        let mut error = Self::new(status, error_code, format!("`{record}.{field}`: {problem}"))
            .detail("record", record)
            .detail("field", field);
        if let Some(id) = id {
            error = error.detail("id", id);
        }
        error
    }

    pub(super) fn body(&self) -> Value {
        json!({
            "error": self.message,
            "status_code": self.status.as_u16(),
            "error_code": self.error_code,
            "details": self.details,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"poolsync-emulator\""),
            );
        }
        response
    }
}

/// An error answer of the token endpoint, shaped as the OAuth2 spec's `genericError`.
#[derive(Debug, Clone)]
pub(crate) struct TokenError {
    pub status: StatusCode,
    /// The OAuth2 error name (`invalid_client`, `invalid_scope`...).
    pub error: &'static str,
    pub hint: String,
    /// Whether the client authenticated with HTTP Basic (RFC 6749 then wants a challenge).
    pub basic_challenge: bool,
}

impl TokenError {
    pub(super) fn new(status: StatusCode, error: &'static str, hint: impl Into<String>) -> Self {
        TokenError {
            status,
            error,
            hint: hint.into(),
            basic_challenge: false,
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.error,
            "error_code": self.status.as_u16(),
            "error_hint": self.hint,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"poolsync-emulator\""),
            );
        }
        response
    }
}
