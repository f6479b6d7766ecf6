//! `poolsync export` end to end: what it prints and writes, against the emulator and against a
//! stub server answering odd and broken documents. The snapshots were taken with the typed
//! export (parse the whole body, filter, sort, serialize) and hold the streamed one to it.

use crate::client::server::{CLIENT_SECRET, CURRENT_PATH, LEGACY_PATH, Reply, StubServer, TENANT};
use crate::support::tenant::{acme, emulator, run};
use crate::support::{poolsync, snapshot_text as snapshot, transcript};
use std::process::Output;

#[test]
fn export_prints_the_canonical_document_and_says_what_it_wrote() {
    let server = emulator(acme(), |c| c);
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("export.json");
    let written = run(&server, &["export", "-o", file.to_str().unwrap()]);
    assert_eq!(written.status.code(), Some(0), "{}", transcript(&written));
    assert!(written.stdout.is_empty());
    snapshot("export_to_file", &transcript(&written));
    let document = std::fs::read_to_string(&file).unwrap();
    snapshot("export_document", &document);

    let partners = directory.path().join("partners.json");
    let filtered = run(
        &server,
        &[
            "export",
            "--pool",
            "partners",
            "-o",
            partners.to_str().unwrap(),
        ],
    );
    assert_eq!(filtered.status.code(), Some(0), "{}", transcript(&filtered));
    snapshot("export_pool_to_file", &transcript(&filtered));
    snapshot(
        "export_pool_document",
        &std::fs::read_to_string(&partners).unwrap(),
    );

    let missing = directory.path().join("missing.json");
    let unknown = run(
        &server,
        &[
            "export",
            "--pool",
            "partners",
            "--pool",
            "nowhere",
            "--pool",
            "elsewhere",
            "-o",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(!missing.exists(), "nothing is written for a missing pool");
    snapshot("export_missing_pools", &transcript(&unknown));
}

/// Runs `poolsync export` against a stub server that answers `body`, to stdout or to a file.
fn export_answering(body: &[u8], args: &[&str], to_file: bool) -> (Output, Option<Vec<u8>>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(StubServer::start());
    server.on("GET", CURRENT_PATH, [Reply::status(404)]);
    server.on(
        "GET",
        LEGACY_PATH,
        [Reply::status(200)
            .header("content-type", "application/json")
            .body(body.to_vec())],
    );
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("export.json");
    let mut command = poolsync();
    command
        .env("POOLSYNC_URL", server.url())
        .env("POOLSYNC_TENANT", TENANT)
        .env("POOLSYNC_CLIENT_ID", "poolsync-test")
        .env("POOLSYNC_CLIENT_SECRET", CLIENT_SECRET)
        .args(["export", "--timeout", "5s"])
        .args(args);
    if to_file {
        command.args(["-o", file.to_str().unwrap()]);
    }
    let mut output = command.output().unwrap();
    // The port differs from run to run.
    output.stderr = String::from_utf8_lossy(&output.stderr)
        .replace(&server.url(), "http://127.0.0.1:[PORT]")
        .into_bytes();
    let written = std::fs::read(&file).ok();
    (output, written)
}

/// Documents the typed parser refuses, each for another reason; the message names the place.
fn broken() -> Vec<(&'static str, Vec<u8>)> {
    // serde_json refuses the 128th level of nesting, counted from the document's root: this
    // user is fine on its own but one level too deep inside the document.
    let deep = format!(
        "{{\"users\": [{{\"x\": {}{}}}]}}",
        "[".repeat(125),
        "]".repeat(125)
    );
    let mut cases: Vec<(&str, Vec<u8>)> = BROKEN
        .iter()
        .map(|(name, body)| (*name, body.to_vec()))
        .collect();
    cases.push(("nesting one level too deep", deep.into_bytes()));
    cases
}

const BROKEN: &[(&str, &[u8])] = &[
    ("truncated", b"{\"users\": [{\"id\": \"u"),
    ("an array", b"[1, 2]"),
    ("invalid UTF-8", b"{\"users\": [{\"id\": \"\xff\"}]}"),
    (
        "a user field of the wrong type",
        b"{\"users\": [{\"id\": \"u1\"}, {\"id\": \"u2\", \"status\": 7}]}",
    ),
    (
        "an identifier field of the wrong type",
        b"{\"user_identifiers\": [{\"id\": \"i1\", \"user_id\": [\"u1\"]}]}",
    ),
    ("a record that is not an object", b"{\"users\": [1]}"),
    ("users not an array", b"{\"users\": {\"id\": \"u1\"}}"),
    ("pools of the wrong type", b"{\"pools\": 5}"),
    ("a broken code", b"{\"codes\": [{\"code\": 1, \"id\": 2}]}"),
    (
        "a key given twice",
        b"{\"pools\": [], \"users\": [], \"pools\": []}",
    ),
    (
        "a record field given twice",
        b"{\"users\": [{\"id\": \"u1\", \"id\": \"u2\"}]}",
    ),
    (
        "an unknown field given twice",
        b"{\"users\": [{\"x\": 1, \"x\": 2}]}",
    ),
    ("a bad literal in an unknown field", b"{\"extra\": tru}"),
    ("a trailing comma", b"{\"users\": [{\"id\": \"u1\"},]}"),
    ("text after the document", b"{\"users\": []} {}"),
    (
        "a control character in a string",
        b"{\"users\": [{\"id\": \"a\x01b\"}]}",
    ),
    ("a bad escape", b"{\"users\": [{\"id\": \"\\q\"}]}"),
    ("a lone surrogate", b"{\"users\": [{\"id\": \"\\ud800\"}]}"),
    (
        "a number out of range in a flag",
        b"{\"user_verifiable_addresses\": [{\"verified\": 1}]}",
    ),
];

#[test]
fn broken_documents_fail_with_the_parsers_message_and_write_nothing() {
    let mut shown = String::new();
    for (name, body) in broken() {
        let (to_stdout, _) = export_answering(&body, &[], false);
        let (to_file, written) = export_answering(&body, &[], true);
        assert_eq!(
            to_stdout.status.code(),
            Some(1),
            "{name}: {}",
            transcript(&to_stdout)
        );
        assert!(
            to_stdout.stdout.is_empty(),
            "{name}: {}",
            transcript(&to_stdout)
        );
        assert_eq!(to_file.status.code(), Some(1), "{name}");
        assert!(written.is_none(), "{name}: a file was written");
        assert_eq!(to_stdout.stderr, to_file.stderr, "{name}");
        shown.push_str(&format!(
            "## {name}\n{}\n",
            String::from_utf8_lossy(&to_stdout.stderr)
        ));
    }
    snapshot("export_broken_documents", &shown);
}

/// Valid documents the typed path reads in ways worth keeping: escapes and unicode, `null`
/// arrays, a byte-order mark, unknown fields at every level, codes, empty records, arrays in
/// no order, records sharing a sort key.
const ODD: &[u8] = "\u{feff} {
  \"zeta\": {\"b\": [1, 2.50, -0, 1e3], \"a\": \"\\u00e9\\n\"},
  \"user_credentials\": [
    {\"user_id\": \"u2\", \"type\": \"password\", \"payload\": {\"hashed_password\": {\"value\": \"h\"}}},
    {\"user_id\": \"u1\", \"type\": \"password\", \"id\": \"c1\", \"future\": null}
  ],
  \"codes\": [{\"id\": \"k1\", \"user_id\": \"u1\", \"code\": \"123456\"}],
  \"us\\u0065rs\": [
    {\"id\": \"u2\", \"user_pool_id\": \"p\", \"payload\": {\"name\": \"Zo\u{eb} \u{1f600}\", \"n\": 12345678901234567890, \"big\": 123456789012345678901234}},
    {},
    {\"id\": \"u1\", \"user_pool_id\": \"p\", \"status\": null, \"metadata\": {}, \"x\": [[], {}]},
    {\"id\": \"u0\", \"user_pool_id\": \"q\"}
  ],
  \"user_identifiers\": [
    {\"user_id\": \"u1\", \"type\": \"email\", \"identifier\": \"B@x.io\", \"identifier_lc\": \"b@x.io\"},
    {\"user_id\": \"u1\", \"type\": \"email\", \"identifier\": \"A@x.io\", \"identifier_lc\": \"a@x.io\"},
    {\"user_id\": \"u1\", \"type\": \"email\", \"identifier\": \"a@x.io\", \"identifier_lc\": \"a@x.io\", \"note\": \"same key, kept in order\"},
    {\"user_id\": \"u0\", \"type\": \"uid\", \"identifier\": \"zero\"}
  ],
  \"user_verifiable_addresses\": null,
  \"group_members\": [{\"group_id\": \"g\", \"user_id\": \"u2\"}, {\"group_id\": \"g\", \"user_id\": \"u1\"}],
  \"groups\": [{\"id\": \"g\", \"user_pool_id\": \"p\"}, {\"id\": \"h\", \"user_pool_id\": \"q\"}],
  \"pools\": [{\"id\": \"q\"}, {\"id\": \"p\", \"name\": \"P\", \"settings\": {\"z\": 1, \"a\": 2}}],
  \"alpha\": []
}\n"
.as_bytes();

#[test]
fn odd_but_valid_documents_are_exported_in_canonical_form() {
    for (name, args) in [
        ("export_odd_document", &[][..]),
        ("export_odd_document_pool_p", &["--pool", "p"][..]),
    ] {
        let (output, written) = export_answering(ODD, args, true);
        assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
        let written = String::from_utf8(written.unwrap()).unwrap();
        let mut shown = transcript(&output);
        shown.push_str("----- file -----\n");
        shown.push_str(&written);
        snapshot(name, &shown);
        let (to_stdout, _) = export_answering(ODD, args, false);
        assert_eq!(to_stdout.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&to_stdout.stdout), written);
    }
}
