//! The tenant most end-to-end tests start from (`examples/acme/export.json`), the emulator that
//! serves it on 127.0.0.1:0, and the `poolsync` command pointed at it.

use super::{poolsync, transcript};
use poolsync::emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use poolsync::load::read_dump;
use poolsync::model::TenantDump;
use std::path::Path;
use std::process::{Command, Output};

/// The emulated tenant's id.
pub(crate) const TENANT: &str = "acme";
/// The client the tests authenticate as.
pub(crate) const CLIENT: &str = "poolsync-ci";
/// Its secret, which must never appear in any output.
pub(crate) const SECRET: &str = "s3cr3t-client-value-never-shown";
/// The tenant's export.
pub(crate) const EXPORT: &str = "examples/acme/export.json";
/// A desired file with changes against [`EXPORT`].
pub(crate) const CHANGES: &str = "examples/acme/desired-changes.json";
/// A desired file without changes against [`EXPORT`].
pub(crate) const UNCHANGED: &str = "examples/acme/desired-unchanged.json";

/// The example tenant.
pub(crate) fn acme() -> TenantDump {
    read_dump(&super::root().join(EXPORT)).unwrap()
}

/// The example tenant with its pools and schemas but no users.
pub(crate) fn pools_only() -> TenantDump {
    let mut seed = acme();
    seed.users.clear();
    seed.user_identifiers.clear();
    seed.user_verifiable_addresses.clear();
    seed.user_credentials.clear();
    seed.group_members.clear();
    seed.codes.clear();
    seed
}

/// An emulator of tenant [`TENANT`] seeded with `seed`, with the test client, on 127.0.0.1:0.
pub(crate) fn emulator(
    seed: TenantDump,
    configure: impl FnOnce(EmulatorConfig) -> EmulatorConfig,
) -> EmulatorHandle {
    let config = configure(
        EmulatorConfig::new()
            .tenant(TENANT, seed)
            .client(CLIENT, SECRET, &[]),
    );
    Emulator::start_in_background(config).expect("the emulator starts")
}

/// `poolsync` pointed at `server` through the environment.
pub(crate) fn live(server: &EmulatorHandle) -> Command {
    let mut command = poolsync();
    command
        .env("POOLSYNC_URL", server.url())
        .env("POOLSYNC_TENANT", TENANT)
        .env("POOLSYNC_CLIENT_ID", CLIENT)
        .env("POOLSYNC_CLIENT_SECRET", SECRET);
    command
}

/// Runs `poolsync` against `server` with `args`.
pub(crate) fn run(server: &EmulatorHandle, args: &[&str]) -> Output {
    live(server).args(args).output().expect("poolsync runs")
}

/// Fails when the output shows the client secret or a password hash.
pub(crate) fn assert_no_secrets(output: &Output) {
    let everything = transcript(output);
    assert!(
        !everything.contains(SECRET),
        "the client secret leaked:\n{everything}"
    );
    assert!(
        !everything.contains("$2a$"),
        "a password hash leaked:\n{everything}"
    );
}

/// A synthetic tenant of `users` users: its pools alone, and the whole of it.
pub(crate) fn synthetic(users: usize) -> (TenantDump, TenantDump) {
    let desired = poolsync::synth::tenant(&poolsync::synth::TenantOptions {
        tenant_id: TENANT.into(),
        users,
        pools: 2,
        seed: 3,
    });
    let mut empty = desired.clone();
    empty.users.clear();
    empty.user_identifiers.clear();
    empty.user_verifiable_addresses.clear();
    empty.user_credentials.clear();
    (empty, desired)
}

/// Writes `dump` as `name` into `directory` and returns its path.
pub(crate) fn write_json(directory: &Path, name: &str, dump: &TenantDump) -> String {
    let path = directory.join(name);
    std::fs::write(&path, serde_json::to_vec(dump).unwrap()).unwrap();
    path.display().to_string()
}

/// `poolsync emulate` run as its own process, as people run it.
pub(crate) struct EmulateProcess {
    /// The process.
    pub(crate) child: std::process::Child,
    /// The URL it serves, from its `listening on` line.
    pub(crate) url: String,
    /// What it printed after that line, collected until it exits.
    pub(crate) log: std::thread::JoinHandle<Vec<String>>,
}

/// Starts `command` (a `poolsync … emulate --listen 127.0.0.1:0 …`) with its stderr piped, waits
/// for the address it prints and keeps reading its log. `banner` sees every line before it.
pub(crate) fn spawn_emulate(mut command: Command, banner: impl Fn(&str)) -> EmulateProcess {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("poolsync emulate starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the emulator prints its address")
            .unwrap();
        banner(&line);
        if let Some(at) = line.find("listening on ") {
            break line[at + "listening on ".len()..].trim().to_string();
        }
    };
    // Keep reading stderr so the emulator never blocks on a full pipe.
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    EmulateProcess { child, url, log }
}

impl EmulateProcess {
    /// Ctrl-C, which must be a clean shutdown; returns the log.
    pub(crate) fn interrupt(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "Ctrl-C is a clean shutdown: {exit:?}");
        self.log.join().unwrap()
    }
}
