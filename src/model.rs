//! Domain types: what a quota, a usage metric and a reading are, independent of the
//! AWS SDK. Only `aws` turns SDK types into these; everything else sees only these.
//!
//! The usage arithmetic lives here as pure functions, because it is where quota tools
//! go wrong: which statistic to read, and how a per-minute datapoint becomes usage in
//! the quota's own unit and period.

use std::sync::Arc;

/// A collection target: one account and one region. Multi-account collection adds
/// targets (each with its own credentials); nothing downstream changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub region: String,
}

/// The statistic a usage metric is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Statistic {
    Maximum,
    Sum,
}

impl Statistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Maximum => "Maximum",
            Statistic::Sum => "Sum",
        }
    }

    /// The statistic to read a usage metric with.
    ///
    /// AWS's recommendation is followed, except for `AWS/Usage` `ResourceCount`: that
    /// metric is a level (how many vCPUs are running), so several samples in a minute
    /// must never be added up. Summing them is how other tools reported 618 % of a
    /// vCPU quota. A missing or unknown recommendation reads `Maximum`, the statistic
    /// that never inflates a level.
    pub fn for_usage(namespace: &str, metric_name: &str, recommendation: Option<&str>) -> Statistic {
        if namespace == "AWS/Usage" && metric_name == "ResourceCount" {
            return Statistic::Maximum;
        }
        match recommendation {
            Some("Sum") => Statistic::Sum,
            _ => Statistic::Maximum,
        }
    }
}

/// The CloudWatch metric that measures a quota's usage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageMetric {
    pub namespace: String,
    pub name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
    pub statistic: Statistic,
}

/// The unit of a rate quota's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
}

impl PeriodUnit {
    pub fn parse(s: &str) -> Option<PeriodUnit> {
        Some(match s {
            "MICROSECOND" => PeriodUnit::Microsecond,
            "MILLISECOND" => PeriodUnit::Millisecond,
            "SECOND" => PeriodUnit::Second,
            "MINUTE" => PeriodUnit::Minute,
            "HOUR" => PeriodUnit::Hour,
            "DAY" => PeriodUnit::Day,
            "WEEK" => PeriodUnit::Week,
            _ => return None,
        })
    }

    fn seconds(self) -> f64 {
        match self {
            PeriodUnit::Microsecond => 1e-6,
            PeriodUnit::Millisecond => 1e-3,
            PeriodUnit::Second => 1.0,
            PeriodUnit::Minute => 60.0,
            PeriodUnit::Hour => 3600.0,
            PeriodUnit::Day => 86_400.0,
            PeriodUnit::Week => 604_800.0,
        }
    }
}

/// A rate quota's period, such as "per 1 second".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaPeriod {
    pub value: u32,
    pub unit: PeriodUnit,
}

impl QuotaPeriod {
    pub fn seconds(self) -> f64 {
        f64::from(self.value) * self.unit.seconds()
    }
}

/// The CloudWatch period usage is read at, in seconds.
pub const USAGE_PERIOD_SECONDS: u32 = 60;

/// Usage in the quota's own terms from one per-minute datapoint.
///
/// A quota without a period is a level: the datapoint is the usage. A rate quota
/// (a `Period`, e.g. requests per second) counts events per period, so the events of
/// one minute are converted to the quota's period: 480,000 calls in a minute against
/// a per-second quota is 8,000 per second.
pub fn usage_in_quota_terms(per_minute_datapoint: f64, period: Option<QuotaPeriod>) -> f64 {
    match period {
        None => per_minute_datapoint,
        Some(p) => per_minute_datapoint * p.seconds() / f64::from(USAGE_PERIOD_SECONDS),
    }
}

/// Usage divided by limit; `None` where the ratio means nothing (no limit, or a limit of 0).
pub fn utilization(usage: f64, limit: Option<f64>) -> Option<f64> {
    match limit {
        Some(l) if l > 0.0 && usage.is_finite() => Some(usage / l),
        _ => None,
    }
}

/// One quota as the exporter publishes it: applied and default values merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    pub service_code: Arc<str>,
    pub service_name: Arc<str>,
    pub code: String,
    pub name: String,
    pub unit: String,
    /// The ARN (or `*`) of a resource-level quota; `None` for the account-level quota.
    pub resource: Option<String>,
    /// The applied value, or the default where AWS has no applied value.
    pub limit: Option<f64>,
    pub default_limit: Option<f64>,
    pub adjustable: bool,
    pub global: bool,
    pub usage_metric: Option<Arc<UsageMetric>>,
    pub period: Option<QuotaPeriod>,
}

/// One quota entry as a `List*` call returns it, before merging.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedQuota {
    pub service_code: String,
    pub service_name: String,
    pub code: String,
    pub name: String,
    pub unit: String,
    pub value: Option<f64>,
    pub adjustable: bool,
    pub global: bool,
    pub usage_metric: Option<UsageMetric>,
    pub period: Option<QuotaPeriod>,
    /// The context id of a resource-level entry.
    pub resource: Option<String>,
}

/// A service as `ListServices` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub code: String,
    pub name: String,
}

/// The latest datapoint of a usage metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The statistic over the datapoint's one-minute period.
    pub value: f64,
    /// Epoch seconds of the datapoint.
    pub timestamp: f64,
}

/// Merges the applied and default listings of one service into the published quotas.
///
/// `ListServiceQuotas` leaves out quotas that only have a default, and
/// `ListAWSDefaultServiceQuotas` has no applied values, so the inventory is their
/// union by quota code: the applied value wins as the limit, the default is kept as
/// the default. Resource-level entries become quotas of their own (with `resource`),
/// sharing their code's default. The result is sorted by code, then resource.
pub fn merge_quotas(service: &ServiceInfo, applied: Vec<ListedQuota>, defaults: Vec<ListedQuota>) -> Vec<Quota> {
    use std::collections::BTreeMap;
    let service_code: Arc<str> = Arc::from(service.code.as_str());
    let service_name: Arc<str> = Arc::from(service.name.as_str());
    let mut metrics: Vec<Arc<UsageMetric>> = Vec::new();
    let mut intern = |m: Option<UsageMetric>| -> Option<Arc<UsageMetric>> {
        let m = m?;
        if let Some(found) = metrics.iter().find(|x| ***x == m) {
            return Some(found.clone());
        }
        let arc = Arc::new(m);
        metrics.push(arc.clone());
        Some(arc)
    };

    let default_by_code: BTreeMap<String, ListedQuota> = defaults.into_iter().map(|q| (q.code.clone(), q)).collect();
    let mut out: BTreeMap<(String, Option<String>), Quota> = BTreeMap::new();
    for a in applied {
        let d = default_by_code.get(&a.code);
        let quota = Quota {
            service_code: service_code.clone(),
            service_name: service_name.clone(),
            default_limit: d.and_then(|d| d.value),
            limit: a.value.or_else(|| d.and_then(|d| d.value)),
            usage_metric: intern(a.usage_metric.or_else(|| d.and_then(|d| d.usage_metric.clone()))),
            period: a.period.or_else(|| d.and_then(|d| d.period)),
            code: a.code,
            name: a.name,
            unit: a.unit,
            resource: a.resource,
            adjustable: a.adjustable,
            global: a.global,
        };
        out.insert((quota.code.clone(), quota.resource.clone()), quota);
    }
    for (code, d) in default_by_code {
        out.entry((code.clone(), None)).or_insert_with(|| Quota {
            service_code: service_code.clone(),
            service_name: service_name.clone(),
            limit: d.value,
            default_limit: d.value,
            usage_metric: intern(d.usage_metric),
            period: d.period,
            code,
            name: d.name,
            unit: d.unit,
            resource: None,
            adjustable: d.adjustable,
            global: d.global,
        });
    }
    out.into_values().collect()
}

/// An account of the organization as the exporter needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    /// ACTIVE accounts are collected; SUSPENDED, PENDING_CLOSURE and CLOSED ones are not.
    pub active: bool,
    /// The name of the unit the account sits in directly ("Root" at the root).
    pub unit: String,
    /// The ids of the root and every unit above the account, outermost first.
    pub ancestors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(code: &str, value: f64) -> ListedQuota {
        ListedQuota {
            service_code: "ec2".into(),
            service_name: "Amazon EC2".into(),
            code: code.into(),
            name: format!("quota {code}"),
            unit: "None".into(),
            value: Some(value),
            adjustable: true,
            global: false,
            usage_metric: None,
            period: None,
            resource: None,
        }
    }

    fn ec2() -> ServiceInfo {
        ServiceInfo { code: "ec2".into(), name: "Amazon EC2".into() }
    }

    #[test]
    fn resource_count_is_read_with_maximum_even_when_aws_recommends_sum() {
        assert_eq!(Statistic::for_usage("AWS/Usage", "ResourceCount", Some("Sum")), Statistic::Maximum);
        assert_eq!(Statistic::for_usage("AWS/Usage", "CallCount", Some("Sum")), Statistic::Sum);
        assert_eq!(Statistic::for_usage("AWS/Lambda", "ConcurrentExecutions", Some("Maximum")), Statistic::Maximum);
        assert_eq!(Statistic::for_usage("AWS/Lambda", "ConcurrentExecutions", None), Statistic::Maximum);
    }

    #[test]
    fn a_per_second_quota_turns_calls_per_minute_into_calls_per_second() {
        let per_second = QuotaPeriod { value: 1, unit: PeriodUnit::Second };
        assert_eq!(usage_in_quota_terms(480_000.0, Some(per_second)), 8_000.0);
        let per_five_minutes = QuotaPeriod { value: 5, unit: PeriodUnit::Minute };
        assert_eq!(usage_in_quota_terms(100.0, Some(per_five_minutes)), 500.0);
        assert_eq!(usage_in_quota_terms(42.0, None), 42.0);
    }

    #[test]
    fn utilization_is_absent_for_a_zero_or_unknown_limit() {
        assert_eq!(utilization(544.0, Some(640.0)), Some(0.85));
        assert_eq!(utilization(3.0, Some(0.0)), None);
        assert_eq!(utilization(3.0, None), None);
    }

    #[test]
    fn the_applied_value_wins_and_the_default_is_kept() {
        let merged = merge_quotas(&ec2(), vec![listed("L-1", 640.0)], vec![listed("L-1", 5.0)]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].limit, Some(640.0));
        assert_eq!(merged[0].default_limit, Some(5.0));
    }

    #[test]
    fn a_default_only_quota_is_published_with_its_default_as_limit() {
        let merged = merge_quotas(&ec2(), vec![], vec![listed("L-2", 20.0)]);
        assert_eq!(merged[0].limit, Some(20.0));
        assert_eq!(merged[0].default_limit, Some(20.0));
    }

    #[test]
    fn an_applied_quota_without_default_has_no_default_limit() {
        let merged = merge_quotas(&ec2(), vec![listed("L-3", 7.0)], vec![]);
        assert_eq!(merged[0].limit, Some(7.0));
        assert_eq!(merged[0].default_limit, None);
    }

    #[test]
    fn resource_level_entries_become_their_own_quotas_with_the_shared_default() {
        let mut r = listed("L-4", 80.0);
        r.resource = Some("arn:aws:es:us-east-1:1:domain/a".into());
        let merged = merge_quotas(&ec2(), vec![r], vec![listed("L-4", 40.0)]);
        assert_eq!(merged.len(), 2, "the account-level default and the resource-level value");
        assert_eq!(merged[0].resource, None);
        assert_eq!(merged[0].limit, Some(40.0));
        assert_eq!(merged[1].resource.as_deref(), Some("arn:aws:es:us-east-1:1:domain/a"));
        assert_eq!(merged[1].limit, Some(80.0));
        assert_eq!(merged[1].default_limit, Some(40.0));
    }

    #[test]
    fn quotas_sharing_a_usage_metric_share_one_instance() {
        let metric = UsageMetric {
            namespace: "AWS/Usage".into(),
            name: "ResourceCount".into(),
            dimensions: vec![("Resource".into(), "vCPU".into())],
            statistic: Statistic::Maximum,
        };
        let mut a = listed("L-5", 1.0);
        a.usage_metric = Some(metric.clone());
        let mut b = listed("L-6", 1.0);
        b.usage_metric = Some(metric);
        let merged = merge_quotas(&ec2(), vec![a, b], vec![]);
        let (ma, mb) = (merged[0].usage_metric.as_ref(), merged[1].usage_metric.as_ref());
        assert!(Arc::ptr_eq(ma.expect("metric"), mb.expect("metric")));
    }
}
