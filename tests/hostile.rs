//! Hostile and broken input: every file of the corpus under `tests/data/invalid/` and
//! `tests/data/hostile/`, plus generated ones (100,000-deep nesting, a 1 GB string), gets a
//! clear one-screen error and exit 1 from `apply`, never a panic, a hang or a stack overflow,
//! and nothing is sent to the tenant.

use crate::support::tenant::{acme, emulator, run};
use crate::support::{root, transcript};
use std::io::Write;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for directory in ["tests/data/invalid", "tests/data/hostile"] {
        for entry in std::fs::read_dir(root().join(directory)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    files.sort();
    files
}

fn assert_refused(server: &poolsync::emulator::EmulatorHandle, file: &Path) {
    let output = run(
        server,
        &[
            "apply",
            "--desired",
            file.to_str().unwrap(),
            "--auto-approve",
        ],
    );
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let text = transcript(&output);
    assert_eq!(output.status.code(), Some(1), "{name}: {text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "{name}: {stderr}");
    assert!(
        !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
        "{name}: {text}"
    );
    assert!(
        stderr.lines().count() <= 30,
        "{name}: more than a screen:\n{stderr}"
    );
    assert!(
        stderr.len() <= 8 * 1024,
        "{name}: {} bytes of error",
        stderr.len()
    );
    assert!(
        output.stdout.is_empty(),
        "{name}: nothing on stdout: {text}"
    );
}

#[test]
fn every_broken_desired_file_is_refused_clearly_and_nothing_is_sent() {
    let server = emulator(acme(), |c| c);
    let files = corpus();
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    for file in &files {
        assert_refused(&server, file);
    }
    let writes = server
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && r.method != "POST")
        .count();
    assert_eq!(writes, 0, "nothing was sent to the tenant");
}

#[test]
fn deep_nesting_and_a_one_gigabyte_string_are_refused() {
    let server = emulator(acme(), |c| c);
    let directory = tempfile::tempdir().unwrap();
    let deep = directory.path().join("deep.json");
    let nesting = 100_000;
    std::fs::write(
        &deep,
        format!(
            "{{\"users\": [{{\"id\": \"u\", \"user_pool_id\": \"customers\", \"status\": \"active\", \"payload\": {{\"a\": {}{}}}}}]}}",
            "[".repeat(nesting),
            "]".repeat(nesting)
        ),
    )
    .unwrap();
    assert_refused(&server, &deep);

    // A user id of 1 GiB: valid JSON, absurd data.
    let huge = directory.path().join("huge.json");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&huge).unwrap());
    file.write_all(
        b"{\"users\": [{\"user_pool_id\": \"customers\", \"status\": \"active\", \"id\": \"",
    )
    .unwrap();
    let block = vec![b'a'; 1 << 20];
    for _ in 0..1024 {
        file.write_all(&block).unwrap();
    }
    file.write_all(b"\"}]}").unwrap();
    drop(file);
    assert_refused(&server, &huge);
    assert!(
        server
            .request_log()
            .iter()
            .all(|r| r.method == "GET" || r.method == "POST")
    );
}

/// Broken answers from the server (or from a proxy in front of it): each ends `plan` and
/// `apply` with a clear one-screen error and exit 1, and apply sends nothing.
#[test]
fn broken_server_answers_end_with_a_clear_error_and_nothing_sent() {
    use crate::client::server::{
        CLIENT_SECRET, CURRENT_PATH, LEGACY_PATH, Reply, StubServer, TENANT, TOKEN_PATH,
    };
    let deep = format!(
        "{{\"users\": [{{\"payload\": {}{}}}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let html = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>";
    let cases: Vec<(&str, &str, &str, Reply)> = vec![
        (
            "export: proxy HTML page with 200",
            "GET",
            LEGACY_PATH,
            Reply::status(200)
                .header("content-type", "text/html")
                .body(html),
        ),
        ("export: empty 200", "GET", LEGACY_PATH, Reply::status(200)),
        (
            "export: truncated JSON",
            "GET",
            LEGACY_PATH,
            Reply::status(200).body("{\"users\": [{\"id\": \"u"),
        ),
        (
            "export: cut-off body",
            "GET",
            LEGACY_PATH,
            Reply::status(200).body("{\"users\": [").cut_off(1000),
        ),
        (
            "export: a JSON array",
            "GET",
            LEGACY_PATH,
            Reply::json(200, serde_json::json!([1, 2])),
        ),
        (
            "export: deep nesting",
            "GET",
            LEGACY_PATH,
            Reply::status(200).body(deep.clone()),
        ),
        (
            "export: invalid UTF-8",
            "GET",
            LEGACY_PATH,
            Reply::status(200).body(b"{\"users\": [{\"id\": \"\xff\"}]}".to_vec()),
        ),
        (
            "export: 502 HTML, every time",
            "GET",
            LEGACY_PATH,
            Reply::status(502)
                .header("content-type", "text/html")
                .body(html),
        ),
        (
            "export: 403 JSON error",
            "GET",
            LEGACY_PATH,
            Reply::json(
                403,
                serde_json::json!({"error": "forbidden", "status_code": 403}),
            ),
        ),
        (
            "export: 401 every time",
            "GET",
            LEGACY_PATH,
            Reply::status(401),
        ),
        (
            "export: dropped connection, every time",
            "GET",
            LEGACY_PATH,
            Reply::Drop,
        ),
        (
            "token: HTML page",
            "POST",
            TOKEN_PATH,
            Reply::status(200)
                .header("content-type", "text/html")
                .body(html),
        ),
        ("token: empty 200", "POST", TOKEN_PATH, Reply::status(200)),
        (
            "token: no access_token",
            "POST",
            TOKEN_PATH,
            Reply::json(200, serde_json::json!({"token_type": "bearer"})),
        ),
        (
            "token: 500 plain text",
            "POST",
            TOKEN_PATH,
            Reply::status(500).body("internal error"),
        ),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (name, method, path, reply) in cases {
        let server = runtime.block_on(StubServer::start());
        server.on("GET", CURRENT_PATH, [Reply::status(404)]);
        server.on(method, path, [reply]);
        for command in [
            &["plan", "--desired", crate::support::tenant::CHANGES][..],
            &[
                "apply",
                "--desired",
                crate::support::tenant::CHANGES,
                "--auto-approve",
            ],
        ] {
            let output = crate::support::poolsync()
                .env("POOLSYNC_URL", server.url())
                .env("POOLSYNC_TENANT", TENANT)
                .env("POOLSYNC_CLIENT_ID", "poolsync-test")
                .env("POOLSYNC_CLIENT_SECRET", CLIENT_SECRET)
                .args(command)
                .args(["--timeout", "5s"])
                .output()
                .unwrap();
            let text = transcript(&output);
            assert_eq!(output.status.code(), Some(1), "{name}: {text}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.starts_with("error: "), "{name}: {stderr}");
            assert!(
                stderr.lines().count() <= 12,
                "{name}: more than a screen:\n{stderr}"
            );
            assert!(
                !text.contains("panicked") && !text.contains(CLIENT_SECRET),
                "{name}: {text}"
            );
            assert!(
                stderr.len() <= 2000,
                "{name}: a whole answer was dumped: {stderr}"
            );
        }
        assert!(
            server
                .requests()
                .iter()
                .all(|r| r.method != "PUT" && r.method != "DELETE"),
            "{name}: something was sent"
        );
    }
}
