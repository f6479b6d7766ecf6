//! The password check's client call: the body it sends, the scope it asks for, 429 handling
//! and answers it refuses.

use super::server::{Reply, StubServer};
use poolsync::client::{PasswordResult, PasswordSubject};
use poolsync::secret::Secret;
use serde_json::json;

const VERIFY: &str = "/api/identity/t1/system/pools/p1/user/password/v2/verify";

fn answer(result: &str) -> Reply {
    Reply::json(200, json!({"id": "u1", "result": result, "state": "valid"}))
}

#[tokio::test]
async fn a_check_sends_the_identifier_or_user_id_with_an_identity_token() {
    let server = StubServer::start().await;
    server.on("POST", VERIFY, [answer("password_correct")]);
    let client = server.client();
    let password = Secret::new("pa55-w0rd-never-logged");
    let check = client
        .verify_password(
            "p1",
            &PasswordSubject::Identifier("Alice@Example.com".into()),
            &password,
        )
        .await
        .unwrap();
    assert_eq!(check.result, PasswordResult::PasswordCorrect);
    assert_eq!((check.id.as_str(), check.state.as_str()), ("u1", "valid"));
    client
        .verify_password("p1", &PasswordSubject::UserId("u1".into()), &password)
        .await
        .unwrap();
    let requests = server.requests_to(VERIFY);
    assert_eq!(
        requests[0].json(),
        json!({"identifier": "Alice@Example.com", "password": "pa55-w0rd-never-logged"})
    );
    assert_eq!(
        requests[1].json(),
        json!({"userID": "u1", "password": "pa55-w0rd-never-logged"})
    );
    // The token was asked for with scope `identity`, and only once.
    let tokens = server.requests_to("/t1/system/oauth2/token");
    assert_eq!(tokens.len(), 1);
    assert!(
        tokens[0].body_text().contains("scope=identity"),
        "{}",
        tokens[0].body_text()
    );
    assert!(!tokens[0].body_text().contains("pa55"));
}

#[tokio::test]
async fn a_429_is_waited_out_and_sent_again() {
    let server = StubServer::start().await;
    server.on(
        "POST",
        VERIFY,
        [
            Reply::json(429, json!({"error": "too many attempts"})).header("Retry-After", "0"),
            answer("password_incorrect"),
        ],
    );
    let client = server.client();
    let check = client
        .verify_password(
            "p1",
            &PasswordSubject::UserId("u1".into()),
            &Secret::new("x"),
        )
        .await
        .unwrap();
    assert_eq!(check.result, PasswordResult::PasswordIncorrect);
    assert_eq!(server.requests_to(VERIFY).len(), 2);
}

#[tokio::test]
async fn refusals_and_odd_answers_are_errors_that_never_show_the_password() {
    let server = StubServer::start().await;
    server.on(
        "POST",
        VERIFY,
        [Reply::json(403, json!({"error": "insufficient scope"}))],
    );
    let client = server.client();
    let password = Secret::new("pa55-w0rd-never-logged");
    let subject = PasswordSubject::Identifier("alice@example.com".into());
    let error = client
        .verify_password("p1", &subject, &password)
        .await
        .unwrap_err();
    assert!(
        error.hint().unwrap().contains("`identity` scope"),
        "{:?}",
        error.hint()
    );
    assert!(error.is_auth_failure());
    for body in [
        json!({"id": "u1", "result": "maybe", "state": ""}),
        json!({"result": "password_correct"}),
        json!(["password_correct"]),
    ] {
        server.on("POST", VERIFY, [Reply::json(200, body.clone())]);
        let error = client
            .verify_password("p1", &subject, &password)
            .await
            .unwrap_err();
        let shown = format!("{error} {:?}", error.hint());
        assert!(shown.contains("password check"), "{shown}");
        assert!(!shown.contains("pa55"), "{shown}");
    }
    assert!(
        client
            .verify_password("", &subject, &password)
            .await
            .is_err()
    );
}
