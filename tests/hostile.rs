//! Hostile and broken input: every file of the corpus under `tests/data/invalid/` and
//! `tests/data/hostile/`, plus generated ones (100,000-deep nesting, a 1 GB string, a 50 MB value
//! in one field after another, and server answers quoting one), gets a clear one-screen error and
//! exit 1, never a panic, a hang or a stack overflow, and nothing is sent to the tenant. Every
//! test bounds the size of what is printed: a value is shown cut, with its size.

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
    assert_one_screen_of_error(&output, &name);
}

/// Exit 1 with `error: …` on stderr, a screen at most (30 lines, 8 KiB), nothing on stdout,
/// never a panic; returns stderr.
fn assert_one_screen_of_error(output: &std::process::Output, name: &str) -> String {
    let text = transcript(output);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{name}: {}",
        &text[..text.len().min(2000)]
    );
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
        "{name}: {} bytes on stdout",
        output.stdout.len()
    );
    stderr
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
            "export: 400 whose message is 50 MB",
            "GET",
            LEGACY_PATH,
            Reply::json(
                400,
                serde_json::json!({"error": fifty_megabytes(), "error_description": fifty_megabytes()}),
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

/// 50 MB of one letter: a value absurd in any field, which every message must cut.
fn fifty_megabytes() -> String {
    "A".repeat(50 << 20)
}

/// Writes `value` as a file of `directory`.
fn write(directory: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let path = directory.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    serde_json::to_writer(&mut file, value).unwrap();
    file.flush().unwrap();
    path
}

/// Runs `poolsync` offline and checks that it refuses with one screen of error at most.
fn assert_one_screen(args: &[&str], name: &str) -> String {
    assert_one_screen_of_error(&crate::support::run(args), name)
}

#[test]
fn a_fifty_megabyte_value_in_any_field_is_cut_to_its_start_and_its_size() {
    use serde_json::json;
    let server = emulator(acme(), |c| c);
    let directory = tempfile::tempdir().unwrap();
    let huge = fifty_megabytes();
    let current = root().join(crate::support::tenant::EXPORT);
    let current = current.to_str().unwrap();
    // Every problem of one document, each quoting a 50 MB value of another field.
    let problems = write(
        directory.path(),
        "problems.json",
        &json!({
            "pools": [{"id": "customers", "name": "Customers"}],
            "users": [
                {"id": "u1", "user_pool_id": "customers", "status": huge},
                {"id": huge, "user_pool_id": "customers", "status": "active"},
                {"id": huge, "user_pool_id": "customers", "status": "active"},
                {"id": "u3", "user_pool_id": huge, "status": "active"}
            ],
            "user_identifiers": [
                {"user_id": "u1", "type": "email", "identifier": huge},
                {"user_id": "u1", "type": huge, "identifier": "a@x.io"},
                {"user_id": format!("{huge}B"), "user_pool_id": "customers", "type": "uid", "identifier": "x"}
            ],
            "user_credentials": [{"user_id": "u1", "type": huge, "payload": {"h": "x"}}]
        }),
    );
    // The parser's own messages quote the value they refuse.
    let wrong_type = write(
        directory.path(),
        "wrong-type.json",
        &json!({
            "users": [{"id": "u1", "user_pool_id": "customers", "status": "active"}],
            "user_verifiable_addresses": [{"user_id": "u1", "type": "email", "address": "a@x.io",
                                           "status": "active", "verified": huge}]
        }),
    );
    let twice = directory.path().join("field-twice.json");
    std::fs::write(&twice, format!("{{\"{huge}\": 1, \"{huge}\": 2}}")).unwrap();

    let file = problems.to_str().unwrap();
    let shown = assert_one_screen(&["validate", file], "validate");
    assert!(shown.contains("(52,428,800 bytes)"), "{shown}");
    for field in [
        "`status`",
        "`identifier`",
        "`type`",
        "`user_pool_id`",
        "`user_id`",
        "`id`",
    ] {
        assert!(shown.contains(field), "{field} is not reported:\n{shown}");
    }
    assert_one_screen(&["diff", current, file], "diff");
    assert_refused(&server, &problems);
    for file in [&wrong_type, &twice] {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let shown = assert_one_screen(&["diff", current, file.to_str().unwrap()], &name);
        assert!(shown.contains("bytes)"), "{name}: {shown}");
        assert_one_screen(&["validate", file.to_str().unwrap()], &name);
        assert_refused(&server, file);
    }
}

#[test]
fn a_fifty_megabyte_value_in_a_plan_line_is_cut_to_its_start_and_its_size() {
    let directory = tempfile::tempdir().unwrap();
    let huge = fifty_megabytes();
    let mut desired = acme();
    // A valid desired file: a free-form field may hold anything, and the plan shows it.
    let user = &mut desired.users[0];
    let payload = user.payload.get_or_insert_with(Default::default);
    payload.insert("given_name".into(), serde_json::Value::String(huge.clone()));
    payload.insert("note".into(), serde_json::Value::String(huge.clone()));
    let path = crate::support::tenant::write_json(directory.path(), "desired.json", &desired);
    let current = root().join(crate::support::tenant::EXPORT);
    let output = crate::support::run(&["diff", current.to_str().unwrap(), &path]);
    assert_eq!(output.status.code(), Some(0));
    let plan = String::from_utf8_lossy(&output.stdout);
    assert!(plan.len() <= 8 * 1024, "{} bytes of plan", plan.len());
    assert!(plan.contains("(52,428,802 bytes)"), "{plan}");
    assert!(
        output.stderr.len() <= 1024,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn what_would_need_more_memory_than_allowed_is_refused_before_it_starts() {
    // More ignore paths than rows hold: the whole-document path, at 8 bytes of memory a byte.
    let current = crate::support::path(crate::support::tenant::EXPORT);
    let desired = crate::support::path(crate::support::tenant::CHANGES);
    let ignores: Vec<String> = (0..65).map(|n| format!("--ignore=/x{n}")).collect();
    let mut args = vec![
        "diff",
        current.as_str(),
        desired.as_str(),
        "--max-memory",
        "64K",
    ];
    args.extend(ignores.iter().map(String::as_str));
    let output = crate::support::snapshot_run("diff_over_the_memory_budget", &args);
    let stderr = assert_one_screen_of_error(&output, "over the budget");
    assert!(stderr.contains("`--max-memory SIZE`"), "{stderr}");
    // With room enough, the same plan is made.
    let mut args = vec![
        "diff",
        current.as_str(),
        desired.as_str(),
        "--max-memory",
        "1G",
    ];
    args.extend(ignores.iter().map(String::as_str));
    assert_eq!(crate::support::run(&args).status.code(), Some(0));
}
