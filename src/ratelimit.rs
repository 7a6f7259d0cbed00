//! A client-side rate limiter that spaces requests evenly, so a target never sends
//! more than its configured rate to an API whatever the concurrency.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Hands out one slot every `interval`; callers wait for theirs.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter of `rate` requests per second (a rate of 0 or less means no limit).
    pub fn per_second(rate: f64) -> RateLimiter {
        let interval = if rate > 0.0 { Duration::from_secs_f64(1.0 / rate) } else { Duration::ZERO };
        RateLimiter { interval, next: Mutex::new(None) }
    }

    /// Waits until this caller may send its request.
    pub async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ten_requests_at_five_per_second_take_one_point_eight_seconds() {
        let limiter = RateLimiter::per_second(5.0);
        let start = Instant::now();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        // The first slot is immediate, then one every 200 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(1800));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_get_distinct_slots() {
        let limiter = std::sync::Arc::new(RateLimiter::per_second(10.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move {
                    l.acquire().await;
                    Instant::now()
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.expect("task ran").duration_since(start));
        }
        times.sort();
        assert_eq!(times, [0, 100, 200, 300].map(Duration::from_millis));
    }
}
