//! Single import requests: the request sent and how failures are classified.

use super::server::{LEGACY_PATH, Reply, StubServer};
use super::token::assert_no_secret;
use poolsync::client::{ApiError, Delivery, ImportMode, TransportKind};
use poolsync::model::{SecretValue, TenantDump, User, UserCredential};
use serde_json::json;

pub(super) fn dump_of(user_ids: &[&str]) -> TenantDump {
    TenantDump {
        users: user_ids
            .iter()
            .map(|id| User {
                id: Some(id.to_string()),
                tenant_id: Some("t1".into()),
                user_pool_id: Some("p1".into()),
                ..User::default()
            })
            .collect(),
        ..TenantDump::default()
    }
}

#[tokio::test]
async fn import_puts_the_document_with_the_mode() {
    let server = StubServer::start().await;
    server.on("PUT", LEGACY_PATH, [Reply::status(204)]);
    let client = server.client();
    let mut dump = dump_of(&["u1", "u2"]);
    dump.user_credentials.push(UserCredential {
        user_id: Some("u1".into()),
        payload: Some(SecretValue(
            json!({"hashed_password": {"value": "$2a$10$hash"}}),
        )),
        ..UserCredential::default()
    });
    client.import(&dump, ImportMode::Fail).await.unwrap();
    let requests = server.requests_to(LEGACY_PATH);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(requests[0].query, "mode=fail");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    let sent: TenantDump = serde_json::from_value(requests[0].json()).unwrap();
    assert_eq!(sent, dump);
}

async fn import_error(replies: Vec<Reply>) -> ApiError {
    let server = StubServer::start().await;
    server.on("PUT", LEGACY_PATH, replies);
    let client = server.client();
    client
        .import(&dump_of(&["u1"]), ImportMode::Update)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_4xx_is_a_final_rejection_with_the_servers_words() {
    let error = import_error(vec![Reply::json(
        409,
        json!({"error": "identifier already taken", "status_code": 409,
               "error_code": "conflict", "details": {"user_id": "u1", "identifier": "a@x.io"}}),
    )])
    .await;
    assert!(!error.is_retryable());
    assert_eq!(error.delivery(), Delivery::Rejected);
    assert!(
        error.to_string().ends_with(
            r#"failed with status 409: `identifier already taken` (error code `conflict`) details: {"identifier":"a@x.io","user_id":"u1"}"#
        ),
        "{error}"
    );
    assert_no_secret(&error);
}

#[tokio::test]
async fn a_5xx_or_a_dropped_connection_leaves_the_outcome_unknown() {
    let error = import_error(vec![
        Reply::status(502)
            .header("content-type", "text/html")
            .body("<html><head><title>502 Bad Gateway</title></head></html>"),
    ])
    .await;
    assert!(error.is_retryable());
    assert_eq!(error.delivery(), Delivery::Unknown);
    assert!(
        error.to_string().ends_with("`502 Bad Gateway` (HTML page)"),
        "{error}"
    );
    assert!(
        error
            .hint()
            .unwrap()
            .contains("may or may not have been applied")
    );

    let error = import_error(vec![Reply::Drop]).await;
    assert_eq!(
        error.transport_kind(),
        Some(TransportKind::Dropped),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(error.delivery(), Delivery::Unknown);
}

#[tokio::test]
async fn a_429_carries_its_retry_after_and_was_not_applied() {
    let error = import_error(vec![Reply::status(429).header("retry-after", "7")]).await;
    assert!(error.is_rate_limited());
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(7)));
    assert_eq!(error.delivery(), Delivery::NotSent);
}

#[tokio::test]
async fn a_redirect_is_reported_not_followed() {
    let error = import_error(vec![
        Reply::status(302).header("location", "https://login.example.com/"),
    ])
    .await;
    assert!(
        error
            .to_string()
            .ends_with("unexpected redirect (status 302 Found) to `https://login.example.com/`"),
        "{error}"
    );
}
