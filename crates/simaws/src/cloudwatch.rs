//! CloudWatch over Smithy RPC v2 CBOR: `POST
//! /service/GraniteServiceVersion20100801/operation/<Operation>` with CBOR bodies both
//! ways, timestamps as tag 1, errors as `__type` plus the query-compatible
//! `x-amzn-query-error` header. Only `GetMetricData` with `MetricStat` queries is served.

use std::collections::{BTreeMap, HashSet};

use crate::calls::Api;
use crate::cbor::{self, Value};
use crate::faults::FaultKind;
use crate::server::{ApiError, HandlerContext, HttpResponse, Protocol, RawRequest, respond};

const PATH_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";
/// AWS's limit on queries per call ("This quota cannot be changed").
pub const MAX_QUERIES: usize = 500;
const DEFAULT_MAX_DATAPOINTS: usize = 100_800;

pub(crate) struct CloudWatch;

impl Protocol for CloudWatch {
    const API: Api = Api::CloudWatch;
    type Parsed = Value;

    fn parse(req: &RawRequest) -> Result<(String, Value), ApiError> {
        let operation =
            req.path.strip_prefix(PATH_PREFIX).filter(|op| !op.is_empty() && !op.contains('/')).ok_or_else(|| {
                ApiError::new(404, "UnknownOperationException", format!("no operation at {}", req.path))
            })?;
        if req.header("smithy-protocol") != Some("rpc-v2-cbor") {
            return Err(ApiError::new(400, "ValidationError", "missing header smithy-protocol: rpc-v2-cbor"));
        }
        if req.header("content-type") != Some("application/cbor") {
            return Err(ApiError::new(400, "ValidationError", "Content-Type must be application/cbor"));
        }
        let body = cbor::decode(&req.body).map_err(|e| ApiError::new(400, "SerializationException", e.to_string()))?;
        Ok((operation.to_owned(), body))
    }

    fn metric_queries(parsed: &Value) -> usize {
        parsed.get("MetricDataQueries").and_then(Value::as_array).map_or(0, <[Value]>::len)
    }

    fn fault(kind: &FaultKind) -> ApiError {
        match kind {
            FaultKind::Throttle => ApiError::new(400, "Throttling", "Rate exceeded"),
            FaultKind::ServerError => ApiError::new(500, "InternalServiceFault", "Internal service error"),
            FaultKind::AccessDenied | FaultKind::Latency(_) | FaultKind::Error { .. } => {
                ApiError::new(403, "AccessDenied", "User is not authorized to perform: cloudwatch:GetMetricData")
            }
        }
    }

    fn unrecognized_client() -> ApiError {
        ApiError::new(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    }

    fn handle(ctx: &HandlerContext<'_>, operation: &str, input: Value) -> Result<HttpResponse, ApiError> {
        let output = match operation {
            "GetMetricData" => get_metric_data(ctx, &input)?,
            "ListMetrics" => list_metrics(ctx, &input)?,
            other => {
                return Err(ApiError::new(
                    400,
                    "UnknownOperationException",
                    format!("the simulator does not implement {other}"),
                ));
            }
        };
        Ok(respond(
            200,
            "application/cbor",
            cbor::encode(&output),
            &[("smithy-protocol", "rpc-v2-cbor"), ("x-amzn-requestid", ctx.request_id)],
        ))
    }

    fn render(err: &ApiError, request_id: &str) -> HttpResponse {
        let body = Value::map([
            ("__type", Value::text(format!("com.amazonaws.cloudwatch#{}", err.code))),
            ("message", Value::text(err.message.clone())),
        ]);
        let fault = if err.status >= 500 { "Receiver" } else { "Sender" };
        let query_error = format!("{};{fault}", err.code);
        respond(
            err.status,
            "application/cbor",
            cbor::encode(&body),
            &[
                ("smithy-protocol", "rpc-v2-cbor"),
                ("x-amzn-query-error", &query_error),
                ("x-amzn-requestid", request_id),
            ],
        )
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "ValidationError", message)
}

/// One `MetricStat` query, validated.
struct Query<'a> {
    id: &'a str,
    label: String,
    namespace: &'a str,
    name: &'a str,
    dimensions: BTreeMap<String, String>,
    period: u64,
    stat: &'a str,
}

fn parse_query(q: &Value) -> Result<Query<'_>, ApiError> {
    let id = q.get("Id").and_then(Value::as_str).ok_or_else(|| invalid("every query needs an Id"))?;
    let mut chars = id.chars();
    let valid_id =
        chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_id {
        return Err(invalid(format!(
            "Invalid metric data query Id {id:?}: it must start with a lowercase letter and hold only letters, digits and underscores"
        )));
    }
    if q.get("Expression").is_some() {
        return Err(invalid("the simulator does not evaluate metric math expressions"));
    }
    let stat = q.get("MetricStat").ok_or_else(|| invalid(format!("query {id} has no MetricStat")))?;
    let metric = stat.get("Metric").ok_or_else(|| invalid(format!("query {id} has no Metric")))?;
    let namespace = metric.get("Namespace").and_then(Value::as_str).ok_or_else(|| invalid("Namespace is required"))?;
    let name = metric.get("MetricName").and_then(Value::as_str).ok_or_else(|| invalid("MetricName is required"))?;
    let mut dimensions = BTreeMap::new();
    for d in metric.get("Dimensions").and_then(Value::as_array).unwrap_or_default() {
        let (Some(k), Some(v)) = (d.get("Name").and_then(Value::as_str), d.get("Value").and_then(Value::as_str)) else {
            return Err(invalid("every dimension needs a Name and a Value"));
        };
        dimensions.insert(k.to_owned(), v.to_owned());
    }
    if dimensions.len() > 30 {
        return Err(invalid("a metric has at most 30 dimensions"));
    }
    let period = stat.get("Period").and_then(Value::as_i64).ok_or_else(|| invalid("Period is required"))?;
    if period <= 0 || (period % 60 != 0 && ![1, 5, 10, 20, 30].contains(&period)) {
        return Err(invalid(format!("The parameter Period must be a multiple of 60, got {period}")));
    }
    let stat_name = stat.get("Stat").and_then(Value::as_str).ok_or_else(|| invalid("Stat is required"))?;
    if !["Sum", "Maximum", "Minimum", "Average", "SampleCount"].contains(&stat_name) {
        return Err(invalid(format!("the simulator does not compute the statistic {stat_name}")));
    }
    let label = q.get("Label").and_then(Value::as_str).unwrap_or(name).to_owned();
    Ok(Query { id, label, namespace, name, dimensions, period: period as u64, stat: stat_name })
}

fn get_metric_data(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let raw_queries = input
        .get("MetricDataQueries")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("MetricDataQueries is required"))?;
    if raw_queries.is_empty() || raw_queries.len() > MAX_QUERIES {
        return Err(invalid(format!(
            "The collection MetricDataQueries must hold between 1 and {MAX_QUERIES} items, got {}",
            raw_queries.len()
        )));
    }
    let queries = raw_queries.iter().map(parse_query).collect::<Result<Vec<_>, _>>()?;
    let mut ids = HashSet::new();
    for q in &queries {
        if !ids.insert(q.id) {
            return Err(invalid(format!("The value {} for field Id is duplicated", q.id)));
        }
    }
    let start = input.get("StartTime").and_then(Value::as_timestamp).ok_or_else(|| invalid("StartTime is required"))?;
    let end = input.get("EndTime").and_then(Value::as_timestamp).ok_or_else(|| invalid("EndTime is required"))?;
    if end <= start {
        return Err(invalid("The parameter StartTime must be less than the parameter EndTime"));
    }
    let ascending = match input.get("ScanBy").and_then(Value::as_str) {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(invalid(format!("ScanBy must be TimestampDescending or TimestampAscending, got {other}")));
        }
    };
    let max_datapoints =
        input.get("MaxDatapoints").and_then(Value::as_i64).map_or(DEFAULT_MAX_DATAPOINTS, |n| n.max(1) as usize);
    let first = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => t
            .strip_prefix("q")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < queries.len())
            .ok_or_else(|| ApiError::new(400, "InvalidNextToken", "The service couldn't process the NextToken"))?,
    };

    let region = ctx.account.region(ctx.region);
    let mut results = Vec::new();
    let mut datapoints = 0usize;
    let mut next = None;
    for (index, q) in queries.iter().enumerate().skip(first) {
        let series = region.and_then(|r| r.metric(q.namespace, q.name, &q.dimensions));
        let period = q.period as f64;
        let mut points = Vec::new();
        // CloudWatch rounds StartTime down (to the minute for recent data, to the
        // period for sub-minute periods) and counts periods from there.
        let mut bucket = if period >= 60.0 { (start / 60.0).floor() * 60.0 } else { (start / period).floor() * period };
        while bucket < end {
            if let Some(s) = series
                && let Some(v) = s.statistic(q.stat, bucket.max(start), (bucket + period).min(end), ctx.now)
            {
                points.push((bucket, v));
            }
            bucket += period;
        }
        if !results.is_empty() && datapoints + points.len() > max_datapoints {
            next = Some(format!("q{index}"));
            break;
        }
        datapoints += points.len();
        if !ascending {
            points.reverse();
        }
        results.push(Value::map([
            ("Id", Value::text(q.id)),
            ("Label", Value::text(q.label.clone())),
            ("Timestamps", Value::Array(points.iter().map(|(t, _)| Value::Timestamp(*t)).collect())),
            ("Values", Value::Array(points.iter().map(|(_, v)| Value::Float(*v)).collect())),
            ("StatusCode", Value::text("Complete")),
            ("Messages", Value::Array(Vec::new())),
        ]));
    }
    let mut out = vec![("MetricDataResults", Value::Array(results)), ("Messages", Value::Array(Vec::new()))];
    if let Some(t) = next {
        out.push(("NextToken", Value::text(t)));
    }
    Ok(Value::map(out))
}

/// How far back `RecentlyActive=PT3H` looks.
const RECENTLY_ACTIVE_SECONDS: f64 = 3.0 * 3600.0;

/// `ListMetrics`: the series of a region matching a namespace, name and dimension
/// filters, 500 per page, optionally only those with data in the last three hours.
fn list_metrics(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let namespace = input.get("Namespace").and_then(Value::as_str);
    let name = input.get("MetricName").and_then(Value::as_str);
    let mut filters = Vec::new();
    for f in input.get("Dimensions").and_then(Value::as_array).unwrap_or_default() {
        let key =
            f.get("Name").and_then(Value::as_str).ok_or_else(|| invalid("every dimension filter needs a Name"))?;
        filters.push((key, f.get("Value").and_then(Value::as_str)));
    }
    let recent = match input.get("RecentlyActive").and_then(Value::as_str) {
        None => false,
        Some("PT3H") => true,
        Some(other) => return Err(invalid(format!("RecentlyActive must be PT3H, got {other}"))),
    };
    let series: Vec<&crate::estate::MetricSeries> = ctx
        .account
        .region(ctx.region)
        .map(|r| r.metrics.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|m| namespace.is_none_or(|n| n == m.namespace) && name.is_none_or(|n| n == m.name))
        .filter(|m| filters.iter().all(|(k, v)| m.dimensions.get(*k).is_some_and(|d| v.is_none_or(|v| v == d))))
        .filter(|m| {
            !recent || m.statistic("SampleCount", ctx.now - RECENTLY_ACTIVE_SECONDS, ctx.now, ctx.now).is_some()
        })
        .collect();
    let page = crate::paging::page(input.get("NextToken").and_then(Value::as_str), series.len(), 500)
        .map_err(|_| ApiError::new(400, "InvalidParameterValue", "The service couldn't process the NextToken"))?;
    let metrics = series[page.range]
        .iter()
        .map(|m| {
            let dimensions = m
                .dimensions
                .iter()
                .map(|(k, v)| Value::map([("Name", Value::text(k.clone())), ("Value", Value::text(v.clone()))]))
                .collect();
            Value::map([
                ("Namespace", Value::text(m.namespace.clone())),
                ("MetricName", Value::text(m.name.clone())),
                ("Dimensions", Value::Array(dimensions)),
            ])
        })
        .collect();
    let mut out = vec![("Metrics", Value::Array(metrics))];
    if let Some(t) = page.next_token {
        out.push(("NextToken", Value::text(t)));
    }
    Ok(Value::map(out))
}
