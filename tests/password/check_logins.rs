//! `poolsync check-logins` end to end against the emulator: good and bad canaries, exit codes
//! 0, 5 and 1, the text and JSON reports, `--redact-pii`, and no password anywhere, not even in
//! the logs at `-vvv` (the command's and the emulator's).

use crate::support::tenant::{CLIENT, SECRET, TENANT, acme, emulator, live, run, spawn_emulate};
use crate::support::{poolsync, snapshot_output, transcript};
use poolsync::emulator::EmulatorHandle;
use poolsync::emulator::SCOPE_MANAGE_CONFIGURATION;
use poolsync::model::{SecretValue, TenantDump};
use poolsync::password::{PasswordInput, read};
use std::path::{Path, PathBuf};
use std::process::Output;

/// The canaries' passwords: none may appear in any output or log.
pub(crate) const PASSWORDS: [&str; 4] = [
    "Alice-canary-pw-0001",
    "Bob-canary-pw-0002",
    "Grace-canary-pw-0003",
    "Chloe-canary-pw-0004",
];
const WRONG: &str = "Wrong-canary-pw-9999";

const ALICE: &str = "6b01877f-3ce9-5fd1-9363-59bcfe4334f4";
const BOB: &str = "30727807-6137-5102-bf6a-60712d6ec654";
const CHLOE: &str = "5f4aabb8-3c0e-551b-bf67-d30092287844";
const VOLKOV: &str = "b30c201a-cec3-59b4-8cd2-12660105d14e";
const GRACE: &str = "a9786b56-52ba-5b36-b2a2-1589d049430c";

fn payload(hash_text: &str) -> SecretValue {
    SecretValue(read(&PasswordInput::text(hash_text)).unwrap().to_payload())
}

/// The example tenant where alice (bcrypt), bob (pbkdf2, `must_be_reset`), grace (argon2id) and
/// chloe (bcrypt, expired) have known passwords, and d.volkov has no password at all.
pub(crate) fn tenant() -> TenantDump {
    let mut dump = acme();
    let bcrypt = |password: &str| {
        bcrypt::hash_with_salt(password, 4, *b"sixteen byte slt")
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB)
    };
    let pbkdf2 = format!(
        "$pbkdf2-sha256$i=1000,l=32${}${}",
        "c2FsdHNhbHQ",
        base64_nopad(&pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(
            PASSWORDS[1].as_bytes(),
            b"saltsalt",
            1000
        ))
    );
    let argon2 = {
        use argon2::PasswordHasher as _;
        argon2::Argon2::default()
            .hash_password_with_salt(PASSWORDS[2].as_bytes(), b"grace-salt")
            .unwrap()
            .to_string()
    };
    dump.user_credentials
        .retain(|credential| credential.user_id.as_deref() != Some(VOLKOV));
    for credential in &mut dump.user_credentials {
        match credential.user_id.as_deref() {
            Some(ALICE) => credential.payload = Some(payload(&bcrypt(PASSWORDS[0]))),
            Some(BOB) => {
                credential.payload = Some(payload(&pbkdf2));
                credential.state = Some("must_be_reset".into());
            }
            Some(GRACE) => credential.payload = Some(payload(&argon2)),
            Some(CHLOE) => {
                credential.payload = Some(payload(&bcrypt(PASSWORDS[3])));
                credential.expires_at = Some("2020-01-01T00:00:00Z".into());
            }
            _ => {}
        }
    }
    dump
}

fn base64_nopad(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Canaries that all pass: alice by her e-mail in another letter case, bob (who must reset his
/// password) by his, grace by her phone number in pool `partners`.
pub(crate) fn good_canaries() -> String {
    format!(
        "identifier,password,pool\n\
         ALICE.jensen@example.com,{},\n\
         bob.okafor@example.org,{},customers\n\
         +14155550100,{},partners\n",
        PASSWORDS[0], PASSWORDS[1], PASSWORDS[2]
    )
}

/// Canaries that fail in every way: a wrong password, an expired credential, no password, no
/// such user; alice still passes.
pub(crate) fn bad_canaries() -> String {
    format!(
        "identifier,password\n\
         alice.jensen@example.com,{}\n\
         bob.okafor@example.org,{WRONG}\n\
         chloe.martin@example.fr,{}\n\
         d.volkov@example.com,{}\n\
         nobody@example.com,{}\n",
        PASSWORDS[0], PASSWORDS[3], PASSWORDS[1], PASSWORDS[2]
    )
}

/// Writes `contents` to a file of `directory` with `mode`.
pub(crate) fn canary_file(directory: &Path, name: &str, contents: &str, mode: u32) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

pub(crate) fn assert_no_password(what: &str, text: &str) {
    for password in PASSWORDS.iter().chain([&WRONG]) {
        assert!(
            !text.contains(password),
            "{what}: a canary password leaked:\n{text}"
        );
    }
    assert!(!text.contains(SECRET), "{what}: the client secret leaked");
}

fn check(output: &Output) -> String {
    let everything = transcript(output);
    assert_no_password("check-logins", &everything);
    everything
}

#[test]
fn good_canaries_exit_0_and_bad_ones_exit_5() {
    let server = emulator(tenant(), |config| config);
    let directory = tempfile::tempdir().unwrap();
    let good = canary_file(directory.path(), "good.csv", &good_canaries(), 0o600);
    let bad = canary_file(directory.path(), "bad.csv", &bad_canaries(), 0o600);
    let good = good.to_str().unwrap();
    let bad = bad.to_str().unwrap();

    let output = run(&server, &["check-logins", good, "--pool", "customers"]);
    check(&output);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    snapshot_output("check_logins_good_text", &output);

    let output = run(&server, &["check-logins", bad, "--pool", "customers"]);
    check(&output);
    assert_eq!(output.status.code(), Some(5), "{}", transcript(&output));
    snapshot_output("check_logins_bad_text", &output);

    let output = run(
        &server,
        &["check-logins", bad, "--pool", "customers", "--json"],
    );
    check(&output);
    assert_eq!(output.status.code(), Some(5));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let validator = crate::support::schemas::canaries_validator();
    crate::support::schemas::assert_valid(&validator, &report, "check-logins --json");
    let results: Vec<&str> = report["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|canary| canary["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        [
            "password_correct",
            "password_incorrect",
            "password_expired",
            "no_password",
            "user_not_found"
        ]
    );
    snapshot_output("check_logins_bad_json", &output);

    let output = run(
        &server,
        &[
            "check-logins",
            good,
            "--pool",
            "customers",
            "--json",
            "--redact-pii",
        ],
    );
    let everything = check(&output);
    assert_eq!(output.status.code(), Some(0));
    for identifier in ["jensen", "okafor", "+14155550100"] {
        assert!(
            !everything.contains(identifier),
            "{identifier} not masked:\n{everything}"
        );
    }
    snapshot_output("check_logins_good_json_redacted", &output);

    // One request per canary, one after another, never in parallel.
    let checks: Vec<_> = server
        .request_log()
        .into_iter()
        .filter(|record| record.path.ends_with("/verify"))
        .collect();
    assert_eq!(checks.len(), 3 + 5 + 5 + 3);
}

#[test]
fn the_help_says_what_the_file_holds() {
    let output = crate::support::snapshot_run("cli_help_check_logins", &["check-logins", "--help"]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn errors_exit_1() {
    let server = emulator(tenant(), |config| {
        config.client(
            "config-only",
            "config-only-secret",
            &[SCOPE_MANAGE_CONFIGURATION],
        )
    });
    let directory = tempfile::tempdir().unwrap();
    let good = canary_file(directory.path(), "good.csv", &good_canaries(), 0o600);
    let good = good.to_str().unwrap();
    let missing = directory.path().join("missing.csv");
    let bad_column = canary_file(
        directory.path(),
        "column.csv",
        &format!(
            "email,password\nalice.jensen@example.com,{}\n",
            PASSWORDS[0]
        ),
        0o600,
    );
    let no_pool = canary_file(
        directory.path(),
        "nopool.csv",
        &format!(
            "identifier,password\nalice.jensen@example.com,{}\n",
            PASSWORDS[0]
        ),
        0o600,
    );
    let mut too_many = String::from("identifier,password\n");
    for index in 0..=1000 {
        too_many.push_str(&format!("user{index}@example.com,{}\n", PASSWORDS[0]));
    }
    let too_many = canary_file(directory.path(), "many.csv", &too_many, 0o600);
    let mut transcripts = Vec::new();
    for (name, path, pool) in [
        ("unreadable file", missing.to_str().unwrap(), "customers"),
        ("bad column", bad_column.to_str().unwrap(), "customers"),
        ("no pool", no_pool.to_str().unwrap(), ""),
        (
            "more than 1,000 rows",
            too_many.to_str().unwrap(),
            "customers",
        ),
    ] {
        let mut args = vec!["check-logins", path];
        if !pool.is_empty() {
            args.extend(["--pool", pool]);
        }
        let output = run(&server, &args);
        transcripts.push(format!("## {name}\n{}", check(&output)));
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name}: {}",
            transcript(&output)
        );
    }
    // No connection: nothing listens on the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let output = live(&server)
        .env("POOLSYNC_URL", &url)
        .args(["check-logins", good, "--pool", "customers"])
        .output()
        .unwrap();
    transcripts.push(format!("## no connection\n{}", check(&output)));
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    // A client without the `identity` scope.
    let output = live(&server)
        .env("POOLSYNC_CLIENT_ID", "config-only")
        .env("POOLSYNC_CLIENT_SECRET", "config-only-secret")
        .args(["check-logins", good, "--pool", "customers"])
        .output()
        .unwrap();
    transcripts.push(format!("## missing scope\n{}", check(&output)));
    assert_eq!(output.status.code(), Some(1), "{}", transcript(&output));
    crate::support::snapshot_text("check_logins_errors", &transcripts.join("\n"));
}

#[test]
fn a_file_others_can_read_gets_a_warning() {
    let server = emulator(tenant(), |config| config);
    let directory = tempfile::tempdir().unwrap();
    let shared = canary_file(directory.path(), "shared.csv", &good_canaries(), 0o644);
    let output = run(
        &server,
        &[
            "check-logins",
            shared.to_str().unwrap(),
            "--pool",
            "customers",
        ],
    );
    let everything = check(&output);
    assert_eq!(output.status.code(), Some(0), "{everything}");
    #[cfg(unix)]
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("holds passwords and other users can read it (mode 644)"),
        "{everything}"
    );
    let private = canary_file(directory.path(), "private.csv", &good_canaries(), 0o600);
    let output = run(
        &server,
        &[
            "check-logins",
            private.to_str().unwrap(),
            "--pool",
            "customers",
        ],
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("warning"));
}

/// `poolsync -vvv emulate` as its own process and `poolsync -vvv check-logins` against it: the
/// password is in neither's output, at the most verbose level.
#[test]
fn no_password_in_any_output_or_log_at_trace_level() {
    let directory = tempfile::tempdir().unwrap();
    let seed = directory.path().join("seed.json");
    std::fs::write(&seed, serde_json::to_vec(&tenant()).unwrap()).unwrap();
    let mut command = poolsync();
    command
        .args([
            "-vvv",
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--tenant",
            TENANT,
        ])
        .arg("--seed")
        .arg(&seed)
        .args(["--client-secret-env", &format!("{CLIENT}:EMULATOR_SECRET")])
        .env("EMULATOR_SECRET", SECRET);
    let emulate = spawn_emulate(command, |_| {});
    let url = emulate.url.clone();
    let good = canary_file(directory.path(), "good.csv", &good_canaries(), 0o600);
    let bad = canary_file(directory.path(), "bad.csv", &bad_canaries(), 0o600);
    for (file, code) in [(&good, 0), (&bad, 5)] {
        for format in [None, Some("--json")] {
            let output = poolsync()
                .env("POOLSYNC_URL", &url)
                .env("POOLSYNC_TENANT", TENANT)
                .env("POOLSYNC_CLIENT_ID", CLIENT)
                .env("POOLSYNC_CLIENT_SECRET", SECRET)
                .args(["-vvv", "check-logins", "--pool", "customers"])
                .arg(file)
                .args(format)
                .output()
                .unwrap();
            let everything = check(&output);
            assert_eq!(output.status.code(), Some(code), "{everything}");
            // At trace level the client logs each request it sends.
            assert!(
                everything.contains("/user/password/v2/verify"),
                "{everything}"
            );
        }
    }
    let emulator_log = emulate.interrupt().join("\n");
    assert!(
        emulator_log
            .contains("POST /api/identity/acme/system/pools/customers/user/password/v2/verify 200"),
        "{emulator_log}"
    );
    assert_no_password("the emulator's log", &emulator_log);
}

/// A password with commas and quotes, written into the canary file as CSV quotes it.
const QUOTED: &str = "Tr0ub4dor, \"the\" 3rd,";

/// stderr within a screen: at most 10 lines and 1 KiB.
fn assert_one_screen(what: &str, output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = crate::support::head(&stderr, 1000);
    assert!(
        stderr.len() <= 1024,
        "{what}: {} bytes: {shown}",
        stderr.len()
    );
    assert!(stderr.lines().count() <= 10, "{what}: {shown}");
}

/// `check-logins FILE --pool customers EXTRA...` against `server`.
fn check_logins(server: &EmulatorHandle, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "check-logins",
        file.to_str().unwrap(),
        "--pool",
        "customers",
    ];
    args.extend(extra);
    run(server, &args)
}

#[test]
fn a_hostile_canary_file_gets_a_bounded_error_or_the_right_result() {
    // Alice's password has commas and quotes.
    let mut seed = tenant();
    let hash = bcrypt::hash_with_salt(QUOTED, 4, *b"sixteen byte slt")
        .unwrap()
        .format_for_version(bcrypt::Version::TwoB);
    for credential in &mut seed.user_credentials {
        if credential.user_id.as_deref() == Some(ALICE) {
            credential.payload = Some(payload(&hash));
        }
    }
    let server = emulator(seed, |config| config);
    let directory = tempfile::tempdir().unwrap();
    let huge = "x".repeat(50 << 20);

    // A byte-order mark, CRLF lines, a quoted password with commas and quotes, a comment, and
    // a pool that names no pool of the tenant: alice passes, bob is not found in that pool.
    let quoted = format!("\"{}\"", QUOTED.replace('"', "\"\""));
    let file = canary_file(
        directory.path(),
        "windows.csv",
        &format!(
            "\u{feff}identifier,password,pool\r\n# from Excel\r\n\
             alice.jensen@example.com,{quoted},\r\n\
             bob.okafor@example.org,{},no-such-pool\r\n",
            PASSWORDS[1]
        ),
        0o600,
    );
    let output = check_logins(&server, &file, &[]);
    let everything = check(&output);
    assert!(!everything.contains(QUOTED), "{everything}");
    assert_eq!(output.status.code(), Some(5), "{everything}");
    let output = check_logins(&server, &file, &["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let outcomes: Vec<(u64, &str, &str)> = report["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|canary| {
            (
                canary["line"].as_u64().unwrap(),
                canary["pool"].as_str().unwrap(),
                canary["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (3, "customers", "password_correct"),
            (4, "no-such-pool", "user_not_found")
        ]
    );
    let mut transcripts = vec![format!(
        "## BOM, CRLF, a quoted password, an unknown pool\n{everything}"
    )];

    // What no tenant can hold is refused before anything is sent, and never repeated.
    let mut rows = String::from("\u{feff}identifier,password\r\n");
    for index in 0..1001 {
        rows.push_str(&format!("user{index}@example.com,\"pw, {index}\"\r\n"));
    }
    let sent_before = server.request_log().len();
    for (name, contents) in [
        (
            "a 50 MB identifier",
            format!("identifier,password\n{huge}@example.com,{}\n", PASSWORDS[0]),
        ),
        (
            "a 50 MB pool",
            format!(
                "identifier,password,pool\nalice.jensen@example.com,{},{huge}\n",
                PASSWORDS[0]
            ),
        ),
        (
            "a 50 MB password",
            format!("identifier,password\nalice.jensen@example.com,{huge}\n"),
        ),
        (
            "a 50 MB column name",
            format!("identifier,password,{huge}\n"),
        ),
        ("1,001 rows with a BOM and CRLF", rows),
        (
            "a row with a column too many on CRLF line 4",
            format!(
                "identifier,password\r\n# a comment\r\nalice.jensen@example.com,{}\r\nbob,\"a,b\",c\r\n",
                PASSWORDS[0]
            ),
        ),
    ] {
        let file = canary_file(directory.path(), "hostile.csv", &contents, 0o600);
        let output = check_logins(&server, &file, &[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{name}: {}",
            transcript(&output)
        );
        assert!(output.stdout.is_empty(), "{name}");
        assert_one_screen(name, &output);
        transcripts.push(format!("## {name}\n{}", check(&output)));
    }
    assert_eq!(
        server.request_log().len(),
        sent_before,
        "nothing is sent for a file that is refused"
    );
    crate::support::snapshot_text("check_logins_hostile", &transcripts.join("\n"));
}
