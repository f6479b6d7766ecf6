//! Soak and throughput run of apply against the emulator, over HTTP on 127.0.0.1.
//!
//! ```text
//! cargo run --release --example soak                     # 100,000 users, every fault at once
//! cargo run --release --example soak -- --clean --latency-ms 50   # throughput, no faults
//! cargo run --release --example soak -- --users 20000
//! cargo build --release --bin poolsync --example soak
//! target/release/examples/soak --clean --latency-ms 0 --separate-emulator   # client CPU
//! ```
//!
//! It seeds an empty tenant, applies a synthetic desired file of `--users` users (100-user
//! batches, 8 in flight) with, unless `--clean`: a rate limit of 40 requests per second answering
//! 429 with `Retry-After`, 5 % 503s before any change, 5 % 502s after the change was applied, 3 %
//! dropped connections, and `--latency-ms` of added latency (default 20). It then checks that the
//! tenant converged (verified by re-export, as apply always does, and by counting records) and
//! prints users/s, requests, retries and wall time.
//!
//! The import phase runs from the first request sent to the last one answered; its rate is
//! compared with what the latency allows (8 requests of 100 users per `--latency-ms`), and its
//! CPU time is split between the client and the emulator. The emulator runs in this process on
//! a runtime of its own, unless `--separate-emulator` starts `poolsync emulate` (the binary next
//! to this example's directory, or `--poolsync PATH`) as a child process: then this process is
//! only the client, and its CPU time is the client's alone.

use poolsync::apply::{ApplyOptions, PlanInputs, apply_plan};
use poolsync::client::{
    ApiClient, BatchEvent, BatchObserver, Cancellation, ConnectionArgs, ConnectionSettings,
    NoProgress,
};
use poolsync::diff::DiffOptions;
use poolsync::emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultConfig, RateLimit};
use poolsync::sieve::{SieveOptions, Source};
use poolsync::synth::{TenantOptions, tenant};
use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The same allocator as the `poolsync` binary, so the client and the emulator in this process
/// allocate as they do in `poolsync apply` and `poolsync emulate`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Names of the client runtime's threads. Every thread whose name starts with `soak` is the
/// client's: the main thread and rayon's (which inherit the process name) too; the emulator's
/// are `poolsync-emulator` and tokio's default names.
const CLIENT_THREADS: &str = "soak-client";

/// CPU seconds (user + system) from a `/proc/.../stat` line, with its command name.
fn stat_cpu(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)?
        .iter()
        .filter_map(|value| value.parse::<f64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    Some((name, ticks / 100.0))
}

/// CPU seconds of a process, or 0 where `/proc` cannot tell.
fn process_cpu(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat_cpu(&stat))
        .map_or(0.0, |(_, seconds)| seconds)
}

/// CPU seconds so far: this whole process, its client threads, and the separate emulator.
#[derive(Clone, Copy, Debug, Default)]
struct CpuSample {
    process: f64,
    client_threads: f64,
    emulator_process: f64,
}

fn sample_cpu(emulator_pid: Option<u32>) -> CpuSample {
    let own_pid = std::process::id().to_string();
    let mut client_threads = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let tid = task.file_name().to_string_lossy().into_owned();
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((name, seconds)) = stat_cpu(&stat) {
                if tid == own_pid || name.starts_with("soak") {
                    client_threads += seconds;
                }
            }
        }
    }
    CpuSample {
        process: process_cpu("self"),
        client_threads,
        emulator_process: emulator_pid.map_or(0.0, |pid| process_cpu(&pid.to_string())),
    }
}

/// Counts retries and pacing changes as they happen, and times the import phase (from the
/// first request sent to the last one finished), apart from planning and verification, with
/// the CPU time spent at both ends.
struct Counters {
    emulator_pid: Option<u32>,
    /// Requests the plan sends (imports); the last to finish ends the phase.
    expected: usize,
    finished: AtomicUsize,
    retries: AtomicUsize,
    parallelism_changes: AtomicUsize,
    lowest_parallelism: AtomicUsize,
    first_sent: Mutex<Option<(Instant, CpuSample)>>,
    last_finished: Mutex<Option<(Instant, CpuSample)>>,
    /// When each batch's first attempt started, then how long the batch took.
    started: Mutex<HashMap<usize, Instant>>,
    durations: Mutex<Vec<Duration>>,
}

impl BatchObserver for Counters {
    fn on_event(&self, event: &BatchEvent<'_>) {
        match event {
            BatchEvent::Retrying { .. } => {
                self.retries.fetch_add(1, Ordering::Relaxed);
            }
            BatchEvent::Started { index, .. } => {
                let now = Instant::now();
                self.started.lock().unwrap().entry(*index).or_insert(now);
                let mut first = self.first_sent.lock().unwrap();
                if first.is_none() {
                    *first = Some((now, sample_cpu(self.emulator_pid)));
                }
            }
            BatchEvent::Finished { outcome } => {
                let now = Instant::now();
                if let Some(started) = self.started.lock().unwrap().get(&outcome.index) {
                    self.durations.lock().unwrap().push(now - *started);
                }
                let finished = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
                let cpu = (finished == self.expected).then(|| sample_cpu(self.emulator_pid));
                let mut last = self.last_finished.lock().unwrap();
                *last = Some((now, cpu.or(last.map(|(_, cpu)| cpu)).unwrap_or_default()));
            }
            BatchEvent::ParallelismChanged { limit } => {
                self.parallelism_changes.fetch_add(1, Ordering::Relaxed);
                self.lowest_parallelism.fetch_min(*limit, Ordering::Relaxed);
            }
        }
    }
}

/// The emulator serving the run: in this process, or `poolsync emulate` as a child.
enum Served {
    InProcess(EmulatorHandle),
    Child {
        child: Child,
        url: String,
        _seed_dir: tempfile::TempDir,
    },
}

impl Served {
    fn url(&self) -> String {
        match self {
            Served::InProcess(handle) => handle.url(),
            Served::Child { url, .. } => url.clone(),
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Served::InProcess(_) => None,
            Served::Child { child, .. } => Some(child.id()),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Served::Child { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `poolsync emulate` flags of `faults`.
fn fault_flags(faults: &FaultConfig) -> Vec<String> {
    let mut flags = vec![
        "--fault-seed".to_string(),
        faults.seed.to_string(),
        "--fault-5xx".to_string(),
        faults.error_5xx_before.to_string(),
        "--fault-502-after".to_string(),
        faults.error_502_after.to_string(),
        "--fault-drop".to_string(),
        faults.drop_connection.to_string(),
        "--latency-ms".to_string(),
        faults.latency.as_millis().to_string(),
        "--fault-retry-after".to_string(),
        faults.retry_after_secs.to_string(),
    ];
    match faults.rate_limit {
        Some(RateLimit::PerSecond(limit)) => {
            flags.extend(["--fault-rate-limit".to_string(), limit.to_string()]);
        }
        Some(RateLimit::EveryNth(every)) => {
            flags.extend(["--fault-429-every".to_string(), every.to_string()]);
        }
        None => {}
    }
    flags
}

/// Starts `poolsync emulate` on a free loopback port, seeded with `seed`, and waits until it
/// accepts connections. The secret reaches it through the environment, not its arguments.
fn start_child(
    poolsync: &PathBuf,
    seed: &poolsync::model::TenantDump,
    secret: &str,
    faults: &FaultConfig,
) -> Result<Served, Box<dyn Error>> {
    let seed_dir = tempfile::tempdir()?;
    let seed_path = seed_dir.path().join("seed.json");
    std::fs::write(&seed_path, serde_json::to_vec(seed)?)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(poolsync)
        .args(["emulate", "--listen", &listen, "--tenant", "soak", "--seed"])
        .arg(&seed_path)
        .args(["--client-secret-env", "soak:SOAK_CLIENT_SECRET"])
        .args(fault_flags(faults))
        .env("SOAK_CLIENT_SECRET", secret)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start `{}`: {error}", poolsync.display()))?;
    let served = Served::Child {
        child,
        url: format!("http://{listen}"),
        _seed_dir: seed_dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(&listen).is_err() {
        if Instant::now() > deadline {
            return Err(format!("`poolsync emulate` did not listen on {listen}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(served)
}

/// Median, 90th percentile and mean of `values`, in milliseconds.
fn spread(mut values: Vec<Duration>) -> String {
    values.sort();
    let at = |fraction: f64| {
        let position =
            ((values.len() as f64 * fraction) as usize).min(values.len().saturating_sub(1));
        values
            .get(position)
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    };
    let mean = values.iter().map(Duration::as_secs_f64).sum::<f64>() / values.len().max(1) as f64;
    format!(
        "median {:.1} ms, p90 {:.1} ms, mean {:.1} ms",
        at(0.5),
        at(0.9),
        mean * 1000.0
    )
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut users = 100_000;
    let mut latency_ms = 20;
    let mut clean = false;
    let mut separate = false;
    let mut poolsync: Option<PathBuf> = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut position = 0;
    while position < args.len() {
        let value = || {
            args.get(position + 1)
                .cloned()
                .ok_or_else(|| format!("`{}` needs a value", args[position]))
        };
        match args[position].as_str() {
            "--users" => {
                users = value()?.replace('_', "").parse()?;
                position += 1;
            }
            "--latency-ms" => {
                latency_ms = value()?.parse()?;
                position += 1;
            }
            "--poolsync" => {
                poolsync = Some(PathBuf::from(value()?));
                separate = true;
                position += 1;
            }
            "--clean" => clean = true,
            "--separate-emulator" => separate = true,
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
    let served = if separate {
        let poolsync = match poolsync {
            Some(path) => path,
            // target/release/examples/soak → target/release/poolsync
            None => std::env::current_exe()?
                .parent()
                .and_then(|examples| examples.parent())
                .ok_or("cannot find the target directory")?
                .join("poolsync"),
        };
        start_child(&poolsync, &empty, &secret, &faults)?
    } else {
        Served::InProcess(Emulator::start_in_background(
            EmulatorConfig::new()
                .tenant("soak", empty.clone())
                .client("soak", secret.as_str(), &[])
                .faults(faults),
        )?)
    };
    let environment: HashMap<&str, String> = HashMap::from([
        ("POOLSYNC_URL", served.url()),
        ("POOLSYNC_TENANT", "soak".to_string()),
        ("POOLSYNC_CLIENT_ID", "soak".to_string()),
        ("POOLSYNC_CLIENT_SECRET", secret),
    ]);
    let lookup = |name: &str| environment.get(name).cloned();
    let client = ApiClient::new(ConnectionSettings::resolve(
        &ConnectionArgs::default(),
        &lookup,
    )?)?;
    // As `poolsync apply` builds it, with threads named apart from the emulator's.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(CLIENT_THREADS)
        .build()?;

    let cpu_at_start = sample_cpu(served.pid());
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
    let cpu_at_plan = sample_cpu(served.pid());
    let options = ApplyOptions::default();
    let pool_request =
        usize::from(!plan.pools.changes.is_empty() || !plan.groups.changes.is_empty());
    let counters = Counters {
        emulator_pid: served.pid(),
        expected: plan.changes.len().div_ceil(options.batch_size) + pool_request,
        finished: AtomicUsize::new(0),
        retries: AtomicUsize::new(0),
        parallelism_changes: AtomicUsize::new(0),
        lowest_parallelism: AtomicUsize::new(8),
        first_sent: Mutex::new(None),
        last_finished: Mutex::new(None),
        started: Mutex::new(HashMap::new()),
        durations: Mutex::new(Vec::new()),
    };
    let report = runtime.block_on(apply_plan(
        &client,
        plan,
        &PlanInputs::new(&sifted, desired_source),
        &options,
        &counters,
        &Cancellation::new(),
    ))?;
    let applied = planned.elapsed();
    let cpu_at_end = sample_cpu(served.pid());

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
        "emulator              {}",
        if separate {
            "separate process (`poolsync emulate`)"
        } else {
            "in this process"
        }
    );
    println!(
        "plan (export + diff)  {:.2} s",
        (planned - started).as_secs_f64()
    );
    println!("apply (incl. verify)  {:.2} s", applied.as_secs_f64());
    let first = *counters.first_sent.lock().unwrap();
    let last = *counters.last_finished.lock().unwrap();
    let ((first_at, first_cpu), (last_at, last_cpu)) = match (first, last) {
        (Some(first), Some(last)) => (first, last),
        _ => return Err("no request was sent".into()),
    };
    let imported = (last_at - first_at).as_secs_f64();
    println!(
        "before first request  {:.2} s (building the request bodies)",
        (first_at - planned).as_secs_f64()
    );
    let building = if separate {
        first_cpu.process - cpu_at_plan.process
    } else {
        first_cpu.client_threads - cpu_at_plan.client_threads
    };
    println!(
        "CPU, building bodies  {building:.2} s ({:.1} µs/user, client)",
        building / users as f64 * 1e6
    );
    println!("import phase          {imported:.2} s");
    let rate = users as f64 / imported;
    let in_flight = 8.0;
    if latency_ms > 0 && clean {
        let theoretical = in_flight * options.batch_size as f64 / (latency_ms as f64 / 1000.0);
        println!(
            "users/s (import)      {rate:.0} ({:.1} % of {theoretical:.0} = 8 in flight × {} users / {latency_ms} ms)",
            100.0 * rate / theoretical,
            options.batch_size
        );
    } else {
        println!("users/s (import)      {rate:.0}");
    }
    println!(
        "users/s (end to end)  {:.0}",
        users as f64 / applied.as_secs_f64()
    );
    println!(
        "request time          {} (first attempt sent to batch finished)",
        spread(counters.durations.lock().unwrap().clone())
    );
    let process_cpu = last_cpu.process - first_cpu.process;
    let per_user = |seconds: f64| seconds / users as f64 * 1e6;
    if separate {
        let emulator_cpu = last_cpu.emulator_process - first_cpu.emulator_process;
        println!(
            "CPU, import phase     client {process_cpu:.2} s ({:.1} µs/user), emulator process {emulator_cpu:.2} s ({:.1} µs/user)",
            per_user(process_cpu),
            per_user(emulator_cpu)
        );
        let whole = cpu_at_end.process - cpu_at_start.process;
        println!(
            "CPU, client run       {whole:.2} s from the first export to the verified end ({:.1} µs/user)",
            per_user(whole)
        );
    } else {
        let client_cpu = last_cpu.client_threads - first_cpu.client_threads;
        println!(
            "CPU, import phase     {process_cpu:.2} s: client threads {client_cpu:.2} s ({:.1} µs/user), emulator threads {:.2} s ({:.1} µs/user)",
            per_user(client_cpu),
            process_cpu - client_cpu,
            per_user(process_cpu - client_cpu)
        );
    }
    println!(
        "import requests       {} ({} retries, {} answered 429)",
        report.requests,
        report.retries,
        report.batches.iter().map(|b| b.rate_limited).sum::<u32>()
    );
    if let Served::InProcess(server) = &served {
        let log = server.request_log();
        let faults_injected = log.iter().filter(|r| r.fault.is_some()).count();
        println!(
            "requests seen         {} ({faults_injected} with an injected fault; the log keeps the last 10,000)",
            log.len()
        );
        let imports: Vec<Duration> = log
            .iter()
            .filter(|r| r.method == "PUT")
            .map(|r| r.duration)
            .collect();
        println!(
            "emulator time         {} per import (arrival to answer, latency included)",
            spread(imports)
        );
    }
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
    let tenant_now = match &served {
        Served::InProcess(server) => server.tenant_dump("soak").ok_or("no tenant")?,
        Served::Child { .. } => runtime.block_on(client.export(&NoProgress))?,
    };
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
