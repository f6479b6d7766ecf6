//! Secrets stay in their place: every command, at the most verbose log level, with a known
//! client secret and known password hashes, and neither appears in stdout, stderr, saved plans
//! or error messages. (Exports and backups hold hashes by design; they are written 0600.)

use crate::support::tenant::{CHANGES, acme, emulator};
use crate::support::{poolsync, transcript};
use std::process::Output;

const SECRET: &str = "s3cr3t-client-value-never-shown";
const WRONG_SECRET: &str = "wr0ng-secret-never-shown-either";

fn hashes() -> Vec<String> {
    let export =
        poolsync::load::read_dump(&crate::support::root().join("examples/acme/export.json"))
            .unwrap();
    let desired = poolsync::load::read_dump(&crate::support::root().join(CHANGES)).unwrap();
    export
        .user_credentials
        .iter()
        .chain(&desired.user_credentials)
        .map(|c| {
            c.payload.as_ref().unwrap().0["hashed_password"]["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what}: the client secret leaked");
    assert!(
        !text.contains(WRONG_SECRET),
        "{what}: the wrong secret leaked"
    );
    for hash in hashes() {
        assert!(!text.contains(&hash), "{what}: a password hash leaked");
        // Not even the random part of a bcrypt hash, in case a prefix was cut.
        assert!(
            !text.contains(&hash[7..]),
            "{what}: part of a password hash leaked"
        );
    }
    assert!(
        !text.contains("notshownnotshown"),
        "{what}: a one-time code leaked"
    );
}

#[test]
fn no_command_shows_a_secret_or_a_hash_even_at_trace_level() {
    let server = emulator(acme(), |c| c.client("ops", SECRET, &[]));
    let directory = tempfile::tempdir().unwrap();
    let planfile = directory.path().join("plan.json");
    let planfile = planfile.to_str().unwrap();
    let backup = directory.path().join("backup.json");
    let backup = backup.to_str().unwrap();
    let export = directory.path().join("export.json");
    let export = export.to_str().unwrap();
    let runs: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["diff", "examples/acme/export.json", CHANGES, "--full"],
            SECRET,
        ),
        (
            vec!["diff", "examples/acme/export.json", CHANGES, "--json"],
            SECRET,
        ),
        (vec!["validate", CHANGES], SECRET),
        (vec!["export", "-o", export], SECRET),
        (
            vec!["plan", "--desired", CHANGES, "--full", "-o", planfile],
            SECRET,
        ),
        (vec!["plan", "--desired", CHANGES, "--json"], SECRET),
        (vec!["apply", planfile], SECRET),
        (
            vec![
                "apply",
                "--desired",
                CHANGES,
                "--prune",
                "--max-deletes",
                "5",
                "--backup",
                backup,
                "--auto-approve",
                "--json",
            ],
            SECRET,
        ),
        (vec!["plan", "--desired", CHANGES], WRONG_SECRET),
        (
            vec!["apply", "--desired", CHANGES, "--auto-approve"],
            WRONG_SECRET,
        ),
    ];
    for (args, secret) in runs {
        let output: Output = poolsync()
            .env("POOLSYNC_URL", server.url())
            .env("POOLSYNC_TENANT", "acme")
            .env("POOLSYNC_CLIENT_ID", "ops")
            .env("POOLSYNC_CLIENT_SECRET", secret)
            .env("RUST_LOG", "trace")
            .args(&args)
            .arg("-vvv")
            .output()
            .unwrap();
        let text = transcript(&output);
        assert!(!text.contains("panicked"), "{args:?}: {text}");
        assert_clean(&format!("{args:?}"), &text);
    }
    assert_clean("saved plan", &std::fs::read_to_string(planfile).unwrap());
    #[cfg(unix)]
    for file in [export, backup, planfile] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}
