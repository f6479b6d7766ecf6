//! Diff benchmark: time, throughput and peak memory of the diff pipeline on synthetic tenants.
//!
//! ```text
//! cargo run --release --example bench -- --users 10000,100000,1000000
//! ```
//!
//! For each size it generates a tenant and a desired file (5 % updated, 2 % created, 1 % dropped,
//! arrays shuffled; cached in `target/bench/`), then measures, each in a child process of its
//! own so that peak RSS is that operation's alone:
//! - `sonic-rs parse`: both files parsed into `sonic_rs::Value`, in parallel: the fastest
//!   well-kept Rust JSON parser merely reading the input, the floor the ratios are taken to;
//! - `parse`: reading both files into poolsync's typed model, in parallel;
//! - `diff`: what `poolsync diff --json` does: read both, diff, render the JSON plan;
//! - `json_patch::diff`: the document-level baseline (both files as `serde_json::Value`, then
//!   `json_patch::diff`), up to `--baseline-max` users (100,000 by default), as it needs
//!   several times the memory.

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
            "--dir" => directory = PathBuf::from(value),
            other => panic!("unknown argument `{other}`"),
        }
        position += 2;
    }
    std::fs::create_dir_all(&directory).expect("create the bench directory");
    println!(
        "{:<18} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "operation", "users", "seconds", "MB/s", "peak RSS MB", "vs sonic"
    );
    for users in sizes {
        let (current, desired) = generate(&directory, users);
        let bytes =
            std::fs::metadata(&current).unwrap().len() + std::fs::metadata(&desired).unwrap().len();
        let mut floor = None;
        for operation in std::env::var("BENCH_OPS")
            .map(|v| v.split(',').map(String::from).collect::<Vec<_>>())
            .unwrap_or_else(|_| {
                ["sonic-rs parse", "parse", "diff", "json_patch::diff"]
                    .map(String::from)
                    .to_vec()
            })
            .iter()
            .map(String::as_str)
        {
            if operation == "json_patch::diff" && users > baseline_max {
                continue;
            }
            let (seconds, peak_kib) = measure(operation, &current, &desired);
            let floor_seconds = *floor.get_or_insert(seconds);
            println!(
                "{:<18} {:>10} {:>10.2} {:>10.0} {:>12.0} {:>9.2}x",
                operation,
                users,
                seconds,
                bytes as f64 / 1e6 / seconds,
                peak_kib as f64 / 1024.0,
                seconds / floor_seconds
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

/// Runs one operation in a child process; returns its wall time and peak RSS in KiB, which
/// the child reads from its own `/proc/self/status` (`VmHWM`) just before it exits.
fn measure(operation: &str, current: &Path, desired: &Path) -> (f64, u64) {
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
    let peak = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (seconds, peak)
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
        "parse" => {
            let (a, b) = std::thread::scope(|scope| {
                let a = scope.spawn(|| read_dump(current).unwrap());
                (a.join().unwrap(), read_dump(desired).unwrap())
            });
            assert!(!a.users.is_empty() && !b.users.is_empty());
        }
        "diff" => {
            let (a, b) = std::thread::scope(|scope| {
                let a = scope.spawn(|| read_dump(current).unwrap());
                (a.join().unwrap(), read_dump(desired).unwrap())
            });
            let plan = diff(&a, &b, &DiffOptions::default()).unwrap();
            poolsync::render::render_json(&plan, &mut std::io::sink()).unwrap();
            assert!(plan.has_changes());
        }
        "sieve" => {
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
            assert!(sifted.plan.has_changes() && sifted.stats.fell_back.is_none());
            if std::env::var_os("BENCH_STATS").is_some() {
                eprintln!("{:?}", sifted.stats);
            }
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
