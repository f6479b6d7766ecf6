//! `poolsync validate FILE`: every problem of a desired file, without touching anything.

use super::load_file;
use crate::cli::{GlobalArgs, ValidateArgs};
use crate::ui::Failure;
use poolsync::exit_codes;
use poolsync::render::count_noun;
use poolsync::validate::{ValidateOptions, validate};
use std::collections::BTreeSet;
use std::io::Write;

pub fn run_validate(args: ValidateArgs, _global: &GlobalArgs) -> Result<u8, Failure> {
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
