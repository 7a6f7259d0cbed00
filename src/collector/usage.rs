//! The usage collector: reads the latest datapoint of every distinct usage metric of
//! the target's quotas from CloudWatch, without listing quotas again.
//!
//! Each metric is queried once, however many quotas share it, at a 60-second period
//! over the lookback window that ends at the last complete minute, with the statistic
//! chosen in [`crate::model::Statistic::for_usage`]. A batch that fails keeps its
//! metrics' last good readings; a metric with no datapoint in the window has no usage.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{CollectError, Collector, Source, TargetContext, TargetData};
use crate::aws::cloudwatch::{MetricQuery, latest};
use crate::model::{Reading, USAGE_PERIOD_SECONDS, UsageMetric};

/// The latest reading of each usage metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageTable {
    pub readings: HashMap<Arc<UsageMetric>, Reading>,
    /// How many distinct usage metrics the last refresh queried.
    pub metrics_queried: usize,
}

/// Reads usage from CloudWatch.
#[derive(Debug, Default)]
pub struct UsageCollector;

/// The query window: `lookback` seconds ending at the start of the current minute,
/// so that the newest datapoint is a complete minute.
pub fn window(now: f64, lookback_seconds: f64) -> (f64, f64) {
    let end = (now / 60.0).floor() * 60.0;
    (end - lookback_seconds, end)
}

impl Collector for UsageCollector {
    const SOURCE: Source = Source::Usage;

    async fn collect(&self, ctx: &TargetContext, data: &mut TargetData) -> Result<(), CollectError> {
        let metrics: BTreeSet<Arc<UsageMetric>> = data.quotas.quotas().filter_map(|q| q.usage_metric.clone()).collect();
        let metrics: Vec<Arc<UsageMetric>> = metrics.into_iter().collect();
        let queries: Vec<MetricQuery> = metrics
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
            queries.iter().map(|q| q.id.as_str()).zip(metrics.iter()).collect();

        let (start, end) = window(ctx.clock.now(), ctx.config.usage_lookback.as_secs_f64());
        let batches = ctx.aws.get_metric_data_batched(&queries, start, end, ctx.config.concurrency).await;

        let previous = &data.usage.readings;
        let mut table = UsageTable { readings: HashMap::with_capacity(metrics.len()), metrics_queried: metrics.len() };
        let keep_previous = |table: &mut UsageTable, metric: &Arc<UsageMetric>| {
            if let Some(r) = previous.get(metric) {
                table.readings.insert(metric.clone(), *r);
            }
        };
        let mut errors = Vec::new();
        let mut incomplete = 0usize;
        for batch in batches {
            match batch.data {
                Ok(results) => {
                    for id in &batch.ids {
                        let metric = by_id[id.as_str()];
                        match results.get(id) {
                            Some(d) if !d.complete => {
                                incomplete += 1;
                                keep_previous(&mut table, metric);
                            }
                            Some(d) => {
                                if let Some((timestamp, value)) = latest(&d.points) {
                                    table.readings.insert(metric.clone(), Reading { value, timestamp });
                                }
                            }
                            None => {}
                        }
                    }
                }
                Err(e) => {
                    for id in &batch.ids {
                        keep_previous(&mut table, by_id[id.as_str()]);
                    }
                    errors.push(e.to_string());
                }
            }
        }
        data.usage = Arc::new(table);
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
        assert_eq!(window(1_000_030.0, 900.0), (999_120.0, 1_000_020.0));
        assert_eq!(window(1_000_020.0, 900.0), (999_120.0, 1_000_020.0));
    }
}
