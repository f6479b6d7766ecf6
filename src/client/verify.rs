//! The password check: `POST {url}/api/identity/{tid}/system/pools/{pool}/user/password/v2/verify`
//! (`system-api.md`, "Checking a password"), with a token of scope `identity`.
//!
//! One call is one check, sent when the last one was answered: the real endpoint has brute-force
//! protection, so callers check a few canary accounts one after another, never in parallel. A
//! 429 is waited out as the client's [`RetryPolicy`](super::RetryPolicy) says (its
//! `Retry-After`), like any other request. The password is a [`Secret`]: it goes into the
//! request body and nowhere else (not in a log line, an error or a URL).

use super::error::{ApiError, Operation};
use super::transport::ApiClient;
use crate::secret::Secret;
use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whom a password check is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSubject {
    /// Any identifier of the user (an e-mail address, a phone number, a username), in any
    /// letter case.
    Identifier(String),
    /// The user's id.
    UserId(String),
}

/// What the service says of a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordResult {
    /// The password matches and the credential has not expired.
    PasswordCorrect,
    /// The password does not match.
    PasswordIncorrect,
    /// The password matches, but the credential's `expires_at` has passed.
    PasswordExpired,
    /// The user has no password credential.
    NoPassword,
    /// No user of the pool has that identifier or id.
    UserNotFound,
}

impl PasswordResult {
    /// The API's name: `password_correct`, `password_incorrect`, …
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordResult::PasswordCorrect => "password_correct",
            PasswordResult::PasswordIncorrect => "password_incorrect",
            PasswordResult::PasswordExpired => "password_expired",
            PasswordResult::NoPassword => "no_password",
            PasswordResult::UserNotFound => "user_not_found",
        }
    }
}

impl fmt::Display for PasswordResult {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The service's answer to a password check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordCheck {
    /// The user's id; empty when the user was not found.
    pub id: String,
    /// The verdict.
    pub result: PasswordResult,
    /// The password credential's `state` (`valid`, `must_be_reset`, `must_be_changed`); empty
    /// when there is none.
    pub state: String,
}

impl ApiClient {
    /// Asks the service whether `password` is the password of `subject` in pool `pool`.
    ///
    /// A rate limit (429), a 5xx, a timeout or a dropped connection is retried by the client's
    /// retry policy (a check changes nothing); a 403 means the client lacks the `identity` scope.
    pub async fn verify_password(
        &self,
        pool: &str,
        subject: &PasswordSubject,
        password: &Secret,
    ) -> Result<PasswordCheck, ApiError> {
        if pool.is_empty() {
            // An empty segment would address another resource.
            return Err(ApiError::InvalidRequest {
                operation: Operation::VerifyPassword,
                reason: "a password check needs a pool id".to_string(),
            });
        }
        let mut body = serde_json::Map::new();
        match subject {
            PasswordSubject::Identifier(identifier) => {
                body.insert("identifier".into(), identifier.clone().into())
            }
            PasswordSubject::UserId(user_id) => {
                body.insert("userID".into(), user_id.clone().into())
            }
        };
        body.insert("password".into(), password.expose().into());
        let body = Bytes::from(serde_json::Value::Object(body).to_string());
        let tenant = self.settings().tenant.clone();
        let endpoint = self.endpoint(&[
            "api", "identity", &tenant, "system", "pools", pool, "user", "password", "v2", "verify",
        ]);
        self.retrying(|| async {
            let response = self
                .send_authorized(
                    Operation::VerifyPassword,
                    Method::POST,
                    &endpoint,
                    Some(body.clone()),
                )
                .await?;
            let response = self
                .success(Operation::VerifyPassword, &endpoint, response)
                .await?;
            let bytes = response.bytes().await.map_err(|error| {
                super::transport::transport_error(Operation::VerifyPassword, &endpoint, &error)
            })?;
            serde_json::from_slice::<PasswordCheck>(&bytes).map_err(|error| {
                ApiError::InvalidResponse {
                    operation: Operation::VerifyPassword,
                    endpoint: endpoint.to_string(),
                    reason: format!("not a password check's answer: {error}"),
                }
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_read_and_write_the_api_names() {
        let check: PasswordCheck = serde_json::from_str(
            r#"{"id": "u1", "result": "password_expired", "state": "must_be_reset"}"#,
        )
        .unwrap();
        assert_eq!(check.result, PasswordResult::PasswordExpired);
        assert_eq!(check.result.to_string(), "password_expired");
        for result in [
            PasswordResult::PasswordCorrect,
            PasswordResult::PasswordIncorrect,
            PasswordResult::PasswordExpired,
            PasswordResult::NoPassword,
            PasswordResult::UserNotFound,
        ] {
            assert_eq!(
                serde_json::to_value(result).unwrap(),
                serde_json::json!(result.as_str())
            );
        }
        assert!(
            serde_json::from_str::<PasswordCheck>(
                r#"{"id": "u1", "result": "maybe", "state": ""}"#
            )
            .is_err()
        );
    }
}
