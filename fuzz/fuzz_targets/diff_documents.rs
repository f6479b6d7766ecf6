//! Diffing two documents: the input is split at its first NUL byte into a current and a desired
//! document. Any pair must diff or fail cleanly; when both are valid, carrying out the plan
//! (the import bodies apply would send, merged as an update-mode import) must reach the
//! desired state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolsync::diff::{DiffOptions, diff};
use poolsync::import::{build_batches, merge_update};
use poolsync::load::parse_dump;
use poolsync::render::{TextOptions, render_json, render_text};
use poolsync::validate::{ValidateOptions, validate};

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (Ok(current), Ok(desired)) = (
        parse_dump(&data[..split], "current"),
        parse_dump(&data[split + 1..], "desired"),
    ) else {
        return;
    };
    let Ok(plan) = diff(&current, &desired, &DiffOptions::default()) else {
        return;
    };
    let _ = render_text(&plan, &mut std::io::sink(), &TextOptions { full: true, ..TextOptions::default() });
    let _ = render_json(&plan, &mut std::io::sink());
    let valid = |dump| validate(dump, &ValidateOptions::default()).is_empty();
    if !valid(&current) || !valid(&desired) {
        return;
    }
    let mut tenant = current.clone();
    for batch in build_batches(&plan, &current, &desired, "t", "2026-01-01T00:00:00Z", 100) {
        tenant = merge_update(&tenant, &batch.body);
    }
    let after = diff(&tenant, &desired, &DiffOptions::default()).expect("the merged tenant diffs");
    assert!(!after.has_changes(), "the plan did not converge: {after:#?}");
});
