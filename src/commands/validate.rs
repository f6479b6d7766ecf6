//! `poolsync validate FILE`: every problem of a desired file, without touching anything.

use super::common::load_file;
use crate::command_error::Failure;
use clap::Args;
use poolsync::exit_codes;
use poolsync::render::count_noun;
use poolsync::validate::{ValidateOptions, validate};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

/// Check a desired file without touching anything
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The file to check
    file: PathBuf,
    /// A pool that exists in the tenant although the file does not list it (repeatable)
    #[arg(long = "pool", value_name = "ID")]
    known_pools: Vec<String>,
}

pub(crate) fn run(args: ValidateArgs) -> Result<u8, Failure> {
    let dump = load_file(&args.file)?;
    let options = ValidateOptions {
        known_pools: args.known_pools.clone(),
    };
    let problems = validate(&dump, &options);
    let file = args.file.display();
    if !problems.is_empty() {
        return Err(Failure::new(format!(
            "`{file}` has {}",
            count_noun(problems.len(), "problem", "problems")
        ))
        .details(problems.iter().map(ToString::to_string).collect()));
    }
    let pools: BTreeSet<&str> = dump
        .users
        .iter()
        .filter_map(|u| u.user_pool_id.as_deref())
        .collect();
    writeln!(
        std::io::stdout(),
        "`{file}` is valid: {} in {}",
        count_noun(dump.users.len(), "user", "users"),
        count_noun(pools.len(), "pool", "pools")
    )?;
    Ok(exit_codes::SUCCESS)
}
