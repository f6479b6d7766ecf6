//! End-to-end tests of the commands that need no server: `diff` and `validate`, run as the real
//! binary, with stdout, stderr and exit code snapshotted together.

use crate::support::{
    path, poolsync, run, snapshot_run as snapshot, snapshot_settings, transcript,
};
use std::io::Write;

const EXPORT: &str = "examples/acme/export.json";
const CHANGES: &str = "examples/acme/desired-changes.json";
const UNCHANGED: &str = "examples/acme/desired-unchanged.json";

#[test]
fn diff_prints_the_plan_and_exits_0_without_detailed_exitcode() {
    let output = snapshot("cli_diff_changes", &["diff", EXPORT, CHANGES]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn detailed_exitcode_is_2_with_changes_and_0_without() {
    let changed = run(&["diff", EXPORT, CHANGES, "--detailed-exitcode"]);
    assert_eq!(changed.status.code(), Some(2));
    let unchanged = run(&["diff", EXPORT, UNCHANGED, "--detailed-exitcode"]);
    assert_eq!(unchanged.status.code(), Some(0));
}

#[test]
fn unmanaged_users_alone_are_not_changes() {
    let directory = tempfile::tempdir().unwrap();
    let mut desired: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path(UNCHANGED)).unwrap()).unwrap();
    let dropped = desired["users"].as_array_mut().unwrap().remove(0);
    for array in [
        "user_identifiers",
        "user_verifiable_addresses",
        "user_credentials",
    ] {
        desired[array]
            .as_array_mut()
            .unwrap()
            .retain(|record| record["user_id"] != dropped["id"]);
    }
    let desired_path = directory.path().join("desired.json");
    std::fs::write(&desired_path, serde_json::to_vec(&desired).unwrap()).unwrap();
    let output = run(&[
        "diff",
        EXPORT,
        desired_path.to_str().unwrap(),
        "--detailed-exitcode",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("0 to create, 0 to update. 7 unchanged, 1 unmanaged"),
        "{stdout}"
    );
}

#[test]
fn json_output_is_the_versioned_plan() {
    let output = run(&["diff", EXPORT, CHANGES, "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["format_version"], "1");
    assert_eq!(
        plan["summary"],
        serde_json::json!({"create": 2, "update": 4, "unchanged": 2, "unmanaged": 2, "delete": 0})
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        !text.contains("$2a$"),
        "a password hash leaked into the JSON plan"
    );
}

#[test]
fn no_password_hash_appears_in_any_diff_output() {
    for args in [
        vec!["diff", EXPORT, CHANGES, "--full"],
        vec!["diff", EXPORT, CHANGES, "--json"],
        vec!["diff", EXPORT, CHANGES, "-vvv"],
    ] {
        let output = run(&args);
        let everything = transcript(&output);
        assert!(
            !everything.contains("$2a$"),
            "{args:?} leaked a hash:\n{everything}"
        );
        assert!(!everything.contains("notshown"), "{args:?} leaked a code");
    }
}

#[test]
fn global_flags_work_after_the_subcommand_and_color_is_opt_in_off_a_terminal() {
    let plain = run(&["diff", EXPORT, CHANGES]);
    assert!(
        !plain.stdout.contains(&0x1b),
        "no color when stdout is not a terminal"
    );
    let colored = run(&["diff", EXPORT, CHANGES, "--color", "always", "-v"]);
    assert_eq!(colored.status.code(), Some(0));
    assert!(colored.stdout.contains(&0x1b), "--color always colors");
    let no_color = poolsync()
        .args(["--color", "auto", "diff", EXPORT, CHANGES])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!no_color.stdout.contains(&0x1b));
}

#[test]
fn large_plans_are_grouped_unless_full() {
    let grouped = run(&["diff", EXPORT, CHANGES, "--summary-threshold", "2"]);
    let text = String::from_utf8(grouped.stdout).unwrap();
    snapshot_settings().bind(|| insta::assert_snapshot!("cli_diff_grouped", text));
    let full = run(&[
        "diff",
        EXPORT,
        CHANGES,
        "--summary-threshold",
        "2",
        "--full",
    ]);
    assert!(
        !String::from_utf8(full.stdout)
            .unwrap()
            .contains("more like these")
    );
}

#[test]
fn ignore_paths_apply_and_unmatched_ones_warn() {
    let output = run(&[
        "diff",
        EXPORT,
        CHANGES,
        "--ignore",
        "/metadata/last_sync",
        "--ignore",
        "/payload/nickname",
    ]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains("/metadata/last_sync"), "{text}");
    assert!(
        text.contains("warning: ignore path `/payload/nickname` matched nothing"),
        "{text}"
    );
    snapshot(
        "cli_diff_bad_ignore",
        &["diff", EXPORT, CHANGES, "--ignore", "metadata"],
    );
}

#[test]
fn pool_filter_limits_the_plan() {
    let output = run(&["diff", EXPORT, CHANGES, "--pool", "partners", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["summary"]["create"], 1);
    assert_eq!(plan["summary"]["update"], 1);
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["pool_id"] == "partners")
    );
}

#[test]
fn bad_input_files_get_one_clear_error_each() {
    for name in [
        "syntax",
        "wrong-type",
        "invalid-utf8",
        "not-an-object",
        "html",
        "empty",
    ] {
        let file = format!("tests/data/invalid/{name}.json");
        let output = snapshot(
            &format!("cli_diff_invalid_{name}"),
            &["diff", EXPORT, &file],
        );
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("error: "), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let missing = snapshot(
        "cli_diff_missing_file",
        &["diff", EXPORT, "no/such/file.json"],
    );
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn large_garbage_input_is_an_error_not_a_crash() {
    let directory = tempfile::tempdir().unwrap();
    let garbage = directory.path().join("garbage.json");
    let mut file = std::fs::File::create(&garbage).unwrap();
    let block: Vec<u8> = (0..1024 * 1024u64)
        .map(|n| (n.wrapping_mul(7919) % 251) as u8)
        .collect();
    for _ in 0..32 {
        file.write_all(&block).unwrap();
    }
    drop(file);
    let output = run(&["diff", EXPORT, garbage.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("garbage.json:1:"), "{stderr}");
    assert!(stderr.lines().count() < 6, "one screen at most: {stderr}");
}

#[test]
fn an_inconsistent_desired_file_lists_every_problem() {
    let output = snapshot(
        "cli_diff_orphans",
        &["diff", EXPORT, "tests/data/invalid/problems.json"],
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn validate_reports_every_problem_and_exits_1() {
    let output = snapshot(
        "cli_validate_problems",
        &["validate", "tests/data/invalid/problems.json"],
    );
    assert_eq!(output.status.code(), Some(1));
    let syntax = snapshot(
        "cli_validate_syntax",
        &["validate", "tests/data/invalid/syntax.json"],
    );
    assert_eq!(syntax.status.code(), Some(1));
}

#[test]
fn validate_accepts_examples_and_known_pools() {
    let output = snapshot("cli_validate_ok", &["validate", CHANGES]);
    assert_eq!(output.status.code(), Some(0));
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("users.json");
    std::fs::write(
        &file,
        r#"{"users": [{"id": "u1", "user_pool_id": "customers", "status": "active"}]}"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(run(&["validate", file]).status.code(), Some(1));
    assert_eq!(
        run(&["validate", file, "--pool", "customers"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn the_client_secret_is_never_a_flag_and_usage_errors_exit_1() {
    for command in ["plan", "apply", "export"] {
        let help = run(&[command, "--help"]);
        let text = String::from_utf8(help.stdout).unwrap();
        assert!(text.contains("--client-secret-file"), "{command}: {text}");
        assert!(!text.contains("--client-secret <"), "{command}: {text}");
    }
    let output = run(&["plan", "--desired", CHANGES, "--client-secret", "s3cr3t"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a usage error is not exit code 2 (changes)"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("unexpected argument '--client-secret'"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    let timeout = run(&["plan", "--desired", CHANGES, "--timeout", "soon"]);
    assert_eq!(timeout.status.code(), Some(1));
    assert_eq!(run(&["--version"]).status.code(), Some(0));
}

#[test]
fn a_plan_saved_by_an_older_poolsync_is_refused_before_any_connection() {
    let directory = tempfile::tempdir().unwrap();
    let plan = directory.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"kind": "poolsync-plan", "format_version": "1", "tenant": "acme",
            "desired_path": "examples/acme/desired-changes.json", "desired_sha256": "00",
            "summary": {}, "users": []}"#,
    )
    .unwrap();
    let output = run(&["apply", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a plan of format version 1, and this poolsync reads version 2"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: make the plan again"), "{stderr}");
    let not_a_plan = run(&["apply", "examples/acme/export.json"]);
    assert_eq!(not_a_plan.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_a_plan.stderr).contains("is not a poolsync plan"));
}
