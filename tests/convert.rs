//! `poolsync convert`: every source on the real export samples in `../shared/real` (read in
//! place), small fixtures with hashes computed here from known passwords, every kind of bad
//! input, and the round trip: convert, apply to the emulator, convert again (the same bytes),
//! plan (no changes).

use crate::support::shared::{shared_dir, shared_path};
use crate::support::tenant::{CLIENT, SECRET, TENANT, emulator, run as run_live};
use crate::support::{poolsync, snapshot_output, snapshot_run, snapshot_text, transcript};
use base64::Engine as _;
use poolsync::client::{
    ApiClient, ConnectionArgs, ConnectionSettings, PasswordCheck, PasswordResult, PasswordSubject,
};
use poolsync::emulator::EmulatorHandle;
use poolsync::model::{Pool, TenantDump};
use poolsync::secret::Secret;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A real sample: the source, a name for snapshots and pools, its files under `../shared`.
struct Sample {
    source: &'static str,
    name: &'static str,
    files: &'static [&'static str],
    extra: &'static [&'static str],
}

const SAMPLES: &[Sample] = &[
    Sample {
        source: "auth0",
        name: "auth0-users",
        files: &["real/auth0/clerk-migration-tool__samples__auth0.json"],
        extra: &[],
    },
    Sample {
        source: "auth0",
        name: "auth0-password-export",
        files: &["real/auth0/workos-migrate-auth0-users__example-input.json"],
        extra: &[],
    },
    Sample {
        source: "keycloak",
        name: "keycloak-26",
        files: &["real/keycloak/axonivy-docker-samples__ivy-keycloak__ivytestrealm.json"],
        extra: &[],
    },
    Sample {
        source: "keycloak",
        name: "keycloak-10",
        files: &[
            "real/keycloak/axonivy-docker-samples__ivy-sso-openid-connect__realm-ivydemo-import.json",
        ],
        extra: &[],
    },
    Sample {
        source: "firebase",
        name: "firebase",
        files: &["real/firebase/clerk-migration-tool__samples__firebase.json"],
        extra: &[],
    },
    Sample {
        source: "supabase",
        name: "supabase-json",
        files: &["real/supabase/clerk-migration-tool__samples__supabase.json"],
        extra: &[],
    },
    Sample {
        source: "supabase",
        name: "supabase-csv",
        files: &["real/supabase/clerk-migration-tool__samples__supabase.csv"],
        extra: &[],
    },
    Sample {
        source: "kratos",
        name: "kratos",
        files: &[
            "real/kratos/kratos__migratest__identity__5ff66179-c240-4703-b0d8-494592cefff5.json",
            "real/kratos/kratos__migratest__identity__a251ebc2-880c-4f76-a8f3-38e6940eab0e.json",
        ],
        extra: &[],
    },
    Sample {
        source: "clerk",
        name: "clerk-csv",
        files: &["real/clerk/clerk-migration-tool__samples__clerk.csv"],
        extra: &["--credentials", "force-reset"],
    },
    Sample {
        source: "clerk",
        name: "clerk-json",
        files: &["real/clerk/clerk-migration-tool__samples__clerk.json"],
        extra: &["--drop-extra"],
    },
    Sample {
        source: "clerk",
        name: "clerk-workos",
        files: &["real/clerk/workos-migrate-clerk-users__example-input.csv"],
        extra: &[],
    },
];

impl Sample {
    /// `SOURCE FILE... --pool NAME -o out`, then `extra` (the sample's own when `None`).
    fn args<'a>(&'a self, out: &'a str, extra: Option<&'a [&'a str]>) -> Vec<&'a str> {
        let mut args = vec![self.source];
        args.extend(self.files);
        args.extend(["--pool", self.name, "-o", out]);
        args.extend(extra.unwrap_or(self.extra));
        args
    }
}

/// `SOURCE FILE... --pool POOL -o OUT EXTRA...` for a fixture.
fn fixture_args<'a>(
    source: &'a str,
    files: &'a [String],
    pool: &'a str,
    out: &'a str,
    extra: &'a [String],
) -> Vec<&'a str> {
    let mut args = vec![source];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--pool", pool, "-o", out]);
    args.extend(extra.iter().map(String::as_str));
    args
}

/// `poolsync convert` run in `../shared`, so that sample paths print short.
fn convert_in_shared(args: &[&str]) -> Output {
    poolsync()
        .current_dir(shared_dir())
        .arg("convert")
        .args(args)
        .output()
        .expect("poolsync runs")
}

fn snapshot(name: &str, output: &Output) {
    snapshot_output(name, output);
}

/// How many user records a sample file holds, counted without poolsync: the elements of a
/// JSON array or of a `users` array, the lines of NDJSON, the rows of a CSV.
fn records_in(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "csv") {
        let rows = text
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .count();
        return rows as u64 - 1;
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(items)) => items.len() as u64,
        Ok(Value::Object(object)) => match object.get("users") {
            Some(Value::Array(items)) => items.len() as u64,
            _ => 1,
        },
        _ => text.lines().filter(|line| !line.trim().is_empty()).count() as u64,
    }
}

fn report_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stderr)
        .unwrap_or_else(|error| panic!("a JSON report ({error}): {}", transcript(output)))
}

fn sample_paths(sample: &Sample) -> Option<Vec<PathBuf>> {
    sample
        .files
        .iter()
        .map(|file| shared_path(file, "`poolsync convert` on real exports"))
        .collect()
}

#[test]
fn the_help_lists_every_source_with_what_it_reads() {
    let output = snapshot_run("cli_help_convert", &["convert", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for source in poolsync::convert::SOURCES {
        assert!(text.contains(&format!("- {}:", source.name())), "{text}");
    }
}

#[test]
fn every_source_converts_its_real_samples_and_accounts_for_every_user() {
    let directory = tempfile::tempdir().unwrap();
    for sample in SAMPLES {
        let Some(paths) = sample_paths(sample) else {
            return;
        };
        let out = directory.path().join(format!("{}.json", sample.name));
        let out = out.to_str().unwrap();
        let mut args = sample.args(out, None);
        let text = convert_in_shared(&args);
        assert_eq!(text.status.code(), Some(0), "{}", transcript(&text));
        snapshot(&format!("convert_real_{}", sample.name), &text);
        let first = std::fs::read(out).unwrap();

        args.push("--json");
        let json = convert_in_shared(&args);
        assert_eq!(json.status.code(), Some(0), "{}", transcript(&json));
        let report = report_of(&json);
        let records: u64 = paths.iter().map(|path| records_in(path)).sum();
        let users = &report["users"];
        assert_eq!(users["read"], records, "{}: {report:#}", sample.name);
        let left_out: u64 = report["left_out"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tally| tally["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            users["converted"].as_u64().unwrap() + left_out,
            records,
            "{}",
            sample.name
        );
        assert_eq!(
            users["active"].as_u64().unwrap() + users["inactive"].as_u64().unwrap(),
            users["converted"].as_u64().unwrap()
        );
        let passwords = &report["passwords"];
        let carried: u64 = passwords["carried"]
            .as_object()
            .unwrap()
            .values()
            .map(|count| count.as_u64().unwrap())
            .sum();
        let not_carried: u64 = passwords["not_carried"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tally| tally["count"].as_u64().unwrap())
            .sum();
        assert_eq!(
            carried
                + not_carried
                + passwords["none"].as_u64().unwrap()
                + passwords["dropped"].as_u64().unwrap(),
            users["converted"].as_u64().unwrap(),
            "{}: every converted user's password is accounted for",
            sample.name
        );
        // Converting again gives the same bytes.
        assert_eq!(std::fs::read(out).unwrap(), first, "{}", sample.name);

        let dump: TenantDump = poolsync::load::read_dump(Path::new(out)).unwrap();
        assert_eq!(
            dump.users.len() as u64,
            users["converted"].as_u64().unwrap()
        );
        assert_eq!(
            dump.user_credentials.len() as u64,
            carried,
            "{}",
            sample.name
        );
        let validate = poolsync()
            .args(["validate", out, "--pool", sample.name])
            .output()
            .unwrap();
        assert_eq!(
            validate.status.code(),
            Some(0),
            "{}: {}",
            sample.name,
            transcript(&validate)
        );
    }
}

#[test]
fn real_samples_apply_to_the_emulator_and_a_second_convert_plans_no_changes() {
    let Some(_) = shared_path("real", "`poolsync convert` on real exports") else {
        return;
    };
    let seed = TenantDump {
        pools: SAMPLES
            .iter()
            .map(|sample| Pool {
                id: Some(sample.name.into()),
                name: Some(format!("Users from {}", sample.name)),
                ..Pool::default()
            })
            .collect(),
        ..TenantDump::default()
    };
    let server = emulator(seed, |config| config);
    let directory = tempfile::tempdir().unwrap();
    for sample in SAMPLES {
        let desired = directory.path().join(format!("{}.json", sample.name));
        let desired = desired.to_str().unwrap();
        let args = sample.args(desired, None);
        let output = convert_in_shared(&args);
        assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
        let converted = std::fs::read(desired).unwrap();

        let apply = run_live(&server, &["apply", "--desired", desired, "--auto-approve"]);
        assert_eq!(apply.status.code(), Some(0), "{}", transcript(&apply));
        let stdout = String::from_utf8_lossy(&apply.stdout);
        assert!(stdout.contains("verified"), "{}: {stdout}", sample.name);

        let again = convert_in_shared(&args);
        assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
        assert_eq!(
            std::fs::read(desired).unwrap(),
            converted,
            "{}",
            sample.name
        );
        let plan = run_live(
            &server,
            &[
                "plan",
                "--desired",
                desired,
                "--pool",
                sample.name,
                "--detailed-exitcode",
            ],
        );
        assert_eq!(
            plan.status.code(),
            Some(0),
            "{}: {}",
            sample.name,
            transcript(&plan)
        );
        assert!(String::from_utf8_lossy(&plan.stdout).contains("No changes"));
    }
    let tenant = server.tenant_dump(TENANT).unwrap();
    let converted_users = tenant
        .users
        .iter()
        .filter(|user| user.user_pool_id.as_deref() == Some("auth0-users"))
        .count();
    assert_eq!(converted_users, 30);
}

// ---------------------------------------------------------------------------------------------
// Fixtures with hashes computed from known passwords.

const ANN: &str = "correct horse battery staple";
const BOB: &str = "Tr0ub4dor&3 with spaces";

fn bcrypt(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64_unpadded(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

fn pbkdf2_sha256(password: &str, salt: &[u8], iterations: u32, length: usize) -> Vec<u8> {
    let mut key = vec![0; length];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, iterations, &mut key);
    key
}

fn argon2id(password: &str, salt: &[u8], memory: u32, iterations: u32, length: usize) -> Vec<u8> {
    let params = argon2::Params::new(memory, iterations, 1, Some(length)).unwrap();
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = vec![0; length];
    hasher
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .unwrap();
    out
}

/// The converted document, and the source id and user id of each user with a password.
fn converted(path: &Path) -> (TenantDump, Vec<(String, String)>) {
    let dump = poolsync::load::read_dump(path).unwrap();
    let mut passwords = Vec::new();
    for credential in &dump.user_credentials {
        let user = dump
            .users
            .iter()
            .find(|user| user.id == credential.user_id)
            .unwrap();
        let source_id = user.metadata.as_ref().unwrap()["source"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        passwords.push((source_id, user.id.clone().unwrap()));
    }
    (dump, passwords)
}

struct Fixture {
    directory: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            directory: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes a file into the fixture's directory; returns its name there.
    fn file(&self, name: &str, content: &str) -> String {
        std::fs::write(self.path(name), content).unwrap();
        name.to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }

    /// `poolsync convert` run in the fixture's directory, so that names print short.
    fn convert(&self, args: &[&str]) -> Output {
        poolsync()
            .current_dir(self.directory.path())
            .arg("convert")
            .args(args)
            .output()
            .expect("poolsync runs")
    }
}

/// Each source's own fixture, with hashes of [`ANN`]'s and [`BOB`]'s passwords.
fn fixtures(fixture: &Fixture) -> Vec<(&'static str, Vec<String>, Vec<String>)> {
    let salt = b"0123456789abcdef";
    let keycloak_key = pbkdf2_sha256(ANN, salt, 1000, 64);
    let kratos_key = argon2id(BOB, salt, 1024, 2, 16);
    let csv_key = pbkdf2_sha256(BOB, salt, 1000, 32);
    let auth0_users = [
        json!({"user_id": "auth0|ann1", "email": "ann@example.com", "email_verified": true,
               "given_name": "Ann", "identities": [{"provider": "auth0", "user_id": "ann1",
               "connection": "Username-Password-Authentication", "isSocial": false}]}),
        json!({"user_id": "auth0|bob2", "email": "bob@example.com", "email_verified": false,
               "blocked": true, "identities": [{"provider": "auth0", "user_id": "bob2",
               "connection": "Username-Password-Authentication", "isSocial": false}]}),
        json!({"user_id": "google-oauth2|777", "email": "cat@example.com", "email_verified": true,
               "identities": [{"provider": "google-oauth2", "user_id": "777",
               "connection": "google-oauth2", "isSocial": true}]}),
    ]
    .map(|user| user.to_string())
    .join("\n");
    let auth0_passwords = [
        json!({"_id": {"$oid": "ann1"}, "email": "ann@example.com", "passwordHash": bcrypt(ANN)}),
        json!({"_id": {"$oid": "auth0|bob2"}, "passwordHash": bcrypt(BOB)}),
    ]
    .map(|line| line.to_string())
    .join("\n");
    let keycloak = json!({"realm": "shop", "enabled": true, "users": [
        {"id": "0e1f9b8a-5d2c-4c3b-9a1e-7f6d5c4b3a21", "username": "ann", "email": "ann@example.com",
         "emailVerified": true, "firstName": "Ann", "enabled": true,
         "credentials": [{"type": "password",
             "secretData": json!({"value": b64(&keycloak_key), "salt": b64(salt)}).to_string(),
             "credentialData": json!({"hashIterations": 1000, "algorithm": "pbkdf2-sha256",
                                      "additionalParameters": {}}).to_string()}]},
        {"id": "5b7c9d1e-3f2a-4b6c-8d0e-1a2b3c4d5e6f", "username": "bob", "enabled": false,
         "credentials": [{"type": "otp", "secretData": "{\"value\":\"JBSWY3DPEHPK3PXP\"}"}]}
    ]});
    let kratos = json!([{
        "id": "8f14e45f-ceea-467f-a8f4-1c2b3d4e5f60", "state": "active", "schema_id": "default",
        "traits": {"email": "bob@example.com", "name": {"first": "Bob", "last": "Stone"}},
        "verifiable_addresses": [{"value": "bob@example.com", "verified": true, "via": "email", "status": "completed"}],
        "credentials": {"password": {"type": "password", "identifiers": ["bob@example.com"],
            "config": {"hashed_password": format!("$argon2id$v=19$m=1024,t=2,p=1${}${}",
                b64_unpadded(salt), b64_unpadded(&kratos_key))}}}
    }]);
    let clerk = format!(
        "# Password for users with passwords: see the test\n\
         id,first_name,last_name,username,primary_email_address,primary_phone_number,verified_email_addresses,unverified_email_addresses,verified_phone_numbers,unverified_phone_numbers,totp_secret,password_digest,password_hasher\n\
         user_ann,Ann,Lee,ann,ann@example.com,+4520123456,ann@example.com|ann.lee@example.com,,+4520123456,,JBSWY3DPEHPK3PXP,{},bcrypt\n",
        bcrypt(ANN)
    );
    let supabase = json!([{
        "id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "email": "bob@example.com",
        "encrypted_password": bcrypt(BOB), "email_confirmed_at": "2024-01-15 10:30:00.000000+00",
        "raw_app_meta_data": "{\"provider\":\"email\",\"providers\":[\"email\"]}",
        "raw_user_meta_data": "{\"full_name\":\"Bob Stone\"}", "recovery_token": "r3c0v3ry"
    }]);
    let csv = format!(
        "id,email,email_verified,phone,username,password_hash,given_name,status,payload.locale,metadata.crm\n\
         c-ann,ann@example.com,true,+4520123456,ann,{},Ann,active,da-DK,CRM-1\n\
         c-bob,bob@example.com,false,,bob,\"$pbkdf2-sha256$i=1000,l=32${}${}\",Bob,disabled,,\n",
        bcrypt(ANN),
        b64_unpadded(salt),
        b64_unpadded(&csv_key)
    );
    let cognito = json!({"Users": [
        {"Username": "ann", "Enabled": true, "UserStatus": "CONFIRMED",
         "Attributes": [{"Name": "sub", "Value": "6d4b3a2c-1e0f-4a9b-8c7d-6e5f4a3b2c1d"},
                        {"Name": "email", "Value": "ann@example.com"},
                        {"Name": "email_verified", "Value": "true"},
                        {"Name": "phone_number", "Value": "+4520123456"},
                        {"Name": "given_name", "Value": "Ann"}]}
    ]});
    let firebase = json!({"users": [
        {"localId": "fbAnn", "email": "ann@example.com", "emailVerified": true,
         "passwordHash": "c2NyeXB0", "salt": "c2FsdA==", "displayName": "Ann Lee",
         "providerUserInfo": [{"providerId": "password", "rawId": "ann@example.com"}]}
    ]});
    vec![
        (
            "auth0",
            vec![fixture.file("auth0-users.json", &auth0_users)],
            vec![
                "--passwords".into(),
                fixture.file("auth0-passwords.json", &auth0_passwords),
            ],
        ),
        (
            "keycloak",
            vec![fixture.file("realm.json", &keycloak.to_string())],
            vec![],
        ),
        (
            "kratos",
            vec![fixture.file("identities.json", &kratos.to_string())],
            vec![],
        ),
        ("clerk", vec![fixture.file("clerk.csv", &clerk)], vec![]),
        (
            "supabase",
            vec![fixture.file("supabase.json", &supabase.to_string())],
            vec![],
        ),
        ("csv", vec![fixture.file("users.csv", &csv)], vec![]),
        (
            "cognito",
            vec![fixture.file("cognito.json", &cognito.to_string())],
            vec![],
        ),
        (
            "firebase",
            vec![fixture.file("firebase.json", &firebase.to_string())],
            vec![],
        ),
    ]
}

/// The plaintext of the password each fixture gave a user, by source id.
fn plaintext(source_id: &str) -> &'static str {
    match source_id {
        "auth0|ann1" | "0e1f9b8a-5d2c-4c3b-9a1e-7f6d5c4b3a21" | "user_ann" | "c-ann" => ANN,
        "auth0|bob2"
        | "8f14e45f-ceea-467f-a8f4-1c2b3d4e5f60"
        | "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        | "c-bob" => BOB,
        other => panic!("no fixture password for `{other}`"),
    }
}

/// A client of `server`'s tenant, for the password check.
fn client(server: &EmulatorHandle) -> ApiClient {
    let args = ConnectionArgs {
        url: Some(server.url()),
        tenant: Some(TENANT.into()),
        client_id: Some(CLIENT.into()),
        ..ConnectionArgs::default()
    };
    let secret = |name: &str| (name == "POOLSYNC_CLIENT_SECRET").then(|| SECRET.to_string());
    ApiClient::new(ConnectionSettings::resolve(&args, &secret).unwrap()).unwrap()
}

/// The emulator's password check of user `user_id` in `pool`.
fn check(client: &ApiClient, pool: &str, user_id: &str, password: &str) -> PasswordCheck {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(client.verify_password(
            pool,
            &PasswordSubject::UserId(user_id.to_string()),
            &Secret::new(password),
        ))
        .unwrap()
}

/// An emulator whose tenant has these pools and no users.
fn tenant_with_pools(pools: &[&str]) -> EmulatorHandle {
    let seed = TenantDump {
        pools: pools
            .iter()
            .map(|pool| Pool {
                id: Some(pool.to_string()),
                name: Some(format!("Users from {pool}")),
                ..Pool::default()
            })
            .collect(),
        ..TenantDump::default()
    };
    emulator(seed, |config| config)
}

/// Applies a converted file to `server`.
fn apply(server: &EmulatorHandle, desired: &Path) {
    let desired = desired.to_str().unwrap();
    let output = run_live(server, &["apply", "--desired", desired, "--auto-approve"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
}

#[test]
fn fixture_passwords_of_known_plaintext_verify_through_the_emulator_after_apply() {
    let fixture = Fixture::new();
    let sources = fixtures(&fixture);
    let pools: Vec<&str> = sources.iter().map(|(source, ..)| *source).collect();
    let server = tenant_with_pools(&pools);
    let client = client(&server);
    let mut carried = 0;
    for (source, files, extra) in &sources {
        let out = format!("{source}-desired.json");
        let output = fixture.convert(&fixture_args(source, files, source, &out, extra));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{source}: {}",
            transcript(&output)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(fixture.path(&out))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "{source}: the desired file holds hashes"
            );
        }
        apply(&server, &fixture.path(&out));
        let (dump, passwords) = converted(&fixture.path(&out));
        for (source_id, user_id) in passwords {
            let right = check(&client, source, &user_id, plaintext(&source_id));
            assert_eq!(
                (right.result, right.state.as_str()),
                (PasswordResult::PasswordCorrect, "valid"),
                "{source}: `{source_id}`"
            );
            let wrong = check(&client, source, &user_id, "wrong password");
            assert_eq!(wrong.result, PasswordResult::PasswordIncorrect, "{source}");
            carried += 1;
        }
        // A user converted without a password has none in the tenant.
        for user in &dump.users {
            let user_id = user.id.as_deref().unwrap();
            if !dump
                .user_credentials
                .iter()
                .any(|credential| credential.user_id.as_deref() == Some(user_id))
            {
                let none = check(&client, source, user_id, ANN);
                assert_eq!(none.result, PasswordResult::NoPassword, "{source}");
            }
        }
    }
    // auth0 2, keycloak 1, kratos 1, clerk 1, supabase 1, csv 2.
    assert_eq!(carried, 8);
}

#[test]
fn real_hashes_of_known_plaintext_verify_after_convert_and_apply() {
    // Line 1 of Clerk's sample says: `# Password for users with passwords: Kk4aPMeiaRpAs2OeX1NE`;
    // the Supabase samples hold the same hash.
    const KNOWN: &str = "Kk4aPMeiaRpAs2OeX1NE";
    let samples: Vec<&Sample> = SAMPLES
        .iter()
        .filter(|sample| {
            ["clerk-csv", "clerk-json", "supabase-json", "supabase-csv"].contains(&sample.name)
        })
        .collect();
    let Some(_) = shared_path(samples[0].files[0], "passwords of known plaintext") else {
        return;
    };
    let pools: Vec<&str> = samples.iter().map(|sample| sample.name).collect();
    let server = tenant_with_pools(&pools);
    let client = client(&server);
    let directory = tempfile::tempdir().unwrap();
    let mut verified = 0;
    for sample in samples {
        for (policy, expected) in [
            (
                "force-reset",
                (PasswordResult::PasswordExpired, "must_be_reset"),
            ),
            ("keep", (PasswordResult::PasswordCorrect, "valid")),
        ] {
            let out = directory
                .path()
                .join(format!("{}-{policy}.json", sample.name));
            let policy_args = ["--credentials", policy];
            let output = convert_in_shared(&sample.args(out.to_str().unwrap(), Some(&policy_args)));
            assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
            apply(&server, &out);
            let (_, passwords) = converted(&out);
            assert!(!passwords.is_empty(), "{}", sample.name);
            for (source_id, user_id) in &passwords {
                let answer = check(&client, sample.name, user_id, KNOWN);
                assert_eq!(
                    (answer.result, answer.state.as_str()),
                    expected,
                    "{} `{source_id}` ({policy})",
                    sample.name
                );
                verified += usize::from(policy == "keep");
            }
        }
    }
    // Clerk's CSV 15 and JSON 9, Supabase's JSON 9 and CSV 10.
    assert_eq!(verified, 43);
}

#[test]
fn fixture_reports_name_every_outcome() {
    let fixture = Fixture::new();
    let mut transcripts = String::new();
    for (source, files, extra) in fixtures(&fixture) {
        let out = format!("{source}-desired.json");
        let output = fixture.convert(&fixture_args(source, &files, "customers", &out, &extra));
        transcripts.push_str(&format!(
            "$ poolsync convert {source} ...\n{}\n",
            transcript(&output)
        ));
        assert!(
            !transcript(&output).contains("$2b$"),
            "no hash in the report: {}",
            transcript(&output)
        );
    }
    snapshot_text("convert_fixtures_reports", &transcripts);
}

#[test]
fn the_desired_file_holds_what_the_issue_asks_and_no_secret() {
    let fixture = Fixture::new();
    let files = fixtures(&fixture);
    let (_, clerk, _) = files
        .iter()
        .find(|(source, ..)| *source == "clerk")
        .unwrap();
    let output = fixture.convert(&["clerk", &clerk[0], "--pool", "customers"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let user = &document["users"][0];
    assert_eq!(
        user["id"],
        uuid::Uuid::new_v5(&poolsync::convert::USER_ID_NAMESPACE, b"clerk:user_ann").to_string()
    );
    assert_eq!(user["status"], "active");
    assert_eq!(
        user["payload"],
        json!({"given_name": "Ann", "family_name": "Lee"})
    );
    assert_eq!(
        user["metadata"]["source"],
        json!({"platform": "clerk", "id": "user_ann"})
    );
    let identifiers: Vec<String> = document["user_identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["type"].as_str().unwrap(),
                i["identifier"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        identifiers,
        [
            "email:ann@example.com",
            "email:ann.lee@example.com",
            "mobile:+4520123456",
            "uid:ann"
        ]
    );
    assert!(
        document["user_verifiable_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|address| address["verified"] == true)
    );
    assert!(document.get("pools").is_none(), "no pools entry");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("JBSWY3DPEHPK3PXP"),
        "the TOTP secret stays out"
    );
    assert!(!text.contains("totp_secret"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("secrets left out, never carried: `totp_secret` (1)"),
        "{stderr}"
    );
}

#[test]
fn the_id_map_lists_every_user_as_csv_or_json() {
    let fixture = Fixture::new();
    let files = fixtures(&fixture);
    let (_, csv, _) = files.iter().find(|(source, ..)| *source == "csv").unwrap();
    for name in ["ids.csv", "ids.json"] {
        let output = fixture.convert(&[
            "csv",
            &csv[0],
            "--pool",
            "p",
            "-o",
            "desired.json",
            "--id-map-out",
            name,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
        let map = fixture.path(name);
        let text = std::fs::read_to_string(&map).unwrap();
        let ann = poolsync::convert::user_id("csv", "c-ann");
        let bob = poolsync::convert::user_id("csv", "c-bob");
        if name.ends_with(".csv") {
            assert_eq!(
                text,
                format!("source_id,user_id\nc-ann,{ann}\nc-bob,{bob}\n")
            );
        } else {
            let map: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                map,
                json!([{"source_id": "c-ann", "user_id": ann}, {"source_id": "c-bob", "user_id": bob}])
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&map).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

#[test]
fn the_json_report_is_the_text_reports_data() {
    let fixture = Fixture::new();
    let files = fixtures(&fixture);
    let (_, firebase, _) = files
        .iter()
        .find(|(source, ..)| *source == "firebase")
        .unwrap();
    let output = fixture.convert(&["firebase", &firebase[0], "--pool", "p", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let report = report_of(&output);
    snapshot_text(
        "convert_json_report",
        &serde_json::to_string_pretty(&report).unwrap(),
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input.

/// Refused with exit 1, nothing on stdout and no output file, one screen of error.
fn assert_refused(output: &Output, out: Option<&Path>) {
    let text = crate::support::head(&transcript(output), 2000);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(output.stdout.is_empty(), "nothing on stdout: {text}");
    if let Some(out) = out {
        assert!(!out.exists(), "nothing written: {text}");
    }
    assert!(output.stderr.starts_with(b"error: "), "{text}");
    assert_bounded("refused", output, 30);
}

#[test]
fn input_that_stops_a_conversion_lists_every_problem_and_writes_nothing() {
    let fixture = Fixture::new();
    let bcrypt_ann = bcrypt(ANN);
    let cases: Vec<(&str, &str, Vec<String>, String)> = vec![
        (
            "not_the_format",
            "keycloak",
            vec![],
            "id,email\nu1,a@example.com\n".into(),
        ),
        (
            "malformed_json",
            "firebase",
            vec![],
            "{\"users\": [\n  {\"localId\": \"a\"},\n  {\"localId\": \"b\",}\n]}".into(),
        ),
        (
            "records_without_ids",
            "auth0",
            vec![],
            "[{\"email\": \"a@example.com\"}, {\"user_id\": \"\"}, {\"user_id\": \"auth0|ok\"}]".into(),
        ),
        (
            "one_identifier_for_two_users",
            "csv",
            vec![],
            "id,email,username\nu1,Ann@Example.com,ann\nu2,ann@example.COM,ANN\nu3,cat@example.com,cat\n"
                .into(),
        ),
        (
            "one_id_twice",
            "clerk",
            vec![],
            "id,primary_email_address\nuser_1,a@example.com\nuser_1,b@example.com\n".into(),
        ),
        (
            "bad_ndjson_lines",
            "auth0",
            vec![],
            "{\"user_id\": \"auth0|1\"}\n{\"user_id\": \"auth0|2\"\n[1, 2]\n{\"user_id\": \"auth0|3\"}\n".into(),
        ),
        (
            "password_lines_for_no_user",
            "auth0",
            vec![
                "--passwords".into(),
                fixture.file(
                    "passwords.ndjson",
                    &format!(
                        "{}\n{}\n{}\n",
                        json!({"_id": {"$oid": "ann"}, "passwordHash": bcrypt_ann}),
                        json!({"_id": {"$oid": "ghost"}, "passwordHash": bcrypt_ann}),
                        json!({"email": "no-id@example.com", "passwordHash": bcrypt_ann}),
                    ),
                ),
            ],
            "{\"user_id\": \"auth0|ann\", \"email\": \"ann@example.com\"}\n".into(),
        ),
        (
            "passwords_for_another_source",
            "csv",
            vec!["--passwords".into(), fixture.file("p.ndjson", "{}\n")],
            "id\nu1\n".into(),
        ),
        (
            "strict_lost_fields_and_passwords",
            "csv",
            vec!["--strict".into()],
            "id,email,phone,password_hash\nu1,admin@localhost,2024-01-15 10:30:00,$P$BabcdefghijklmnopqrstuvwxyzABCD\nu2,b@example.com\n"
                .into(),
        ),
        ("empty_file", "kratos", vec![], "\n\n".into()),
    ];
    for (name, source, extra, content) in cases {
        let input = fixture.file(&format!("{name}.input"), &content);
        let mut args: Vec<&str> = vec![source, &input, "--pool", "customers", "-o", "desired.json"];
        args.extend(extra.iter().map(String::as_str));
        let output = fixture.convert(&args);
        assert_refused(&output, Some(&fixture.path("desired.json")));
        assert!(
            !transcript(&output).contains("$2b$"),
            "{name}: a hash leaked"
        );
        snapshot(&format!("convert_refused_{name}"), &output);
    }
}

#[test]
fn the_real_auth0_password_export_matches_no_user_of_the_real_user_export() {
    let (Some(_), Some(_)) = (
        shared_path(SAMPLES[0].files[0], "Auth0's password join"),
        shared_path(SAMPLES[1].files[0], "Auth0's password join"),
    ) else {
        return;
    };
    let output = convert_in_shared(&[
        "auth0",
        SAMPLES[0].files[0],
        "--passwords",
        SAMPLES[1].files[0],
        "--pool",
        "customers",
    ]);
    assert_refused(&output, None);
    snapshot("convert_refused_real_password_join", &output);
}

#[test]
fn strict_refuses_firebase_hashes_that_cannot_be_carried() {
    let Some(_) = shared_path(SAMPLES[4].files[0], "Firebase with `--strict`") else {
        return;
    };
    let output = convert_in_shared(&["firebase", SAMPLES[4].files[0], "--pool", "p", "--strict"]);
    assert_refused(&output, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: cannot convert `real/firebase/"),
        "{stderr}"
    );
    assert!(stderr.contains("38 problems"), "{stderr}");
    assert!(stderr.contains("... and 18 more"), "{stderr}");
}

#[test]
fn what_only_loses_a_field_is_converted_and_reported() {
    let fixture = Fixture::new();
    let input = fixture.file(
        "users.csv",
        "\u{feff}# exported by hand\nid,email,email_verified,phone,status,extra\n\
         u1,admin@localhost,maybe,2024-01-15 10:30:00.000000+00,archived,x\n\
         u2,b@example.com,true\n\
         u3,c@example.com,false,+1 (415) 555-0100,active,y,beyond\n",
    );
    let output = fixture.convert(&["csv", &input, "--pool", "customers", "-o", "desired.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    snapshot("convert_lost_fields", &output);
    let dump = poolsync::load::read_dump(&fixture.path("desired.json")).unwrap();
    let first = dump.users[0].metadata.as_ref().unwrap();
    assert_eq!(
        first["csv"],
        json!({"email": "admin@localhost", "email_verified": "maybe",
               "phone": "2024-01-15 10:30:00.000000+00", "status": "archived", "extra": "x"})
    );
    assert_eq!(
        dump.users[2].metadata.as_ref().unwrap()["csv"],
        json!({"extra": "y", "column 7": "beyond"})
    );
    let mobile = dump
        .user_identifiers
        .iter()
        .find(|identifier| identifier.kind.as_deref() == Some("mobile"))
        .unwrap();
    assert_eq!(mobile.identifier.as_deref(), Some("+14155550100"));
}

#[test]
fn hostile_input_gets_one_screen_of_error() {
    let fixture = Fixture::new();
    let out = fixture.path("desired.json");
    let out = out.to_str().unwrap();
    // One id of a megabyte, twice, then 100,000 records without ids.
    let long_id = format!("{{\"user_id\": \"{}\"}}\n", "x".repeat(1 << 20));
    let mut lines = long_id.repeat(2);
    for n in 0..100_000 {
        lines.push_str(&format!("{{\"email\": \"user{n}@example.com\"}}\n"));
    }
    let many = fixture.file("many.ndjson", &lines);
    let output = fixture.convert(&["auth0", &many, "--pool", "p", "-o", out]);
    assert_refused(&output, Some(Path::new(out)));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("100,001 problems"), "{stderr}");
    assert!(stderr.contains("... and 99,981 more"), "{stderr}");
    assert!(
        stderr.contains("xxxx…"),
        "the long id is cut short: {stderr}"
    );

    // A header of 100,000 columns and a short row; control characters in values.
    let header: Vec<String> = (0..100_000).map(|n| format!("c{n}")).collect();
    let csv = format!(
        "id,email,{}\nu1,\"evil\u{1b}[2J@example.com\"\n",
        header.join(",")
    );
    let wide = fixture.file("wide.csv", &csv);
    let output = fixture.convert(&["csv", &wide, "--pool", "p", "-o", out, "--strict"]);
    assert_refused(&output, Some(Path::new(out)));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "control characters are escaped: {stderr}"
    );

    // Deep nesting inside a record.
    let deep = format!(
        "[{{\"user_id\": \"a\", \"app_metadata\": {}1{}}}]",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep = fixture.file("deep.json", &deep);
    let output = fixture.convert(&["auth0", &deep, "--pool", "p", "-o", out]);
    assert_refused(&output, Some(Path::new(out)));
}

#[test]
fn plan_names_a_pool_the_tenant_lacks() {
    let fixture = Fixture::new();
    let sources = fixtures(&fixture);
    let (source, files, _) = sources
        .iter()
        .find(|(source, ..)| *source == "csv")
        .unwrap();
    let output = fixture.convert(&fixture_args(source, files, "nowhere", "desired.json", &[]));
    assert_eq!(output.status.code(), Some(0), "{}", transcript(&output));
    let server = tenant_with_pools(&["customers"]);
    let desired = fixture.path("desired.json");
    let plan = run_live(&server, &["plan", "--desired", desired.to_str().unwrap()]);
    assert_eq!(plan.status.code(), Some(1), "{}", transcript(&plan));
    let stderr = String::from_utf8_lossy(&plan.stderr);
    assert!(stderr.contains("pool `nowhere`"), "{stderr}");
}

/// 50 MB: the size of a hostile value.
const HOSTILE: usize = 50 << 20;

/// Each source's file with an ordinary user and one whose id, e-mail address, a profile field
/// and password hash are 50 MB each (`filler` repeated), written as the source's format; the
/// ordinary user comes first so that JSON is read as NDJSON.
fn hostile_export(source: &str) -> String {
    let id = "i".repeat(HOSTILE);
    let email = format!("{}@example.com", "e".repeat(HOSTILE));
    let profile = "p".repeat(HOSTILE);
    let hash = format!("$2b$10${}", "h".repeat(HOSTILE));
    let json_lines = |first: Value, hostile: Value| format!("{first}\n{hostile}\n");
    match source {
        "auth0" => json_lines(
            json!({"user_id": "auth0|1", "email": "ann@example.com"}),
            json!({"user_id": id, "email": email, "given_name": profile, "passwordHash": hash}),
        ),
        "keycloak" => json_lines(
            json!({"id": "k1", "username": "ann"}),
            json!({"id": id, "username": "bob", "email": email, "firstName": profile,
                   "credentials": [{"type": "password", "hashedSaltedValue": "A".repeat(HOSTILE),
                                    "salt": "c2FsdA==", "hashIterations": 1,
                                    "algorithm": "pbkdf2-sha256"}]}),
        ),
        "firebase" => json_lines(
            json!({"localId": "f1", "email": "ann@example.com"}),
            json!({"localId": id, "email": email, "displayName": profile, "passwordHash": hash}),
        ),
        "supabase" => json_lines(
            json!({"id": "s1", "email": "ann@example.com"}),
            json!({"id": id, "email": email, "first_name": profile, "encrypted_password": hash}),
        ),
        "kratos" => json_lines(
            json!({"id": "k1", "traits": {"email": "ann@example.com"}}),
            json!({"id": id, "traits": {"email": email, "first_name": profile},
                   "credentials": {"password": {"config": {"hashed_password": hash}}}}),
        ),
        "cognito" => json_lines(
            json!({"Attributes": [{"Name": "sub", "Value": "c1"}]}),
            json!({"Username": "bob", "Attributes": [
                {"Name": "sub", "Value": id}, {"Name": "email", "Value": email},
                {"Name": "given_name", "Value": profile},
                {"Name": "custom:legacy_hash", "Value": hash}]}),
        ),
        "clerk" => format!(
            "id,primary_email_address,first_name,password_digest,password_hasher\n\
             user_1,ann@example.com,Ann,,\n{id},{email},{profile},{hash},bcrypt\n"
        ),
        "csv" => format!(
            "id,email,given_name,password_hash\nu1,ann@example.com,Ann,\n{id},{email},{profile},{hash}\n"
        ),
        other => panic!("no hostile export for `{other}`"),
    }
}

fn hostile_source(fixture: &Fixture, name: &str) {
    let input = fixture.file(&format!("hostile-{name}"), &hostile_export(name));
    let out = format!("desired-{name}.json");
    let output = fixture.convert(&[name, &input, "--pool", "p", "-o", &out]);
    assert_eq!(output.status.code(), Some(0), "{name}: {}", {
        let stderr = String::from_utf8_lossy(&output.stderr);
        crate::support::head(&stderr, 2000)
    });
    assert!(output.stdout.is_empty());
    assert_bounded(name, &output, 20);
    // The id (in `metadata.source`), the address (kept in metadata) and the profile field are
    // each written once; the hash nowhere.
    let written = std::fs::metadata(fixture.path(&out)).unwrap().len() as usize;
    assert!(
        (3 * HOSTILE..3 * HOSTILE + (64 << 10)).contains(&written),
        "{name}: {written} bytes written"
    );
    std::fs::remove_file(fixture.path(&out)).unwrap();

    let output = fixture.convert(&[name, &input, "--pool", "p", "--strict"]);
    assert_refused(&output, None);
    std::fs::remove_file(fixture.path(&input)).unwrap();
}

/// stderr of at most `lines` lines, 8 KiB, and no line over 400 bytes.
fn assert_bounded(what: &str, output: &Output, lines: usize) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = crate::support::head(&stderr, 2000);
    assert!(
        stderr.len() <= 8 * 1024,
        "{what}: {} bytes: {shown}",
        stderr.len()
    );
    assert!(stderr.lines().count() <= lines, "{what}: {shown}");
    assert!(
        stderr.lines().all(|line| line.len() <= 400),
        "{what}: {shown}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {shown}");
}

#[test]
fn a_fifty_megabyte_id_email_profile_field_and_hash_keep_every_source_s_output_bounded() {
    let fixture = Fixture::new();
    // Two sources at a time: each run reads 200 MB and writes 150 MB.
    for pair in poolsync::convert::SOURCES.chunks(2) {
        std::thread::scope(|scope| {
            for source in pair {
                let fixture = &fixture;
                scope.spawn(move || hostile_source(fixture, source.name()));
            }
        });
    }

    // A password line for no user, whose id is 50 MB.
    let users = fixture.file("users.ndjson", "{\"user_id\": \"auth0|1\"}\n");
    let passwords = fixture.file(
        "passwords.ndjson",
        &format!(
            "{}\n",
            json!({"_id": {"$oid": "o".repeat(HOSTILE)}, "passwordHash": bcrypt(ANN)})
        ),
    );
    let output = fixture.convert(&["auth0", &users, "--passwords", &passwords, "--pool", "p"]);
    assert_refused(&output, None);
    snapshot(
        "convert_refused_hostile_password_line",
        &Output {
            stdout: Vec::new(),
            ..output
        },
    );
}
