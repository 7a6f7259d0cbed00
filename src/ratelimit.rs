//! Client-side rate limiters that space requests evenly, so the exporter never sends
//! more than AWS allows to an API, whatever the concurrency and however many retries.
//!
//! AWS limits most APIs per account, region and operation. [`RateLimits`] holds one
//! limiter per account, region and operation for a process, shared by every client
//! that calls it: the collectors and the increase receiver alike. Each rate is
//! AWS's documented limit with headroom, from [`rate_for`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

/// Requests per second the exporter allows itself for an operation, per region:
/// four fifths of AWS's documented limit, or `list_rate` (QUOTA_EXPORTER_SERVICE_QUOTAS_RATE)
/// for the Service Quotas listings. `None` for operations without a limiter.
pub fn rate_for(operation: &str, list_rate: f64) -> Option<f64> {
    match operation {
        // Service Quotas: 10 per second each (reference_limits).
        "ListServices" | "ListServiceQuotas" | "ListAWSDefaultServiceQuotas" => Some(list_rate),
        // Service Quotas: 5 per second each.
        "GetServiceQuota"
        | "GetRequestedServiceQuotaChange"
        | "ListRequestedServiceQuotaChangeHistory"
        | "ListRequestedServiceQuotaChangeHistoryByQuota"
        | "GetAutoManagementConfiguration" => Some(4.0),
        // Service Quotas: 3 per second.
        "RequestServiceQuotaIncrease" => Some(2.0),
        // CloudWatch: 50 and 25 per second.
        "GetMetricData" => Some(40.0),
        "ListMetrics" => Some(20.0),
        // The Bedrock control plane's list operations; AWS publishes no rate for them.
        "ListFoundationModels" | "ListInferenceProfiles" | "ListProvisionedModelThroughputs" => Some(5.0),
        // Organizations throttles its listings per account; AWS publishes no rate.
        "ListRoots" | "ListOrganizationalUnitsForParent" | "ListAccountsForParent" => Some(4.0),
        _ => None,
    }
}

/// An account, a region and an operation.
type LimiterKey = (String, String, &'static str);

/// One limiter per account, region and operation, shared by every client of a process.
#[derive(Debug)]
pub struct RateLimits {
    list_rate: f64,
    limiters: Mutex<HashMap<LimiterKey, Arc<RateLimiter>>>,
}

impl RateLimits {
    /// Limits with `list_rate` requests per second for the Service Quotas listings.
    pub fn new(list_rate: f64) -> Arc<RateLimits> {
        Arc::new(RateLimits { list_rate, limiters: Mutex::new(HashMap::new()) })
    }

    /// The limiter of an operation in an account's region; `None` for an unlimited
    /// operation.
    pub fn get(&self, account: &str, region: &str, operation: &'static str) -> Option<Arc<RateLimiter>> {
        let rate = rate_for(operation, self.list_rate)?;
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            limiters
                .entry((account.to_owned(), region.to_owned(), operation))
                .or_insert_with(|| Arc::new(RateLimiter::per_second(rate)))
                .clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_quotas_rate_stays_below_aws_s_limit() {
        for (op, aws) in [("GetServiceQuota", 5.0), ("RequestServiceQuotaIncrease", 3.0), ("GetMetricData", 50.0)] {
            assert!(rate_for(op, 8.0).is_some_and(|r| r < aws), "{op}");
        }
        assert_eq!(rate_for("ListServiceQuotas", 8.0), Some(8.0), "listings follow the configured rate");
        assert_eq!(rate_for("GetCallerIdentity", 8.0), None);
    }

    #[test]
    fn clients_of_one_account_and_region_share_a_limiter_and_other_regions_and_accounts_do_not() {
        let limits = RateLimits::new(8.0);
        let a = limits.get("111122223333", "us-east-1", "GetServiceQuota").expect("limited");
        let b = limits.get("111122223333", "us-east-1", "GetServiceQuota").expect("limited");
        let c = limits.get("111122223333", "eu-west-1", "GetServiceQuota").expect("limited");
        let d = limits.get("444455556666", "us-east-1", "GetServiceQuota").expect("limited");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(!Arc::ptr_eq(&a, &d), "AWS limits each account on its own");
    }

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
