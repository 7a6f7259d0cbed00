//! Retries of AWS reads, done here rather than by the SDK so that every attempt goes
//! through the operation's rate limiter (a retry never pushes the exporter past AWS's
//! rate limits) and a target's retries are bounded by a budget.
//!
//! * Which errors: throttling, HTTP 5xx, timeouts and transport failures. Reads are
//!   idempotent, so retrying them is safe; `RequestServiceQuotaIncrease` is never
//!   retried (the receiver settles an unconfirmed filing against AWS's history).
//! * How often: at most `max_attempts` attempts per call (`AWS_MAX_ATTEMPTS`, default
//!   6), within the call's time bound ([`super::timeouts`]).
//! * How long between: exponential backoff with full jitter: a uniformly random wait
//!   up to `initial_backoff * 2^(retry - 1)`, capped at `max_backoff`, so that clients
//!   throttled together do not come back together.
//! * Whole again: a listing or a `GetMetricData` batch that still fails is tried again
//!   in up to [`ROUNDS`] more rounds within the same refresh, after a pause.
//! * How many in all: a budget per target. Each successful call adds a token (up to
//!   [`BUDGET`]); each retry takes one. When AWS fails everything, a target's retries
//!   stop after the budget is spent instead of multiplying the load sixfold.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_servicequotas::config::retry::RetryConfig;

/// How many more rounds a refresh gives a listing or `GetMetricData` batch that still
/// failed after its calls' own retries, before it keeps the last good data.
pub const ROUNDS: u32 = 2;

/// Tokens a target starts with, and the most it keeps.
pub const BUDGET: f64 = 100.0;

/// How a target retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The policy as an SDK retry configuration: how the settings travel in an
    /// `SdkConfig` (where `AWS_MAX_ATTEMPTS` or a profile may set them).
    pub fn to_sdk(self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    /// The policy an SDK retry configuration describes.
    pub fn from_sdk(r: &RetryConfig) -> RetryPolicy {
        RetryPolicy {
            max_attempts: r.max_attempts().max(1),
            initial_backoff: r.initial_backoff(),
            max_backoff: r.max_backoff(),
        }
    }

    /// The wait before retry number `retry` (1 for the first), for a random draw
    /// `unit` in `[0, 1)`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let ceiling =
            self.initial_backoff.saturating_mul(1u32 << retry.saturating_sub(1).min(16)).min(self.max_backoff);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// The retry budget of one target.
#[derive(Debug)]
pub struct RetryBudget {
    tokens: Mutex<f64>,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget { tokens: Mutex::new(BUDGET) }
    }
}

impl RetryBudget {
    /// Takes a token for one retry; false when none is left.
    pub fn try_spend(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A call succeeded: one token back, up to the cap.
    pub fn succeeded(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        *tokens = (*tokens + 1.0).min(BUDGET);
    }

    pub fn tokens(&self) -> f64 {
        *self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_the_jitter_spans_zero_to_the_ceiling() {
        let p = RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        assert_eq!(p.backoff(1, 0.999_999).as_millis(), 99);
        assert_eq!(p.backoff(2, 0.5), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(200));
        assert_eq!(p.backoff(5, 0.5), Duration::from_millis(500), "capped at 1 s");
        assert_eq!(p.backoff(40, 0.5), Duration::from_millis(500), "no overflow");
        assert_eq!(p.backoff(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn an_outage_spends_the_budget_once_and_successes_refill_it() {
        let b = RetryBudget::default();
        let spent = (0..1000).filter(|_| b.try_spend()).count();
        assert_eq!(spent, BUDGET as usize, "a total outage gets the budget's retries, then none");
        for _ in 0..10 {
            b.succeeded();
        }
        assert_eq!((0..100).filter(|_| b.try_spend()).count(), 10);
        for _ in 0..1000 {
            b.succeeded();
        }
        assert_eq!(b.tokens(), BUDGET, "never above the cap");
    }
}
