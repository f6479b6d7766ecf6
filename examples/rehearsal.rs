//! A whole migration from another platform, rehearsed against the built-in emulator: an Auth0
//! export with its password file is converted, planned, applied, and three canary accounts
//! prove that their known passwords still sign in.
//!
//! ```text
//! cargo run --example rehearsal
//! ```
//!
//! It writes a small Auth0 export (five users: three with passwords, one who signs in with
//! Google only, one blocked) and the password file Auth0 support sends (bcrypt hashes of
//! passwords made up for this run and never shown), starts the emulator with the sample
//! tenant's pools, and does what these commands do, printing what a person would see:
//!
//! ```text
//! poolsync convert auth0 users.json --passwords passwords.json --pool customers -o desired.json
//! poolsync plan  --desired desired.json
//! poolsync apply --desired desired.json --auto-approve --canaries canaries.csv --pool customers
//! poolsync plan  --desired desired.json
//! ```
//!
//! It exits with an error unless everything converged and every canary signed in.

use poolsync::apply::{ApplyOptions, PlanInputs, apply_plan};
use poolsync::canary::{Canary, check_canaries, render_text as render_canaries};
use poolsync::client::{
    ApiClient, Cancellation, ConnectionArgs, ConnectionSettings, ExportBody, NoProgress,
};
use poolsync::convert::spool::Spool;
use poolsync::convert::{ConvertOptions, Input, source_named};
use poolsync::diff::DiffOptions;
use poolsync::emulator::{Emulator, EmulatorConfig};
use poolsync::load::read_dump;
use poolsync::model::TenantDump;
use poolsync::render::{TextOptions, render_apply_report, render_text};
use poolsync::secret::Secret;
use poolsync::sieve::{SieveOptions, Sifted, Source};
use serde_json::json;
use std::collections::HashMap;
use std::error::Error;
use std::io::Write;
use std::path::Path;

/// The Auth0 users: (user id, e-mail, whether they sign in with a password).
const USERS: [(&str, &str, bool); 5] = [
    ("auth0|65f0a1", "amira.haddad@example.com", true),
    ("auth0|65f0a2", "jonas.berg@example.org", true),
    ("auth0|65f0a3", "li.wei@example.net", true),
    ("google-oauth2|1048", "sam.okoro@example.com", false),
    ("auth0|65f0a5", "blocked.user@example.com", true),
];

fn main() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let folder = tempfile::tempdir()?;
    // Passwords made up for this run: they are hashed into the export and checked by the
    // canaries, and never printed.
    let passwords: Vec<String> = USERS
        .iter()
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    write_auth0_export(folder.path(), &passwords)?;

    // The target tenant: the sample tenant's pools and schemas, no users yet.
    let acme = read_dump(&root.join("examples/acme/export.json"))?;
    let seed = TenantDump {
        pools: acme.pools,
        schemas: acme.schemas,
        ..TenantDump::default()
    };
    let secret = uuid::Uuid::new_v4().to_string();
    let server = Emulator::start_in_background(EmulatorConfig::new().tenant("acme", seed).client(
        "rehearsal",
        secret.as_str(),
        &[],
    ))?;
    println!(
        "Emulator of the SecureAuth System API listening on {}; tenant `acme`, client `rehearsal`.\n",
        server.url()
    );
    let mut stdout = std::io::stdout().lock();

    println!(
        "$ poolsync convert auth0 users.json --passwords passwords.json --pool customers -o desired.json\n"
    );
    let desired = folder.path().join("desired.json");
    convert(folder.path(), &desired, &mut std::io::stderr())?;

    let environment: HashMap<&str, String> = HashMap::from([
        ("POOLSYNC_URL", server.url()),
        ("POOLSYNC_TENANT", "acme".to_string()),
        ("POOLSYNC_CLIENT_ID", "rehearsal".to_string()),
        ("POOLSYNC_CLIENT_SECRET", secret),
    ]);
    let lookup = |name: &str| environment.get(name).cloned();
    let client = ApiClient::new(ConnectionSettings::resolve(
        &ConnectionArgs::default(),
        &lookup,
    )?)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let text = TextOptions::default();
    let diff_options = DiffOptions::default();
    let plan_now = || -> Result<Sifted, Box<dyn Error>> {
        let body = runtime.block_on(client.export_response(&NoProgress))?;
        let current = Source::Memory {
            name: ExportBody::SOURCE_NAME,
            bytes: &body.bytes,
        };
        Ok(poolsync::sieve::plan(
            current,
            Source::File(&desired),
            SieveOptions::new(&diff_options),
        )?)
    };

    println!("\n$ poolsync plan --desired desired.json\n");
    let sifted = plan_now()?;
    render_text(&sifted.plan, &mut stdout, &text)?;

    println!(
        "\n$ poolsync apply --desired desired.json --auto-approve --canaries canaries.csv --pool customers"
    );
    let report = runtime.block_on(apply_plan(
        &client,
        &sifted.plan,
        &PlanInputs::new(&sifted, Source::File(&desired)),
        &ApplyOptions::default(),
        &(),
        &Cancellation::new(),
    ))?;
    render_apply_report(&report, &mut stdout)?;
    writeln!(stdout)?;
    // The three users with a password who are not blocked, by e-mail in another letter case.
    let canaries: Vec<Canary> = USERS
        .iter()
        .zip(&passwords)
        .take(3)
        .enumerate()
        .map(|(index, ((_, email, _), password))| Canary {
            line: index as u64 + 2,
            pool: "customers".into(),
            identifier: email.to_uppercase(),
            password: Secret::new(password.as_str()),
        })
        .collect();
    let checked = runtime.block_on(check_canaries(&client, &canaries))?;
    render_canaries(&checked, &mut stdout, false)?;

    println!("\n$ poolsync plan --desired desired.json\n");
    let plan = plan_now()?.plan;
    render_text(&plan, &mut stdout, &text)?;
    if plan.has_changes() || !report.is_complete() {
        return Err("the tenant did not converge".into());
    }
    if !checked.passed {
        return Err("a canary could not sign in: stop the migration".into());
    }
    Ok(())
}

/// `users.json` (Auth0's user export, NDJSON as its export job writes it) and
/// `passwords.json` (the password file, bcrypt hashes of `passwords`).
fn write_auth0_export(folder: &Path, passwords: &[String]) -> Result<(), Box<dyn Error>> {
    let mut users = String::new();
    let mut hashes = String::new();
    for ((user_id, email, with_password), password) in USERS.iter().zip(passwords) {
        let (provider, id) = user_id.split_once('|').unwrap_or(("auth0", user_id));
        let social = provider != "auth0";
        let given_name = email.split(['.', '@']).next().unwrap_or_default();
        let user = json!({
            "user_id": user_id,
            "email": email,
            "email_verified": true,
            "given_name": given_name,
            "blocked": email.starts_with("blocked"),
            "logins_count": 3,
            "identities": [{
                "provider": provider,
                "user_id": id,
                "connection": if social { provider } else { "Username-Password-Authentication" },
                "isSocial": social,
            }],
        });
        users.push_str(&format!("{user}\n"));
        if *with_password {
            let hash = bcrypt::hash(password, 10)?;
            let line = json!({"_id": {"$oid": id}, "email": email, "passwordHash": hash});
            hashes.push_str(&format!("{line}\n"));
        }
    }
    poolsync::fsutil::write_atomic(&folder.join("users.json"), users.as_bytes())?;
    poolsync::fsutil::write_atomic(&folder.join("passwords.json"), hashes.as_bytes())?;
    Ok(())
}

/// What `poolsync convert` does: read the export as a stream, spool the records, write the
/// desired file (mode 0600), and print the report.
fn convert(folder: &Path, desired: &Path, report_to: &mut dyn Write) -> Result<(), Box<dyn Error>> {
    let open = |name: &str| -> Result<Input<'static>, Box<dyn Error>> {
        Ok(Input {
            name: name.to_string(),
            reader: Box::new(std::io::BufReader::new(std::fs::File::open(
                folder.join(name),
            )?)),
        })
    };
    let source = source_named("auth0").ok_or("no auth0 source")?;
    let mut spool = Spool::new(
        [
            tempfile::tempfile()?,
            tempfile::tempfile()?,
            tempfile::tempfile()?,
            tempfile::tempfile()?,
        ],
        None,
    );
    let options = ConvertOptions {
        pool: "customers".into(),
        ..ConvertOptions::default()
    };
    let report = poolsync::convert::convert(
        source,
        vec![open("users.json")?],
        Some(open("passwords.json")?),
        &options,
        &mut |user| spool.push(user),
    )?;
    poolsync::fsutil::write_atomic_with(desired, |out| spool.write_document(out))?;
    report.write_text(report_to)?;
    Ok(())
}
