//! How long each AWS call may take. Every call the exporter makes is bounded twice: an
//! attempt (one HTTP request) by `attempt`, the whole call with its retries by
//! `operation`. A hung endpoint therefore turns into a failed call within `operation`,
//! and the refresh that made it records the failure and carries on.
//!
//! | Calls | Attempt | Whole call |
//! |---|---|---|
//! | Service Quotas listings and reads | 10 s | 60 s |
//! | `RequestServiceQuotaIncrease` (one attempt, never retried) | 20 s | 20 s |
//! | CloudWatch `GetMetricData` (up to 500 metrics) | 30 s | 120 s |
//! | CloudWatch `ListMetrics`, the Bedrock control plane | 10 s | 60 s |
//! | STS | 5 s | 30 s |
//! | DynamoDB (the replicated ledger) | 5 s | 20 s |
//!
//! The README's table is this one.

use std::time::Duration;

use aws_sdk_servicequotas::config::timeout::TimeoutConfig;

/// The bounds of one kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// One HTTP request.
    pub attempt: Duration,
    /// The call with every retry.
    pub operation: Duration,
}

impl Bound {
    /// The SDK timeouts of a client that makes one attempt per call: the attempt, and
    /// the SDK's operation around it, within `attempt` ([`super::TargetAws::call`]
    /// bounds the call with its retries).
    pub fn one_attempt(self) -> TimeoutConfig {
        TimeoutConfig::builder().operation_attempt_timeout(self.attempt).operation_timeout(self.attempt).build()
    }

    /// The SDK timeouts of a client the SDK retries (the DynamoDB ledger's): each
    /// attempt within `attempt`, the call with its retries within `operation`.
    pub fn with_sdk_retries(self) -> TimeoutConfig {
        TimeoutConfig::builder().operation_attempt_timeout(self.attempt).operation_timeout(self.operation).build()
    }
}

const fn secs(attempt: u64, operation: u64) -> Bound {
    Bound { attempt: Duration::from_secs(attempt), operation: Duration::from_secs(operation) }
}

pub const SERVICE_QUOTAS: Bound = secs(10, 60);
pub const REQUEST_INCREASE: Bound = secs(20, 20);
pub const GET_METRIC_DATA: Bound = secs(30, 120);
pub const CLOUDWATCH: Bound = secs(10, 60);
pub const BEDROCK: Bound = secs(10, 60);
pub const STS: Bound = secs(5, 30);
pub const ORGANIZATIONS: Bound = secs(10, 60);
pub const DYNAMODB: Bound = secs(5, 20);

/// The bounds every client of a process uses; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub service_quotas: Bound,
    pub request_increase: Bound,
    pub get_metric_data: Bound,
    pub cloudwatch: Bound,
    pub bedrock: Bound,
    pub sts: Bound,
    pub organizations: Bound,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            service_quotas: SERVICE_QUOTAS,
            request_increase: REQUEST_INCREASE,
            get_metric_data: GET_METRIC_DATA,
            cloudwatch: CLOUDWATCH,
            bedrock: BEDROCK,
            sts: STS,
            organizations: ORGANIZATIONS,
        }
    }
}

impl Timeouts {
    /// Every bound scaled to `attempt` and `operation` (tests: a hung endpoint fails
    /// within a second instead of a minute).
    pub fn all(attempt: Duration, operation: Duration) -> Timeouts {
        let b = Bound { attempt, operation };
        Timeouts {
            service_quotas: b,
            request_increase: Bound { attempt, operation: attempt },
            get_metric_data: b,
            cloudwatch: b,
            bedrock: b,
            sts: b,
            organizations: b,
        }
    }
}
