//! The decision step, pure: from an alert, the configuration, the exporter's snapshot
//! and the clock, whether the receiver may claim the quota, and for what value; or why
//! not. No AWS call and no ledger write happens here: the receiver does those with the
//! answer. Two steps, because the receiver's own account (one STS call, the first time)
//! is needed between them, and only for alerts that pass the first.

use std::collections::BTreeMap;

use super::{GLOBAL_REGION, IDENTITY_LABELS, OPT_IN_LABEL};
use crate::collector::Source;
use crate::config::increase::IncreaseConfig;
use crate::increase::evidence::{self, Evidence};
use crate::increase::ledger::{Entry, QuotaKey};
use crate::increase::policy::{self, show};
use crate::snapshot::Snapshot;

/// Why an alert was not acted on (or a claim was closed): the `reason` of the webhook's
/// answer, of the ledger's entries and of `aws_quota_increase_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NotOptedIn,
    Alertname,
    MissingLabels,
    InvalidLabels,
    ResourceLevel,
    Policy,
    OtherAccount,
    NotCollected,
    NotReady,
    UnknownQuota,
    NotAdjustable,
    UnknownLimit,
    NotCorroborated,
    Capped,
    OpenRequest,
    Cooldown,
    Ledger,
    AutoManagement,
    NotAboveCurrent,
    OpenRequestInAws,
    RegionLimit,
    AccountLimit,
    DailyMaximum,
    Unconfirmed,
    Moved,
    InProgress,
    AwsError,
    AwsRequestLimit,
    IllegalArgument,
    AccessDenied,
    NoSuchQuota,
    InvalidState,
    Throttled,
    Interrupted,
}

impl Reason {
    pub const ALL: [Reason; 34] = [
        Reason::NotOptedIn,
        Reason::Alertname,
        Reason::MissingLabels,
        Reason::InvalidLabels,
        Reason::ResourceLevel,
        Reason::Policy,
        Reason::OtherAccount,
        Reason::NotCollected,
        Reason::NotReady,
        Reason::UnknownQuota,
        Reason::NotAdjustable,
        Reason::UnknownLimit,
        Reason::NotCorroborated,
        Reason::Capped,
        Reason::OpenRequest,
        Reason::Cooldown,
        Reason::Ledger,
        Reason::AutoManagement,
        Reason::NotAboveCurrent,
        Reason::OpenRequestInAws,
        Reason::RegionLimit,
        Reason::AccountLimit,
        Reason::DailyMaximum,
        Reason::Unconfirmed,
        Reason::Moved,
        Reason::InProgress,
        Reason::AwsError,
        Reason::AwsRequestLimit,
        Reason::IllegalArgument,
        Reason::AccessDenied,
        Reason::NoSuchQuota,
        Reason::InvalidState,
        Reason::Throttled,
        Reason::Interrupted,
    ];

    /// The spelling on the wire, in the ledger and in the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotOptedIn => "not_opted_in",
            Reason::Alertname => "alertname",
            Reason::MissingLabels => "missing_labels",
            Reason::InvalidLabels => "invalid_labels",
            Reason::ResourceLevel => "resource_level",
            Reason::Policy => "policy",
            Reason::OtherAccount => "other_account",
            Reason::NotCollected => "not_collected",
            Reason::NotReady => "not_ready",
            Reason::UnknownQuota => "unknown_quota",
            Reason::NotAdjustable => "not_adjustable",
            Reason::UnknownLimit => "unknown_limit",
            Reason::NotCorroborated => "not_corroborated",
            Reason::Capped => "capped",
            Reason::OpenRequest => "open_request",
            Reason::Cooldown => "cooldown",
            Reason::Ledger => "ledger",
            Reason::AutoManagement => "auto_management",
            Reason::NotAboveCurrent => "not_above_current",
            Reason::OpenRequestInAws => "open_request_in_aws",
            Reason::RegionLimit => "region_limit",
            Reason::AccountLimit => "account_limit",
            Reason::DailyMaximum => "daily_maximum",
            Reason::Unconfirmed => "unconfirmed",
            Reason::Moved => "moved",
            Reason::InProgress => "in_progress",
            Reason::AwsError => "aws_error",
            Reason::AwsRequestLimit => "aws_request_limit",
            Reason::IllegalArgument => "illegal_argument",
            Reason::AccessDenied => "access_denied",
            Reason::NoSuchQuota => "no_such_quota",
            Reason::InvalidState => "invalid_state",
            Reason::Throttled => "throttled",
            Reason::Interrupted => "interrupted",
        }
    }

    /// The reason a ledger entry records, read back.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where the decision stops.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Not opted in: counted, never recorded (a firing alert as skipped, a resolved one
    /// as resolved).
    NotOptedIn { firing: bool },
    /// Resolved: recorded, not acted on.
    Resolved,
    /// Recorded as skipped, for this reason.
    Skip(Reason, String),
    /// Recorded as skipped, and worth Alertmanager sending again (the inventory is not
    /// loaded yet).
    Retry(Reason, String),
}

/// The first step, on the alert and the configuration alone.
pub fn screen(
    labels: &BTreeMap<String, String>,
    firing: bool,
    key: &QuotaKey,
    config: &IncreaseConfig,
) -> Result<(), Stop> {
    let label = |k: &str| labels.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if label(OPT_IN_LABEL) != Some("true") {
        return Err(Stop::NotOptedIn { firing });
    }
    if !firing {
        return Err(Stop::Resolved);
    }
    let alertname = label("alertname").unwrap_or_default();
    if !config.alertnames.iter().any(|n| n == alertname) {
        let detail = format!(
            "alert {:?} is not one the receiver acts on (QUOTA_EXPORTER_INCREASE_ALERTNAMES={})",
            crate::increase::escape_controls(alertname),
            config.alertnames.join(",")
        );
        return Err(Stop::Skip(Reason::Alertname, detail));
    }
    let missing: Vec<&str> = IDENTITY_LABELS.into_iter().filter(|l| label(l).is_none()).collect();
    if !missing.is_empty() {
        return Err(Stop::Skip(Reason::MissingLabels, format!("the alert lacks the label(s) {}", missing.join(", "))));
    }
    valid_identity(key).map_err(|detail| Stop::Skip(Reason::InvalidLabels, detail))?;
    if let Some(resource) = label("resource") {
        let detail = format!(
            "resource-level quotas (resource={}) are not requested automatically",
            crate::increase::escape_controls(resource)
        );
        return Err(Stop::Skip(Reason::ResourceLevel, detail));
    }
    config.allows(&key.service_code, &key.quota_code).map_err(|why| Stop::Skip(Reason::Policy, why))
}

/// What the receiver may claim: the value to ask for, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub desired: f64,
    pub detail: String,
}

/// What the second step reads besides the alert's quota.
pub struct Context<'a> {
    pub config: &'a IncreaseConfig,
    /// The account the receiver's own write credentials are for.
    pub own_account: &'a str,
    pub snapshot: &'a Snapshot,
    /// The regions the exporter collects (and the receiver counts open requests in).
    pub regions: &'a [String],
    pub now: f64,
    /// The oldest usage reading taken as evidence, in seconds.
    pub max_usage_age: f64,
}

/// The second step: the quota's account, the exporter's inventory and evidence, and
/// the policy's value. What it learns goes into `entry` as it goes, recorded whatever
/// the answer: the current limit once known, and us-east-1 as the region of a global
/// quota once the evidence backs it.
pub fn judge(entry: &mut Entry, cx: &Context<'_>) -> Result<Claim, Stop> {
    let config = cx.config;
    let key = &entry.key;
    reachable(key, cx)?;
    let snapshot = cx.snapshot;
    let facts = match known_quota(snapshot, key, cx.regions) {
        Known::Quota(facts) => facts,
        // After a restart Alertmanager may notify before the first listing: a 503
        // makes it send again, and nothing is decided on a half-known inventory.
        Known::NotYet(detail) => return Err(Stop::Retry(Reason::NotReady, detail)),
        Known::Unknown(detail) => return Err(Stop::Skip(Reason::UnknownQuota, detail)),
    };
    let Facts { quota, recommended, usage, usage_at, exhaustion, r2, .. } = *facts;
    let (service, quota_code) = (&key.service_code, &key.quota_code);
    if !quota.adjustable {
        return Err(Stop::Skip(Reason::NotAdjustable, format!("{service}/{quota_code} is not adjustable")));
    }
    let Some(limit) = quota.limit else {
        return Err(Stop::Skip(Reason::UnknownLimit, "the quota has no known limit".into()));
    };
    let (service, quota_code) = (service.clone(), quota_code.clone());
    entry.current_value = Some(limit);
    let evidence = Evidence {
        limit,
        usage,
        usage_age: usage_at.map(|at| cx.now - at),
        max_usage_age: cx.max_usage_age,
        exhaustion,
        r2,
    };
    let backed_by = evidence::corroborate(&evidence, config.min_utilization, config.forecast_days, cx.now)
        .map_err(|why| Stop::Skip(Reason::NotCorroborated, why))?;
    if quota.global {
        entry.key.region = GLOBAL_REGION.to_owned();
    }
    let ask = policy::desired_value(config, &service, &quota_code, limit, recommended)
        .map_err(|no| Stop::Skip(Reason::Capped, no.0))?;
    Ok(Claim { desired: ask.desired, detail: format!("{backed_by}; asking for {}: {}", ask.desired, ask.basis) })
}

/// Whether this receiver files in the quota's account: its own, or another through
/// the write role, and only in an account this replica collects.
fn reachable(key: &QuotaKey, cx: &Context<'_>) -> Result<(), Stop> {
    if cx.own_account != key.account && cx.config.role_name.is_none() {
        let detail = format!(
            "the alert is about account {}, this receiver files only in its own account {} \
             (QUOTA_EXPORTER_INCREASE_ROLE_NAME names a role to file in the others)",
            key.account, cx.own_account
        );
        return Err(Stop::Skip(Reason::OtherAccount, detail));
    }
    // With several accounts, one replica acts only on the accounts it collects (with
    // shards, Alertmanager notifies every replica and the owning one files).
    let snapshot = cx.snapshot;
    let covered = snapshot.accounts.iter().any(|a| a.id == key.account)
        || snapshot.targets.iter().any(|t| t.account_label() == key.account);
    if !snapshot.accounts.is_empty() && !covered {
        let detail =
            format!("this exporter does not collect account {} (another shard may, and files there)", key.account);
        return Err(Stop::Skip(Reason::NotCollected, detail));
    }
    Ok(())
}

/// A failover proposal (`aws-quota-exporter failover --request`): the quota's region
/// (the entry's) is the standby of `primary_region`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    pub primary_region: String,
    /// The share of the primary's peak the standby must carry.
    pub coverage: f64,
}

/// The second step for a failover proposal. The evidence is the exporter's own data,
/// never the caller's figures: the standby's quota is in the inventory, adjustable and
/// regional, and the primary's peak of the last 7 days (its usage now where no daily
/// history has a peak) times the coverage is above the standby's limit; the policy's
/// caps apply to that need.
pub fn judge_failover(entry: &mut Entry, cx: &Context<'_>, f: &Failover) -> Result<Claim, Stop> {
    let key = entry.key.clone();
    reachable(&key, cx)?;
    let known = |k: &QuotaKey| match known_quota(cx.snapshot, k, cx.regions) {
        Known::Quota(facts) => Ok(facts),
        Known::NotYet(detail) => Err(Stop::Retry(Reason::NotReady, detail)),
        Known::Unknown(detail) => Err(Stop::Skip(Reason::UnknownQuota, detail)),
    };
    let standby = known(&key)?;
    let (service, quota_code) = (key.service_code.as_str(), key.quota_code.as_str());
    if !standby.quota.adjustable {
        return Err(Stop::Skip(Reason::NotAdjustable, format!("{service}/{quota_code} is not adjustable")));
    }
    if standby.quota.global {
        let detail =
            format!("{service}/{quota_code} is global: one quota in every region, which failover does not move");
        return Err(Stop::Skip(Reason::NotCorroborated, detail));
    }
    let Some(limit) = standby.quota.limit else {
        return Err(Stop::Skip(Reason::UnknownLimit, "the quota has no known limit".into()));
    };
    entry.current_value = Some(limit);
    let primary = known(&QuotaKey { region: f.primary_region.clone(), ..key.clone() })?;
    let (used, basis) = match (primary.peak_7d, primary.usage) {
        (Some(peak), usage) => (peak.max(usage.unwrap_or(0.0)), "peak of the last 7 days"),
        (None, Some(usage)) => (usage, "usage now"),
        (None, None) => {
            let detail = format!("the exporter has no usage of {service}/{quota_code} in {}", f.primary_region);
            return Err(Stop::Skip(Reason::NotCorroborated, detail));
        }
    };
    let need = used * f.coverage;
    let why = if f.coverage == 1.0 {
        format!("{}'s {basis}, {}", f.primary_region, show(used))
    } else {
        format!("{}'s {basis}, {}, times {}", f.primary_region, show(used), f.coverage)
    };
    if need <= limit {
        let detail = format!("the standby's limit {} carries {why}", show(limit));
        return Err(Stop::Skip(Reason::NotCorroborated, detail));
    }
    let ask = policy::desired_value_for_need(cx.config, service, quota_code, limit, need, why)
        .map_err(|no| Stop::Skip(Reason::Capped, no.0))?;
    Ok(Claim {
        desired: ask.desired,
        detail: format!(
            "failover from {}: the standby's limit {} is below the need; asking for {}: {}",
            f.primary_region,
            show(limit),
            ask.desired,
            ask.basis
        ),
    })
}

/// What the exporter knows about an alert's quota.
pub(super) struct Facts {
    pub quota: crate::model::Quota,
    /// The forecast's recommended limit, where there is one.
    pub recommended: Option<f64>,
    pub usage: Option<f64>,
    /// When that usage was measured (epoch seconds).
    pub usage_at: Option<f64>,
    pub exhaustion: Option<f64>,
    pub r2: Option<f64>,
    /// The highest daily peak of the last 7 days, where the history has one.
    pub peak_7d: Option<f64>,
}

/// What the exporter's inventory says about an alert's quota.
pub(super) enum Known {
    Quota(Box<Facts>),
    /// The inventory is not loaded yet (start-up, or the service's listing has never
    /// succeeded): worth a retry.
    NotYet(String),
    /// The exporter collects the target and the quota is not there.
    Unknown(String),
}

/// The quota in the exporter's inventory for the alert's account and region, and
/// the forecast's recommended limit for it, if any.
pub(super) fn known_quota(snapshot: &Snapshot, key: &QuotaKey, regions: &[String]) -> Known {
    let (service_code, quota_code) = (&key.service_code, &key.quota_code);
    let Some(target) =
        snapshot.targets.iter().find(|t| t.account_label() == key.account && t.target.region == key.region)
    else {
        // A configured region none of whose targets has listed its quotas yet.
        let pending = regions.contains(&key.region)
            && !snapshot.targets.iter().any(|t| {
                t.target.region == key.region
                    && t.account_id.is_some()
                    && t.statuses.contains_key(&Source::ServiceQuotas)
            });
        let detail = format!("the exporter does not collect account {} in {}", key.account, key.region);
        return if pending {
            Known::NotYet(format!("the exporter has not listed the quotas of {} yet", key.region))
        } else {
            Known::Unknown(detail)
        };
    };
    let listing = target.statuses.get(&Source::ServiceQuotas);
    let not_yet = || {
        Known::NotYet(format!(
            "the exporter has no successful listing of {service_code} in {} yet; Alertmanager will send it again",
            key.region
        ))
    };
    let service = match target.quotas.services.get(service_code) {
        Some(s) if s.last_success.is_none() => return not_yet(),
        Some(s) => s,
        None if listing.is_none_or(|l| !l.success) => return not_yet(),
        None => {
            return Known::Unknown(format!(
                "{service_code} is not among the services the exporter collects in {}",
                key.region
            ));
        }
    };
    let Some(quota) = service.quotas.iter().find(|q| &q.code == quota_code && q.resource.is_none()).cloned() else {
        return Known::Unknown(format!(
            "{service_code}/{quota_code} is not in the exporter's inventory for {} {}",
            key.account, key.region
        ));
    };
    let forecast = target.forecasts.quotas.get(&(quota.service_code.clone(), quota.code.clone(), None));
    Known::Quota(Box::new(Facts {
        recommended: forecast.and_then(|f| f.recommended_limit),
        usage: crate::metrics::usage_of(target, &quota),
        usage_at: quota.usage_metric.as_ref().and_then(|m| target.usage.readings.get(m)).map(|r| r.timestamp),
        exhaustion: forecast.and_then(|f| f.exhaustion),
        r2: forecast.map(|f| f.r2),
        peak_7d: target.forecasts.peaks.get(&(quota.service_code.clone(), quota.code.clone(), None)).copied(),
        quota,
    }))
}

/// The identity labels in the forms AWS gives them: anything else cannot name a quota
/// (and never reaches a log line or the ledger's key unchecked).
pub(super) fn valid_identity(key: &QuotaKey) -> Result<(), String> {
    let shown = |s: &str| format!("{:?}", crate::increase::escape_controls(s));
    if !crate::config::is_account_id(&key.account) {
        return Err(format!("cloud_account_id={} is not a 12-digit account id", shown(&key.account)));
    }
    if !crate::config::is_region_code(&key.region) {
        return Err(format!("cloud_region={} is not a region code", shown(&key.region)));
    }
    if !crate::config::is_code(&key.service_code, 2, 64) {
        return Err(format!("service_code={} is not a service code", shown(&key.service_code)));
    }
    if !crate::config::is_code(&key.quota_code, 2, 128) {
        return Err(format!("quota_code={} is not a quota code", shown(&key.quota_code)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(pairs: &[(&str, &str)]) -> (BTreeMap<String, String>, QuotaKey) {
        let labels: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let key = QuotaKey {
            account: get("cloud_account_id"),
            region: get("cloud_region"),
            service_code: get("service_code"),
            quota_code: get("quota_code"),
        };
        (labels, key)
    }

    fn opted_in(config: &IncreaseConfig) -> Vec<(&'static str, String)> {
        vec![
            ("auto_increase", "true".into()),
            ("alertname", config.alertnames[0].clone()),
            ("cloud_account_id", "111122223333".into()),
            ("cloud_region", "us-east-1".into()),
            ("service_code", "ec2".into()),
            ("quota_code", "L-1216C47A".into()),
        ]
    }

    fn screened(config: &IncreaseConfig, pairs: &[(&str, String)], firing: bool) -> Result<(), Stop> {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (labels, key) = alert(&pairs);
        screen(&labels, firing, &key, config)
    }

    fn reason(r: Result<(), Stop>) -> Option<Reason> {
        match r {
            Err(Stop::Skip(reason, _) | Stop::Retry(reason, _)) => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn every_reason_keeps_its_spelling_and_reads_back() {
        let spellings: std::collections::HashSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(spellings.len(), Reason::ALL.len(), "two reasons share a spelling");
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(serde_json::to_string(&Reason::OpenRequestInAws).expect("json"), "\"open_request_in_aws\"");
        assert_eq!(Reason::parse("something_else"), None);
    }

    #[test]
    fn the_first_step_stops_at_the_first_rule_that_says_no() {
        let config = IncreaseConfig::default();
        let good = opted_in(&config);
        assert_eq!(screened(&config, &good, true), Ok(()));
        assert_eq!(screened(&config, &good[1..], true), Err(Stop::NotOptedIn { firing: true }));
        assert_eq!(screened(&config, &good, false), Err(Stop::Resolved));
        let mut renamed = good.clone();
        renamed[1].1 = "SomethingElse".into();
        assert_eq!(reason(screened(&config, &renamed, true)), Some(Reason::Alertname));
        let without_quota: Vec<_> = good.iter().filter(|(k, _)| *k != "quota_code").cloned().collect();
        match screened(&config, &without_quota, true) {
            Err(Stop::Skip(Reason::MissingLabels, detail)) => assert!(detail.ends_with("quota_code"), "{detail}"),
            other => panic!("{other:?}"),
        }
        let mut bad_account = good.clone();
        bad_account[2].1 = "1111".into();
        assert_eq!(reason(screened(&config, &bad_account, true)), Some(Reason::InvalidLabels));
        let mut resource = good.clone();
        resource.push(("resource", "vpc-1".into()));
        assert_eq!(reason(screened(&config, &resource, true)), Some(Reason::ResourceLevel));
    }

    #[test]
    fn the_second_step_refuses_other_accounts_uncollected_ones_and_an_inventory_not_yet_loaded() {
        let config = IncreaseConfig::default();
        let (_, key) = alert(&[
            ("cloud_account_id", "111122223333"),
            ("cloud_region", "us-east-1"),
            ("service_code", "ec2"),
            ("quota_code", "L-1216C47A"),
        ]);
        let mut entry = Entry::new(key, crate::increase::ledger::State::Skipped, 0.0);
        let regions = vec!["us-east-1".to_owned()];
        let cx = |own: &'static str, snapshot| Context {
            config: &config,
            own_account: own,
            snapshot,
            regions: &regions,
            now: 1_000.0,
            max_usage_age: 900.0,
        };
        let empty = Snapshot::default();
        assert!(matches!(judge(&mut entry, &cx("999988887777", &empty)), Err(Stop::Skip(Reason::OtherAccount, _))));
        assert!(matches!(judge(&mut entry, &cx("111122223333", &empty)), Err(Stop::Retry(Reason::NotReady, _))));
        let elsewhere = Snapshot {
            accounts: std::sync::Arc::new(vec![crate::snapshot::AccountView {
                id: "444455556666".into(),
                name: None,
                unit: None,
            }]),
            ..Snapshot::default()
        };
        assert!(matches!(judge(&mut entry, &cx("111122223333", &elsewhere)), Err(Stop::Skip(Reason::NotCollected, _))));
        assert_eq!(entry.current_value, None, "nothing learnt about the quota");
    }
}
