//! When to send a failed request again, and after how long.
//!
//! One [`RetryPolicy`] serves the batch executor and the client's own retried calls (export):
//! - 429: wait for `Retry-After` (capped by [`RetryPolicy::max_retry_after`]), or back off when
//!   the answer has none. The service did not process a 429, so these are counted apart, against
//!   [`RetryPolicy::max_rate_limited`].
//! - 5xx, 408, timeouts, dropped or refused connections: exponential backoff with jitter (or the
//!   `Retry-After` of a 503), at most [`RetryPolicy::max_attempts`] sends in all.
//! - anything else (4xx, unusable answers): final.
//!
//! `POOLSYNC_TEST_NO_RETRY_DELAY=1` makes the default backoff zero for tests; a `Retry-After`
//! from the server is still honoured. This module only computes delays; it never sleeps.

use crate::client::error::ApiError;
use std::time::Duration;

/// Set to `1` to skip backoff sleeps in tests; `Retry-After` is still honoured.
pub const ENV_NO_RETRY_DELAY: &str = "POOLSYNC_TEST_NO_RETRY_DELAY";

/// How often and how patiently to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends of one request at most, not counting those answered 429.
    pub max_attempts: u32,
    /// 429 answers tolerated for one request before it is given up.
    pub max_rate_limited: u32,
    /// First backoff delay; it doubles with each failure.
    pub base_backoff: Duration,
    /// Longest backoff delay.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, thirty 429s, backoff from 500 ms to 30 s, `Retry-After` up to five
    /// minutes. With `POOLSYNC_TEST_NO_RETRY_DELAY=1` the backoff is zero.
    fn default() -> Self {
        let no_delay = std::env::var(ENV_NO_RETRY_DELAY).is_ok_and(|value| value == "1");
        let backoff = |duration: Duration| if no_delay { Duration::ZERO } else { duration };
        RetryPolicy {
            max_attempts: 5,
            max_rate_limited: 30,
            base_backoff: backoff(Duration::from_millis(500)),
            max_backoff: backoff(Duration::from_secs(30)),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// The failures of one request so far.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RetryTally {
    pub(crate) rate_limited: u32,
    pub(crate) failures: u32,
}

/// A decision to send again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retry {
    /// How long to wait first.
    pub(crate) delay: Duration,
    /// Whether the wait is a rate limit's `Retry-After`, which concerns every request.
    pub(crate) rate_limit_pause: bool,
}

impl RetryPolicy {
    /// Counts `error` in `tally` and says whether and when to send again.
    pub(crate) fn next(&self, error: &ApiError, tally: &mut RetryTally) -> Option<Retry> {
        if !error.is_retryable() {
            return None;
        }
        let server_delay = error
            .retry_after()
            .map(|delay| delay.min(self.max_retry_after));
        if error.is_rate_limited() {
            tally.rate_limited += 1;
            return (tally.rate_limited <= self.max_rate_limited).then(|| Retry {
                delay: server_delay.unwrap_or_else(|| self.backoff(tally.rate_limited)),
                rate_limit_pause: server_delay.is_some(),
            });
        }
        tally.failures += 1;
        (tally.failures < self.max_attempts).then(|| Retry {
            delay: server_delay.unwrap_or_else(|| self.backoff(tally.failures)),
            rate_limit_pause: false,
        })
    }

    /// Exponential backoff with jitter: between half and all of `base * 2^(n-1)`, capped.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let exponential = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)))
            .min(self.max_backoff);
        if exponential.is_zero() {
            return Duration::ZERO;
        }
        // Jitter spreads the retries of requests that failed together, so they do not return
        // in one burst.
        exponential.mul_f64(rand::random_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::error::{Operation, TransportKind};

    fn status(status: u16, retry_after: Option<u64>) -> ApiError {
        ApiError::Status {
            operation: Operation::Import,
            endpoint: String::new(),
            tenant: String::new(),
            status,
            server: Box::default(),
            retry_after: retry_after.map(Duration::from_secs),
            client_id: String::new(),
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_stops_at_the_cap() {
        let policy = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        let third = policy.backoff(3);
        assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
        assert!(policy.backoff(30) <= Duration::from_millis(1000));
    }

    #[test]
    fn rate_limits_and_failures_have_separate_budgets() {
        let policy = RetryPolicy {
            max_attempts: 2,
            max_rate_limited: 2,
            max_retry_after: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let mut tally = RetryTally::default();
        let wait = policy.next(&status(429, Some(600)), &mut tally).unwrap();
        assert_eq!(wait.delay, Duration::from_secs(60));
        assert!(wait.rate_limit_pause);
        assert!(policy.next(&status(429, Some(1)), &mut tally).is_some());
        assert!(policy.next(&status(429, Some(1)), &mut tally).is_none());
        let mut tally = RetryTally::default();
        let dropped = ApiError::Transport {
            operation: Operation::Import,
            endpoint: String::new(),
            kind: TransportKind::Dropped,
            message: String::new(),
        };
        assert!(policy.next(&dropped, &mut tally).is_some());
        assert!(policy.next(&dropped, &mut tally).is_none());
        assert!(
            policy
                .next(&status(409, None), &mut RetryTally::default())
                .is_none()
        );
    }
}
