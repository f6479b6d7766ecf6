//! Tokens: caching, refresh, 401 handling, and errors that explain and never leak.

use super::server::{CLIENT_SECRET, LEGACY_PATH, Reply, StubServer, TOKEN_PATH, fast_retry};
use poolsync::client::{ApiClient, ApiError, DeleteOutcome, NoProgress, RetryPolicy};
use serde_json::json;

const EMPTY_DUMP: &str = r#"{"users": []}"#;

fn export_ok() -> Reply {
    Reply::status(200)
        .header("content-type", "application/json")
        .body(EMPTY_DUMP)
}

/// A server whose token endpoint answers `replies` and whose export answers an empty tenant.
async fn token_server(replies: impl IntoIterator<Item = Reply>) -> StubServer {
    let server = StubServer::start().await;
    server.on("POST", TOKEN_PATH, replies);
    server.on("GET", LEGACY_PATH, [export_ok()]);
    server
}

/// Asserts that an error's message and hint never carry the secret or a token.
pub(super) fn assert_no_secret(error: &ApiError) {
    let shown = format!("{error} {:?} {error:?}", error.hint());
    assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    assert!(!shown.contains("token-1"), "{shown}");
}

#[tokio::test]
async fn the_token_request_is_a_client_credentials_form_and_the_token_is_reused() {
    let server = StubServer::start().await;
    server.on("GET", LEGACY_PATH, [export_ok()]);
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    client.export(&NoProgress).await.unwrap();
    let token_requests = server.requests_to(TOKEN_PATH);
    assert_eq!(token_requests.len(), 1);
    let form = token_requests[0].body_text();
    for field in [
        "grant_type=client_credentials",
        "client_id=poolsync-test",
        "scope=manage_configuration",
    ] {
        assert!(form.contains(field), "{form}");
    }
    assert!(form.contains(&format!("client_secret={CLIENT_SECRET}")));
    assert_eq!(
        server.authorizations(LEGACY_PATH),
        ["Bearer token-1", "Bearer token-1"]
    );
    let exports = server.requests_to(LEGACY_PATH);
    let user_agent = exports[0].header("user-agent").unwrap();
    assert_eq!(
        user_agent,
        format!("poolsync/{}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced_before_use() {
    let server = token_server([
        Reply::json(200, json!({"access_token": "short", "expires_in": 0})),
        Reply::token("token-2"),
    ])
    .await;
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    client.export(&NoProgress).await.unwrap();
    client.export(&NoProgress).await.unwrap();
    assert_eq!(
        server.authorizations(LEGACY_PATH),
        ["Bearer short", "Bearer token-2", "Bearer token-2"]
    );
    assert_eq!(client.tokens_fetched(), 2);
}

#[tokio::test]
async fn a_token_answer_without_expires_in_or_token_type_is_used() {
    let server = token_server([Reply::json(200, json!({"access_token": "bare"}))]).await;
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    client.export(&NoProgress).await.unwrap();
    // Assumed to last minutes, not zero: the second request reuses it.
    assert_eq!(client.tokens_fetched(), 1);
}

#[tokio::test]
async fn a_401_fetches_a_fresh_token_once_and_retries() {
    let server = token_server([Reply::token("token-1"), Reply::token("token-2")]).await;
    server.on("GET", LEGACY_PATH, [Reply::status(401), export_ok()]);
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    assert_eq!(
        server.authorizations(LEGACY_PATH),
        ["Bearer token-1", "Bearer token-2"]
    );
}

#[tokio::test]
async fn a_second_401_is_explained_in_words() {
    let server = StubServer::start().await;
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::json(
            401,
            json!({"error": "token inactive", "status_code": 401}),
        )],
    );
    let client = server.client();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert_eq!(server.requests_to(LEGACY_PATH).len(), 2);
    assert_eq!(
        error.to_string(),
        format!(
            "export at `{}/api/identity/system/t1/configuration` failed with status 401: \
             `token inactive`",
            server.url()
        )
    );
    assert!(
        error
            .hint()
            .unwrap()
            .contains("System workspace of tenant `t1`")
    );
    assert!(error.is_auth_failure());
    assert_no_secret(&error);
}

#[tokio::test]
async fn a_wrong_secret_names_the_likely_causes_and_never_the_secret() {
    let server = StubServer::start().await;
    server.on(
        "POST",
        TOKEN_PATH,
        [Reply::json(
            401,
            json!({"error": "invalid_client", "error_code": 401,
                   "error_hint": "client authentication failed"}),
        )],
    );
    let client = server.client();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "token request at `{}/t1/system/oauth2/token` failed with status 401: \
             `invalid_client` (error code `401`) - client authentication failed",
            server.url()
        )
    );
    let hint = error.hint().unwrap();
    assert!(
        hint.contains("client id `poolsync-test` and its secret"),
        "{hint}"
    );
    assert!(hint.contains("System workspace"), "{hint}");
    assert_no_secret(&error);
    assert!(server.requests_to(LEGACY_PATH).is_empty());
}

#[tokio::test]
async fn a_missing_scope_is_named() {
    let server = StubServer::start().await;
    server.on(
        "POST",
        TOKEN_PATH,
        [Reply::json(400, json!({"error": "invalid_scope"}))],
    );
    let client = server.client();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert!(error.hint().unwrap().contains("`manage_configuration`"));
    server.on("POST", TOKEN_PATH, [Reply::token("token-1")]);
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::json(403, json!({"error": "forbidden"}))],
    );
    let error = client.export(&NoProgress).await.unwrap_err();
    assert_eq!(error.status(), Some(403));
    let hint = error.hint().unwrap();
    assert!(
        hint.contains("has the `manage_configuration` or `read_configuration` scope"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_token_answer_that_is_an_html_page_is_summarized() {
    let server = StubServer::start().await;
    let page = format!(
        "<html><head><title>Sign in - Corporate Proxy</title></head><body>{}</body></html>",
        "<p>lorem</p>".repeat(5000)
    );
    server.on(
        "POST",
        TOKEN_PATH,
        [Reply::status(200)
            .header("content-type", "text/html")
            .body(page)],
    );
    let client = server.client();
    let error = client.export(&NoProgress).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.ends_with(
            "gave an unusable answer: expected a JSON token, got `text/html` answer: \
             `Sign in - Corporate Proxy` (HTML page)"
        ),
        "{message}"
    );
    assert!(error.is_auth_failure());
}

#[tokio::test]
async fn deletes_use_their_own_identity_scoped_token() {
    let server = StubServer::start().await;
    server.on("GET", LEGACY_PATH, [export_ok()]);
    server.on(
        "DELETE",
        "/api/identity/t1/system/pools/p1/users/u1",
        [Reply::status(204)],
    );
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    assert_eq!(
        client.delete_user("p1", "u1").await.unwrap(),
        DeleteOutcome::Deleted
    );
    let scopes: Vec<String> = server
        .requests_to(TOKEN_PATH)
        .iter()
        .map(|request| request.body_text())
        .collect();
    assert_eq!(scopes.len(), 2);
    assert!(scopes[0].contains("scope=manage_configuration"));
    assert!(scopes[1].contains("scope=identity"));
}

#[tokio::test]
async fn a_token_that_cannot_be_a_header_is_refused_without_quoting_it() {
    let server = StubServer::start().await;
    server.on(
        "POST",
        TOKEN_PATH,
        [Reply::json(
            200,
            json!({"access_token": "token-1\nX-Evil: 1"}),
        )],
    );
    let client = server.client();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("the token holds characters an HTTP header cannot carry"),
        "{error}"
    );
    assert!(error.is_auth_failure());
    assert_no_secret(&error);
}

#[tokio::test]
async fn a_rate_limited_token_request_keeps_its_retry_after() {
    let server = StubServer::start().await;
    server.on(
        "POST",
        TOKEN_PATH,
        [Reply::status(429).header("retry-after", "3")],
    );
    // No retries here: the error itself is what is checked.
    let no_retries = RetryPolicy {
        max_rate_limited: 0,
        ..fast_retry()
    };
    let client = ApiClient::with_retry_policy(server.settings(), no_retries).unwrap();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert!(error.is_rate_limited() && error.is_retryable());
    assert!(!error.is_auth_failure());
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(3)));
}

#[tokio::test]
async fn a_read_only_client_exports_with_read_configuration() {
    let server = token_server([
        Reply::json(400, json!({"error": "invalid_scope"})),
        Reply::token("read-token"),
    ])
    .await;
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    client.export(&NoProgress).await.unwrap();
    let scopes: Vec<String> = server
        .requests_to(TOKEN_PATH)
        .iter()
        .map(|request| request.body_text())
        .collect();
    assert_eq!(scopes.len(), 2);
    assert!(scopes[0].contains("scope=manage_configuration"));
    assert!(scopes[1].contains("scope=read_configuration"));
    assert_eq!(
        server.authorizations(LEGACY_PATH),
        ["Bearer read-token", "Bearer read-token"]
    );
}
