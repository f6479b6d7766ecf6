//! Measures the emulator with a large tenant: seeds N users (1,000,000 by default) in-process,
//! then over HTTP on 127.0.0.1 times one full export and imports of 100-user batches with 8
//! requests in flight, new users (`mode=ignore`) and replacements (`mode=update`).
//!
//! ```text
//! cargo run --release --example emulator_bench [-- USERS [BATCHES]]
//! ```
//!
//! Measured on the project's 2-core, 24 GiB machine (shared with other builds), 1,000,000 users,
//! 200 batches (about 10 GiB peak resident memory, seed document included):
//!
//! ```text
//! step                                  seconds        users/s
//! build seed document (in-process)         4.61         216926
//! seed tenant (validate + index)          11.51          86851
//! export over HTTP (1309 MiB)              5.75         174012
//! import new users (mode=ignore)           0.60          33363
//! replace users (mode=update)              0.79          25303
//! ```
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use futures::StreamExt;
use poolsync::emulator::{Emulator, EmulatorConfig};
use poolsync::model::{
    Pool, TenantDump, User, UserCredential, UserIdentifier, UserVerifiableAddress,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const TENANT: &str = "bench";
const POOL: &str = "customers";
const NOW: &str = "2025-06-01T12:00:00Z";
const IN_FLIGHT: usize = 8;
const BATCH: usize = 100;

fn text(value: &str) -> Option<String> {
    Some(value.to_string())
}

/// One user of the tenant with an e-mail identifier, a verified address and a password.
fn add_user(dump: &mut TenantDump, number: usize) {
    let id = format!("00000000-0000-4000-8000-{number:012}");
    let email = format!("User.{number}@Example.com");
    let mut payload = serde_json::Map::new();
    payload.insert("given_name".into(), json!(format!("User {number}")));
    payload.insert("locale".into(), json!("en-US"));
    dump.users.push(User {
        id: Some(id.clone()),
        tenant_id: text(TENANT),
        user_pool_id: text(POOL),
        status: text("active"),
        payload: Some(payload),
        created_at: text(NOW),
        updated_at: text(NOW),
        status_updated_at: text(NOW),
        ..User::default()
    });
    dump.user_identifiers.push(UserIdentifier {
        id: Some(format!("{id}-i")),
        tenant_id: text(TENANT),
        user_pool_id: text(POOL),
        user_id: Some(id.clone()),
        kind: text("email"),
        identifier_lc: Some(email.to_lowercase()),
        identifier: Some(email.clone()),
        created_at: text(NOW),
        updated_at: text(NOW),
        ..UserIdentifier::default()
    });
    dump.user_verifiable_addresses.push(UserVerifiableAddress {
        id: Some(format!("{id}-a")),
        tenant_id: text(TENANT),
        user_pool_id: text(POOL),
        user_id: Some(id.clone()),
        kind: text("email"),
        address_lc: Some(email.to_lowercase()),
        address: Some(email),
        status: text("active"),
        verified: Some(true),
        verified_at: text(NOW),
        created_at: text(NOW),
        updated_at: text(NOW),
        ..UserVerifiableAddress::default()
    });
    dump.user_credentials.push(UserCredential {
        id: Some(format!("{id}-c")),
        tenant_id: text(TENANT),
        user_pool_id: text(POOL),
        user_id: Some(id),
        kind: text("password"),
        payload: Some(poolsync::model::SecretValue(json!({"hashed_password": {
            "value": "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
            "config": {"method": "bcrypt", "bcrypt": {"cost": 10}}}}))),
        state: text("valid"),
        created_at: text(NOW),
        updated_at: text(NOW),
        ..UserCredential::default()
    });
}

fn dump_of(numbers: impl Iterator<Item = usize>) -> TenantDump {
    let mut dump = TenantDump::default();
    for number in numbers {
        add_user(&mut dump, number);
    }
    dump
}

async fn token(http: &reqwest::Client, url: &str) -> String {
    let response = http
        .post(format!("{url}/{TENANT}/system/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "bench"),
            ("client_secret", "bench-secret"),
        ])
        .send()
        .await
        .expect("token request");
    let body: Value = response.json().await.expect("token body");
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

/// Imports `batches` bodies with `IN_FLIGHT` requests at once; returns the elapsed time.
async fn import_all(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    mode: &str,
    batches: Vec<Vec<u8>>,
) -> Duration {
    let started = Instant::now();
    let import_url = format!("{url}/api/identity/system/{TENANT}/configuration?mode={mode}");
    let mut answers = futures::stream::iter(batches.into_iter().map(|body| {
        let request = http
            .put(&import_url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.map(|response| response.status()) }
    }))
    .buffer_unordered(IN_FLIGHT);
    while let Some(answer) = answers.next().await {
        let status = answer.expect("import request");
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "import failed");
    }
    started.elapsed()
}

/// Resident memory of this process in MiB, where Linux tells it.
fn resident_mib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or_else(|| "unknown".to_string(), |kib| (kib / 1024).to_string())
}

fn per_second(count: usize, elapsed: Duration) -> String {
    format!("{:.0}", count as f64 / elapsed.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let users: usize = args
        .next()
        .map_or(1_000_000, |value| value.parse().expect("USERS is a number"));
    let batches: usize = args
        .next()
        .map_or(200, |value| value.parse().expect("BATCHES is a number"));

    let started = Instant::now();
    let mut seed = dump_of(0..users);
    seed.pools.push(Pool {
        id: text(POOL),
        tenant_id: text(TENANT),
        name: text("customers"),
        ..Pool::default()
    });
    let built = started.elapsed();
    let started = Instant::now();
    let config = EmulatorConfig::new()
        .tenant(TENANT, seed)
        .client("bench", "bench-secret", &[]);
    let emulator = Emulator::start(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("emulator starts");
    let seeded = started.elapsed();
    let resident_after_seeding = resident_mib();
    let url = emulator.url();
    let http = reqwest::Client::new();
    let token = token(&http, &url).await;

    let started = Instant::now();
    let response = http
        .get(format!("{url}/api/identity/system/{TENANT}/configuration"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export request");
    // Count the bytes as they come rather than holding a second copy of the export.
    let mut exported_bytes = 0usize;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        exported_bytes += chunk.expect("export body").len();
    }
    let exported = started.elapsed();

    let new_batches: Vec<Vec<u8>> = (0..batches)
        .map(|batch| {
            let first = users + batch * BATCH;
            serde_json::to_vec(&dump_of(first..first + BATCH)).expect("batch")
        })
        .collect();
    let created = import_all(&http, &url, &token, "ignore", new_batches).await;
    let replace_batches: Vec<Vec<u8>> = (0..batches)
        .map(|batch| {
            // Spread the replaced users over the whole tenant.
            let stride = users.max(BATCH) / batches.max(1);
            let first = (batch * stride).min(users.saturating_sub(BATCH));
            serde_json::to_vec(&dump_of(first..first + BATCH)).expect("batch")
        })
        .collect();
    let replaced = import_all(&http, &url, &token, "update", replace_batches).await;
    let total = emulator.tenant_summaries()[0].1;
    emulator.shutdown().await;

    let imported = batches * BATCH;
    println!(
        "emulator benchmark: {users} seeded users, {batches} batches of {BATCH}, {IN_FLIGHT} in flight"
    );
    println!("{:<34} {:>10} {:>14}", "step", "seconds", "users/s");
    println!(
        "{:<34} {:>10.2} {:>14}",
        "build seed document (in-process)",
        built.as_secs_f64(),
        per_second(users, built)
    );
    println!(
        "{:<34} {:>10.2} {:>14}",
        "seed tenant (validate + index)",
        seeded.as_secs_f64(),
        per_second(users, seeded)
    );
    println!(
        "{:<34} {:>10.2} {:>14}",
        format!("export over HTTP ({} MiB)", exported_bytes / (1024 * 1024)),
        exported.as_secs_f64(),
        per_second(users, exported)
    );
    println!(
        "{:<34} {:>10.2} {:>14}",
        "import new users (mode=ignore)",
        created.as_secs_f64(),
        per_second(imported, created)
    );
    println!(
        "{:<34} {:>10.2} {:>14}",
        "replace users (mode=update)",
        replaced.as_secs_f64(),
        per_second(imported, replaced)
    );
    println!("users in the tenant at the end: {total}");
    println!(
        "resident memory after seeding: {resident_after_seeding} MiB, at the end: {} MiB",
        resident_mib()
    );
}
