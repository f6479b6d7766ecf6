//! The `poolsync` binary: argv -> settings -> library -> exit code.

mod cli;
mod command_error;
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
    // clap exits 2 on a usage error, which `--detailed-exitcode` reserves for "changes":
    // usage errors exit 1 like every other error; help and version exit 0.
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                poolsync::exit_codes::ERROR
            } else {
                poolsync::exit_codes::SUCCESS
            });
        }
    };
    let stderr_color = ui::use_color(cli.global.color, ui::stderr_is_terminal());
    let chatty = cli.command.is_chatty();
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
