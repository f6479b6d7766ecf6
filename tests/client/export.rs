//! Export: path fallback, streaming with progress, and unusable answers.

use super::server::{CURRENT_PATH, LEGACY_PATH, Reply, StubServer, fast_retry};
use poolsync::client::{ApiClient, ApiError, ApiPath, ExportProgress, NoProgress, TransportKind};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Recorder {
    total: Mutex<Option<Option<u64>>>,
    received: Mutex<Vec<u64>>,
}

impl ExportProgress for Recorder {
    fn started(&self, total_bytes: Option<u64>) {
        *self.total.lock().unwrap() = Some(total_bytes);
    }
    fn received(&self, bytes_so_far: u64) {
        self.received.lock().unwrap().push(bytes_so_far);
    }
}

fn tenant_document(users: usize) -> String {
    let users: Vec<serde_json::Value> = (0..users)
        .map(|n| serde_json::json!({"id": format!("u{n}"), "user_pool_id": "p1", "status": "active"}))
        .collect();
    serde_json::json!({"pools": [{"id": "p1", "name": "P"}], "users": users}).to_string()
}

#[tokio::test]
async fn export_parses_the_document_and_reports_bytes_received() {
    let server = StubServer::start().await;
    let document = tenant_document(2000);
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::status(200)
            .header("content-type", "application/json")
            .body(document.clone())],
    );
    let client = server.client();
    let progress = Recorder::default();
    let dump = client.export(&progress).await.unwrap();
    assert_eq!(dump.users.len(), 2000);
    assert_eq!(dump.pools[0].id.as_deref(), Some("p1"));
    assert_eq!(
        *progress.total.lock().unwrap(),
        Some(Some(document.len() as u64))
    );
    let received = progress.received.lock().unwrap();
    assert_eq!(received.last().copied(), Some(document.len() as u64));
    assert!(received.windows(2).all(|pair| pair[0] < pair[1]));
}

#[tokio::test]
async fn export_retries_rate_limits_server_errors_and_drops() {
    let server = StubServer::start().await;
    server.on(
        "GET",
        LEGACY_PATH,
        [
            Reply::status(503),
            Reply::status(429).header("retry-after", "0"),
            Reply::Drop,
            Reply::status(200).body(tenant_document(3)),
        ],
    );
    let dump = server.client().export(&NoProgress).await.unwrap();
    assert_eq!(dump.users.len(), 3);
    assert_eq!(server.requests_to(LEGACY_PATH).len(), 4);
}

#[tokio::test]
async fn a_404_on_the_vendor_path_falls_back_to_the_current_one_and_remembers_it() {
    let server = StubServer::start().await;
    server.on("GET", CURRENT_PATH, [Reply::status(200).body("{}")]);
    let client = server.client();
    assert_eq!(client.api_path(), None);
    client.export(&NoProgress).await.unwrap();
    client.export(&NoProgress).await.unwrap();
    assert_eq!(server.requests_to(LEGACY_PATH).len(), 1);
    assert_eq!(server.requests_to(CURRENT_PATH).len(), 2);
    assert_eq!(client.api_path(), Some(ApiPath::Current));
}

#[tokio::test]
async fn the_vendor_path_is_remembered_when_it_answers() {
    let server = StubServer::start().await;
    server.on("GET", LEGACY_PATH, [Reply::status(200).body("{}")]);
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    assert_eq!(client.api_path(), Some(ApiPath::Legacy));
    assert!(server.requests_to(CURRENT_PATH).is_empty());
}

#[tokio::test]
async fn a_pinned_path_is_never_swapped() {
    let server = StubServer::start().await;
    server.on("GET", LEGACY_PATH, [Reply::status(200).body("{}")]);
    let mut settings = server.settings();
    settings.api_path = Some(ApiPath::Current);
    let client = ApiClient::with_retry_policy(settings, fast_retry()).unwrap();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert!(server.requests_to(LEGACY_PATH).is_empty());
    assert!(error.hint().unwrap().contains("--api-path"));
}

#[tokio::test]
async fn both_paths_answering_404_names_both() {
    let server = StubServer::start().await;
    let client = server.client();
    let error = client.export(&NoProgress).await.unwrap_err();
    let url = server.url();
    assert_eq!(
        error.to_string(),
        format!(
            "export failed: both `{url}{LEGACY_PATH}` and `{url}{CURRENT_PATH}` answered 404: \
             `no such route`"
        )
    );
}

async fn export_error(reply: Reply) -> ApiError {
    let server = StubServer::start().await;
    server.on("GET", LEGACY_PATH, [reply]);
    let client = server.client();
    client.export(&NoProgress).await.unwrap_err()
}

#[tokio::test]
async fn a_200_with_an_empty_body_is_a_clear_error() {
    let error = export_error(Reply::status(200)).await;
    assert!(
        error.to_string().ends_with(
            "gave an unusable answer: the body is empty; expected a JSON object (a `TenantDump`)"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_200_html_page_from_a_proxy_is_a_clear_error() {
    let error = export_error(
        Reply::status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(
                "<!doctype html>\n<html><title>Access denied</title>".to_string()
                    + &"x".repeat(50_000),
            ),
    )
    .await;
    let message = error.to_string();
    assert!(
        message.ends_with(
            "expected a JSON object (a `TenantDump`), got `text/html; charset=utf-8` answer: \
             `Access denied` (HTML page)"
        ),
        "{message}"
    );
    assert!(message.len() < 400, "{message}");
}

#[tokio::test]
async fn invalid_json_names_the_endpoint_and_the_place() {
    let error =
        export_error(Reply::status(200).body("{\"users\": [{\"id\": \"u1\", \"status\": 7}]}"))
            .await;
    let message = error.to_string();
    assert!(
        message.contains("/api/identity/system/t1/configuration"),
        "{message}"
    );
    assert!(message.contains("response body:1:"), "{message}");
    assert!(message.contains("users[0].status"), "{message}");
    let error = export_error(Reply::status(200).body("{\"users\": [")).await;
    assert!(
        error.to_string().contains("not a tenant document"),
        "{error}"
    );
}

#[tokio::test]
async fn server_errors_and_silence_are_reported_with_the_endpoint() {
    let error = export_error(Reply::json(
        503,
        serde_json::json!({"error": "maintenance", "status_code": 503, "error_code": "unavailable"}),
    ))
    .await;
    assert!(
        error
            .to_string()
            .ends_with("failed with status 503: `maintenance` (error code `unavailable`)"),
        "{error}"
    );
    assert!(error.is_retryable());

    let server = StubServer::start().await;
    server.on("GET", LEGACY_PATH, [Reply::Hang]);
    let mut settings = server.settings();
    settings.read_timeout = Duration::from_millis(300);
    let client = ApiClient::with_retry_policy(settings, fast_retry()).unwrap();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportKind::Timeout),
        "{error:?}"
    );
    assert!(error.hint().unwrap().contains("--timeout"));
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let server = StubServer::start().await;
    let mut settings = server.settings();
    // A port that was just free and has no listener now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    settings.url = format!("http://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    drop(listener);
    let client = ApiClient::with_retry_policy(settings, fast_retry()).unwrap();
    let error = client.export(&NoProgress).await.unwrap_err();
    assert_eq!(
        error.transport_kind(),
        Some(TransportKind::Connect),
        "{error:?}"
    );
    assert_eq!(error.delivery(), poolsync::client::Delivery::NotSent);
}

#[tokio::test]
async fn a_body_cut_off_mid_way_is_a_dropped_connection_that_says_how_far_it_got() {
    let error = export_error(
        Reply::status(200)
            .body("{\"users\": [{\"id\": \"u1\"}")
            .cut_off(10_000),
    )
    .await;
    assert_eq!(
        error.transport_kind(),
        Some(TransportKind::Dropped),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("connection dropped: after 23 of 10000 bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn a_json_array_instead_of_a_document_is_refused_before_parsing() {
    let error = export_error(Reply::status(200).body("[1, 2]")).await;
    assert!(
        error
            .to_string()
            .ends_with("expected a JSON object (a `TenantDump`), got answer: `[1, 2]`"),
        "{error}"
    );
}

/// Measures the export path; run with
/// `cargo test --test main measure_export -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a test"]
#[allow(clippy::print_stderr, reason = "reports the measurement")]
async fn measure_export() {
    let users = 50_000;
    let document = realistic_document(users);
    let server = StubServer::start().await;
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::status(200).body(document.clone())],
    );
    let client = server.client();
    let megabytes = document.len() as f64 / 1e6;
    let started = std::time::Instant::now();
    let bytes = client.export_bytes(&NoProgress).await.unwrap();
    let receive = started.elapsed().as_secs_f64();
    assert_eq!(bytes.len(), document.len());
    drop(bytes);
    let started = std::time::Instant::now();
    let dump = client.export(&NoProgress).await.unwrap();
    let whole = started.elapsed().as_secs_f64();
    assert_eq!(dump.users.len(), users);
    let started = std::time::Instant::now();
    let from_reader: poolsync::model::TenantDump =
        serde_json::from_reader(std::io::BufReader::new(document.as_bytes())).unwrap();
    let reader_parse = started.elapsed().as_secs_f64();
    assert_eq!(from_reader.users.len(), users);
    eprintln!(
        "{megabytes:.1} MB: receive {:.0} MB/s, receive+parse_dump {:.0} MB/s, \
         from_reader parse alone {:.0} MB/s",
        megabytes / receive,
        megabytes / whole,
        megabytes / reader_parse
    );
}

/// Users shaped like an export: an identifier, an address and a password credential each.
fn realistic_document(users: usize) -> String {
    use serde_json::json;
    let mut document = json!({"pools": [{"id": "p1", "name": "P"}], "users": [],
        "user_identifiers": [], "user_verifiable_addresses": [], "user_credentials": []});
    for n in 0..users {
        let id = format!("6f1c2a3e-0000-4000-8000-{n:012}");
        let email = format!("user{n}@example.com");
        document["users"].as_array_mut().unwrap().push(json!({"id": id, "tenant_id": "t1",
            "user_pool_id": "p1", "status": "active", "payload": {"given_name": "A", "family_name": "B"},
            "metadata": {}, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}));
        document["user_identifiers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": format!("i-{id}"),
            "user_id": id, "user_pool_id": "p1", "tenant_id": "t1", "type": "email",
            "identifier": email, "identifier_lc": email, "created_at": "2024-01-01T00:00:00Z"}));
        document["user_verifiable_addresses"]
            .as_array_mut()
            .unwrap()
            .push(json!({
            "id": format!("a-{id}"), "user_id": id, "user_pool_id": "p1", "tenant_id": "t1",
            "type": "email", "address": email, "address_lc": email, "status": "active",
            "verified": true, "created_at": "2024-01-01T00:00:00Z"}));
        document["user_credentials"].as_array_mut().unwrap().push(json!({
            "id": format!("c-{id}"), "user_id": id, "user_pool_id": "p1", "tenant_id": "t1",
            "type": "password", "state": "valid",
            "payload": {"hashed_password": {"value": "$2a$10$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQ",
                "config": {"method": "bcrypt", "cost": 10}}}}));
    }
    document.to_string()
}

#[tokio::test]
async fn a_body_over_the_limit_is_kept_in_a_temporary_file_byte_for_byte() {
    use poolsync::client::SpooledBody;
    use std::io::{Read, Seek};
    let server = StubServer::start().await;
    let document = tenant_document(2000);
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::status(200)
            .header("content-type", "application/json")
            .body(document.clone())],
    );
    let client = server.client();
    let progress = Recorder::default();
    let spooled = client.export_spooled(&progress, 1000).await.unwrap();
    let SpooledBody::File(mut file) = spooled.body else {
        panic!("a body over the limit stayed in memory");
    };
    let mut kept = String::new();
    file.seek(std::io::SeekFrom::Start(0)).unwrap();
    file.read_to_string(&mut kept).unwrap();
    assert_eq!(kept, document);
    assert_eq!(
        progress.received.lock().unwrap().last().copied(),
        Some(document.len() as u64)
    );

    // Under the limit, the same body stays in memory.
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::status(200).body(document.clone())],
    );
    let spooled = client
        .export_spooled(&NoProgress, document.len() as u64)
        .await
        .unwrap();
    assert!(matches!(spooled.body, SpooledBody::Memory(ref bytes) if bytes == document.as_bytes()));
}

#[tokio::test]
async fn a_spooled_error_page_is_named_as_such() {
    let server = StubServer::start().await;
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::status(200)
            .header("content-type", "text/html")
            .body(format!("<html><body>{}</body></html>", "x".repeat(10_000)))],
    );
    let error = server
        .client()
        .export_spooled(&NoProgress, 100)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("expected a JSON object"),
        "{error}"
    );
}
