//! `poolsync completions SHELL`: a completion script generated from the command line's own
//! definition, so it never falls behind.

use crate::cli::Cli;
use crate::command_error::Failure;
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use poolsync::exit_codes;
use std::io::Write;

/// Print a shell completion script
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell: `bash` (source it, or put it in `~/.local/share/bash-completion/completions/poolsync`),
    /// `zsh` (as `_poolsync` in a folder of `$fpath`), `fish` (in `~/.config/fish/completions/poolsync.fish`),
    /// `powershell` or `elvish`
    #[arg(value_enum)]
    shell: Shell,
}

pub(crate) fn run(args: CompletionsArgs) -> Result<u8, Failure> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "poolsync", &mut out);
    out.flush()?;
    Ok(exit_codes::SUCCESS)
}
