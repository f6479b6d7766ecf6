//! The token endpoint and the bearer checks of the System API.

use super::*;
use std::time::Duration;

#[tokio::test]
async fn token_by_form_and_by_basic_both_work_for_export() {
    let emulator = start(config()).await;
    let api = Api::new(&emulator.url(), "acme");
    let answer = api.token_answer(CLIENT, SECRET, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["token_type"], "bearer");
    assert_eq!(answer.body["expires_in"], 3600);
    assert_eq!(
        answer.body["scope"],
        "manage_configuration read_configuration identity"
    );
    assert_eq!(answer.headers["cache-control"], "no-store");
    let by_form = answer.body["access_token"].as_str().unwrap().to_string();

    let response = api
        .http
        .post(api.token_url())
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let answer = Answer::read(response).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let by_basic = answer.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(by_form, by_basic);
    for token in [by_form, by_basic] {
        let export = api.export(&token).await;
        assert_eq!(export["users"].as_array().unwrap().len(), 8);
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_or_unknown_client_gets_401_with_the_token_error_body() {
    let emulator = start(config()).await;
    let api = Api::new(&emulator.url(), "acme");
    for (client, secret) in [(CLIENT, "wrong-secret"), ("nobody", SECRET)] {
        let answer = api.token_answer(client, secret, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.body["error"], "invalid_client");
        assert_eq!(answer.body["error_code"], 401);
        let hint = answer.body["error_hint"].as_str().unwrap();
        assert!(hint.contains(&format!("`{client}`")), "{hint}");
        assert!(!hint.contains(secret), "the hint shows the secret: {hint}");
    }
    let response = api
        .http
        .post(api.token_url())
        .basic_auth(CLIENT, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // Credentials given twice, or a grant other than client credentials, are bad requests.
    let response = api
        .http
        .post(api.token_url())
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        Answer::read(response).await.body["error"],
        "invalid_request"
    );
    let response = api
        .http
        .post(api.token_url())
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    let answer = Answer::read(response).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["error"], "unsupported_grant_type");
    emulator.shutdown().await;
}

#[tokio::test]
async fn scope_parameter_narrows_the_token_and_foreign_scopes_are_refused() {
    let emulator = start(config().client("reader", "reader-secret", &["read_configuration"])).await;
    let api = Api::new(&emulator.url(), "acme");
    let answer = api
        .token_answer(CLIENT, SECRET, Some("read_configuration"))
        .await;
    assert_eq!(answer.body["scope"], "read_configuration");
    let read_only = answer.body["access_token"].as_str().unwrap().to_string();
    api.export(&read_only).await;
    let refused = api.import(&read_only, None, &json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body["status_code"], 403);
    assert!(
        refused.message().contains("manage_configuration"),
        "{refused:?}"
    );
    let refused = api
        .delete_user(&read_only, &customers_pool(), &alice())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.message().contains("identity"), "{refused:?}");

    let answer = api
        .token_answer(
            "reader",
            "reader-secret",
            Some("read_configuration manage_configuration"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["error"], "invalid_scope");
    assert!(
        answer.body["error_hint"]
            .as_str()
            .unwrap()
            .contains("manage_configuration")
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn export_needs_a_configuration_scope() {
    let emulator = start(config().client("deleter", "deleter-secret", &["identity"])).await;
    let api = Api::new(&emulator.url(), "acme");
    let answer = api.token_answer("deleter", "deleter-secret", None).await;
    let token = answer.body["access_token"].as_str().unwrap();
    let refused = api.export_at(&api.legacy_url(), token).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.message().contains("read_configuration"),
        "{refused:?}"
    );
    // The same client may still delete.
    let deleted = api.delete_user(token, &customers_pool(), &alice()).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    emulator.shutdown().await;
}

#[tokio::test]
async fn missing_unknown_and_expired_tokens_get_401() {
    let emulator = start(config().token_ttl(Duration::from_millis(300))).await;
    let api = Api::new(&emulator.url(), "acme");
    let answer = api.token_answer(CLIENT, SECRET, None).await;
    assert_eq!(answer.body["expires_in"], 1);
    let token = answer.body["access_token"].as_str().unwrap().to_string();
    api.export(&token).await;

    let missing = Answer::read(api.http.get(api.legacy_url()).send().await.unwrap()).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body["error_code"], "unauthorized");
    assert!(missing.message().contains("missing"), "{missing:?}");
    let unknown = api.export_at(&api.legacy_url(), "not-a-token").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.message().contains("unknown"), "{unknown:?}");

    tokio::time::sleep(Duration::from_millis(600)).await;
    let expired = api.export_at(&api.legacy_url(), &token).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.message().contains("expired"), "{expired:?}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn token_of_another_tenant_gets_403() {
    let emulator = start(config().tenant("globex", seed())).await;
    let acme = Api::new(&emulator.url(), "acme");
    let globex = Api::new(&emulator.url(), "globex");
    let acme_token = acme.token().await;
    let refused = globex.export_at(&globex.legacy_url(), &acme_token).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.message().contains("`acme`"), "{refused:?}");
    let refused = globex.import(&acme_token, None, &json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = globex
        .delete_user(&acme_token, &customers_pool(), &alice())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Both tenants are served, each with its own copy of the seed.
    let globex_token = globex.token().await;
    let export = globex.export(&globex_token).await;
    assert!(
        export["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|user| user["tenant_id"] == "globex")
    );
    emulator.shutdown().await;
}
