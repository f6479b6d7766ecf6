//! Hostile and broken input: every file of the corpus under `tests/data/invalid/` and
//! `tests/data/hostile/`, plus generated ones (100,000-deep nesting, a 1 GB string), gets a
//! clear one-screen error and exit 1 from `apply`, never a panic, a hang or a stack overflow,
//! and nothing is sent to the tenant.

use crate::live::{acme, emulator, run};
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
