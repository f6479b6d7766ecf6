//! Conformance to the vendor spec, read at test time: exports validate against `TenantDump`,
//! and the import rules enforce exactly the spec's required fields and enumerations.

use super::*;
use crate::support::spec::vendor_spec;

/// Import sections and the spec definitions of their records.
const DEFINITIONS: &[(&str, &str)] = &[
    ("users", "User"),
    ("user_identifiers", "UserIdentifier"),
    ("user_verifiable_addresses", "UserVerifiableAddress"),
    ("user_credentials", "UserCredential"),
    ("pools", "Pool"),
    ("schemas", "Schema"),
];

/// A valid import body with one record in every section of [`DEFINITIONS`].
fn full_body() -> Value {
    let mut body = new_user("conf-1", "Conf@Example.com");
    body["pools"] = json!([{"id": "conf-pool", "tenant_id": "acme", "name": "conformance",
        "preferred_authentication_mechanism": "password",
        "second_factor_preferred_authentication_mechanism": "totp"}]);
    body["schemas"] = json!([{"id": "conf-schema", "tenant_id": "acme", "name": "conformance",
        "schema": {"type": "object"}}]);
    body["user_verifiable_addresses"][0]["preferred_contact_method"] = json!("sms");
    body
}

#[test]
fn the_checker_finds_what_breaks_the_spec() {
    let Some(spec) = vendor_spec() else { return };
    assert!(spec.check("TenantDump", &seed_json()).is_empty());
    let mut broken = seed_json();
    broken["users"][1]
        .as_object_mut()
        .unwrap()
        .remove("tenant_id");
    broken["users"][2]["status"] = json!("asleep");
    broken["user_verifiable_addresses"][0]["verified"] = json!("yes");
    broken["user_credentials"][0]["created_at"] = json!("yesterday");
    broken["pools"][0]["password_policy"]["min_length"] = json!(1.5);
    broken["groups"] = Value::Null;
    let problems = spec.check("TenantDump", &broken);
    let expected = [
        "users[1]: missing required field `tenant_id`",
        "users[2].status: `asleep` is not one of",
        "user_verifiable_addresses[0].verified: expected boolean",
        "user_credentials[0].created_at: `yesterday` is not a date-time",
        "pools[0].password_policy.min_length: expected integer",
        "groups: null is not allowed",
    ];
    for wanted in expected {
        assert!(
            problems.iter().any(|problem| problem.starts_with(wanted)),
            "`{wanted}` not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

#[tokio::test]
async fn exports_conform_after_every_kind_of_change() {
    if vendor_spec().is_none() {
        return;
    }
    let (emulator, api, token) = acme(config()).await;
    // `Api::export` checks every export against the spec; this drives it through each change.
    api.export(&token).await;
    let body = full_body();
    assert!(
        crate::support::spec::check_tenant_dump(&body).is_empty(),
        "the test body itself breaks the spec"
    );
    assert_eq!(
        api.import(&token, None, &body).await.status,
        StatusCode::NO_CONTENT
    );
    api.export(&token).await;
    // Server-filled fields conform too: a user without timestamps.
    let bare = json!({"users": [{"id": "bare", "tenant_id": "acme", "user_pool_id": customers_pool(), "status": "new"}]});
    assert_eq!(
        api.import(&token, Some("update"), &bare).await.status,
        StatusCode::NO_CONTENT
    );
    let export = api.export(&token).await;
    assert!(records(&export, "users", "id", "bare")[0]["created_at"].is_string());
    assert_eq!(
        api.delete_user(&token, &customers_pool(), "conf-1")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    api.export(&token).await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn import_enforces_every_required_field_of_the_spec() {
    let Some(spec) = vendor_spec() else { return };
    let (emulator, api, token) = acme(config()).await;
    let mut checked = 0;
    for (section, definition) in DEFINITIONS {
        for field in spec.required(definition) {
            let mut body = full_body();
            body[*section][0].as_object_mut().unwrap().remove(&field);
            let answer = api.import(&token, Some("update"), &body).await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{section}.{field}: {answer:?}"
            );
            let named = format!("`{section}[0].{field}`: missing required field");
            assert!(
                answer.message().contains(&named),
                "{named} not in {answer:?}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 25,
        "only {checked} required fields found in the spec"
    );
    assert_eq!(
        emulator.tenant_dump("acme").unwrap().users.len(),
        8,
        "a rejected body was applied"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn import_enforces_every_enumeration_of_the_spec() {
    let Some(spec) = vendor_spec() else { return };
    let (emulator, api, token) = acme(config()).await;
    let mut checked = 0;
    for (section, definition) in DEFINITIONS {
        for (field, allowed) in spec.enums(definition) {
            let body = full_body();
            // Every allowed value passes...
            for value in &allowed {
                let mut body = body.clone();
                body[*section][0][&field] = json!(value);
                let answer = api.import(&token, Some("update"), &body).await;
                assert_eq!(
                    answer.status,
                    StatusCode::NO_CONTENT,
                    "{section}.{field} = {value}: {answer:?}"
                );
            }
            // ...and any other is refused, naming the record and field.
            let mut body = body;
            body[*section][0][&field] = json!("not-in-the-spec");
            let answer = api.import(&token, Some("update"), &body).await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{section}.{field}: {answer:?}"
            );
            assert!(
                answer
                    .message()
                    .contains(&format!("`{section}[0].{field}`")),
                "{answer:?}"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "only {checked} enumerations found in the spec"
    );
    emulator.shutdown().await;
}

/// Every import body poolsync's apply sends validates against the vendor's `TenantDump`, for
/// desired files that leave out everything poolsync derives (ids, `tenant_id`, `*_lc`,
/// timestamps).
#[test]
fn the_import_bodies_apply_sends_conform_to_the_spec() {
    let Some(spec) = vendor_spec() else { return };
    let root = crate::support::root().join("examples/acme");
    let current = poolsync::load::read_dump(&root.join("export.json")).unwrap();
    let mut checked = 0;
    for desired in ["desired-changes.json", "desired-new-pool.json"] {
        let desired = poolsync::load::read_dump(&root.join(desired)).unwrap();
        let plan = poolsync::diff::diff(&current, &desired, &Default::default()).unwrap();
        let batches = poolsync::import::build_batches(
            &plan,
            &current,
            &desired,
            "acme",
            "2026-01-01T00:00:00Z",
            100,
        );
        for batch in batches {
            let body = serde_json::to_value(&batch.body).unwrap();
            let problems = spec.check("TenantDump", &body);
            assert!(problems.is_empty(), "{problems:#?}");
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "the pool batch and the user batches were checked"
    );
}
