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
    increase_ledger_available: prometheus::IntGaugeVec,
    task_restarts: IntCounterVec,
    http_connections: prometheus::IntGaugeVec,
    http_connections_closed: IntCounterVec,
}

pub const API_CALLS: &str = "aws_quota_exporter_aws_api_calls_total";
pub const METRICS_REQUESTED: &str = "aws_quota_exporter_cloudwatch_metrics_requested_total";
pub const OTLP_EXPORTS: &str = "aws_quota_exporter_otlp_exports_total";
pub const INCREASE_REQUESTS: &str = "aws_quota_increase_requests_total";
pub const INCREASE_LEDGER_AVAILABLE: &str = "aws_quota_increase_ledger_available";
pub const TASK_RESTARTS: &str = "aws_quota_exporter_task_restarts_total";
pub const HTTP_CONNECTIONS: &str = "aws_quota_exporter_http_connections";
pub const HTTP_CONNECTIONS_CLOSED: &str = "aws_quota_exporter_http_connections_closed_total";
/// The help of [`TASK_RESTARTS`], shared with the family catalog.
pub const TASK_RESTARTS_HELP: &str = "Background tasks restarted after a panic, by task (refresh, tracker, renderer): \
     the panic is logged and the task starts again, so a count here is a bug to report.";
/// The help of [`HTTP_CONNECTIONS_CLOSED`], shared with the family catalog.
pub const HTTP_CONNECTIONS_CLOSED_HELP: &str = "HTTP connections the server closed itself, by reason: \
     header_timeout (no complete request head in time, idle keep-alive connections included), send_timeout \
     (a response not sent within its deadline), evicted (the oldest idle connection, to make room at the \
     connection cap), per_client_limit (refused: its address already holds an eighth of the cap).";
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
                "AWS API requests sent, every HTTP attempt including retries, by AWS service, operation and outcome \
                 (ok, throttled, timeout, error). Counted as requests complete; published at each refresh.",
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
        // Without labels, and created only when first set: absent unless the receiver is on.
        let increase_ledger_available =
            prometheus::IntGaugeVec::new(Opts::new(INCREASE_LEDGER_AVAILABLE, "ledger availability"), &[])
                .expect("the metric name is a valid constant");
        registry.register(Box::new(increase_ledger_available.clone())).expect("registered once");
        let task_restarts = IntCounterVec::new(Opts::new(TASK_RESTARTS, TASK_RESTARTS_HELP), &["task"])
            .expect("the metric name and labels are valid constants");
        registry.register(Box::new(task_restarts.clone())).expect("registered once");
        let http_connections = prometheus::IntGaugeVec::new(Opts::new(HTTP_CONNECTIONS, "open connections"), &[])
            .expect("the metric name is a valid constant");
        registry.register(Box::new(http_connections.clone())).expect("registered once");
        let http_connections_closed =
            IntCounterVec::new(Opts::new(HTTP_CONNECTIONS_CLOSED, HTTP_CONNECTIONS_CLOSED_HELP), &["reason"])
                .expect("the metric name and labels are valid constants");
        registry.register(Box::new(http_connections_closed.clone())).expect("registered once");
        SelfMetrics {
            registry,
            api_calls,
            metrics_requested,
            otlp_exports,
            otlp_last_export,
            increase_requests,
            increase_ledger_available,
            task_restarts,
            http_connections,
            http_connections_closed,
        }
    }

    /// Whether the increase receiver's ledger is open.
    pub fn set_increase_ledger_available(&self, available: bool) {
        self.increase_ledger_available.with_label_values(&[] as &[&str]).set(i64::from(available));
    }

    /// A background task panicked and was started again.
    pub fn count_task_restart(&self, task: &str) {
        self.task_restarts.with_label_values(&[task]).inc();
    }

    pub fn task_restarts(&self, task: &str) -> u64 {
        self.task_restarts.with_label_values(&[task]).get()
    }

    /// The HTTP server's open connections, as it changes.
    pub fn set_http_connections(&self, open: usize) {
        self.http_connections.with_label_values(&[] as &[&str]).set(open as i64);
    }

    /// The HTTP server's open connections, as last set.
    pub fn http_connections(&self) -> i64 {
        self.http_connections.with_label_values(&[] as &[&str]).get()
    }

    /// The HTTP server closed a connection itself, for `reason`.
    pub fn count_http_connection_closed(&self, reason: &str) {
        self.http_connections_closed.with_label_values(&[reason]).inc();
    }

    pub fn http_connections_closed(&self, reason: &str) -> u64 {
        self.http_connections_closed.with_label_values(&[reason]).get()
    }

    pub fn count_api_call(&self, service: &str, operation: &str, outcome: Outcome, account: &str, region: &str) {
        self.api_calls.with_label_values(&[service, operation, outcome.as_str(), account, region]).inc();
    }

    /// Removes the call counters of an account that is no longer collected, so that
    /// its series go with it.
    pub fn forget_account(&self, account: &str) {
        for vec in [&self.api_calls, &self.metrics_requested] {
            for family in prometheus::core::Collector::collect(vec) {
                for metric in family.get_metric() {
                    let labels: std::collections::HashMap<&str, &str> =
                        metric.get_label().iter().map(|l| (l.name(), l.value())).collect();
                    if labels.get("cloud_account_id") != Some(&account) {
                        continue;
                    }
                    let names: &[&str] = if std::ptr::eq(vec, &self.api_calls) {
                        &["aws_service", "operation", "outcome", "cloud_account_id", "cloud_region"]
                    } else {
                        &["cloud_account_id", "cloud_region"]
                    };
                    let values: Vec<&str> = names.iter().map(|n| labels.get(n).copied().unwrap_or_default()).collect();
                    let _ = vec.remove_label_values(&values);
                }
            }
        }
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
