//! The history collector and the forecasts fitted on it.
//!
//! Once a day (and at start) it reads the last N complete days of every usage metric
//! and of every Bedrock model's `EstimatedTPMQuotaUsage`, one value per day, through the
//! same batched `GetMetricData` as usage. Between those fetches, every usage refresh
//! extends the current day in memory. Forecasts are recomputed after every refresh.
//!
//! What a day's value is depends on what CloudWatch can give in one query of daily
//! periods (per-minute data is kept only 15 days, and a day's busiest minute of a summed
//! metric cannot be had without it):
//! * a level read with `Maximum` (a `ResourceCount`, concurrency): the day's peak;
//! * a count read with `Sum` (a rate quota's `CallCount`, Bedrock's estimated tokens):
//!   the day's total over 1,440, its average per minute.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{CollectError, Collector, Source, TargetContext, TargetData};
use crate::aws::cloudwatch::MetricQuery;
use crate::bedrock::matching::{Kind, Match};
use crate::forecast::{Forecast, forecast};
use crate::model::{Statistic, UsageMetric, usage_in_quota_terms};

const DAY: f64 = 86_400.0;
const MINUTES_PER_DAY: f64 = 1440.0;

/// A series forecasts are fitted on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeriesKey {
    Usage(Arc<UsageMetric>),
    /// A Bedrock `ModelId`'s `EstimatedTPMQuotaUsage`.
    Bedrock(String),
}

/// How a day is summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// The day's highest value.
    Peak,
    /// The day's average per-minute value.
    Mean,
}

/// Daily values of one series, in the metric's own terms (per minute).
#[derive(Debug, Clone, PartialEq)]
pub struct DailySeries {
    pub aggregate: Aggregate,
    /// Day number (days since the epoch) → value.
    pub days: BTreeMap<i64, f64>,
    /// The current day as the refreshes saw it: day, highest value, sum, count.
    pub today: Option<(i64, f64, f64, u32)>,
}

impl DailySeries {
    fn new(aggregate: Aggregate) -> DailySeries {
        DailySeries { aggregate, days: BTreeMap::new(), today: None }
    }

    /// Adds a value seen by a refresh at `now`. A day that ends is kept as a point until
    /// the next daily fetch brings CloudWatch's own value for it.
    pub fn observe(&mut self, now: f64, value: f64) {
        let day = (now / DAY).floor() as i64;
        match &mut self.today {
            Some((d, max, sum, count)) if *d == day => {
                *max = max.max(value);
                *sum += value;
                *count += 1;
            }
            other => {
                if let Some(previous) = other.take() {
                    let value = self.summary(previous);
                    self.days.entry(previous.0).or_insert(value);
                }
                self.today = Some((day, value, value, 1));
            }
        }
    }

    fn summary(&self, (_, max, sum, count): (i64, f64, f64, u32)) -> f64 {
        match self.aggregate {
            Aggregate::Peak => max,
            Aggregate::Mean => sum / f64::from(count.max(1)),
        }
    }

    /// `(day, value)` points of the last `days` days and the current day, days counted
    /// since the epoch at their middle.
    pub fn points(&self, now: f64, days: u32) -> Vec<(f64, f64)> {
        let today = (now / DAY).floor() as i64;
        let mut out: Vec<(f64, f64)> =
            self.days.range(today - i64::from(days)..today).map(|(d, v)| (*d as f64 + 0.5, *v)).collect();
        if let Some(t) = self.today.filter(|t| t.0 == today) {
            out.push((today as f64 + 0.5, self.summary(t)));
        }
        out
    }
}

/// Every series of a target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Epoch seconds of the last complete daily fetch.
    pub fetched_at: Option<f64>,
    pub series: HashMap<SeriesKey, DailySeries>,
}

impl History {
    /// Whether the daily fetch is due.
    pub fn due(&self, now: f64) -> bool {
        self.fetched_at.is_none_or(|t| now - t >= DAY)
    }
}

fn aggregate_of(statistic: Statistic) -> Aggregate {
    match statistic {
        Statistic::Maximum => Aggregate::Peak,
        Statistic::Sum => Aggregate::Mean,
    }
}

/// The series a target forecasts: every usage metric and every Bedrock model with traffic.
fn wanted(data: &TargetData) -> Vec<(SeriesKey, Aggregate)> {
    let mut keys: Vec<(SeriesKey, Aggregate)> = data
        .quotas
        .quotas()
        .filter_map(|q| q.usage_metric.clone())
        .map(|m| {
            let a = aggregate_of(m.statistic);
            (SeriesKey::Usage(m), a)
        })
        .collect();
    keys.extend(data.bedrock_runtime.state.models.keys().map(|id| (SeriesKey::Bedrock(id.clone()), Aggregate::Mean)));
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys.dedup_by(|a, b| a.0 == b.0);
    keys
}

/// Reads the daily history.
#[derive(Debug, Default)]
pub struct HistoryCollector;

impl Collector for HistoryCollector {
    const SOURCE: Source = Source::History;

    async fn collect(&self, ctx: &TargetContext, data: &mut TargetData) -> Result<(), CollectError> {
        let now = ctx.clock.now();
        let days = ctx.config.forecast_history_days;
        let end = (now / DAY).floor() * DAY;
        let start = end - f64::from(days) * DAY;
        let keys = wanted(data);
        let queries: Vec<MetricQuery> = keys
            .iter()
            .enumerate()
            .map(|(i, (key, aggregate))| {
                let (namespace, name, dimensions) = match key {
                    SeriesKey::Usage(m) => (m.namespace.clone(), m.name.clone(), m.dimensions.clone()),
                    SeriesKey::Bedrock(id) => (
                        "AWS/Bedrock".to_owned(),
                        "EstimatedTPMQuotaUsage".to_owned(),
                        vec![("ModelId".to_owned(), id.clone())],
                    ),
                };
                let stat = if *aggregate == Aggregate::Peak { "Maximum" } else { "Sum" };
                MetricQuery { id: format!("h{i}"), namespace, name, dimensions, stat: stat.into(), period: 86_400 }
            })
            .collect();
        let batches = ctx.aws.get_metric_data_batched(&queries, start, end, ctx.config.concurrency).await;

        let mut history = (*data.history).clone();
        let previous = std::mem::take(&mut history.series);
        let mut results = HashMap::new();
        let mut errors = Vec::new();
        for batch in batches {
            match batch.data {
                Ok(map) => results.extend(map),
                Err(e) => errors.push(e.to_string()),
            }
        }
        for (i, (key, aggregate)) in keys.into_iter().enumerate() {
            let mut series = previous.get(&key).cloned().unwrap_or_else(|| DailySeries::new(aggregate));
            if let Some(d) = results.get(&format!("h{i}")).filter(|d| d.complete) {
                series.days.clear();
                for (t, v) in &d.points {
                    let value = if aggregate == Aggregate::Mean { v / MINUTES_PER_DAY } else { *v };
                    series.days.insert((t / DAY).floor() as i64, value);
                }
            }
            history.series.insert(key, series);
        }
        if errors.is_empty() {
            history.fetched_at = Some(now);
        }
        data.history = Arc::new(history);
        if errors.is_empty() { Ok(()) } else { Err(CollectError(errors.join("; "))) }
    }
}

/// Extends the current day of every series with what the latest refresh read (a usage
/// metric that was not due keeps its reading, which is not counted again).
pub fn extend(data: &mut TargetData, now: f64) {
    let mut history = (*data.history).clone();
    let usage = &data.usage;
    let read_now = |m: &Arc<UsageMetric>| usage.schedule.state(m).is_none_or(|s| s.read_at >= usage.read_at);
    for (metric, reading) in usage.readings.iter().filter(|(m, _)| read_now(m)) {
        let series = history
            .series
            .entry(SeriesKey::Usage(metric.clone()))
            .or_insert_with(|| DailySeries::new(aggregate_of(metric.statistic)));
        series.observe(now, reading.value);
    }
    for r in &data.bedrock_runtime.reports {
        if let (true, Some(v)) = (r.recent, r.estimated_tpm) {
            let series = history
                .series
                .entry(SeriesKey::Bedrock(r.model_id.clone()))
                .or_insert_with(|| DailySeries::new(Aggregate::Mean));
            series.observe(now, v);
        }
    }
    data.history = Arc::new(history);
}

/// A quota's identity within a target.
pub type QuotaKey = (Arc<str>, String, Option<String>);

/// The forecasts of a target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Forecasts {
    /// Per quota with a usage metric.
    pub quotas: HashMap<QuotaKey, Forecast>,
    /// Per Bedrock model id and tokens-per-minute quota.
    pub bedrock: Vec<(String, Match, Forecast)>,
    /// Per quota whose usage is a level read with `Maximum`: its highest daily peak over
    /// the last [`PEAK_DAYS`] complete days and today, in the quota's terms (a count read
    /// with `Sum` has daily means, not peaks, and has none).
    pub peaks: HashMap<QuotaKey, f64>,
}

/// The days [`Forecasts::peaks`] look back.
pub const PEAK_DAYS: u32 = 7;

/// Fits every series against its quota.
pub fn forecasts(data: &TargetData, now: f64, days: u32) -> Forecasts {
    let mut out = Forecasts::default();
    for q in data.quotas.quotas() {
        let Some(metric) = &q.usage_metric else { continue };
        let Some(series) = data.history.series.get(&SeriesKey::Usage(metric.clone())) else { continue };
        let points: Vec<(f64, f64)> =
            series.points(now, days).into_iter().map(|(d, v)| (d, usage_in_quota_terms(v, q.period))).collect();
        let key = (q.service_code.clone(), q.code.clone(), q.resource.clone());
        if series.aggregate == Aggregate::Peak
            && let Some(peak) = series
                .points(now, PEAK_DAYS)
                .into_iter()
                .map(|(_, v)| usage_in_quota_terms(v, q.period))
                .reduce(f64::max)
        {
            out.peaks.insert(key.clone(), peak);
        }
        if let Some(f) = forecast(&points, now, q.limit, q.adjustable) {
            out.quotas.insert(key, f);
        }
    }
    let adjustable = |code: &str| {
        data.quotas.services.get("bedrock").is_some_and(|s| s.quotas.iter().any(|q| q.code == code && q.adjustable))
    };
    for r in &data.bedrock_runtime.reports {
        let Some(series) = data.history.series.get(&SeriesKey::Bedrock(r.model_id.clone())) else { continue };
        let points = series.points(now, days);
        for u in r.utilization.iter().filter(|u| u.quota.kind == Kind::TokensPerMinute) {
            if let Some(f) = forecast(&points, now, Some(u.quota.limit), adjustable(&u.quota.quota_code)) {
                out.bedrock.push((r.model_id.clone(), u.quota.clone(), f));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_day_is_extended_by_refreshes_and_kept_when_the_day_ends() {
        let day0 = 20_000.0 * DAY;
        let mut peak = DailySeries::new(Aggregate::Peak);
        let mut mean = DailySeries::new(Aggregate::Mean);
        for (t, v) in [(day0 + 100.0, 10.0), (day0 + 400.0, 30.0), (day0 + 700.0, 20.0)] {
            peak.observe(t, v);
            mean.observe(t, v);
        }
        assert_eq!(peak.points(day0 + 800.0, 30), vec![(20_000.5, 30.0)]);
        assert_eq!(mean.points(day0 + 800.0, 30), vec![(20_000.5, 20.0)]);
        // The next day begins: yesterday becomes a point of its own.
        peak.observe(day0 + DAY + 60.0, 5.0);
        assert_eq!(peak.points(day0 + DAY + 60.0, 30), vec![(20_000.5, 30.0), (20_001.5, 5.0)]);
    }

    #[test]
    fn a_usage_reading_kept_from_an_earlier_refresh_is_not_counted_again() {
        use crate::cadence::{Schedule, Settings};
        use crate::collector::UsageTable;
        use crate::model::Reading;
        let metric = |name: &str| {
            Arc::new(UsageMetric {
                namespace: "AWS/Usage".into(),
                name: name.into(),
                dimensions: vec![],
                statistic: Statistic::Sum,
            })
        };
        let (fresh, kept) = (metric("fresh"), metric("kept"));
        let mut schedule = Schedule::new(Settings { fastest: 300.0, slowest: 3600.0, lookback: 900.0 });
        schedule.observe(&kept, &[(540.0, 7.0)], None, 600.0);
        schedule.observe(&fresh, &[(840.0, 3.0)], None, 900.0);
        let usage = Arc::new(UsageTable {
            readings: [
                (fresh.clone(), Reading { value: 3.0, timestamp: 840.0 }),
                (kept.clone(), Reading { value: 7.0, timestamp: 540.0 }),
            ]
            .into(),
            schedule,
            read_at: 900.0,
            ..UsageTable::default()
        });
        let mut data = TargetData { usage, ..TargetData::default() };
        extend(&mut data, 20_000.0 * DAY + 900.0);
        assert!(data.history.series.contains_key(&SeriesKey::Usage(fresh)));
        assert!(!data.history.series.contains_key(&SeriesKey::Usage(kept)));
    }

    #[test]
    fn days_outside_the_window_are_left_out() {
        let mut s = DailySeries::new(Aggregate::Peak);
        for d in 0..40 {
            s.days.insert(20_000 + d, d as f64);
        }
        let now = 20_040.0 * DAY + 10.0;
        let points = s.points(now, 30);
        assert_eq!(points.len(), 30);
        assert_eq!(points[0], (20_010.5, 10.0));
        assert_eq!(points[29], (20_039.5, 39.0));
    }
}
