//! OAuth2 client-credentials tokens: fetched on demand, cached, refreshed before they expire.
//!
//! **Scopes.** Each scope gets its own token, fetched the first time a request needs it:
//! `manage_configuration` for export and import, `identity` for deleting users. Asking for both
//! in one token would make a plan or apply fail outright for a client that may not delete, even
//! when nothing is to be deleted; per-scope tokens cost one extra token request only when a run
//! deletes. Export also accepts `read_configuration`: when the token endpoint refuses
//! `manage_configuration` with `invalid_scope`, exports fall back to a `read_configuration`
//! token (remembered), so a read-only client can still run `plan` in CI.
//!
//! **Lifetime.** A token is reused until shortly before `expires_in` runs out (a fifth of its
//! lifetime early, at most a minute), so a request never leaves with a token about to expire. A
//! token answer without `expires_in` is assumed to last [`ASSUMED_LIFETIME`]: short enough
//! that a real lifetime of a few minutes is respected, and a 401 still triggers one refresh if
//! the guess was too long. Fetches are single-flight per scope: eight parallel batches that need
//! a token cause one token request, and eight parallel 401s cause one refresh.
//!
//! The secret and the tokens are [`Secret`]s and are never logged.

use crate::client::error::{ApiError, Operation, ServerMessage};
use crate::client::settings::ConnectionSettings;
use crate::client::transport::{content_type, error_from_response, read_limited, transport_error};
use crate::secret::Secret;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a token whose answer has no `expires_in` is used before fetching another.
pub const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);
/// The most a token answer body may hold; anything longer is not a token.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// An OAuth2 scope poolsync asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Export and import of the tenant configuration.
    ManageConfiguration,
    /// Managing single users (delete).
    Identity,
    /// Export only, for read-only clients.
    ReadConfiguration,
}

impl Scope {
    /// The scope's name in token requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ManageConfiguration => "manage_configuration",
            Scope::Identity => "identity",
            Scope::ReadConfiguration => "read_configuration",
        }
    }

    fn index(self) -> usize {
        match self {
            Scope::ManageConfiguration => 0,
            Scope::Identity => 1,
            Scope::ReadConfiguration => 2,
        }
    }
}

/// A token handed to a request, with the generation that lets a 401 invalidate exactly it.
#[derive(Clone, Debug)]
pub(crate) struct AccessToken {
    pub(crate) value: Secret,
    generation: u64,
}

#[derive(Debug)]
struct CachedToken {
    token: AccessToken,
    refresh_at: Instant,
}

/// Per-scope token cache.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    slots: [Mutex<Option<CachedToken>>; 3],
    /// Set once the token endpoint refused `manage_configuration`: exports then go straight to
    /// `read_configuration`.
    manage_refused: AtomicBool,
    next_generation: AtomicU64,
    fetched: AtomicU64,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

impl TokenCache {
    /// How many tokens were fetched so far.
    pub(crate) fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// A token for `operation`, and the scope it holds.
    pub(crate) async fn get_for(
        &self,
        http: &reqwest::Client,
        settings: &ConnectionSettings,
        operation: Operation,
    ) -> Result<(AccessToken, Scope), ApiError> {
        let scope = operation.scope().unwrap_or(Scope::ManageConfiguration);
        if operation != Operation::Export {
            return Ok((self.get(http, settings, scope).await?, scope));
        }
        if !self.manage_refused.load(Ordering::Relaxed) {
            match self.get(http, settings, scope).await {
                Err(error) if is_invalid_scope(&error) => {
                    tracing::debug!(
                        "`manage_configuration` refused; exporting with `read_configuration`"
                    );
                    self.manage_refused.store(true, Ordering::Relaxed);
                }
                other => return Ok((other?, scope)),
            }
        }
        let read = Scope::ReadConfiguration;
        Ok((self.get(http, settings, read).await?, read))
    }

    /// A valid token for `scope`, from the cache or freshly fetched.
    pub(crate) async fn get(
        &self,
        http: &reqwest::Client,
        settings: &ConnectionSettings,
        scope: Scope,
    ) -> Result<AccessToken, ApiError> {
        // The lock is held across the fetch on purpose: concurrent callers wait for the one
        // fetch instead of each asking for a token.
        let mut slot = self.slots[scope.index()].lock().await;
        if let Some(cached) = slot
            .as_ref()
            .filter(|cached| Instant::now() < cached.refresh_at)
        {
            return Ok(cached.token.clone());
        }
        let requested_at = Instant::now();
        let (value, lifetime) = fetch(http, settings, scope).await?;
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let margin = (lifetime / 5).min(Duration::from_secs(60));
        let token = AccessToken {
            value,
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
        };
        *slot = Some(CachedToken {
            token: token.clone(),
            refresh_at: requested_at + lifetime - margin,
        });
        Ok(token)
    }

    /// Forgets `token` after a 401, unless another caller already replaced it.
    pub(crate) async fn invalidate(&self, scope: Scope, token: &AccessToken) {
        let mut slot = self.slots[scope.index()].lock().await;
        if slot
            .as_ref()
            .is_some_and(|cached| cached.token.generation == token.generation)
        {
            *slot = None;
        }
    }
}

fn is_invalid_scope(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Status { operation: Operation::Token, server, .. }
            if server.error.as_deref() == Some("invalid_scope")
    )
}

/// The token endpoint, `{url}/{tid}/system/oauth2/token`.
pub(crate) fn token_endpoint(settings: &ConnectionSettings) -> reqwest::Url {
    let mut url = settings.url.clone();
    url.path_segments_mut()
        .expect("validated base URLs have a path")
        .pop_if_empty()
        .extend([settings.tenant.as_str(), "system", "oauth2", "token"]);
    url
}

async fn fetch(
    http: &reqwest::Client,
    settings: &ConnectionSettings,
    scope: Scope,
) -> Result<(Secret, Duration), ApiError> {
    let endpoint = token_endpoint(settings);
    tracing::debug!(%endpoint, scope = scope.as_str(), "requesting a token");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", settings.client_id.as_str()),
        ("client_secret", settings.client_secret.expose()),
        ("scope", scope.as_str()),
    ];
    let response = http
        .post(endpoint.clone())
        .form(&form)
        .send()
        .await
        .map_err(|error| transport_error(Operation::Token, &endpoint, &error))?;
    if !response.status().is_success() {
        return Err(error_from_response(Operation::Token, &endpoint, settings, response).await);
    }
    let content_type = content_type(&response);
    let (body, _) = read_limited(response, TOKEN_BODY_LIMIT).await;
    let invalid = |reason: String| ApiError::InvalidResponse {
        operation: Operation::Token,
        endpoint: endpoint.to_string(),
        reason,
    };
    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
        let looks_like_json = body
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|byte| *byte == b'{');
        if looks_like_json {
            // Broken JSON from a token endpoint may still hold a token: quote none of it.
            invalid(format!(
                "the token answer is not valid JSON ({} bytes)",
                body.len()
            ))
        } else {
            invalid(format!(
                "expected a JSON token, got {}",
                ServerMessage::parse(content_type.as_deref(), &body)
            ))
        }
    })?;
    let Some(access_token) = answer.access_token.filter(|token| !token.is_empty()) else {
        return Err(invalid("no `access_token` in the answer".to_string()));
    };
    if let Some(kind) = answer
        .token_type
        .as_ref()
        .filter(|kind| !kind.eq_ignore_ascii_case("bearer"))
    {
        return Err(invalid(format!(
            "token type `{}` is not `bearer`",
            kind.chars().take(40).collect::<String>()
        )));
    }
    // A token that cannot travel in a header would make every request fail to build; refuse it
    // here, where the error says why, without quoting it.
    if reqwest::header::HeaderValue::from_str(&access_token).is_err() {
        return Err(invalid(
            "the token holds characters an HTTP header cannot carry".to_string(),
        ));
    }
    let lifetime = match answer.expires_in.as_ref().and_then(seconds) {
        Some(lifetime) => lifetime,
        None => {
            tracing::debug!(
                assumed_seconds = ASSUMED_LIFETIME.as_secs(),
                "token answer has no usable `expires_in`"
            );
            ASSUMED_LIFETIME
        }
    };
    Ok((Secret::new(access_token), lifetime))
}

/// Reads `expires_in`: a number of seconds, or a string holding one (some servers quote it).
fn seconds(value: &serde_json::Value) -> Option<Duration> {
    let number = match value {
        serde_json::Value::Number(number) => number.as_f64()?,
        serde_json::Value::String(text) => text.trim().parse().ok()?,
        _ => return None,
    };
    // A year caps absurd values; the 401 refresh covers a token revoked earlier anyway.
    (number.is_finite() && number >= 0.0).then(|| Duration::from_secs_f64(number.min(31_536_000.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_in_reads_numbers_and_numeric_strings_only() {
        assert_eq!(seconds(&json!(3600)), Some(Duration::from_secs(3600)));
        assert_eq!(seconds(&json!("120")), Some(Duration::from_secs(120)));
        assert_eq!(seconds(&json!(-5)), None);
        assert_eq!(seconds(&json!("soon")), None);
        assert_eq!(seconds(&json!(null)), None);
    }
}
