//! The batch executor: parallelism, retries, pacing, failures that do not stop the others,
//! and cancellation.

use super::import::dump_of;
use super::server::{LEGACY_PATH, Reply, StubServer, TOKEN_PATH, fast_retry};
use poolsync::client::batch::AttemptFailure;
use poolsync::client::{
    ApiClient, Batch, BatchEvent, BatchObserver, BatchOptions, BatchOutcome, BatchStatus,
    Cancellation, Delivery, RetryPolicy, run_batches,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

/// Options without backoff delays, so retries run at once.
pub(super) fn fast_options() -> BatchOptions {
    BatchOptions {
        retry: fast_retry(),
        ..BatchOptions::default()
    }
}

fn batches(count: usize) -> Vec<Batch> {
    (0..count)
        .map(|batch| {
            let ids: Vec<String> = (0..3).map(|user| format!("u{batch}-{user}")).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            Batch::from_dump(dump_of(&ids)).unwrap()
        })
        .collect()
}

/// Records events as text.
#[derive(Default)]
pub(super) struct Events(pub Mutex<Vec<String>>);

impl BatchObserver for Events {
    fn on_event(&self, event: &BatchEvent<'_>) {
        let text = match event {
            BatchEvent::Started {
                index,
                attempt,
                users,
            } => {
                format!("started {index} attempt {attempt} users {users}")
            }
            BatchEvent::Retrying { index, attempt, .. } => {
                format!("retrying {index} after {attempt}")
            }
            BatchEvent::Finished { outcome } => {
                format!("finished {} {:?}", outcome.index, outcome.status)
            }
            BatchEvent::ParallelismChanged { limit } => format!("limit {limit}"),
        };
        self.0.lock().unwrap().push(text);
    }
}

fn statuses(outcomes: &[BatchOutcome]) -> Vec<BatchStatus> {
    outcomes.iter().map(|outcome| outcome.status).collect()
}

/// A server whose import endpoint answers `replies` in order (the last one repeats).
async fn import_server(replies: impl IntoIterator<Item = Reply>) -> StubServer {
    let server = StubServer::start().await;
    server.on("PUT", LEGACY_PATH, replies);
    server
}

/// [`fast_options`] with `parallelism` requests in flight.
fn in_flight(parallelism: usize) -> BatchOptions {
    BatchOptions {
        parallelism,
        ..fast_options()
    }
}

pub(super) fn all_applied(outcomes: &[BatchOutcome]) -> bool {
    outcomes
        .iter()
        .all(|outcome| outcome.status == BatchStatus::Applied)
}

async fn run(server: &StubServer, count: usize, options: &BatchOptions) -> Vec<BatchOutcome> {
    let client = server.client();
    run_batches(&client, batches(count), options, &(), &Cancellation::new()).await
}

#[tokio::test]
async fn all_batches_go_out_with_at_most_the_parallelism_in_flight() {
    let server = import_server([Reply::status(204).delayed(Duration::from_millis(20))]).await;
    let options = in_flight(3);
    let outcomes = run(&server, 12, &options).await;
    assert_eq!(outcomes.len(), 12);
    assert!(all_applied(&outcomes));
    assert!(
        outcomes
            .iter()
            .enumerate()
            .all(|(index, outcome)| outcome.index == index)
    );
    assert_eq!(outcomes[4].user_ids, ["u4-0", "u4-1", "u4-2"]);
    assert!(server.max_in_flight() <= 3, "{}", server.max_in_flight());
    let sent: BTreeSet<String> = server
        .requests_to(LEGACY_PATH)
        .iter()
        .flat_map(|request| {
            request.json()["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|user| user["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(sent.len(), 36);
    // One token for the whole run, though the first requests left together.
    assert_eq!(server.requests_to(TOKEN_PATH).len(), 1);
}

#[tokio::test]
async fn parallelism_is_never_above_eight() {
    let server = import_server([Reply::status(204).delayed(Duration::from_millis(20))]).await;
    let options = in_flight(50);
    run(&server, 30, &options).await;
    assert!(server.max_in_flight() <= 8, "{}", server.max_in_flight());
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let server = import_server([
        Reply::json(429, json!({"error": "slow down"})).header("retry-after", "0"),
        Reply::status(204),
    ])
    .await;
    let outcomes = run(&server, 1, &fast_options()).await;
    assert_eq!(outcomes[0].status, BatchStatus::Applied);
    assert_eq!(outcomes[0].attempts, 2);
    assert_eq!(outcomes[0].retries(), 1);
    assert_eq!(outcomes[0].rate_limited, 1);
    assert_eq!(outcomes[0].history[0].status, Some(429));
    assert_eq!(outcomes[0].history[0].delivery, Delivery::NotSent);
}

#[tokio::test]
async fn retry_after_is_honoured_even_without_backoff_delays() {
    let server = import_server([
        Reply::status(429).header("retry-after", "1"),
        Reply::status(204),
    ])
    .await;
    let started = tokio::time::Instant::now();
    let outcomes = run(&server, 1, &fast_options()).await;
    assert_eq!(outcomes[0].status, BatchStatus::Applied);
    assert_eq!(outcomes[0].history[0].waited, Duration::from_secs(1));
    // Not a timing assertion on speed: the wait asked for must have happened at all.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn server_errors_timeouts_and_drops_are_retried() {
    let server = import_server([
        Reply::status(500),
        Reply::Drop,
        Reply::Hang,
        Reply::status(503),
        Reply::status(204),
    ])
    .await;
    let mut settings = server.settings();
    settings.read_timeout = Duration::from_millis(300);
    let client = ApiClient::with_retry_policy(settings, fast_retry()).unwrap();
    let outcomes = run_batches(
        &client,
        batches(1),
        &fast_options(),
        &(),
        &Cancellation::new(),
    )
    .await;
    let outcome = &outcomes[0];
    assert_eq!(
        outcome.status,
        BatchStatus::Applied,
        "{:?}",
        outcome.history
    );
    assert_eq!(outcome.attempts, 5);
    let statuses: Vec<Option<u16>> = outcome
        .history
        .iter()
        .map(|failure| failure.status)
        .collect();
    assert_eq!(statuses, [Some(500), None, None, Some(503)]);
    assert!(
        outcome
            .history
            .iter()
            .all(|failure| failure.delivery == Delivery::Unknown)
    );
}

#[tokio::test]
async fn a_batch_that_keeps_failing_is_unknown_and_the_others_go_through() {
    let server = StubServer::start().await;
    // Answers go out in order of arrival, so one request in flight makes batch 1 the one
    // that gets the three 502s.
    server.on(
        "PUT",
        LEGACY_PATH,
        [
            Reply::status(204),
            Reply::status(502),
            Reply::status(502),
            Reply::status(502),
            Reply::status(204),
        ],
    );
    let options = BatchOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        },
        ..in_flight(1)
    };
    let outcomes = run(&server, 3, &options).await;
    assert_eq!(
        statuses(&outcomes),
        [
            BatchStatus::Applied,
            BatchStatus::Unknown,
            BatchStatus::Applied
        ]
    );
    let failed = &outcomes[1];
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.user_ids, ["u1-0", "u1-1", "u1-2"]);
    assert_eq!(failed.error.as_ref().unwrap().status(), Some(502));
}

#[tokio::test]
async fn a_rejected_batch_is_not_retried_and_keeps_the_servers_error() {
    let server = import_server([
        Reply::json(
            422,
            json!({"error": "tenant_id mismatch", "status_code": 422}),
        ),
        Reply::status(204),
    ])
    .await;
    let options = in_flight(1);
    let outcomes = run(&server, 2, &options).await;
    assert_eq!(outcomes[0].status, BatchStatus::Rejected);
    assert_eq!(outcomes[0].attempts, 1);
    assert!(
        outcomes[0]
            .error
            .as_ref()
            .unwrap()
            .to_string()
            .ends_with("status 422: `tenant_id mismatch`")
    );
    assert_eq!(outcomes[1].status, BatchStatus::Applied);
}

#[tokio::test]
async fn a_credentials_failure_stops_the_run_early() {
    let server = StubServer::start().await;
    server.on(
        "POST",
        TOKEN_PATH,
        [Reply::json(401, json!({"error": "invalid_client"}))],
    );
    let options = in_flight(2);
    let outcomes = run(&server, 10, &options).await;
    assert!(
        outcomes
            .iter()
            .all(|outcome| outcome.status == BatchStatus::NotSent)
    );
    assert!(outcomes.iter().all(|outcome| {
        outcome
            .error
            .as_ref()
            .is_some_and(|error| error.is_auth_failure())
    }));
    assert!(server.requests_to(LEGACY_PATH).is_empty());
    // Only the batches already started asked for a token; the rest never started.
    assert!(server.requests_to(TOKEN_PATH).len() <= 2);
}

#[tokio::test]
async fn repeated_429s_lower_the_requests_in_flight_and_clean_answers_raise_them() {
    let server = StubServer::start().await;
    let mut replies = vec![Reply::status(429).header("retry-after", "0"); 8];
    replies.push(Reply::status(204).delayed(Duration::from_millis(5)));
    server.on("PUT", LEGACY_PATH, replies);
    let client = server.client();
    let events = Events::default();
    let outcomes = run_batches(
        &client,
        batches(40),
        &fast_options(),
        &events,
        &Cancellation::new(),
    )
    .await;
    assert!(all_applied(&outcomes));
    let limits: Vec<usize> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|event| event.strip_prefix("limit ").map(|n| n.parse().unwrap()))
        .collect();
    assert!(limits.first().is_some_and(|first| *first < 8), "{limits:?}");
    assert!(
        limits.contains(&8) || limits.windows(2).any(|pair| pair[1] > pair[0]),
        "{limits:?}"
    );
}

#[tokio::test]
async fn stopping_sends_no_new_batch_but_lets_the_in_flight_one_finish() {
    let server = import_server([Reply::status(204).delayed(Duration::from_millis(200))]).await;
    let client = server.client();
    let cancellation = Cancellation::new();
    let options = in_flight(1);
    struct StopOnFirstStart(Cancellation);
    impl BatchObserver for StopOnFirstStart {
        fn on_event(&self, event: &BatchEvent<'_>) {
            if let BatchEvent::Started { index: 0, .. } = event {
                self.0.stop();
            }
        }
    }
    let outcomes = run_batches(
        &client,
        batches(3),
        &options,
        &StopOnFirstStart(cancellation.clone()),
        &cancellation,
    )
    .await;
    assert_eq!(
        statuses(&outcomes),
        [
            BatchStatus::Applied,
            BatchStatus::NotSent,
            BatchStatus::NotSent
        ]
    );
    assert_eq!(server.requests_to(LEGACY_PATH).len(), 1);
}

#[tokio::test]
async fn aborting_abandons_in_flight_requests_as_unknown() {
    let server = import_server([Reply::Hang]).await;
    let client = server.client();
    let cancellation = Cancellation::new();
    struct AbortOnStart(Cancellation);
    impl BatchObserver for AbortOnStart {
        fn on_event(&self, event: &BatchEvent<'_>) {
            if let BatchEvent::Started { .. } = event {
                // Two escalations: what two Ctrl-C presses do.
                self.0.escalate();
                self.0.escalate();
            }
        }
    }
    let outcomes = run_batches(
        &client,
        batches(2),
        &in_flight(1),
        &AbortOnStart(cancellation.clone()),
        &cancellation,
    )
    .await;
    assert_eq!(outcomes[0].status, BatchStatus::Unknown);
    assert_eq!(outcomes[1].status, BatchStatus::NotSent);
    assert!(cancellation.is_aborted());
}

#[tokio::test]
async fn every_attempt_is_in_the_history_for_the_journal() {
    let server = import_server([
        Reply::status(429).header("retry-after", "0"),
        Reply::status(500),
        Reply::status(204),
    ])
    .await;
    let outcomes = run(&server, 1, &fast_options()).await;
    let history: Vec<(u32, Option<u16>)> = outcomes[0]
        .history
        .iter()
        .map(
            |AttemptFailure {
                 attempt, status, ..
             }| (*attempt, *status),
        )
        .collect();
    assert_eq!(history, [(1, Some(429)), (2, Some(500))]);
    assert_eq!(outcomes[0].attempts, 3);
}

#[tokio::test]
async fn an_outcome_serializes_to_a_journal_line() {
    let server = import_server([
        Reply::status(503).header("retry-after", "0"),
        Reply::status(204),
    ])
    .await;
    let outcomes = run(&server, 1, &fast_options()).await;
    let line = serde_json::to_value(&outcomes[0]).unwrap();
    assert_eq!(
        line,
        json!({
            "index": 0,
            "user_ids": ["u0-0", "u0-1", "u0-2"],
            "status": "applied",
            "attempts": 2,
            "rate_limited": 0,
            "error": null,
            "history": [{
                "attempt": 1,
                "status": 503,
                "delivery": "unknown",
                "message": format!(
                    "import at `{}/api/identity/system/t1/configuration?mode=update` failed with \
                     status 503: empty answer",
                    server.url()
                ),
                "waited_ms": 0
            }]
        })
    );
}

/// Measures the executor against 50 ms of latency per import, where 8 requests of 100 users
/// in flight allow 16,000 users/s; run with
/// `cargo test --test main measure_apply_rate -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
#[allow(clippy::print_stderr, reason = "reports the measurement")]
async fn measure_apply_rate() {
    let server = import_server([Reply::status(204).delayed(Duration::from_millis(50))]).await;
    let users_per_batch = 100;
    let batches: Vec<Batch> = (0..200)
        .map(|batch| {
            let ids: Vec<String> = (0..users_per_batch)
                .map(|user| format!("6f1c2a3e-0000-4000-8000-{batch:06}{user:06}"))
                .collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            Batch::from_dump(dump_of(&ids)).unwrap()
        })
        .collect();
    let users = (batches.len() * users_per_batch) as f64;
    let client = server.client();
    let cpu_before = process_cpu_seconds();
    let started = std::time::Instant::now();
    let outcomes = run_batches(&client, batches, &fast_options(), &(), &Cancellation::new()).await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    assert!(all_applied(&outcomes));
    eprintln!(
        "{users} users in {seconds:.2} s: {:.0} users/s ({:.0} % of 16,000); \
         CPU (client and stub server together) {:.1} µs per user",
        users / seconds,
        users / seconds / 160.0,
        cpu / users * 1e6
    );
}

/// User plus system CPU time of this process, from `/proc/self/stat`.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11..13)
        .map(|pair| {
            pair.iter()
                .filter_map(|value| value.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0);
    ticks / 100.0
}

/// The executor can run on a spawned task, say next to a Ctrl-C listener.
#[test]
fn the_executor_future_is_send() {
    fn assert_send<T: Send>(_: T) {}
    let settings = poolsync::client::ConnectionSettings {
        url: "http://127.0.0.1:9".parse().unwrap(),
        tenant: "t1".into(),
        client_id: "c".into(),
        client_secret: poolsync::secret::Secret::new("s"),
        api_path: None,
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        profile: None,
    };
    let client = ApiClient::new(settings).unwrap();
    let options = fast_options();
    let cancellation = Cancellation::new();
    assert_send(run_batches(
        &client,
        Vec::new(),
        &options,
        &(),
        &cancellation,
    ));
    assert_send(poolsync::client::run_deletes(
        &client,
        Vec::new(),
        &options,
        &(),
        &cancellation,
    ));
    assert_send(client.export(&poolsync::client::NoProgress));
}
