//! Paths, tenants, the state file, the request log, limits and the background handle.

use super::*;
use poolsync::emulator::Emulator;

#[tokio::test]
async fn both_paths_serve_export_and_import_and_each_can_be_switched_off() {
    let (emulator, api, token) = acme(config()).await;
    for (index, url) in [api.legacy_url(), api.current_url()]
        .into_iter()
        .enumerate()
    {
        let export = api.export_at(&url, &token).await;
        assert_eq!(export.status, StatusCode::OK);
        let id = format!("path-{index}");
        let answer = api
            .import_at(
                &url,
                &token,
                Some("fail"),
                &new_user(&id, &format!("{id}@example.com")),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    }
    assert_eq!(emulator.tenant_dump("acme").unwrap().users.len(), 10);
    emulator.shutdown().await;

    for (legacy, current) in [(false, true), (true, false)] {
        let emulator = start(config().legacy_path(legacy).current_path(current)).await;
        let api = Api::new(&emulator.url(), "acme");
        let token = api.token().await;
        for (url, enabled) in [(api.legacy_url(), legacy), (api.current_url(), current)] {
            let export = api.export_at(&url, &token).await;
            let import = api.import_at(&url, &token, None, &json!({})).await;
            let expected = if enabled {
                [StatusCode::OK, StatusCode::NO_CONTENT]
            } else {
                [StatusCode::NOT_FOUND; 2]
            };
            assert_eq!([export.status, import.status], expected, "{url}");
            if !enabled {
                assert_eq!(export.body["status_code"], 404);
            }
        }
        emulator.shutdown().await;
    }
}

#[tokio::test]
async fn unknown_tenant_and_unknown_route_get_404_bodies() {
    let emulator = start(config()).await;
    let api = Api::new(&emulator.url(), "nope");
    let answer = api.token_answer(CLIENT, SECRET, None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.body["error_hint"]
            .as_str()
            .unwrap()
            .contains("`nope`")
    );
    let acme_token = Api::new(&emulator.url(), "acme").token().await;
    let answer = api.export_at(&api.legacy_url(), &acme_token).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.message().contains("`nope`"), "{answer:?}");
    let answer = Answer::read(
        api.http
            .get(format!("{}/elsewhere", emulator.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["error_code"], "not_found");
    emulator.shutdown().await;
}

#[tokio::test]
async fn seed_tenant_ids_are_rewritten_and_export_follows_the_seed() {
    let emulator = start(EmulatorConfig::new().tenant("initech", seed()).client(
        CLIENT,
        SECRET,
        &[],
    ))
    .await;
    let api = Api::new(&emulator.url(), "initech");
    let token = api.token().await;
    let export = api.export(&token).await;
    let mut expected = seed_json();
    // The seed, with every `tenant_id` rewritten, comes back as it was.
    fn retenant(value: &mut Value) {
        match value {
            Value::Object(object) => {
                if object.contains_key("tenant_id") {
                    object.insert("tenant_id".to_string(), json!("initech"));
                }
                object.values_mut().for_each(retenant);
            }
            Value::Array(items) => items.iter_mut().for_each(retenant),
            _ => {}
        }
    }
    retenant(&mut expected);
    assert_eq!(export, expected);
    emulator.shutdown().await;
}

#[tokio::test]
async fn state_file_keeps_tenants_across_a_restart() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("state.json");
    let (emulator, api, token) = acme(config().tenant("globex", seed()).state_file(&path)).await;
    assert_eq!(
        api.import(&token, None, &new_user("kept", "kept@example.com"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.delete_user(&token, &customers_pool(), &alice())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let before = api.export(&token).await;
    emulator.shutdown().await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let files: Vec<_> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(files, ["state.json"], "a temporary file was left behind");

    // Restarted with the same seeds, the state file wins; the other tenant is there too, and a
    // tenant new to this run joins the file.
    let restarted = config()
        .tenant("globex", seed())
        .tenant("initech", seed())
        .state_file(&path);
    let (emulator, api, token) = acme(restarted).await;
    assert_eq!(api.export(&token).await, before);
    let globex = Api::new(&emulator.url(), "globex");
    let globex_token = globex.token().await;
    assert_eq!(
        globex.export(&globex_token).await["users"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    emulator.shutdown().await;

    // Without seeds, the tenants come from the state file alone.
    let emulator = start(
        EmulatorConfig::new()
            .client(CLIENT, SECRET, &[])
            .state_file(&path),
    )
    .await;
    let api = Api::new(&emulator.url(), "acme");
    let token = api.token().await;
    assert_eq!(api.export(&token).await, before);
    let served: Vec<String> = emulator
        .tenant_summaries()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(served, ["acme", "globex", "initech"]);
    emulator.shutdown().await;

    std::fs::write(&path, b"{\"version\": 1, \"tenants\": [").unwrap();
    let error = Emulator::start(config().state_file(&path), "127.0.0.1:0".parse().unwrap())
        .await
        .err()
        .unwrap();
    assert!(error.to_string().contains("state.json"), "{error}");
}

#[tokio::test]
async fn request_log_records_each_request() {
    let (emulator, api, token) = acme(config()).await;
    api.export(&token).await;
    let body = merge(&[
        new_user("l1", "l1@example.com"),
        new_user("l2", "l2@example.com"),
    ]);
    api.import(&token, Some("update"), &body).await;
    let log = emulator.request_log();
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str(), log[0].status),
        ("POST", "/acme/system/oauth2/token", 200)
    );
    assert_eq!(
        (
            log[1].method.as_str(),
            log[1].status,
            log[1].users_in_response
        ),
        ("GET", 200, Some(8))
    );
    assert_eq!(log[2].mode.as_deref(), Some("update"));
    assert_eq!(log[2].query.as_deref(), Some("mode=update"));
    assert_eq!(
        (log[2].status, log[2].users_in_body, log[2].fault),
        (204, Some(2), None)
    );
    assert_eq!(log[2].tenant.as_deref(), Some("acme"));
    assert_eq!(
        log.iter().map(|record| record.seq).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    emulator.clear_request_log();
    assert!(emulator.request_log().is_empty());
    emulator.shutdown().await;
}

#[tokio::test]
async fn bodies_above_the_size_limit_get_413() {
    let (emulator, api, token) = acme(config().body_limit(2048)).await;
    let body = merge(&[
        new_user("s1", "s1@example.com"),
        new_user("s2", "s2@example.com"),
    ]);
    assert!(serde_json::to_vec(&body).unwrap().len() > 2048);
    let answer = api.import(&token, None, &body).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.message().contains("2048 bytes"), "{answer:?}");
    emulator.shutdown().await;
}

#[test]
fn background_handle_serves_until_dropped() {
    let handle = Emulator::start_in_background(config()).unwrap();
    let url = handle.url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let api = Api::new(&url, "acme");
        let token = api.token().await;
        assert_eq!(
            api.export(&token).await["users"].as_array().unwrap().len(),
            8
        );
    });
    assert_eq!(handle.request_log().len(), 2);
    assert_eq!(handle.tenant_dump("acme").unwrap().users.len(), 8);
    drop(handle);
    runtime.block_on(async {
        let refused = reqwest::Client::new().get(&url).send().await;
        assert!(refused.is_err(), "still serving after drop");
    });
    let error = Emulator::start_in_background(EmulatorConfig::new())
        .err()
        .unwrap();
    assert!(error.to_string().contains("no tenant"), "{error}");
}

#[tokio::test]
async fn invalid_seed_names_tenant_record_and_field() {
    let mut bad = seed();
    bad.users[2].status = Some("asleep".to_string());
    let error = Emulator::start(
        EmulatorConfig::new().tenant("acme", bad),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("`acme`") && error.contains("`users[2].status`"),
        "{error}"
    );
}

/// Collects what the emulator logs, from every test of this binary.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A global subscriber (a scoped one misses events when other tests run in parallel threads)
/// that keeps poolsync's own events, every level.
fn captured_logs() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("poolsync=trace"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("only this helper sets the global subscriber of the test binary");
        captured
    })
}

#[tokio::test]
async fn logs_show_one_line_per_request_and_no_secret() {
    let captured = captured_logs();
    let secret = "log-secret-value-7f3a";
    let config =
        EmulatorConfig::new()
            .tenant("logtenant", seed())
            .client("log-client", secret, &[]);
    let emulator = start(config).await;
    let api = Api::new(&emulator.url(), "logtenant");
    let answer = api.token_answer("log-client", secret, None).await;
    let token = answer.body["access_token"].as_str().unwrap().to_string();
    let hash = "$2a$10$MARKERMARKERMARKERMARKERMARKERMARKERMARKERMARKERMARKE";
    let mut body = new_user("logged", "logged@example.com");
    for section in [
        "users",
        "user_identifiers",
        "user_verifiable_addresses",
        "user_credentials",
    ] {
        body[section][0]["tenant_id"] = json!("logtenant");
    }
    body["user_credentials"][0]["payload"]["hashed_password"]["value"] = json!(hash);
    let answer = api.import(&token, Some("update"), &body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    body["user_credentials"][0]["payload"] = json!(hash);
    let refused = api.import(&token, Some("update"), &body).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!refused.body.to_string().contains("MARKER"), "{refused:?}");
    api.token_answer("log-client", "wrong-secret-value", None)
        .await;
    emulator.shutdown().await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("PUT /api/identity/system/logtenant/configuration?mode=update 204 users=1"),
        "{logs}"
    );
    let token_lines = logs
        .lines()
        .filter(|line| line.contains(" POST /logtenant/system/oauth2/token "))
        .count();
    assert_eq!(token_lines, 2, "{logs}");
    for hidden in [secret, "wrong-secret-value", token.as_str(), "MARKER"] {
        assert!(!logs.contains(hidden), "`{hidden}` logged:\n{logs}");
    }
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = config();
    config.header_read_timeout = std::time::Duration::from_millis(200);
    config.body_read_timeout = std::time::Duration::from_millis(200);
    let (emulator, _api, token) = acme(config).await;
    let bound = std::time::Duration::from_secs(10);

    // Headers that never end: the connection is closed.
    let mut stream = tokio::net::TcpStream::connect(emulator.addr())
        .await
        .unwrap();
    stream
        .write_all(b"GET /api/identity/acme/configuration HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(bound, stream.read_to_end(&mut answer))
        .await
        .expect("the connection stayed open")
        .ok();
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));

    // A body shorter than announced: 408 once the body timeout passes.
    let mut stream = tokio::net::TcpStream::connect(emulator.addr())
        .await
        .unwrap();
    let request = format!(
        "PUT /api/identity/acme/configuration HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"users\""
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(bound, stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("took too long"), "{answer}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn request_log_keeps_only_the_latest_requests() {
    let mut config = config();
    config.request_log_capacity = 2;
    let (emulator, api, token) = acme(config).await;
    api.export(&token).await;
    api.export_at(&api.current_url(), &token).await;
    let log = emulator.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].seq, log[1].seq), (1, 2));
    assert_eq!(log[1].path, "/api/identity/acme/configuration");
    emulator.shutdown().await;
}
