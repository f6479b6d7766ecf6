//! `poolsync man [COMMAND]`: the manual page in roff, generated from the command line's own
//! definition (`poolsync man | man -l -`, or `poolsync man --out-dir DIR` for one page per
//! command to install under `man1/`).

use crate::cli::Cli;
use crate::command_error::Failure;
use clap::{Args, CommandFactory};
use clap_mangen::Man;
use poolsync::exit_codes;
use std::io::Write;
use std::path::PathBuf;

/// Print the manual page
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The page of this command instead of the main page, such as `apply`
    command: Option<String>,
    /// Write `poolsync.1` and one `poolsync-COMMAND.1` per command into this folder instead
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    out_dir: Option<PathBuf>,
}

pub(crate) fn run(args: ManArgs) -> Result<u8, Failure> {
    let mut command = Cli::command();
    command.build();
    if let Some(folder) = &args.out_dir {
        clap_mangen::generate_to(command, folder).map_err(|error| {
            Failure::new(error).hint(format!(
                "could not write the pages into `{}`",
                folder.display()
            ))
        })?;
        return Ok(exit_codes::SUCCESS);
    }
    let page = match &args.command {
        None => command,
        Some(name) => {
            let names: Vec<String> = command
                .get_subcommands()
                .map(|sub| sub.get_name().to_string())
                .collect();
            let Some(sub) = command.find_subcommand(name) else {
                return Err(Failure::new(format!("`{name}` is not a poolsync command"))
                    .hint(format!("the commands are {}", names.join(", "))));
            };
            // The page's title names the whole command, as `generate_to` does.
            let title = format!("poolsync-{name}");
            sub.clone().name(title.clone()).bin_name(title)
        }
    };
    let mut out = std::io::stdout().lock();
    Man::new(page).render(&mut out)?;
    out.flush()?;
    Ok(exit_codes::SUCCESS)
}
