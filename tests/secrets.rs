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

// ---------------------------------------------------------------------------------------------
// `poolsync convert`: no secret of a source reaches anything but `user_credentials`.

/// One source's fixture under `tests/data/convert-secrets/`: secrets planted in unusual fields
/// (a hash in an e-mail, phone or profile field or a column beyond the header, tokens in
/// linked identities, keys in camelCase, a TOTP seed as an `otpauth://` URL, a JWT, JSON
/// written inside a string, the realm's client secrets...). Every planted value has `planted`
/// in it (any letter case), and no other value has.
const PLANTED: &[(&str, &[&str])] = &[
    (
        "auth0",
        &[
            "auth0.ndjson",
            "--passwords",
            "tests/data/convert-secrets/auth0-passwords.ndjson",
        ],
    ),
    ("keycloak", &["keycloak.json"]),
    ("firebase", &["firebase.json"]),
    ("supabase", &["supabase.csv"]),
    ("kratos", &["kratos.json"]),
    ("clerk", &["clerk.csv"]),
    ("cognito", &["cognito.json"]),
    ("csv", &["csv.csv"]),
];

/// `poolsync convert SOURCE ARGS... -vvv` with tracing at its most verbose; `out` gets the
/// desired file and `map` the id map when given.
fn convert(source: &str, args: &[&str], extra: &[&str]) -> Output {
    poolsync()
        .env("RUST_LOG", "trace")
        .args(["convert", source])
        .args(args)
        .args(["--pool", "customers"])
        .args(extra)
        .arg("-vvv")
        .output()
        .unwrap()
}

/// What a conversion shows or writes, but its `user_credentials` (which carry hashes by
/// design): stderr, the document's other arrays, and the id map.
fn shown_by(
    output: &Output,
    document: Option<&std::path::Path>,
    map: Option<&std::path::Path>,
) -> String {
    let mut shown = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout_document = (!output.stdout.is_empty()).then(|| output.stdout.clone());
    let file_document = document
        .filter(|path| path.exists())
        .map(|path| std::fs::read(path).unwrap());
    for bytes in [stdout_document, file_document].into_iter().flatten() {
        let mut document: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                panic!("stdout is a document ({error}): {}", transcript(output))
            });
        document.as_object_mut().unwrap().remove("user_credentials");
        shown.push_str(&document.to_string());
    }
    if let Some(map) = map.filter(|path| path.exists()) {
        shown.push_str(&std::fs::read_to_string(map).unwrap());
    }
    shown
}

#[test]
fn convert_keeps_every_planted_secret_out_of_everything_but_credentials() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("desired.json");
    let map = directory.path().join("ids.csv");
    let (out_text, map_text) = (out.to_str().unwrap(), map.to_str().unwrap());
    let mut names: Vec<&str> = PLANTED.iter().map(|(source, _)| *source).collect();
    names.sort_unstable();
    let mut sources: Vec<&str> = poolsync::convert::SOURCES
        .iter()
        .map(|s| s.name())
        .collect();
    sources.sort_unstable();
    assert_eq!(names, sources, "a planted fixture per source");
    for (source, files) in PLANTED {
        let mut args: Vec<String> = vec![format!("tests/data/convert-secrets/{}", files[0])];
        args.extend(files[1..].iter().map(|arg| arg.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let runs: [&[&str]; 3] = [
            &["-o", out_text, "--id-map-out", map_text],
            &["--json"],
            &["--strict", "--json", "--credentials", "force-reset"],
        ];
        for (run, extra) in runs.iter().enumerate() {
            let _ = std::fs::remove_file(&out);
            let _ = std::fs::remove_file(&map);
            let output = convert(source, &args, extra);
            let text = transcript(&output);
            assert!(!text.contains("panicked"), "{source}: {text}");
            if run < 2 {
                assert_eq!(output.status.code(), Some(0), "{source}: {text}");
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    stderr.contains("secrets left out")
                        || stderr.contains("\"secrets_left_out\": {\n"),
                    "{source}: the report counts the secrets: {stderr}"
                );
            }
            let shown = shown_by(&output, Some(&out), Some(&map)).to_lowercase();
            if let Some(at) = shown.find("planted") {
                let from = (0..=at.saturating_sub(120))
                    .rev()
                    .find(|&index| shown.is_char_boundary(index))
                    .unwrap_or(0);
                let around = crate::support::head(&shown[from..], 180);
                panic!("{source} {extra:?}: a planted secret shows: …{around}…");
            }
        }
        // The planted password that can be carried is, in `user_credentials` only.
        if !["cognito", "firebase"].contains(source) {
            let output = convert(source, &args, &["-o", out_text]);
            assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
            let dump = poolsync::load::read_dump(&out).unwrap();
            assert_eq!(dump.user_credentials.len(), 1, "{source}");
            let payload = dump.user_credentials[0].payload.as_ref().unwrap();
            assert!(
                payload.0.to_string().to_lowercase().contains("planted"),
                "{source}: the planted hash is carried"
            );
        }
    }
}

/// Whether a source's field name says it holds a secret (the test's own list, not the
/// converter's): hashes, digests, salts, secrets, tokens, TOTP seeds, backup and recovery codes;
/// not a realm's settings about them (`passwordPolicy`, `webAuthnPolicyPasswordless…`).
fn secret_field(name: &str) -> bool {
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    !name.contains("policy")
        && [
            "password",
            "userpass",
            "hash",
            "digest",
            "salt",
            "secret",
            "token",
            "totp",
            "backupcode",
            "recoverycode",
        ]
        .iter()
        .any(|word| name.contains(word))
}

/// Text that is a number or a date (a short row of a sample puts a time under a token's
/// column): no secret, and found in other fields as well.
fn number_or_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().all(u8::is_ascii_digit)
        || (bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-')
}

/// Hash text by its well-known beginnings.
fn hash_text(text: &str) -> bool {
    [
        "$2", "$argon2", "$pbkdf2", "$P$", "$H$", "$1$", "$5$", "$6$", "{SSHA", "{SHA", "{PBKDF2",
    ]
    .iter()
    .any(|prefix| text.starts_with(prefix))
}

/// The secrets of a JSON value: the texts (of at least 8 characters) of a secret field, also in
/// its lists and in JSON written inside it (Keycloak's `secretData`), and hash text anywhere.
/// An object under a secret field is looked into field by field (Kratos' `credentials.password`
/// holds identifiers and times beside its `hashed_password`).
fn json_secrets(value: &serde_json::Value, secret: bool, found: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => {
            if let Ok(inner @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) =
                serde_json::from_str(text)
            {
                if secret {
                    every_text(&inner, found);
                } else {
                    json_secrets(&inner, false, found);
                }
            }
            // `client.secret.creation.time` is a time, not a secret.
            if (secret || hash_text(text)) && text.len() >= 8 && !number_or_date(text) {
                found.push(text.clone());
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                json_secrets(item, secret, found);
            }
        }
        serde_json::Value::Object(object) => {
            for (key, item) in object {
                json_secrets(item, secret_field(key), found);
            }
        }
        _ => {}
    }
}

/// Every text of at least 8 characters in a value.
fn every_text(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) if text.len() >= 8 => found.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| every_text(item, found)),
        serde_json::Value::Object(object) => {
            object.values().for_each(|item| every_text(item, found))
        }
        _ => {}
    }
}

/// The secrets of a real sample, found without poolsync: JSON (or NDJSON) by field, CSV by
/// column, and every cell of Firebase's scrypt test vectors (`password,hash,salt` lines).
fn sample_secrets(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut found = Vec::new();
    let documents: Vec<serde_json::Value> = match serde_json::from_str(&text) {
        Ok(document) => vec![document],
        Err(_) => text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect(),
    };
    for document in &documents {
        json_secrets(document, false, &mut found);
    }
    if documents.is_empty() {
        let vectors = path.extension().is_some_and(|e| e == "good");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let mut secret_columns: Vec<bool> = Vec::new();
        for record in reader.records() {
            let record = record.unwrap();
            if record.iter().any(|cell| cell.eq_ignore_ascii_case("id")) {
                secret_columns = record.iter().map(secret_field).collect();
                continue;
            }
            for (index, cell) in record.iter().enumerate() {
                let secret = vectors
                    || hash_text(cell)
                    || secret_columns.get(index).copied().unwrap_or(false);
                if secret && cell.len() >= 8 && !number_or_date(cell) {
                    found.push(cell.to_string());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Every file under `../shared/real` but its notes.
fn real_samples(directory: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(real_samples(&path));
        } else if path.extension().is_none_or(|e| e != "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn convert_shows_no_secret_of_any_real_sample_whatever_source_reads_it() {
    let Some(real) = crate::support::shared::shared_path("real", "convert on real exports") else {
        return;
    };
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("desired.json");
    let map = directory.path().join("ids.csv");
    let (out_text, map_text) = (out.to_str().unwrap(), map.to_str().unwrap());
    let samples = real_samples(&real);
    assert!(samples.len() >= 16, "{samples:?}");
    let mut converted = 0;
    let mut secrets_checked = 0;
    for sample in &samples {
        let secrets = sample_secrets(sample);
        secrets_checked += secrets.len();
        let file = sample.to_str().unwrap();
        for source in poolsync::convert::SOURCES {
            let runs: [&[&str]; 2] = [
                &["-o", out_text, "--id-map-out", map_text],
                &["--strict", "--json"],
            ];
            for extra in runs {
                let _ = std::fs::remove_file(&out);
                let _ = std::fs::remove_file(&map);
                let output = convert(source.name(), &[file], extra);
                let text = transcript(&output);
                assert!(
                    matches!(output.status.code(), Some(0 | 1)) && !text.contains("panicked"),
                    "{file} as {}: {text}",
                    source.name()
                );
                converted += usize::from(output.status.code() == Some(0));
                let shown = shown_by(&output, Some(&out), Some(&map));
                for secret in &secrets {
                    assert!(
                        !shown.contains(secret.as_str()),
                        "{file} as {} {extra:?}: a secret of the sample shows (`{}…`)",
                        source.name(),
                        &secret[..4]
                    );
                }
            }
        }
    }
    // Every format has secrets, and each converts with its own source at least.
    assert!(secrets_checked >= 100, "{secrets_checked} secrets");
    assert!(converted >= 2 * 11, "{converted} conversions");
}
