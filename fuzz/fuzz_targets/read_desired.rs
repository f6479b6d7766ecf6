//! Reading a desired file: any bytes must give a document or an error, never a panic, and a
//! document read must survive validation, indexing and a diff against itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolsync::diff::{DiffOptions, diff};
use poolsync::load::parse_dump;
use poolsync::validate::{ValidateOptions, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(dump) = parse_dump(data, "fuzz") else {
        return;
    };
    let _ = validate(&dump, &ValidateOptions::default());
    if let Ok(plan) = diff(&dump, &dump, &DiffOptions::default()) {
        assert!(!plan.has_changes(), "a document differs from itself");
    }
});
