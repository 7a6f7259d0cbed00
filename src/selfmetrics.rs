//! The exporter's live counters about itself: AWS calls by operation and outcome,
//! CloudWatch metrics requested (the unit AWS bills `GetMetricData` by), OTLP pushes,
//! the increase receiver's decisions, task restarts and HTTP connections.
//!
//! Only values live here, keyed by their label values in the order of the label names
//! the catalog declares (sorted by name, as the exposition prints them). Names, help
//! texts, units and label names are declared once, in the catalog
//! ([`crate::metrics`]), whose families read these values at each render or push.
//!
//! Refresh success, timestamps and durations are not here: they belong to each
//! target's state and are rendered from the snapshot.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A counter by label values.
#[derive(Debug)]
pub struct Counter<const N: usize> {
    values: Mutex<BTreeMap<[String; N], u64>>,
}

impl<const N: usize> Default for Counter<N> {
    fn default() -> Self {
        Counter { values: Mutex::new(BTreeMap::new()) }
    }
}

impl<const N: usize> Counter<N> {
    pub fn add(&self, labels: [&str; N], n: u64) {
        *self.values.lock().unwrap_or_else(|p| p.into_inner()).entry(labels.map(str::to_owned)).or_default() += n;
    }

    pub fn get(&self, labels: [&str; N]) -> u64 {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).get(&labels.map(str::to_owned)).copied().unwrap_or(0)
    }

    /// Every series, sorted by label values.
    pub fn values(&self) -> Vec<([String; N], u64)> {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The sum over every series.
    pub fn total(&self) -> u64 {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).values().sum()
    }

    fn retain(&self, keep: impl Fn(&[String; N]) -> bool) {
        self.values.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, _| keep(k));
    }
}

/// A gauge without labels, absent until first set.
#[derive(Debug, Default)]
pub struct Gauge {
    value: Mutex<Option<f64>>,
}

impl Gauge {
    pub fn set(&self, v: f64) {
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }

    pub fn get(&self) -> Option<f64> {
        *self.value.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counters shared by every target. Each field's labels are those its family in the
/// catalog names, in that order.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    /// `aws_service`, `cloud_account_id`, `cloud_region`, `operation`, `outcome`.
    pub api_calls: Counter<5>,
    /// `cloud_account_id`, `cloud_region`.
    pub metrics_requested: Counter<2>,
    /// `outcome`.
    pub otlp_exports: Counter<1>,
    pub otlp_last_export: Gauge,
    /// `outcome`, `reason`.
    pub increase_requests: Counter<2>,
    pub increase_ledger_available: Gauge,
    /// `task`.
    pub task_restarts: Counter<1>,
    pub http_connections: Gauge,
    /// `reason`.
    pub http_connections_closed: Counter<1>,
}

impl SelfMetrics {
    pub fn new() -> SelfMetrics {
        SelfMetrics::default()
    }

    /// Whether the increase receiver's ledger is open.
    pub fn set_increase_ledger_available(&self, available: bool) {
        self.increase_ledger_available.set(if available { 1.0 } else { 0.0 });
    }

    /// A background task panicked and was started again.
    pub fn count_task_restart(&self, task: &str) {
        self.task_restarts.add([task], 1);
    }

    pub fn task_restarts(&self, task: &str) -> u64 {
        self.task_restarts.get([task])
    }

    /// The HTTP server's open connections, as it changes.
    pub fn set_http_connections(&self, open: usize) {
        self.http_connections.set(open as f64);
    }

    /// The HTTP server's open connections, as last set.
    pub fn http_connections(&self) -> i64 {
        self.http_connections.get().unwrap_or(0.0) as i64
    }

    /// The HTTP server closed a connection itself, for `reason`.
    pub fn count_http_connection_closed(&self, reason: &str) {
        self.http_connections_closed.add([reason], 1);
    }

    pub fn http_connections_closed(&self, reason: &str) -> u64 {
        self.http_connections_closed.get([reason])
    }

    pub fn count_api_call(&self, service: &str, operation: &str, outcome: Outcome, account: &str, region: &str) {
        self.api_calls.add([service, account, region, operation, outcome.as_str()], 1);
    }

    /// Removes the call counters of an account that is no longer collected, so that
    /// its series go with it.
    pub fn forget_account(&self, account: &str) {
        self.api_calls.retain(|k| k[1] != account);
        self.metrics_requested.retain(|k| k[0] != account);
    }

    pub fn count_metrics_requested(&self, n: u64, account: &str, region: &str) {
        self.metrics_requested.add([account, region], n);
    }

    pub fn count_otlp_export(&self, ok: bool, seconds: f64) {
        self.otlp_exports.add([if ok { "ok" } else { "error" }], 1);
        self.otlp_last_export.set(seconds);
    }

    /// One decision of the increase receiver.
    pub fn count_increase(&self, outcome: &str, reason: &str) {
        self.increase_requests.add([outcome, reason], 1);
    }

    /// Decisions so far with this outcome and reason.
    pub fn increases(&self, outcome: &str, reason: &str) -> u64 {
        self.increase_requests.get([outcome, reason])
    }

    /// OTLP pushes so far with this outcome.
    pub fn otlp_exports(&self, ok: bool) -> u64 {
        self.otlp_exports.get([if ok { "ok" } else { "error" }])
    }

    /// How long the last OTLP push took, in seconds (0 before the first).
    pub fn otlp_last_export_seconds(&self) -> f64 {
        self.otlp_last_export.get().unwrap_or(0.0)
    }

    /// The current value of the API call counter for one combination of labels.
    pub fn api_calls(&self, service: &str, operation: &str, outcome: Outcome, account: &str, region: &str) -> u64 {
        self.api_calls.get([service, account, region, operation, outcome.as_str()])
    }
}

/// The outcome of one HTTP attempt, as counted in the self-metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Throttled,
    /// No answer within the attempt's time bound.
    Timeout,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_come_sorted_by_label_values_and_a_removed_account_takes_only_its_own() {
        let m = SelfMetrics::new();
        m.count_api_call("sts", "GetCallerIdentity", Outcome::Ok, "222222222222", "us-east-1");
        m.count_api_call("cloudwatch", "GetMetricData", Outcome::Throttled, "111111111111", "eu-west-1");
        m.count_api_call("cloudwatch", "GetMetricData", Outcome::Throttled, "111111111111", "eu-west-1");
        m.count_metrics_requested(500, "222222222222", "us-east-1");
        m.count_metrics_requested(7, "111111111111", "eu-west-1");
        let calls = m.api_calls.values();
        let keys: Vec<Vec<&str>> = calls.iter().map(|(k, _)| k.iter().map(String::as_str).collect()).collect();
        assert_eq!(
            keys,
            vec![
                vec!["cloudwatch", "111111111111", "eu-west-1", "GetMetricData", "throttled"],
                vec!["sts", "222222222222", "us-east-1", "GetCallerIdentity", "ok"],
            ]
        );
        assert_eq!(calls.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(m.api_calls.total(), 3);
        m.forget_account("111111111111");
        assert_eq!(m.api_calls.total(), 1);
        assert_eq!(m.metrics_requested.values(), vec![(["222222222222".to_owned(), "us-east-1".to_owned()], 500)]);
    }

    #[test]
    fn a_gauge_is_absent_until_set() {
        let m = SelfMetrics::new();
        assert_eq!(m.otlp_last_export.get(), None);
        m.count_otlp_export(false, 0.25);
        assert_eq!(m.otlp_last_export.get(), Some(0.25));
        assert_eq!((m.otlp_exports(true), m.otlp_exports(false)), (0, 1));
    }
}
