//! A snapshot as OTLP export requests, encoded at push time straight into the
//! protocol's bytes.
//!
//! Nothing per series outlives a push except the start time of each cumulative counter
//! series (and its last value, to see a reset): a gauge's point is the snapshot's value
//! at push time, a counter's point is the counter's value with the time its stream began.
//! The catalog's families are walked in order and each data point is written as it is
//! walked; a request is handed on as soon as it holds `max_points` data points or
//! `max_bytes` bytes, so a push holds one request's bytes at a time, never a message
//! tree. The bytes are those prost writes for the `opentelemetry-proto` messages
//! (`ExportMetricsServiceRequest` and what it holds; field numbers below), which the
//! tests decode with those very types.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use prost::encoding::{encode_varint, encoded_len_varint};

use crate::metrics::{Family, Inputs, Kind, Sink};

/// The instrumentation scope every metric is pushed under.
pub const SCOPE: &str = "aws-quota-exporter";

/// The largest request, in bytes, whatever the point limit: below the 4 MiB a gRPC
/// collector accepts by default.
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

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
    pub max_bytes: usize,
    /// When the output started (nanoseconds since the epoch): the start of every stream.
    pub output_start: u64,
    /// The push's time, every point's `time_unix_nano`.
    pub now: u64,
    pub counters: &'a mut CounterStarts,
}

/// Walks every family of `inputs` into encoded `ExportMetricsServiceRequest`s of at most
/// `max_points` data points and `max_bytes` bytes, handing each to `emit` as soon as it
/// is full; `emit` returns false to stop the walk (the receiving end went away). Returns
/// the number of data points.
pub fn encode(
    families: &[Family],
    inputs: &Inputs<'_>,
    push: Push<'_>,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) -> usize {
    let now = push.now;
    let mut requests = Requests::new(push, emit);
    for (index, family) in families.iter().enumerate() {
        requests.begin_metric(index, Header::of(family));
        // Walking into memory cannot fail; a stop leaves the rest unwalked.
        let _ = family.samples(inputs, &mut requests);
        requests.end_metric();
        if requests.stopped {
            break;
        }
    }
    requests.flush();
    let total = requests.total;
    requests.counters.end_push(now);
    total
}

/// A metric's descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub name: String,
    pub description: String,
    pub unit: String,
    /// A monotonic cumulative sum; a gauge otherwise.
    pub counter: bool,
}

impl Header {
    fn of(family: &Family) -> Header {
        Header {
            name: family.otel_name(),
            description: family.help.clone(),
            unit: family.otel_unit.to_owned(),
            counter: family.kind == Kind::Counter,
        }
    }
}

// Field keys: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
/// `ExportMetricsServiceRequest.resource_metrics`, `ResourceMetrics.resource`,
/// `ScopeMetrics.scope`, `Resource.attributes`, `KeyValue.key`, `AnyValue.string_value`,
/// `InstrumentationScope.name`, `Metric.name`, `Gauge`/`Sum.data_points`: field 1.
const FIELD_1: u8 = 1 << 3 | 2;
/// `ResourceMetrics.scope_metrics`, `ScopeMetrics.metrics`, `KeyValue.value`,
/// `Metric.description`: field 2.
const FIELD_2: u8 = 2 << 3 | 2;
/// `Metric.unit`.
const UNIT: u8 = 3 << 3 | 2;
/// `Metric.gauge`, `Metric.sum`.
const GAUGE: u8 = 5 << 3 | 2;
const SUM: u8 = 7 << 3 | 2;
/// `Sum.aggregation_temporality` (2 = cumulative), `Sum.is_monotonic`.
const TEMPORALITY: u8 = 2 << 3;
const MONOTONIC: u8 = 3 << 3;
const CUMULATIVE: u64 = 2;
/// `NumberDataPoint.attributes`, `.start_time_unix_nano`, `.time_unix_nano`, `.as_double`.
const ATTRIBUTES: u8 = 7 << 3 | 2;
const START: u8 = 2 << 3 | 1;
const TIME: u8 = 3 << 3 | 1;
const AS_DOUBLE: u8 = 4 << 3 | 1;

/// The bytes of a length-delimited field holding `len` bytes.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn put_field(buf: &mut Vec<u8>, key: u8, bytes: &[u8]) {
    buf.push(key);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

/// A string field, left out when empty (as prost does for proto3 strings).
fn put_string(buf: &mut Vec<u8>, key: u8, s: &str) {
    if !s.is_empty() {
        put_field(buf, key, s.as_bytes());
    }
}

/// The length of a `KeyValue` with a string value.
fn key_value_len(k: &str, v: &str) -> usize {
    // The value is a oneof: written even when empty.
    field_len(k.len()) + field_len(field_len(v.len()))
}

/// A `KeyValue` with a string value, as a repeated field `key`.
fn put_key_value(buf: &mut Vec<u8>, key: u8, k: &str, v: &str) {
    buf.push(key);
    encode_varint(key_value_len(k, v) as u64, buf);
    put_field(buf, FIELD_1, k.as_bytes());
    buf.push(FIELD_2);
    encode_varint(field_len(v.len()) as u64, buf);
    put_field(buf, FIELD_1, v.as_bytes());
}

/// Requests being filled, point by point.
struct Requests<'p, 'e> {
    /// `Resource` and `InstrumentationScope`, encoded once.
    resource: Vec<u8>,
    scope: Vec<u8>,
    max_points: usize,
    max_bytes: usize,
    output_start: u64,
    now: u64,
    counters: &'p mut CounterStarts,
    emit: &'e mut dyn FnMut(Vec<u8>) -> bool,
    /// The current request's finished metrics, each as a `ScopeMetrics.metrics` field.
    metrics: Vec<u8>,
    points: usize,
    /// The metric being walked: its family, header and encoded data points.
    family: usize,
    header: Option<Header>,
    data_points: Vec<u8>,
    total: usize,
    stopped: bool,
}

impl<'p, 'e> Requests<'p, 'e> {
    fn new(push: Push<'p>, emit: &'e mut dyn FnMut(Vec<u8>) -> bool) -> Requests<'p, 'e> {
        let Push { resource, max_points, max_bytes, output_start, now, counters } = push;
        let mut encoded_resource = Vec::new();
        for (k, v) in resource {
            put_key_value(&mut encoded_resource, FIELD_1, k, v);
        }
        let mut scope = Vec::new();
        put_string(&mut scope, FIELD_1, SCOPE);
        Requests {
            resource: encoded_resource,
            scope,
            max_points: max_points.max(1),
            max_bytes,
            output_start,
            now,
            counters,
            emit,
            metrics: Vec::new(),
            points: 0,
            family: 0,
            header: None,
            data_points: Vec::new(),
            total: 0,
            stopped: false,
        }
    }

    fn begin_metric(&mut self, family: usize, header: Header) {
        self.family = family;
        self.header = Some(header);
        self.data_points.clear();
    }

    /// The encoded size of the current metric's field with its data points so far.
    fn metric_len(&self) -> usize {
        let Some(h) = &self.header else { return 0 };
        let mut len = field_len(h.name.len());
        if !h.description.is_empty() {
            len += field_len(h.description.len());
        }
        if !h.unit.is_empty() {
            len += field_len(h.unit.len());
        }
        let data = self.data_points.len() + if h.counter { 2 + 2 } else { 0 };
        len + field_len(data)
    }

    /// Moves the current metric into the request, if it has points (the header stays,
    /// for a family that goes on in the next request).
    fn end_metric(&mut self) {
        let Some(h) = &self.header else { return };
        if self.data_points.is_empty() {
            return;
        }
        let len = self.metric_len();
        let metrics = &mut self.metrics;
        metrics.push(FIELD_2);
        encode_varint(len as u64, metrics);
        put_string(metrics, FIELD_1, &h.name);
        put_string(metrics, FIELD_2, &h.description);
        put_string(metrics, UNIT, &h.unit);
        if h.counter {
            metrics.push(SUM);
            encode_varint((self.data_points.len() + 4) as u64, metrics);
            metrics.extend_from_slice(&self.data_points);
            metrics.extend_from_slice(&[TEMPORALITY, CUMULATIVE as u8, MONOTONIC, 1]);
        } else {
            put_field(metrics, GAUGE, &self.data_points);
        }
        self.data_points.clear();
    }

    /// The request's size with the current metric.
    fn request_len(&self) -> usize {
        let scope_metrics = field_len(self.scope.len()) + self.metrics.len() + self.metric_len();
        field_len(field_len(self.resource.len()) + field_len(scope_metrics))
    }

    /// Hands the request on, if it has points.
    fn flush(&mut self) {
        if self.points == 0 || self.stopped {
            return;
        }
        self.end_metric();
        let scope_metrics = field_len(self.scope.len()) + self.metrics.len();
        let resource_metrics = field_len(self.resource.len()) + field_len(scope_metrics);
        let mut request = Vec::with_capacity(field_len(resource_metrics));
        request.push(FIELD_1);
        encode_varint(resource_metrics as u64, &mut request);
        put_field(&mut request, FIELD_1, &self.resource);
        request.push(FIELD_2);
        encode_varint(scope_metrics as u64, &mut request);
        put_field(&mut request, FIELD_1, &self.scope);
        request.extend_from_slice(&self.metrics);
        self.metrics = Vec::new();
        self.points = 0;
        if !(self.emit)(request) {
            self.stopped = true;
        }
    }

    /// Encodes one data point of the current metric.
    fn point(&mut self, labels: &[(&str, &str)], value: f64) {
        let counter = self.header.as_ref().is_some_and(|h| h.counter);
        let start = if counter {
            self.counters.start(self.family, labels, value, self.output_start)
        } else {
            self.output_start
        };
        let cloud = labels.iter().any(|(k, _)| *k == "cloud_account_id" || *k == "cloud_region");
        let mut attributes: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (attribute_name(k), *v)).collect();
        if cloud {
            attributes.push(("cloud.provider", "aws"));
        }
        // Sorted by key, as the OpenTelemetry SDK sends attribute sets.
        attributes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut len = 9 + 9;
        if start != 0 {
            len += 9;
        }
        for (k, v) in &attributes {
            len += field_len(key_value_len(k, v));
        }
        // A full request goes out first; the family goes on in the next one.
        let full =
            self.points >= self.max_points || (self.points > 0 && self.request_len() + field_len(len) > self.max_bytes);
        if full {
            self.flush();
        }
        let buf = &mut self.data_points;
        buf.push(FIELD_1);
        encode_varint(len as u64, buf);
        // In tag order, as prost writes them.
        if start != 0 {
            buf.push(START);
            buf.extend_from_slice(&start.to_le_bytes());
        }
        buf.push(TIME);
        buf.extend_from_slice(&self.now.to_le_bytes());
        buf.push(AS_DOUBLE);
        buf.extend_from_slice(&value.to_le_bytes());
        for (k, v) in &attributes {
            put_key_value(buf, ATTRIBUTES, k, v);
        }
        self.points += 1;
        self.total += 1;
    }
}

impl Sink for Requests<'_, '_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> std::io::Result<()> {
        if self.stopped {
            return Err(std::io::Error::other("the push was abandoned"));
        }
        self.point(labels, value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    use prost::Message;

    /// A metric's points: labels and value.
    type Points<'a> = Vec<(Vec<(&'a str, &'a str)>, f64)>;

    fn header(name: &str, counter: bool) -> Header {
        Header { name: name.into(), description: format!("help of {name}"), unit: "1".into(), counter }
    }

    /// Encodes `metrics` (header, points) and decodes what was emitted.
    fn roundtrip(
        metrics: &[(Header, Points<'_>)],
        max_points: usize,
        max_bytes: usize,
        counters: &mut CounterStarts,
    ) -> Vec<ExportMetricsServiceRequest> {
        let mut out = Vec::new();
        let mut emit = |bytes: Vec<u8>| {
            out.push(ExportMetricsServiceRequest::decode(&bytes[..]).expect("a valid request"));
            true
        };
        let resource = [("service.name".to_owned(), "aws-quota-exporter".to_owned())];
        let push = Push { resource: &resource, max_points, max_bytes, output_start: 100, now: 200, counters };
        let mut r = Requests::new(push, &mut emit);
        for (i, (h, points)) in metrics.iter().enumerate() {
            r.begin_metric(i, h.clone());
            for (labels, v) in points {
                r.point(labels, *v);
            }
            r.end_metric();
        }
        r.flush();
        out
    }

    fn attributes(p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint) -> Vec<(String, String)> {
        p.attributes
            .iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => s.clone(),
                    other => panic!("{other:?}"),
                };
                (kv.key.clone(), v)
            })
            .collect()
    }

    #[test]
    fn the_bytes_decode_as_the_protocol_s_messages_with_the_sdk_s_conventions() {
        let gauge = header("aws_quota_limit", false);
        let counter = header("aws_quota_exporter_aws_api_calls", true);
        let requests = roundtrip(
            &[
                (gauge, vec![(vec![("quota_code", "L-1"), ("cloud_region", "us-east-1")], 320.0)]),
                (header("empty", false), vec![]),
                (counter, vec![(vec![("outcome", "ok")], 7.0)]),
            ],
            10,
            MAX_REQUEST_BYTES,
            &mut CounterStarts::default(),
        );
        assert_eq!(requests.len(), 1);
        let rm = &requests[0].resource_metrics[0];
        let resource = &rm.resource.as_ref().expect("a resource").attributes;
        assert_eq!(resource[0].key, "service.name");
        let sm = &rm.scope_metrics[0];
        assert_eq!(sm.scope.as_ref().map(|s| s.name.as_str()), Some(SCOPE));
        let names: Vec<&str> = sm.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["aws_quota_limit", "aws_quota_exporter_aws_api_calls"],
            "a family without points is left out"
        );
        assert_eq!(sm.metrics[0].description, "help of aws_quota_limit");
        assert_eq!(sm.metrics[0].unit, "1");
        let Some(Data::Gauge(g)) = &sm.metrics[0].data else { panic!("a gauge") };
        let p = &g.data_points[0];
        assert_eq!(
            attributes(p),
            [("cloud.provider", "aws"), ("cloud.region", "us-east-1"), ("quota_code", "L-1")]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
            "semantic-convention names, cloud.provider added, sorted by key"
        );
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano, p.value), (100, 200, Some(Value::AsDouble(320.0))));
        let Some(Data::Sum(sum)) = &sm.metrics[1].data else { panic!("a sum") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2, "cumulative");
        assert_eq!(attributes(&sum.data_points[0]), [("outcome".to_owned(), "ok".to_owned())]);
        assert_eq!(sum.data_points[0].value, Some(Value::AsDouble(7.0)));
    }

    #[test]
    fn a_family_goes_on_in_the_next_request_under_the_same_metric_and_no_request_passes_either_limit() {
        let codes: Vec<String> = (0..25).map(|i| format!("L-{i:08}")).collect();
        let points: Points<'_> =
            codes.iter().enumerate().map(|(i, c)| (vec![("quota_code", c.as_str())], i as f64)).collect();
        let by_points =
            roundtrip(&[(header("g", false), points.clone())], 10, MAX_REQUEST_BYTES, &mut CounterStarts::default());
        let sizes: Vec<usize> = by_points
            .iter()
            .map(|r| match &r.resource_metrics[0].scope_metrics[0].metrics[0].data {
                Some(Data::Gauge(g)) => g.data_points.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert!(by_points.iter().all(|r| r.resource_metrics[0].scope_metrics[0].metrics[0].name == "g"));
        let by_bytes = roundtrip(&[(header("g", false), points)], 1_000, 600, &mut CounterStarts::default());
        assert!(by_bytes.len() > 1, "600 bytes hold a few points only");
        assert!(
            by_bytes.iter().all(|r| r.encoded_len() <= 600),
            "{:?}",
            by_bytes.iter().map(Message::encoded_len).collect::<Vec<_>>()
        );
        let values: Vec<f64> = by_bytes
            .iter()
            .flat_map(|r| match &r.resource_metrics[0].scope_metrics[0].metrics[0].data {
                Some(Data::Gauge(g)) => g
                    .data_points
                    .iter()
                    .map(|p| match p.value {
                        Some(Value::AsDouble(v)) => v,
                        _ => f64::NAN,
                    })
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(values, (0..25).map(f64::from).collect::<Vec<_>>(), "every point once, in order");
    }

    #[test]
    fn the_encoding_is_prost_s_byte_for_byte() {
        let mut bytes = Vec::new();
        let mut emit = |b: Vec<u8>| {
            bytes = b;
            true
        };
        let mut counters = CounterStarts::default();
        let resource = [("service.name".to_owned(), "x".to_owned())];
        let push = Push {
            resource: &resource,
            max_points: 10,
            max_bytes: MAX_REQUEST_BYTES,
            output_start: 0,
            now: 200,
            counters: &mut counters,
        };
        let mut r = Requests::new(push, &mut emit);
        r.begin_metric(0, Header { name: "c".into(), description: String::new(), unit: String::new(), counter: true });
        r.point(&[("k", ""), ("a", "b")], 0.0);
        r.end_metric();
        r.begin_metric(1, header("g", false));
        r.point(&[("cloud_account_id", "111122223333"), ("quota_name", "Running On-Demand — instances")], 1e-3);
        r.point(&[], f64::NAN);
        r.end_metric();
        r.flush();
        let decoded = ExportMetricsServiceRequest::decode(&bytes[..]).expect("valid");
        assert_eq!(decoded.resource_metrics[0].scope_metrics[0].metrics.len(), 2);
        assert_eq!(decoded.encode_to_vec(), bytes, "prost writes the same bytes for what it decoded");
    }

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
