//! The metric families: the public contract that alert rules, dashboards and the OTLP
//! output are built on.
//!
//! Each family is a name, a type, its units, a help text and a sample generator that
//! reads a snapshot. The Prometheus exposition (`crate::exposition`) and the OTLP push
//! (`crate::otlp`) both walk this one catalog, so the two outputs cannot drift apart.
//! A generator never calls AWS and never allocates per-series objects beyond its labels.

use std::io;
use std::sync::Arc;

use crate::collector::Source;
use crate::model::{Quota, usage_in_quota_terms, utilization};
use crate::selfmetrics::{Counter, Gauge, SelfMetrics};
use crate::snapshot::{Snapshot, TargetSnapshot};

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
    /// The longest a cold usage metric goes unread.
    pub usage_slowest: String,
    /// USD a month for the process's usage reads, if capped.
    pub cloudwatch_budget: Option<f64>,
    pub bedrock_lag: String,
    pub history_days: u32,
    /// Each enabled source's refresh interval, in seconds.
    pub refresh_intervals: Vec<(&'static str, f64)>,
    /// The configured failover pairs, published for the failover rules.
    pub failover_pairs: Vec<crate::config::FailoverPair>,
    /// The alert overrides, when a file is configured.
    pub overrides: Option<Arc<crate::overrides::Live>>,
}

/// Receives a family's samples.
pub trait Sink {
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> io::Result<()>;
}

/// What sample generators read.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    /// The live counters of the exporter itself.
    pub counters: &'a SelfMetrics,
}

type Samples = Box<dyn Fn(&Inputs<'_>, &mut dyn Sink) -> io::Result<()> + Send + Sync>;

/// One metric family.
pub struct Family {
    /// The name without `_total` (counters) or `_info` (info families).
    pub name: &'static str,
    pub kind: Kind,
    /// The OpenMetrics `UNIT`, which the name ends with.
    pub unit: Option<&'static str>,
    /// The OpenTelemetry unit (UCUM): `1` for ratios, `s` for seconds, `{token}` for counts.
    pub otel_unit: &'static str,
    pub help: String,
    samples: Samples,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family").field("name", &self.name).field("kind", &self.kind).finish()
    }
}

impl Family {
    /// The name of the OpenTelemetry instrument: counters without `_total` (a monotonic
    /// sum says it), info families with `_info`.
    pub fn otel_name(&self) -> String {
        match self.kind {
            Kind::Counter => self.name.to_owned(),
            Kind::Gauge | Kind::Info => self.sample_name(),
        }
    }

    /// The name samples carry: with `_total` for counters and `_info` for info families.
    pub fn sample_name(&self) -> String {
        match self.kind {
            Kind::Gauge => self.name.to_owned(),
            Kind::Counter => format!("{}_total", self.name),
            Kind::Info => format!("{}_info", self.name),
        }
    }

    /// Sends every sample of this family to `sink`.
    pub fn samples(&self, inputs: &Inputs<'_>, sink: &mut dyn Sink) -> io::Result<()> {
        (self.samples)(inputs, sink)
    }
}

fn family(
    name: &'static str,
    kind: Kind,
    unit: Option<&'static str>,
    otel_unit: &'static str,
    help: String,
    samples: impl Fn(&Inputs<'_>, &mut dyn Sink) -> io::Result<()> + Send + Sync + 'static,
) -> Family {
    Family { name, kind, unit, otel_unit, help, samples: Box::new(samples) }
}

/// A quota's usage in its own terms, when its metric has a reading.
pub fn usage_of(t: &TargetSnapshot, q: &Quota) -> Option<f64> {
    let reading = t.usage.readings.get(q.usage_metric.as_ref()?)?;
    Some(usage_in_quota_terms(reading.value, q.period))
}

/// Where a quota's usage comes from: `cloudwatch` (its usage metric in `AWS/Usage`, or
/// for a Bedrock quota linked to a model, `AWS/Bedrock`), or `none` (AWS publishes no
/// usage metric for it, so nothing can alert on its utilisation).
pub fn usage_source(t: &TargetSnapshot, q: &Quota) -> &'static str {
    let bedrock = &*q.service_code == "bedrock" && t.bedrock_runtime.links.contains_key(&q.code);
    if q.usage_metric.is_some() || bedrock { "cloudwatch" } else { "none" }
}

/// The identity labels of a per-quota series.
pub fn identity<'a>(t: &'a TargetSnapshot, q: &'a Quota) -> Vec<(&'static str, &'a str)> {
    let mut labels = Vec::with_capacity(11);
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

/// A family with one optional value per quota.
fn per_quota(
    name: &'static str,
    unit: Option<&'static str>,
    otel_unit: &'static str,
    help: String,
    value: fn(&TargetSnapshot, &Quota) -> Option<f64>,
) -> Family {
    family(name, Kind::Gauge, unit, otel_unit, help, move |inputs, sink| {
        for t in &inputs.snapshot.targets {
            for q in t.quotas.quotas() {
                if let Some(v) = value(t, q) {
                    sink.sample(&identity(t, q), v)?;
                }
            }
        }
        Ok(())
    })
}

fn place(t: &TargetSnapshot) -> [(&'static str, &str); 2] {
    [("cloud_account_id", t.account_label()), ("cloud_region", t.target.region.as_str())]
}

/// A family with one value per target and source that has a status, and for account
/// discovery (`source="organizations"`, in the exporter's own account and the region
/// Organizations lives in).
fn per_source(
    name: &'static str,
    unit: Option<&'static str>,
    otel_unit: &'static str,
    help: &str,
    value: fn(&crate::snapshot::SourceStatus) -> Option<f64>,
) -> Family {
    family(name, Kind::Gauge, unit, otel_unit, help.to_owned(), move |inputs, sink| {
        for t in &inputs.snapshot.targets {
            for (source, status) in &t.statuses {
                if let Some(v) = value(status) {
                    let [a, r] = place(t);
                    sink.sample(&[a, r, ("source", source.as_str())], v)?;
                }
            }
        }
        if let Some(d) = &inputs.snapshot.discovery
            && let Some(v) = value(&d.status)
        {
            let labels =
                [("cloud_account_id", d.account_id.as_str()), ("cloud_region", &d.region), ("source", "organizations")];
            sink.sample(&labels, v)?;
        }
        Ok(())
    })
}

/// Every account covered: those the fleet named, and any other a target published
/// under (the own account once STS has answered), each once, with its name and unit.
fn accounts(snapshot: &Snapshot) -> Vec<(&str, Option<&str>, Option<&str>)> {
    let mut out: std::collections::BTreeMap<&str, (Option<&str>, Option<&str>)> =
        snapshot.accounts.iter().map(|a| (a.id.as_str(), (a.name.as_deref(), a.unit.as_deref()))).collect();
    for t in &snapshot.targets {
        if !t.account_label().is_empty() {
            out.entry(t.account_label()).or_insert((None, None));
        }
    }
    out.into_iter().map(|(id, (name, unit))| (id, name, unit)).collect()
}

/// Calls `f` with each quota's effective overrides, where they differ from the defaults.
fn overridden(
    live: &crate::overrides::Live,
    inputs: &Inputs<'_>,
    mut f: impl FnMut(&TargetSnapshot, &Quota, crate::overrides::Effective) -> io::Result<()>,
) -> io::Result<()> {
    let overrides = live.current();
    let now = live.now();
    for t in &inputs.snapshot.targets {
        for q in t.quotas.quotas() {
            let e = overrides.effective(crate::overrides::identity(t, q), now);
            if !e.is_default() {
                f(t, q, e)?;
            }
        }
    }
    Ok(())
}

/// The per-quota alert thresholds and mutes that differ from the defaults, and the
/// overrides file's own health.
fn override_families(help: &HelpContext, out: &mut Vec<Family>) {
    let Some(live) = help.overrides.clone() else { return };
    let l = live.clone();
    out.push(family(
        "aws_quota_alert_threshold",
        Kind::Gauge,
        None,
        "1",
        "A quota's alert threshold where the overrides file (QUOTA_EXPORTER_ALERT_OVERRIDES) sets one, as a ratio of \
         the limit, per tier (info, warning, critical); quotas without an override have none and the rules use \
         their threshold:aws_quota_utilization:ratio defaults."
            .to_owned(),
        move |inputs, sink| {
            overridden(&l, inputs, |t, q, e| {
                for (k, (tier, _)) in crate::overrides::TIERS.iter().enumerate() {
                    if let Some(v) = e.tiers[k] {
                        let mut labels = identity(t, q);
                        labels.push(("tier", tier));
                        sink.sample(&labels, v)?;
                    }
                }
                Ok(())
            })
        },
    ));
    let l = live.clone();
    out.push(family(
        "aws_quota_alert_muted_until_timestamp_seconds",
        Kind::Gauge,
        Some("seconds"),
        "s",
        "Unix time until which the overrides file mutes a quota's utilisation alerts, with its reason; absent for \
         quotas that are not muted, and from the moment the mute ends."
            .to_owned(),
        move |inputs, sink| {
            overridden(&l, inputs, |t, q, e| match e.mute {
                Some((until, reason)) => {
                    let mut labels = identity(t, q);
                    labels.push(("reason", reason.as_str()));
                    sink.sample(&labels, until)
                }
                None => Ok(()),
            })
        },
    ));
    let l = live.clone();
    out.push(family(
        "aws_quota_exporter_alert_overrides_reload_success",
        Kind::Gauge,
        None,
        "",
        "1 if the alert overrides file in use is the file on disk, 0 if its latest edit is not valid (the last good \
         file stays in use; the log says why)."
            .to_owned(),
        move |_, sink| sink.sample(&[], if l.error().is_none() { 1.0 } else { 0.0 }),
    ));
    let l = live.clone();
    out.push(family(
        "aws_quota_exporter_alert_overrides_last_reload_success_timestamp_seconds",
        Kind::Gauge,
        Some("seconds"),
        "s",
        "Unix time the alert overrides file was last read successfully.".to_owned(),
        move |_, sink| sink.sample(&[], l.loaded_at()),
    ));
    out.push(family(
        "aws_quota_exporter_alert_override_quotas",
        Kind::Gauge,
        None,
        "",
        "How many quotas each entry of the alert overrides file (by its line) selects; 0 is an entry that selects \
         nothing the exporter collects (a mistyped code or a glob that matches nothing)."
            .to_owned(),
        move |inputs, sink| {
            let overrides = live.current();
            let counts = overrides.selections(inputs.snapshot);
            for (e, n) in overrides.entries.iter().zip(counts) {
                sink.sample(&[("line", &e.line.to_string())], n as f64)?;
            }
            Ok(())
        },
    ));
}

/// The failover pairs of the accounts this process covers.
fn failover_family(help: &HelpContext, out: &mut Vec<Family>) {
    let pairs = help.failover_pairs.clone();
    out.push(family(
        "aws_quota_failover_pair",
        Kind::Info,
        None,
        "",
        "A configured failover pair of an account this process covers (value 1): the standby region must be able to \
         carry the primary region's load (QUOTA_EXPORTER_FAILOVER_PAIRS; the failover rules join on it)."
            .to_owned(),
        move |inputs, sink| {
            for (id, _, _) in accounts(inputs.snapshot) {
                for p in pairs.iter().filter(|p| p.covers(id)) {
                    let labels =
                        [("cloud_account_id", id), ("primary_region", &*p.primary), ("standby_region", &*p.standby)];
                    sink.sample(&labels, 1.0)?;
                }
            }
            Ok(())
        },
    ));
}

fn account_families(out: &mut Vec<Family>) {
    out.push(family(
        "aws_account",
        Kind::Info,
        None,
        "",
        "An AWS account the exporter covers (value 1): its name and organizational unit from AWS Organizations or \
         the configuration; the name is the account id where none is known."
            .to_owned(),
        |inputs, sink| {
            for (id, name, unit) in accounts(inputs.snapshot) {
                let labels = [
                    ("cloud_account_id", id),
                    ("account_name", name.unwrap_or(id)),
                    ("organizational_unit", unit.unwrap_or("")),
                ];
                sink.sample(&labels, 1.0)?;
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_quota_exporter_account_up",
        Kind::Gauge,
        None,
        "",
        "1 if some source of some region of the account could be refreshed at its latest refresh, 0 if none (its role \
         cannot be assumed, or every call failed). The last good values of a failing account are kept."
            .to_owned(),
        |inputs, sink| {
            // Only once a target of the account has refreshed: a new account is not down.
            for (id, _, _) in accounts(inputs.snapshot) {
                if let Some(up) = inputs.snapshot.account_up(id) {
                    sink.sample(&[("cloud_account_id", id)], if up { 1.0 } else { 0.0 })?;
                }
            }
            Ok(())
        },
    ));
}

/// A family with one value per target.
fn per_target(
    name: &'static str,
    unit: Option<&'static str>,
    otel_unit: &'static str,
    help: &str,
    value: fn(&TargetSnapshot) -> Option<f64>,
) -> Family {
    family(name, Kind::Gauge, unit, otel_unit, help.to_owned(), move |inputs, sink| {
        for t in &inputs.snapshot.targets {
            if let Some(v) = value(t) {
                sink.sample(&place(t), v)?;
            }
        }
        Ok(())
    })
}

/// A family with one value per Bedrock model id that has a runtime report.
fn per_model(
    name: &'static str,
    kind: Kind,
    unit: Option<&'static str>,
    otel_unit: &'static str,
    help: String,
    value: impl Fn(&crate::bedrock::runtime::ModelReport) -> Option<f64> + Send + Sync + 'static,
) -> Family {
    family(name, kind, unit, otel_unit, help, move |inputs, sink| {
        for t in &inputs.snapshot.targets {
            for r in &t.bedrock_runtime.reports {
                if let Some(v) = value(r) {
                    let [a, g] = place(t);
                    sink.sample(&[a, g, ("model_id", r.model_id.as_str())], v)?;
                }
            }
        }
        Ok(())
    })
}

/// A family of each Bedrock forecast.
fn per_bedrock_forecast(
    name: &'static str,
    unit: Option<&'static str>,
    otel_unit: &'static str,
    help: String,
    value: fn(&crate::forecast::Forecast) -> Option<f64>,
) -> Family {
    family(name, Kind::Gauge, unit, otel_unit, help, move |inputs, sink| {
        for t in &inputs.snapshot.targets {
            for (model, m, f) in &t.forecasts.bedrock {
                if let Some(v) = value(f) {
                    let [a, g] = place(t);
                    let labels = [
                        a,
                        g,
                        ("model_id", model.as_str()),
                        ("quota_code", m.quota_code.as_str()),
                        ("kind", m.kind.as_str()),
                        ("scope", m.scope.as_str()),
                    ];
                    sink.sample(&labels, v)?;
                }
            }
        }
        Ok(())
    })
}

/// A counter of the exporter itself, its labels named as `counter` keys them.
fn self_counter<const N: usize>(
    name: &'static str,
    otel_unit: &'static str,
    help: &str,
    labels: [&'static str; N],
    counter: fn(&SelfMetrics) -> &Counter<N>,
) -> Family {
    family(name, Kind::Counter, None, otel_unit, help.to_owned(), move |inputs, sink| {
        for (values, v) in counter(inputs.counters).values() {
            let pairs: [(&str, &str); N] = std::array::from_fn(|i| (labels[i], values[i].as_str()));
            sink.sample(&pairs, v as f64)?;
        }
        Ok(())
    })
}

/// A gauge of the exporter itself, without labels, present once it has been set.
fn self_gauge(
    name: &'static str,
    unit: Option<&'static str>,
    otel_unit: &'static str,
    help: &str,
    gauge: fn(&SelfMetrics) -> &Gauge,
) -> Family {
    family(name, Kind::Gauge, unit, otel_unit, help.to_owned(), move |inputs, sink| {
        match gauge(inputs.counters).get() {
            Some(v) => sink.sample(&[], v),
            None => Ok(()),
        }
    })
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

fn quota_forecast(t: &TargetSnapshot, q: &Quota) -> Option<crate::forecast::Forecast> {
    t.forecasts.quotas.get(&(q.service_code.clone(), q.code.clone(), q.resource.clone())).cloned()
}

/// Every family, in exposition order.
pub fn catalog(help: &HelpContext) -> Vec<Family> {
    let mut out = Vec::with_capacity(48);
    quota_families(help, &mut out);
    forecast_families(help, &mut out);
    bedrock_families(help, &mut out);
    bedrock_forecast_families(help, &mut out);
    increase_families(&mut out);
    account_families(&mut out);
    failover_family(help, &mut out);
    override_families(help, &mut out);
    self_families(help, &mut out);
    out
}

fn quota_families(help: &HelpContext, out: &mut Vec<Family>) {
    out.push(family(
        "aws_quota",
        Kind::Info,
        None,
        "",
        format!(
            "Static facts about an AWS service quota (value 1): its service and quota names, unit, whether it is \
             adjustable and global, and where its usage comes from (usage_source: cloudwatch, or none where AWS \
             publishes no usage metric). From Service Quotas, refreshed every {}.",
            help.limits_interval
        ),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for q in t.quotas.quotas() {
                    let mut labels = identity(t, q);
                    labels.extend([
                        ("service_name", &*q.service_name),
                        ("quota_name", q.name.as_str()),
                        ("unit", q.unit.as_str()),
                        ("adjustable", bool_str(q.adjustable)),
                        ("global", bool_str(q.global)),
                        ("usage_source", usage_source(t, q)),
                    ]);
                    sink.sample(&labels, 1.0)?;
                }
            }
            Ok(())
        },
    ));
    out.push(per_quota(
        "aws_quota_limit",
        None,
        "",
        format!(
            "The quota's applied value, or the AWS default where no value is applied, in the quota's unit. \
             From Service Quotas (ListServiceQuotas and ListAWSDefaultServiceQuotas), refreshed every {}.",
            help.limits_interval
        ),
        |_, q| q.limit,
    ));
    out.push(per_quota(
        "aws_quota_default_limit",
        None,
        "",
        format!(
            "The quota's AWS default value. From Service Quotas (ListAWSDefaultServiceQuotas), refreshed every {}.",
            help.limits_interval
        ),
        |_, q| q.default_limit,
    ));
    out.push(per_quota(
        "aws_quota_usage",
        None,
        "",
        format!(
            "Current usage in the quota's unit: the latest one-minute datapoint of the quota's CloudWatch usage metric \
             within the {} before its last read, with its recommended statistic; rate quotas are converted to the \
             quota's period. Read every {} to {} (aws_quota_usage_read_interval_seconds; its time is \
             aws_quota_usage_timestamp_seconds); absent when CloudWatch had no datapoint.",
            help.usage_lookback, help.usage_interval, help.usage_slowest
        ),
        usage_of,
    ));
    out.push(per_quota(
        "aws_quota_utilization_ratio",
        None,
        "1",
        format!(
            "aws_quota_usage divided by aws_quota_limit (0 to 1 and above). Refreshed every {}; absent where usage is \
             unknown or the limit is 0.",
            help.usage_interval
        ),
        |t, q| usage_of(t, q).and_then(|u| utilization(u, q.limit)),
    ));
    out.push(per_quota(
        "aws_quota_usage_peak",
        None,
        "",
        format!(
            "The highest one-minute datapoint of the quota's usage metric over the {} before its latest read, in the \
             quota's unit: a peak between two reads of a slowly read metric shows here, later, never lost.",
            help.usage_slowest
        ),
        |t, q| {
            let state = t.usage.schedule.state(q.usage_metric.as_ref()?)?;
            Some(usage_in_quota_terms(state.peak()?, q.period))
        },
    ));
    out.push(per_quota(
        "aws_quota_usage_timestamp_seconds",
        Some("seconds"),
        "s",
        "When the datapoint behind aws_quota_usage was measured (Unix time): time() minus this is the reading's age."
            .to_owned(),
        |t, q| Some(t.usage.readings.get(q.usage_metric.as_ref()?)?.timestamp),
    ));
    out.push(per_quota(
        "aws_quota_usage_read_interval_seconds",
        Some("seconds"),
        "s",
        format!(
            "How often the quota's usage metric is read now: at every usage refresh ({}) when it is at its lowest alert \
             tier, jumped to it in the last 14 days or could climb to it before the next refresh; up to {} when cold \
             and flat, or when the CloudWatch budget stretches it.",
            help.usage_interval, help.usage_slowest
        ),
        |t, q| Some(t.usage.schedule.state(q.usage_metric.as_ref()?)?.scheduled),
    ));
}

fn forecast_families(help: &HelpContext, out: &mut Vec<Family>) {
    let [forecast, trend, exhaustion, r2, recommended] = forecast_help(help, "the quota's daily usage");
    out.push(family("aws_quota_usage_forecast", Kind::Gauge, None, "", forecast, |inputs, sink| {
        for t in &inputs.snapshot.targets {
            for q in t.quotas.quotas() {
                if let Some(f) = quota_forecast(t, q) {
                    for ((_, horizon), value) in crate::forecast::HORIZONS.iter().zip(f.at) {
                        let mut labels = identity(t, q);
                        labels.push(("horizon", horizon));
                        sink.sample(&labels, value)?;
                    }
                }
            }
        }
        Ok(())
    }));
    out.push(per_quota("aws_quota_usage_trend_per_day", None, "", trend, |t, q| {
        quota_forecast(t, q).map(|f| f.slope_per_day)
    }));
    out.push(per_quota("aws_quota_forecast_exhaustion_timestamp_seconds", Some("seconds"), "s", exhaustion, |t, q| {
        quota_forecast(t, q).and_then(|f| f.exhaustion)
    }));
    out.push(per_quota("aws_quota_forecast_fit_r2", None, "1", r2, |t, q| quota_forecast(t, q).map(|f| f.r2)));
    out.push(per_quota("aws_quota_recommended_limit", None, "", recommended, |t, q| {
        quota_forecast(t, q).and_then(|f| f.recommended_limit)
    }));
}

fn bedrock_families(help: &HelpContext, out: &mut Vec<Family>) {
    out.push(family(
        "aws_bedrock_model",
        Kind::Info,
        None,
        "",
        format!(
            "A Bedrock foundation model available in the region (value 1). From ListFoundationModels, refreshed every {}.",
            help.limits_interval
        ),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for m in &t.bedrock.models {
                    let [a, r] = place(t);
                    sink.sample(&[a, r, ("model_id", &m.id), ("provider", &m.provider), ("model_name", &m.name)], 1.0)?;
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_bedrock_inference_profile",
        Kind::Info,
        None,
        "",
        format!(
            "A Bedrock inference profile (value 1): type SYSTEM_DEFINED or APPLICATION, and the comma-separated models it \
             routes to. From ListInferenceProfiles, refreshed every {}.",
            help.limits_interval
        ),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for p in &t.bedrock.profiles {
                    let [a, r] = place(t);
                    let models = p.model_ids.join(",");
                    let labels = [
                        a,
                        r,
                        ("inference_profile_id", p.id.as_str()),
                        ("inference_profile_name", p.name.as_str()),
                        ("type", p.kind.as_str()),
                        ("models", models.as_str()),
                    ];
                    sink.sample(&labels, 1.0)?;
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_bedrock_provisioned_model_units",
        Kind::Gauge,
        None,
        "{unit}",
        format!(
            "Model units of a Bedrock provisioned throughput, with its model and status. From \
             ListProvisionedModelThroughputs, refreshed every {}.",
            help.limits_interval
        ),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for p in &t.bedrock.provisioned {
                    let [a, r] = place(t);
                    let labels = [
                        a,
                        r,
                        ("provisioned_model_name", p.name.as_str()),
                        ("model_id", p.model_id.as_str()),
                        ("status", p.status.as_str()),
                    ];
                    sink.sample(&labels, f64::from(p.model_units))?;
                }
            }
            Ok(())
        },
    ));
    const COUNTERS: [(&str, &str, &str); 6] = [
        ("aws_bedrock_invocations", "Invocations", "{request}"),
        ("aws_bedrock_invocation_throttles", "InvocationThrottles", "{request}"),
        ("aws_bedrock_invocation_client_errors", "InvocationClientErrors", "{request}"),
        ("aws_bedrock_invocation_server_errors", "InvocationServerErrors", "{request}"),
        ("aws_bedrock_input_tokens", "InputTokenCount", "{token}"),
        ("aws_bedrock_output_tokens", "OutputTokenCount", "{token}"),
    ];
    for (i, (name, cloudwatch, otel_unit)) in COUNTERS.into_iter().enumerate() {
        let help = format!(
            "Sum of AWS/Bedrock {cloudwatch} per ModelId, each CloudWatch minute counted once, {} behind real time \
             so that late data is included. Updated every {}.",
            help.bedrock_lag, help.usage_interval
        );
        out.push(per_model(name, Kind::Counter, None, otel_unit, help, move |r| r.totals.map(|t| t[i])));
    }
    out.push(per_model(
        "aws_bedrock_invocation_latency_seconds",
        Kind::Gauge,
        Some("seconds"),
        "s",
        format!(
            "Average AWS/Bedrock InvocationLatency of the latest complete minute, per ModelId. Updated every {}; absent \
             without data in the last {}.",
            help.usage_interval, help.usage_lookback
        ),
        |r| r.recent.then_some(r.latency_seconds).flatten(),
    ));
    out.push(per_model(
        "aws_bedrock_estimated_tpm_quota_usage",
        Kind::Gauge,
        None,
        "{token}",
        format!(
            "AWS/Bedrock EstimatedTPMQuotaUsage of the latest complete minute, per ModelId: tokens counted against the \
             tokens-per-minute quota, burndown included. Updated every {}.",
            help.usage_interval
        ),
        |r| r.recent.then_some(r.estimated_tpm).flatten(),
    ));
    out.push(family(
        "aws_bedrock_quota_utilization_ratio",
        Kind::Gauge,
        None,
        "1",
        format!(
            "Utilisation of the Bedrock quota that governs a ModelId: tokens_per_minute is the peak minute of \
             EstimatedTPMQuotaUsage in the last {lookback} over the quota; requests_per_minute the peak minute of \
             Invocations over the quota; tokens_per_day the input and output tokens of the last 24 hours over the quota. \
             scope is on_demand, cross_region or global. Updated every {interval}.",
            lookback = help.usage_lookback,
            interval = help.usage_interval
        ),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for r in &t.bedrock_runtime.reports {
                    for u in &r.utilization {
                        let [a, g] = place(t);
                        let labels = [
                            a,
                            g,
                            ("model_id", r.model_id.as_str()),
                            ("quota_code", u.quota.quota_code.as_str()),
                            ("kind", u.quota.kind.as_str()),
                            ("scope", u.quota.scope.as_str()),
                        ];
                        sink.sample(&labels, u.ratio)?;
                    }
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_bedrock_model_quota_matched",
        Kind::Gauge,
        None,
        "",
        "1 if a tokens-per-minute quota was matched to a ModelId with traffic in the lookback window, 0 if none was; \
         method says how: usage_metric (the quota's usage metric in Service Quotas names the ModelId), name (the \
         quota's name names its model), none."
            .to_owned(),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for r in t.bedrock_runtime.reports.iter().filter(|r| r.recent) {
                    let [a, g] = place(t);
                    let method = r.matched.map_or("none", |m| m.as_str());
                    let value = if r.matched.is_some() { 1.0 } else { 0.0 };
                    sink.sample(&[a, g, ("model_id", r.model_id.as_str()), ("method", method)], value)?;
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_bedrock_throttle_onset_per_minute",
        Kind::Gauge,
        None,
        "1/min",
        "The load at which a ModelId's throttling begins, estimated from the minutes of the last 3 days that had \
         throttles (at least 10): the lowest of their loads once the lowest tenth is set aside. kind \
         tokens_per_minute is EstimatedTPMQuotaUsage, requests_per_minute is invocations plus throttles. Absent \
         for a ModelId without enough throttled minutes. Costs no invocation."
            .to_owned(),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for r in &t.bedrock_runtime.reports {
                    for o in &r.onsets {
                        let [a, g] = place(t);
                        sink.sample(
                            &[a, g, ("model_id", r.model_id.as_str()), ("kind", o.kind.as_str())],
                            o.per_minute,
                        )?;
                    }
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_bedrock_throttle_onset_ratio",
        Kind::Gauge,
        None,
        "1",
        "aws_bedrock_throttle_onset_per_minute over the limit of the quota of that kind that governs the ModelId. Well \
         below 1: something other than that quota throttles (reserved max_tokens, a shared cross-region pool, a lower \
         value applied elsewhere)."
            .to_owned(),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for r in &t.bedrock_runtime.reports {
                    for o in &r.onsets {
                        let Some((code, ratio)) = &o.quota else { continue };
                        let [a, g] = place(t);
                        let labels =
                            [a, g, ("model_id", r.model_id.as_str()), ("kind", o.kind.as_str()), ("quota_code", code)];
                        sink.sample(&labels, *ratio)?;
                    }
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_quota_exporter_bedrock_model_names",
        Kind::Info,
        None,
        "",
        "Where a target's Bedrock model ids were named for matching them to quotas (value 1): inventory (the \
         region's own ListFoundationModels), other_regions (its list is missing, denied or failing since start: other \
         regions' lists), model_ids (some id is in no list: its words were read from the id)."
            .to_owned(),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                if let Some(source) = t.bedrock_runtime.names.filter(|_| !t.bedrock_runtime.reports.is_empty()) {
                    let [a, g] = place(t);
                    sink.sample(&[a, g, ("source", source.as_str())], 1.0)?;
                }
            }
            Ok(())
        },
    ));
}

fn bedrock_forecast_families(help: &HelpContext, out: &mut Vec<Family>) {
    let [forecast, trend, exhaustion, r2, recommended] =
        forecast_help(help, "a Bedrock model id's daily EstimatedTPMQuotaUsage, against its tokens-per-minute quota,");
    out.push(family("aws_bedrock_quota_usage_forecast", Kind::Gauge, None, "{token}", forecast, |inputs, sink| {
        for t in &inputs.snapshot.targets {
            for (model, m, f) in &t.forecasts.bedrock {
                for ((_, horizon), value) in crate::forecast::HORIZONS.iter().zip(f.at) {
                    let [a, g] = place(t);
                    let labels = [
                        a,
                        g,
                        ("model_id", model.as_str()),
                        ("quota_code", m.quota_code.as_str()),
                        ("kind", m.kind.as_str()),
                        ("scope", m.scope.as_str()),
                        ("horizon", horizon),
                    ];
                    sink.sample(&labels, value)?;
                }
            }
        }
        Ok(())
    }));
    out.push(per_bedrock_forecast("aws_bedrock_quota_usage_trend_per_day", None, "{token}", trend, |f| {
        Some(f.slope_per_day)
    }));
    out.push(per_bedrock_forecast(
        "aws_bedrock_quota_forecast_exhaustion_timestamp_seconds",
        Some("seconds"),
        "s",
        exhaustion,
        |f| f.exhaustion,
    ));
    out.push(per_bedrock_forecast("aws_bedrock_quota_forecast_fit_r2", None, "1", r2, |f| Some(f.r2)));
    out.push(per_bedrock_forecast("aws_bedrock_quota_recommended_limit", None, "{token}", recommended, |f| {
        f.recommended_limit
    }));
}

fn increase_families(out: &mut Vec<Family>) {
    out.push(family(
        "aws_quota_increase_request_open",
        Kind::Gauge,
        None,
        "1",
        "Value 1 for each quota with an open automatic increase request, by its state in the receiver \
         (checking, awaiting_approval, approved, filing, filed) and its status in AWS (PENDING, CASE_OPENED; \
         empty before it is filed). The region is where it is filed: us-east-1 for a global quota."
            .to_owned(),
        |inputs, sink| {
            for e in inputs.snapshot.increase_requests.iter() {
                let labels = [
                    ("cloud_account_id", e.key.account.as_str()),
                    ("cloud_region", e.key.region.as_str()),
                    ("service_code", e.key.service_code.as_str()),
                    ("quota_code", e.key.quota_code.as_str()),
                    ("state", e.state.as_str()),
                    ("status", e.aws_status.as_deref().unwrap_or_default()),
                ];
                sink.sample(&labels, 1.0)?;
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_quota_increase_request_desired_value",
        Kind::Gauge,
        None,
        "",
        "The value an open automatic increase request asks for, in the quota's unit.".to_owned(),
        |inputs, sink| {
            for e in inputs.snapshot.increase_requests.iter() {
                if let Some(v) = e.desired_value {
                    let labels = [
                        ("cloud_account_id", e.key.account.as_str()),
                        ("cloud_region", e.key.region.as_str()),
                        ("service_code", e.key.service_code.as_str()),
                        ("quota_code", e.key.quota_code.as_str()),
                    ];
                    sink.sample(&labels, v)?;
                }
            }
            Ok(())
        },
    ));
    out.push(self_counter(
        "aws_quota_increase_requests",
        "{decision}",
        "Decisions of the automatic increase receiver by outcome (filed, dry_run, awaiting_approval, rejected, skipped, \
         failed, resolved; approved, denied and the other AWS statuses as requests close; abandoned and reconciled \
         after a restart) and reason (for skipped and failed).",
        ["outcome", "reason"],
        |m| &m.increase_requests,
    ));
    out.push(self_gauge(
        "aws_quota_increase_ledger_available",
        None,
        "",
        "1 while the increase receiver's ledger is open, 0 while it cannot be opened: the receiver then answers 503 \
         (Alertmanager retries) and tries again in the background. Absent without the receiver.",
        |m| &m.increase_ledger_available,
    ));
}

fn self_families(help: &HelpContext, out: &mut Vec<Family>) {
    out.push(family(
        "aws_quota_exporter_build",
        Kind::Info,
        None,
        "",
        "Build information of the exporter (value 1).".to_owned(),
        |_, sink| sink.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0),
    ));
    let intervals = help.refresh_intervals.clone();
    out.push(family(
        "aws_quota_exporter_refresh_interval_seconds",
        Kind::Gauge,
        Some("seconds"),
        "s",
        "How often each source is refreshed, as configured; data older than a few intervals is stale.".to_owned(),
        move |_, sink| {
            for (source, seconds) in &intervals {
                sink.sample(&[("source", source)], *seconds)?;
            }
            Ok(())
        },
    ));
    out.push(per_source(
        "aws_quota_exporter_refresh_success",
        None,
        "",
        &format!(
            "1 if the last refresh of a target's source ({}) succeeded completely, 0 if any part failed.",
            help.refresh_intervals.iter().map(|(source, _)| *source).collect::<Vec<_>>().join(", ")
        ),
        |s| Some(if s.success { 1.0 } else { 0.0 }),
    ));
    out.push(per_source(
        "aws_quota_exporter_last_success_timestamp_seconds",
        Some("seconds"),
        "s",
        "Unix time of the last fully successful refresh of a target's source. Values of a failing source are kept; \
         their age is time() minus this.",
        |s| s.last_success,
    ));
    out.push(per_source(
        "aws_quota_exporter_last_refresh_timestamp_seconds",
        Some("seconds"),
        "s",
        "Unix time of the last refresh attempt of a target's source, successful or not.",
        |s| Some(s.last_attempt),
    ));
    out.push(per_source(
        "aws_quota_exporter_refresh_duration_seconds",
        Some("seconds"),
        "s",
        "How long the last refresh of a target's source took, AWS calls included.",
        |s| Some(s.duration_seconds),
    ));
    out.push(family(
        "aws_quota_exporter_service_refresh_success",
        Kind::Gauge,
        None,
        "",
        "1 if the last listing of a service's quotas succeeded, 0 if it failed (its last good quotas are kept)."
            .to_owned(),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for s in t.quotas.services.values() {
                    let [a, r] = place(t);
                    sink.sample(
                        &[a, r, ("service_code", s.info.code.as_str())],
                        if s.error.is_none() { 1.0 } else { 0.0 },
                    )?;
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_quota_exporter_service_last_success_timestamp_seconds",
        Kind::Gauge,
        Some("seconds"),
        "s",
        "Unix time of the last successful listing of a service's quotas; their age is time() minus this.".to_owned(),
        |inputs, sink| {
            for t in &inputs.snapshot.targets {
                for s in t.quotas.services.values() {
                    if let Some(at) = s.last_success {
                        let [a, r] = place(t);
                        sink.sample(&[a, r, ("service_code", s.info.code.as_str())], at)?;
                    }
                }
            }
            Ok(())
        },
    ));
    out.push(family(
        "aws_quota_exporter_bedrock_uncounted_seconds",
        Kind::Counter,
        Some("seconds"),
        "s",
        "Seconds of Bedrock model data given up on (summed over models) because a model could not be read for longer \
         than the three-hour catch-up limit; the Bedrock counters miss these."
            .to_owned(),
        |inputs, sink| {
            for t in inputs.snapshot.targets.iter().filter(|t| t.statuses.contains_key(&Source::BedrockRuntime)) {
                sink.sample(&place(t), t.bedrock_runtime.state.skipped_minutes as f64 * 60.0)?;
            }
            Ok(())
        },
    ));
    out.push(per_target(
        "aws_quota_exporter_quotas",
        None,
        "{quota}",
        "Quotas published for a target (series of aws_quota_info).",
        |t| Some(t.quotas.quotas().count() as f64),
    ));
    out.push(per_target(
        "aws_quota_exporter_usage_metrics",
        None,
        "{metric}",
        "Distinct CloudWatch usage metrics read for a target in its last usage refresh (the others were not due).",
        |t| Some(t.usage.metrics_queried as f64),
    ));
    out.push(per_target(
        "aws_quota_exporter_cloudwatch_projected_monthly_cost_usd",
        None,
        "USD",
        "USD a month the target's usage reads cost at their current cadences (30 days, USD 0.01 per 1,000 metrics \
         requested); Bedrock and history reads are not included.",
        |t| t.statuses.contains_key(&Source::Usage).then_some(t.usage.cost.projected),
    ));
    out.push(per_target(
        "aws_quota_exporter_cloudwatch_hot_monthly_cost_usd",
        None,
        "USD",
        "USD a month the target's hot usage metrics (near or climbing to the lowest alert tier) cost at the fastest \
         cadence, which the budget never slows.",
        |t| t.statuses.contains_key(&Source::Usage).then_some(t.usage.cost.hot),
    ));
    let budget = help.cloudwatch_budget;
    out.push(family(
        "aws_quota_exporter_cloudwatch_budget_usd",
        Kind::Gauge,
        None,
        "USD",
        "QUOTA_EXPORTER_CLOUDWATCH_BUDGET: USD a month this process may spend on usage reads; absent without a budget."
            .to_owned(),
        move |_, sink| match budget {
            Some(b) => sink.sample(&[], b),
            None => Ok(()),
        },
    ));
    out.push(per_target(
        "aws_quota_exporter_cloudwatch_budget_share_usd",
        None,
        "USD",
        "The target's share of QUOTA_EXPORTER_CLOUDWATCH_BUDGET (USD a month), in proportion to its usage metrics; \
         absent without a budget.",
        |t| t.usage.budget_share,
    ));
    out.push(self_counter(
        "aws_quota_exporter_aws_api_calls",
        "{call}",
        "AWS API requests sent, every HTTP attempt including retries, by AWS service, operation and outcome \
         (ok, throttled, timeout, error). Counted as requests complete; published at each refresh.",
        ["aws_service", "cloud_account_id", "cloud_region", "operation", "outcome"],
        |m| &m.api_calls,
    ));
    out.push(self_counter(
        "aws_quota_exporter_cloudwatch_metrics_requested",
        "{metric}",
        "CloudWatch metrics requested through GetMetricData, the unit AWS bills it by \
         (USD 0.01 per 1,000 in the standard tier). Published at each refresh.",
        ["cloud_account_id", "cloud_region"],
        |m| &m.metrics_requested,
    ));
    out.push(self_counter(
        "aws_quota_exporter_task_restarts",
        "{restart}",
        "Background tasks restarted after a panic, by task (refresh, tracker, renderer): the panic is logged and the \
         task starts again, so a count here is a bug to report.",
        ["task"],
        |m| &m.task_restarts,
    ));
    out.push(self_gauge(
        "aws_quota_exporter_http_connections",
        None,
        "{connection}",
        "HTTP connections open now, scrapes and webhook deliveries alike; the server holds at most \
         QUOTA_EXPORTER_MAX_CONNECTIONS.",
        |m| &m.http_connections,
    ));
    out.push(self_counter(
        "aws_quota_exporter_http_connections_closed",
        "{connection}",
        "HTTP connections the server closed itself, by reason: header_timeout (no complete request head in time, idle \
         keep-alive connections included), send_timeout (a response not sent within its deadline), evicted (the \
         oldest idle connection, to make room at the connection cap), per_client_limit (refused: its address already \
         holds an eighth of the cap).",
        ["reason"],
        |m| &m.http_connections_closed,
    ));
    out.push(self_counter(
        "aws_quota_exporter_otlp_exports",
        "{export}",
        "OTLP export requests by outcome (ok, error); a large snapshot is pushed in several. A failed request is \
         dropped, not retried: the next push carries the whole snapshot again.",
        ["outcome"],
        |m| &m.otlp_exports,
    ));
    out.push(self_gauge(
        "aws_quota_exporter_otlp_last_export_duration_seconds",
        Some("seconds"),
        "s",
        "How long the last OTLP export request took, successful or not.",
        |m| &m.otlp_last_export,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_units_are_suffixes() {
        let families = catalog(&HelpContext::default());
        let mut names: Vec<String> = families.iter().map(Family::sample_name).collect();
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate family names");
        for f in &families {
            if let Some(unit) = f.unit {
                assert!(f.name.ends_with(&format!("_{unit}")), "{} must end with its unit {unit}", f.name);
            }
            if f.name.ends_with("_ratio") || f.name.ends_with("_r2") {
                assert_eq!(f.otel_unit, "1", "{} is a ratio", f.name);
            }
            if f.name.ends_with("_seconds") {
                assert_eq!(f.otel_unit, "s", "{} is in seconds", f.name);
            }
        }
    }
}
