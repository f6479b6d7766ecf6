//! The JSON Schemas of `examples/schemas/`, ready to check real output against.

use jsonschema::{Registry, Validator};
use serde_json::Value;

/// A schema of `examples/schemas/` by file name.
pub(crate) fn schema(name: &str) -> Value {
    let file = super::root().join("examples/schemas").join(name);
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

/// A validator of `name` that resolves the references between the schemas.
fn validator(name: &str) -> Validator {
    let mut registry = Registry::new();
    for referenced in ["plan.schema.json", "canaries.schema.json"] {
        let schema = schema(referenced);
        registry = registry
            .add(schema["$id"].as_str().unwrap(), schema.clone())
            .unwrap();
    }
    let registry = registry.prepare().unwrap();
    jsonschema::options()
        .with_registry(&registry)
        .build(&schema(name))
        .unwrap()
}

/// The plan (`diff --json`, `plan --json`).
pub(crate) fn plan_validator() -> Validator {
    validator("plan.schema.json")
}

/// `apply --json`.
pub(crate) fn apply_validator() -> Validator {
    validator("apply-report.schema.json")
}

/// `check-logins --json`.
pub(crate) fn canaries_validator() -> Validator {
    validator("canaries.schema.json")
}

/// Fails listing every way `instance` breaks the schema.
pub(crate) fn assert_valid(validator: &Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}
