//! Single-user deletes and the delete executor.

use super::batches::{all_applied, fast_options};
use super::server::{Reply, StubServer};
use poolsync::client::{Cancellation, DeleteJob, DeleteOutcome, run_deletes};
use serde_json::json;

#[tokio::test]
async fn a_delete_counts_204_and_404_as_done() {
    let server = StubServer::start().await;
    server.on(
        "DELETE",
        "/api/identity/t1/system/pools/p1/users/u1",
        [Reply::status(204)],
    );
    let client = server.client();
    assert_eq!(
        client.delete_user("p1", "u1").await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        client.delete_user("p1", "gone").await.unwrap(),
        DeleteOutcome::AlreadyAbsent
    );
}

#[tokio::test]
async fn ids_are_escaped_and_empty_ids_refused() {
    let server = StubServer::start().await;
    server.on(
        "DELETE",
        "/api/identity/t1/system/pools/p%201/users/a%2Fb",
        [Reply::status(204)],
    );
    let client = server.client();
    assert_eq!(
        client.delete_user("p 1", "a/b").await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert!(client.delete_user("p1", "").await.is_err());
}

#[tokio::test]
async fn a_403_on_delete_names_the_identity_scope() {
    let server = StubServer::start().await;
    server.on(
        "DELETE",
        "/api/identity/t1/system/pools/p1/users/u1",
        [Reply::json(403, json!({"error": "insufficient scope"}))],
    );
    let client = server.client();
    let error = client.delete_user("p1", "u1").await.unwrap_err();
    assert!(
        error.hint().unwrap().contains("`identity` scope"),
        "{:?}",
        error.hint()
    );
}

#[tokio::test]
async fn deletes_run_through_the_executor_with_retries() {
    let server = StubServer::start().await;
    for user in ["u1", "u2", "u3"] {
        server.on(
            "DELETE",
            &format!("/api/identity/t1/system/pools/p1/users/{user}"),
            [
                Reply::status(429).header("retry-after", "0"),
                Reply::status(204),
            ],
        );
    }
    let client = server.client();
    let jobs = ["u1", "u2", "u3"]
        .map(|user| DeleteJob {
            pool_id: "p1".into(),
            user_id: user.into(),
        })
        .to_vec();
    let outcomes = run_deletes(&client, jobs, &fast_options(), &(), &Cancellation::new()).await;
    assert!(all_applied(&outcomes));
    assert!(outcomes.iter().all(|outcome| outcome.attempts == 2));
    assert_eq!(outcomes[2].user_ids, ["u3"]);
}
