//! Interruptions: Ctrl-C stops new batches, keeps the journal and exits 3; `--resume` finishes
//! the job from a fresh export; a run killed outright converges when run again, with no user
//! created twice and none lost.

use crate::support::tenant::{TENANT, emulator, live, synthetic, write_json};
use crate::support::transcript;
use poolsync::emulator::FaultConfig;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits (bounded) until the journal records `batches` finished requests.
fn wait_for_batches(journal: &Path, batches: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(journal).unwrap_or_default();
        if text.matches("\"event\":\"batch\"").count() >= batches {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply ended before it could be interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "no progress in the journal: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn slow_apply(server: &poolsync::emulator::EmulatorHandle, desired: &str, journal: &str) -> Child {
    live(server)
        .args([
            "apply",
            "--desired",
            desired,
            "--auto-approve",
            "--batch-size",
            "10",
            "--parallelism",
            "1",
            "--journal",
            journal,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn counts(server: &poolsync::emulator::EmulatorHandle) -> (usize, usize) {
    let tenant = server.tenant_dump(TENANT).unwrap();
    (tenant.users.len(), tenant.user_identifiers.len())
}

#[test]
fn ctrl_c_stops_cleanly_and_resume_finishes_the_job() {
    let (empty, desired) = synthetic(300);
    let directory = tempfile::tempdir().unwrap();
    let desired_path = write_json(directory.path(), "desired.json", &desired);
    let journal = directory.path().join("apply.journal.jsonl");
    let journal_text = journal.to_str().unwrap();
    let server = emulator(empty, |c| {
        c.faults(FaultConfig {
            latency: Duration::from_millis(60),
            ..FaultConfig::default()
        })
    });
    let mut child = slow_apply(&server, &desired_path, journal_text);
    wait_for_batches(&journal, 2, &mut child);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", transcript(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Apply interrupted"), "{stdout}");
    assert!(
        stdout.contains(&format!("poolsync apply --resume {journal_text}")),
        "{stdout}"
    );
    let (users, _) = counts(&server);
    assert!(users > 0 && users < 300, "stopped part-way: {users} users");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("\"outcome\":\"interrupted\""),
        "{text}"
    );

    let resumed = live(&server)
        .args(["apply", "--resume", journal_text])
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{}", transcript(&resumed));
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        stdout.contains(&format!("Apply complete: {} created", 300 - users)),
        "only what was left: {stdout}"
    );
    assert_eq!(counts(&server), (300, desired.user_identifiers.len()));
}

#[test]
fn a_run_killed_outright_converges_when_run_again() {
    let (empty, desired) = synthetic(300);
    let directory = tempfile::tempdir().unwrap();
    let desired_path = write_json(directory.path(), "desired.json", &desired);
    let journal = directory.path().join("apply.journal.jsonl");
    let server = emulator(empty, |c| {
        c.faults(FaultConfig {
            latency: Duration::from_millis(60),
            ..FaultConfig::default()
        })
    });
    let mut child = slow_apply(&server, &desired_path, journal.to_str().unwrap());
    wait_for_batches(&journal, 3, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let (users, _) = counts(&server);
    assert!(users < 300, "killed part-way: {users} users");

    let again = live(&server)
        .args(["apply", "--desired", &desired_path, "--auto-approve"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
    assert_eq!(
        counts(&server),
        (300, desired.user_identifiers.len()),
        "no user created twice, none lost"
    );
}

#[test]
fn resume_refuses_a_changed_desired_file() {
    let (empty, desired) = synthetic(20);
    let directory = tempfile::tempdir().unwrap();
    let desired_path = write_json(directory.path(), "desired.json", &desired);
    let journal = directory.path().join("apply.journal.jsonl");
    let server = emulator(empty, |c| c);
    let first = live(&server)
        .args([
            "apply",
            "--desired",
            &desired_path,
            "--auto-approve",
            "--journal",
            journal.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", transcript(&first));
    std::fs::write(&desired_path, b"{}").unwrap();
    let resumed = live(&server)
        .args(["apply", "--resume", journal.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(4), "{}", transcript(&resumed));
}

#[test]
fn a_second_ctrl_c_abandons_requests_in_flight_and_the_verdict_still_comes_from_the_tenant() {
    let (empty, desired) = synthetic(300);
    let directory = tempfile::tempdir().unwrap();
    let desired_path = write_json(directory.path(), "desired.json", &desired);
    let journal = directory.path().join("apply.journal.jsonl");
    let server = emulator(empty, |c| {
        c.faults(FaultConfig {
            latency: Duration::from_millis(400),
            ..FaultConfig::default()
        })
    });
    let mut child = slow_apply(&server, &desired_path, journal.to_str().unwrap());
    wait_for_batches(&journal, 1, &mut child);
    for _ in 0..2 {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", transcript(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Apply interrupted"), "{stdout}");
    // The report counts what the tenant held at the verifying export: at least the finished
    // batch, at most what the tenant holds once an abandoned request may have landed too.
    let created: usize = stdout
        .split("Apply incomplete: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.replace(',', "").parse().ok())
        .expect("the report counts the users created");
    let (users, _) = counts(&server);
    assert!(
        (10..=users).contains(&created),
        "{created} reported, {users} in the tenant: {stdout}"
    );
    assert!(users < 300, "the run stopped early");
}
