//! The exporter's live counters about itself: AWS calls by operation and outcome,
//! CloudWatch metrics requested (the unit AWS bills `GetMetricData` by), and OTLP pushes. They are
//! `prometheus` crate instruments, gathered into every rendered exposition.
//!
//! Refresh success, timestamps and durations are not here: they belong to each
//! target's state and are rendered from the snapshot.

use prometheus::{IntCounterVec, Opts, Registry};

use crate::aws::Outcome;

/// Counters shared by every target.
#[derive(Debug, Clone)]
pub struct SelfMetrics {
    registry: Registry,
    api_calls: IntCounterVec,
    metrics_requested: IntCounterVec,
    otlp_exports: IntCounterVec,
    otlp_last_export: prometheus::Gauge,
    increase_requests: IntCounterVec,
}

pub const API_CALLS: &str = "aws_quota_exporter_aws_api_calls_total";
pub const METRICS_REQUESTED: &str = "aws_quota_exporter_cloudwatch_metrics_requested_total";
pub const OTLP_EXPORTS: &str = "aws_quota_exporter_otlp_exports_total";
pub const INCREASE_REQUESTS: &str = "aws_quota_increase_requests_total";
/// The help of [`INCREASE_REQUESTS`], shared with the family catalog.
pub const INCREASE_REQUESTS_HELP: &str = "Decisions of the automatic increase receiver by outcome (filed, dry_run, \
     awaiting_approval, rejected, skipped, failed, resolved; approved, denied and the other AWS statuses as requests \
     close; abandoned and reconciled after a restart) and reason (for skipped and failed).";

impl Default for SelfMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SelfMetrics {
    pub fn new() -> SelfMetrics {
        let registry = Registry::new();
        let api_calls = IntCounterVec::new(
            Opts::new(
                API_CALLS,
                "AWS API requests sent, every HTTP attempt including the SDK's retries, by AWS service, \
                 operation and outcome (ok, throttled, error). Counted as requests complete; published at each refresh.",
            ),
            &["aws_service", "operation", "outcome", "cloud_account_id", "cloud_region"],
        )
        .expect("the metric name and labels are valid constants");
        let metrics_requested = IntCounterVec::new(
            Opts::new(
                METRICS_REQUESTED,
                "CloudWatch metrics requested through GetMetricData, the unit AWS bills it by \
                 (USD 0.01 per 1,000 in the standard tier). Published at each refresh.",
            ),
            &["cloud_account_id", "cloud_region"],
        )
        .expect("the metric name and labels are valid constants");
        let otlp_exports = IntCounterVec::new(
            Opts::new(OTLP_EXPORTS, "OTLP export requests by outcome (ok, error); a large snapshot is pushed in several. A failed request is dropped, not retried: the next push carries the whole snapshot again."),
            &["outcome"],
        )
        .expect("the metric name and labels are valid constants");
        let otlp_last_export = prometheus::Gauge::with_opts(Opts::new(
            "aws_quota_exporter_otlp_last_export_duration_seconds",
            "How long the last OTLP export request took, successful or not.",
        ))
        .expect("the metric name is a valid constant");
        registry.register(Box::new(api_calls.clone())).expect("registered once");
        registry.register(Box::new(metrics_requested.clone())).expect("registered once");
        registry.register(Box::new(otlp_exports.clone())).expect("registered once");
        registry.register(Box::new(otlp_last_export.clone())).expect("registered once");
        let increase_requests =
            IntCounterVec::new(Opts::new(INCREASE_REQUESTS, INCREASE_REQUESTS_HELP), &["outcome", "reason"])
                .expect("the metric name and labels are valid constants");
        registry.register(Box::new(increase_requests.clone())).expect("registered once");
        SelfMetrics { registry, api_calls, metrics_requested, otlp_exports, otlp_last_export, increase_requests }
    }

    pub fn count_api_call(&self, service: &str, operation: &str, outcome: Outcome, account: &str, region: &str) {
        self.api_calls.with_label_values(&[service, operation, outcome.as_str(), account, region]).inc();
    }

    pub fn count_metrics_requested(&self, n: u64, account: &str, region: &str) {
        self.metrics_requested.with_label_values(&[account, region]).inc_by(n);
    }

    pub fn count_otlp_export(&self, ok: bool, seconds: f64) {
        self.otlp_exports.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
        self.otlp_last_export.set(seconds);
    }

    /// One decision of the increase receiver.
    pub fn count_increase(&self, outcome: &str, reason: &str) {
        self.increase_requests.with_label_values(&[outcome, reason]).inc();
    }

    /// Decisions so far with this outcome and reason.
    pub fn increases(&self, outcome: &str, reason: &str) -> u64 {
        self.increase_requests.with_label_values(&[outcome, reason]).get()
    }

    /// OTLP pushes so far with this outcome.
    pub fn otlp_exports(&self, ok: bool) -> u64 {
        self.otlp_exports.with_label_values(&[if ok { "ok" } else { "error" }]).get()
    }

    /// How long the last OTLP push took, in seconds (0 before the first).
    pub fn otlp_last_export_seconds(&self) -> f64 {
        self.otlp_last_export.get()
    }

    /// The current value of the API call counter for one combination of labels.
    pub fn api_calls(&self, service: &str, operation: &str, outcome: Outcome, account: &str, region: &str) -> u64 {
        self.api_calls.with_label_values(&[service, operation, outcome.as_str(), account, region]).get()
    }

    /// The counters as metric families, sorted by name.
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }
}
