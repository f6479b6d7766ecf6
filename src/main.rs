//! The `poolsync` binary: argv -> settings -> library -> exit code.

mod cli;
mod commands;
mod ui;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// mimalloc: a tree of a million users is millions of small allocations, where it is markedly
/// faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let stderr_color = ui::use_color(cli.global.color, ui::stderr_is_terminal());
    let chatty = matches!(cli.command, cli::Command::Emulate(_));
    ui::init_logging(cli.global.verbose, chatty, stderr_color);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) if failure.is_broken_pipe() => ExitCode::SUCCESS,
        Err(failure) => {
            // Nothing more can be reported if stderr itself is gone.
            let _ = std::io::stderr().write_all(failure.render(stderr_color).as_bytes());
            ExitCode::from(failure.code)
        }
    }
}
