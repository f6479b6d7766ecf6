//! Each fault knob, deterministic with its seed.

use super::*;
use poolsync::emulator::{Fault, FaultConfig, RateLimit};
use std::time::Duration;

fn with_faults(faults: FaultConfig) -> EmulatorConfig {
    config().faults(faults)
}

/// Imports 20 new users one by one and returns each answer's status (0 for no answer).
async fn import_twenty(api: &Api, token: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for n in 0..20 {
        let id = format!("f{n}");
        let request = api
            .http
            .put(api.legacy_url())
            .bearer_auth(token)
            .json(&new_user(&id, &format!("{id}@example.com")));
        statuses.push(match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        });
    }
    statuses
}

fn imported(emulator: &poolsync::emulator::Emulator, n: usize) -> bool {
    let id = format!("f{n}");
    emulator
        .tenant_dump("acme")
        .unwrap()
        .users
        .iter()
        .any(|user| user.id.as_deref() == Some(id.as_str()))
}

/// Runs `import_twenty` on a fresh emulator with `faults` (token taken before faults count).
async fn run_twenty(faults: FaultConfig) -> (poolsync::emulator::Emulator, Vec<u16>) {
    let emulator = start(with_faults(faults)).await;
    let api = Api::new(&emulator.url(), "acme");
    // Faults apply to the token endpoint too; retry until a token comes.
    let mut token = None;
    for _ in 0..20 {
        let answer = api
            .http
            .post(api.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ])
            .send()
            .await;
        if let Ok(response) = answer {
            if response.status() == StatusCode::OK {
                let body: Value = response.json().await.unwrap();
                token = Some(body["access_token"].as_str().unwrap().to_string());
                break;
            }
        }
    }
    let token = token.expect("no token in 20 tries");
    let statuses = import_twenty(&api, &token).await;
    (emulator, statuses)
}

#[tokio::test]
async fn every_nth_request_gets_429_with_retry_after() {
    let faults = FaultConfig {
        rate_limit: Some(RateLimit::EveryNth(3)),
        retry_after_secs: 2,
        ..FaultConfig::default()
    };
    let emulator = start(with_faults(faults)).await;
    let api = Api::new(&emulator.url(), "acme");
    let token = api.token().await; // request 1
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let answer = api.export_at(&api.legacy_url(), &token).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(answer.headers["retry-after"], "2");
            assert_eq!(answer.body["status_code"], 429);
        }
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(statuses, [200, 429, 200, 200, 429]);
    let faults: Vec<_> = emulator
        .request_log()
        .iter()
        .map(|record| record.fault)
        .collect();
    assert_eq!(faults[2], Some(Fault::RateLimited));
    assert_eq!(faults.iter().filter(|fault| fault.is_some()).count(), 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn per_second_rate_limit_refuses_a_burst_with_retry_after() {
    let faults = FaultConfig {
        rate_limit: Some(RateLimit::PerSecond(2)),
        ..FaultConfig::default()
    };
    let emulator = start(with_faults(faults)).await;
    let api = Api::new(&emulator.url(), "acme");
    let mut refused = 0;
    for _ in 0..8 {
        let answer = api.token_answer(CLIENT, SECRET, None).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
            let retry_after: u64 = answer.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1);
        }
    }
    // Eight requests cannot all fit in windows of two per second unless each took 250 ms.
    assert!(refused > 0, "no request refused");
    emulator.shutdown().await;
}

#[tokio::test]
async fn errors_before_change_nothing_and_repeat_with_the_seed() {
    let faults = FaultConfig {
        seed: 42,
        error_5xx_before: 0.4,
        ..FaultConfig::default()
    };
    let (emulator, statuses) = run_twenty(faults.clone()).await;
    assert!(
        statuses.contains(&503) && statuses.contains(&204),
        "{statuses:?}"
    );
    for (n, status) in statuses.iter().enumerate() {
        assert_eq!(
            imported(&emulator, n),
            *status == 204,
            "user {n} after {status}"
        );
    }
    let logged = emulator
        .request_log()
        .iter()
        .filter(|record| record.fault == Some(Fault::ErrorBefore))
        .count();
    assert_eq!(
        logged,
        statuses.iter().filter(|status| **status == 503).count() + token_faults(&emulator)
    );
    emulator.shutdown().await;
    let (again, repeated) = run_twenty(faults).await;
    assert_eq!(statuses, repeated, "same seed, other faults");
    again.shutdown().await;
}

/// Faults that hit token requests rather than imports.
fn token_faults(emulator: &poolsync::emulator::Emulator) -> usize {
    emulator
        .request_log()
        .iter()
        .filter(|record| record.method == "POST" && record.fault.is_some())
        .count()
}

#[tokio::test]
async fn bad_gateway_after_the_change_was_applied() {
    let faults = FaultConfig {
        seed: 7,
        error_502_after: 0.5,
        ..FaultConfig::default()
    };
    let (emulator, statuses) = run_twenty(faults).await;
    assert!(
        statuses.contains(&502) && statuses.contains(&204),
        "{statuses:?}"
    );
    for (n, status) in statuses.iter().enumerate() {
        assert!(
            imported(&emulator, n),
            "user {n} was not applied although answered {status}"
        );
    }
    let after: Vec<_> = emulator
        .request_log()
        .into_iter()
        .filter(|record| record.fault == Some(Fault::Error502After))
        .collect();
    assert_eq!(
        after.len(),
        statuses.iter().filter(|status| **status == 502).count()
    );
    assert!(
        after
            .iter()
            .all(|record| record.method == "PUT" && record.users_in_body == Some(1))
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_get_no_answer_though_the_import_was_applied() {
    let faults = FaultConfig {
        seed: 3,
        drop_connection: 0.3,
        ..FaultConfig::default()
    };
    let (emulator, statuses) = run_twenty(faults.clone()).await;
    assert!(
        statuses.contains(&0) && statuses.contains(&204),
        "{statuses:?}"
    );
    for n in 0..20 {
        assert!(imported(&emulator, n), "user {n} missing");
    }
    let dropped = emulator
        .request_log()
        .iter()
        .filter(|record| record.method == "PUT" && record.fault == Some(Fault::Dropped))
        .count();
    assert_eq!(
        dropped,
        statuses.iter().filter(|status| **status == 0).count()
    );
    let puts = emulator
        .request_log()
        .iter()
        .filter(|record| record.method == "PUT")
        .count();
    assert_eq!(puts, 20, "the client retried behind our back");
    emulator.shutdown().await;
    let (again, repeated) = run_twenty(faults).await;
    assert_eq!(statuses, repeated);
    again.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let faults = FaultConfig {
        latency: Duration::from_millis(120),
        latency_jitter: Duration::from_millis(30),
        ..FaultConfig::default()
    };
    let (emulator, api, token) = acme(with_faults(faults)).await;
    api.export(&token).await;
    let log = emulator.request_log();
    assert_eq!(log.len(), 2);
    // A lower bound only: the emulator slept at least this long before answering.
    assert!(
        log.iter()
            .all(|record| record.duration >= Duration::from_millis(120)),
        "{log:?}"
    );
    emulator.shutdown().await;
}

/// An import finishes its latency on the thread that then parses it (handed over shortly before
/// the end): whatever the answer, applied, refused before the body is read, refused for its
/// body, or no route at all, it still comes no sooner than the latency, and concurrent imports
/// each wait their own latency, none applied early or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_holds_back_imports_whatever_their_answer() {
    let latency = Duration::from_millis(80);
    let faults = FaultConfig {
        latency,
        ..FaultConfig::default()
    };
    let (emulator, api, token) = acme(with_faults(faults)).await;
    emulator.clear_request_log();
    let imports = (0..8).map(|n| {
        let body = new_user(&format!("l{n}"), &format!("l{n}@example.com"));
        let (api, token) = (&api, &token);
        async move { api.import(token, None, &body).await.status }
    });
    let statuses = futures::future::join_all(imports).await;
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::NO_CONTENT)
    );
    let body = new_user("l9", "l9@example.com");
    let refused = [
        api.import(&token, Some("sideways"), &body).await.status,
        api.import("not-a-token", None, &body).await.status,
        api.import(&token, None, &json!({"users": "none"}))
            .await
            .status,
        api.import_at(&format!("{}/nowhere", api.url), &token, None, &body)
            .await
            .status,
    ];
    assert_eq!(
        refused,
        [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND
        ]
    );
    let log = emulator.request_log();
    let puts: Vec<_> = log.iter().filter(|record| record.method == "PUT").collect();
    assert_eq!(puts.len(), 12, "{log:?}");
    // A lower bound only: no answer came before its latency was over.
    assert!(
        puts.iter().all(|record| record.duration >= latency),
        "{puts:?}"
    );
    let users = emulator.tenant_dump("acme").unwrap().users;
    for n in 0..8 {
        let id = format!("l{n}");
        assert!(users.iter().any(|user| user.id.as_deref() == Some(&id)));
    }
    assert!(!users.iter().any(|user| user.id.as_deref() == Some("l9")));
    emulator.shutdown().await;
}
