//! Per-operation call counters: every request the simulator receives is recorded,
//! whatever its outcome, so tests can pin exactly how many AWS calls a refresh makes.

/// Which AWS API a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    ServiceQuotas,
    CloudWatch,
    Sts,
    Bedrock,
    Organizations,
}

/// One request received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub api: Api,
    pub operation: String,
    pub region: String,
    pub account_id: String,
    /// The `ServiceCode` of a Service Quotas request, when it has one.
    pub service_code: Option<String>,
    /// How many `MetricDataQueries` a `GetMetricData` request carried.
    pub metric_queries: usize,
    /// Whether the simulator answered with an error.
    pub failed: bool,
    /// The role the request was signed as, when its credentials came from `AssumeRole`.
    pub principal: Option<String>,
    /// When it arrived (the simulator's clock).
    pub at: f64,
}

/// A copy of the call log at one moment.
#[derive(Debug, Clone, Default)]
pub struct Calls(pub Vec<Call>);

impl Calls {
    /// Calls of one operation, in any region.
    pub fn count(&self, operation: &str) -> usize {
        self.0.iter().filter(|c| c.operation == operation).count()
    }

    /// Calls of one operation in one region.
    pub fn count_in(&self, operation: &str, region: &str) -> usize {
        self.0.iter().filter(|c| c.operation == operation && c.region == region).count()
    }

    /// Calls of one operation for one Service Quotas service code.
    pub fn count_for_service(&self, operation: &str, service_code: &str) -> usize {
        self.0.iter().filter(|c| c.operation == operation && c.service_code.as_deref() == Some(service_code)).count()
    }

    /// Every call, whatever the operation.
    pub fn total(&self) -> usize {
        self.0.len()
    }

    /// The most calls of one operation in one region within any one second of real
    /// time, per operation and region: what AWS's per-second rate limits measure.
    pub fn peak_per_second(&self) -> std::collections::BTreeMap<(String, String), usize> {
        let mut times: std::collections::BTreeMap<(String, String), Vec<f64>> = std::collections::BTreeMap::new();
        for c in &self.0 {
            times.entry((c.operation.clone(), c.region.clone())).or_default().push(c.at);
        }
        times
            .into_iter()
            .map(|(k, mut t)| {
                t.sort_by(f64::total_cmp);
                let mut peak = 0;
                let mut start = 0;
                for end in 0..t.len() {
                    while t[end] - t[start] >= 1.0 {
                        start += 1;
                    }
                    peak = peak.max(end - start + 1);
                }
                (k, peak)
            })
            .collect()
    }

    /// Total `MetricDataQueries` sent in `GetMetricData` calls.
    pub fn metric_queries(&self) -> usize {
        self.0.iter().map(|c| c.metric_queries).sum()
    }
}
