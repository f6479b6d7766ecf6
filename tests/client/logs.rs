//! Nothing secret reaches the logs, even at the most verbose level.

use super::import::dump_of;
use super::server::{CLIENT_SECRET, LEGACY_PATH, Reply, StubServer, TOKEN_PATH};
use poolsync::client::{ImportMode, NoProgress};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_and_tokens_never_reach_logs_errors_or_debug_output() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Thread-local: this test's runtime runs on this thread, other tests are unaffected.
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = StubServer::start().await;
    server.on(
        "POST",
        TOKEN_PATH,
        [Reply::token("token-AAA"), Reply::token("token-BBB")],
    );
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::status(401), Reply::status(200).body("{}")],
    );
    server.on("PUT", LEGACY_PATH, [Reply::status(500)]);
    server.on(
        "DELETE",
        "/api/identity/t1/system/pools/p1/users/u1",
        [Reply::status(403)],
    );
    let client = server.client();
    client.export(&NoProgress).await.unwrap();
    let import_error = client
        .import(&dump_of(&["u1"]), ImportMode::Update)
        .await
        .unwrap_err();
    let delete_error = client.delete_user("p1", "u1").await.unwrap_err();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("401: fetching a fresh token"), "{logs}");
    let everything = format!(
        "{logs}\n{client:?}\n{import_error}\n{import_error:?}\n{delete_error:?}\n{:?}",
        server.settings()
    );
    for secret in [CLIENT_SECRET, "token-AAA", "token-BBB"] {
        assert!(
            !everything.contains(secret),
            "`{secret}` leaked:\n{everything}"
        );
    }
}
