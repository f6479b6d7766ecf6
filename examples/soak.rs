//! Soak and throughput run of apply against the in-process emulator, over HTTP on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example soak                     # 100,000 users, every fault at once
//! cargo run --release --example soak -- --clean --latency-ms 50   # throughput, no faults
//! cargo run --release --example soak -- --users 20000
//! ```
//!
//! It seeds an empty tenant, applies a synthetic desired file of `--users` users (100-user
//! batches, 8 in flight) with, unless `--clean`: a rate limit of 40 requests per second answering 429 with `Retry-After`,
//! 5 % 503s before any change, 5 % 502s after the change was applied, 3 % dropped connections,
//! and `--latency-ms` of added latency (default 20). It then checks that the tenant converged
//! (verified by re-export, as apply always does, and by counting records) and prints users/s,
//! requests, retries and wall time.

use poolsync::apply::{ApplyOptions, PlanInputs, apply_plan};
use poolsync::client::{
    ApiClient, BatchEvent, BatchObserver, Cancellation, ConnectionArgs, ConnectionSettings,
    NoProgress,
};
use poolsync::diff::DiffOptions;
use poolsync::emulator::{Emulator, EmulatorConfig, FaultConfig, RateLimit};
use poolsync::sieve::{SieveOptions, Source};
use poolsync::synth::{TenantOptions, tenant};
use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts retries and pacing changes as they happen, and times the import phase (from the
/// first request sent to the last one finished), apart from planning and verification.
#[derive(Default)]
struct Counters {
    retries: AtomicUsize,
    parallelism_changes: AtomicUsize,
    lowest_parallelism: AtomicUsize,
    first_sent: std::sync::Mutex<Option<Instant>>,
    last_finished: std::sync::Mutex<Option<Instant>>,
}

impl BatchObserver for Counters {
    fn on_event(&self, event: &BatchEvent<'_>) {
        match event {
            BatchEvent::Retrying { .. } => {
                self.retries.fetch_add(1, Ordering::Relaxed);
            }
            BatchEvent::Started { .. } => {
                let mut first = self.first_sent.lock().unwrap();
                first.get_or_insert_with(Instant::now);
            }
            BatchEvent::Finished { .. } => {
                *self.last_finished.lock().unwrap() = Some(Instant::now());
            }
            BatchEvent::ParallelismChanged { limit } => {
                self.parallelism_changes.fetch_add(1, Ordering::Relaxed);
                self.lowest_parallelism.fetch_min(*limit, Ordering::Relaxed);
            }
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut users = 100_000;
    let mut latency_ms = 20;
    let mut clean = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut position = 0;
    while position < args.len() {
        match args[position].as_str() {
            "--users" => {
                users = args[position + 1].replace('_', "").parse()?;
                position += 1;
            }
            "--latency-ms" => {
                latency_ms = args[position + 1].parse()?;
                position += 1;
            }
            "--clean" => clean = true,
            other => return Err(format!("unknown argument `{other}`").into()),
        }
        position += 1;
    }

    let desired = tenant(&TenantOptions {
        tenant_id: "soak".into(),
        users,
        pools: 2,
        seed: 1,
    });
    let mut empty = desired.clone();
    empty.users.clear();
    empty.user_identifiers.clear();
    empty.user_verifiable_addresses.clear();
    empty.user_credentials.clear();

    let faults = if clean {
        FaultConfig {
            latency: Duration::from_millis(latency_ms),
            ..FaultConfig::default()
        }
    } else {
        FaultConfig {
            seed: 2026,
            rate_limit: Some(RateLimit::PerSecond(40)),
            retry_after_secs: 1,
            error_5xx_before: 0.05,
            error_502_after: 0.05,
            drop_connection: 0.03,
            latency: Duration::from_millis(latency_ms),
            ..FaultConfig::default()
        }
    };
    let secret = uuid::Uuid::new_v4().to_string();
    let server = Emulator::start_in_background(
        EmulatorConfig::new()
            .tenant("soak", empty.clone())
            .client("soak", secret.as_str(), &[])
            .faults(faults),
    )?;
    let environment: HashMap<&str, String> = HashMap::from([
        ("POOLSYNC_URL", server.url()),
        ("POOLSYNC_TENANT", "soak".to_string()),
        ("POOLSYNC_CLIENT_ID", "soak".to_string()),
        ("POOLSYNC_CLIENT_SECRET", secret),
    ]);
    let lookup = |name: &str| environment.get(name).cloned();
    let client = ApiClient::new(ConnectionSettings::resolve(
        &ConnectionArgs::default(),
        &lookup,
    )?)?;
    let runtime = tokio::runtime::Runtime::new()?;

    let started = Instant::now();
    let desired_bytes = serde_json::to_vec(&desired)?;
    let desired_source = Source::Memory {
        name: "desired",
        bytes: &desired_bytes,
    };
    let body = runtime.block_on(client.export_response(&NoProgress))?;
    let diff_options = DiffOptions::default();
    let sifted = poolsync::sieve::plan(
        Source::Memory {
            name: poolsync::client::ExportBody::SOURCE_NAME,
            bytes: &body.bytes,
        },
        desired_source,
        SieveOptions::new(&diff_options),
    )?;
    drop(body);
    let plan = &sifted.plan;
    let planned = Instant::now();
    let counters = Counters {
        lowest_parallelism: AtomicUsize::new(8),
        ..Counters::default()
    };
    let options = ApplyOptions::default();
    let report = runtime.block_on(apply_plan(
        &client,
        plan,
        &PlanInputs::new(&sifted, desired_source),
        &options,
        &counters,
        &Cancellation::new(),
    ))?;
    let applied = planned.elapsed();
    let tenant_now = server.tenant_dump("soak").ok_or("no tenant")?;
    let requests = server.request_log().len();
    let faults_injected = server
        .request_log()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();

    println!("users                 {users}");
    println!(
        "faults                {}",
        if clean {
            "none"
        } else {
            "429 rate limit 40/s, 5% 503, 5% 502-after, 3% drops"
        }
    );
    println!("latency               {latency_ms} ms");
    println!(
        "plan (export + diff)  {:.2} s",
        (planned - started).as_secs_f64()
    );
    println!("apply (incl. verify)  {:.2} s", applied.as_secs_f64());
    let imported = match (
        *counters.first_sent.lock().unwrap(),
        *counters.last_finished.lock().unwrap(),
    ) {
        (Some(first), Some(last)) => last - first,
        _ => applied,
    };
    println!("import phase          {:.2} s", imported.as_secs_f64());
    println!(
        "users/s (import)      {:.0}",
        users as f64 / imported.as_secs_f64()
    );
    println!(
        "users/s (end to end)  {:.0}",
        users as f64 / applied.as_secs_f64()
    );
    println!(
        "import requests       {} ({} retries, {} answered 429)",
        report.requests,
        report.retries,
        report.batches.iter().map(|b| b.rate_limited).sum::<u32>()
    );
    println!(
        "requests seen         {requests} ({faults_injected} with an injected fault; the log keeps the last 10,000)"
    );
    println!(
        "retry events          {}",
        counters.retries.load(Ordering::Relaxed)
    );
    println!(
        "pacing changes        {} (lowest in flight: {})",
        counters.parallelism_changes.load(Ordering::Relaxed),
        counters.lowest_parallelism.load(Ordering::Relaxed)
    );
    println!("verified              {}", report.is_complete());
    println!(
        "tenant users          {} (expected {users})",
        tenant_now.users.len()
    );
    println!(
        "tenant identifiers    {} (expected {})",
        tenant_now.user_identifiers.len(),
        desired.user_identifiers.len()
    );
    if !report.is_complete()
        || tenant_now.users.len() != users
        || tenant_now.user_identifiers.len() != desired.user_identifiers.len()
    {
        return Err("the tenant did not converge".into());
    }
    Ok(())
}
