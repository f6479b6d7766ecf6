//! `apply --canaries` and `migrate --canaries`: the canary accounts' sign-ins checked after the
//! apply was verified, in the report (text and JSON), with exit code 5 when one fails.

use super::check_logins::{
    PASSWORDS, assert_no_password, bad_canaries, canary_file, good_canaries, tenant,
};
use crate::support::schemas::{apply_validator, assert_valid};
use crate::support::tenant::{emulator, pools_only, run, write_json};
use crate::support::{snapshot_output, transcript};
use std::process::Output;

fn checked(output: &Output) -> String {
    let everything = transcript(output);
    assert_no_password("apply --canaries", &everything);
    everything
}

#[test]
fn apply_checks_the_canaries_once_the_tenant_is_verified() {
    let server = emulator(pools_only(), |config| config);
    let directory = tempfile::tempdir().unwrap();
    let desired = write_json(directory.path(), "desired.json", &tenant());
    // Every row names its pool, so that the whole tenant is applied.
    let good = good_canaries().replace(",\n", ",customers\n");
    let good = canary_file(directory.path(), "good.csv", &good, 0o600);
    let bad = canary_file(directory.path(), "bad.csv", &bad_canaries(), 0o600);

    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            &desired,
            "--auto-approve",
            "--canaries",
            good.to_str().unwrap(),
        ],
    );
    let text = checked(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let applied = stdout.find("Apply complete").expect(&text);
    let canaries = stdout.find("Canary logins in tenant").expect(&text);
    assert!(applied < canaries, "canaries come after the verified apply");
    assert!(stdout.contains("all 3 canaries passed"), "{text}");
    let verifies = |server: &poolsync::emulator::EmulatorHandle| {
        server
            .request_log()
            .into_iter()
            .filter(|record| record.path.ends_with("/verify"))
            .count()
    };
    assert_eq!(verifies(&server), 3);

    // Nothing left to apply: the canaries are still checked, and a failing one exits 5.
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            &desired,
            "--auto-approve",
            "--canaries",
            bad.to_str().unwrap(),
            "--pool",
            "customers",
        ],
    );
    checked(&output);
    assert_eq!(output.status.code(), Some(5), "{}", transcript(&output));
    snapshot_output("apply_canaries_fail_nothing_to_apply", &output);
    assert_eq!(verifies(&server), 3 + 5);
}

#[test]
fn a_failed_canary_after_an_apply_exits_5_and_the_json_report_carries_it() {
    let server = emulator(pools_only(), |config| config);
    let directory = tempfile::tempdir().unwrap();
    let desired = write_json(directory.path(), "desired.json", &tenant());
    let bad = canary_file(directory.path(), "bad.csv", &bad_canaries(), 0o600);
    let output = run(
        &server,
        &[
            "apply",
            "--desired",
            &desired,
            "--auto-approve",
            "--json",
            "--redact-pii",
            "--pool",
            "customers",
            "--canaries",
            bad.to_str().unwrap(),
        ],
    );
    let text = checked(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_valid(&apply_validator(), &report, "apply --json --canaries");
    let customers = tenant()
        .users
        .iter()
        .filter(|user| user.user_pool_id.as_deref() == Some("customers"))
        .count();
    assert_eq!(report["apply"]["created"], customers, "{report:#}");
    assert_eq!(report["canaries"]["passed"], false);
    assert_eq!(report["canaries"]["summary"]["password_correct"], 1);
    assert!(!report.to_string().contains("jensen"), "masked: {report:#}");
}

#[test]
fn a_broken_canary_file_stops_the_apply_before_anything_is_sent() {
    let server = emulator(pools_only(), |config| config);
    let directory = tempfile::tempdir().unwrap();
    let desired = write_json(directory.path(), "desired.json", &tenant());
    let broken = canary_file(
        directory.path(),
        "broken.csv",
        &format!("identifier,secret\nalice@example.com,{}\n", PASSWORDS[0]),
        0o600,
    );
    let apply_with = |canaries: &std::path::Path| {
        let output = run(
            &server,
            &[
                "apply",
                "--desired",
                &desired,
                "--auto-approve",
                "--canaries",
                canaries.to_str().unwrap(),
            ],
        );
        checked(&output);
        output
    };
    let output = apply_with(&broken);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unknown column `secret`"),
        "{}",
        transcript(&output)
    );
    assert!(
        server.request_log().is_empty(),
        "nothing was asked of the tenant"
    );

    // A row without a pool, and no single `--pool` to take it from.
    let no_pool = canary_file(
        directory.path(),
        "no-pool.csv",
        &format!("identifier,password\nalice@example.com,{}\n", PASSWORDS[0]),
        0o600,
    );
    let output = apply_with(&no_pool);
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    snapshot_output("apply_canaries_without_pool", &output);
    assert!(server.request_log().is_empty());
}

#[test]
fn a_whole_migration_from_auth0_rehearsed_on_the_command_line_ends_green() {
    use serde_json::json;
    let server = emulator(pools_only(), |config| config);
    let directory = tempfile::tempdir().unwrap();
    let folder = directory.path();
    let users = [
        ("auth0|65f0a1", "amira.haddad@example.com", PASSWORDS[0]),
        ("auth0|65f0a2", "jonas.berg@example.org", PASSWORDS[1]),
    ];
    let mut export = String::new();
    let mut hashes = String::new();
    for (user_id, email, password) in users {
        let id = user_id.trim_start_matches("auth0|");
        export.push_str(&format!(
            "{}\n",
            json!({"user_id": user_id, "email": email, "email_verified": true,
                   "identities": [{"provider": "auth0", "user_id": id,
                                   "connection": "Username-Password-Authentication"}]})
        ));
        let hash = bcrypt::hash(password, 4).unwrap();
        hashes.push_str(&format!(
            "{}\n",
            json!({"_id": {"$oid": id}, "passwordHash": hash})
        ));
    }
    let file = |name: &str, text: &str| {
        let path = folder.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let export = file("users.json", &export);
    let hashes = file("passwords.json", &hashes);
    let canaries = canary_file(
        folder,
        "canaries.csv",
        &format!(
            "identifier,password\nAMIRA.haddad@example.com,{}\njonas.berg@example.org,{}\n",
            PASSWORDS[0], PASSWORDS[1]
        ),
        0o600,
    );
    let desired = folder.join("desired.json").display().to_string();

    let steps: [(&[&str], i32); 4] = [
        (
            &[
                "convert",
                "auth0",
                &export,
                "--passwords",
                &hashes,
                "--pool",
                "customers",
                "-o",
                &desired,
            ],
            0,
        ),
        (&["plan", "--desired", &desired, "--detailed-exitcode"], 2),
        (
            &[
                "apply",
                "--desired",
                &desired,
                "--auto-approve",
                "--pool",
                "customers",
                "--canaries",
                canaries.to_str().unwrap(),
            ],
            0,
        ),
        (&["plan", "--desired", &desired, "--detailed-exitcode"], 0),
    ];
    for (args, code) in steps {
        let output = run(&server, args);
        let text = checked(&output);
        assert!(!text.contains("$2b$"), "a hash leaked:\n{text}");
        assert_eq!(output.status.code(), Some(code), "{args:?}:\n{text}");
    }
}
