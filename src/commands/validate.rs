//! `poolsync validate FILE`: every problem of a desired file, without touching anything.

use super::common::memory_budget;
use crate::command_error::{Failure, load_failure, too_big};
use clap::Args;
use poolsync::exit_codes;
use poolsync::render::{count_noun, thousands};
use poolsync::sieve::{DocumentError, Source, validate};
use poolsync::validate::ValidateOptions;
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
    let options = ValidateOptions {
        known_pools: args.known_pools.clone(),
    };
    let validation = validate(Source::File(&args.file), &options, memory_budget()).map_err(
        |error| match error {
            DocumentError::Load(error) => load_failure(error, &args.file),
            DocumentError::TooBig(error) => too_big(error),
        },
    )?;
    let file = args.file.display();
    let problems = validation.problems;
    let total = validation.total_problems;
    if total > 0 {
        // Every problem is counted; the first thousand are listed (in the document's order).
        let mut details: Vec<String> = problems.iter().map(ToString::to_string).collect();
        if total > problems.len() {
            details.push(format!(
                "... and {} more; fix these and run `poolsync validate` again",
                thousands(total - problems.len())
            ));
        }
        return Err(Failure::new(format!(
            "`{file}` has {}",
            count_noun(total, "problem", "problems")
        ))
        .details(details));
    }
    writeln!(
        std::io::stdout(),
        "`{file}` is valid: {} in {}",
        count_noun(validation.users, "user", "users"),
        count_noun(validation.pools_with_users.len(), "pool", "pools")
    )?;
    Ok(exit_codes::SUCCESS)
}
