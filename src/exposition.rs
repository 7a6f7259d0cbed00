//! The metric families and their rendering in the Prometheus text format 0.0.4 and
//! OpenMetrics 1.0.
//!
//! The names, labels and help texts here are the public contract that alert rules,
//! dashboards and the OTLP output build on. Rendering happens once per snapshot, in
//! both formats, straight into gzip streams; a scrape serves the stored bytes (or
//! inflates them for a client that does not accept gzip). Families are rendered from
//! compact domain data without intermediate per-series objects, so 100,000 series
//! need no more memory than their compressed text.

use std::io::{self, Write};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::collector::Source;
use crate::model::{Quota, usage_in_quota_terms, utilization};
use crate::snapshot::{Snapshot, TargetSnapshot};

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    /// Value 1 with labels; `_info` is appended to the family name for samples.
    Info,
}

/// The refresh cadences, quoted in help texts so that HELP tells how fresh a value is.
#[derive(Debug, Clone, Default)]
pub struct HelpContext {
    pub limits_interval: String,
    pub usage_interval: String,
    pub usage_lookback: String,
    pub bedrock_lag: String,
    pub history_days: u32,
    /// Each enabled source's refresh interval, in seconds.
    pub refresh_intervals: Vec<(&'static str, f64)>,
}

/// Names of the families, as they appear in samples.
pub mod names {
    pub const QUOTA_INFO: &str = "aws_quota_info";
    pub const QUOTA_LIMIT: &str = "aws_quota_limit";
    pub const QUOTA_DEFAULT_LIMIT: &str = "aws_quota_default_limit";
    pub const QUOTA_USAGE: &str = "aws_quota_usage";
    pub const QUOTA_UTILIZATION: &str = "aws_quota_utilization_ratio";
    pub const BUILD_INFO: &str = "aws_quota_exporter_build_info";
    pub const REFRESH_SUCCESS: &str = "aws_quota_exporter_refresh_success";
    pub const REFRESH_INTERVAL: &str = "aws_quota_exporter_refresh_interval_seconds";
    pub const LAST_SUCCESS: &str = "aws_quota_exporter_last_success_timestamp_seconds";
    pub const LAST_REFRESH: &str = "aws_quota_exporter_last_refresh_timestamp_seconds";
    pub const REFRESH_DURATION: &str = "aws_quota_exporter_refresh_duration_seconds";
    pub const SERVICE_SUCCESS: &str = "aws_quota_exporter_service_refresh_success";
    pub const SERVICE_LAST_SUCCESS: &str = "aws_quota_exporter_service_last_success_timestamp_seconds";
    pub const QUOTAS: &str = "aws_quota_exporter_quotas";
    pub const USAGE_METRICS: &str = "aws_quota_exporter_usage_metrics";
    pub const BEDROCK_SKIPPED: &str = "aws_quota_exporter_bedrock_uncounted_seconds_total";
    pub const BEDROCK_MODEL_INFO: &str = "aws_bedrock_model_info";
    pub const BEDROCK_PROFILE_INFO: &str = "aws_bedrock_inference_profile_info";
    pub const BEDROCK_PROVISIONED_UNITS: &str = "aws_bedrock_provisioned_model_units";
    pub const BEDROCK_LATENCY: &str = "aws_bedrock_invocation_latency_seconds";
    pub const BEDROCK_ESTIMATED_TPM: &str = "aws_bedrock_estimated_tpm_quota_usage";
    pub const BEDROCK_UTILIZATION: &str = "aws_bedrock_quota_utilization_ratio";
    pub const BEDROCK_MATCHED: &str = "aws_bedrock_model_quota_matched";
    pub const FORECAST: &str = "aws_quota_usage_forecast";
    pub const TREND: &str = "aws_quota_usage_trend_per_day";
    pub const EXHAUSTION: &str = "aws_quota_forecast_exhaustion_timestamp_seconds";
    pub const FIT_R2: &str = "aws_quota_forecast_fit_r2";
    pub const RECOMMENDED: &str = "aws_quota_recommended_limit";
    pub const BEDROCK_FORECAST: &str = "aws_bedrock_quota_usage_forecast";
    pub const BEDROCK_TREND: &str = "aws_bedrock_quota_usage_trend_per_day";
    pub const BEDROCK_EXHAUSTION: &str = "aws_bedrock_quota_forecast_exhaustion_timestamp_seconds";
    pub const BEDROCK_FIT_R2: &str = "aws_bedrock_quota_forecast_fit_r2";
    pub const BEDROCK_RECOMMENDED: &str = "aws_bedrock_quota_recommended_limit";
    /// The counters, in `bedrock::runtime::Metric::COUNTERS` order, without `_total`.
    pub const BEDROCK_COUNTERS: [(&str, &str); 6] = [
        ("aws_bedrock_invocations", "Invocations"),
        ("aws_bedrock_invocation_throttles", "InvocationThrottles"),
        ("aws_bedrock_invocation_client_errors", "InvocationClientErrors"),
        ("aws_bedrock_invocation_server_errors", "InvocationServerErrors"),
        ("aws_bedrock_input_tokens", "InputTokenCount"),
        ("aws_bedrock_output_tokens", "OutputTokenCount"),
    ];
}

/// The rendered expositions of one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    pub text_gzip: Bytes,
    pub openmetrics_gzip: Bytes,
    /// Uncompressed sizes.
    pub text_bytes: usize,
    pub openmetrics_bytes: usize,
    /// Samples in one rendering.
    pub series: usize,
}

impl Exposition {
    /// Renders a snapshot and the self-metric counters in both formats.
    pub fn render(snapshot: &Snapshot, counters: &[prometheus::proto::MetricFamily], help: &HelpContext) -> Exposition {
        let (text_gzip, text_bytes, series) = gzip_render(snapshot, counters, help, Format::Text);
        let (openmetrics_gzip, openmetrics_bytes, _) = gzip_render(snapshot, counters, help, Format::OpenMetrics);
        Exposition { text_gzip, openmetrics_gzip, text_bytes, openmetrics_bytes, series }
    }

    /// The compressed body for a format.
    pub fn gzip(&self, format: Format) -> &Bytes {
        match format {
            Format::Text => &self.text_gzip,
            Format::OpenMetrics => &self.openmetrics_gzip,
        }
    }

    /// The uncompressed body for a format, inflated on demand (tests and tools; the
    /// server streams it instead).
    pub fn plain(&self, format: Format) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut out = Vec::with_capacity(match format {
            Format::Text => self.text_bytes,
            Format::OpenMetrics => self.openmetrics_bytes,
        });
        flate2::read::GzDecoder::new(&self.gzip(format)[..]).read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    bytes: usize,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn gzip_render(
    snapshot: &Snapshot,
    counters: &[prometheus::proto::MetricFamily],
    help: &HelpContext,
    format: Format,
) -> (Bytes, usize, usize) {
    // Fast compression: the text is highly repetitive, and rendering happens on every refresh.
    let encoder = GzEncoder::new(Vec::new(), Compression::new(3));
    let mut counting = Counting { inner: io::BufWriter::with_capacity(64 * 1024, encoder), bytes: 0 };
    let series = render(snapshot, counters, help, format, &mut counting).expect("writing into memory cannot fail");
    let bytes = counting.bytes;
    let encoder = counting.inner.into_inner().map_err(|e| e.into_error()).expect("flushing into memory cannot fail");
    let compressed = encoder.finish().expect("finishing a gzip stream in memory cannot fail");
    (Bytes::from(compressed), bytes, series)
}

/// Writes the whole exposition; returns the number of samples.
pub fn render(
    snapshot: &Snapshot,
    counters: &[prometheus::proto::MetricFamily],
    help: &HelpContext,
    format: Format,
    out: &mut impl Write,
) -> io::Result<usize> {
    let mut w = Writer { out, format, series: 0 };
    let targets = &snapshot.targets;

    w.header(
        "aws_quota",
        Kind::Info,
        &format!(
            "Static facts about an AWS service quota (value 1): its service and quota names, unit, and whether it is \
             adjustable and global. From Service Quotas, refreshed every {}.",
            help.limits_interval
        ),
        None,
    )?;
    for t in targets {
        for q in t.quotas.quotas() {
            let mut labels = identity(t, q);
            labels.extend([
                ("service_name", &*q.service_name),
                ("quota_name", q.name.as_str()),
                ("unit", q.unit.as_str()),
                ("adjustable", bool_str(q.adjustable)),
                ("global", bool_str(q.global)),
            ]);
            w.sample(names::QUOTA_INFO, &labels, 1.0)?;
        }
    }

    w.header(
        names::QUOTA_LIMIT,
        Kind::Gauge,
        &format!(
            "The quota's applied value, or the AWS default where no value is applied, in the quota's unit. \
             From Service Quotas (ListServiceQuotas and ListAWSDefaultServiceQuotas), refreshed every {}.",
            help.limits_interval
        ),
        None,
    )?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(limit) = q.limit {
                w.sample(names::QUOTA_LIMIT, &identity(t, q), limit)?;
            }
        }
    }

    w.header(
        names::QUOTA_DEFAULT_LIMIT,
        Kind::Gauge,
        &format!(
            "The quota's AWS default value. From Service Quotas (ListAWSDefaultServiceQuotas), refreshed every {}.",
            help.limits_interval
        ),
        None,
    )?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(default) = q.default_limit {
                w.sample(names::QUOTA_DEFAULT_LIMIT, &identity(t, q), default)?;
            }
        }
    }

    w.header(
        names::QUOTA_USAGE,
        Kind::Gauge,
        &format!(
            "Current usage in the quota's unit: the latest one-minute datapoint of the quota's CloudWatch usage metric \
             within the last {}, with its recommended statistic; rate quotas are converted to the quota's period. \
             Refreshed every {}; absent when CloudWatch has no datapoint.",
            help.usage_lookback, help.usage_interval
        ),
        None,
    )?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(usage) = usage_of(t, q) {
                w.sample(names::QUOTA_USAGE, &identity(t, q), usage)?;
            }
        }
    }

    w.header(
        names::QUOTA_UTILIZATION,
        Kind::Gauge,
        &format!(
            "aws_quota_usage divided by aws_quota_limit (0 to 1 and above). Refreshed every {}; absent where usage is \
             unknown or the limit is 0.",
            help.usage_interval
        ),
        None,
    )?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(ratio) = usage_of(t, q).and_then(|u| utilization(u, q.limit)) {
                w.sample(names::QUOTA_UTILIZATION, &identity(t, q), ratio)?;
            }
        }
    }

    render_forecasts(&mut w, snapshot, help)?;
    render_bedrock(&mut w, snapshot, help)?;
    render_bedrock_forecasts(&mut w, snapshot, help)?;
    render_self(&mut w, snapshot, counters, help)?;
    w.finish()?;
    Ok(w.series)
}

/// The help texts of the five forecast families, for quotas or for Bedrock models.
fn forecast_help(help: &HelpContext, what: &str) -> [String; 5] {
    let basis = format!(
        "fitted by least squares on {what} over the last {} days (daily peaks of levels, daily averages per minute of \
         counts) and refitted every {}; absent with fewer than 7 days",
        help.history_days, help.usage_interval
    );
    [
        format!("Usage forecast at the horizon (7d, 30d), never below 0, in the quota's unit: {basis}."),
        format!("Slope of the usage trend, in the quota's unit per day: {basis}."),
        format!(
            "Unix time at which the usage trend reaches the limit (now if it already has); only for a rising trend that \
             gets there within a year: {basis}."
        ),
        format!("Coefficient of determination (0 to 1) of the usage trend, to ignore poor fits: {basis}."),
        format!(
            "The limit to request: the 30-day forecast times 1.3, or 1.5 where usage grew by more than half over the \
             history, rounded up to two significant figures and never below the limit. Only for adjustable quotas \
             forecast above 80 % of their limit within 30 days; {basis}."
        ),
    ]
}

fn render_forecasts<W: Write>(w: &mut Writer<'_, W>, snapshot: &Snapshot, help: &HelpContext) -> io::Result<()> {
    let [forecast, trend, exhaustion, r2, recommended] = forecast_help(help, "the quota's daily usage");
    let targets = &snapshot.targets;
    let each = |t: &'_ TargetSnapshot, q: &'_ Quota| {
        t.forecasts.quotas.get(&(q.service_code.clone(), q.code.clone(), q.resource.clone())).cloned()
    };
    w.header(names::FORECAST, Kind::Gauge, &forecast, None)?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(f) = each(t, q) {
                for ((_, horizon), value) in crate::forecast::HORIZONS.iter().zip(f.at) {
                    let mut labels = identity(t, q);
                    labels.push(("horizon", horizon));
                    w.sample(names::FORECAST, &labels, value)?;
                }
            }
        }
    }
    w.header(names::TREND, Kind::Gauge, &trend, None)?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(f) = each(t, q) {
                w.sample(names::TREND, &identity(t, q), f.slope_per_day)?;
            }
        }
    }
    w.header(names::EXHAUSTION, Kind::Gauge, &exhaustion, Some("seconds"))?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(at) = each(t, q).and_then(|f| f.exhaustion) {
                w.sample(names::EXHAUSTION, &identity(t, q), at)?;
            }
        }
    }
    w.header(names::FIT_R2, Kind::Gauge, &r2, None)?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(f) = each(t, q) {
                w.sample(names::FIT_R2, &identity(t, q), f.r2)?;
            }
        }
    }
    w.header(names::RECOMMENDED, Kind::Gauge, &recommended, None)?;
    for t in targets {
        for q in t.quotas.quotas() {
            if let Some(v) = each(t, q).and_then(|f| f.recommended_limit) {
                w.sample(names::RECOMMENDED, &identity(t, q), v)?;
            }
        }
    }
    Ok(())
}

fn render_bedrock_forecasts<W: Write>(
    w: &mut Writer<'_, W>,
    snapshot: &Snapshot,
    help: &HelpContext,
) -> io::Result<()> {
    let [forecast, trend, exhaustion, r2, recommended] =
        forecast_help(help, "a Bedrock model id's daily EstimatedTPMQuotaUsage, against its tokens-per-minute quota,");
    let targets = &snapshot.targets;
    let labels = |t: &'_ TargetSnapshot, model: &'_ str, m: &'_ crate::bedrock::matching::Match| {
        vec![
            ("cloud_account_id", t.account_label().to_owned()),
            ("cloud_region", t.target.region.clone()),
            ("model_id", model.to_owned()),
            ("quota_code", m.quota_code.clone()),
            ("kind", m.kind.as_str().to_owned()),
            ("scope", m.scope.as_str().to_owned()),
        ]
    };
    w.header(names::BEDROCK_FORECAST, Kind::Gauge, &forecast, None)?;
    for t in targets {
        for (model, m, f) in &t.forecasts.bedrock {
            for ((_, horizon), value) in crate::forecast::HORIZONS.iter().zip(f.at) {
                let mut l = labels(t, model, m);
                l.push(("horizon", (*horizon).to_owned()));
                w.sample(names::BEDROCK_FORECAST, &as_refs(&l), value)?;
            }
        }
    }
    w.header(names::BEDROCK_TREND, Kind::Gauge, &trend, None)?;
    for t in targets {
        for (model, m, f) in &t.forecasts.bedrock {
            w.sample(names::BEDROCK_TREND, &as_refs(&labels(t, model, m)), f.slope_per_day)?;
        }
    }
    w.header(names::BEDROCK_EXHAUSTION, Kind::Gauge, &exhaustion, Some("seconds"))?;
    for t in targets {
        for (model, m, f) in &t.forecasts.bedrock {
            if let Some(at) = f.exhaustion {
                w.sample(names::BEDROCK_EXHAUSTION, &as_refs(&labels(t, model, m)), at)?;
            }
        }
    }
    w.header(names::BEDROCK_FIT_R2, Kind::Gauge, &r2, None)?;
    for t in targets {
        for (model, m, f) in &t.forecasts.bedrock {
            w.sample(names::BEDROCK_FIT_R2, &as_refs(&labels(t, model, m)), f.r2)?;
        }
    }
    w.header(names::BEDROCK_RECOMMENDED, Kind::Gauge, &recommended, None)?;
    for t in targets {
        for (model, m, f) in &t.forecasts.bedrock {
            if let Some(v) = f.recommended_limit {
                w.sample(names::BEDROCK_RECOMMENDED, &as_refs(&labels(t, model, m)), v)?;
            }
        }
    }
    Ok(())
}

/// Borrowed labels from owned ones.
fn as_refs<'a>(labels: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    labels.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn render_bedrock<W: Write>(w: &mut Writer<'_, W>, snapshot: &Snapshot, help: &HelpContext) -> io::Result<()> {
    let targets = &snapshot.targets;
    let place = |t: &'_ TargetSnapshot| {
        [("cloud_account_id", t.account_label().to_owned()), ("cloud_region", t.target.region.clone())]
    };

    w.header(
        "aws_bedrock_model",
        Kind::Info,
        &format!("A Bedrock foundation model available in the region (value 1). From ListFoundationModels, refreshed every {}.", help.limits_interval),
        None,
    )?;
    for t in targets {
        for m in &t.bedrock.models {
            let [a, r] = place(t);
            let labels = [
                (a.0, a.1.as_str()),
                (r.0, r.1.as_str()),
                ("model_id", &m.id),
                ("provider", &m.provider),
                ("model_name", &m.name),
            ];
            w.sample(names::BEDROCK_MODEL_INFO, &labels, 1.0)?;
        }
    }

    w.header(
        "aws_bedrock_inference_profile",
        Kind::Info,
        &format!(
            "A Bedrock inference profile (value 1): type SYSTEM_DEFINED or APPLICATION, and the comma-separated models it \
             routes to. From ListInferenceProfiles, refreshed every {}.",
            help.limits_interval
        ),
        None,
    )?;
    for t in targets {
        for p in &t.bedrock.profiles {
            let [a, r] = place(t);
            let models = p.model_ids.join(",");
            let labels = [
                (a.0, a.1.as_str()),
                (r.0, r.1.as_str()),
                ("inference_profile_id", &p.id),
                ("inference_profile_name", &p.name),
                ("type", &p.kind),
                ("models", &models),
            ];
            w.sample(names::BEDROCK_PROFILE_INFO, &labels, 1.0)?;
        }
    }

    w.header(
        names::BEDROCK_PROVISIONED_UNITS,
        Kind::Gauge,
        &format!(
            "Model units of a Bedrock provisioned throughput, with its model and status. From \
             ListProvisionedModelThroughputs, refreshed every {}.",
            help.limits_interval
        ),
        None,
    )?;
    for t in targets {
        for p in &t.bedrock.provisioned {
            let [a, r] = place(t);
            let labels = [
                (a.0, a.1.as_str()),
                (r.0, r.1.as_str()),
                ("provisioned_model_name", &p.name),
                ("model_id", &p.model_id),
                ("status", &p.status),
            ];
            w.sample(names::BEDROCK_PROVISIONED_UNITS, &labels, f64::from(p.model_units))?;
        }
    }

    for (i, (base, cloudwatch)) in names::BEDROCK_COUNTERS.iter().enumerate() {
        w.header(
            base,
            Kind::Counter,
            &format!(
                "Sum of AWS/Bedrock {cloudwatch} per ModelId, each CloudWatch minute counted once, {} behind real time \
                 so that late data is included. Updated every {}.",
                help.bedrock_lag, help.usage_interval
            ),
            None,
        )?;
        let name = format!("{base}_total");
        for t in targets {
            for r in &t.bedrock_runtime.reports {
                if let Some(totals) = r.totals {
                    let [a, g] = place(t);
                    let labels = [(a.0, a.1.as_str()), (g.0, g.1.as_str()), ("model_id", r.model_id.as_str())];
                    w.sample(&name, &labels, totals[i])?;
                }
            }
        }
    }

    w.header(
        names::BEDROCK_LATENCY,
        Kind::Gauge,
        &format!(
            "Average AWS/Bedrock InvocationLatency of the latest complete minute, per ModelId. Updated every {}; absent \
             without data in the last {}.",
            help.usage_interval, help.usage_lookback
        ),
        Some("seconds"),
    )?;
    for t in targets {
        for r in t.bedrock_runtime.reports.iter().filter(|r| r.recent) {
            if let Some(v) = r.latency_seconds {
                let [a, g] = place(t);
                let labels = [(a.0, a.1.as_str()), (g.0, g.1.as_str()), ("model_id", r.model_id.as_str())];
                w.sample(names::BEDROCK_LATENCY, &labels, v)?;
            }
        }
    }

    w.header(
        names::BEDROCK_ESTIMATED_TPM,
        Kind::Gauge,
        &format!(
            "AWS/Bedrock EstimatedTPMQuotaUsage of the latest complete minute, per ModelId: tokens counted against the \
             tokens-per-minute quota, burndown included. Updated every {}.",
            help.usage_interval
        ),
        None,
    )?;
    for t in targets {
        for r in t.bedrock_runtime.reports.iter().filter(|r| r.recent) {
            if let Some(v) = r.estimated_tpm {
                let [a, g] = place(t);
                let labels = [(a.0, a.1.as_str()), (g.0, g.1.as_str()), ("model_id", r.model_id.as_str())];
                w.sample(names::BEDROCK_ESTIMATED_TPM, &labels, v)?;
            }
        }
    }

    w.header(
        names::BEDROCK_UTILIZATION,
        Kind::Gauge,
        &format!(
            "Utilisation of the Bedrock quota that governs a ModelId: tokens_per_minute is the peak minute of \
             EstimatedTPMQuotaUsage in the last {lookback} over the quota; requests_per_minute the peak minute of \
             Invocations over the quota; tokens_per_day the input and output tokens of the last 24 hours over the quota. \
             scope is on_demand, cross_region or global. Updated every {interval}.",
            lookback = help.usage_lookback,
            interval = help.usage_interval
        ),
        None,
    )?;
    for t in targets {
        for r in &t.bedrock_runtime.reports {
            for u in &r.utilization {
                let [a, g] = place(t);
                let labels = [
                    (a.0, a.1.as_str()),
                    (g.0, g.1.as_str()),
                    ("model_id", r.model_id.as_str()),
                    ("quota_code", u.quota.quota_code.as_str()),
                    ("kind", u.quota.kind.as_str()),
                    ("scope", u.quota.scope.as_str()),
                ];
                w.sample(names::BEDROCK_UTILIZATION, &labels, u.ratio)?;
            }
        }
    }

    w.header(
        names::BEDROCK_MATCHED,
        Kind::Gauge,
        "1 if a tokens-per-minute quota was matched to a ModelId with traffic in the lookback window, 0 if none was.",
        None,
    )?;
    for t in targets {
        for r in t.bedrock_runtime.reports.iter().filter(|r| r.recent) {
            let [a, g] = place(t);
            let labels = [(a.0, a.1.as_str()), (g.0, g.1.as_str()), ("model_id", r.model_id.as_str())];
            w.sample(names::BEDROCK_MATCHED, &labels, if r.matched { 1.0 } else { 0.0 })?;
        }
    }
    Ok(())
}

/// A quota's usage in its own terms, when its metric has a reading.
pub fn usage_of(t: &TargetSnapshot, q: &Quota) -> Option<f64> {
    let reading = t.usage.readings.get(q.usage_metric.as_ref()?)?;
    Some(usage_in_quota_terms(reading.value, q.period))
}

/// The identity labels of a per-quota series.
pub fn identity<'a>(t: &'a TargetSnapshot, q: &'a Quota) -> Vec<(&'static str, &'a str)> {
    let mut labels = Vec::with_capacity(10);
    labels.extend([
        ("cloud_account_id", t.account_label()),
        ("cloud_region", t.target.region.as_str()),
        ("service_code", &*q.service_code),
        ("quota_code", q.code.as_str()),
    ]);
    if let Some(r) = &q.resource {
        labels.push(("resource", r.as_str()));
    }
    labels
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn render_self<W: Write>(
    w: &mut Writer<'_, W>,
    snapshot: &Snapshot,
    counters: &[prometheus::proto::MetricFamily],
    help: &HelpContext,
) -> io::Result<()> {
    let targets = &snapshot.targets;
    w.header("aws_quota_exporter_build", Kind::Info, "Build information of the exporter (value 1).", None)?;
    w.sample(names::BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))], 1.0)?;

    let sources = |t: &TargetSnapshot| {
        t.statuses.iter().map(|(s, st)| (*s, st.clone())).collect::<Vec<(Source, crate::target::SourceStatus)>>()
    };

    w.header(
        names::REFRESH_INTERVAL,
        Kind::Gauge,
        "How often each source is refreshed, as configured; data older than a few intervals is stale.",
        Some("seconds"),
    )?;
    for (source, seconds) in &help.refresh_intervals {
        w.sample(names::REFRESH_INTERVAL, &[("source", source)], *seconds)?;
    }

    w.header(
        names::REFRESH_SUCCESS,
        Kind::Gauge,
        "1 if the last refresh of a target's source (service_quotas, usage) succeeded completely, 0 if any part failed.",
        None,
    )?;
    for t in targets {
        for (source, st) in sources(t) {
            w.sample(names::REFRESH_SUCCESS, &target_labels(t, source), if st.success { 1.0 } else { 0.0 })?;
        }
    }

    w.header(
        names::LAST_SUCCESS,
        Kind::Gauge,
        "Unix time of the last fully successful refresh of a target's source. Values of a failing source are kept; \
         their age is time() minus this.",
        Some("seconds"),
    )?;
    for t in targets {
        for (source, st) in sources(t) {
            if let Some(at) = st.last_success {
                w.sample(names::LAST_SUCCESS, &target_labels(t, source), at)?;
            }
        }
    }

    w.header(
        names::LAST_REFRESH,
        Kind::Gauge,
        "Unix time of the last refresh attempt of a target's source, successful or not.",
        Some("seconds"),
    )?;
    for t in targets {
        for (source, st) in sources(t) {
            w.sample(names::LAST_REFRESH, &target_labels(t, source), st.last_attempt)?;
        }
    }

    w.header(
        names::REFRESH_DURATION,
        Kind::Gauge,
        "How long the last refresh of a target's source took, AWS calls included.",
        Some("seconds"),
    )?;
    for t in targets {
        for (source, st) in sources(t) {
            w.sample(names::REFRESH_DURATION, &target_labels(t, source), st.duration_seconds)?;
        }
    }

    w.header(
        names::SERVICE_SUCCESS,
        Kind::Gauge,
        "1 if the last listing of a service's quotas succeeded, 0 if it failed (its last good quotas are kept).",
        None,
    )?;
    for t in targets {
        for s in t.quotas.services.values() {
            let labels = [
                ("cloud_account_id", t.account_label()),
                ("cloud_region", t.target.region.as_str()),
                ("service_code", s.info.code.as_str()),
            ];
            w.sample(names::SERVICE_SUCCESS, &labels, if s.error.is_none() { 1.0 } else { 0.0 })?;
        }
    }

    w.header(
        names::SERVICE_LAST_SUCCESS,
        Kind::Gauge,
        "Unix time of the last successful listing of a service's quotas; their age is time() minus this.",
        Some("seconds"),
    )?;
    for t in targets {
        for s in t.quotas.services.values() {
            if let Some(at) = s.last_success {
                let labels = [
                    ("cloud_account_id", t.account_label()),
                    ("cloud_region", t.target.region.as_str()),
                    ("service_code", s.info.code.as_str()),
                ];
                w.sample(names::SERVICE_LAST_SUCCESS, &labels, at)?;
            }
        }
    }

    w.header(
        "aws_quota_exporter_bedrock_uncounted_seconds",
        Kind::Counter,
        "Seconds of Bedrock model data given up on (summed over models) because a model could not be read for longer \
         than the three-hour catch-up limit; the Bedrock counters miss these.",
        Some("seconds"),
    )?;
    for t in targets.iter().filter(|t| t.statuses.contains_key(&Source::BedrockRuntime)) {
        let labels = [("cloud_account_id", t.account_label()), ("cloud_region", t.target.region.as_str())];
        w.sample(names::BEDROCK_SKIPPED, &labels, t.bedrock_runtime.state.skipped_minutes as f64 * 60.0)?;
    }

    w.header(names::QUOTAS, Kind::Gauge, "Quotas published for a target (series of aws_quota_info).", None)?;
    for t in targets {
        let labels = [("cloud_account_id", t.account_label()), ("cloud_region", t.target.region.as_str())];
        w.sample(names::QUOTAS, &labels, t.quotas.quotas().count() as f64)?;
    }

    w.header(
        names::USAGE_METRICS,
        Kind::Gauge,
        "Distinct CloudWatch usage metrics queried for a target in its last usage refresh.",
        None,
    )?;
    for t in targets {
        let labels = [("cloud_account_id", t.account_label()), ("cloud_region", t.target.region.as_str())];
        w.sample(names::USAGE_METRICS, &labels, t.usage.metrics_queried as f64)?;
    }

    for family in counters {
        render_counter_family(w, family)?;
    }
    Ok(())
}

fn target_labels(t: &TargetSnapshot, source: Source) -> [(&'static str, &str); 3] {
    [("cloud_account_id", t.account_label()), ("cloud_region", t.target.region.as_str()), ("source", source.as_str())]
}

/// Renders a family gathered from the `prometheus` registry.
fn render_counter_family<W: Write>(w: &mut Writer<'_, W>, family: &prometheus::proto::MetricFamily) -> io::Result<()> {
    use prometheus::proto::MetricType;
    let name = family.name();
    let (kind, base) = match family.get_field_type() {
        MetricType::COUNTER => (Kind::Counter, name.strip_suffix("_total").unwrap_or(name)),
        _ => (Kind::Gauge, name),
    };
    w.header(base, kind, family.help(), None)?;
    for m in family.get_metric() {
        let labels: Vec<(&str, &str)> = m.get_label().iter().map(|l| (l.name(), l.value())).collect();
        let value = match kind {
            Kind::Counter => m.get_counter().get_value(),
            _ => m.get_gauge().get_value(),
        };
        w.sample(name, &labels, value)?;
    }
    Ok(())
}

/// Writes families and samples in one format.
struct Writer<'a, W> {
    out: &'a mut W,
    format: Format,
    series: usize,
}

impl<W: Write> Writer<'_, W> {
    /// Writes a family's metadata. `base` is the family name without `_total` or `_info`.
    fn header(&mut self, base: &str, kind: Kind, help: &str, unit: Option<&str>) -> io::Result<()> {
        match self.format {
            Format::Text => {
                let (name, type_name) = match kind {
                    Kind::Gauge => (base.to_owned(), "gauge"),
                    Kind::Counter => (format!("{base}_total"), "counter"),
                    Kind::Info => (format!("{base}_info"), "gauge"),
                };
                writeln!(self.out, "# HELP {name} {}", escape_help(help, false))?;
                writeln!(self.out, "# TYPE {name} {type_name}")
            }
            Format::OpenMetrics => {
                let type_name = match kind {
                    Kind::Gauge => "gauge",
                    Kind::Counter => "counter",
                    Kind::Info => "info",
                };
                writeln!(self.out, "# TYPE {base} {type_name}")?;
                if let Some(unit) = unit {
                    writeln!(self.out, "# UNIT {base} {unit}")?;
                }
                writeln!(self.out, "# HELP {base} {}", escape_help(help, true))
            }
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> io::Result<()> {
        self.out.write_all(name.as_bytes())?;
        if !labels.is_empty() {
            self.out.write_all(b"{")?;
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.write_all(b",")?;
                }
                self.out.write_all(k.as_bytes())?;
                self.out.write_all(b"=\"")?;
                write_label_value(self.out, v)?;
                self.out.write_all(b"\"")?;
            }
            self.out.write_all(b"}")?;
        }
        self.out.write_all(b" ")?;
        write_value(self.out, value)?;
        self.out.write_all(b"\n")?;
        self.series += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::OpenMetrics {
            self.out.write_all(b"# EOF\n")?;
        }
        self.out.flush()
    }
}

/// Escapes a label value: backslash, double quote and line feed (both formats).
fn write_label_value(out: &mut impl Write, v: &str) -> io::Result<()> {
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        return out.write_all(v.as_bytes());
    }
    for c in v.chars() {
        match c {
            '\\' => out.write_all(b"\\\\")?,
            '"' => out.write_all(b"\\\"")?,
            '\n' => out.write_all(b"\\n")?,
            c => write!(out, "{c}")?,
        }
    }
    Ok(())
}

/// Escapes HELP text: backslash and line feed, and in OpenMetrics also double quotes.
fn escape_help(help: &str, quotes: bool) -> String {
    let mut s = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '"' if quotes => s.push_str("\\\""),
            c => s.push(c),
        }
    }
    s
}

/// Formats a value as both formats expect: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
fn write_value(out: &mut impl Write, v: f64) -> io::Result<()> {
    if v.is_nan() {
        out.write_all(b"NaN")
    } else if v.is_infinite() {
        out.write_all(if v > 0.0 { b"+Inf" } else { b"-Inf" })
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        write!(out, "{}", v as i64)
    } else {
        write!(out, "{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(v: &str) -> String {
        let mut out = Vec::new();
        write_label_value(&mut out, v).expect("in memory");
        String::from_utf8(out).expect("utf-8")
    }

    fn value(v: f64) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v).expect("in memory");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        assert_eq!(label(r#"Running On-Demand (A, C) "x"/y\z"#), r#"Running On-Demand (A, C) \"x\"/y\\z"#);
        assert_eq!(label("two\nlines"), "two\\nlines");
        assert_eq!(label("plain"), "plain");
    }

    #[test]
    fn values_are_integers_where_whole_and_special_values_are_spelt_out() {
        assert_eq!(value(640.0), "640");
        assert_eq!(value(0.85), "0.85");
        assert_eq!(value(-3.0), "-3");
        assert_eq!(value(1e20), "100000000000000000000");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn help_escapes_quotes_only_in_openmetrics() {
        assert_eq!(escape_help("a \"b\"\\c\nd", false), "a \"b\"\\\\c\\nd");
        assert_eq!(escape_help("a \"b\"", true), "a \\\"b\\\"");
    }

    #[test]
    fn counters_and_info_families_are_named_per_format() {
        let mut text = Vec::new();
        let mut w = Writer { out: &mut text, format: Format::Text, series: 0 };
        w.header("x_calls", Kind::Counter, "h", None).expect("in memory");
        w.header("x", Kind::Info, "h", None).expect("in memory");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(text.contains("# TYPE x_calls_total counter\n"));
        assert!(text.contains("# TYPE x_info gauge\n"));

        let mut om = Vec::new();
        let mut w = Writer { out: &mut om, format: Format::OpenMetrics, series: 0 };
        w.header("x_calls", Kind::Counter, "h", None).expect("in memory");
        w.header("x", Kind::Info, "h", None).expect("in memory");
        w.header("x_seconds", Kind::Gauge, "h", Some("seconds")).expect("in memory");
        w.finish().expect("in memory");
        let om = String::from_utf8(om).expect("utf-8");
        assert!(om.contains("# TYPE x_calls counter\n"));
        assert!(om.contains("# TYPE x info\n"));
        assert!(om.contains("# UNIT x_seconds seconds\n"));
        assert!(om.ends_with("# EOF\n"));
    }
}
