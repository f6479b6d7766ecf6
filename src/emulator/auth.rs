//! Client authentication and access tokens: the client-credentials grant and the bearer check.
//!
//! Tokens are 32 random bytes from the thread's cryptographic generator, base64url-encoded,
//! opaque to clients; the store keeps only their SHA-256, bound to tenant, client, scopes and
//! expiry. Client secrets are compared in constant time through their SHA-256, so neither their
//! content nor their length shows in timing. Nothing here logs a secret or a token.

use super::api_error::{ApiError, TokenError};
use super::config::ClientConfig;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

type TokenHash = [u8; 32];

fn hash(value: &[u8]) -> TokenHash {
    Sha256::digest(value).into()
}

/// What a token grants.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub tenant_id: String,
    pub scopes: Vec<String>,
    expires_at: Instant,
}

/// A token just issued, as the token endpoint answers it.
pub(crate) struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

/// Clients and the tokens issued to them.
pub(crate) struct Authority {
    clients: Vec<(ClientConfig, TokenHash)>,
    ttl: Duration,
    tokens: Mutex<HashMap<TokenHash, Grant>>,
}

impl Authority {
    pub(super) fn new(clients: Vec<ClientConfig>, ttl: Duration) -> Self {
        let clients = clients
            .into_iter()
            .map(|client| {
                let secret_hash = hash(client.secret.as_bytes());
                (client, secret_hash)
            })
            .collect();
        Authority {
            clients,
            ttl,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The client with this id and secret, checked in constant time.
    fn authenticate(&self, client_id: &str, secret: &str) -> Option<&ClientConfig> {
        let given = hash(secret.as_bytes());
        let mut found = None;
        // Compare against every client so that the time taken does not tell which ids exist.
        for (client, expected) in &self.clients {
            let secret_matches: bool = given.ct_eq(expected).into();
            if secret_matches && client.id == client_id {
                found = Some(client);
            }
        }
        found
    }

    /// The client-credentials grant for `tenant_id`, from the request's headers and form.
    pub(super) fn grant(
        &self,
        tenant_id: &str,
        headers: &HeaderMap,
        form: &[(String, String)],
    ) -> Result<IssuedToken, TokenError> {
        let field = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        match field("grant_type") {
            None => {
                return Err(TokenError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "missing `grant_type`",
                ));
            }
            Some("client_credentials") => {}
            Some(other) => {
                return Err(TokenError::new(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    format!("grant type `{other}` is not supported: use `client_credentials`"),
                ));
            }
        }
        let basic = basic_credentials(headers)?;
        let used_basic = basic.is_some();
        let (client_id, secret) = match (basic, field("client_id"), field("client_secret")) {
            (Some(_), _, Some(_)) => {
                return Err(TokenError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "client authenticated twice: use HTTP Basic or `client_secret` in the form, not both",
                ));
            }
            (Some(pair), _, None) => pair,
            (None, Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
            (None, _, _) => {
                return Err(TokenError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "missing client credentials: send `client_id` and `client_secret` or HTTP Basic",
                ));
            }
        };
        let Some(client) = self.authenticate(&client_id, &secret) else {
            let mut error = TokenError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                format!("client `{client_id}` does not exist or its secret is wrong"),
            );
            error.basic_challenge = used_basic;
            return Err(error);
        };
        let requested = field("scope")
            .map(str::trim)
            .filter(|scope| !scope.is_empty());
        let scopes: Vec<String> = match requested {
            Some(requested) => {
                let mut scopes = Vec::new();
                for scope in requested.split_whitespace() {
                    if !client.scopes.iter().any(|held| held == scope) {
                        return Err(TokenError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            format!("client `{}` may not request scope `{scope}`", client.id),
                        ));
                    }
                    if !scopes.iter().any(|held| held == scope) {
                        scopes.push(scope.to_string());
                    }
                }
                scopes
            }
            None => client.scopes.clone(),
        };
        let mut bytes = [0u8; 32];
        rand::rng().fill(&mut bytes[..]);
        let access_token = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let grant = Grant {
            tenant_id: tenant_id.to_string(),
            scopes: scopes.clone(),
            expires_at: now + self.ttl,
        };
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget expired tokens now and then so that a long rehearsal does not grow the store.
        if tokens.len() >= 1024 && tokens.len().is_power_of_two() {
            tokens.retain(|_, grant| grant.expires_at > now);
        }
        tokens.insert(hash(access_token.as_bytes()), grant);
        Ok(IssuedToken {
            access_token,
            expires_in: self.ttl.as_secs() + u64::from(self.ttl.subsec_nanos() > 0),
            scope: scopes.join(" "),
        })
    }

    /// Checks the bearer token of a System API request: 401 without a valid token, 403 when it
    /// belongs to another tenant or lacks every scope in `any_of`.
    pub(super) fn check(
        &self,
        headers: &HeaderMap,
        tenant_id: &str,
        any_of: &[&str],
    ) -> Result<Grant, ApiError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer` token"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                ApiError::unauthorized("the `Authorization` header is not a bearer token")
            })?;
        let key = hash(token.as_bytes());
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let grant = tokens
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("unknown access token"))?;
        if grant.expires_at <= Instant::now() {
            tokens.remove(&key);
            return Err(ApiError::unauthorized("access token expired"));
        }
        drop(tokens);
        if grant.tenant_id != tenant_id {
            return Err(ApiError::forbidden(format!(
                "the access token was issued for tenant `{}`, not `{tenant_id}`",
                grant.tenant_id
            )));
        }
        if !grant
            .scopes
            .iter()
            .any(|scope| any_of.contains(&scope.as_str()))
        {
            let wanted = any_of
                .iter()
                .map(|scope| format!("`{scope}`"))
                .collect::<Vec<_>>();
            return Err(ApiError::forbidden(format!(
                "the access token lacks scope {}",
                wanted.join(" or ")
            ))
            .detail("required_scopes", any_of.to_vec()));
        }
        Ok(grant)
    }
}

/// The `client_id` and secret of an `Authorization: Basic` header, if there is one. Per RFC 6749
/// §2.3.1 both are form-url-encoded before base64.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        TokenError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "malformed HTTP Basic credentials",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(malformed());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |part: &str| -> Result<String, TokenError> {
        let part = part.replace('+', " ");
        percent_encoding::percent_decode_str(&part)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| malformed())
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority() -> Authority {
        let client = ClientConfig {
            id: "c".into(),
            secret: "s p".into(),
            scopes: vec!["identity".into(), "read_configuration".into()],
        };
        Authority::new(vec![client], Duration::from_secs(60))
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn basic_credentials_are_url_decoded_and_scopes_narrow() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("c:s+p");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        let form = form(&[("grant_type", "client_credentials"), ("scope", "identity")]);
        let token = authority().grant("t", &headers, &form).unwrap();
        assert_eq!(token.scope, "identity");
        assert!(token.access_token.len() >= 43);
    }

    #[test]
    fn token_checks_tenant_and_scope() {
        let authority = authority();
        let form = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "c"),
            ("client_secret", "s p"),
        ]);
        let token = authority.grant("t", &HeaderMap::new(), &form).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("bearer {}", token.access_token).parse().unwrap(),
        );
        assert!(authority.check(&headers, "t", &["identity"]).is_ok());
        assert_eq!(
            authority
                .check(&headers, "other", &["identity"])
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            authority
                .check(&headers, "t", &["manage_configuration"])
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            authority
                .check(&HeaderMap::new(), "t", &["identity"])
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
}
