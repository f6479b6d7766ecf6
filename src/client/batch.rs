//! Running many imports or deletes: in parallel, with retries, pacing and cancellation.
//!
//! [`run_batches`] sends [`Batch`]es of at most [`MAX_USERS_PER_REQUEST`] users with at most
//! [`MAX_PARALLELISM`] requests in flight; [`run_deletes`] does the same for single-user deletes.
//! Both return one [`BatchOutcome`] per item, in input order, whatever happened: a batch that
//! fails never stops the others (except a credentials failure, which every request would hit,
//! so the run stops starting new ones).
//!
//! Retries follow [`RetryPolicy`]: 429 waits for `Retry-After` and the wait pauses every
//! request, since the limit is the service's, not one batch's; 5xx, timeouts and dropped
//! connections back off exponentially with jitter; other 4xx are final.
//!
//! Adaptive pacing: the number of requests in flight starts at the parallelism asked for, is
//! halved on a 429 (once per round of requests, so one burst of simultaneous 429s counts once)
//! and grows by one after as many clean answers as are in flight, back up to the maximum.
//!
//! What an outcome means: the service is not atomic, and a 5xx or a dropped connection can come
//! after the change was made, so [`BatchStatus`] says what is known, not what to assume; the
//! caller settles `Rejected` and `Unknown` batches with a fresh export.
//!
//! Throughput: all batches run as futures on the caller's task (no task per batch, no locks on
//! the hot path but the pacer's). A [`Batch`] is serialized once, when it is made, and every
//! attempt sends the same bytes: the task that keeps 8 requests in flight never serializes or
//! frees a document, which, done on it, delayed the next request by about a millisecond each
//! (`examples/soak.rs` shows the rate against the emulator; the README has the numbers).
//!
//! Cancellation: [`Cancellation::stop`] starts no new batch and no new retry while requests in
//! flight finish; [`Cancellation::abort`] also abandons those in flight. The executor never
//! prints; it reports through a [`BatchObserver`] and `tracing` at debug level.

use crate::client::error::{ApiError, Delivery, Operation};
use crate::client::retry::{Retry, RetryPolicy, RetryTally};
use crate::client::transport::ApiClient;
use crate::model::{ImportMode, MAX_USERS_PER_REQUEST, TenantDump};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The most requests in flight at once (the vendor's figure).
pub const MAX_PARALLELISM: usize = 8;

/// Building a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// More users than one request may carry.
    #[error("a batch of {count} users is over the limit of {MAX_USERS_PER_REQUEST} per request")]
    TooManyUsers {
        /// How many users the batch had.
        count: usize,
    },
    /// The document could not be written as JSON.
    #[error("cannot serialize an import request: {message}")]
    Serialize {
        /// Why.
        message: String,
    },
}

/// One import request: a `TenantDump` of at most [`MAX_USERS_PER_REQUEST`] users, serialized once
/// when the batch is made. Every attempt sends the same bytes (cloning [`Bytes`] copies
/// nothing), so the executor neither serializes nor frees documents while requests are in
/// flight.
#[derive(Clone, Debug)]
pub struct Batch {
    body: Bytes,
    users: usize,
    user_ids: Vec<String>,
}

impl Batch {
    /// A batch of `dump`, reported under `user_ids` (the keys the caller tracks users by).
    /// Refuses more than [`MAX_USERS_PER_REQUEST`] users, whatever the caller asked for.
    pub fn new(dump: TenantDump, user_ids: Vec<String>) -> Result<Batch, BatchError> {
        if dump.users.len() > MAX_USERS_PER_REQUEST {
            return Err(BatchError::TooManyUsers {
                count: dump.users.len(),
            });
        }
        let body = serde_json::to_vec(&dump).map_err(|error| BatchError::Serialize {
            message: error.to_string(),
        })?;
        Ok(Batch {
            body: Bytes::from(body),
            users: dump.users.len(),
            user_ids,
        })
    }

    /// A batch reported under the ids of the users in `dump`.
    pub fn from_dump(dump: TenantDump) -> Result<Batch, BatchError> {
        let user_ids = dump
            .users
            .iter()
            .filter_map(|user| user.id.clone())
            .collect();
        Batch::new(dump, user_ids)
    }

    /// The request body: the document, as JSON.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Users in the document.
    pub fn users(&self) -> usize {
        self.users
    }

    /// The users reported for this batch.
    pub fn user_ids(&self) -> &[String] {
        &self.user_ids
    }
}

/// One user to delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteJob {
    /// The user's pool.
    pub pool_id: String,
    /// The user.
    pub user_id: String,
}

/// How the executor sends.
#[derive(Clone, Debug, Default)]
pub struct BatchOptions {
    /// Requests in flight at most; clamped to 1..=[`MAX_PARALLELISM`] (0 means the maximum).
    pub parallelism: usize,
    /// When and how often to send a failed batch again.
    pub retry: RetryPolicy,
    /// Import mode.
    pub mode: ImportMode,
}

pub use crate::report::BatchStatus;

/// One failed attempt, for the journal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttemptFailure {
    /// Which attempt (1-based).
    pub attempt: u32,
    /// The HTTP status, if the service answered.
    pub status: Option<u16>,
    /// Whether this attempt may have been applied.
    pub delivery: Delivery,
    /// The error, as shown to people.
    pub message: String,
    /// How long the executor waited before the next attempt (milliseconds in JSON).
    #[serde(rename = "waited_ms", serialize_with = "milliseconds")]
    pub waited: Duration,
}

fn milliseconds<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

fn error_text<S: serde::Serializer>(
    error: &Option<ApiError>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match error {
        Some(error) => serializer.serialize_some(&error.to_string()),
        None => serializer.serialize_none(),
    }
}

/// The result of one batch or delete; it serializes to a journal line (the error as text).
#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchOutcome {
    /// Position in the input.
    pub index: usize,
    /// The users it holds.
    pub user_ids: Vec<String>,
    /// What is known.
    pub status: BatchStatus,
    /// Requests sent (0 if never started).
    pub attempts: u32,
    /// How many of them were answered 429.
    pub rate_limited: u32,
    /// The last error, unless applied.
    #[serde(serialize_with = "error_text")]
    pub error: Option<ApiError>,
    /// Every failed attempt, in order.
    pub history: Vec<AttemptFailure>,
}

impl BatchOutcome {
    /// Requests sent again after the first.
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }
}

/// Progress events, for a progress bar or a journal.
#[derive(Debug)]
pub enum BatchEvent<'a> {
    /// A request is about to be sent.
    Started {
        /// Position in the input.
        index: usize,
        /// Which attempt (1-based).
        attempt: u32,
        /// Users in it.
        users: usize,
    },
    /// An attempt failed and will be retried after `delay`.
    Retrying {
        /// Position in the input.
        index: usize,
        /// The attempt that failed.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// Why.
        error: &'a ApiError,
    },
    /// A batch is done, one way or the other.
    Finished {
        /// What happened.
        outcome: &'a BatchOutcome,
    },
    /// Adaptive pacing changed how many requests may be in flight.
    ParallelismChanged {
        /// The new limit.
        limit: usize,
    },
}

/// Receives [`BatchEvent`]s; it is called from the executor's task, so it should be quick.
pub trait BatchObserver: Sync {
    /// One event.
    fn on_event(&self, event: &BatchEvent<'_>);
}

impl BatchObserver for () {
    fn on_event(&self, _event: &BatchEvent<'_>) {}
}

/// Stops a run: [`stop`](Cancellation::stop) lets requests in flight finish,
/// [`abort`](Cancellation::abort) abandons them. Clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct Cancellation {
    stop: CancellationToken,
    abort: CancellationToken,
}

impl Cancellation {
    /// A signal that has not fired.
    pub fn new() -> Cancellation {
        Cancellation::default()
    }

    /// Starts no new batch and no new retry; requests in flight finish.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stops, and abandons requests in flight (their outcome becomes unknown).
    pub fn abort(&self) {
        self.stop.cancel();
        self.abort.cancel();
    }

    /// Stops the first time, aborts the second: what two Ctrl-C presses do.
    pub fn escalate(&self) {
        if self.stop.is_cancelled() {
            self.abort();
        } else {
            self.stop();
        }
    }

    /// Whether [`stop`](Cancellation::stop) (or abort) fired.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Whether [`abort`](Cancellation::abort) fired.
    pub fn is_aborted(&self) -> bool {
        self.abort.is_cancelled()
    }

    /// Spawns a task that calls [`escalate`](Cancellation::escalate) on each Ctrl-C.
    ///
    /// While the task runs, Ctrl-C no longer ends the process by itself; it stops listening
    /// after the abort, and the caller should abort the returned handle when the run is over.
    pub fn escalate_on_ctrl_c(&self) -> tokio::task::JoinHandle<()> {
        let cancellation = self.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                cancellation.escalate();
                if cancellation.is_aborted() {
                    break;
                }
            }
        })
    }
}

/// Imports `batches`; one outcome per batch, in input order.
pub async fn run_batches(
    client: &ApiClient,
    batches: Vec<Batch>,
    options: &BatchOptions,
    observer: &dyn BatchObserver,
    cancellation: &Cancellation,
) -> Vec<BatchOutcome> {
    let mode = options.mode;
    let items = batches
        .into_iter()
        .map(|batch| (batch.user_ids.clone(), batch))
        .collect();
    execute(
        items,
        Operation::Import,
        options,
        observer,
        cancellation,
        // Each attempt holds its own handle: the future may outlive no borrow but the item's.
        &|batch: &Batch| {
            let client = client.clone();
            let body = batch.body.clone();
            async move { client.import_body(body, mode).await }.boxed()
        },
    )
    .await
}

/// Deletes users one by one, with the same parallelism, retries and pacing as imports.
pub async fn run_deletes(
    client: &ApiClient,
    deletes: Vec<DeleteJob>,
    options: &BatchOptions,
    observer: &dyn BatchObserver,
    cancellation: &Cancellation,
) -> Vec<BatchOutcome> {
    let items = deletes
        .into_iter()
        .map(|job| (vec![job.user_id.clone()], job))
        .collect();
    execute(
        items,
        Operation::Delete,
        options,
        observer,
        cancellation,
        &|job: &DeleteJob| {
            let client = client.clone();
            async move {
                client
                    .delete_user(&job.pool_id, &job.user_id)
                    .await
                    .map(|_| ())
            }
            .boxed()
        },
    )
    .await
}

type Attempt<'a, T> =
    dyn for<'item> Fn(&'item T) -> BoxFuture<'item, Result<(), ApiError>> + Sync + 'a;

/// The shared executor: runs `attempt` on every item, as described in the module docs.
async fn execute<T>(
    items: Vec<(Vec<String>, T)>,
    operation: Operation,
    options: &BatchOptions,
    observer: &dyn BatchObserver,
    cancellation: &Cancellation,
    attempt: &Attempt<'_, T>,
) -> Vec<BatchOutcome> {
    let parallelism = match options.parallelism {
        0 => MAX_PARALLELISM,
        asked => asked.min(MAX_PARALLELISM),
    };
    let pacer = Pacer::new(parallelism);
    let total = items.len();
    let mut outcomes: Vec<Option<BatchOutcome>> = (0..total).map(|_| None).collect();
    let mut pending = items.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut fatal: Option<ApiError> = None;
    loop {
        while running.len() < parallelism && fatal.is_none() && !cancellation.is_stopped() {
            let Some((index, (user_ids, item))) = pending.next() else {
                break;
            };
            let job = Job {
                index,
                operation,
                user_ids,
                options,
                observer,
                cancellation,
                pacer: &pacer,
            };
            running.push(job.run(item, attempt));
        }
        let Some(outcome) = running.next().await else {
            break;
        };
        if let Some(error) = outcome
            .error
            .as_ref()
            .filter(|error| error.is_auth_failure())
        {
            // Every other request would be refused the same way: stop starting new ones.
            fatal.get_or_insert_with(|| error.clone());
        }
        observer.on_event(&BatchEvent::Finished { outcome: &outcome });
        let index = outcome.index;
        outcomes[index] = Some(outcome);
    }
    for (index, (user_ids, _item)) in pending {
        let outcome = BatchOutcome {
            index,
            user_ids,
            status: BatchStatus::NotSent,
            attempts: 0,
            rate_limited: 0,
            error: Some(fatal.clone().unwrap_or(ApiError::Cancelled {
                operation,
                in_flight: false,
            })),
            history: Vec::new(),
        };
        observer.on_event(&BatchEvent::Finished { outcome: &outcome });
        outcomes[index] = Some(outcome);
    }
    outcomes.into_iter().flatten().collect()
}

/// One item's run through its attempts.
struct Job<'run> {
    index: usize,
    operation: Operation,
    user_ids: Vec<String>,
    options: &'run BatchOptions,
    observer: &'run dyn BatchObserver,
    cancellation: &'run Cancellation,
    pacer: &'run Pacer,
}

impl Job<'_> {
    async fn run<T>(self, item: T, attempt: &Attempt<'_, T>) -> BatchOutcome {
        let mut attempts = 0;
        let mut tally = RetryTally::default();
        let mut history: Vec<AttemptFailure> = Vec::new();
        let mut last_error: Option<ApiError> = None;
        let result = loop {
            if self.cancellation.is_stopped() {
                break Err(last_error.take().unwrap_or(ApiError::Cancelled {
                    operation: self.operation,
                    in_flight: false,
                }));
            }
            let permit = tokio::select! {
                permit = self.pacer.acquire() => permit,
                () = self.cancellation.stop.cancelled() => continue,
            };
            attempts += 1;
            self.observer.on_event(&BatchEvent::Started {
                index: self.index,
                attempt: attempts,
                users: self.user_ids.len(),
            });
            let result = tokio::select! {
                result = attempt(&item) => result,
                () = self.cancellation.abort.cancelled() => Err(ApiError::Cancelled {
                    operation: self.operation,
                    in_flight: true,
                }),
            };
            let change = self.pacer.release(permit, &result);
            if let Some(limit) = change {
                tracing::debug!(limit, "requests in flight adjusted");
                self.observer
                    .on_event(&BatchEvent::ParallelismChanged { limit });
            }
            let error = match result {
                Ok(()) => break Ok(()),
                Err(error) => error,
            };
            let retry = self.options.retry.next(&error, &mut tally);
            if let Some(Retry {
                delay,
                rate_limit_pause: true,
            }) = retry
            {
                // The pause applies to every request: acquiring the next permit waits.
                self.pacer.pause_for(delay);
            }
            let retry = retry.map(|retry| retry.delay);
            history.push(AttemptFailure {
                attempt: attempts,
                status: error.status(),
                delivery: error.delivery(),
                message: error.to_string(),
                waited: retry.unwrap_or_default(),
            });
            let Some(delay) = retry else {
                break Err(error);
            };
            tracing::debug!(batch = self.index, attempt = attempts, ?delay, %error, "retrying");
            self.observer.on_event(&BatchEvent::Retrying {
                index: self.index,
                attempt: attempts,
                delay,
                error: &error,
            });
            last_error = Some(error);
            // A retry-after pause is waited for in `acquire`, with every other request.
            if !self.pacer.is_paused() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.cancellation.stop.cancelled() => {}
                }
            }
        };
        let (status, error) = match result {
            Ok(()) => (BatchStatus::Applied, None),
            Err(error) => {
                let status = match error.delivery() {
                    Delivery::Rejected => BatchStatus::Rejected,
                    Delivery::Unknown => BatchStatus::Unknown,
                    Delivery::NotSent
                        if history
                            .iter()
                            .any(|failure| failure.delivery == Delivery::Unknown) =>
                    {
                        BatchStatus::Unknown
                    }
                    Delivery::NotSent => BatchStatus::NotSent,
                };
                (status, Some(error))
            }
        };
        BatchOutcome {
            index: self.index,
            user_ids: self.user_ids,
            status,
            attempts,
            rate_limited: tally.rate_limited,
            error,
            history,
        }
    }
}

/// Adaptive limit on requests in flight, and the shared `Retry-After` pause.
struct Pacer {
    state: Mutex<PacerState>,
    changed: Notify,
    max: usize,
}

struct PacerState {
    limit: usize,
    in_flight: usize,
    /// Bumped on each change of `limit`; a 429 lowers the limit only if its request was sent
    /// in the current epoch, so a burst of answers to requests sent together counts once.
    epoch: u64,
    clean_streak: usize,
    paused_until: Option<Instant>,
}

struct Permit {
    epoch: u64,
}

impl Pacer {
    fn new(max: usize) -> Pacer {
        Pacer {
            state: Mutex::new(PacerState {
                limit: max,
                in_flight: 0,
                epoch: 0,
                clean_streak: 0,
                paused_until: None,
            }),
            changed: Notify::new(),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        // The state stays consistent even if a holder panicked: every update is one statement.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn acquire(&self) -> Permit {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let paused_until = {
                let mut state = self.lock();
                let paused_until = state.paused_until.filter(|until| *until > Instant::now());
                if paused_until.is_none() && state.in_flight < state.limit {
                    state.in_flight += 1;
                    return Permit { epoch: state.epoch };
                }
                paused_until
            };
            match paused_until {
                Some(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = &mut notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Returns the permit and adapts the limit to the answer; returns the new limit if it
    /// changed.
    fn release(&self, permit: Permit, result: &Result<(), ApiError>) -> Option<usize> {
        let mut state = self.lock();
        state.in_flight -= 1;
        let before = state.limit;
        match result {
            Err(error) if error.is_rate_limited() => {
                state.clean_streak = 0;
                if permit.epoch == state.epoch && state.limit > 1 {
                    state.limit /= 2;
                    state.epoch += 1;
                }
            }
            Ok(()) => {
                state.clean_streak += 1;
                if state.clean_streak >= state.limit && state.limit < self.max {
                    state.limit += 1;
                    state.clean_streak = 0;
                    state.epoch += 1;
                }
            }
            Err(_) => {}
        }
        let after = state.limit;
        drop(state);
        self.changed.notify_waiters();
        (after != before).then_some(after)
    }

    fn pause_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut state = self.lock();
        if state.paused_until.is_none_or(|current| current < until) {
            state.paused_until = Some(until);
        }
    }

    fn is_paused(&self) -> bool {
        self.lock()
            .paused_until
            .is_some_and(|until| until > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::User;

    fn user(id: &str, pool: &str) -> User {
        User {
            id: Some(id.to_string()),
            user_pool_id: Some(pool.to_string()),
            ..User::default()
        }
    }

    #[test]
    fn a_batch_holds_its_document_as_json_and_its_users() {
        let dump = TenantDump {
            users: vec![user("u1", "p"), user("u2", "p")],
            ..TenantDump::default()
        };
        let batch = Batch::new(dump.clone(), vec!["first".into(), "second".into()]).unwrap();
        assert_eq!(batch.users(), 2);
        assert_eq!(batch.user_ids(), ["first", "second"]);
        let sent = crate::load::parse_dump(batch.body(), "body").unwrap();
        assert_eq!(sent, dump);
        // Every attempt sends these bytes: a clone shares them.
        assert_eq!(batch.clone().body().as_ptr(), batch.body().as_ptr());
    }

    #[test]
    fn a_batch_over_the_limit_is_refused() {
        let dump = TenantDump {
            users: (0..101).map(|n| user(&format!("u{n}"), "p")).collect(),
            ..TenantDump::default()
        };
        let error = Batch::from_dump(dump).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a batch of 101 users is over the limit of 100 per request"
        );
    }

    #[test]
    fn pacing_halves_once_per_burst_of_429_and_climbs_back_on_clean_answers() {
        let pacer = Pacer::new(8);
        let rate_limited: Result<(), ApiError> = Err(ApiError::Status {
            operation: Operation::Import,
            endpoint: String::new(),
            tenant: String::new(),
            status: 429,
            server: Default::default(),
            retry_after: None,
            client_id: String::new(),
        });
        let permits: Vec<Permit> = (0..8).map(|_| Permit { epoch: 0 }).collect();
        pacer.lock().in_flight = 8;
        let changes: Vec<Option<usize>> = permits
            .into_iter()
            .map(|permit| pacer.release(permit, &rate_limited))
            .collect();
        assert_eq!(changes[0], Some(4));
        assert!(changes[1..].iter().all(Option::is_none));
        let mut limit = 4;
        for _ in 0..4 {
            pacer.lock().in_flight += 1;
            let epoch = pacer.lock().epoch;
            if let Some(new) = pacer.release(Permit { epoch }, &Ok(())) {
                limit = new;
            }
        }
        assert_eq!(limit, 5);
    }
}
