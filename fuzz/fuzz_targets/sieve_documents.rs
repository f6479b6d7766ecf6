//! The sieve against the exact path: the input is split at its first NUL byte into a current and
//! a desired document, and `sieve::plan` must return what loading both, validating the desired
//! one and diffing them returns: the same plan, or the same error; and `sieve::validate` of the
//! desired document what loading and validating it returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolsync::diff::{DiffOptions, diff};
use poolsync::load::parse_dump;
use poolsync::sieve::{PlanError, SieveOptions, Source, plan};
use poolsync::validate::{ValidateOptions, validate};

fn exact(current: &[u8], desired: &[u8], check: bool) -> Result<serde_json::Value, String> {
    let current = parse_dump(current, "current").map_err(|e| format!("load current: {e}"))?;
    let desired = parse_dump(desired, "desired").map_err(|e| format!("load desired: {e}"))?;
    if check {
        let options = ValidateOptions {
            known_pools: current.pools.iter().filter_map(|p| p.id.clone()).collect(),
        };
        let problems = validate(&desired, &options);
        if !problems.is_empty() {
            return Err(format!("invalid: {problems:?}"));
        }
    }
    diff(&current, &desired, &DiffOptions::default())
        .map(|plan| serde_json::to_value(&plan).unwrap())
        .map_err(|e| format!("diff: {e}: {:?}", e.problems))
}

fn sifted(current: &[u8], desired: &[u8], check: bool) -> Result<serde_json::Value, String> {
    let options = DiffOptions::default();
    plan(
        Source::Memory { name: "current", bytes: current },
        Source::Memory { name: "desired", bytes: desired },
        SieveOptions { check_desired: check, ..SieveOptions::new(&options) },
    )
    .map(|sifted| serde_json::to_value(&sifted.plan).unwrap())
    .map_err(|error| match error {
        PlanError::Load { side, error } => format!("load {}: {error}", if side == poolsync::sieve::Side::Current { "current" } else { "desired" }),
        PlanError::Desired { problems, .. } => format!("invalid: {problems:?}"),
        PlanError::Diff(e) => format!("diff: {e}: {:?}", e.problems),
        PlanError::TooBig(e) => unreachable!("no memory budget was set: {e}"),
    })
}

/// `sieve::validate` against loading and validating: the same problems, or the same error.
fn validated(desired: &[u8], streamed: bool) -> Result<Vec<String>, String> {
    let options = ValidateOptions::default();
    let problems = if streamed {
        let source = Source::Memory { name: "desired", bytes: desired };
        poolsync::sieve::validate(source, &options, u64::MAX)
            .map(|validation| validation.problems)
            .map_err(|e| e.to_string())?
    } else {
        validate(&parse_dump(desired, "desired").map_err(|e| e.to_string())?, &options)
    };
    Ok(problems.iter().map(ToString::to_string).collect())
}

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (current, desired) = (&data[..split], &data[split + 1..]);
    for check in [false, true] {
        assert_eq!(sifted(current, desired, check), exact(current, desired, check));
    }
    assert_eq!(validated(desired, true), validated(desired, false));
});
