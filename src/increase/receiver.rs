//! The receiver: takes Alertmanager's notifications, decides per alert, checks AWS's
//! rules, files (or records what it would file, or waits for approval), follows open
//! requests until they close and reconciles what a crash left behind.
//!
//! Per firing alert, in order, stopping at the first rule that says no (each no is a
//! recorded, skipped entry with its reason):
//! 1. it carries `auto_increase="true"` and the identity labels, is not resource-level,
//!    passes the allow and deny lists, is about this exporter's account, and names a
//!    quota in the exporter's inventory that is adjustable;
//! 2. a value above the current limit is left once the caps apply ([`super::policy`]);
//! 3. the ledger lets it claim the quota: no open entry for it, no cooldown;
//! 4. AWS: Automatic Management is not adjusting the quota; `GetServiceQuota` still
//!    shows a value below the one to ask for; no open request for the quota; fewer
//!    than 2 open requests in the region and 20 in the account;
//! 5. approval, if configured; then the daily maximum (counted atomically with the
//!    move to filing); then dry-run, or `RequestServiceQuotaIncrease` in the region
//!    (us-east-1 for a global quota).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertmanager_webhook::{Alert, Payload, Status};
use serde::Serialize;

use super::ledger::{Entry, Ledger, LedgerError, Listing, QuotaKey, Refusal, State, utc_day};
use super::policy;
use super::settings::{Fault, IncreaseConfig};
use super::{AutoManagement, RequestedChange};
use crate::aws::{AwsError, TargetAws};
use crate::clock::Clock;
use crate::collector::Source;
use crate::selfmetrics::SelfMetrics;
use crate::snapshot::Hub;

/// The label that opts an alert in.
pub const OPT_IN_LABEL: &str = "auto_increase";
/// The identity labels an alert must carry.
pub const IDENTITY_LABELS: [&str; 4] = ["cloud_account_id", "cloud_region", "service_code", "quota_code"];
/// Region where AWS takes increase requests for global quotas.
pub const GLOBAL_REGION: &str = "us-east-1";
/// How long another replica's claim or filing is left alone before it is recovered.
pub const GRACE: Duration = Duration::from_secs(120);
/// How long the Automatic Management configuration is trusted.
const AUTO_MANAGEMENT_TTL: f64 = 600.0;
/// AWS's limits on open requests.
pub const OPEN_PER_REGION: usize = 2;
pub const OPEN_PER_ACCOUNT: usize = 20;

/// Refreshes the published limit of a quota after AWS approved an increase:
/// `(account, region the request was filed in, service code, quota code)`.
pub type LimitRefresh = Arc<dyn Fn(QuotaKey) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What happened to one alert of a notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertOutcome {
    pub fingerprint: String,
    pub alertname: Option<String>,
    /// filed, dry_run, awaiting_approval, skipped, failed or resolved.
    pub outcome: &'static str,
    pub reason: Option<String>,
    pub detail: String,
    pub entry_id: Option<String>,
    pub request_id: Option<String>,
    pub desired_value: Option<f64>,
    /// Worth a retry: the webhook answers 503 so that Alertmanager sends it again.
    #[serde(skip)]
    pub transient: bool,
}

/// What the exporter's inventory says about an alert's quota.
enum Known {
    /// The quota, and the forecast's recommended limit where there is one.
    Quota(crate::model::Quota, Option<f64>),
    /// The inventory is not loaded yet (start-up, or the service's listing has never
    /// succeeded): worth a retry.
    NotYet(String),
    /// The exporter collects the target and the quota is not there.
    Unknown(String),
}

/// Why an approval or rejection could not be done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApprovalError {
    #[error("no entry {0}")]
    NotFound(String),
    #[error("entry {id} is {state}, not awaiting approval")]
    NotAwaiting { id: String, state: &'static str },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// The receiver.
pub struct Receiver {
    config: Arc<IncreaseConfig>,
    ledger: Ledger,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
    sdk_config: aws_config::SdkConfig,
    rate: f64,
    metrics: Arc<SelfMetrics>,
    /// The regions whose open requests count towards the account's twenty.
    regions: Vec<String>,
    clients: Mutex<HashMap<String, TargetAws>>,
    auto_management: tokio::sync::Mutex<Option<(f64, AutoManagement)>>,
    refresh: LimitRefresh,
    /// Entries this process is working on; the tracker leaves them alone.
    inflight: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("ledger", &self.ledger).field("regions", &self.regions).finish()
    }
}

/// Marks an entry as worked on by this process while alive.
struct Inflight<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// Everything a receiver needs from start-up.
pub struct ReceiverParts {
    pub config: Arc<IncreaseConfig>,
    pub ledger: Ledger,
    pub hub: Arc<Hub>,
    pub clock: Arc<dyn Clock>,
    pub sdk_config: aws_config::SdkConfig,
    pub rate: f64,
    pub metrics: Arc<SelfMetrics>,
    pub regions: Vec<String>,
    pub refresh: LimitRefresh,
}

impl Receiver {
    pub fn new(parts: ReceiverParts) -> Arc<Receiver> {
        let mut regions = parts.regions;
        if !regions.iter().any(|r| r == GLOBAL_REGION) {
            regions.push(GLOBAL_REGION.to_owned());
        }
        Arc::new(Receiver {
            config: parts.config,
            ledger: parts.ledger,
            hub: parts.hub,
            clock: parts.clock,
            sdk_config: parts.sdk_config,
            rate: parts.rate,
            metrics: parts.metrics,
            regions,
            clients: Mutex::new(HashMap::new()),
            auto_management: tokio::sync::Mutex::new(None),
            refresh: parts.refresh,
            inflight: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
        })
    }

    pub fn config(&self) -> &IncreaseConfig {
        &self.config
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn client(&self, region: &str) -> TargetAws {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| TargetAws::new(&self.sdk_config, region, self.rate, self.metrics.clone()))
            .clone()
    }

    fn track(&self, id: &str) -> Option<Inflight<'_>> {
        let mut set = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(id.to_owned()).then(|| Inflight { set: &self.inflight, id: id.to_owned() })
    }

    /// Decides every alert of a notification, one after the other.
    pub async fn handle(&self, payload: &Payload) -> Vec<AlertOutcome> {
        let mut outcomes = Vec::with_capacity(payload.alerts.len());
        for alert in &payload.alerts {
            let outcome = self.decide(alert).await;
            self.metrics.count_increase(outcome.outcome, outcome.reason.as_deref().unwrap_or(""));
            outcomes.push(outcome);
        }
        self.publish_view().await;
        outcomes
    }

    async fn decide(&self, alert: &Alert) -> AlertOutcome {
        let now = self.clock.now();
        let label = |k: &str| alert.labels.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let key = QuotaKey {
            account: label("cloud_account_id").unwrap_or_default().to_owned(),
            region: label("cloud_region").unwrap_or_default().to_owned(),
            service_code: label("service_code").unwrap_or_default().to_owned(),
            quota_code: label("quota_code").unwrap_or_default().to_owned(),
        };
        let mut entry = Entry::new(key, State::Skipped, now);
        entry.alertname = label("alertname").map(str::to_owned);
        entry.fingerprint = Some(alert.fingerprint.clone());
        entry.starts_at = Some(alert.starts_at.clone());

        if alert.status == Status::Resolved {
            entry.state = State::Resolved;
            entry.detail = "the alert resolved; recorded, not acted on".into();
            return self.record(entry, "resolved", None).await;
        }
        if label(OPT_IN_LABEL) != Some("true") {
            return self.skip(entry, "not_opted_in", format!("the alert does not carry {OPT_IN_LABEL}=\"true\"")).await;
        }
        let missing: Vec<&str> = IDENTITY_LABELS.into_iter().filter(|l| label(l).is_none()).collect();
        if !missing.is_empty() {
            return self
                .skip(entry, "missing_labels", format!("the alert lacks the label(s) {}", missing.join(", ")))
                .await;
        }
        if !crate::config::is_region_code(&entry.key.region) {
            let detail = format!("cloud_region={:?} is not a region code", entry.key.region);
            return self.skip(entry, "invalid_labels", detail).await;
        }
        if let Some(resource) = label("resource") {
            let detail = format!("resource-level quotas (resource={resource}) are not requested automatically");
            return self.skip(entry, "resource_level", detail).await;
        }
        let (service, quota_code) = (entry.key.service_code.clone(), entry.key.quota_code.clone());
        if let Err(why) = self.config.allows(&service, &quota_code) {
            return self.skip(entry, "policy", why).await;
        }
        let account = match self.client(&self.regions[0]).caller_account_id().await {
            Ok(a) => a,
            Err(e) => return self.fail_unclaimed(entry, &e).await,
        };
        if account != entry.key.account {
            let detail = format!(
                "the alert is about account {}, this exporter's credentials are for {account}",
                entry.key.account
            );
            return self.skip(entry, "other_account", detail).await;
        }
        let (quota, recommended) = match self.known_quota(&entry.key) {
            Known::Quota(quota, recommended) => (quota, recommended),
            Known::NotYet(detail) => {
                // After a restart Alertmanager may notify before the first listing: a 503
                // makes it send again, and nothing is decided on a half-known inventory.
                let mut o = self.skip(entry, "not_ready", detail).await;
                o.transient = true;
                return o;
            }
            Known::Unknown(detail) => return self.skip(entry, "unknown_quota", detail).await,
        };
        if !quota.adjustable {
            return self.skip(entry, "not_adjustable", format!("{service}/{quota_code} is not adjustable")).await;
        }
        let Some(limit) = quota.limit else {
            return self.skip(entry, "unknown_limit", "the quota has no known limit".into()).await;
        };
        if quota.global {
            entry.key.region = GLOBAL_REGION.to_owned();
        }
        entry.current_value = Some(limit);
        let ask = match policy::desired_value(&self.config, &service, &quota_code, limit, recommended) {
            Ok(ask) => ask,
            Err(no) => return self.skip(entry, "capped", no.0).await,
        };
        entry.desired_value = Some(ask.desired);
        entry.detail = format!("asking for {}: {}", ask.desired, ask.basis);
        entry.state = State::Checking;
        match self.ledger.claim(&entry, now).await {
            Err(e) => outcome_for_ledger_error(&entry, e),
            Ok(Err(Refusal::Busy { id, state })) => {
                let detail = format!("entry {id} for this quota is {}", state.as_str());
                entry.state = State::Skipped;
                self.skip(entry, "open_request", detail).await
            }
            Ok(Err(Refusal::Cooldown { until })) => {
                let detail = format!(
                    "a request for this quota closed recently; the next may be filed from {until:.0} (epoch seconds)"
                );
                entry.state = State::Skipped;
                self.skip(entry, "cooldown", detail).await
            }
            Ok(Err(other)) => {
                entry.state = State::Skipped;
                self.skip(entry, "ledger", format!("{other:?}")).await
            }
            Ok(Ok(())) => {
                let _inflight = self.track(&entry.id);
                self.check_and_file(entry, State::Checking).await
            }
        }
    }

    /// The quota in the exporter's inventory for the alert's account and region, and
    /// the forecast's recommended limit for it, if any.
    fn known_quota(&self, key: &QuotaKey) -> Known {
        let snapshot = self.hub.snapshot();
        let (service_code, quota_code) = (&key.service_code, &key.quota_code);
        let Some(target) =
            snapshot.targets.iter().find(|t| t.account_label() == key.account && t.target.region == key.region)
        else {
            // A configured region none of whose targets has listed its quotas yet.
            let pending = self.regions.contains(&key.region)
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
        let recommended = target
            .forecasts
            .quotas
            .get(&(quota.service_code.clone(), quota.code.clone(), None))
            .and_then(|f| f.recommended_limit);
        Known::Quota(quota, recommended)
    }

    /// The AWS checks, then approval, the daily maximum, and filing. `entry` holds its
    /// quota, in state `from`.
    async fn check_and_file(&self, mut entry: Entry, from: State) -> AlertOutcome {
        let aws = self.client(&entry.key.region);
        let (service, quota_code) = (entry.key.service_code.clone(), entry.key.quota_code.clone());
        let desired = entry.desired_value.unwrap_or_default();

        match self.auto_management(&aws).await {
            Ok(Some(am)) if am.may_adjust(&service, &quota_code) => {
                let detail = "AWS Automatic Management (NotifyAndAdjust) is on for this account and the quota's service \
                              is not excluded: AWS may be adjusting it, so the receiver does not file";
                return self.close(entry, from, State::Skipped, "auto_management", detail.into(), false).await;
            }
            Ok(_) => {}
            Err(e) => return self.close_aws_error(entry, from, &e).await,
        }
        match aws.current_quota(&service, &quota_code).await {
            Err(e) => return self.close_aws_error(entry, from, &e).await,
            Ok(q) if !q.adjustable => {
                let detail = format!("AWS reports {service}/{quota_code} as not adjustable");
                return self.close(entry, from, State::Skipped, "not_adjustable", detail, false).await;
            }
            Ok(q) if q.value >= desired => {
                let detail = format!("AWS's current value {} is already at or above {desired}", q.value);
                entry.current_value = Some(q.value);
                return self.close(entry, from, State::Skipped, "not_above_current", detail, false).await;
            }
            Ok(q) => entry.current_value = Some(q.value),
        }
        match aws.requests_for_quota(&service, &quota_code).await {
            Err(e) => return self.close_aws_error(entry, from, &e).await,
            Ok(requests) => {
                if let Some(open) = requests.iter().find(|r| r.is_open()) {
                    let by = if open.automatic { " by AWS Automatic Management" } else { "" };
                    let detail = format!("request {} for this quota is open in AWS ({}{by})", open.id, open.status);
                    return self.close(entry, from, State::Skipped, "open_request_in_aws", detail, false).await;
                }
            }
        }
        match self.open_counts(&entry.key.region).await {
            Err(e) => return self.close_aws_error(entry, from, &e).await,
            Ok((region, _)) if region >= OPEN_PER_REGION => {
                let detail = format!(
                    "{region} requests are open in {}; AWS allows {OPEN_PER_REGION} per region",
                    entry.key.region
                );
                return self.close(entry, from, State::Skipped, "region_limit", detail, false).await;
            }
            Ok((_, account)) if account >= OPEN_PER_ACCOUNT => {
                let detail = format!("{account} requests are open in the account; AWS allows {OPEN_PER_ACCOUNT}");
                return self.close(entry, from, State::Skipped, "account_limit", detail, false).await;
            }
            Ok(_) => {}
        }
        let now = self.clock.now();
        if from == State::Checking && self.config.approval {
            let mut waiting = entry.moved(State::AwaitingApproval, now);
            waiting.detail = format!("{}; awaiting approval", entry.detail);
            return match self.ledger.update(&waiting, &[from]).await {
                Ok(Ok(())) => outcome(&waiting, "awaiting_approval", None),
                Ok(Err(_)) => outcome(&waiting, "skipped", Some("moved")),
                Err(e) => outcome_for_ledger_error(&waiting, e),
            };
        }

        let mut filing = entry.moved(State::Filing, now);
        filing.counted_day = Some(utc_day(now));
        match self.ledger.begin_filing(&filing, &[from], self.config.daily_max).await {
            Err(e) => return outcome_for_ledger_error(&entry, e),
            Ok(Err(Refusal::DailyMax { max })) => {
                let detail =
                    format!("{max} requests were already filed today (UTC); QUOTA_EXPORTER_INCREASE_DAILY_MAX={max}");
                return self.close(entry, from, State::Skipped, "daily_maximum", detail, false).await;
            }
            Ok(Err(_)) => return outcome(&entry, "skipped", Some("moved")),
            Ok(Ok(())) => {}
        }
        if self.config.dry_run {
            let mut dry = filing.moved(State::DryRun, self.clock.now());
            dry.cooldown_until = Some(dry.updated_at + self.config.cooldown.as_secs_f64());
            dry.detail = format!("dry run: would have filed {desired} ({})", entry.detail);
            return match self.ledger.update(&dry, &[State::Filing]).await {
                Ok(_) => outcome(&dry, "dry_run", None),
                Err(e) => outcome_for_ledger_error(&dry, e),
            };
        }
        match aws.request_increase(&service, &quota_code, desired).await {
            Ok(change) => {
                if self.config.fault == Some(Fault::CrashAfterFiling) {
                    tracing::error!(request_id = %change.id, "fault injection: crashing after filing, before recording");
                    std::process::abort();
                }
                let mut filed = filing.moved(State::Filed, self.clock.now());
                filed.request_id = Some(change.id.clone());
                filed.aws_status = Some(change.status.clone());
                filed.case_id = change.case_id.clone();
                filed.detail = format!("filed: {}", entry.detail);
                tracing::info!(
                    quota = %filed.key,
                    desired,
                    request_id = %change.id,
                    "quota increase requested"
                );
                match self.ledger.update(&filed, &[State::Filing]).await {
                    Ok(_) => outcome(&filed, "filed", None),
                    // Filed in AWS but not recorded: the reconciler finds it by its value and time.
                    Err(e) => outcome_for_ledger_error(&filed, e),
                }
            }
            Err(e) if is_ambiguous(&e) => {
                // AWS may or may not have the request: the entry stays in Filing and the
                // reconciler settles it against AWS's history.
                let mut o = outcome(&filing, "failed", Some("unconfirmed"));
                o.detail = format!("{e}; whether AWS recorded the request will be checked against its history");
                o.transient = true;
                o
            }
            Err(e) => self.close_aws_error(filing, State::Filing, &e).await,
        }
    }

    /// Open requests in `region`, and in the whole account (every region the receiver knows).
    async fn open_counts(&self, region: &str) -> Result<(usize, usize), AwsError> {
        let mut in_region = 0;
        let mut in_account = 0;
        for r in &self.regions {
            let open = self.client(r).open_requests().await?.len();
            if r == region {
                in_region = open;
            }
            in_account += open;
        }
        if !self.regions.iter().any(|r| r == region) {
            in_region = self.client(region).open_requests().await?.len();
            in_account += in_region;
        }
        Ok((in_region, in_account))
    }

    /// The account's Automatic Management configuration, cached for ten minutes.
    /// `None` when it cannot be read for lack of permission: then nothing is known
    /// and nothing is skipped for it.
    async fn auto_management(&self, aws: &TargetAws) -> Result<Option<AutoManagement>, AwsError> {
        let now = self.clock.now();
        let mut cache = self.auto_management.lock().await;
        if let Some((at, am)) = cache.as_ref()
            && now - at < AUTO_MANAGEMENT_TTL
        {
            return Ok(Some(am.clone()));
        }
        match aws.auto_management().await {
            Ok(am) => {
                *cache = Some((now, am.clone()));
                Ok(Some(am))
            }
            Err(AwsError::AccessDenied { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn record(&self, entry: Entry, outcome_name: &'static str, reason: Option<&str>) -> AlertOutcome {
        match self.ledger.record(&entry).await {
            Ok(()) => outcome(&entry, outcome_name, reason),
            Err(e) => outcome_for_ledger_error(&entry, e),
        }
    }

    async fn skip(&self, mut entry: Entry, reason: &'static str, detail: String) -> AlertOutcome {
        entry.state = State::Skipped;
        entry.reason = Some(reason.to_owned());
        entry.detail = detail;
        self.record(entry, "skipped", Some(reason)).await
    }

    /// An AWS error before anything was claimed.
    async fn fail_unclaimed(&self, mut entry: Entry, e: &AwsError) -> AlertOutcome {
        entry.state = State::Failed;
        entry.reason = Some("aws_error".into());
        entry.detail = e.to_string();
        let mut o = self.record(entry, "failed", Some("aws_error")).await;
        o.transient = true;
        o
    }

    /// Closes a claimed entry in `state` (skipped or failed), releasing its quota.
    async fn close(
        &self,
        entry: Entry,
        from: State,
        state: State,
        reason: &'static str,
        detail: String,
        transient: bool,
    ) -> AlertOutcome {
        let mut closed = entry.moved(state, self.clock.now());
        closed.reason = Some(reason.to_owned());
        closed.detail = detail;
        let name = if state == State::Failed { "failed" } else { "skipped" };
        let mut o = match self.ledger.update(&closed, &[from]).await {
            Ok(_) => outcome(&closed, name, Some(reason)),
            Err(e) => outcome_for_ledger_error(&closed, e),
        };
        o.transient |= transient;
        o
    }

    /// An AWS error as a recorded failure.
    async fn close_aws_error(&self, entry: Entry, from: State, e: &AwsError) -> AlertOutcome {
        let (reason, transient) = match e.code() {
            Some("ResourceAlreadyExistsException") => ("open_request_in_aws", false),
            Some("QuotaExceededException") => ("aws_request_limit", false),
            Some("IllegalArgumentException") => ("illegal_argument", false),
            Some("AccessDeniedException" | "DependencyAccessDeniedException") => ("access_denied", false),
            Some("NoSuchResourceException") => ("no_such_quota", false),
            Some("InvalidResourceStateException") => ("invalid_state", false),
            _ if matches!(e, AwsError::Throttled { .. }) => ("throttled", true),
            _ => ("aws_error", true),
        };
        self.close(entry, from, State::Failed, reason, e.to_string(), transient).await
    }

    /// Approves an entry awaiting approval and files it.
    pub async fn approve(&self, id: &str) -> Result<AlertOutcome, ApprovalError> {
        let entry = self.ledger.get(id).await?.ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
        if entry.state != State::AwaitingApproval {
            return Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: entry.state.as_str() });
        }
        let mut approved = entry.moved(State::Approved, self.clock.now());
        approved.detail = format!("{}; approved", entry.detail.trim_end_matches("; awaiting approval"));
        if let Err(_moved) = self.ledger.update(&approved, &[State::AwaitingApproval]).await? {
            return Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: "moved" });
        }
        let outcome = match self.track(&approved.id) {
            Some(_inflight) => self.check_and_file(approved, State::Approved).await,
            None => outcome(&approved, "skipped", Some("in_progress")),
        };
        self.metrics.count_increase(outcome.outcome, outcome.reason.as_deref().unwrap_or(""));
        self.publish_view().await;
        Ok(outcome)
    }

    /// Rejects an entry awaiting approval; the cooldown starts.
    pub async fn reject(&self, id: &str) -> Result<Entry, ApprovalError> {
        let rejected = reject(&self.ledger, id, self.clock.now(), self.config.cooldown).await?;
        self.metrics.count_increase("rejected", "");
        self.publish_view().await;
        Ok(rejected)
    }

    /// Wakes the tracker (after an approval from the command line, for example).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Follows open requests forever: at once (recovering what a crash left), then
    /// every poll interval or when woken.
    pub async fn run(self: Arc<Self>) {
        // A SQLite ledger belongs to this receiver alone: whatever it finds open and
        // not worked on is a previous run's.
        let mut grace = if self.ledger.is_shared() { GRACE } else { Duration::ZERO };
        loop {
            if let Err(e) = self.tick(grace).await {
                tracing::warn!(error = %e, "following increase requests failed; trying again at the next poll");
            }
            grace = GRACE;
            tokio::select! {
                () = tokio::time::sleep(self.config.poll_interval) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// One pass over the open entries.
    pub async fn tick(&self, grace: Duration) -> Result<(), LedgerError> {
        let open = self.ledger.list(Listing::Open, 10_000).await?;
        let had_open = !open.is_empty();
        for entry in open {
            let Some(_inflight) = self.track(&entry.id) else { continue };
            let stale = self.clock.now() - entry.updated_at >= grace.as_secs_f64();
            match entry.state {
                State::Checking if stale => {
                    let mut e = entry.moved(State::Abandoned, self.clock.now());
                    e.detail = format!("{}; the receiver stopped during its checks, nothing was filed", entry.detail);
                    self.ledger.update(&e, &[State::Checking]).await?.ok();
                    self.metrics.count_increase("abandoned", "");
                }
                State::Filing if stale => self.reconcile(entry).await?,
                State::Approved => {
                    let o = self.check_and_file(entry, State::Approved).await;
                    self.metrics.count_increase(o.outcome, o.reason.as_deref().unwrap_or(""));
                }
                State::Filed => self.follow(entry).await?,
                _ => {}
            }
        }
        // With nothing open and nothing shown, the pass changed nothing: no re-render
        // of the whole exposition every poll.
        if had_open || !self.hub.snapshot().increase_requests.is_empty() {
            self.publish_view().await;
        }
        Ok(())
    }

    /// Settles an entry left in Filing: AWS has a matching request (same quota and
    /// value, created after the intent), or nothing was filed.
    async fn reconcile(&self, entry: Entry) -> Result<(), LedgerError> {
        let aws = self.client(&entry.key.region);
        let requests = match aws.requests_for_quota(&entry.key.service_code, &entry.key.quota_code).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(quota = %entry.key, error = %e, "cannot reconcile an interrupted filing yet");
                return Ok(());
            }
        };
        let now = self.clock.now();
        let matching = find_filed(&requests, &entry);
        let settled = match matching {
            Some(r) => {
                let mut e = entry.moved(if r.is_open() { State::Filed } else { State::Closed }, now);
                e.request_id = Some(r.id.clone());
                e.aws_status = Some(r.status.clone());
                e.case_id = r.case_id.clone();
                e.detail = format!("{}; recorded after a restart: AWS has request {}", entry.detail, r.id);
                if !r.is_open() {
                    e.cooldown_until = Some(now + self.config.cooldown.as_secs_f64());
                }
                tracing::info!(quota = %e.key, request_id = %r.id, "an interrupted filing was found in AWS and recorded");
                e
            }
            None => {
                let mut e = entry.moved(State::Failed, now);
                e.reason = Some("interrupted".into());
                e.detail =
                    format!("{}; the receiver stopped before AWS recorded a request: nothing was filed", entry.detail);
                e
            }
        };
        self.ledger.update(&settled, &[State::Filing]).await?.ok();
        self.metrics.count_increase("reconciled", settled.state.as_str());
        Ok(())
    }

    /// Reads a filed request's status; closes it when AWS has decided.
    async fn follow(&self, entry: Entry) -> Result<(), LedgerError> {
        let Some(id) = entry.request_id.clone() else { return Ok(()) };
        let change = match self.client(&entry.key.region).requested_change(&id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(request_id = %id, error = %e, "cannot read an open increase request yet");
                return Ok(());
            }
        };
        let now = self.clock.now();
        if change.is_open() {
            if entry.aws_status.as_deref() != Some(change.status.as_str()) || entry.case_id != change.case_id {
                let mut e = entry.moved(State::Filed, now);
                e.aws_status = Some(change.status.clone());
                e.case_id = change.case_id.clone();
                self.ledger.update(&e, &[State::Filed]).await?.ok();
            }
            return Ok(());
        }
        let mut closed = entry.moved(State::Closed, now);
        closed.aws_status = Some(change.status.clone());
        closed.case_id = change.case_id.clone();
        closed.cooldown_until = Some(now + self.config.cooldown.as_secs_f64());
        closed.detail = format!("{}; AWS closed it: {}", entry.detail, change.status);
        if self.ledger.update(&closed, &[State::Filed]).await?.is_ok() {
            tracing::info!(quota = %closed.key, request_id = %id, status = %change.status, "quota increase request closed");
            self.metrics.count_increase(&change.status.to_ascii_lowercase(), "");
            if change.status == "APPROVED" {
                (self.refresh)(closed.key.clone()).await;
            }
        }
        Ok(())
    }

    /// Publishes the open entries for the metrics and waits (a little) until
    /// `/metrics` shows them, so that a client that got its answer sees its effect.
    pub async fn publish_view(&self) {
        match self.ledger.list(Listing::Open, 10_000).await {
            Ok(open) => {
                let generation = self.hub.set_increase_requests(open);
                let _ = tokio::time::timeout(Duration::from_secs(2), self.hub.wait_rendered(generation)).await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot list open increase requests for the metrics"),
        }
    }
}

/// Rejects an entry awaiting approval (the receiver and the `requests` subcommand).
pub async fn reject(ledger: &Ledger, id: &str, now: f64, cooldown: Duration) -> Result<Entry, ApprovalError> {
    let entry = ledger.get(id).await?.ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
    if entry.state != State::AwaitingApproval {
        return Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: entry.state.as_str() });
    }
    let mut rejected = entry.moved(State::Rejected, now);
    rejected.cooldown_until = Some(now + cooldown.as_secs_f64());
    rejected.detail = format!("{}; rejected", entry.detail.trim_end_matches("; awaiting approval"));
    match ledger.update(&rejected, &[State::AwaitingApproval]).await? {
        Ok(()) => Ok(rejected),
        Err(_) => Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: "moved" }),
    }
}

/// Marks an entry approved without filing it (the `requests` subcommand): the running
/// receiver files it at its next poll.
pub async fn mark_approved(ledger: &Ledger, id: &str, now: f64) -> Result<Entry, ApprovalError> {
    let entry = ledger.get(id).await?.ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
    if entry.state != State::AwaitingApproval {
        return Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: entry.state.as_str() });
    }
    let mut approved = entry.moved(State::Approved, now);
    approved.detail = format!("{}; approved", entry.detail.trim_end_matches("; awaiting approval"));
    match ledger.update(&approved, &[State::AwaitingApproval]).await? {
        Ok(()) => Ok(approved),
        Err(_) => Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: "moved" }),
    }
}

/// The request an interrupted filing made, if AWS has it: same value, created no
/// earlier than a minute before the intent was recorded (clocks differ).
pub fn find_filed<'a>(requests: &'a [RequestedChange], entry: &Entry) -> Option<&'a RequestedChange> {
    let desired = entry.desired_value?;
    requests
        .iter()
        .filter(|r| r.desired == Some(desired))
        .find(|r| r.created.is_none_or(|c| c >= entry.updated_at - 60.0))
}

/// Whether AWS may have acted on a call that did not confirm: a transport failure or
/// a server error after the request was sent.
fn is_ambiguous(e: &AwsError) -> bool {
    match e {
        AwsError::Transport { .. } => true,
        AwsError::Api { code, .. } => code == "ServiceException" || code == "InternalFailure",
        _ => false,
    }
}

fn outcome(entry: &Entry, name: &'static str, reason: Option<&str>) -> AlertOutcome {
    AlertOutcome {
        fingerprint: entry.fingerprint.clone().unwrap_or_default(),
        alertname: entry.alertname.clone(),
        outcome: name,
        reason: reason.map(str::to_owned).or_else(|| entry.reason.clone()),
        detail: entry.detail.clone(),
        entry_id: Some(entry.id.clone()),
        request_id: entry.request_id.clone(),
        desired_value: entry.desired_value,
        transient: false,
    }
}

fn outcome_for_ledger_error(entry: &Entry, e: LedgerError) -> AlertOutcome {
    tracing::warn!(quota = %entry.key, error = %e, "the increase ledger failed; Alertmanager will retry");
    AlertOutcome {
        fingerprint: entry.fingerprint.clone().unwrap_or_default(),
        alertname: entry.alertname.clone(),
        outcome: "failed",
        reason: Some("ledger".into()),
        detail: e.to_string(),
        entry_id: None,
        request_id: None,
        desired_value: entry.desired_value,
        transient: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, desired: f64, created: f64, status: &str) -> RequestedChange {
        RequestedChange {
            id: id.into(),
            service_code: "ec2".into(),
            quota_code: "L-1216C47A".into(),
            desired: Some(desired),
            status: status.into(),
            case_id: None,
            created: Some(created),
            automatic: false,
        }
    }

    #[test]
    fn an_interrupted_filing_is_matched_by_value_and_time_only() {
        let key = QuotaKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            service_code: "ec2".into(),
            quota_code: "L-1216C47A".into(),
        };
        let mut e = Entry::new(key, State::Filing, 10_000.0);
        e.desired_value = Some(1280.0);
        let requests = [
            change("old", 1280.0, 5_000.0, "APPROVED"),
            change("other-value", 960.0, 10_001.0, "PENDING"),
            change("ours", 1280.0, 10_002.0, "PENDING"),
        ];
        assert_eq!(find_filed(&requests, &e).map(|r| r.id.as_str()), Some("ours"));
        assert_eq!(find_filed(&requests[..2], &e), None, "an old request with the same value is not ours");
    }
}
