//! The simulated AWS estate, described as plain data.
//!
//! An [`Estate`] holds accounts; each account holds regions; each region holds the
//! Service Quotas catalogue (services and their quotas) and the CloudWatch metric
//! series that the quotas' usage metrics point at. The protocol handlers only read
//! this data; tests change it between refreshes through [`crate::SimAws::with_estate`].

use std::collections::BTreeMap;

/// Everything the simulator knows about.
#[derive(Debug, Clone, Default)]
pub struct Estate {
    pub accounts: Vec<Account>,
    /// The AWS Organization the accounts belong to, if any: what Organizations answers.
    pub organization: Option<Organization>,
}

/// An AWS Organization: its management account, its tree of organizational units and
/// its member accounts. A member need not be in [`Estate::accounts`] (a suspended one
/// has no data); one that is answers with that account's data once its role is assumed.
#[derive(Debug, Clone)]
pub struct Organization {
    /// `o-` and 10 to 32 letters or digits.
    pub id: String,
    pub management_account_id: String,
    /// `r-` and 4 to 32 letters or digits.
    pub root_id: String,
    pub units: Vec<OrganizationalUnit>,
    pub members: Vec<Member>,
}

/// An organizational unit: `ou-` ids under a parent (the root or another unit).
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationalUnit {
    pub id: String,
    pub name: String,
    pub parent_id: String,
}

/// An account of the organization, as `ListAccounts` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE`.
    pub status: String,
    pub parent_id: String,
}

impl Member {
    pub fn new(id: &str, name: &str, status: &str, parent_id: &str) -> Member {
        Member { id: id.into(), name: name.into(), status: status.into(), parent_id: parent_id.into() }
    }
}

/// One AWS account, recognised by the access key id its requests are signed with.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub access_key_id: String,
    pub regions: Vec<Region>,
    /// How AWS reviews this account's quota increase requests.
    pub increase_review: IncreaseReview,
    /// Service Quotas Automatic Management, when the account opted in.
    pub auto_management: Option<AutoManagement>,
    /// Roles that STS `AssumeRole` hands out credentials for.
    pub roles: Vec<Role>,
}

/// A role of an account that may be assumed.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub arn: String,
    /// The external id its trust policy demands, if any.
    pub external_id: Option<String>,
    /// The accounts its trust policy lets assume it, besides its own account.
    pub trusted_accounts: Vec<String>,
    /// The role's maximum session duration in seconds (AWS: 3,600 by default); the
    /// simulator lets it be short, so that credentials really expire within a test.
    pub max_session_seconds: u64,
}

impl Role {
    /// A role its own account may assume, for an hour at most.
    pub fn new(arn: &str, external_id: Option<&str>) -> Role {
        Role {
            arn: arn.into(),
            external_id: external_id.map(str::to_owned),
            trusted_accounts: Vec::new(),
            max_session_seconds: 3600,
        }
    }

    /// The same role, trusting `account` too.
    pub fn trusting(mut self, account: &str) -> Role {
        self.trusted_accounts.push(account.into());
        self
    }

    /// The account the role belongs to, from its ARN.
    pub fn account_id(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }
}

/// How the simulated AWS decides a quota increase request, over simulated time: it is
/// PENDING, then CASE_OPENED, then APPROVED (the applied value becomes the desired
/// value) or DENIED.
#[derive(Debug, Clone, PartialEq)]
pub struct IncreaseReview {
    /// Seconds after filing at which a support case opens.
    pub case_after: f64,
    /// Seconds after filing at which the request is decided.
    pub decision_after: f64,
    /// Requests up to this multiple of the value at filing are approved; larger ones are denied.
    pub approve_up_to: f64,
}

impl Default for IncreaseReview {
    fn default() -> Self {
        IncreaseReview { case_after: 60.0, decision_after: 600.0, approve_up_to: 2.0 }
    }
}

/// An account's Automatic Management configuration (`GetAutoManagementConfiguration`).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoManagement {
    /// `NotifyOnly` or `NotifyAndAdjust`.
    pub opt_in_type: String,
    /// Services excluded, each with the quotas listed for it (none: the whole service).
    pub exclusions: BTreeMap<String, Vec<String>>,
}

/// One region of one account.
#[derive(Debug, Clone, Default)]
pub struct Region {
    pub name: String,
    pub services: Vec<Service>,
    pub metrics: Vec<MetricSeries>,
    pub bedrock: Bedrock,
}

/// The Bedrock control plane of a region.
#[derive(Debug, Clone, Default)]
pub struct Bedrock {
    pub models: Vec<FoundationModel>,
    pub inference_profiles: Vec<InferenceProfile>,
    pub provisioned: Vec<ProvisionedThroughput>,
}

/// A foundation model as `ListFoundationModels` returns it.
#[derive(Debug, Clone)]
pub struct FoundationModel {
    pub id: String,
    pub name: String,
    pub provider: String,
    /// `TEXT`, `EMBEDDING` or `IMAGE`.
    pub output_modality: String,
}

/// An inference profile: system-defined (cross-region, global) or an application's.
#[derive(Debug, Clone)]
pub struct InferenceProfile {
    pub id: String,
    pub name: String,
    /// `SYSTEM_DEFINED` or `APPLICATION`.
    pub kind: String,
    pub arn: String,
    /// The foundation-model ARNs the profile routes to.
    pub model_arns: Vec<String>,
}

/// A provisioned throughput.
#[derive(Debug, Clone)]
pub struct ProvisionedThroughput {
    pub name: String,
    pub model_id: String,
    pub model_units: u32,
    /// `Creating`, `InService`, `Updating` or `Failed`.
    pub status: String,
}

impl FoundationModel {
    pub fn new(id: &str, provider: &str, name: &str) -> FoundationModel {
        FoundationModel { id: id.into(), name: name.into(), provider: provider.into(), output_modality: "TEXT".into() }
    }

    /// The model's ARN in a region.
    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:bedrock:{region}::foundation-model/{}", self.id)
    }
}

/// A service as `ListServices` returns it, with its quotas.
#[derive(Debug, Clone)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub quotas: Vec<Quota>,
}

/// One quota of a service.
#[derive(Debug, Clone)]
pub struct Quota {
    pub code: String,
    pub name: String,
    pub unit: String,
    /// The AWS default; `None` leaves the quota out of `ListAWSDefaultServiceQuotas`.
    pub default_value: Option<f64>,
    /// The account-level applied value; `None` leaves it out of `ListServiceQuotas`,
    /// as AWS does for quotas that only have a default.
    pub applied_value: Option<f64>,
    pub adjustable: bool,
    pub global: bool,
    pub usage_metric: Option<UsageMetric>,
    pub period: Option<Period>,
    pub description: String,
    /// Resource-level applied values, returned with `QuotaAppliedAtLevel` RESOURCE or ALL.
    pub resource_values: Vec<ResourceValue>,
}

/// A quota's `UsageMetric`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageMetric {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    /// `Maximum` or `Sum`.
    pub statistic: String,
}

/// A rate quota's `Period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub value: u32,
    /// One of MICROSECOND, MILLISECOND, SECOND, MINUTE, HOUR, DAY, WEEK.
    pub unit: &'static str,
}

/// An applied value for one resource (`QuotaContext`).
#[derive(Debug, Clone)]
pub struct ResourceValue {
    /// An ARN, or `*` for every resource without its own value.
    pub context_id: String,
    pub scope_type: String,
    pub value: f64,
}

/// A CloudWatch metric: a set of raw samples over time, from which `GetMetricData`
/// computes each period's statistic the way CloudWatch does.
#[derive(Debug, Clone)]
pub struct MetricSeries {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    /// How many raw samples land in each minute (evenly spaced).
    pub samples_per_minute: u32,
    pub shape: Shape,
    /// Seconds after its timestamp before a sample becomes visible (late-arriving data).
    pub lag_seconds: u64,
    /// Epoch seconds before which the series has no samples.
    pub starts_at: Option<f64>,
}

/// The value of each raw sample as a function of time.
#[derive(Debug, Clone)]
pub enum Shape {
    Constant(f64),
    /// `at_anchor + per_day * days since anchor`, never below zero.
    Linear {
        anchor: f64,
        at_anchor: f64,
        per_day: f64,
    },
    /// A linear trend plus deterministic noise of the given amplitude (uniform in ±amplitude),
    /// drawn once per day, so that daily peaks scatter around the trend.
    Noisy {
        anchor: f64,
        at_anchor: f64,
        per_day: f64,
        amplitude: f64,
        seed: u64,
    },
    /// Explicit per-minute values starting at `start` (epoch seconds, minute aligned);
    /// minutes outside the list have no samples.
    Minutes {
        start: f64,
        values: Vec<f64>,
    },
    /// The same values every minute: sample `i` of a minute takes `values[i % len]`
    /// (with `samples_per_minute` samples a minute), so that a minute's Maximum, Sum
    /// and Average are all different and known.
    Cycle {
        values: Vec<f64>,
        samples_per_minute: u32,
    },
    /// `base`, except for `duration` seconds out of every `period` seconds, when it is
    /// `burst` (throttling episodes).
    Bursts {
        period: f64,
        duration: f64,
        base: f64,
        burst: f64,
    },
}

impl Shape {
    /// The same shape with every value multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Shape {
        match self.clone() {
            Shape::Constant(v) => Shape::Constant(v * factor),
            Shape::Linear { anchor, at_anchor, per_day } => {
                Shape::Linear { anchor, at_anchor: at_anchor * factor, per_day: per_day * factor }
            }
            Shape::Noisy { anchor, at_anchor, per_day, amplitude, seed } => Shape::Noisy {
                anchor,
                at_anchor: at_anchor * factor,
                per_day: per_day * factor,
                amplitude: amplitude * factor,
                seed,
            },
            Shape::Minutes { start, values } => {
                Shape::Minutes { start, values: values.iter().map(|v| v * factor).collect() }
            }
            Shape::Cycle { values, samples_per_minute } => {
                Shape::Cycle { values: values.iter().map(|v| v * factor).collect(), samples_per_minute }
            }
            Shape::Bursts { period, duration, base, burst } => {
                Shape::Bursts { period, duration, base: base * factor, burst: burst * factor }
            }
        }
    }

    /// The raw sample value at `t` (epoch seconds), or `None` where the shape has no data.
    pub fn value_at(&self, t: f64) -> Option<f64> {
        let v = match self {
            Shape::Constant(v) => *v,
            Shape::Linear { anchor, at_anchor, per_day } => at_anchor + per_day * (t - anchor) / 86_400.0,
            Shape::Noisy { anchor, at_anchor, per_day, amplitude, seed } => {
                let trend = at_anchor + per_day * (t - anchor) / 86_400.0;
                trend + amplitude * unit_noise(*seed, (t / 86_400.0).floor())
            }
            Shape::Minutes { start, values } => {
                if t < *start {
                    return None;
                }
                let index = ((t - start) / 60.0).floor() as usize;
                *values.get(index)?
            }
            Shape::Bursts { period, duration, base, burst } => {
                if t.rem_euclid(*period) < *duration {
                    *burst
                } else {
                    *base
                }
            }
            Shape::Cycle { values, samples_per_minute } => {
                let step = 60.0 / f64::from((*samples_per_minute).max(1));
                let index = ((t.rem_euclid(60.0)) / step).round() as usize;
                *values.get(index % values.len().max(1))?
            }
        };
        Some(v.max(0.0))
    }
}

/// Deterministic noise in [-1, 1] from a seed and a time, so runs are repeatable.
fn unit_noise(seed: u64, t: f64) -> f64 {
    let mut x = seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (x as f64 / u64::MAX as f64) * 2.0 - 1.0
}

impl Estate {
    pub fn account_by_key(&self, access_key_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.access_key_id == access_key_id)
    }

    pub fn account_mut(&mut self, id: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.id == id)
    }

    /// The role with this ARN, in whichever account holds it.
    pub fn role(&self, arn: &str) -> Option<&Role> {
        self.accounts.iter().flat_map(|a| &a.roles).find(|r| r.arn == arn)
    }
}

impl Account {
    /// An account with the default review and no Automatic Management.
    pub fn new(id: &str, access_key_id: &str, regions: Vec<Region>) -> Account {
        Account {
            id: id.into(),
            access_key_id: access_key_id.into(),
            regions,
            increase_review: IncreaseReview::default(),
            auto_management: None,
            roles: Vec::new(),
        }
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    pub fn region_mut(&mut self, name: &str) -> Option<&mut Region> {
        self.regions.iter_mut().find(|r| r.name == name)
    }
}

impl Region {
    /// The same region with every metric's values multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Region {
        let mut region = self.clone();
        for m in &mut region.metrics {
            m.shape = m.shape.scaled(factor);
        }
        region
    }

    pub fn service(&self, code: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.code == code)
    }

    pub fn service_mut(&mut self, code: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.code == code)
    }

    /// The series with exactly this namespace, name and dimension set.
    pub fn metric(&self, namespace: &str, name: &str, dimensions: &BTreeMap<String, String>) -> Option<&MetricSeries> {
        self.metrics.iter().find(|m| m.namespace == namespace && m.name == name && &m.dimensions == dimensions)
    }

    /// Quotas of every service that carry a usage metric, de-duplicated by metric and statistic.
    pub fn distinct_usage_metrics(&self) -> Vec<&UsageMetric> {
        let mut seen: Vec<&UsageMetric> = Vec::new();
        for q in self.services.iter().flat_map(|s| &s.quotas) {
            if let Some(m) = &q.usage_metric
                && !seen.contains(&m)
            {
                seen.push(m);
            }
        }
        seen
    }
}

impl Service {
    pub fn quota_mut(&mut self, code: &str) -> Option<&mut Quota> {
        self.quotas.iter_mut().find(|q| q.code == code)
    }
}

impl Quota {
    /// A quota with a default value only, not adjustable, no usage metric.
    pub fn new(code: &str, name: &str, default_value: f64) -> Quota {
        Quota {
            code: code.into(),
            name: name.into(),
            unit: "None".into(),
            default_value: Some(default_value),
            applied_value: None,
            adjustable: false,
            global: false,
            usage_metric: None,
            period: None,
            description: String::new(),
            resource_values: Vec::new(),
        }
    }

    pub fn applied(mut self, value: f64) -> Quota {
        self.applied_value = Some(value);
        self
    }

    pub fn adjustable(mut self) -> Quota {
        self.adjustable = true;
        self
    }

    pub fn global(mut self) -> Quota {
        self.global = true;
        self
    }

    pub fn unit(mut self, unit: &str) -> Quota {
        self.unit = unit.into();
        self
    }

    pub fn usage(mut self, metric: UsageMetric) -> Quota {
        self.usage_metric = Some(metric);
        self
    }

    pub fn period(mut self, value: u32, unit: &'static str) -> Quota {
        self.period = Some(Period { value, unit });
        self
    }

    pub fn described(mut self, text: &str) -> Quota {
        self.description = text.into();
        self
    }

    pub fn resource(mut self, context_id: &str, scope_type: &str, value: f64) -> Quota {
        self.resource_values.push(ResourceValue {
            context_id: context_id.into(),
            scope_type: scope_type.into(),
            value,
        });
        self
    }
}

impl UsageMetric {
    pub fn new(namespace: &str, name: &str, dimensions: &[(&str, &str)], statistic: &str) -> Self {
        UsageMetric {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: dims(dimensions),
            statistic: statistic.into(),
        }
    }

    /// The `AWS/Usage` `ResourceCount` metric with its four standard dimensions.
    pub fn resource_count(service: &str, resource: &str, class: &str) -> Self {
        UsageMetric::new(
            "AWS/Usage",
            "ResourceCount",
            &[("Class", class), ("Resource", resource), ("Service", service), ("Type", "Resource")],
            "Maximum",
        )
    }

    /// The `AWS/Usage` `CallCount` metric of one API operation.
    pub fn call_count(service: &str, operation: &str) -> Self {
        UsageMetric::new(
            "AWS/Usage",
            "CallCount",
            &[("Class", "None"), ("Resource", operation), ("Service", service), ("Type", "API")],
            "Sum",
        )
    }

    /// A series for this metric with one sample per minute.
    pub fn series(&self, shape: Shape) -> MetricSeries {
        MetricSeries {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            dimensions: self.dimensions.clone(),
            samples_per_minute: 1,
            shape,
            lag_seconds: 0,
            starts_at: None,
        }
    }
}

impl MetricSeries {
    pub fn samples_per_minute(mut self, n: u32) -> MetricSeries {
        self.samples_per_minute = n.max(1);
        self
    }

    pub fn lag(mut self, seconds: u64) -> MetricSeries {
        self.lag_seconds = seconds;
        self
    }

    pub fn starting_at(mut self, epoch_seconds: f64) -> MetricSeries {
        self.starts_at = Some(epoch_seconds);
        self
    }

    /// The statistic of the samples in `[from, to)` that are visible at `now`,
    /// or `None` when there are none (CloudWatch then returns no datapoint).
    pub fn statistic(&self, stat: &str, from: f64, to: f64, now: f64) -> Option<f64> {
        let step = 60.0 / f64::from(self.samples_per_minute);
        let from = self.starts_at.map_or(from, |s| from.max(s));
        let visible_until = now - self.lag_seconds as f64;
        // Sample times are whole multiples of the step: the first at or after `from`, the
        // last before `to` and no later than what is visible.
        let first = (from / step).ceil();
        let last_before_end = (to / step).ceil() - 1.0;
        let last = last_before_end.min((visible_until / step).floor());
        if last < first {
            return None;
        }
        let count = last - first + 1.0;
        let (t0, t1) = (first * step, last * step);
        // Constant and linear shapes have closed forms, so that long windows stay cheap.
        let closed = match &self.shape {
            Shape::Constant(v) => Some((v.max(0.0), v.max(0.0))),
            Shape::Linear { .. } => {
                let (a, b) = (self.shape.value_at(t0)?, self.shape.value_at(t1)?);
                // Clamping at zero bends the line; only a straight stretch has a closed form.
                (a > 0.0 && b > 0.0).then_some((a, b))
            }
            _ => None,
        };
        if let Some((a, b)) = closed {
            let sum = count * (a + b) / 2.0;
            return match stat {
                "Sum" => Some(sum),
                "Maximum" => Some(a.max(b)),
                "Minimum" => Some(a.min(b)),
                "Average" => Some(sum / count),
                "SampleCount" => Some(count),
                _ => None,
            };
        }
        let mut n = 0u64;
        let (mut sum, mut max, mut min) = (0.0, f64::MIN, f64::MAX);
        let mut k = first;
        while k <= last {
            if let Some(v) = self.shape.value_at(k * step) {
                n += 1;
                sum += v;
                max = max.max(v);
                min = min.min(v);
            }
            k += 1.0;
        }
        if n == 0 {
            return None;
        }
        match stat {
            "Sum" => Some(sum),
            "Maximum" => Some(max),
            "Minimum" => Some(min),
            "Average" => Some(sum / n as f64),
            "SampleCount" => Some(n as f64),
            _ => None,
        }
    }
}

/// Builds a dimension map from pairs.
pub fn dims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn six_per_minute(shape: Shape) -> MetricSeries {
        UsageMetric::call_count("EC2", "RunInstances").series(shape).samples_per_minute(6)
    }

    #[test]
    fn sum_and_maximum_differ_when_a_minute_holds_several_samples() {
        let s = six_per_minute(Shape::Constant(5.0));
        assert_eq!(s.statistic("Sum", 600.0, 660.0, 1e12), Some(30.0));
        assert_eq!(s.statistic("Maximum", 600.0, 660.0, 1e12), Some(5.0));
        assert_eq!(s.statistic("SampleCount", 600.0, 660.0, 1e12), Some(6.0));
    }

    #[test]
    fn samples_younger_than_the_lag_are_invisible() {
        let s = six_per_minute(Shape::Constant(1.0)).lag(120);
        // Samples at 600, 610, ... 650 each appear 120 s after their timestamp.
        assert_eq!(s.statistic("Sum", 600.0, 660.0, 700.0), None);
        assert_eq!(s.statistic("Sum", 600.0, 660.0, 745.0), Some(3.0));
        assert_eq!(s.statistic("Sum", 600.0, 660.0, 770.0), Some(6.0));
    }

    #[test]
    fn a_cycle_gives_known_maximum_sum_and_average_every_minute() {
        let values = vec![600.0, 720.0, 810.0, 700.0, 650.0, 690.0];
        let s = UsageMetric::new("AWS/Lambda", "ConcurrentExecutions", &[], "Maximum")
            .series(Shape::Cycle { values, samples_per_minute: 6 })
            .samples_per_minute(6);
        for minute in [0.0, 60.0, 86_400.0 * 1000.0] {
            assert_eq!(s.statistic("Maximum", minute, minute + 60.0, 1e12), Some(810.0));
            assert_eq!(s.statistic("Sum", minute, minute + 60.0, 1e12), Some(4170.0));
            assert_eq!(s.statistic("Average", minute, minute + 60.0, 1e12), Some(695.0));
        }
    }

    #[test]
    fn a_linear_shape_grows_by_its_daily_slope_and_never_goes_negative() {
        let shape = Shape::Linear { anchor: 0.0, at_anchor: 10.0, per_day: 5.0 };
        assert_eq!(shape.value_at(86_400.0), Some(15.0));
        assert_eq!(shape.value_at(-86_400.0 * 3.0), Some(0.0));
    }

    #[test]
    fn closed_forms_agree_with_sample_by_sample_sums() {
        let linear = Shape::Linear { anchor: 0.0, at_anchor: 100.0, per_day: 50.0 };
        let closed = UsageMetric::resource_count("EC2", "vCPU", "Standard/OnDemand")
            .series(linear.clone())
            .samples_per_minute(6);
        // The same samples, added one by one.
        let mut by_hand = 0.0;
        let mut t: f64 = 86_400.0;
        while t < 2.0 * 86_400.0 {
            by_hand += linear.value_at(t).expect("defined");
            t += 10.0;
        }
        let sum = closed.statistic("Sum", 86_400.0, 2.0 * 86_400.0, 1e12).expect("samples");
        assert!((sum - by_hand).abs() < 1e-6 * by_hand, "{sum} vs {by_hand}");
        assert_eq!(closed.statistic("Maximum", 86_400.0, 2.0 * 86_400.0, 1e12), linear.value_at(2.0 * 86_400.0 - 10.0));
        assert_eq!(closed.statistic("SampleCount", 86_400.0, 2.0 * 86_400.0, 1e12), Some(8640.0));
    }

    #[test]
    fn noise_stays_within_its_amplitude() {
        let shape = Shape::Noisy { anchor: 0.0, at_anchor: 100.0, per_day: 0.0, amplitude: 3.0, seed: 7 };
        for i in 0..1000 {
            let v = shape.value_at(f64::from(i) * 60.0).expect("always defined");
            assert!((97.0..=103.0).contains(&v), "{v} outside 100 ± 3");
        }
    }
}
