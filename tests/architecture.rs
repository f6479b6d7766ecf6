//! ARCHITECTURE.md's invariants that a machine can check by reading the source: which modules
//! may touch files, the network, the clock and clap, that command modules stand alone, and that
//! both code maps (ARCHITECTURE.md and the crate docs) name every module there is.
//! (The rest is checked elsewhere: printing by clippy lints in `lib.rs`, links by `cargo doc`.)

use crate::support::root;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to `src/` with `/`, contents without
/// comments and test modules).
fn sources() -> Vec<(String, String)> {
    fn walk(folder: &Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push(path);
            }
        }
    }
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (name, code_of(&std::fs::read_to_string(&path).unwrap()))
        })
        .collect()
}

/// The code of a file: comments dropped, and everything from `#[cfg(test)]` on (test modules
/// come last in this codebase and may do what the code may not).
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The library module a file belongs to (`client/batch.rs` → `client`), or `None` for the
/// binary's files.
fn library_module(file: &str) -> Option<&str> {
    const BINARY: &[&str] = &["main.rs", "cli.rs", "command_error.rs", "ui.rs"];
    if BINARY.contains(&file) || file.starts_with("commands/") {
        return None;
    }
    Some(
        file.split('/')
            .next()
            .unwrap_or(file)
            .trim_end_matches(".rs"),
    )
}

/// Files of the library whose code contains any of `needles`, outside the modules allowed.
fn offenders(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(file, code)| {
            library_module(file).is_some_and(|module| {
                !allowed.contains(&module)
                    && !allowed.contains(&file.as_str())
                    && needles.iter().any(|needle| code.contains(needle))
            })
        })
        .map(|(file, _)| file)
        .collect()
}

#[test]
fn only_the_client_and_the_emulator_touch_the_network() {
    let found = offenders(
        &[
            "reqwest",
            "hyper",
            "axum",
            "TcpListener",
            "TcpStream",
            "UdpSocket",
        ],
        &["client", "emulator"],
    );
    assert!(
        found.is_empty(),
        "network code outside client and emulator: {found:?}"
    );
}

#[test]
fn files_are_touched_only_by_the_modules_the_architecture_names() {
    let found = offenders(
        &[
            "std::fs",
            "File::open",
            "File::create",
            "OpenOptions",
            "tempfile",
        ],
        &[
            "load",
            "sieve",
            "fsutil",
            "journal",
            "planfile",
            "client",
            "emulator/persist.rs",
        ],
    );
    assert!(
        found.is_empty(),
        "file access outside the named modules: {found:?}"
    );
}

#[test]
fn only_clock_reads_the_wall_clock() {
    let found = offenders(
        &[
            "SystemTime::now",
            "OffsetDateTime::now",
            "Utc::now",
            "Local::now",
        ],
        &["clock"],
    );
    assert!(
        found.is_empty(),
        "wall clock read outside `clock`: {found:?}"
    );
}

#[test]
fn the_pure_core_has_no_io_no_clock_no_network() {
    const PURE: &[&str] = &[
        "index",
        "normalize",
        "diff",
        "plan",
        "render",
        "markdown",
        "redact",
        "validate",
        "import",
        "migrate",
        "password",
        "report",
    ];
    let impure = [
        "std::fs",
        "std::net",
        "std::env",
        "File::",
        "tokio",
        "reqwest",
        "clock::",
        "SystemTime",
        "Instant::now",
        "tracing::",
    ];
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(file, code)| {
            library_module(file).is_some_and(|module| PURE.contains(&module))
                && impure.iter().any(|needle| code.contains(needle))
        })
        .map(|(file, _)| file)
        .collect();
    assert!(
        found.is_empty(),
        "I/O, clock or network in the pure core: {found:?}"
    );
}

#[test]
fn the_library_does_not_depend_on_clap() {
    let found = offenders(&["clap"], &[]);
    assert!(found.is_empty(), "clap in the library: {found:?}");
}

#[test]
fn no_command_module_imports_another() {
    let sources = sources();
    let commands: BTreeSet<String> = sources
        .iter()
        .filter_map(|(file, _)| file.strip_prefix("commands/"))
        .map(|file| file.trim_end_matches(".rs").to_string())
        .filter(|name| name != "mod" && name != "common")
        .collect();
    let mut found = Vec::new();
    for (file, code) in &sources {
        let Some(name) = file.strip_prefix("commands/") else {
            continue;
        };
        for other in &commands {
            let imports = [
                format!("super::{other}::"),
                format!("super::{other}::{{"),
                format!("commands::{other}::"),
            ];
            if name != "mod.rs"
                && other.as_str() != name.trim_end_matches(".rs")
                && imports.iter().any(|needle| code.contains(needle.as_str()))
            {
                found.push(format!("{file} imports `{other}`"));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}

/// The modules `lib.rs` declares.
fn library_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|name| name.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn both_code_maps_name_every_module() {
    let modules = library_modules();
    assert!(modules.len() > 20, "{modules:?}");
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let missing: Vec<&String> = modules
        .iter()
        .filter(|module| !architecture.contains(&format!("`{module}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map lacks {missing:?}"
    );
    let missing: Vec<&String> = modules
        .iter()
        .filter(|module| !lib.contains(&format!("[`{module}`]")))
        .collect();
    assert!(
        missing.is_empty(),
        "the crate docs' code map lacks {missing:?}"
    );
    for command in std::fs::read_dir(root().join("src/commands")).unwrap() {
        let name = command.unwrap().file_name().to_string_lossy().into_owned();
        let name = name.trim_end_matches(".rs");
        if name != "mod" {
            assert!(
                architecture.contains(&format!("`commands/{name}`")),
                "ARCHITECTURE.md does not name `commands/{name}`"
            );
        }
    }
}
