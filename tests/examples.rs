//! Every desired file under `examples/` gets a text and a JSON plan snapshot against the export
//! next to it, so a change in rendering or in the example files cannot go unnoticed.

use crate::support::{root, snapshot_settings};
use poolsync::diff::{DiffOptions, diff};
use poolsync::load::read_dump;
use poolsync::render::{TextOptions, render_json, render_text};

#[test]
fn example_plans_render_as_text_and_json() {
    let settings = snapshot_settings();
    settings.bind(|| {
        insta::glob!("../examples", "*/desired-*.json", |desired_path| {
            let export = desired_path.with_file_name("export.json");
            let current = read_dump(&export).unwrap();
            let desired = read_dump(desired_path).unwrap();
            let plan = diff(&current, &desired, &DiffOptions::default()).unwrap();
            let mut text = Vec::new();
            render_text(&plan, &mut text, &TextOptions::default()).unwrap();
            insta::assert_snapshot!("text", String::from_utf8(text).unwrap());
            let mut json = Vec::new();
            render_json(&plan, &mut json).unwrap();
            insta::assert_snapshot!("json", String::from_utf8(json).unwrap());
        });
    });
    assert!(root().join("examples/acme/export.json").exists());
}
