//! A snapshot as OTLP export requests, built at push time.
//!
//! Nothing per series outlives a push except the start time of each cumulative counter
//! series (and its last value, to see a reset): a gauge's point is the snapshot's value
//! at push time, a counter's point is the counter's value with the time its stream began.
//! The catalog's families are walked in order; a request is handed on as soon as it holds
//! `max_points` data points, so a push never holds more than one request's points.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::metrics::{Family, Inputs, Kind, Sink};

/// The instrumentation scope every metric is pushed under.
pub const SCOPE: &str = "aws-quota-exporter";

/// The OTLP attribute for a Prometheus label: the semantic conventions where they
/// exist, the label's own name otherwise.
pub fn attribute_name(label: &str) -> &str {
    match label {
        "cloud_account_id" => "cloud.account.id",
        "cloud_region" => "cloud.region",
        other => other,
    }
}

/// How many requests a push of `points` data points takes at `max_points` each.
pub fn requests_for(points: usize, max_points: usize) -> usize {
    points.div_ceil(max_points.max(1)).max(1)
}

/// When each counter series' cumulative stream began, kept from push to push.
#[derive(Debug, Default)]
pub struct CounterStarts {
    /// By family and a hash of the labels: (start, last value, push that saw it).
    series: HashMap<(usize, u64), (u64, f64, u64)>,
    pushes: u64,
    /// When the previous push was: a counter that went down was reset since then.
    last_push: Option<u64>,
}

impl CounterStarts {
    /// The start time of a counter series now at `value`: the output's start for a
    /// series seen from the first, the previous push for one that went down (a reset,
    /// such as an account removed and added again).
    fn start(&mut self, family: usize, labels: &[(&str, &str)], value: f64, output_start: u64) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        labels.hash(&mut h);
        let push = self.pushes;
        let reset_at = self.last_push.unwrap_or(output_start);
        let entry = self.series.entry((family, h.finish())).or_insert((output_start, value, push));
        if value < entry.1 {
            entry.0 = reset_at;
        }
        entry.1 = value;
        entry.2 = push;
        entry.0
    }

    /// Forgets the series the push that just ended did not see.
    fn end_push(&mut self, now: u64) {
        let push = self.pushes;
        self.series.retain(|_, (_, _, seen)| *seen == push);
        self.pushes += 1;
        self.last_push = Some(now);
    }

    /// How many counter series are remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// What one push needs besides the snapshot.
pub struct Push<'a> {
    pub resource: &'a [(String, String)],
    pub max_points: usize,
    /// When the output started (nanoseconds since the epoch): the start of every stream.
    pub output_start: u64,
    /// The push's time, every point's `time_unix_nano`.
    pub now: u64,
    pub counters: &'a mut CounterStarts,
}

/// Walks every family of `inputs` into requests of at most `max_points` data points,
/// handing each to `emit` as soon as it is full; `emit` returns false to stop the walk
/// (the receiving end went away). Returns the number of data points.
pub fn encode(
    families: &[Family],
    inputs: &Inputs<'_>,
    push: Push<'_>,
    emit: &mut dyn FnMut(ExportMetricsServiceRequest) -> bool,
) -> usize {
    let resource = Resource {
        attributes: push.resource.iter().map(|(k, v)| string_attribute(k.clone(), v.clone())).collect(),
        dropped_attributes_count: 0,
        entity_refs: Vec::new(),
    };
    let mut writer = Writer {
        families,
        resource,
        max_points: push.max_points.max(1),
        output_start: push.output_start,
        now: push.now,
        counters: push.counters,
        emit,
        metrics: Vec::new(),
        points: 0,
        total: 0,
        family: 0,
        current: None,
        stopped: false,
    };
    for (index, family) in families.iter().enumerate() {
        writer.family = index;
        writer.current = Some(metric(family));
        // Walking into memory cannot fail; a stop leaves the rest unwalked.
        let _ = family.samples(inputs, &mut writer);
        writer.end_metric();
        if writer.stopped {
            break;
        }
    }
    writer.flush();
    writer.counters.end_push(push.now);
    writer.total
}

/// A family's metric, without data points.
fn metric(family: &Family) -> Metric {
    let data = match family.kind {
        Kind::Counter => Data::Sum(Sum {
            data_points: Vec::new(),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
        Kind::Gauge | Kind::Info => Data::Gauge(Gauge { data_points: Vec::new() }),
    };
    Metric {
        name: family.otel_name(),
        description: family.help.clone(),
        unit: family.otel_unit.to_owned(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

fn string_attribute(key: String, value: String) -> KeyValue {
    KeyValue { key, value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }), ..Default::default() }
}

fn points_of(metric: &mut Metric) -> &mut Vec<NumberDataPoint> {
    match &mut metric.data {
        Some(Data::Sum(s)) => &mut s.data_points,
        Some(Data::Gauge(g)) => &mut g.data_points,
        _ => unreachable!("metrics are built as sums or gauges"),
    }
}

struct Writer<'a, 'e> {
    families: &'a [Family],
    resource: Resource,
    max_points: usize,
    output_start: u64,
    now: u64,
    counters: &'a mut CounterStarts,
    emit: &'e mut dyn FnMut(ExportMetricsServiceRequest) -> bool,
    /// The request being filled: its finished metrics, and its points so far.
    metrics: Vec<Metric>,
    points: usize,
    total: usize,
    family: usize,
    /// The metric of the family being walked.
    current: Option<Metric>,
    stopped: bool,
}

impl Writer<'_, '_> {
    /// Moves the current metric into the request, if it has points.
    fn end_metric(&mut self) {
        if let Some(mut m) = self.current.take()
            && !points_of(&mut m).is_empty()
        {
            self.metrics.push(m);
        }
    }

    /// Hands the request on, if it has points.
    fn flush(&mut self) {
        if self.points == 0 || self.stopped {
            return;
        }
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope { name: SCOPE.to_owned(), ..Default::default() }),
                    metrics: std::mem::take(&mut self.metrics),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        self.points = 0;
        if !(self.emit)(request) {
            self.stopped = true;
        }
    }
}

impl Sink for Writer<'_, '_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> std::io::Result<()> {
        if self.stopped {
            return Err(std::io::Error::other("the push was abandoned"));
        }
        if self.points == self.max_points {
            // The family goes on in the next request, under the same metric.
            let template = metric(&self.families[self.family]);
            self.end_metric();
            self.flush();
            self.current = Some(template);
            if self.stopped {
                return Err(std::io::Error::other("the push was abandoned"));
            }
        }
        let is_counter = matches!(self.current.as_ref().and_then(|m| m.data.as_ref()), Some(Data::Sum(_)));
        let start = if is_counter {
            self.counters.start(self.family, labels, value, self.output_start)
        } else {
            self.output_start
        };
        let cloud = labels.iter().any(|(k, _)| *k == "cloud_account_id" || *k == "cloud_region");
        let mut attributes = Vec::with_capacity(labels.len() + usize::from(cloud));
        for (k, v) in labels {
            attributes.push(string_attribute(attribute_name(k).to_owned(), (*v).to_owned()));
        }
        if cloud {
            attributes.push(string_attribute("cloud.provider".to_owned(), "aws".to_owned()));
        }
        // Sorted by key, as the OpenTelemetry SDK sends attribute sets.
        attributes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let point = NumberDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: self.now,
            exemplars: Vec::new(),
            flags: 0,
            value: Some(number_data_point::Value::AsDouble(value)),
        };
        if let Some(m) = self.current.as_mut() {
            points_of(m).push(point);
        }
        self.points += 1;
        self.total += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_takes_as_many_requests_as_its_points_need_and_at_least_one() {
        assert_eq!(requests_for(0, 10_000), 1);
        assert_eq!(requests_for(10_000, 10_000), 1);
        assert_eq!(requests_for(10_001, 10_000), 2);
        assert_eq!(requests_for(96_723, 10_000), 10);
    }

    #[test]
    fn a_counter_stream_starts_with_the_output_and_again_after_a_reset() {
        let mut starts = CounterStarts::default();
        let labels = [("cloud_region", "us-east-1"), ("outcome", "ok")];
        assert_eq!(starts.start(0, &labels, 5.0, 100), 100);
        starts.end_push(200);
        assert_eq!(starts.start(0, &labels, 7.0, 100), 100, "still the same stream");
        starts.end_push(300);
        assert_eq!(starts.start(0, &labels, 1.0, 100), 300, "went down: reset since the previous push");
        starts.end_push(400);
        assert_eq!(starts.start(0, &labels, 2.0, 100), 300);
        assert_eq!(starts.start(1, &labels, 2.0, 100), 100, "another family, another stream");
        starts.end_push(500);
        assert_eq!(starts.len(), 2);
        starts.end_push(600);
        assert!(starts.is_empty(), "series no push saw are forgotten");
    }

    #[test]
    fn cloud_labels_follow_the_semantic_conventions() {
        assert_eq!(attribute_name("cloud_account_id"), "cloud.account.id");
        assert_eq!(attribute_name("cloud_region"), "cloud.region");
        assert_eq!(attribute_name("quota_code"), "quota_code");
    }
}
