//! A small Swagger 2.0 schema checker, and the vendor's `TenantDump` definition read at test
//! time from `identitysystem.yaml`.
//!
//! The spec lives in `../shared/spec/` beside the repository (override the folder with
//! `POOLSYNC_SPEC_DIR`); it is not copied into the repository. Where it is absent, callers are
//! told so and skip. The checker handles what the vendor spec uses: `$ref` into
//! `#/definitions/...`, `type`, `format: date-time`, `required`, `enum`, `items`, `properties`,
//! `additionalProperties` and `x-nullable`.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The vendor spec file, or `None` when it is absent (see [`super::shared::shared_path`]: under
/// `CI` that fails the test instead). `POOLSYNC_SPEC_DIR` overrides the folder.
fn spec_path() -> Option<PathBuf> {
    match std::env::var_os("POOLSYNC_SPEC_DIR") {
        Some(folder) => Some(PathBuf::from(folder).join("identitysystem.yaml")),
        None => {
            super::shared::shared_path("spec/identitysystem.yaml", "conformance to the vendor spec")
        }
    }
}

/// The vendor's Identity System API spec, parsed from YAML.
pub(crate) struct Spec {
    document: Value,
}

/// The vendor spec, or `None` (after saying so on stderr) when the file is absent; under `CI`
/// an absent spec fails the test.
pub(crate) fn vendor_spec() -> Option<&'static Spec> {
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let path = spec_path()?;
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", path.display()));
        let document: Value = serde_norway::from_str(&text)
            .unwrap_or_else(|error| panic!("`{}` is not YAML: {error}", path.display()));
        Some(Spec { document })
    });
    spec.as_ref()
}

/// Checks a `TenantDump` against the vendor spec; no problems when the spec is absent.
pub(crate) fn check_tenant_dump(value: &Value) -> Vec<String> {
    match vendor_spec() {
        Some(spec) => spec.check("TenantDump", value),
        None => Vec::new(),
    }
}

impl Spec {
    /// A definition of `#/definitions`.
    pub(crate) fn definition(&self, name: &str) -> &Value {
        self.document
            .get("definitions")
            .and_then(|definitions| definitions.get(name))
            .unwrap_or_else(|| panic!("the spec has no definition `{name}`"))
    }

    /// The `required` list of a definition.
    pub(crate) fn required(&self, name: &str) -> Vec<String> {
        string_list(self.definition(name).get("required"))
    }

    /// Each property of a definition that is an enumeration, with its values.
    pub(crate) fn enums(&self, name: &str) -> Vec<(String, Vec<String>)> {
        let Some(Value::Object(properties)) = self.definition(name).get("properties") else {
            return Vec::new();
        };
        properties
            .iter()
            .filter_map(|(field, schema)| {
                let values = string_list(schema.get("enum"));
                (!values.is_empty()).then(|| (field.clone(), values))
            })
            .collect()
    }

    /// Every way `value` breaks definition `name`, each as `path: problem`.
    pub(crate) fn check(&self, name: &str, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let schema = Value::String(format!("#/definitions/{name}"));
        let reference = serde_json::json!({ "$ref": schema });
        self.check_value(&reference, value, "", &mut problems);
        problems
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        let mut schema = schema;
        while let Some(Value::String(reference)) = schema.get("$ref") {
            let name = reference
                .strip_prefix("#/definitions/")
                .unwrap_or_else(|| panic!("unsupported `$ref` `{reference}`"));
            schema = self.definition(name);
        }
        schema
    }

    fn check_value(&self, schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let shown = if path.is_empty() { "(document)" } else { path };
        if value.is_null() {
            if schema.get("x-nullable") != Some(&Value::Bool(true)) {
                problems.push(format!("{shown}: null is not allowed"));
            }
            return;
        }
        if let Some(Value::String(kind)) = schema.get("type") {
            let fits = match kind.as_str() {
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "object" => value.is_object(),
                "array" => value.is_array(),
                other => panic!("unsupported type `{other}` at {shown}"),
            };
            if !fits {
                problems.push(format!("{shown}: expected {kind}, found {value}"));
                return;
            }
        }
        if let (Some(Value::String(format)), Some(text)) = (schema.get("format"), value.as_str()) {
            let rfc3339 = time::format_description::well_known::Rfc3339;
            if format == "date-time" && time::OffsetDateTime::parse(text, &rfc3339).is_err() {
                problems.push(format!("{shown}: `{text}` is not a date-time"));
            }
        }
        let allowed = string_list(schema.get("enum"));
        if let (false, Some(text)) = (allowed.is_empty(), value.as_str()) {
            if !allowed.iter().any(|allowed| allowed == text) {
                problems.push(format!("{shown}: `{text}` is not one of {allowed:?}"));
            }
        }
        if let (Some(items), Value::Array(elements)) = (schema.get("items"), value) {
            for (index, element) in elements.iter().enumerate() {
                self.check_value(items, element, &format!("{path}[{index}]"), problems);
            }
        }
        if let Value::Object(object) = value {
            for field in string_list(schema.get("required")) {
                if object.get(&field).is_none_or(Value::is_null) {
                    problems.push(format!("{}: missing required field `{field}`", shown));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (field, field_value) in object {
                let field_path = if path.is_empty() {
                    field.clone()
                } else {
                    format!("{path}.{field}")
                };
                match (
                    properties.and_then(|properties| properties.get(field)),
                    schema.get("additionalProperties"),
                ) {
                    (Some(field_schema), _) => {
                        self.check_value(field_schema, field_value, &field_path, problems)
                    }
                    (None, Some(Value::Bool(false))) => {
                        problems.push(format!("{field_path}: not allowed here"));
                    }
                    (None, Some(additional)) if !is_go_any(additional) => {
                        self.check_value(additional, field_value, &field_path, problems);
                    }
                    // Unknown fields are allowed (Swagger 2.0's default).
                    _ => {}
                }
            }
        }
    }
}

/// go-swagger writes a Go `map[string]interface{}` as `additionalProperties: {type: object}`,
/// while the service accepts any JSON value there (user payloads hold strings): such a schema
/// means "any value".
fn is_go_any(schema: &Value) -> bool {
    schema.as_object().is_some_and(|object| {
        object.len() == 1 && object.get("type") == Some(&Value::String("object".to_string()))
    })
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
