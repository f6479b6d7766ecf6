//! End-to-end tests of `export`, `plan` and `apply`: the real binary against the emulator,
//! started by each test on 127.0.0.1:0, over HTTP.

use crate::support::tenant::{
    CHANGES, CLIENT, EXPORT, SECRET, TENANT, UNCHANGED, acme, assert_no_secrets, emulator, live,
    pools_only, run, spawn_emulate, synthetic, write_json,
};
use crate::support::{poolsync, root, snapshot_output as snapshot, transcript};
use poolsync::emulator::{EmulatorHandle, FaultConfig, RateLimit};
use poolsync::load::read_dump;
use poolsync::model::TenantDump;
use std::process::Command;
use std::time::Duration;

fn imports(server: &EmulatorHandle) -> Vec<(Option<String>, Option<usize>, u16)> {
    server
        .request_log()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .map(|r| (r.mode, r.users_in_body, r.status))
        .collect()
}

#[test]
fn plan_apply_plan_converges_and_the_second_plan_is_empty() {
    let server = emulator(acme(), |c| c);
    let plan = run(
        &server,
        &["plan", "--desired", CHANGES, "--detailed-exitcode"],
    );
    assert_eq!(plan.status.code(), Some(2), "{}", transcript(&plan));
    snapshot("live_plan_changes", &plan);

    let apply = run(&server, &["apply", "--desired", CHANGES, "--auto-approve"]);
    assert_eq!(apply.status.code(), Some(0), "{}", transcript(&apply));
    snapshot("live_apply_changes", &apply);
    assert_no_secrets(&apply);
    let stdout = String::from_utf8_lossy(&apply.stdout);
    assert!(
        stdout.contains("Apply complete: 2 created, 4 updated, verified."),
        "{stdout}"
    );
    assert!(
        imports(&server)
            .iter()
            .all(|(mode, _, status)| mode.as_deref() == Some("update") && *status == 204)
    );

    let again = run(
        &server,
        &["plan", "--desired", CHANGES, "--detailed-exitcode"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("No changes"));

    // Users not in the desired file are untouched: import cannot delete.
    let tenant = server.tenant_dump(TENANT).unwrap();
    assert_eq!(tenant.users.len(), 10);
}

#[test]
fn apply_with_nothing_to_do_sends_nothing() {
    let server = emulator(acme(), |c| c);
    let output = run(
        &server,
        &["apply", "--desired", UNCHANGED, "--auto-approve"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    assert!(imports(&server).is_empty());
}

#[test]
fn mode_fail_creates_users_in_a_fresh_tenant() {
    let server = emulator(pools_only(), |c| c);
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            UNCHANGED,
            "--mode",
            "fail",
            "--auto-approve",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    assert!(
        imports(&server)
            .iter()
            .all(|(mode, _, _)| mode.as_deref() == Some("fail"))
    );
    assert_eq!(server.tenant_dump(TENANT).unwrap().users.len(), 8);
    let again = run(
        &server,
        &["plan", "--desired", UNCHANGED, "--detailed-exitcode"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
}

#[test]
fn mode_fail_is_refused_before_sending_when_the_plan_has_updates() {
    let server = emulator(acme(), |c| c);
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            CHANGES,
            "--mode",
            "fail",
            "--auto-approve",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    snapshot("live_apply_fail_mode_refused", &output);
    assert!(imports(&server).is_empty(), "nothing may be sent");
}

#[test]
fn without_a_terminal_apply_refuses_unless_auto_approved() {
    let server = emulator(acme(), |c| c);
    let output = run(&server, &["apply", "--desired", CHANGES]);
    assert_eq!(output.status.code(), Some(1));
    snapshot("live_apply_needs_approval", &output);
    assert!(imports(&server).is_empty());
}

#[test]
fn the_client_falls_back_to_the_other_path_both_ways() {
    for (legacy, current) in [(false, true), (true, false)] {
        let server = emulator(acme(), |c| c.legacy_path(legacy).current_path(current));
        let output = run(&server, &["apply", "--desired", CHANGES, "--auto-approve"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "legacy={legacy}: {}",
            transcript(&output)
        );
        let log = server.request_log();
        let configuration: Vec<(String, u16)> = log
            .iter()
            .filter(|r| r.path.ends_with("/configuration"))
            .map(|r| (r.path.clone(), r.status))
            .collect();
        let not_found = configuration
            .iter()
            .filter(|(_, status)| *status == 404)
            .count();
        assert_eq!(not_found, usize::from(!legacy), "{configuration:?}");
        assert!(
            configuration
                .iter()
                .filter(|(_, s)| *s != 404)
                .all(|(path, _)| path.contains("/system/") == legacy)
        );
    }
}

#[test]
fn api_path_flag_pins_the_path() {
    let server = emulator(acme(), |c| c.legacy_path(false));
    let output = run(&server, &["export", "--api-path", "legacy"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a pinned path does not fall back"
    );
    let output = run(&server, &["export", "--api-path", "current"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
}

#[test]
fn a_wrong_secret_is_explained_and_never_shown() {
    let server = emulator(acme(), |c| c);
    let output = live(&server)
        .env("POOLSYNC_CLIENT_SECRET", "wrong-secret-value-xyz")
        .args(["plan", "--desired", CHANGES, "-vvv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let everything = transcript(&output);
    assert!(
        !everything.contains("wrong-secret-value-xyz"),
        "{everything}"
    );
    assert!(!everything.contains(SECRET));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last_lines: String = stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.starts_with("hint"))
        .collect::<Vec<_>>()
        .join("\n");
    crate::support::snapshot_text("live_wrong_secret", &last_lines);
}

#[test]
fn an_expired_token_is_renewed_mid_apply() {
    let seed = pools_only();
    let server = emulator(seed, |c| {
        c.token_ttl(Duration::from_secs(1)).faults(FaultConfig {
            latency: Duration::from_millis(150),
            ..FaultConfig::default()
        })
    });
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            UNCHANGED,
            "--auto-approve",
            "--batch-size",
            "1",
            "--parallelism",
            "1",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let tokens = server
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/token"))
        .count();
    assert!(
        tokens >= 2,
        "the token was renewed: {tokens} token requests"
    );
}

#[test]
fn two_thousand_users_go_out_in_batches_of_100() {
    let (empty, desired) = synthetic(2000);
    let directory = tempfile::tempdir().unwrap();
    let desired_path = write_json(directory.path(), "desired.json", &desired);
    let server = emulator(empty, |c| c);
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            &desired_path,
            "--auto-approve",
            "--batch-size",
            "500",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let puts = imports(&server);
    assert_eq!(puts.len(), 20, "{puts:?}");
    assert!(
        puts.iter()
            .all(|(_, users, status)| *users == Some(100) && *status == 204)
    );
    assert_eq!(server.tenant_dump(TENANT).unwrap().users.len(), 2000);
    // All but the few creates the plan showed were read again from the desired file, batch by
    // batch: the tenant holds every record of the desired file.
    let again = run(
        &server,
        &["plan", "--desired", &desired_path, "--detailed-exitcode"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
}

#[test]
fn faults_of_every_kind_end_converged_with_nothing_lost_or_duplicated() {
    let (empty, desired) = synthetic(600);
    let directory = tempfile::tempdir().unwrap();
    let desired_path = write_json(directory.path(), "desired.json", &desired);
    let server = emulator(empty, |c| {
        c.faults(FaultConfig {
            seed: 11,
            rate_limit: Some(RateLimit::EveryNth(4)),
            retry_after_secs: 0,
            error_5xx_before: 0.15,
            error_502_after: 0.15,
            drop_connection: 0.1,
            ..FaultConfig::default()
        })
    });
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            &desired_path,
            "--auto-approve",
            "--batch-size",
            "50",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let faults = server
        .request_log()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(faults > 0, "faults were injected");
    let tenant = server.tenant_dump(TENANT).unwrap();
    assert_eq!(tenant.users.len(), 600, "no user lost or created twice");
    assert_eq!(
        tenant.user_identifiers.len(),
        desired.user_identifiers.len()
    );
    let again = run(
        &server,
        &["plan", "--desired", &desired_path, "--detailed-exitcode"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
}

#[test]
fn a_saved_plan_is_applied_exactly_and_refused_once_stale() {
    let directory = tempfile::tempdir().unwrap();
    let planfile = directory.path().join("acme.plan");
    let planfile = planfile.to_str().unwrap();
    let server = emulator(acme(), |c| c);
    let plan = run(&server, &["plan", "--desired", CHANGES, "-o", planfile]);
    assert_eq!(plan.status.code(), Some(0), "{}", transcript(&plan));
    let saved = std::fs::read_to_string(planfile).unwrap();
    assert!(
        !saved.contains("@example") && !saved.contains("$2a$"),
        "no personal data: {saved}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(planfile).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Someone changes a planned user in the tenant: the saved plan no longer holds.
    let drifted = emulator(acme(), |c| c);
    let directory2 = tempfile::tempdir().unwrap();
    let mut other = read_dump(&root().join(UNCHANGED)).unwrap();
    other
        .users
        .iter_mut()
        .for_each(|u| u.status = Some("inactive".into()));
    let other_path = write_json(directory2.path(), "other.json", &other);
    let changed = run(
        &drifted,
        &["apply", "--desired", &other_path, "--auto-approve"],
    );
    assert_eq!(changed.status.code(), Some(0), "{}", transcript(&changed));
    let stale = run(&drifted, &["apply", planfile]);
    assert_eq!(stale.status.code(), Some(4), "{}", transcript(&stale));
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert!(
        stderr.contains("changed in the tenant since the plan"),
        "{stderr}"
    );

    // On the tenant it was made for, it applies without asking.
    let applied = run(&server, &["apply", planfile]);
    assert_eq!(applied.status.code(), Some(0), "{}", transcript(&applied));
}

#[test]
fn a_saved_plan_is_refused_when_the_desired_file_changed() {
    let directory = tempfile::tempdir().unwrap();
    let desired = directory.path().join("desired.json");
    std::fs::copy(root().join(CHANGES), &desired).unwrap();
    let planfile = directory.path().join("acme.plan");
    let server = emulator(acme(), |c| c);
    let desired = desired.to_str().unwrap();
    let planfile = planfile.to_str().unwrap();
    assert_eq!(
        run(&server, &["plan", "--desired", desired, "-o", planfile])
            .status
            .code(),
        Some(0)
    );
    let mut bytes = std::fs::read(desired).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(desired, bytes).unwrap();
    let output = run(&server, &["apply", planfile]);
    assert_eq!(output.status.code(), Some(4), "{}", transcript(&output));
    assert!(imports(&server).is_empty());
}

#[test]
fn export_writes_a_canonical_private_file_without_codes() {
    let server = emulator(acme(), |c| c);
    let directory = tempfile::tempdir().unwrap();
    let first = directory.path().join("first.json");
    let output = run(&server, &["export", "-o", first.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    assert_no_secrets(&output);
    let stdout = run(&server, &["export"]);
    assert_eq!(stdout.status.code(), Some(0));
    assert_eq!(
        std::fs::read(&first).unwrap(),
        stdout.stdout,
        "file and stdout agree, byte for byte"
    );
    let exported = read_dump(&first).unwrap();
    assert!(exported.codes.is_empty());
    assert_eq!(exported.users.len(), 8);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let partners = run(&server, &["export", "--pool", "partners"]);
    let partners: TenantDump = serde_json::from_slice(&partners.stdout).unwrap();
    assert_eq!(partners.users.len(), 2);
    assert_eq!(partners.pools.len(), 1);
    let unknown = run(&server, &["export", "--pool", "nowhere"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stdout.is_empty());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("has no pool `nowhere`"));
}

/// `poolsync emulate` as people run it: the binary on a free port, then plan and apply against
/// it, then Ctrl-C; with `--state`, a restart keeps what was applied.
#[test]
fn the_emulate_command_serves_until_interrupted_and_keeps_state() {
    let directory = tempfile::tempdir().unwrap();
    let state = directory.path().join("state.json");
    let state = state.to_str().unwrap();
    let start = || {
        let mut command = poolsync();
        command
            .args([
                "emulate",
                "--listen",
                "127.0.0.1:0",
                "--tenant",
                TENANT,
                "--seed",
                EXPORT,
                "--state",
                state,
            ])
            .args(["--client-secret-env", &format!("{CLIENT}:EMULATOR_SECRET")])
            .env("EMULATOR_SECRET", SECRET);
        spawn_emulate(command, |line| {
            assert!(!line.contains(SECRET), "the banner shows no secret: {line}")
        })
    };
    let command = |url: &str, args: &[&str]| {
        poolsync()
            .env("POOLSYNC_URL", url)
            .env("POOLSYNC_TENANT", TENANT)
            .env("POOLSYNC_CLIENT_ID", CLIENT)
            .env("POOLSYNC_CLIENT_SECRET", SECRET)
            .args(args)
            .output()
            .unwrap()
    };

    let emulate = start();
    let applied = command(
        &emulate.url,
        &["apply", "--desired", CHANGES, "--auto-approve"],
    );
    assert_eq!(applied.status.code(), Some(0), "{}", transcript(&applied));
    let lines = emulate.interrupt();
    assert!(
        lines
            .iter()
            .any(|l| l
                .contains("PUT /api/identity/system/acme/configuration?mode=update 204 users=6")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains(SECRET) && !l.contains("$2a$"))
    );

    let emulate = start();
    let plan = command(
        &emulate.url,
        &["plan", "--desired", CHANGES, "--detailed-exitcode"],
    );
    assert_eq!(
        plan.status.code(),
        Some(0),
        "the state survived the restart: {}",
        transcript(&plan)
    );
    emulate.interrupt();
}

/// On a terminal, apply shows the plan and asks; only `yes` goes ahead. (`script` gives the
/// binary a pseudo-terminal, as a person's shell would.)
#[test]
fn on_a_terminal_apply_asks_and_only_yes_applies() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let server = emulator(acme(), |c| c);
    let binary = env!("CARGO_BIN_EXE_poolsync");
    let ask = |answer: &str| {
        let mut child = Command::new("script")
            .env("POOLSYNC_URL", server.url())
            .env("POOLSYNC_TENANT", TENANT)
            .env("POOLSYNC_CLIENT_ID", CLIENT)
            .env("POOLSYNC_CLIENT_SECRET", SECRET)
            .env("POOLSYNC_JOURNAL_DIR", std::env::temp_dir())
            .env("NO_COLOR", "1")
            .current_dir(root())
            .args(["-q", "-e", "-c"])
            .arg(format!("{binary} apply --desired {CHANGES}"))
            .arg("/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let refused = ask("no");
    let text = transcript(&refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(text.contains("Only `yes` will be accepted"), "{text}");
    assert!(
        text.contains("Apply cancelled: nothing was changed."),
        "{text}"
    );
    assert!(imports(&server).is_empty());
    let accepted = ask("yes");
    let text = transcript(&accepted);
    assert_eq!(accepted.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Apply complete: 2 created, 4 updated, verified."),
        "{text}"
    );
}
