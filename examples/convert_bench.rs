//! Benchmark of `poolsync convert`: users per second and peak memory on synthetic exports.
//!
//! ```text
//! cargo build --release && flock /work/bench.lock \
//!   cargo run --release --example convert_bench -- --users 1000000
//! ```
//!
//! It writes synthetic exports of `--users` users into `target/bench/convert/` (kept for later
//! runs): an Auth0 user export as NDJSON with the password export Auth0 support sends (bcrypt
//! for the database users, a tenth of the users social-only), the same users as one JSON
//! array, and a generic CSV with a hash per user. Each is converted by the release `poolsync`
//! binary, a process of its own timed by `/usr/bin/time` (wall seconds and maximum resident
//! size), into a desired file in the same folder; the `--json` report is checked to account
//! for every user.
//!
//! Then the problem paths (`--only problems` runs just these, `--only happy` skips them), each
//! with an input made for it and removed after its run: every user with an e-mail address and a
//! phone number that are not one (lost fields everywhere; the document goes to stdout, into
//! `/dev/null`), every user claiming one e-mail address, every second user repeating the id of
//! the one before, a `--passwords` file of `--users` lines for no user, an Auth0 NDJSON export
//! whose every 100th line lost its second half (malformed JSON), and `--strict` on users
//! whose passwords are all scrypt. Each must stay under 1 GB, and those that stop must stop with
//! one screen of error: the row shows the exit code and stderr's lines and bytes, and the run
//! fails when an error is longer than 30 lines or 8 KiB.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut users: u64 = 1_000_000;
    let mut directory = PathBuf::from("target/bench/convert");
    let mut only = String::from("all");
    let mut position = 1;
    while position < args.len() {
        let value = args.get(position + 1).cloned().unwrap_or_default();
        match args[position].as_str() {
            "--users" => {
                users = value
                    .replace('_', "")
                    .parse()
                    .expect("--users takes a number")
            }
            "--dir" => directory = PathBuf::from(value),
            "--only" => only = value,
            other => panic!("unknown argument `{other}`"),
        }
        position += 2;
    }
    std::fs::create_dir_all(&directory).expect("create the bench directory");
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(Path::parent)
        .map(|release| release.join("poolsync"))
        .filter(|binary| binary.exists())
        .expect("build the release binary first: cargo build --release");

    if only != "problems" {
        happy_paths(&binary, &directory, users);
    }
    if only != "happy" {
        problem_paths(&binary, &directory, users);
    }
}

/// A measured run of `poolsync convert SOURCE INPUTS --pool customers ARGS...`.
struct Run {
    output: std::process::Output,
    seconds: f64,
    peak_mb: f64,
    /// The size of the inputs (and of `--passwords`), in MB.
    input_mb: f64,
}

/// Runs `poolsync convert` in a process of its own under `/usr/bin/time` (wall seconds and
/// maximum resident size); stdout is kept, or thrown away when it is the document.
fn measure(
    binary: &Path,
    directory: &Path,
    source: &str,
    inputs: &[PathBuf],
    args: &[String],
    keep_stdout: bool,
) -> Run {
    let mut measured = inputs.to_vec();
    let passwords = args.iter().position(|arg| arg == "--passwords");
    measured.extend(passwords.map(|at| PathBuf::from(&args[at + 1])));
    let input_bytes: u64 = measured
        .iter()
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    let timing = directory.join("time.txt");
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", "-o"])
        .arg(&timing)
        .arg(binary)
        .args(["convert", source])
        .args(inputs)
        .args(["--pool", "customers"])
        .args(args)
        .stdout(if keep_stdout {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .output()
        .expect("run poolsync convert");
    let wall = started.elapsed().as_secs_f64();
    let timed = std::fs::read_to_string(&timing).unwrap();
    let mut numbers = timed
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse::<f64>().ok());
    Run {
        output,
        seconds: numbers.next().unwrap_or(wall),
        peak_mb: numbers.next().unwrap_or(0.0) / 1024.0,
        input_mb: input_bytes as f64 / 1e6,
    }
}

fn happy_paths(binary: &Path, directory: &Path, users: u64) {
    let files = generate(directory, users);
    println!(
        "{:<26} {:>10} {:>9} {:>9} {:>11} {:>12} {:>10}",
        "input", "users", "input MB", "seconds", "users/s", "peak RSS MB", "output MB"
    );
    for (name, source, inputs, extra) in [
        (
            "auth0 NDJSON + passwords",
            "auth0",
            vec![files.auth0_ndjson.clone()],
            vec![
                "--passwords".to_string(),
                files.auth0_passwords.display().to_string(),
            ],
        ),
        (
            "auth0 JSON array",
            "auth0",
            vec![files.auth0_array.clone()],
            vec![],
        ),
        ("generic CSV", "csv", vec![files.csv.clone()], vec![]),
    ] {
        let output = directory.join(format!("desired-{source}-{users}.json"));
        let mut args = vec![
            "--json".to_string(),
            "-o".to_string(),
            output.display().to_string(),
        ];
        args.extend(extra);
        let run = measure(binary, directory, source, &inputs, &args, true);
        let result = &run.output;
        assert!(
            result.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_slice(&result.stderr).expect("the JSON report");
        assert_eq!(report["users"]["converted"], users, "{name}: {report:#}");
        let output_bytes = std::fs::metadata(&output).unwrap().len();
        println!(
            "{:<26} {:>10} {:>9.0} {:>9.2} {:>11.0} {:>12.0} {:>10.0}",
            name,
            users,
            run.input_mb,
            run.seconds,
            users as f64 / run.seconds,
            run.peak_mb,
            output_bytes as f64 / 1e6,
        );
        let _ = std::fs::remove_file(&output);
    }
}

/// A problem path: its name, source, extra arguments, its input (written just before its run),
/// and the exit code it must end with.
struct Problem {
    name: &'static str,
    source: &'static str,
    extra: Vec<String>,
    input: PathBuf,
    expected_exit: i32,
}

fn problem_paths(binary: &Path, directory: &Path, users: u64) {
    let auth0 = directory.join(format!("auth0-{users}.json"));
    write_lines(&auth0, users, |n| Some(auth0_user(n)), "", "\n", "\n");
    let csv_header = "id,email,email_verified,phone,phone_verified,username,password_hash,given_name,family_name,status,payload.locale,metadata.crm_id\n";
    let csv_row = |n: u64, email: &str, id: u64, hash: &str| {
        format!(
            "u{id},{email},{},+4520{:06},true,user{n},{hash},User,N{n},active,da-DK,CRM-{n}",
            n % 3 != 0,
            n % 1_000_000,
        )
    };
    let problems = [
        Problem {
            name: "lost e-mail and phone",
            source: "csv",
            extra: vec![],
            input: directory.join(format!("problem-lost-{users}.csv")),
            expected_exit: 0,
        },
        Problem {
            name: "one e-mail for all",
            source: "csv",
            extra: vec![],
            input: directory.join(format!("problem-same-email-{users}.csv")),
            expected_exit: 1,
        },
        Problem {
            name: "every 2nd id repeated",
            source: "csv",
            extra: vec![],
            input: directory.join(format!("problem-same-id-{users}.csv")),
            expected_exit: 1,
        },
        Problem {
            name: "passwords for no user",
            source: "auth0",
            extra: vec![
                "--passwords".into(),
                directory
                    .join(format!("problem-passwords-{users}.json"))
                    .display()
                    .to_string(),
            ],
            input: auth0.clone(),
            expected_exit: 1,
        },
        Problem {
            name: "every 100th line cut",
            source: "auth0",
            extra: vec![],
            input: directory.join(format!("problem-cut-{users}.json")),
            expected_exit: 1,
        },
        Problem {
            name: "--strict, all scrypt",
            source: "csv",
            extra: vec!["--strict".into()],
            input: directory.join(format!("problem-scrypt-{users}.csv")),
            expected_exit: 1,
        },
    ];
    println!(
        "{:<26} {:>10} {:>9} {:>9} {:>11} {:>12} {:>5} {:>7} {:>7}",
        "problem path",
        "users",
        "input MB",
        "seconds",
        "users/s",
        "peak RSS MB",
        "exit",
        "lines",
        "bytes"
    );
    for problem in problems {
        let started = Instant::now();
        match problem.name {
            "lost e-mail and phone" => write_lines(
                &problem.input,
                users,
                |n| {
                    let row = csv_row(n, &format!("user{n}@localhost"), n, &hash_of(n));
                    Some(row.replacen(",+4520", ",2024-01-15 10:", 1))
                },
                csv_header,
                "\n",
                "\n",
            ),
            "one e-mail for all" => write_lines(
                &problem.input,
                users,
                |n| Some(csv_row(n, "same@example.com", n, &hash_of(n))),
                csv_header,
                "\n",
                "\n",
            ),
            "every 2nd id repeated" => write_lines(
                &problem.input,
                users,
                |n| {
                    Some(csv_row(
                        n,
                        &format!("user{n}@example.com"),
                        n / 2,
                        &hash_of(n),
                    ))
                },
                csv_header,
                "\n",
                "\n",
            ),
            "every 100th line cut" => write_lines(
                &problem.input,
                users,
                |n| {
                    // Malformed JSON: a copy that lost the end of some lines.
                    let line = auth0_user(n);
                    Some(if n % 100 == 0 {
                        line[..line.len() / 2].to_owned()
                    } else {
                        line
                    })
                },
                "",
                "\n",
                "\n",
            ),
            "passwords for no user" => write_lines(
                Path::new(&problem.extra[1]),
                users,
                |n| {
                    Some(format!(
                        r#"{{"_id":{{"$oid":"ghost{n:019}"}},"email":"ghost{n}@example.com","passwordHash":"{}"}}"#,
                        hash_of(n)
                    ))
                },
                "",
                "\n",
                "\n",
            ),
            _ => write_lines(
                &problem.input,
                users,
                |n| {
                    // Quoted: the parameters have commas.
                    let scrypt = format!(
                        "\"$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ${}\"",
                        &hash_of(n)[7..50]
                    );
                    Some(csv_row(n, &format!("user{n}@example.com"), n, &scrypt))
                },
                csv_header,
                "\n",
                "\n",
            ),
        }
        eprintln!(
            "{}: input ready in {:.1}s",
            problem.name,
            started.elapsed().as_secs_f64()
        );
        let inputs = [problem.input.clone()];
        let run = measure(
            binary,
            directory,
            problem.source,
            &inputs,
            &problem.extra,
            false,
        );
        let result = &run.output;
        let stderr = String::from_utf8_lossy(&result.stderr);
        let code = result.status.code().unwrap_or(-1);
        println!(
            "{:<26} {:>10} {:>9.0} {:>9.2} {:>11.0} {:>12.0} {:>5} {:>7} {:>7}",
            problem.name,
            users,
            run.input_mb,
            run.seconds,
            users as f64 / run.seconds,
            run.peak_mb,
            code,
            stderr.lines().count(),
            stderr.len(),
        );
        assert_eq!(code, problem.expected_exit, "{}: {stderr}", problem.name);
        if code != 0 {
            assert!(
                stderr.lines().count() <= 30 && stderr.len() <= 8 * 1024,
                "{}: more than a screen of error:\n{stderr}",
                problem.name
            );
            eprintln!("{stderr}");
        }
        assert!(run.peak_mb < 1024.0, "{}: 1 GB or more", problem.name);
        if problem.input != auth0 {
            let _ = std::fs::remove_file(&problem.input);
        }
        if let Some(passwords) = problem.extra.get(1) {
            let _ = std::fs::remove_file(passwords);
        }
    }
}

struct Files {
    auth0_ndjson: PathBuf,
    auth0_passwords: PathBuf,
    auth0_array: PathBuf,
    csv: PathBuf,
}

/// A bcrypt-shaped hash (cost 10, 53 characters of bcrypt's alphabet) that differs per user.
/// Computing real bcrypt hashes for a million users would take hours; the converter only reads
/// their text.
fn hash_of(n: u64) -> String {
    const ALPHABET: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut text = String::from("$2b$10$");
    for _ in 0..53 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push(ALPHABET[(state % 64) as usize] as char);
    }
    text
}

fn auth0_user(n: u64) -> String {
    let id = format!("{:024x}", n.wrapping_mul(0x5851_F42D_4C95_7F2D));
    let social = n % 10 == 9;
    let (user_id, identity) = if social {
        (
            format!("google-oauth2|{}", 100_000_000_000 + n),
            format!(
                r#"{{"connection":"google-oauth2","provider":"google-oauth2","user_id":"{}","isSocial":true}}"#,
                100_000_000_000 + n
            ),
        )
    } else {
        (
            format!("auth0|{id}"),
            format!(
                r#"{{"connection":"Username-Password-Authentication","provider":"auth0","user_id":"{id}","isSocial":false}}"#
            ),
        )
    };
    let mut line = String::with_capacity(800);
    let _ = write!(
        line,
        r#"{{"user_id":"{user_id}","email":"user{n}@example.com","email_verified":{},"username":"user{n}","phone_number":"+1415{:07}","phone_verified":false,"name":"User {n}","given_name":"User","family_name":"N{n}","nickname":"user{n}","picture":"https://s.gravatar.com/avatar/{id}?s=480&r=pg","identities":[{identity}],"app_metadata":{{"roles":["user"],"plan":"pro"}},"user_metadata":{{"preferences":{{"theme":"dark"}}}},"created_at":"2024-01-01T00:00:00.000Z","updated_at":"2024-06-01T00:00:00.000Z","last_login":"2024-06-01T00:00:00.000Z","last_ip":"10.0.{}.{}","logins_count":{},"blocked":{}}}"#,
        n % 3 != 0,
        n % 10_000_000,
        n % 256,
        (n / 256) % 256,
        n % 500,
        n % 50 == 0,
    );
    line
}

fn auth0_password(n: u64) -> Option<String> {
    if n % 10 == 9 {
        return None;
    }
    let id = format!("{:024x}", n.wrapping_mul(0x5851_F42D_4C95_7F2D));
    Some(format!(
        r#"{{"_id":{{"$oid":"{id}"}},"email":"user{n}@example.com","email_verified":true,"passwordHash":"{}","password_set_date":{{"$date":"2024-01-01T00:00:00.000Z"}},"tenant":"bench","connection":"Username-Password-Authentication","_tmp_is_unique":true}}"#,
        hash_of(n)
    ))
}

fn write_lines(
    path: &Path,
    users: u64,
    line: impl Fn(u64) -> Option<String>,
    head: &str,
    separator: &str,
    tail: &str,
) {
    if path.exists() {
        return;
    }
    let temporary = path.with_extension("partial");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&temporary).unwrap());
    out.write_all(head.as_bytes()).unwrap();
    let mut first = true;
    for n in 0..users {
        if let Some(line) = line(n) {
            if !first {
                out.write_all(separator.as_bytes()).unwrap();
            }
            first = false;
            out.write_all(line.as_bytes()).unwrap();
        }
    }
    out.write_all(tail.as_bytes()).unwrap();
    out.flush().unwrap();
    drop(out);
    std::fs::rename(temporary, path).unwrap();
}

fn generate(directory: &Path, users: u64) -> Files {
    let started = Instant::now();
    let files = Files {
        auth0_ndjson: directory.join(format!("auth0-{users}.json")),
        auth0_passwords: directory.join(format!("auth0-passwords-{users}.json")),
        auth0_array: directory.join(format!("auth0-array-{users}.json")),
        csv: directory.join(format!("users-{users}.csv")),
    };
    write_lines(
        &files.auth0_ndjson,
        users,
        |n| Some(auth0_user(n)),
        "",
        "\n",
        "\n",
    );
    write_lines(
        &files.auth0_passwords,
        users,
        auth0_password,
        "",
        "\n",
        "\n",
    );
    write_lines(
        &files.auth0_array,
        users,
        |n| Some(auth0_user(n)),
        "[\n  ",
        ",\n  ",
        "\n]\n",
    );
    write_lines(
        &files.csv,
        users,
        |n| {
            Some(format!(
                "u{n},user{n}@example.com,{},+4520{:06},true,user{n},{},User,N{n},{},da-DK,CRM-{n}",
                n % 3 != 0,
                n % 1_000_000,
                hash_of(n),
                if n % 50 == 0 { "disabled" } else { "active" },
            ))
        },
        "id,email,email_verified,phone,phone_verified,username,password_hash,given_name,family_name,status,payload.locale,metadata.crm_id\n",
        "\n",
        "\n",
    );
    eprintln!("inputs ready in {:.1}s", started.elapsed().as_secs_f64());
    files
}
