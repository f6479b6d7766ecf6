//! Benchmark of diff, plan and apply: time, throughput and peak memory on synthetic tenants.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench -- --users 10000,100000,1000000
//! ```
//!
//! For each size it generates a tenant and a desired file (5 % updated, 2 % created, 1 % dropped,
//! arrays shuffled; cached in `target/bench/`), then measures, each in a process of its own so
//! that peak RSS is that operation's alone:
//! - `sonic-rs parse`: both files parsed into `sonic_rs::Value`, in parallel: the fastest
//!   well-kept Rust JSON parser merely reading the input, the floor the ratios are taken to;
//! - `diff`: what `poolsync diff --json` does ([`poolsync::sieve::plan`] on both files, the JSON
//!   plan rendered), and the two phases inside it: `reading` (both files streamed, in parallel,
//!   to fingerprints) and `exact diff` (the users that differ read again and diffed in full);
//! - `parse (whole)` and `diff (whole)`: both files read whole into the typed model, and the
//!   in-memory diff of them (what the fallback path does), up to `--whole-max` users;
//! - `json_patch::diff`: the document-level baseline (both files as `serde_json::Value`, then
//!   `json_patch::diff`), up to `--baseline-max` users (100,000 by default);
//! - `export`, `plan` and `apply`: the release `poolsync` binary against `poolsync emulate` (a
//!   process of its own, seeded with the tenant, no injected latency): `export` (to stdout,
//!   discarded), `plan --json`, then `apply --auto-approve --json` (export, plan, import in
//!   100-user batches 8 at a time, verify by a second export and plan); peak RSS by
//!   `/usr/bin/time`. Their MB/s is of both input files, as for the diff.

use poolsync::diff::{DiffOptions, diff};
use poolsync::load::read_dump;
use poolsync::synth::{DesiredOptions, TenantOptions, desired, tenant, write_dump};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// mimalloc: a tree of a million users is millions of small allocations, where it is markedly
/// faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--child" {
        child(&args[2], Path::new(&args[3]), Path::new(&args[4]));
        return;
    }
    let mut sizes = vec![10_000, 100_000];
    let mut baseline_max = 100_000;
    let mut whole_max = 100_000;
    let mut live = true;
    let mut directory = PathBuf::from("target/bench");
    let mut position = 1;
    while position < args.len() {
        let value = args.get(position + 1).cloned().unwrap_or_default();
        match args[position].as_str() {
            "--users" => {
                sizes = value
                    .split(',')
                    .map(|n| n.replace('_', "").parse().expect("--users takes numbers"))
                    .collect()
            }
            "--baseline-max" => {
                baseline_max = value.parse().expect("--baseline-max takes a number")
            }
            "--whole-max" => whole_max = value.parse().expect("--whole-max takes a number"),
            "--no-live" => {
                live = false;
                position += 1;
                continue;
            }
            "--dir" => directory = PathBuf::from(value),
            other => panic!("unknown argument `{other}`"),
        }
        position += 2;
    }
    std::fs::create_dir_all(&directory).expect("create the bench directory");
    println!(
        "{:<18} {:>10} {:>10} {:>10} {:>12} {:>10} {:>11}",
        "operation", "users", "seconds", "MB/s", "peak RSS MB", "vs sonic", "vs j_p::diff"
    );
    for users in sizes {
        let (current, desired) = generate(&directory, users);
        let bytes =
            std::fs::metadata(&current).unwrap().len() + std::fs::metadata(&desired).unwrap().len();
        let mut floor = None;
        let mut baseline = None;
        let mut rows = Vec::new();
        let mut row = |operation: &str, seconds: f64, peak_kib: u64| {
            rows.push((operation.to_string(), seconds, peak_kib));
        };
        for operation in [
            "sonic-rs parse",
            "diff",
            "parse (whole)",
            "diff (whole)",
            "json_patch::diff",
        ] {
            if operation == "json_patch::diff" && users > baseline_max
                || operation.ends_with("(whole)") && users > whole_max
            {
                continue;
            }
            let (seconds, peak_kib, extra) = measure(operation, &current, &desired);
            row(operation, seconds, peak_kib);
            if operation == "sonic-rs parse" {
                floor = Some(seconds);
            }
            if operation == "json_patch::diff" {
                baseline = Some(seconds);
            }
            if let [reading, exact] = extra[..] {
                row("  reading", reading, 0);
                row("  exact diff", exact, 0);
            }
        }
        if live {
            for (operation, seconds, peak_kib) in measure_live(&current, &desired) {
                row(operation, seconds, peak_kib);
            }
        }
        for (operation, seconds, peak_kib) in rows {
            let ratio = |base: Option<f64>| {
                base.map_or("-".to_string(), |base| format!("{:.2}x", seconds / base))
            };
            let peak = if peak_kib == 0 {
                "-".to_string()
            } else {
                format!("{:.0}", peak_kib as f64 / 1024.0)
            };
            println!(
                "{:<18} {:>10} {:>10.2} {:>10.0} {:>12} {:>10} {:>11}",
                operation,
                users,
                seconds,
                bytes as f64 / 1e6 / seconds,
                peak,
                ratio(floor),
                ratio(baseline)
            );
        }
        println!(
            "{:<18} {:>10} input: {:.0} MB in both files",
            "",
            users,
            bytes as f64 / 1e6
        );
    }
}

fn generate(directory: &Path, users: usize) -> (PathBuf, PathBuf) {
    let current_path = directory.join(format!("current-{users}.json"));
    let desired_path = directory.join(format!("desired-{users}.json"));
    if current_path.exists() && desired_path.exists() {
        return (current_path, desired_path);
    }
    let started = Instant::now();
    let current = tenant(&TenantOptions {
        users,
        ..TenantOptions::default()
    });
    let wanted = desired(&current, &DesiredOptions::default());
    write_dump(&current, std::fs::File::create(&current_path).unwrap()).unwrap();
    write_dump(&wanted, std::fs::File::create(&desired_path).unwrap()).unwrap();
    eprintln!(
        "generated {users} users in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    (current_path, desired_path)
}

/// Runs one operation in a child process; returns its wall time, its peak RSS in KiB (which
/// the child reads from its own `/proc/self/status`, `VmHWM`, just before it exits) and any
/// further numbers it prints.
fn measure(operation: &str, current: &Path, desired: &Path) -> (f64, u64, Vec<f64>) {
    let started = Instant::now();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--child", operation])
        .arg(current)
        .arg(desired)
        .output()
        .expect("run the child");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{operation} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let numbers: Vec<f64> = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let peak = numbers.first().copied().unwrap_or(0.0) as u64;
    (seconds, peak, numbers.into_iter().skip(1).collect())
}

/// `poolsync plan` and `poolsync apply` (release build) against `poolsync emulate` seeded with
/// `current`, each timed by `/usr/bin/time`; a fresh emulator for each.
fn measure_live(current: &Path, desired: &Path) -> Vec<(&'static str, f64, u64)> {
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .map(|release| release.join("poolsync"))
        .filter(|binary| binary.exists());
    let Some(binary) = binary else {
        eprintln!("skipping plan and apply: build the binary first (`cargo build --release`)");
        return Vec::new();
    };
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("skipping plan and apply: /usr/bin/time is needed to read their peak RSS");
        return Vec::new();
    }
    let journals = std::env::temp_dir().join(format!("poolsync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&journals).unwrap();
    let mut rows = Vec::new();
    for (operation, args) in [
        ("export", &["export"][..]),
        ("plan", &["plan", "--json", "--desired"][..]),
        (
            "apply",
            &["apply", "--auto-approve", "--json", "--desired"][..],
        ),
    ] {
        // A throwaway secret, passed by environment so that it stays out of the process list.
        let secret = uuid::Uuid::new_v4().to_string();
        let mut emulator = Command::new(&binary)
            .args([
                "emulate",
                "--listen",
                "127.0.0.1:0",
                "--tenant",
                "bench",
                "--seed",
            ])
            .arg(current)
            .args(["--client-secret-env", "bench:BENCH_SECRET"])
            .env("BENCH_SECRET", &secret)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the emulator");
        let url = {
            use std::io::BufRead;
            let mut stderr = std::io::BufReader::new(emulator.stderr.take().unwrap());
            let mut url = None;
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    url = Some(rest.trim().to_string());
                }
                if line.contains("press Ctrl-C") {
                    break;
                }
                line.clear();
            }
            // The emulator goes on logging: keep its pipe drained.
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            url.expect("the emulator printed its address")
        };
        let output = Command::new("/usr/bin/time")
            .args(["-f", "%e %M"])
            .arg(&binary)
            .args(args)
            .args(args.last().filter(|a| **a == "--desired").map(|_| desired))
            .env("POOLSYNC_URL", &url)
            .env("POOLSYNC_TENANT", "bench")
            .env("POOLSYNC_CLIENT_ID", "bench")
            .env("POOLSYNC_CLIENT_SECRET", &secret)
            .env("POOLSYNC_JOURNAL_DIR", &journals)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run poolsync");
        let _ = emulator.kill();
        let _ = emulator.wait();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{operation} failed: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        let mut numbers = last
            .split_whitespace()
            .filter_map(|n| n.parse::<f64>().ok());
        let seconds = numbers.next().unwrap_or(0.0);
        let peak_kib = numbers.next().unwrap_or(0.0) as u64;
        rows.push((operation, seconds, peak_kib));
    }
    let _ = std::fs::remove_dir_all(&journals);
    rows
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn child(operation: &str, current: &Path, desired: &Path) {
    match operation {
        "parse (whole)" => {
            let (a, b) = std::thread::scope(|scope| {
                let a = scope.spawn(|| read_dump(current).unwrap());
                (a.join().unwrap(), read_dump(desired).unwrap())
            });
            assert!(!a.users.is_empty() && !b.users.is_empty());
        }
        "diff (whole)" => {
            let (a, b) = std::thread::scope(|scope| {
                let a = scope.spawn(|| read_dump(current).unwrap());
                (a.join().unwrap(), read_dump(desired).unwrap())
            });
            let plan = diff(&a, &b, &DiffOptions::default()).unwrap();
            poolsync::render::render_json(&plan, &mut std::io::sink()).unwrap();
            assert!(plan.has_changes());
        }
        "diff" => {
            let options = DiffOptions::default();
            let sifted = poolsync::sieve::plan(
                poolsync::sieve::Source::File(current),
                poolsync::sieve::Source::File(desired),
                poolsync::sieve::SieveOptions {
                    check_desired: true,
                    ..poolsync::sieve::SieveOptions::new(&options)
                },
            )
            .unwrap();
            poolsync::render::render_json(&sifted.plan, &mut std::io::sink()).unwrap();
            let stats = &sifted.stats;
            assert!(sifted.plan.has_changes() && stats.fell_back.is_none());
            let (current_read, desired_read) = stats.read_seconds;
            println!(
                "{} {} {}",
                peak_rss_kib(),
                current_read.max(desired_read),
                stats.exact_seconds
            );
            return;
        }
        "sonic-rs parse" => {
            let read = |path: &Path| -> sonic_rs::Value {
                sonic_rs::from_slice(&std::fs::read(path).unwrap()).unwrap()
            };
            let (a, b) = std::thread::scope(|scope| {
                let a = scope.spawn(|| read(current));
                (a.join().unwrap(), read(desired))
            });
            use sonic_rs::JsonValueTrait;
            assert!(a.is_object() && b.is_object());
        }
        "json_patch::diff" => {
            let read = |path: &Path| -> serde_json::Value {
                serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
            };
            let (a, b) = std::thread::scope(|scope| {
                let a = scope.spawn(|| read(current));
                (a.join().unwrap(), read(desired))
            });
            let patch = json_patch::diff(&a, &b);
            assert!(!patch.0.is_empty());
        }
        other => panic!("unknown operation `{other}`"),
    }
    println!("{}", peak_rss_kib());
}
