//! GitOps output: Markdown plans for pull requests, `--redact-pii`, and the JSON Schemas in
//! `examples/schemas/` checked against real `diff`, `plan` and `apply` output.

use crate::support::{path, root, run, snapshot_settings, transcript};
use poolsync::diff::{DiffOptions, diff};
use poolsync::markdown::{GITHUB_COMMENT_LIMIT, MarkdownOptions, render_markdown};
use poolsync::synth::{DesiredOptions, TenantOptions, desired, tenant};
use serde_json::Value;

const EXPORT: &str = "examples/acme/export.json";
const CHANGES: &str = "examples/acme/desired-changes.json";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn markdown_plan_of_the_example_has_tables_and_a_section_per_pool() {
    let output = run(&["diff", EXPORT, CHANGES, "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let text = stdout(&output);
    snapshot_settings().bind(|| insta::assert_snapshot!("gitops_markdown_small", text));
    assert!(text.contains("| users | 2 | 4 | 0 | 2 | 2 |"), "{text}");
    assert_eq!(text.matches("<details>").count(), 2);
    assert_eq!(text.matches("</details>").count(), 2);
    assert!(!text.contains("$2a$"), "a password hash leaked");
    assert!(text.contains("+ /credentials/password/payload = (sensitive value)"));
    assert!(!text.contains("more users"), "a small plan is shown whole");

    let pruning = stdout(&run(&[
        "diff", EXPORT, CHANGES, "--format", "markdown", "--prune",
    ]));
    assert!(
        pruning.contains("| users | 2 | 4 | 2 | 2 | 0 |"),
        "{pruning}"
    );
    assert!(
        pruning.contains(
            "<summary>Pool <code>customers</code>: 1 to create, 3 to update, 1 to delete</summary>"
        ),
        "{pruning}"
    );
    assert_eq!(pruning.matches(") will be deleted").count(), 2, "{pruning}");
}

#[test]
fn json_flag_and_format_json_print_the_same_plan() {
    let flag = run(&["diff", EXPORT, CHANGES, "--json"]);
    let format = run(&["diff", EXPORT, CHANGES, "--format", "json"]);
    assert_eq!(flag.stdout, format.stdout);
    let both = run(&["diff", EXPORT, CHANGES, "--json", "--format", "text"]);
    assert_eq!(
        both.status.code(),
        Some(1),
        "the two conflict: a usage error"
    );
}

#[test]
fn a_plan_of_ten_thousand_changes_fits_one_github_comment() {
    let current = tenant(&TenantOptions {
        users: 10_000,
        pools: 3,
        ..TenantOptions::default()
    });
    let wanted = desired(
        &current,
        &DesiredOptions {
            update: 1.0,
            create: 0.0,
            drop: 0.0,
            shuffle: false,
            seed: 7,
        },
    );
    let plan = diff(&current, &wanted, &DiffOptions::default()).unwrap();
    assert_eq!(plan.changes.len(), 10_000);
    let mut out = Vec::new();
    render_markdown(&plan, &mut out, &MarkdownOptions::default()).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.chars().count() < GITHUB_COMMENT_LIMIT,
        "{}",
        text.len()
    );
    assert!(text.len() <= MarkdownOptions::default().budget);
    let shown = text.matches("will be updated in-place").count();
    assert!(shown > 50, "only {shown} users shown");
    assert!(
        text.contains(&format!(
            "… and {} more users; run `poolsync plan` locally or see the CI log",
            poolsync::render::thousands(10_000 - shown)
        )),
        "{}",
        &text[text.len() - 300..]
    );
    assert!(text.contains("| users | 0 | 10,000 | 0 | 0 | 0 |"));
    // Every section that was opened is closed, so the comment renders.
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );
    snapshot_settings().bind(|| insta::assert_snapshot!("gitops_markdown_10000", text));
}

/// The example's desired file with one phone number changed, so numbers show in the plan.
fn desired_with_a_new_phone(directory: &std::path::Path) -> String {
    let text = std::fs::read_to_string(root().join(CHANGES)).unwrap();
    assert!(text.contains("+4915112345678"));
    let file = directory.join("desired.json");
    std::fs::write(&file, text.replace("+4915112345678", "+4915112345679")).unwrap();
    file.display().to_string()
}

/// Whether `text` still holds an e-mail address or a `+` followed by a digit.
fn leaks(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .split(|c: char| c.is_whitespace() || "\"`()<>,;".contains(c))
        .flat_map(|token| token.split(':'))
        .filter(|token| poolsync::validate::is_email(token))
        .map(str::to_string)
        .collect();
    let bytes = text.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'+' && bytes.get(index + 1).is_some_and(u8::is_ascii_digit) {
            found.push(text[index..(index + 16).min(text.len())].to_string());
        }
    }
    found
}

#[test]
fn redact_pii_masks_every_address_and_number_the_same_way_in_every_run() {
    let directory = tempfile::tempdir().unwrap();
    let desired = desired_with_a_new_phone(directory.path());
    let plain = stdout(&run(&["diff", EXPORT, &desired]));
    assert!(
        !leaks(&plain).is_empty(),
        "the plan shows addresses unmasked"
    );
    assert!(plain.contains("+4915112345679"));

    for format in ["text", "markdown", "json"] {
        let args = ["diff", EXPORT, &desired, "--redact-pii", "--format", format];
        let first = run(&args);
        assert_eq!(first.status.code(), Some(0), "{}", transcript(&first));
        let text = stdout(&first);
        assert_eq!(leaks(&text), Vec::<String>::new(), "{format}:\n{text}");
        assert!(!text.contains('@'), "{format}:\n{text}");
        assert!(text.contains("<phone:"), "{format}");
        assert_eq!(
            first.stdout,
            run(&args).stdout,
            "{format}: masks are stable"
        );
    }

    let text = stdout(&run(&["diff", EXPORT, &desired, "--redact-pii"]));
    snapshot_settings().bind(|| insta::assert_snapshot!("gitops_redacted_text", text));
    // One user reads the same in its label, its field paths and its values.
    let alice = text
        .lines()
        .find(|line| line.contains("user `6b01877f"))
        .unwrap();
    let mask = &alice[alice.find("(<email:").unwrap() + 1..alice.find(">)").unwrap() + 1];
    let plain_alice = "Alice.Jensen@example.com";
    assert!(plain.contains(plain_alice));
    assert_eq!(
        text.matches(mask).count(),
        plain
            .to_lowercase()
            .matches(&plain_alice.to_lowercase())
            .count()
    );
    // Different users, different masks.
    let mut masks: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("  ") && line.contains(" user `"))
        .filter_map(|line| line.split("(<email:").nth(1))
        .collect();
    let users = masks.len();
    masks.sort();
    masks.dedup();
    assert_eq!(masks.len(), users);
    assert_eq!(users, 7);
}

#[test]
fn redact_pii_masks_errors_too() {
    let directory = tempfile::tempdir().unwrap();
    let mut dump: Value = serde_json::from_slice(&std::fs::read(path(CHANGES)).unwrap()).unwrap();
    let duplicate = dump["user_identifiers"][0].clone();
    let mut second = duplicate.clone();
    second.as_object_mut().unwrap().remove("id");
    dump["user_identifiers"]
        .as_array_mut()
        .unwrap()
        .push(second);
    let file = directory.path().join("desired.json");
    std::fs::write(&file, serde_json::to_vec(&dump).unwrap()).unwrap();
    let file = file.display().to_string();
    let plain = run(&["diff", EXPORT, &file]);
    assert_eq!(plain.status.code(), Some(1));
    let identifier = duplicate["identifier"].as_str().unwrap();
    let stderr = String::from_utf8_lossy(&plain.stderr).to_string();
    assert!(stderr.contains(identifier), "{stderr}");
    let redacted = run(&["diff", EXPORT, &file, "--redact-pii"]);
    assert_eq!(redacted.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&redacted.stderr).to_string();
    assert!(!stderr.contains(identifier), "{stderr}");
    assert!(stderr.contains("error: "), "{stderr}");
}

#[test]
fn hostile_names_cannot_break_the_markdown() {
    let directory = tempfile::tempdir().unwrap();
    let mut dump: Value = serde_json::from_slice(&std::fs::read(path(CHANGES)).unwrap()).unwrap();
    let hostile = "<script>alert(1)</script> | </summary></details> ``` # x";
    let user = dump["users"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|u| u["id"] == "6b01877f-3ce9-5fd1-9363-59bcfe4334f4")
        .unwrap();
    user["payload"]["given_name"] = Value::String(hostile.into());
    user["payload"]["nickname"] = Value::String("line one\n\n## line two".into());
    let file = directory.path().join("desired.json");
    std::fs::write(&file, serde_json::to_vec(&dump).unwrap()).unwrap();
    let output = run(&[
        "diff",
        EXPORT,
        &file.display().to_string(),
        "--format",
        "markdown",
    ]);
    let text = stdout(&output);
    snapshot_settings().bind(|| insta::assert_snapshot!("gitops_markdown_hostile", text));
    // The hostile value only appears JSON-encoded on a line of a `diff` block.
    for line in text.lines().filter(|line| line.contains("<script>")) {
        assert!(
            line.starts_with("+ /payload/given_name = \"<script>"),
            "{line}"
        );
    }
    assert!(!text.contains("\n## line two"));
    assert_eq!(text.lines().filter(|l| *l == "<details>").count(), 2);
    assert_eq!(text.lines().filter(|l| *l == "</details>").count(), 2);
    let fences = text.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(text.lines().filter(|l| *l == "```diff").count() * 2, fences);
}

mod schemas {
    use super::*;
    pub(super) use crate::support::schemas::{
        apply_validator, assert_valid, plan_validator, schema,
    };
    use crate::support::tenant::{acme, emulator, live};
    use poolsync::emulator::EmulatorHandle;

    fn apply_json(server: &EmulatorHandle, args: &[&str]) -> Value {
        let output = live(server)
            .args(["apply", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn diff_json(args: &[&str]) -> Value {
        let output = run(args);
        assert!(
            matches!(output.status.code(), Some(0 | 2)),
            "{}",
            transcript(&output)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    #[test]
    fn every_example_plan_matches_the_plan_schema() {
        let validator = plan_validator();
        let mut checked = 0;
        for entry in std::fs::read_dir(root().join("examples/acme")).unwrap() {
            let file = entry.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("desired-") {
                continue;
            }
            let file = file.display().to_string();
            for extra in [&[][..], &["--prune"], &["--redact-pii"]] {
                let mut args = vec!["diff", EXPORT, &file, "--json"];
                args.extend(extra);
                assert_valid(&validator, &diff_json(&args), &format!("{args:?}"));
                checked += 1;
            }
        }
        assert_eq!(checked, 9);
    }

    #[test]
    fn the_schema_catches_a_property_it_does_not_describe() {
        let validator = plan_validator();
        let mut plan = diff_json(&["diff", EXPORT, CHANGES, "--json", "--prune"]);
        assert_valid(&validator, &plan, "the real plan");
        assert!(
            !plan["deletes"].as_array().unwrap().is_empty(),
            "the pruning plan has deletes"
        );
        for pointer in [
            "",
            "/summary",
            "/changes/0",
            "/changes/0/fields/0",
            "/deletes/0",
        ] {
            let mut drifted = plan.clone();
            drifted
                .pointer_mut(pointer)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert("new_field".into(), Value::Bool(true));
            assert!(
                !validator.is_valid(&drifted),
                "{pointer} accepted new_field"
            );
        }
        plan["format_version"] = Value::String("2".into());
        assert!(
            !validator.is_valid(&plan),
            "a new format version is a new schema"
        );
        assert_eq!(
            schema("plan.schema.json")["properties"]["format_version"]["const"],
            poolsync::plan::FORMAT_VERSION
        );
        assert_eq!(
            schema("apply-report.schema.json")["$defs"]["report"]["properties"]["format_version"]["const"],
            poolsync::apply::REPORT_VERSION
        );
    }

    #[test]
    fn apply_json_matches_the_apply_report_schema() {
        let validator = apply_validator();
        let server = emulator(acme(), |c| c);
        let applied = apply_json(&server, &["--desired", CHANGES, "--auto-approve"]);
        assert_valid(&validator, &applied, "apply with changes");
        assert_eq!(applied["apply"]["created"], 2);
        assert_eq!(applied["apply"]["updated"], 4);
        assert!(!applied["apply"]["batches"].as_array().unwrap().is_empty());
        let again = apply_json(&server, &["--desired", CHANGES, "--auto-approve"]);
        assert_valid(&validator, &again, "apply with nothing to do");
        assert_eq!(again["apply"], Value::Null);
        let redacted = apply_json(
            &emulator(acme(), |c| c),
            &["--desired", CHANGES, "--auto-approve", "--redact-pii"],
        );
        assert_valid(&validator, &redacted, "redacted apply");
        assert!(!redacted.to_string().contains('@'));

        let mut drifted = applied.clone();
        drifted["apply"]["batches"][0]["new_field"] = Value::Bool(true);
        assert!(!validator.is_valid(&drifted));
    }
}

mod workflow {
    use super::*;
    use crate::support::tenant::{acme, emulator};
    use poolsync::emulator::EmulatorHandle;
    use std::path::Path;
    use std::process::{Command, Output};

    const SECRET_REFERENCE: &str = "${{ secrets.POOLSYNC_CLIENT_SECRET }}";

    fn workflow() -> Value {
        let file = root().join("examples/github-actions/poolsync.yml");
        serde_norway::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    }

    fn step<'a>(workflow: &'a Value, job: &str, name: &str) -> &'a Value {
        workflow["jobs"][job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| step["name"] == name)
            .unwrap_or_else(|| panic!("no step `{name}` in job `{job}`"))
    }

    /// Runs a step's script as GitHub does (`bash -eo pipefail`), with the `poolsync` under
    /// test first on the PATH and the emulator as the tenant.
    fn run_step(step: &Value, directory: &Path, server: &EmulatorHandle) -> Output {
        let binary = Path::new(env!("CARGO_BIN_EXE_poolsync"));
        let path = format!(
            "{}:{}",
            binary.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        assert_eq!(step["env"]["POOLSYNC_CLIENT_SECRET"], SECRET_REFERENCE);
        Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
            .arg(step["run"].as_str().unwrap())
            .current_dir(directory)
            .env_clear()
            .env("PATH", path)
            .env("GITHUB_OUTPUT", directory.join("github-output"))
            .env("DESIRED", workflow()["env"]["DESIRED"].as_str().unwrap())
            .env("POOLSYNC_URL", server.url())
            .env("POOLSYNC_TENANT", "acme")
            .env("POOLSYNC_CLIENT_ID", "poolsync-ci")
            .env("POOLSYNC_CLIENT_SECRET", "s3cr3t-client-value-never-shown")
            .env("POOLSYNC_TEST_NO_RETRY_DELAY", "1")
            .output()
            .unwrap()
    }

    #[test]
    fn secrets_reach_poolsync_only_through_the_environment() {
        let workflow = workflow();
        let text = serde_json::to_string(&workflow).unwrap();
        assert_eq!(text.matches("secrets.").count(), 2, "{text}");
        for job in ["plan", "apply"] {
            for step in workflow["jobs"][job]["steps"].as_array().unwrap() {
                let script = step["run"].as_str().unwrap_or_default();
                assert!(!script.contains("secrets."), "{script}");
                assert!(!script.contains("CLIENT_SECRET"), "{script}");
                assert!(!script.contains("--client-secret"), "{script}");
            }
        }
    }

    #[test]
    fn the_workflow_plans_with_exit_code_2_and_applies_the_saved_plan() {
        let workflow = workflow();
        let plan = step(&workflow, "plan", "Plan");
        let script = plan["run"].as_str().unwrap();
        assert!(
            script.contains(
                "poolsync plan --desired \"$DESIRED\" --detailed-exitcode --format markdown --redact-pii -o plan.bin"
            ),
            "{script}"
        );
        let server = emulator(acme(), |c| c);
        let directory = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(directory.path().join("tenant")).unwrap();
        std::fs::copy(
            root().join(CHANGES),
            directory.path().join("tenant/desired.json"),
        )
        .unwrap();

        let planned = run_step(plan, directory.path(), &server);
        assert_eq!(planned.status.code(), Some(0), "{}", transcript(&planned));
        let outputs = std::fs::read_to_string(directory.path().join("github-output")).unwrap();
        assert_eq!(outputs, "exitcode=2\n");
        let comment = std::fs::read_to_string(directory.path().join("plan.md")).unwrap();
        assert!(comment.starts_with(poolsync::markdown::MARKER));
        assert!(comment.contains("**Plan: 2 to create, 4 to update.**"));
        assert!(!comment.contains('@'), "{comment}");
        assert!(directory.path().join("plan.bin").exists());

        let applied = run_step(
            step(&workflow, "apply", "Apply the saved plan"),
            directory.path(),
            &server,
        );
        assert_eq!(applied.status.code(), Some(0), "{}", transcript(&applied));
        let report = String::from_utf8_lossy(&applied.stdout);
        assert!(report.contains("Apply complete: 2 created, 4 updated, verified."));
        assert!(!report.contains('@'), "{report}");

        std::fs::remove_file(directory.path().join("github-output")).unwrap();
        let again = run_step(plan, directory.path(), &server);
        assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
        let outputs = std::fs::read_to_string(directory.path().join("github-output")).unwrap();
        assert_eq!(outputs, "exitcode=0\n", "the second plan is empty");
    }

    #[test]
    fn a_failed_plan_fails_the_step() {
        let workflow = workflow();
        let server = emulator(acme(), |c| c);
        let directory = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(directory.path().join("tenant")).unwrap();
        std::fs::write(directory.path().join("tenant/desired.json"), "{").unwrap();
        let planned = run_step(step(&workflow, "plan", "Plan"), directory.path(), &server);
        assert_eq!(planned.status.code(), Some(1), "{}", transcript(&planned));
    }
}
