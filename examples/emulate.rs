//! Runs the System API emulator as `poolsync emulate` does, for trying it by hand:
//!
//! ```text
//! cargo run --example emulate -- --tenant acme --seed examples/tenant.json --client ops:s3cret
//! curl -s -d grant_type=client_credentials -u ops:s3cret http://127.0.0.1:8080/acme/system/oauth2/token
//! ```
#![allow(
    clippy::print_stderr,
    reason = "a program's main reports its own errors"
)]

use clap::Parser;
use poolsync::emulator::cli::{EmulateArgs, run_emulate};
use std::process::ExitCode;

/// Serve a local emulator of the SecureAuth System API
#[derive(Parser, Debug)]
#[command(name = "emulate")]
struct Command {
    #[command(flatten)]
    args: EmulateArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = Command::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run_emulate(command.args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  Caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
