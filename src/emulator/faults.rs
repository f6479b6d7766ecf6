//! Fault injection: rate limiting, 5xx answers before or after a change, dropped connections and
//! latency, all drawn from one seeded ChaCha generator.
//!
//! Every request draws the same four numbers in arrival order, whatever its route and whether a
//! knob is on, so with a given seed the n-th request always meets the same fate: a test that sends
//! requests one after another sees the same faults on every run. Concurrent requests still draw
//! in the order they arrive, which the seed cannot fix. This module decides; the server acts.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A request rate limit, applied per tenant (the token endpoint included), answered with 429 and
/// `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    /// At most this many requests per tenant in each one-second window.
    PerSecond(u32),
    /// Every n-th request of a tenant is refused (the n-th, the 2n-th...): deterministic, for
    /// tests.
    EveryNth(u32),
}

/// Which faults the emulator injects. The default injects none.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Seed of the generator that decides which requests fail.
    pub seed: u64,
    /// Request rate limit.
    pub rate_limit: Option<RateLimit>,
    /// The `Retry-After` of a 429 under [`RateLimit::EveryNth`] (a per-second limit says when
    /// its window ends).
    pub retry_after_secs: u64,
    /// Fraction of requests answered 503 before anything is done.
    pub error_5xx_before: f64,
    /// Fraction of successful imports and deletes answered 502 after the change was applied.
    pub error_502_after: f64,
    /// Fraction of requests whose connection is closed without an answer, after the request was
    /// handled (an import may have been applied).
    pub drop_connection: f64,
    /// Latency added to every request, counted from its arrival, before it is acted on. Each
    /// request waits on its own, so concurrent requests' latencies overlap as on a network;
    /// what the request then costs the emulator comes on top, as a service's time would.
    pub latency: Duration,
    /// Extra latency drawn uniformly between zero and this, on top of `latency`.
    pub latency_jitter: Duration,
    /// Every n-th password check of a tenant is answered 429 with `Retry-After`
    /// (`retry_after_secs`), as the real endpoint's brute-force protection answers.
    pub password_429_every: Option<u32>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            rate_limit: None,
            retry_after_secs: 1,
            error_5xx_before: 0.0,
            error_502_after: 0.0,
            drop_connection: 0.0,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            password_429_every: None,
        }
    }
}

/// A fault injected into one request, as the request log shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answered 429 by the rate limit; nothing was done.
    RateLimited,
    /// Answered 503 before anything was done.
    ErrorBefore,
    /// The change was applied, then answered 502.
    Error502After,
    /// The request was handled, then the connection closed without an answer.
    Dropped,
}

/// The fate drawn for one request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Draw {
    pub error_before: bool,
    pub error_after: bool,
    pub drop: bool,
    pub latency: Duration,
}

/// Draws fates; one per emulator.
pub(crate) struct FaultInjector {
    config: FaultConfig,
    rng: Mutex<ChaCha8Rng>,
}

impl FaultInjector {
    pub(super) fn new(config: FaultConfig) -> Self {
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(config.seed));
        FaultInjector { config, rng }
    }

    pub(super) fn config(&self) -> &FaultConfig {
        &self.config
    }

    pub(super) fn draw(&self) -> Draw {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before: f64 = rng.random();
        let after: f64 = rng.random();
        let drop: f64 = rng.random();
        let jitter: u64 = rng.random();
        let jitter_range =
            u64::try_from(self.config.latency_jitter.as_micros()).unwrap_or(u64::MAX);
        let jitter = match jitter_range {
            0 => Duration::ZERO,
            range => Duration::from_micros(jitter % (range + 1)),
        };
        Draw {
            error_before: before < self.config.error_5xx_before,
            error_after: after < self.config.error_502_after,
            drop: drop < self.config.drop_connection,
            latency: self.config.latency + jitter,
        }
    }
}

/// One tenant's rate-limit bookkeeping.
#[derive(Debug)]
pub(crate) struct RateWindow {
    started: Instant,
    in_window: u32,
    total: u64,
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow {
            started: Instant::now(),
            in_window: 0,
            total: 0,
        }
    }
}

impl RateWindow {
    /// Counts one request; `Some(retry_after_secs)` if the limit refuses it.
    pub(super) fn admit(
        &mut self,
        limit: Option<RateLimit>,
        retry_after_secs: u64,
        now: Instant,
    ) -> Option<u64> {
        self.total += 1;
        match limit? {
            RateLimit::EveryNth(n) => {
                (n > 0 && self.total % u64::from(n) == 0).then_some(retry_after_secs)
            }
            RateLimit::PerSecond(per_second) => {
                let elapsed = now.saturating_duration_since(self.started);
                if elapsed >= Duration::from_secs(1) {
                    self.started = now;
                    self.in_window = 0;
                }
                if self.in_window < per_second {
                    self.in_window += 1;
                    return None;
                }
                let left = Duration::from_secs(1)
                    .saturating_sub(now.saturating_duration_since(self.started));
                // Round up: a client that waits `Retry-After` seconds must find a new window.
                Some(left.as_secs() + u64::from(left.subsec_nanos() > 0)).map(|secs| secs.max(1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_draws_the_same_fates() {
        let config = FaultConfig {
            seed: 7,
            error_5xx_before: 0.3,
            drop_connection: 0.2,
            ..FaultConfig::default()
        };
        let fates = |injector: FaultInjector| {
            (0..50)
                .map(|_| {
                    let draw = injector.draw();
                    (draw.error_before, draw.drop)
                })
                .collect::<Vec<_>>()
        };
        let first = fates(FaultInjector::new(config.clone()));
        assert_eq!(first, fates(FaultInjector::new(config)));
        assert!(first.iter().any(|fate| fate.0) && first.iter().any(|fate| !fate.0));
    }

    #[test]
    fn every_nth_and_per_second_limits() {
        let mut window = RateWindow::default();
        let now = Instant::now();
        let refused: Vec<bool> = (0..6)
            .map(|_| window.admit(Some(RateLimit::EveryNth(3)), 2, now).is_some())
            .collect();
        assert_eq!(refused, [false, false, true, false, false, true]);
        let mut window = RateWindow::default();
        let now = window.started;
        assert_eq!(window.admit(Some(RateLimit::PerSecond(2)), 9, now), None);
        assert_eq!(window.admit(Some(RateLimit::PerSecond(2)), 9, now), None);
        assert_eq!(window.admit(Some(RateLimit::PerSecond(2)), 9, now), Some(1));
        let later = now + Duration::from_millis(1500);
        assert_eq!(window.admit(Some(RateLimit::PerSecond(2)), 9, later), None);
    }
}
