//! The quickstart: plan, apply and plan again against the built-in emulator, over HTTP.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It starts the System API emulator on 127.0.0.1 with the sample tenant `acme`
//! (`examples/acme/export.json`), then does what these commands do, printing what a person
//! would see:
//!
//! ```text
//! poolsync plan  --desired examples/acme/desired-changes.json
//! poolsync apply --desired examples/acme/desired-changes.json --auto-approve
//! poolsync plan  --desired examples/acme/desired-changes.json
//! ```
//!
//! To do the same by hand, run `poolsync emulate` in one terminal and the commands above in
//! another (the emulator prints the settings to use).

use poolsync::apply::{ApplyOptions, PlanInputs, apply_plan};
use poolsync::client::{ApiClient, Cancellation, ConnectionArgs, ConnectionSettings, NoProgress};
use poolsync::diff::DiffOptions;
use poolsync::emulator::{Emulator, EmulatorConfig};
use poolsync::load::read_dump;
use poolsync::render::{TextOptions, render_apply_report, render_text};
use poolsync::sieve::{SieveOptions, Sifted, Source};
use std::collections::HashMap;
use std::error::Error;
use std::path::Path;

const DESIRED: &str = "examples/acme/desired-changes.json";

fn main() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = read_dump(&root.join("examples/acme/export.json"))?;
    let desired = root.join(DESIRED);

    // A throwaway secret, known only to this process: it is never printed.
    let secret = uuid::Uuid::new_v4().to_string();
    let server = Emulator::start_in_background(EmulatorConfig::new().tenant("acme", seed).client(
        "quickstart",
        secret.as_str(),
        &[],
    ))?;
    println!(
        "Emulator of the SecureAuth System API listening on {}",
        server.url()
    );
    println!("Tenant `acme`, client `quickstart`.\n");

    let environment: HashMap<&str, String> = HashMap::from([
        ("POOLSYNC_URL", server.url()),
        ("POOLSYNC_TENANT", "acme".to_string()),
        ("POOLSYNC_CLIENT_ID", "quickstart".to_string()),
        ("POOLSYNC_CLIENT_SECRET", secret),
    ]);
    let lookup = |name: &str| environment.get(name).cloned();
    let settings = ConnectionSettings::resolve(&ConnectionArgs::default(), &lookup)?;
    let client = ApiClient::new(settings)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let text = TextOptions::default();
    let mut stdout = std::io::stdout().lock();

    // What `poolsync plan` does: export, then plan the desired file against the export.
    let diff_options = DiffOptions::default();
    let plan_now = || -> Result<Sifted, Box<dyn Error>> {
        let body = runtime.block_on(client.export_response(&NoProgress))?;
        let current = Source::Memory {
            name: poolsync::client::ExportBody::SOURCE_NAME,
            bytes: &body.bytes,
        };
        let sifted = poolsync::sieve::plan(
            current,
            Source::File(&desired),
            SieveOptions::new(&diff_options),
        )?;
        Ok(sifted)
    };

    println!("$ poolsync plan --desired {DESIRED}\n");
    let sifted = plan_now()?;
    render_text(&sifted.plan, &mut stdout, &text)?;

    println!("\n$ poolsync apply --desired {DESIRED} --auto-approve");
    let options = ApplyOptions::default();
    let report = runtime.block_on(apply_plan(
        &client,
        &sifted.plan,
        &PlanInputs::new(&sifted, Source::File(&desired)),
        &options,
        &(),
        &Cancellation::new(),
    ))?;
    render_apply_report(&report, &mut stdout)?;

    println!("\n$ poolsync plan --desired {DESIRED}\n");
    let plan = plan_now()?.plan;
    render_text(&plan, &mut stdout, &text)?;
    if plan.has_changes() || !report.is_complete() {
        return Err("the tenant did not converge".into());
    }
    Ok(())
}
