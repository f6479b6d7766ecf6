//! What poolsync gives the shell and the manual: completion scripts and man pages generated from
//! the command line's definition, and the help they are made from.

use crate::support::{run, snapshot_run};

const COMMANDS: &[&str] = &[
    "diff",
    "validate",
    "export",
    "plan",
    "apply",
    "migrate",
    "convert",
    "check-logins",
    "emulate",
    "completions",
    "man",
];

#[test]
fn the_help_lists_every_command() {
    let output = snapshot_run("cli_help", &["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for command in COMMANDS {
        assert!(
            text.contains(&format!("\n  {command} ")),
            "{command}:\n{text}"
        );
    }
}

#[test]
fn apply_help_names_its_choices_and_defaults() {
    let output = snapshot_run("cli_help_apply", &["apply", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let output = snapshot_run("cli_help_migrate", &["migrate", "--help"]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_value_outside_a_choice_is_a_usage_error_naming_the_choices() {
    let output = snapshot_run(
        "cli_bad_choice",
        &["apply", "--desired", "x.json", "--mode", "upsert"],
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn every_shell_gets_a_completion_script_with_every_command_and_option() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = run(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        for word in COMMANDS
            .iter()
            .chain(&["desired", "auto-approve", "redact-pii"])
        {
            assert!(script.contains(word), "{shell} lacks `{word}`");
        }
    }
    let bash = String::from_utf8(run(&["completions", "bash"]).stdout).unwrap();
    assert!(bash.contains("complete -F _poolsync"), "{bash}");
    let unknown = run(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn the_man_page_documents_every_command_and_one_page_each_can_be_written() {
    let output = run(&["man"]);
    assert_eq!(output.status.code(), Some(0));
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq \\(aq") || page.contains(".TH poolsync 1"),
        "{page}"
    );
    assert!(page.contains(".TH poolsync 1"), "{page}");
    for command in COMMANDS {
        // roff writes a hyphen as `\-`.
        assert!(page.contains(&command.replace('-', "\\-")), "{command}");
    }
    let apply = String::from_utf8(run(&["man", "apply"]).stdout).unwrap();
    assert!(apply.contains(".TH poolsync-apply 1"), "{apply}");
    assert!(apply.contains("max\\-deletes"), "{apply}");

    let folder = tempfile::tempdir().unwrap();
    let output = run(&["man", "--out-dir", folder.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    for name in ["poolsync.1", "poolsync-apply.1", "poolsync-migrate.1"] {
        let page = std::fs::read_to_string(folder.path().join(name)).unwrap();
        assert!(page.contains(".TH"), "{name}");
    }

    let output = snapshot_run("cli_man_unknown_command", &["man", "nope"]);
    assert_eq!(output.status.code(), Some(1));
}
