//! The usage collector: reads the usage metrics of the target's quotas from CloudWatch,
//! each when its cadence says it is due, without listing quotas again.
//!
//! Each metric is queried once, however many quotas share it, at a 60-second period,
//! with the statistic chosen in [`crate::model::Statistic::for_usage`]. The metrics due
//! in one refresh share one window that ends at the last complete minute and covers, for
//! each, the time since its last read (at least the lookback), so that a metric read
//! once an hour loses no peak. [`crate::cadence`] decides which metrics are due and
//! keeps the process inside its CloudWatch budget. A batch that fails keeps its
//! metrics' last good readings (and they stay due); a metric with no datapoint in the
//! lookback has no usage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{CollectError, Collector, Source, TargetContext, TargetData};
use crate::aws::cloudwatch::MetricQuery;
use crate::cadence::{Budgeted, LOWEST_TIER, Schedule, Settings};
use crate::model::{Reading, USAGE_PERIOD_SECONDS, UsageMetric, usage_in_quota_terms};

/// The latest reading of each usage metric, and when each is read next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageTable {
    pub readings: HashMap<Arc<UsageMetric>, Reading>,
    /// How many usage metrics the last refresh read (what it was billed for).
    pub metrics_queried: usize,
    /// Each metric's cadence, peak and utilisation.
    pub schedule: Schedule<Arc<UsageMetric>>,
    /// The schedule's monthly cost against this target's share of the budget.
    pub cost: Budgeted,
    /// This target's share of the process's budget (USD a month), if there is one.
    pub budget_share: Option<f64>,
    /// The end of the last refresh's window: a metric read then has this `read_at`.
    pub read_at: f64,
}

/// Reads usage from CloudWatch.
#[derive(Debug, Default)]
pub struct UsageCollector;

/// The end of the query window: the start of the current minute, so that the newest
/// datapoint is a complete minute.
pub fn window_end(now: f64) -> f64 {
    (now / 60.0).floor() * 60.0
}

/// Per usage metric, the factor from its value to the utilisation of the quota that
/// is fullest for a given value, each quota's scaled so that its own lowest alert tier
/// is the cadence's [`LOWEST_TIER`] (`None` where no quota sharing it has a limit).
fn scales(ctx: &TargetContext, data: &TargetData) -> BTreeMap<Arc<UsageMetric>, Option<f64>> {
    let account = data.account_id.as_deref().unwrap_or_default();
    let region = ctx.aws.labels.region.as_str();
    let mut out: BTreeMap<Arc<UsageMetric>, Option<f64>> = BTreeMap::new();
    for q in data.quotas.quotas() {
        let Some(m) = &q.usage_metric else { continue };
        let tier = ctx.lowest_tier.as_ref().map_or(LOWEST_TIER, |tier_of| {
            tier_of.0([account, region, &q.service_code, &q.code, q.resource.as_deref().unwrap_or_default()])
        });
        let scale = q
            .limit
            .filter(|&l| l > 0.0)
            .map(|l| usage_in_quota_terms(1.0, q.period) / l * LOWEST_TIER / tier.max(0.01));
        let entry = out.entry(m.clone()).or_insert(None);
        *entry = match (*entry, scale) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    out
}

impl Collector for UsageCollector {
    const SOURCE: Source = Source::Usage;

    async fn collect(&self, ctx: &TargetContext, data: &mut TargetData) -> Result<(), CollectError> {
        let scales = scales(ctx, data);
        let now = ctx.clock.now();
        let lookback = ctx.config.usage_lookback.as_secs_f64();
        let end = window_end(now);
        let fastest = ctx.config.usage_refresh_interval.as_secs_f64();
        let mut schedule = data.usage.schedule.clone();
        schedule.settings = Settings { fastest, slowest: ctx.config.usage_slowest_interval.as_secs_f64(), lookback };
        schedule.retain(|m| scales.contains_key(m));

        let (due, start) = schedule.plan(scales.keys(), end);
        let queries: Vec<MetricQuery> = due
            .iter()
            .enumerate()
            .map(|(i, m)| MetricQuery {
                id: format!("u{i}"),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
                dimensions: m.dimensions.clone(),
                stat: m.statistic.as_str().to_owned(),
                period: USAGE_PERIOD_SECONDS,
            })
            .collect();
        let by_id: HashMap<&str, &Arc<UsageMetric>> =
            queries.iter().map(|q| q.id.as_str()).zip(due.iter().copied()).collect();
        let batches = if queries.is_empty() {
            Vec::new()
        } else {
            ctx.aws.get_metric_data_batched(&queries, start, end, ctx.config.concurrency).await
        };

        // What is not read now keeps its reading; what is read replaces it.
        let mut readings: HashMap<Arc<UsageMetric>, Reading> =
            data.usage.readings.iter().filter(|(m, _)| scales.contains_key(*m)).map(|(m, r)| (m.clone(), *r)).collect();
        let mut errors = Vec::new();
        let mut incomplete = 0usize;
        for batch in batches {
            match batch.data {
                Ok(results) => {
                    for id in &batch.ids {
                        let metric = by_id[id.as_str()];
                        let points = match results.get(id) {
                            Some(d) if !d.complete => {
                                incomplete += 1;
                                continue;
                            }
                            Some(d) => d.points.as_slice(),
                            None => &[],
                        };
                        schedule.observe(metric, points, scales[metric], end);
                        match points.last().filter(|&&(t, _)| t >= end - lookback) {
                            Some(&(timestamp, value)) => readings.insert(metric.clone(), Reading { value, timestamp }),
                            None => readings.remove(metric),
                        };
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let budget_share = ctx.cloudwatch_budget.share(ctx.budget_key, scales.len());
        let cost = schedule.apply_budget(budget_share);
        data.usage =
            Arc::new(UsageTable { readings, metrics_queried: due.len(), schedule, cost, budget_share, read_at: end });
        match (errors.first(), incomplete) {
            (None, 0) => Ok(()),
            (Some(first), _) => Err(CollectError(format!("{} GetMetricData batch(es) failed: {first}", errors.len()))),
            (None, n) => Err(CollectError(format!("CloudWatch returned incomplete data for {n} metric(s)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_ends_at_the_start_of_the_current_minute() {
        assert_eq!(window_end(1_000_030.0), 1_000_020.0);
        assert_eq!(window_end(1_000_020.0), 1_000_020.0);
    }
}
