//! The emulator's password check over real HTTP: every method and parameter set of the contract
//! (hashes from `cases`), expiry, the lookups, the scope, the brute-force fault, and payloads
//! that are no hash.

use super::cases::{self, Case};
use crate::emulator::{Answer, Api, acme, config, customers_pool, new_user};
use poolsync::emulator::{FaultConfig, SCOPE_READ_CONFIGURATION};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A user of pool `customers` with e-mail identifier `email`, and a password credential with
/// `payload` (none when `None`) and `expires_at`.
fn user(user_id: &str, email: &str, payload: Option<Value>, expires_at: Option<&str>) -> Value {
    let mut body = new_user(user_id, email);
    match payload {
        Some(payload) => {
            let credential = &mut body["user_credentials"][0];
            credential["payload"] = payload;
            if let Some(expires_at) = expires_at {
                credential["expires_at"] = json!(expires_at);
            }
        }
        None => body["user_credentials"] = json!([]),
    }
    body
}

fn case_user(case: &Case) -> Value {
    user(
        &format!("user-{}", case.name),
        &format!("{}@example.com", case.name),
        Some(case.hash.to_payload()),
        None,
    )
}

async fn check(api: &Api, token: &str, pool: &str, body: Value) -> Answer {
    let url = format!(
        "{}/api/identity/{}/system/pools/{pool}/user/password/v2/verify",
        api.url, api.tenant
    );
    let response = api
        .http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

/// `(result, state)` of a check that must answer 200.
async fn verdict(api: &Api, token: &str, body: Value) -> (String, String, String) {
    let answer = check(api, token, &customers_pool(), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    (
        answer.body["result"].as_str().unwrap().to_string(),
        answer.body["state"].as_str().unwrap().to_string(),
        answer.body["id"].as_str().unwrap().to_string(),
    )
}

async fn import(api: &Api, token: &str, body: &Value) {
    let answer = api.import(token, Some("update"), body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
}

#[tokio::test]
async fn every_method_and_parameter_set_verifies_through_the_emulator() {
    let (_emulator, api, token) = acme(config()).await;
    let all: Vec<Case> = cases::all().into_iter().chain(cases::real()).collect();
    let bodies: Vec<Value> = all.iter().map(case_user).collect();
    import(&api, &token, &crate::emulator::merge(&bodies)).await;
    for case in &all {
        let identifier = format!("{}@example.com", case.name);
        let right = json!({"identifier": identifier, "password": case.password});
        let (result, state, id) = verdict(&api, &token, right).await;
        assert_eq!(
            (result.as_str(), state.as_str(), id.as_str()),
            (
                "password_correct",
                "valid",
                format!("user-{}", case.name).as_str()
            ),
            "{}",
            case.name
        );
        let wrong = json!({"identifier": identifier, "password": format!("{}!", case.password)});
        let (result, _, _) = verdict(&api, &token, wrong).await;
        assert_eq!(result, "password_incorrect", "{}", case.name);
    }
}

#[tokio::test]
async fn expiry_lookups_and_missing_passwords() {
    let (_emulator, api, token) = acme(config()).await;
    let case = cases::all().remove(0);
    let payload = case.hash.to_payload();
    let bodies = [
        user(
            "expired",
            "expired@example.com",
            Some(payload.clone()),
            Some("2020-01-01T00:00:00Z"),
        ),
        user(
            "never",
            "never@example.com",
            Some(payload.clone()),
            Some("1900-01-01T00:00:00Z"),
        ),
        user(
            "later",
            "later@example.com",
            Some(payload.clone()),
            Some("2999-01-01T00:00:00Z"),
        ),
        user("nopassword", "nopassword@example.com", None, None),
        user("reset", "Reset.Me@Example.com", Some(payload.clone()), None),
    ];
    let mut body = crate::emulator::merge(&bodies);
    body["user_credentials"][3]["state"] = json!("must_be_reset");
    import(&api, &token, &body).await;
    let password = case.password.as_str();
    let ask =
        |identifier: &str, password: &str| json!({"identifier": identifier, "password": password});

    let expired = verdict(&api, &token, ask("expired@example.com", password)).await;
    assert_eq!(
        (expired.0.as_str(), expired.2.as_str()),
        ("password_expired", "expired")
    );
    // A wrong password is incorrect, expired or not.
    let expired_wrong = verdict(&api, &token, ask("expired@example.com", "nope")).await;
    assert_eq!(expired_wrong.0, "password_incorrect");
    for never in ["never@example.com", "later@example.com"] {
        assert_eq!(
            verdict(&api, &token, ask(never, password)).await.0,
            "password_correct",
            "{never}"
        );
    }
    let none = verdict(&api, &token, ask("nopassword@example.com", password)).await;
    assert_eq!(
        none,
        ("no_password".into(), String::new(), "nopassword".into())
    );
    let unknown = verdict(&api, &token, ask("nobody@example.com", password)).await;
    assert_eq!(
        unknown,
        ("user_not_found".into(), String::new(), String::new())
    );
    // Any identifier, any letter case; the credential's state comes back.
    let reset = verdict(&api, &token, ask("RESET.me@example.COM", password)).await;
    assert_eq!(
        reset,
        (
            "password_correct".into(),
            "must_be_reset".into(),
            "reset".into()
        )
    );
    // By user id, and by the spec's older `id`.
    let by_id = verdict(
        &api,
        &token,
        json!({"userID": "reset", "password": password}),
    )
    .await;
    assert_eq!(by_id.0, "password_correct");
    let by_old_id = verdict(
        &api,
        &token,
        json!({"id": "reset", "userID": "nobody", "password": password}),
    )
    .await;
    assert_eq!(by_old_id.0, "password_correct");
    // The example's Alice by her phone number, which is also an identifier.
    let alice = verdict(&api, &token, ask("+14155550101", "not her password")).await;
    assert_eq!(alice.0, "password_incorrect");
    // Users of another pool are not found.
    let other_pool =
        poolsync::load::read_dump(&crate::support::root().join("examples/tenant.json"))
            .unwrap()
            .pools[1]
            .id
            .clone()
            .unwrap();
    let answer = check(
        &api,
        &token,
        &other_pool,
        ask("reset.me@example.com", password),
    )
    .await;
    assert_eq!(answer.body["result"], "user_not_found");
}

#[tokio::test]
async fn a_payload_that_is_no_hash_is_incorrect_not_a_crash() {
    let (_emulator, api, token) = acme(config()).await;
    let payloads = [
        // What the emulator's own import tests store: bcrypt text cut short, no config.
        json!({"hashed_password": {"value": "$2a$10$abcdefghijklmnopqrstuv"}}),
        json!({"hashed_password": {"value": "password", "config": {"method": "plaintext", "plaintext": {}}}}),
        json!({"hashed_password": {"value": "AAAA", "config": {"method": "argon2", "argon2": {
            "iterations": 1, "memory_in_kb": 4_000_000_000u64, "parallelism": 1, "key_length": 3, "salt": "AAAAAAAAAAA="}}}}),
        json!({"hashed_password": {"value": "$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
            "config": {"method": "bcrypt", "bcrypt": {"cost": 31}}}}),
        json!({}),
    ];
    let bodies: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(index, payload)| {
            user(
                &format!("bad-{index}"),
                &format!("bad-{index}@example.com"),
                Some(payload.clone()),
                None,
            )
        })
        .collect();
    import(&api, &token, &crate::emulator::merge(&bodies)).await;
    for index in 0..payloads.len() {
        let body =
            json!({"identifier": format!("bad-{index}@example.com"), "password": "password"});
        let (result, _, _) = verdict(&api, &token, body).await;
        assert_eq!(result, "password_incorrect", "payload {index}");
    }
    // The emulator still answers.
    assert_eq!(
        api.export(&token).await["users"].as_array().unwrap().len(),
        8 + payloads.len()
    );
}

#[tokio::test]
async fn bad_requests_and_a_token_without_identity() {
    let (_emulator, api, token) = acme(config()).await;
    let pool = customers_pool();
    let read_only = api.token_with(Some(SCOPE_READ_CONFIGURATION)).await;
    let body = json!({"identifier": "alice.smith@example.com", "password": "hunter2-secret"});
    let answer = check(&api, &read_only, &pool, body.clone()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    let answer = check(&api, "not-a-token", &pool, body).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
    for (body, status) in [
        (
            json!({"identifier": "alice.smith@example.com"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"password": "hunter2-secret"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!(["hunter2-secret"]), StatusCode::BAD_REQUEST),
    ] {
        let answer = check(&api, &token, &pool, body).await;
        assert_eq!(answer.status, status, "{answer:?}");
        assert!(!answer.body.to_string().contains("hunter2-secret"));
    }
}

#[tokio::test]
async fn the_brute_force_fault_answers_429_with_retry_after() {
    let faults = FaultConfig {
        password_429_every: Some(3),
        retry_after_secs: 4,
        ..FaultConfig::default()
    };
    let (emulator, api, token) = acme(config().faults(faults)).await;
    let body = json!({"identifier": "alice.smith@example.com", "password": "hunter2-secret"});
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = check(&api, &token, &customers_pool(), body.clone()).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(answer.headers["retry-after"], "4");
        }
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    // Other routes are not counted.
    assert_eq!(
        api.export(&token).await["users"].as_array().unwrap().len(),
        8
    );
    let log = emulator.request_log();
    let checks = log
        .iter()
        .filter(|record| record.path.ends_with("/verify"))
        .count();
    assert_eq!(checks, 6);
}
