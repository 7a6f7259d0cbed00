//! CloudWatch `GetMetricData`, batched: up to 500 `MetricStat` queries per call (AWS's
//! fixed limit), `NextToken` followed until absent, batches run with bounded
//! concurrency. Every metric requested is counted, because that is what AWS bills.
//! There is deliberately no `GetMetricStatistics` path: one call per metric is what
//! made other exporters slow and expensive.

use std::collections::HashMap;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, StatusCode};

use super::{AwsError, TargetAws, every_page};

const SERVICE: &str = "cloudwatch";
/// AWS's limit of queries per `GetMetricData` call ("This quota cannot be changed").
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// AWS's limit of datapoints one `GetMetricData` call returns before it pages.
pub const MAX_DATAPOINTS_PER_CALL: usize = 100_800;

/// How many queries share one call: at most 500, and no more than fit their datapoints
/// over `[start, end)` into one answer (a longer window is read in more, smaller calls
/// rather than in pages).
pub fn queries_per_call(queries: &[MetricQuery], start: f64, end: f64) -> usize {
    let period = queries.iter().map(|q| q.period.max(1)).min().unwrap_or(60);
    let points = ((end - start).max(0.0) / f64::from(period)).ceil().max(1.0) as usize;
    (MAX_DATAPOINTS_PER_CALL / points).clamp(1, MAX_QUERIES_PER_CALL)
}

/// One metric to read.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Unique within a call: a lowercase letter, then letters, digits or underscores.
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    /// `Maximum`, `Sum`, `Average`, `SampleCount`, `Minimum`.
    pub stat: String,
    /// Seconds; a multiple of 60.
    pub period: u32,
}

/// The datapoints returned for one query, sorted by timestamp (oldest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricData {
    /// `(epoch seconds, value)`.
    pub points: Vec<(f64, f64)>,
    /// False when CloudWatch answered `Forbidden` or `InternalError` for this query.
    pub complete: bool,
}

/// The result of one batch: its queries' ids and either their data or the error.
#[derive(Debug)]
pub struct BatchResult {
    pub ids: Vec<String>,
    pub data: Result<HashMap<String, MetricData>, AwsError>,
}

impl TargetAws {
    /// Reads every query over `[start, end)`, in batches of at most 500, `concurrency`
    /// batches at a time. A batch that still fails after its call's retries is tried
    /// again in up to [`super::retry::ROUNDS`] more rounds; one that fails even so fails
    /// alone, and the others keep their data.
    pub async fn get_metric_data_batched(
        &self,
        queries: &[MetricQuery],
        start: f64,
        end: f64,
        concurrency: usize,
    ) -> Vec<BatchResult> {
        let chunks: Vec<&[MetricQuery]> = queries.chunks(queries_per_call(queries, start, end)).collect();
        self.in_rounds(chunks, |chunks| self.read_chunks(chunks, start, end, concurrency))
            .await
            .into_iter()
            .map(|(chunk, data)| BatchResult { ids: chunk.iter().map(|q| q.id.clone()).collect(), data })
            .collect()
    }

    /// One `GetMetricData` request per chunk, `concurrency` at a time.
    async fn read_chunks<'q>(
        &self,
        chunks: Vec<&'q [MetricQuery]>,
        start: f64,
        end: f64,
        concurrency: usize,
    ) -> Vec<(&'q [MetricQuery], Result<HashMap<String, MetricData>, AwsError>)> {
        use futures_util::StreamExt;
        // Collected first: a closure inside the stream would make the future not Send.
        let mut calls = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            calls.push(self.read_chunk(chunk, start, end));
        }
        futures_util::stream::iter(calls).buffer_unordered(concurrency.max(1)).collect().await
    }

    async fn read_chunk<'q>(
        &self,
        chunk: &'q [MetricQuery],
        start: f64,
        end: f64,
    ) -> (&'q [MetricQuery], Result<HashMap<String, MetricData>, AwsError>) {
        (chunk, self.get_metric_data(chunk, start, end).await)
    }

    /// One logical `GetMetricData` request for at most 500 queries, following `NextToken`.
    pub async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: f64,
        end: f64,
    ) -> Result<HashMap<String, MetricData>, AwsError> {
        const OP: &str = "GetMetricData";
        debug_assert!(queries.len() <= MAX_QUERIES_PER_CALL);
        let sdk_queries: Vec<MetricDataQuery> = queries.iter().map(to_sdk_query).collect();
        let sdk_queries = &sdk_queries;
        let bound = self.timeouts.get_metric_data;
        let pages = every_page(|token| async move {
            let page = self
                .call(SERVICE, OP, bound, |meter| {
                    // Every attempt is billed by AWS: count what each one requests.
                    self.metrics.count_metrics_requested(
                        queries.len() as u64,
                        self.labels.account_id().unwrap_or_default(),
                        &self.labels.region,
                    );
                    self.cloudwatch
                        .get_metric_data()
                        .set_metric_data_queries(Some(sdk_queries.clone()))
                        .start_time(DateTime::from_secs_f64(start))
                        .end_time(DateTime::from_secs_f64(end))
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            Ok((page.metric_data_results.unwrap_or_default(), page.next_token))
        })
        .await?;
        let mut out: HashMap<String, MetricData> = HashMap::with_capacity(queries.len());
        for result in &pages {
            merge_result(&mut out, result);
        }
        for data in out.values_mut() {
            data.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Ok(out)
    }
}

fn to_sdk_query(q: &MetricQuery) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(&q.namespace)
        .metric_name(&q.name)
        .set_dimensions(Some(q.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect()))
        .build();
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(MetricStat::builder().metric(metric).period(q.period as i32).stat(&q.stat).build())
        .return_data(true)
        .build()
}

impl TargetAws {
    /// The dimension sets of every metric of a namespace with data in the last three
    /// hours (`ListMetrics` with `RecentlyActive=PT3H`), 500 per page.
    pub async fn list_recent_metrics(&self, namespace: &str) -> Result<Vec<Vec<(String, String)>>, AwsError> {
        const OP: &str = "ListMetrics";
        let bound = self.timeouts.cloudwatch;
        every_page(|token| async move {
            let page = self
                .call(SERVICE, OP, bound, |meter| {
                    self.cloudwatch
                        .list_metrics()
                        .namespace(namespace)
                        .recently_active(aws_sdk_cloudwatch::types::RecentlyActive::Pt3H)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            let dimension_sets = page.metrics().iter().map(|m| {
                m.dimensions()
                    .iter()
                    .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                    .collect::<Vec<_>>()
            });
            Ok((dimension_sets.collect(), page.next_token))
        })
        .await
    }
}

/// Adds one page's result for a query to what earlier pages returned.
fn merge_result(out: &mut HashMap<String, MetricData>, result: &MetricDataResult) {
    let Some(id) = result.id() else { return };
    let entry = out.entry(id.to_owned()).or_insert(MetricData { points: Vec::new(), complete: true });
    entry.points.extend(result.timestamps().iter().map(DateTime::as_secs_f64).zip(result.values().iter().copied()));
    if matches!(result.status_code(), Some(StatusCode::Forbidden | StatusCode::InternalError)) {
        entry.complete = false;
    }
}

/// The most recent datapoint of a series, whatever order CloudWatch returned them in.
pub fn latest(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    points.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_datapoint_is_found_in_any_order() {
        assert_eq!(latest(&[(120.0, 2.0), (180.0, 3.0), (60.0, 1.0)]), Some((180.0, 3.0)));
        assert_eq!(latest(&[]), None);
    }

    #[test]
    fn pages_of_the_same_query_are_joined_and_a_forbidden_status_marks_it_incomplete() {
        let mut out = HashMap::new();
        let page1 = MetricDataResult::builder()
            .id("q0")
            .timestamps(DateTime::from_secs(60))
            .values(1.0)
            .status_code(StatusCode::PartialData)
            .build();
        let page2 = MetricDataResult::builder()
            .id("q0")
            .timestamps(DateTime::from_secs(120))
            .values(2.0)
            .status_code(StatusCode::Complete)
            .build();
        let denied = MetricDataResult::builder().id("q1").status_code(StatusCode::Forbidden).build();
        for r in [&page1, &page2, &denied] {
            merge_result(&mut out, r);
        }
        assert_eq!(out["q0"].points, vec![(60.0, 1.0), (120.0, 2.0)]);
        assert!(out["q0"].complete);
        assert!(!out["q1"].complete);
    }

    #[test]
    fn a_call_holds_500_queries_unless_their_datapoints_would_not_fit_in_one_answer() {
        let q = |period| MetricQuery {
            id: "a".into(),
            namespace: "AWS/Usage".into(),
            name: "ResourceCount".into(),
            dimensions: vec![],
            stat: "Maximum".into(),
            period,
        };
        assert_eq!(queries_per_call(&[q(60)], 0.0, 4500.0), 500);
        // A day at one minute: 1,440 points a query, 70 queries in 100,800 points.
        assert_eq!(queries_per_call(&[q(60)], 0.0, 86_400.0), 70);
        assert_eq!(queries_per_call(&[q(86_400)], 0.0, 90.0 * 86_400.0), 500);
    }

    #[test]
    fn a_query_becomes_a_metric_stat_with_its_period_and_statistic() {
        let q = to_sdk_query(&MetricQuery {
            id: "u0".into(),
            namespace: "AWS/Usage".into(),
            name: "ResourceCount".into(),
            dimensions: vec![("Resource".into(), "vCPU".into())],
            stat: "Maximum".into(),
            period: 60,
        });
        let stat = q.metric_stat().expect("a MetricStat query");
        assert_eq!(stat.period(), Some(60));
        assert_eq!(stat.stat(), Some("Maximum"));
        let metric = stat.metric().expect("a metric");
        assert_eq!(metric.dimensions()[0].name(), Some("Resource"));
    }
}
