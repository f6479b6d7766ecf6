//! Import modes, constraints and delete, each over HTTP.

use super::*;

/// Alice as the seed has her, whole: the user and all her sub-records.
fn alice_as_seeded() -> Value {
    let dump = seed_json();
    let id = alice();
    let mut body = json!({});
    for section in [
        "users",
        "user_identifiers",
        "user_verifiable_addresses",
        "user_credentials",
        "group_members",
    ] {
        let field = if section == "users" { "id" } else { "user_id" };
        body[section] = Value::Array(
            records(&dump, section, field, &id)
                .into_iter()
                .cloned()
                .collect(),
        );
    }
    body
}

#[tokio::test]
async fn ignore_is_the_default_and_leaves_existing_users_as_they_are() {
    let (emulator, api, token) = acme(config()).await;
    let mut changed_alice = alice_as_seeded();
    changed_alice["users"][0]["status"] = json!("inactive");
    changed_alice["user_identifiers"] = json!([]);
    let body = merge(&[changed_alice, new_user("new-1", "New.One@Example.com")]);
    for mode in [None, Some("ignore")] {
        let answer = api.import(&token, mode, &body).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
        assert_eq!(answer.body, Value::Null);
    }
    let export = api.export(&token).await;
    let seeded = seed_json();
    assert_eq!(
        records(&export, "users", "id", &alice()),
        records(&seeded, "users", "id", &alice())
    );
    assert_eq!(
        records(&export, "user_identifiers", "user_id", &alice()),
        records(&seeded, "user_identifiers", "user_id", &alice())
    );
    assert_eq!(records(&export, "users", "id", "new-1").len(), 1);
    assert_eq!(
        records(&export, "user_identifiers", "user_id", "new-1")[0]["identifier"],
        "New.One@Example.com"
    );
    assert_eq!(export["users"].as_array().unwrap().len(), 9);
    emulator.shutdown().await;
}

#[tokio::test]
async fn update_replaces_the_user_and_all_its_sub_records() {
    let (emulator, api, token) = acme(config()).await;
    let id = alice();
    let mut body = alice_as_seeded();
    assert_eq!(body["user_identifiers"].as_array().unwrap().len(), 2);
    assert_eq!(body["group_members"].as_array().unwrap().len(), 1);
    // Keep only her mobile identifier, drop her addresses, credentials and memberships, change
    // her status, and leave out `created_at`, which the server keeps.
    let seeded_created = body["users"][0]["created_at"].clone();
    body["users"][0]["status"] = json!("inactive");
    body["users"][0]
        .as_object_mut()
        .unwrap()
        .remove("created_at");
    body["user_identifiers"] = json!([body["user_identifiers"][1].clone()]);
    body["user_verifiable_addresses"] = json!([]);
    body["user_credentials"] = json!([]);
    body["group_members"] = json!([]);
    let answer = api.import(&token, Some("update"), &body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");

    let export = api.export(&token).await;
    let user = records(&export, "users", "id", &id);
    assert_eq!(user[0]["status"], "inactive");
    assert_eq!(user[0]["created_at"], seeded_created);
    let identifiers = records(&export, "user_identifiers", "user_id", &id);
    assert_eq!(identifiers.len(), 1);
    assert_eq!(identifiers[0]["type"], "mobile");
    assert!(records(&export, "user_verifiable_addresses", "user_id", &id).is_empty());
    assert!(records(&export, "user_credentials", "user_id", &id).is_empty());
    assert!(records(&export, "group_members", "user_id", &id).is_empty());
    // The other users are untouched, and Alice keeps her place in the export.
    assert_eq!(export["users"][0]["id"], id.as_str());
    assert_eq!(export["users"][1], seed_json()["users"][1]);

    // Her e-mail identifier is free again: another user may take it.
    let taker = new_user("taker", "alice.smith@example.com");
    let answer = api.import(&token, None, &taker).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn fail_stops_at_the_first_existing_user_without_undoing_earlier_ones() {
    let (emulator, api, token) = acme(config()).await;
    let body = merge(&[
        new_user("first", "first@example.com"),
        alice_as_seeded(),
        new_user("third", "third@example.com"),
    ]);
    let answer = api.import(&token, Some("fail"), &body).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{answer:?}");
    assert_eq!(answer.body["status_code"], 409);
    assert_eq!(answer.body["error_code"], "conflict");
    assert!(answer.message().contains("`users[1].id`"), "{answer:?}");
    assert!(answer.message().contains(&alice()), "{answer:?}");
    assert_eq!(answer.body["details"]["record"], "users[1]");
    let dump = emulator.tenant_dump("acme").unwrap();
    let ids: Vec<_> = dump
        .users
        .iter()
        .filter_map(|user| user.id.as_deref())
        .collect();
    assert!(
        ids.contains(&"first"),
        "the user before the conflict was imported"
    );
    assert!(
        !ids.contains(&"third"),
        "the user after the conflict was not"
    );
    assert_eq!(
        dump.user_identifiers
            .iter()
            .filter(|record| record.user_id.as_deref() == Some("first"))
            .count(),
        1
    );
    // A new user alone passes under `fail`.
    let answer = api
        .import(
            &token,
            Some("fail"),
            &new_user("third", "third@example.com"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn pools_follow_the_mode_by_id() {
    let (emulator, api, token) = acme(config()).await;
    let mut pool = seed_json()["pools"][0].clone();
    pool["description"] = json!("renamed");
    let body = json!({"pools": [pool]});
    assert_eq!(
        api.import(&token, None, &body).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.export(&token).await["pools"][0]["description"],
        "Consumer accounts of the acme shop"
    );
    let answer = api.import(&token, Some("fail"), &body).await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.message().contains("`pools[0].id`"), "{answer:?}");
    assert_eq!(
        api.import(&token, Some("update"), &body).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.export(&token).await["pools"][0]["description"],
        "renamed"
    );
    // A new pool and a user of it in one request.
    let new_pool = json!({"id": "staff", "tenant_id": "acme", "name": "staff"});
    let user =
        json!({"id": "staffer", "tenant_id": "acme", "user_pool_id": "staff", "status": "active"});
    let answer = api
        .import(
            &token,
            Some("fail"),
            &json!({"pools": [new_pool], "users": [user]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    assert_eq!(
        records(&api.export(&token).await, "users", "id", "staffer").len(),
        1
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn unknown_mode_is_a_bad_request() {
    let (emulator, api, token) = acme(config()).await;
    let answer = api
        .import(&token, Some("merge"), &new_user("x", "x@example.com"))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.message().contains("`merge`"), "{answer:?}");
    assert_eq!(emulator.tenant_dump("acme").unwrap().users.len(), 8);
    emulator.shutdown().await;
}

/// Sends `body` and expects `status` with a message naming `record_field` and holding `words`;
/// a rejected body must leave the tenant unchanged.
async fn expect_rejection(
    api: &Api,
    token: &str,
    body: Value,
    status: StatusCode,
    record_field: &str,
    words: &str,
) {
    let before = api.export(token).await;
    let answer = api.import(token, Some("update"), &body).await;
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["status_code"], status.as_u16());
    let message = answer.message();
    assert!(
        message.contains(&format!("`{record_field}`")),
        "{record_field} not named: {message}"
    );
    assert!(message.contains(words), "`{words}` not in: {message}");
    assert_eq!(
        api.export(token).await,
        before,
        "a rejected body changed the tenant"
    );
}

#[tokio::test]
async fn each_constraint_answers_its_status_naming_record_and_field() {
    let (emulator, api, token) = acme(config()).await;
    let user = || new_user("n1", "N1@example.com");

    let mut body = user();
    body["users"][0]["tenant_id"] = json!("globex");
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "users[0].tenant_id",
        "`globex`",
    )
    .await;

    let mut body = user();
    body["users"][0]["user_pool_id"] = json!("no-such-pool");
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "users[0].user_pool_id",
        "no pool",
    )
    .await;

    let mut body = user();
    body["users"][0].as_object_mut().unwrap().remove("status");
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "users[0].status",
        "missing required",
    )
    .await;

    let mut body = user();
    body["user_verifiable_addresses"][0]["status"] = json!("pending");
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "user_verifiable_addresses[0].status",
        "`pending` is not one of",
    )
    .await;

    let mut body = user();
    body["user_credentials"][0]["user_id"] = json!("ghost");
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "user_credentials[0].user_id",
        "no user `ghost`",
    )
    .await;

    let mut body = user();
    body["user_identifiers"][0]["identifier_lc"] = json!("N1@example.com");
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "user_identifiers[0].identifier_lc",
        "lower-cased",
    )
    .await;

    let mut body = user();
    body["users"][0]["status"] = json!(7);
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::BAD_REQUEST,
        "users[0].status",
        "invalid type",
    )
    .await;

    // Alice's e-mail, in other case, held by a new user of the same pool: 409.
    let body = new_user("n2", "ALICE.SMITH@example.COM");
    expect_rejection(
        &api,
        &token,
        body,
        StatusCode::CONFLICT,
        "user_identifiers[0].identifier_lc",
        "already held by user",
    )
    .await;
    // The same address in the other pool is free.
    let mut body = new_user("n3", "alice.smith@example.com");
    let partners = seed_json()["pools"][1]["id"].clone();
    for section in [
        "users",
        "user_identifiers",
        "user_verifiable_addresses",
        "user_credentials",
    ] {
        body[section][0]["user_pool_id"] = partners.clone();
    }
    assert_eq!(
        api.import(&token, None, &body).await.status,
        StatusCode::NO_CONTENT
    );

    let answer = Answer::read(
        api.http
            .put(api.legacy_url())
            .bearer_auth(&token)
            .body("{\"users\": [")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.message().contains("request body"), "{answer:?}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn identifier_conflict_inside_one_request_keeps_the_users_before_it() {
    let (emulator, api, token) = acme(config()).await;
    let body = merge(&[
        new_user("a1", "same@example.com"),
        new_user("a2", "Same@Example.com"),
    ]);
    let answer = api.import(&token, None, &body).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{answer:?}");
    assert!(
        answer
            .message()
            .contains("`user_identifiers[1].identifier_lc`"),
        "{answer:?}"
    );
    assert!(answer.message().contains("`a1`"), "{answer:?}");
    let dump = emulator.tenant_dump("acme").unwrap();
    assert!(
        dump.users
            .iter()
            .any(|user| user.id.as_deref() == Some("a1"))
    );
    assert!(
        !dump
            .users
            .iter()
            .any(|user| user.id.as_deref() == Some("a2"))
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn more_users_than_the_limit_get_413_and_change_nothing() {
    let (emulator, api, token) = acme(config().max_users_per_request(3)).await;
    let bodies: Vec<Value> = (0..4)
        .map(|n| new_user(&format!("b{n}"), &format!("b{n}@example.com")))
        .collect();
    let answer = api.import(&token, None, &merge(&bodies[..3])).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    let answer = api.import(&token, Some("update"), &merge(&bodies)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer.message().contains("4 users"), "{answer:?}");
    assert_eq!(answer.body["details"]["max_users_per_request"], 3);
    assert_eq!(emulator.tenant_dump("acme").unwrap().users.len(), 11);
    let logged = emulator.request_log();
    let last = logged.last().unwrap();
    assert_eq!((last.status, last.users_in_body), (413, Some(4)));
    emulator.shutdown().await;
}

#[tokio::test]
async fn delete_removes_the_user_with_everything_it_holds() {
    let (emulator, api, token) = acme(config()).await;
    let pool = customers_pool();
    let partners = seed_json()["pools"][1]["id"].as_str().unwrap().to_string();
    let id = alice();
    assert_eq!(
        api.delete_user(&token, &partners, &id).await.status,
        StatusCode::NOT_FOUND
    );
    let answer = api.delete_user(&token, &pool, &id).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    let export = api.export(&token).await;
    for (section, field) in [
        ("users", "id"),
        ("user_identifiers", "user_id"),
        ("user_verifiable_addresses", "user_id"),
        ("user_credentials", "user_id"),
        ("group_members", "user_id"),
        ("codes", "user_id"),
    ] {
        assert!(
            records(&export, section, field, &id).is_empty(),
            "{section} still holds alice"
        );
    }
    assert_eq!(export["users"].as_array().unwrap().len(), 7);
    let again = api.delete_user(&token, &pool, &id).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.message().contains(&id), "{again:?}");
    // Codes go with their user too (Erin holds the seed's only code).
    let erin = seed_json()["codes"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        api.delete_user(&token, &pool, &erin).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.export(&token).await["codes"], json!([]));
    // Her identifiers are free again.
    let answer = api
        .import(&token, None, &new_user("heir", "Alice.Smith@Example.com"))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn sub_records_of_a_stored_user_not_in_the_request_are_matched_by_id() {
    let (emulator, api, token) = acme(config()).await;
    let extra = json!({"user_identifiers": [{"id": "alice-uid", "tenant_id": "acme",
        "user_pool_id": customers_pool(), "user_id": alice(), "type": "uid",
        "identifier": "Alice", "identifier_lc": "alice",
        "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}]});
    assert_eq!(
        api.import(&token, None, &extra).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.import(&token, Some("fail"), &extra).await.status,
        StatusCode::CONFLICT
    );
    let identifiers = records(
        &api.export(&token).await,
        "user_identifiers",
        "user_id",
        &alice(),
    )
    .len();
    assert_eq!(identifiers, 3);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_importers_lose_no_update() {
    let emulator = start(config()).await;
    let api = std::sync::Arc::new(Api::new(&emulator.url(), "acme"));
    let token = api.token().await;
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let api = std::sync::Arc::clone(&api);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..10 {
                let users: Vec<Value> = (0..5)
                    .map(|n| {
                        let id = format!("w{worker}-b{batch}-u{n}");
                        new_user(&id, &format!("{id}@example.com"))
                    })
                    .collect();
                let answer = api.import(&token, Some("update"), &merge(&users)).await;
                assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
                // Every worker also rewrites Alice: the last writer wins, and she stays whole.
                let mut alice = alice_as_seeded();
                alice["users"][0]["metadata"] = json!({"writer": format!("w{worker}-b{batch}")});
                let answer = api.import(&token, Some("update"), &alice).await;
                assert_eq!(answer.status, StatusCode::NO_CONTENT, "{answer:?}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let export = api.export(&token).await;
    assert_eq!(export["users"].as_array().unwrap().len(), 8 + 8 * 10 * 5);
    assert_eq!(
        export["user_identifiers"].as_array().unwrap().len(),
        12 + 400
    );
    for worker in 0..8 {
        for batch in 0..10 {
            for n in 0..5 {
                let id = format!("w{worker}-b{batch}-u{n}");
                assert_eq!(
                    records(&export, "user_credentials", "user_id", &id).len(),
                    1,
                    "{id}"
                );
            }
        }
    }
    assert_eq!(
        records(&export, "user_identifiers", "user_id", &alice()).len(),
        2
    );
    emulator.shutdown().await;
}
