//! The password check: `POST /api/identity/{tid}/system/pools/{pool}/user/password/v2/verify`
//! (`system-api.md`, "Checking a password"; the spec's `verifyPasswordV2`).
//!
//! The body names the user by `identifier` (any of its identifiers, letter case ignored) or by
//! `userID` (the spec's older `id` overrides it when not empty) and gives the `password`. The
//! answer is 200 `{"id", "result", "state"}`: `password_correct`, `password_incorrect`,
//! `password_expired` (a correct password whose `expires_at` has passed; `1900-01-01T00:00:00Z`
//! means never), `no_password` or `user_not_found` (with `id` `""`), and the credential's
//! `state` (`""` when there is none).
//!
//! The stored payload is read with [`Hash::from_payload`] and checked with
//! [`crate::password::verify()`], on a blocking thread and at most as many at once as there are
//! cores (argon2 and bcrypt are slow on purpose, and an argon2 hash may ask for up to 1 GiB):
//! the async workers never hash. A payload that is no hash of the contract, or whose work is
//! over the limits of [`crate::password::verify`], never verifies and never fails the request.
//!
//! The password is a secret: it is never logged, and no error repeats the body.

use super::api_error::ApiError;
use super::faults::FaultConfig;
use crate::model::UserCredential;
use crate::password::{Hash, verify};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;

/// The user a request names, looked up under the tenant's lock: its id and its `password`
/// credential, if any. Arguments: the user id, else the identifier.
pub(super) type Lookup =
    Box<dyn FnOnce(Option<&str>, Option<&str>) -> Option<(String, Option<UserCredential>)> + Send>;

/// The password checks of one emulator: how many may hash at once, and the brute-force fault.
pub(super) struct PasswordChecks {
    permits: Arc<Semaphore>,
    every: Option<u32>,
    retry_after_secs: u64,
    counts: Mutex<HashMap<String, u64>>,
}

/// What the body asks.
struct Request {
    user_id: Option<String>,
    identifier: Option<String>,
    password: String,
}

impl PasswordChecks {
    pub(super) fn new(faults: &FaultConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        PasswordChecks {
            permits: Arc::new(Semaphore::new(cores)),
            every: faults.password_429_every.filter(|every| *every > 0),
            retry_after_secs: faults.retry_after_secs,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Answers a request of `tenant_id` whose token was checked and whose body was read.
    pub(super) async fn answer(
        &self,
        tenant_id: &str,
        body: &[u8],
        lookup: Lookup,
    ) -> Result<Response, ApiError> {
        let request = parse(body)?;
        if let Some(retry_after) = self.locked_out(tenant_id) {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many password checks: retry after {retry_after} s"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| internal("the password checks were closed"))?;
        let answer = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let found = lookup(request.user_id.as_deref(), request.identifier.as_deref());
            check(found, request.password.as_bytes())
        })
        .await
        .map_err(|_| internal("the password check failed"))?;
        tracing::debug!(target: "poolsync::emulator", "password check: {}", answer.result);
        Ok((StatusCode::OK, axum::Json(answer.body())).into_response())
    }

    /// The brute-force fault: `Some(retry_after)` for every n-th check of a tenant.
    fn locked_out(&self, tenant_id: &str) -> Option<u64> {
        let every = u64::from(self.every?);
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(tenant_id.to_string()).or_insert(0);
        *count += 1;
        (*count % every == 0).then_some(self.retry_after_secs)
    }
}

fn internal(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        message.to_string(),
    )
}

/// Reads the body. No message repeats any of it: it holds the password.
fn parse(body: &[u8]) -> Result<Request, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "the body is not JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::bad_request("the body is not a JSON object"));
    };
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(unprocessable(name, "is not a string")),
        }
    };
    let password = match fields.get("password") {
        Some(Value::String(password)) => password.clone(),
        Some(_) => return Err(unprocessable("password", "is not a string")),
        None => return Err(unprocessable("password", "is required")),
    };
    // The spec: `id` stays for backward compatibility and overrides `userID` if not empty.
    let user_id = text("id")?.or(text("userID")?);
    let identifier = text("identifier")?;
    if user_id.is_none() && identifier.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
            "either `identifier` or `userID` is required",
        ));
    }
    Ok(Request {
        user_id,
        identifier,
        password,
    })
}

fn unprocessable(field: &str, problem: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable_entity",
        format!("`{field}` {problem}"),
    )
    .detail("field", field)
}

/// The answer's fields.
struct Answer {
    id: String,
    result: &'static str,
    state: String,
}

impl Answer {
    fn body(&self) -> Value {
        serde_json::json!({"id": self.id, "result": self.result, "state": self.state})
    }
}

/// The verdict for the user found (if any) and the password given.
fn check(found: Option<(String, Option<UserCredential>)>, password: &[u8]) -> Answer {
    let Some((id, credential)) = found else {
        return Answer {
            id: String::new(),
            result: "user_not_found",
            state: String::new(),
        };
    };
    let Some(credential) = credential else {
        return Answer {
            id,
            result: "no_password",
            state: String::new(),
        };
    };
    let state = credential.state.clone().unwrap_or_default();
    let correct = match credential
        .payload
        .as_ref()
        .map(|payload| Hash::from_payload(&payload.0))
    {
        Some(Ok(hash)) => {
            if !crate::password::verify::within_limits(&hash) {
                tracing::warn!(
                    target: "poolsync::emulator",
                    "the password hash of user `{id}` asks for more work than the emulator verifies: it never verifies"
                );
            }
            verify(&hash, password)
        }
        Some(Err(error)) => {
            tracing::warn!(
                target: "poolsync::emulator",
                "the password credential of user `{id}` never verifies: {error}"
            );
            false
        }
        None => {
            tracing::warn!(
                target: "poolsync::emulator",
                "the password credential of user `{id}` has no payload: it never verifies"
            );
            false
        }
    };
    let result = match (correct, expired(credential.expires_at.as_deref(), &id)) {
        (false, _) => "password_incorrect",
        (true, true) => "password_expired",
        (true, false) => "password_correct",
    };
    Answer { id, result, state }
}

/// Whether `expires_at` has passed. Absent, `1900-01-01T00:00:00Z` (the vendor's "never") and
/// a date that does not parse (which is logged) are not expired.
fn expired(expires_at: Option<&str>, user_id: &str) -> bool {
    let Some(expires_at) = expires_at else {
        return false;
    };
    let Ok(expires_at) = OffsetDateTime::parse(expires_at, &Rfc3339) else {
        tracing::warn!(
            target: "poolsync::emulator",
            "the password credential of user `{user_id}` has an `expires_at` that is not RFC 3339: taken as never"
        );
        return false;
    };
    let never = time::macros::datetime!(1900-01-01 00:00:00 UTC);
    expires_at != never && expires_at < OffsetDateTime::from(crate::clock::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretValue;
    use serde_json::json;

    fn credential(payload: Value, expires_at: Option<&str>) -> UserCredential {
        UserCredential {
            kind: Some("password".into()),
            state: Some("valid".into()),
            payload: Some(SecretValue(payload)),
            expires_at: expires_at.map(str::to_string),
            ..UserCredential::default()
        }
    }

    fn md5_of_password() -> Value {
        // MD5("password"), unsalted.
        json!({"hashed_password": {"value": "X03MO1qnZdYdgyfeuILPmQ==", "config": {"method": "md5", "md5": {}}}})
    }

    #[test]
    fn the_verdicts() {
        let found = |expires_at| {
            Some((
                "u1".to_string(),
                Some(credential(md5_of_password(), expires_at)),
            ))
        };
        for (expires_at, password, result) in [
            (None, "password", "password_correct"),
            (None, "Password", "password_incorrect"),
            (Some("2001-01-01T00:00:00Z"), "password", "password_expired"),
            (Some("2001-01-01T00:00:00Z"), "wrong", "password_incorrect"),
            (Some("1900-01-01T00:00:00Z"), "password", "password_correct"),
            (Some("2999-01-01T00:00:00Z"), "password", "password_correct"),
        ] {
            let answer = check(found(expires_at), password.as_bytes());
            assert_eq!(answer.result, result, "{expires_at:?} {password}");
        }
        assert_eq!(check(found(None), b"password").state, "valid");
        let none = check(Some(("u2".to_string(), None)), b"password");
        assert_eq!(
            (none.id.as_str(), none.result, none.state.as_str()),
            ("u2", "no_password", "")
        );
        let missing = check(None, b"password");
        assert_eq!(
            (missing.id.as_str(), missing.result),
            ("", "user_not_found")
        );
    }

    #[test]
    fn an_unreadable_payload_never_verifies() {
        for payload in [
            json!(null),
            json!({"hashed_password": "password"}),
            json!({"hashed_password": {"value": "password", "config": {"method": "plain", "plain": {}}}}),
        ] {
            let found = Some(("u1".to_string(), Some(credential(payload, None))));
            assert_eq!(check(found, b"password").result, "password_incorrect");
        }
    }

    #[test]
    fn bodies_are_read_without_repeating_them() {
        let request =
            parse(br#"{"identifier": "Alice@Example.com", "password": "hunter2"}"#).unwrap();
        assert_eq!(request.identifier.as_deref(), Some("Alice@Example.com"));
        let request = parse(br#"{"userID": "u1", "id": "u2", "password": ""}"#).unwrap();
        assert_eq!(
            (request.user_id.as_deref(), request.password.as_str()),
            (Some("u2"), "")
        );
        for (body, status) in [
            (
                &br#"{"identifier": "a", "password": "hunter2""#[..],
                StatusCode::BAD_REQUEST,
            ),
            (br#"["hunter2"]"#, StatusCode::BAD_REQUEST),
            (br#"{"identifier": "a"}"#, StatusCode::UNPROCESSABLE_ENTITY),
            (
                br#"{"identifier": "a", "password": 7}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                br#"{"password": "hunter2"}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                br#"{"identifier": 5, "password": "hunter2"}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ] {
            let Err(error) = parse(body) else {
                panic!("accepted {}", String::from_utf8_lossy(body));
            };
            assert_eq!(error.status, status);
            assert!(!error.message.contains("hunter2"), "{}", error.message);
        }
    }

    #[test]
    fn every_nth_check_of_a_tenant_is_locked_out() {
        let checks = PasswordChecks::new(&FaultConfig {
            password_429_every: Some(2),
            retry_after_secs: 7,
            ..FaultConfig::default()
        });
        let acme: Vec<Option<u64>> = (0..4).map(|_| checks.locked_out("acme")).collect();
        assert_eq!(acme, [None, Some(7), None, Some(7)]);
        assert_eq!(checks.locked_out("other"), None);
        let off = PasswordChecks::new(&FaultConfig::default());
        assert!((0..5).all(|_| off.locked_out("acme").is_none()));
    }
}
