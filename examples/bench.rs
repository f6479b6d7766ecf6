//! Benchmark of every command at scale: time, throughput and peak memory on synthetic tenants.
//!
//! ```text
//! cargo build --release && cargo run --release --example bench -- --users 100000,1000000
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
//!   in-memory diff of them (the previous design), up to `--whole-max` users;
//! - `json_patch::diff`: the document-level baseline (both files as `serde_json::Value`, then
//!   `json_patch::diff`), up to `--baseline-max` users (100,000 by default);
//! - `validate` and `problem path`: the release `poolsync` binary validating the desired file,
//!   and diffing against a copy of it whose first user has one bad `status` (a problem to
//!   report; exit 1);
//! - `export`, `plan`, `apply` and `migrate plan`: the release binary against `poolsync emulate`
//!   (a process of its own, no injected latency): `export` (to stdout, discarded), `plan --json`
//!   and `apply --auto-approve --json` (export, plan, import in 100-user batches 8 at a time,
//!   verify by a second export and plan) with the tenant seeded from the current file; and
//!   `migrate --from-file CURRENT -o PLAN` into an empty tenant (every user a create). Peak RSS
//!   by `/usr/bin/time`. Their MB/s is of both input files, as for the diff.

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
        for (operation, seconds, peak_kib) in measure_files(&current, &desired) {
            row(operation, seconds, peak_kib);
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

/// A copy of `desired` with one problem to report: the first user's `status` is `ACTIVE`, not
/// one of the allowed values (cached beside it).
fn with_one_problem(desired: &Path) -> PathBuf {
    let bad = desired.with_file_name(format!(
        "bad-{}",
        desired.file_name().unwrap().to_string_lossy()
    ));
    if bad.exists() {
        return bad;
    }
    let mut bytes = std::fs::read(desired).unwrap();
    let needle = b"\"status\":\"active\"";
    let at = bytes
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("a user with status `active`");
    bytes[at..at + needle.len()].copy_from_slice(b"\"status\":\"ACTIVE\"");
    std::fs::write(&bad, bytes).unwrap();
    bad
}

/// Runs the release `poolsync` with `args` under `/usr/bin/time`; returns its wall time and
/// peak RSS (KiB). `fails` says it must exit 1 (a document with a problem), else 0.
fn timed(
    binary: &Path,
    args: &[&std::ffi::OsStr],
    envs: &[(&str, &str)],
    fails: bool,
) -> (f64, u64) {
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(binary)
        .args(args)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run poolsync");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = if fails { 1 } else { 0 };
    assert_eq!(output.status.code(), Some(expected), "{args:?}: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    let mut numbers = last
        .split_whitespace()
        .filter_map(|n| n.parse::<f64>().ok());
    let seconds = numbers.next().unwrap_or(0.0);
    (seconds, numbers.next().unwrap_or(0.0) as u64)
}

/// An emulator of one tenant (`bench`), seeded with `seed` or empty, on a port of its own, and
/// the throwaway secret of its client (passed by environment, out of the process list).
struct Emulator {
    process: std::process::Child,
    url: String,
    secret: String,
}

impl Emulator {
    fn start(binary: &Path, seed: Option<&Path>) -> Emulator {
        let secret = uuid::Uuid::new_v4().to_string();
        let mut process = Command::new(binary)
            .args(["emulate", "--listen", "127.0.0.1:0", "--tenant", "bench"])
            .args(
                seed.map(|seed| [std::ffi::OsStr::new("--seed"), seed.as_os_str()])
                    .into_iter()
                    .flatten(),
            )
            .args(["--client-secret-env", "bench:BENCH_SECRET"])
            .env("BENCH_SECRET", &secret)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the emulator");
        use std::io::BufRead;
        let mut stderr = std::io::BufReader::new(process.stderr.take().unwrap());
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
        Emulator {
            process,
            url: url.expect("the emulator printed its address"),
            secret,
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The release `poolsync` binary next to this example, if built.
fn release_binary() -> Option<PathBuf> {
    std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .map(|release| release.join("poolsync"))
        .filter(|binary| binary.exists() && Path::new("/usr/bin/time").exists())
}

/// The release binary on files: `validate` of the desired file, and `diff` of a desired file
/// with one problem to report (the problem path), each timed by `/usr/bin/time`.
fn measure_files(current: &Path, desired: &Path) -> Vec<(&'static str, f64, u64)> {
    let Some(binary) = release_binary() else {
        eprintln!(
            "skipping validate and the problem path: build the binary first (`cargo build --release`)"
        );
        return Vec::new();
    };
    let bad = with_one_problem(desired);
    let os = |text: &'static str| std::ffi::OsStr::new(text);
    let (seconds, peak) = timed(&binary, &[os("validate"), desired.as_os_str()], &[], false);
    let mut rows = vec![("validate", seconds, peak)];
    let args = [
        os("diff"),
        current.as_os_str(),
        bad.as_os_str(),
        os("--json"),
    ];
    let (seconds, peak) = timed(&binary, &args, &[], true);
    rows.push(("problem path", seconds, peak));
    rows
}

/// The release binary against `poolsync emulate` (a process of its own, a fresh one for each):
/// `export`, `plan` and `apply` with the tenant seeded with `current`, and `migrate -o` of the
/// `current` file into an empty tenant (the migrate plan); each timed by `/usr/bin/time`.
fn measure_live(current: &Path, desired: &Path) -> Vec<(&'static str, f64, u64)> {
    let Some(binary) = release_binary() else {
        eprintln!("skipping the live rows: build the binary first (`cargo build --release`)");
        return Vec::new();
    };
    let scratch = std::env::temp_dir().join(format!("poolsync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let os = std::ffi::OsStr::new;
    let plan_file = scratch.join("migration-plan.json");
    let config = scratch.join("poolsync.toml");
    let mut rows = Vec::new();
    for operation in ["export", "plan", "apply", "migrate plan"] {
        let migrating = operation == "migrate plan";
        let emulator = Emulator::start(&binary, (!migrating).then_some(current));
        let args: Vec<&std::ffi::OsStr> = match operation {
            "export" => vec![os("export")],
            "plan" => vec![
                os("plan"),
                os("--json"),
                os("--desired"),
                desired.as_os_str(),
            ],
            "apply" => vec![
                os("apply"),
                os("--auto-approve"),
                os("--json"),
                os("--desired"),
                desired.as_os_str(),
            ],
            _ => {
                std::fs::write(
                    &config,
                    format!(
                        "[profiles.target]\nurl = \"{}\"\ntenant = \"bench\"\nclient_id = \"bench\"\nclient_secret_env = \"BENCH_SECRET\"\n",
                        emulator.url
                    ),
                )
                .unwrap();
                vec![
                    os("--config"),
                    config.as_os_str(),
                    os("migrate"),
                    os("--from-file"),
                    current.as_os_str(),
                    os("--to"),
                    os("target"),
                    os("-o"),
                    plan_file.as_os_str(),
                ]
            }
        };
        let journals = scratch.to_string_lossy().to_string();
        let envs = [
            ("POOLSYNC_URL", emulator.url.as_str()),
            ("POOLSYNC_TENANT", "bench"),
            ("POOLSYNC_CLIENT_ID", "bench"),
            ("POOLSYNC_CLIENT_SECRET", emulator.secret.as_str()),
            ("BENCH_SECRET", emulator.secret.as_str()),
            ("POOLSYNC_JOURNAL_DIR", journals.as_str()),
        ];
        let (seconds, peak_kib) = timed(&binary, &args, &envs, false);
        rows.push((operation, seconds, peak_kib));
    }
    let _ = std::fs::remove_dir_all(&scratch);
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
