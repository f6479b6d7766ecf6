//! End-to-end tests of `apply --prune` against the emulator: guard rails, backup, restore.

use crate::support::tenant::{CHANGES, TENANT, acme, emulator, run};
use crate::support::{snapshot_settings, transcript};
use poolsync::diff::{DiffOptions, diff};
use poolsync::emulator::FaultConfig;
use poolsync::load::read_dump;

fn deletes(server: &poolsync::emulator::EmulatorHandle) -> Vec<u16> {
    server
        .request_log()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.status)
        .collect()
}

#[test]
fn plan_with_prune_shows_deletes_and_counts_them() {
    let server = emulator(acme(), |c| c);
    let output = run(
        &server,
        &[
            "plan",
            "--desired",
            CHANGES,
            "--prune",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", transcript(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Plan: 2 to create, 4 to update, 2 to delete. 2 unchanged, 0 unmanaged"),
        "{stdout}"
    );
    let deleted: Vec<&str> = stdout
        .lines()
        .filter(|l| l.ends_with("will be deleted"))
        .collect();
    snapshot_settings().bind(|| insta::assert_snapshot!("prune_plan_deletes", deleted.join("\n")));
}

#[test]
fn prune_is_refused_without_max_deletes_and_above_it() {
    let server = emulator(acme(), |c| c);
    let output = run(
        &server,
        &["apply", "--desired", CHANGES, "--prune", "--auto-approve"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    snapshot_settings().bind(|| insta::assert_snapshot!("prune_needs_max_deletes", stderr));
    let over = run(
        &server,
        &[
            "apply",
            "--desired",
            CHANGES,
            "--prune",
            "--max-deletes",
            "1",
            "--auto-approve",
        ],
    );
    assert_eq!(over.status.code(), Some(1), "{}", transcript(&over));
    assert!(String::from_utf8_lossy(&over.stderr).contains("more than `--max-deletes 1`"));
    assert!(
        server
            .request_log()
            .iter()
            .all(|r| r.method == "GET" || r.method == "POST"),
        "nothing was written"
    );
}

#[test]
fn prune_refuses_to_empty_a_pool_the_desired_file_left_empty() {
    let server = emulator(acme(), |c| c);
    let directory = tempfile::tempdir().unwrap();
    let mut desired = read_dump(&crate::support::root().join(CHANGES)).unwrap();
    let partners: Vec<String> = desired
        .users
        .iter()
        .filter(|u| u.user_pool_id.as_deref() == Some("partners"))
        .filter_map(|u| u.id.clone())
        .collect();
    desired
        .users
        .retain(|u| u.user_pool_id.as_deref() != Some("partners"));
    desired
        .user_identifiers
        .retain(|r| !partners.contains(r.user_id.as_ref().unwrap()));
    desired
        .user_verifiable_addresses
        .retain(|r| !partners.contains(r.user_id.as_ref().unwrap()));
    desired
        .user_credentials
        .retain(|r| !partners.contains(r.user_id.as_ref().unwrap()));
    let path = directory.path().join("truncated.json");
    std::fs::write(&path, serde_json::to_vec(&desired).unwrap()).unwrap();
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            path.to_str().unwrap(),
            "--prune",
            "--max-deletes",
            "100",
            "--auto-approve",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no users in `partners`"), "{stderr}");
    assert!(deletes(&server).is_empty());
}

#[test]
fn prune_backs_up_deletes_protects_and_the_backup_restores_exactly() {
    let server = emulator(acme(), |c| {
        c.faults(FaultConfig {
            seed: 5,
            drop_connection: 0.2,
            ..FaultConfig::default()
        })
    });
    let directory = tempfile::tempdir().unwrap();
    let backup = directory.path().join("backup.json");
    let before = server.tenant_dump(TENANT).unwrap();
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            CHANGES,
            "--prune",
            "--max-deletes",
            "5",
            "--protect",
            "hiro.*@reseller.example",
            "--backup",
            backup.to_str().unwrap(),
            "--auto-approve",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("Apply complete: 2 created, 4 updated, 1 deleted, verified."),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("backup.json"),
        "the backup path is printed"
    );
    assert!(deletes(&server).iter().all(|s| *s == 204 || *s == 404));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let saved = read_dump(&backup).unwrap();
    assert_eq!(saved.users.len(), 1);
    assert!(
        saved.user_credentials.iter().all(|c| c.payload.is_some()),
        "the backup holds the whole user"
    );
    let after = server.tenant_dump(TENANT).unwrap();
    assert_eq!(
        after.users.len(),
        9,
        "10 after creates, minus the one unprotected delete"
    );

    // Restoring the backup brings the user back exactly as it was.
    let restore = run(
        &server,
        &[
            "apply",
            "--desired",
            backup.to_str().unwrap(),
            "--auto-approve",
        ],
    );
    assert_eq!(restore.status.code(), Some(0), "{}", transcript(&restore));
    let restored = server.tenant_dump(TENANT).unwrap();
    let keys: Vec<(String, String)> = saved
        .users
        .iter()
        .map(|u| (u.user_pool_id.clone().unwrap(), u.id.clone().unwrap()))
        .collect();
    let only_deleted = poolsync::export::extract_users(&before, &keys);
    let check = diff(&restored, &only_deleted, &DiffOptions::default()).unwrap();
    assert_eq!(check.summary.update + check.summary.create, 0, "{check:#?}");
}
