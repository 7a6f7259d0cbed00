//! The receiver: takes Alertmanager's notifications, decides per alert, checks AWS's
//! rules, files (or records what it would file, or waits for approval), follows open
//! requests until they close and reconciles what a crash left behind.
//!
//! Per firing alert, in order, stopping at the first rule that says no (an alert that is
//! not opted in is only counted; every other no is a recorded, skipped entry with its
//! reason):
//! 1. it carries `auto_increase="true"`, an allowed alert name and valid identity
//!    labels, is not resource-level, passes the allow and deny lists, is about this
//!    exporter's account, and names a quota in the exporter's inventory that is
//!    adjustable;
//! 2. the exporter's own latest data backs it ([`super::evidence`]): utilisation at or
//!    above the minimum, or a forecast exhaustion within the horizon;
//! 3. a value above the current limit is left once the caps apply ([`super::policy`]);
//! 4. the ledger lets it claim the quota: no open entry for it, no cooldown;
//! 5. AWS: Automatic Management is not adjusting the quota; `GetServiceQuota` still
//!    shows a value below the one to ask for; no open request for the quota; fewer
//!    than 2 open requests in the region and 20 in the account;
//! 6. approval, if configured; then the daily maximum (counted atomically with the
//!    move to filing); then dry-run, or `RequestServiceQuotaIncrease` in the region
//!    (us-east-1 for a global quota), in one attempt: a lost answer, a server error or
//!    `ResourceAlreadyExistsException` is settled against AWS's request history at
//!    once, never by filing again.
//!
//! No lock is held across an AWS call, and a ledger that cannot be opened leaves the
//! receiver answering 503 while it tries again in the background.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertmanager_webhook::{Alert, Payload, Status};
use serde::Serialize;

use super::backend::Ledger;
use super::evidence::{self, Evidence};
use super::ledger::{Entry, LedgerError, Listing, QuotaKey, Refusal, State, utc_day};
use super::policy;
use super::{AutoManagement, RequestedChange};
use crate::aws::{AwsError, ClientParts, TargetAws};
use crate::clock::Clock;
use crate::collector::Source;
use crate::config::increase::IncreaseConfig;
use crate::snapshot::Store;

/// The label that opts an alert in.
pub const OPT_IN_LABEL: &str = "auto_increase";
/// The identity labels an alert must carry.
pub const IDENTITY_LABELS: [&str; 4] = ["cloud_account_id", "cloud_region", "service_code", "quota_code"];
/// Region where AWS takes increase requests for global quotas.
pub const GLOBAL_REGION: &str = "us-east-1";
/// How long another replica's filing is left alone before it is settled against AWS's
/// history (a `RequestServiceQuotaIncrease` takes at most 20 s).
pub const GRACE: Duration = Duration::from_secs(120);
/// How long a claim may sit in its checks before it counts as abandoned: longer than
/// the checks' AWS calls can take, each bounded, under throttling.
pub const CHECKING_GRACE: Duration = Duration::from_secs(900);
/// How long the Automatic Management configuration is trusted.
const AUTO_MANAGEMENT_TTL: f64 = 600.0;
/// AWS's limits on open requests.
pub const OPEN_PER_REGION: usize = 2;
pub const OPEN_PER_ACCOUNT: usize = 20;
/// The first wait before opening a ledger that failed to open again; it doubles up to
/// [`LEDGER_RETRY_MAX`].
const LEDGER_RETRY_FIRST: Duration = Duration::from_secs(1);
const LEDGER_RETRY_MAX: Duration = Duration::from_secs(60);
/// How often closed entries past the retention are purged.
const PURGE_EVERY: f64 = 3600.0;

/// Raises the published limit of a quota after AWS approved an increase: the quota
/// (its region is where the request was filed), the value AWS now reports, and whether
/// the quota is global (published from another region).
pub type LimitRefresh = Arc<dyn Fn(QuotaKey, f64, bool) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

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

/// What the exporter knows about an alert's quota.
struct Facts {
    quota: crate::model::Quota,
    /// The forecast's recommended limit, where there is one.
    recommended: Option<f64>,
    usage: Option<f64>,
    /// When that usage was measured (epoch seconds).
    usage_at: Option<f64>,
    exhaustion: Option<f64>,
    r2: Option<f64>,
}

/// What the exporter's inventory says about an alert's quota.
enum Known {
    Quota(Box<Facts>),
    /// The inventory is not loaded yet (start-up, or the service's listing has never
    /// succeeded): worth a retry.
    NotYet(String),
    /// The exporter collects the target and the quota is not there.
    Unknown(String),
}

/// How a claimed entry closes: skipped or failed, why, and whether Alertmanager
/// should send the alert again.
struct Release {
    state: State,
    reason: &'static str,
    detail: String,
    transient: bool,
}

impl Release {
    fn skipped(reason: &'static str, detail: String) -> Release {
        Release { state: State::Skipped, reason, detail, transient: false }
    }
}

/// The ledger, once it could be opened.
enum LedgerSlot {
    Open(Ledger),
    /// Not open yet: why, and when to try again (epoch seconds) after `wait`.
    Closed {
        error: String,
        retry_at: f64,
        wait: Duration,
    },
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
    ledger: Mutex<LedgerSlot>,
    /// Set while one caller opens the ledger, so that others do not wait for it.
    opening: std::sync::atomic::AtomicBool,
    hub: Arc<Store>,
    clock: Arc<dyn Clock>,
    /// The SDK configuration of the receiver's calls: the write role's, if one is set.
    sdk_config: aws_config::SdkConfig,
    /// The exporter's own, for a DynamoDB ledger.
    ledger_sdk_config: aws_config::SdkConfig,
    parts: ClientParts,
    /// The regions whose open requests count towards the account's twenty.
    regions: Vec<String>,
    /// Clients by account and region.
    clients: Mutex<HashMap<(String, String), TargetAws>>,
    /// The account the receiver's own write credentials are for, once STS has said.
    own_account: tokio::sync::OnceCell<String>,
    /// Each other account's write role configuration (one credential provider each).
    account_sdks: tokio::sync::Mutex<HashMap<String, aws_config::SdkConfig>>,
    auto_management: Mutex<HashMap<String, (f64, AutoManagement)>>,
    /// The oldest usage reading taken as evidence, in seconds.
    max_usage_age: f64,
    session: crate::aws::Session,
    refresh: LimitRefresh,
    /// Entries this process is working on; the tracker leaves them alone.
    inflight: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
    last_purge: Mutex<f64>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("regions", &self.regions).finish()
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
    pub hub: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    /// The receiver's AWS calls: the write role's configuration, if one is set.
    pub sdk_config: aws_config::SdkConfig,
    /// The exporter's own configuration, for a DynamoDB ledger.
    pub ledger_sdk_config: aws_config::SdkConfig,
    pub client_parts: ClientParts,
    pub regions: Vec<String>,
    pub refresh: LimitRefresh,
    /// The oldest usage reading taken as evidence: a couple of usage refreshes and the
    /// lookback window.
    pub max_usage_age: Duration,
    /// How the write roles' sessions are made (`QUOTA_EXPORTER_ROLE_SESSION_DURATION`).
    pub session: crate::aws::Session,
}

impl Receiver {
    /// A receiver whose ledger is not open yet: [`Receiver::open_ledger`] opens it.
    pub fn new(parts: ReceiverParts) -> Arc<Receiver> {
        let mut regions = parts.regions;
        if !regions.iter().any(|r| r == GLOBAL_REGION) {
            regions.push(GLOBAL_REGION.to_owned());
        }
        let now = parts.clock.now();
        Arc::new(Receiver {
            config: parts.config,
            ledger: Mutex::new(LedgerSlot::Closed {
                error: "the increase ledger has not been opened yet".into(),
                retry_at: now,
                wait: LEDGER_RETRY_FIRST,
            }),
            opening: std::sync::atomic::AtomicBool::new(false),
            hub: parts.hub,
            clock: parts.clock,
            sdk_config: parts.sdk_config,
            ledger_sdk_config: parts.ledger_sdk_config,
            parts: parts.client_parts,
            regions,
            clients: Mutex::new(HashMap::new()),
            own_account: tokio::sync::OnceCell::new(),
            account_sdks: tokio::sync::Mutex::new(HashMap::new()),
            auto_management: Mutex::new(HashMap::new()),
            max_usage_age: parts.max_usage_age.as_secs_f64(),
            session: parts.session,
            refresh: parts.refresh,
            inflight: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
            last_purge: Mutex::new(0.0),
        })
    }

    pub fn config(&self) -> &IncreaseConfig {
        &self.config
    }

    /// The ledger, opening it first if it is not open and its next try is due. While
    /// it cannot be opened, the error says why; it is tried again with a backoff (here
    /// and in [`Receiver::run`]), and the rest of the exporter carries on.
    pub async fn ledger(&self) -> Result<Ledger, LedgerError> {
        let due = match &*self.ledger.lock().unwrap_or_else(|p| p.into_inner()) {
            LedgerSlot::Open(l) => return Ok(l.clone()),
            LedgerSlot::Closed { error, retry_at, .. } => (self.clock.now() >= *retry_at)
                .then_some(())
                .ok_or_else(|| LedgerError(format!("{error}; trying again in the background"))),
        };
        due?;
        self.open_ledger().await
    }

    /// Opens the ledger now, unless another caller is at it; records the result.
    pub async fn open_ledger(&self) -> Result<Ledger, LedgerError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        /// Clears the flag however the opening ends, a dropped future included.
        struct Opening<'a>(&'a AtomicBool);
        impl Drop for Opening<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        if self.opening.swap(true, Ordering::SeqCst) {
            return Err(LedgerError("the increase ledger is being opened; try again in a moment".into()));
        }
        let _opening = Opening(&self.opening);
        let opened = super::open_ledger(&self.config, &self.ledger_sdk_config).await;
        let now = self.clock.now();
        let result = {
            let mut slot = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
            match (opened, &*slot) {
                (Ok(l), _) => {
                    *slot = LedgerSlot::Open(l.clone());
                    Ok(l)
                }
                (Err(e), LedgerSlot::Closed { error, wait, .. }) => {
                    if *error != e.0 {
                        tracing::warn!(error = %e, "the increase ledger cannot be opened; the receiver answers 503 and tries again");
                    }
                    let next = (*wait * 2).min(LEDGER_RETRY_MAX);
                    *slot = LedgerSlot::Closed { error: e.0.clone(), retry_at: now + wait.as_secs_f64(), wait: next };
                    Err(e)
                }
                (Err(e), LedgerSlot::Open(_)) => Err(e),
            }
        };
        self.parts.metrics.set_increase_ledger_available(result.is_ok());
        if result.is_ok() {
            tracing::info!("the increase ledger is open");
        }
        result
    }

    /// The account the receiver's own write credentials are for.
    async fn own_account(&self) -> Result<String, AwsError> {
        self.own_account
            .get_or_try_init(|| async {
                TargetAws::new(&self.sdk_config, &self.regions[0], &self.parts).caller_account_id().await
            })
            .await
            .cloned()
    }

    /// A client that files in `account`'s `region`: the receiver's own credentials in
    /// its own account, the `QUOTA_EXPORTER_INCREASE_ROLE_NAME` role in any other (one
    /// assumed-role provider per account, shared by its regions).
    async fn client(&self, account: &str, region: &str) -> Result<TargetAws, AwsError> {
        let key = (account.to_owned(), region.to_owned());
        if let Some(c) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(c.clone());
        }
        let sdk = if account == self.own_account().await? {
            self.sdk_config.clone()
        } else {
            let Some(name) = &self.config.role_name else {
                return Err(AwsError::AccessDenied {
                    operation: "AssumeRole",
                    code: "NoWriteRole".into(),
                    message: format!("no QUOTA_EXPORTER_INCREASE_ROLE_NAME to file in account {account} with"),
                });
            };
            let mut sdks = self.account_sdks.lock().await;
            match sdks.get(account) {
                Some(sdk) => sdk.clone(),
                None => {
                    let arn = format!("arn:{}:iam::{account}:role/{name}", crate::accounts::partition(region));
                    let sdk = crate::aws::assume_role(
                        &self.ledger_sdk_config,
                        &arn,
                        self.config.role_name_external_id.as_deref(),
                        &self.session,
                    )
                    .await;
                    sdks.insert(account.to_owned(), sdk.clone());
                    sdk
                }
            }
        };
        let client = TargetAws::of_account(&sdk, region, &self.parts, Some(account));
        Ok(self.clients.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_insert(client).clone())
    }

    fn track(&self, id: &str) -> Option<Inflight<'_>> {
        let mut set = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(id.to_owned()).then(|| Inflight { set: &self.inflight, id: id.to_owned() })
    }

    /// Decides every alert of a notification, one after the other. Without a ledger
    /// nothing is decided: the error, for a 503 that Alertmanager retries.
    pub async fn handle(&self, payload: &Payload) -> Result<Vec<AlertOutcome>, LedgerError> {
        let l = self.ledger().await?;
        let mut outcomes = Vec::with_capacity(payload.alerts.len());
        for alert in &payload.alerts {
            let outcome = self.decide(&l, alert).await;
            self.parts.metrics.count_increase(outcome.outcome, outcome.reason.as_deref().unwrap_or(""));
            outcomes.push(outcome);
        }
        self.publish_view(&l).await;
        Ok(outcomes)
    }

    async fn decide(&self, l: &Ledger, alert: &Alert) -> AlertOutcome {
        let now = self.clock.now();
        let label = |k: &str| alert.labels.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let key = QuotaKey {
            account: label("cloud_account_id").unwrap_or_default().to_owned(),
            region: label("cloud_region").unwrap_or_default().to_owned(),
            service_code: label("service_code").unwrap_or_default().to_owned(),
            quota_code: label("quota_code").unwrap_or_default().to_owned(),
        };
        let mut entry = Entry::new(key, State::Skipped, now);
        entry.dry_run = self.config.dry_run;
        entry.alertname = label("alertname").map(str::to_owned);
        entry.fingerprint = Some(alert.fingerprint.clone());
        entry.starts_at = Some(alert.starts_at.clone());

        // Alerts that are not opted in are counted, never stored: a notification full of
        // them costs no ledger rows.
        if label(OPT_IN_LABEL) != Some("true") {
            let (name, reason) = match alert.status {
                Status::Resolved => ("resolved", None),
                Status::Firing => ("skipped", Some("not_opted_in")),
            };
            entry.detail = format!("the alert does not carry {OPT_IN_LABEL}=\"true\"; counted, not recorded");
            let mut o = outcome(&entry, name, reason);
            o.entry_id = None;
            return o;
        }
        if alert.status == Status::Resolved {
            entry.state = State::Resolved;
            entry.detail = "the alert resolved; recorded, not acted on".into();
            return self.record(l, entry, "resolved", None).await;
        }
        let alertname = label("alertname").unwrap_or_default();
        if !self.config.alertnames.iter().any(|n| n == alertname) {
            let detail = format!(
                "alert {:?} is not one the receiver acts on (QUOTA_EXPORTER_INCREASE_ALERTNAMES={})",
                super::escape_controls(alertname),
                self.config.alertnames.join(",")
            );
            return self.skip(l, entry, "alertname", detail).await;
        }
        let missing: Vec<&str> = IDENTITY_LABELS.into_iter().filter(|l| label(l).is_none()).collect();
        if !missing.is_empty() {
            return self
                .skip(l, entry, "missing_labels", format!("the alert lacks the label(s) {}", missing.join(", ")))
                .await;
        }
        if let Err(detail) = valid_identity(&entry.key) {
            return self.skip(l, entry, "invalid_labels", detail).await;
        }
        if let Some(resource) = label("resource") {
            let detail = format!(
                "resource-level quotas (resource={}) are not requested automatically",
                super::escape_controls(resource)
            );
            return self.skip(l, entry, "resource_level", detail).await;
        }
        let (service, quota_code) = (entry.key.service_code.clone(), entry.key.quota_code.clone());
        if let Err(why) = self.config.allows(&service, &quota_code) {
            return self.skip(l, entry, "policy", why).await;
        }
        let account = match self.own_account().await {
            Ok(a) => a,
            Err(e) => return self.fail_unclaimed(l, entry, &e).await,
        };
        if account != entry.key.account && self.config.role_name.is_none() {
            let detail = format!(
                "the alert is about account {}, this receiver files only in its own account {account} \
                 (QUOTA_EXPORTER_INCREASE_ROLE_NAME names a role to file in the others)",
                entry.key.account
            );
            return self.skip(l, entry, "other_account", detail).await;
        }
        // With several accounts, one replica acts only on the accounts it collects (with
        // shards, Alertmanager notifies every replica and the owning one files).
        let snapshot = self.hub.snapshot();
        let covered = snapshot.accounts.iter().any(|a| a.id == entry.key.account)
            || snapshot.targets.iter().any(|t| t.account_label() == entry.key.account);
        if !snapshot.accounts.is_empty() && !covered {
            let detail = format!(
                "this exporter does not collect account {} (another shard may, and files there)",
                entry.key.account
            );
            return self.skip(l, entry, "not_collected", detail).await;
        }
        let facts = match self.known_quota(&snapshot, &entry.key) {
            Known::Quota(facts) => facts,
            Known::NotYet(detail) => {
                // After a restart Alertmanager may notify before the first listing: a 503
                // makes it send again, and nothing is decided on a half-known inventory.
                let mut o = self.skip(l, entry, "not_ready", detail).await;
                o.transient = true;
                return o;
            }
            Known::Unknown(detail) => return self.skip(l, entry, "unknown_quota", detail).await,
        };
        let Facts { quota, recommended, usage, usage_at, exhaustion, r2 } = *facts;
        if !quota.adjustable {
            return self.skip(l, entry, "not_adjustable", format!("{service}/{quota_code} is not adjustable")).await;
        }
        let Some(limit) = quota.limit else {
            return self.skip(l, entry, "unknown_limit", "the quota has no known limit".into()).await;
        };
        entry.current_value = Some(limit);
        let evidence = Evidence {
            limit,
            usage,
            usage_age: usage_at.map(|at| now - at),
            max_usage_age: self.max_usage_age,
            exhaustion,
            r2,
        };
        let backed_by =
            match evidence::corroborate(&evidence, self.config.min_utilization, self.config.forecast_days, now) {
                Ok(basis) => basis,
                Err(why) => return self.skip(l, entry, "not_corroborated", why).await,
            };
        if quota.global {
            entry.key.region = GLOBAL_REGION.to_owned();
        }
        let ask = match policy::desired_value(&self.config, &service, &quota_code, limit, recommended) {
            Ok(ask) => ask,
            Err(no) => return self.skip(l, entry, "capped", no.0).await,
        };
        entry.desired_value = Some(ask.desired);
        entry.detail = format!("{backed_by}; asking for {}: {}", ask.desired, ask.basis);
        entry.state = State::Checking;
        match l.claim(&entry, now).await {
            Err(e) => outcome_for_ledger_error(&entry, e),
            Ok(Err(Refusal::Busy { id, state })) => {
                let detail = format!("entry {id} for this quota is {}", state.as_str());
                entry.state = State::Skipped;
                self.skip(l, entry, "open_request", detail).await
            }
            Ok(Err(Refusal::Cooldown { until })) => {
                let detail = format!(
                    "a request for this quota closed recently; the next may be filed from {until:.0} (epoch seconds)"
                );
                entry.state = State::Skipped;
                self.skip(l, entry, "cooldown", detail).await
            }
            Ok(Err(other)) => {
                entry.state = State::Skipped;
                self.skip(l, entry, "ledger", format!("{other:?}")).await
            }
            Ok(Ok(())) => {
                let _inflight = self.track(&entry.id);
                self.check_and_file(l, entry, State::Checking).await
            }
        }
    }

    /// The quota in the exporter's inventory for the alert's account and region, and
    /// the forecast's recommended limit for it, if any.
    fn known_quota(&self, snapshot: &crate::snapshot::Snapshot, key: &QuotaKey) -> Known {
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
        let forecast = target.forecasts.quotas.get(&(quota.service_code.clone(), quota.code.clone(), None));
        Known::Quota(Box::new(Facts {
            recommended: forecast.and_then(|f| f.recommended_limit),
            usage: crate::metrics::usage_of(target, &quota),
            usage_at: quota.usage_metric.as_ref().and_then(|m| target.usage.readings.get(m)).map(|r| r.timestamp),
            exhaustion: forecast.and_then(|f| f.exhaustion),
            r2: forecast.map(|f| f.r2),
            quota,
        }))
    }

    /// The AWS checks, then approval, the daily maximum, and filing. `entry` holds its
    /// quota, in state `from`.
    async fn check_and_file(&self, l: &Ledger, mut entry: Entry, from: State) -> AlertOutcome {
        let aws = match self.client(&entry.key.account, &entry.key.region).await {
            Ok(aws) => aws,
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
        };
        let (service, quota_code) = (entry.key.service_code.clone(), entry.key.quota_code.clone());
        let desired = entry.desired_value.unwrap_or_default();

        match self.auto_management(&entry.key.account, &aws).await {
            Ok(Some(am)) if am.may_adjust(&service, &quota_code) => {
                let detail = "AWS Automatic Management (NotifyAndAdjust) is on for this account and the quota's service \
                              is not excluded: AWS may be adjusting it, so the receiver does not file";
                return self.release(l, entry, from, Release::skipped("auto_management", detail.into())).await;
            }
            Ok(_) => {}
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
        }
        match aws.current_quota(&service, &quota_code).await {
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
            Ok(q) if !q.adjustable => {
                let detail = format!("AWS reports {service}/{quota_code} as not adjustable");
                return self.release(l, entry, from, Release::skipped("not_adjustable", detail)).await;
            }
            Ok(q) if q.value >= desired => {
                let detail = format!("AWS's current value {} is already at or above {desired}", q.value);
                entry.current_value = Some(q.value);
                return self.release(l, entry, from, Release::skipped("not_above_current", detail)).await;
            }
            Ok(q) => entry.current_value = Some(q.value),
        }
        match aws.requests_for_quota(&service, &quota_code).await {
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
            Ok(requests) => {
                if let Some(open) = requests.iter().find(|r| r.is_open()) {
                    let detail = open_in_aws(open);
                    return self.release(l, entry, from, Release::skipped("open_request_in_aws", detail)).await;
                }
            }
        }
        match self.open_counts(&entry.key.account, &entry.key.region).await {
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
            Ok((region, _)) if region >= OPEN_PER_REGION => {
                let detail = format!(
                    "{region} requests are open in {}; AWS allows {OPEN_PER_REGION} per region",
                    entry.key.region
                );
                return self.release(l, entry, from, Release::skipped("region_limit", detail)).await;
            }
            Ok((_, account)) if account >= OPEN_PER_ACCOUNT => {
                let detail = format!("{account} requests are open in the account; AWS allows {OPEN_PER_ACCOUNT}");
                return self.release(l, entry, from, Release::skipped("account_limit", detail)).await;
            }
            Ok(_) => {}
        }
        let now = self.clock.now();
        if from == State::Checking && self.config.approval {
            let mut waiting = entry.moved(State::AwaitingApproval, now);
            waiting.detail = format!("{}; awaiting approval", entry.detail);
            return match l.update(&waiting, &[from]).await {
                Ok(Ok(())) => outcome(&waiting, "awaiting_approval", None),
                Ok(Err(_)) => moved(&waiting),
                Err(e) => outcome_for_ledger_error(&waiting, e),
            };
        }

        let mut filing = entry.moved(State::Filing, now);
        filing.counted_day = Some(utc_day(now));
        match l.begin_filing(&filing, &[from], self.config.daily_max).await {
            Err(e) => return outcome_for_ledger_error(&entry, e),
            Ok(Err(Refusal::DailyMax { max })) => {
                let detail =
                    format!("{max} requests were already filed today (UTC); QUOTA_EXPORTER_INCREASE_DAILY_MAX={max}");
                return self.release(l, entry, from, Release::skipped("daily_maximum", detail)).await;
            }
            Ok(Err(_)) => return moved(&entry),
            Ok(Ok(())) => {}
        }
        if self.config.dry_run {
            let mut dry = filing.moved(State::DryRun, self.clock.now());
            dry.cooldown_until = Some(dry.updated_at + self.config.cooldown.as_secs_f64());
            dry.detail = format!("dry run: would have filed {desired} ({})", entry.detail);
            return match l.update(&dry, &[State::Filing]).await {
                Ok(_) => outcome(&dry, "dry_run", None),
                Err(e) => outcome_for_ledger_error(&dry, e),
            };
        }
        match aws.request_increase(&service, &quota_code, desired, self.config.support_case).await {
            Ok(change) => {
                #[cfg(feature = "test-hooks")]
                if self.config.fault == Some(crate::config::increase::Fault::CrashAfterFiling) {
                    tracing::error!(request_id = %change.id, "test hook: crashing after filing, before recording");
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
                match l.update(&filed, &[State::Filing]).await {
                    Ok(_) => outcome(&filed, "filed", None),
                    // Filed in AWS but not recorded: the reconciler finds it by its value and time.
                    Err(e) => outcome_for_ledger_error(&filed, e),
                }
            }
            // AWS may have our request although the answer was lost (a server error, a
            // timeout), or says a request for the quota exists (ours, if an answer was
            // lost before): its history settles which, never a second filing.
            Err(e) if e.is_ambiguous() || e.code() == Some("ResourceAlreadyExistsException") => {
                self.settle_unconfirmed(l, filing, &e).await
            }
            Err(e) => self.close_aws_error(l, filing, State::Filing, &e).await,
        }
    }

    /// Settles a filing AWS did not confirm against the quota's request history, at
    /// once: our request there (same value, created since the intent) is recorded as
    /// filed; someone else's open request closes the entry as skipped; with nothing
    /// there yet, or the history unreadable, the entry stays in Filing for the tracker
    /// to settle after [`GRACE`] and Alertmanager is asked to send again.
    async fn settle_unconfirmed(&self, l: &Ledger, filing: Entry, e: &AwsError) -> AlertOutcome {
        let unconfirmed = |why: String| {
            let mut o = outcome(&filing, "failed", Some("unconfirmed"));
            o.detail = format!("{e}; {why}");
            o.transient = true;
            o
        };
        let requests = match self.history(&filing).await {
            Ok(r) => r,
            Err(history) => {
                return unconfirmed(format!(
                    "AWS's request history cannot be read ({history}); it will be checked again before anything is filed"
                ));
            }
        };
        if let Some(ours) = find_filed(&requests, &filing) {
            let settled = self.found_in_history(&filing, ours, &format!("{e}; settled against AWS's request history"));
            return match self.record_settled(l, &settled).await {
                Ok(()) => outcome(&settled, "filed", None),
                Err(le) => outcome_for_ledger_error(&settled, le),
            };
        }
        if let Some(open) = requests.iter().find(|r| r.is_open()) {
            let detail = format!("{e}; {}", open_in_aws(open));
            return self.release(l, filing, State::Filing, Release::skipped("open_request_in_aws", detail)).await;
        }
        unconfirmed(
            "AWS's request history does not show it yet; it will be checked again before anything is filed".into(),
        )
    }

    /// Open requests in `account`'s `region`, and in the whole account (every region the
    /// receiver knows).
    async fn open_counts(&self, account: &str, region: &str) -> Result<(usize, usize), AwsError> {
        let mut in_region = 0;
        let mut in_account = 0;
        for r in &self.regions {
            let open = self.client(account, r).await?.open_requests().await?.len();
            if r == region {
                in_region = open;
            }
            in_account += open;
        }
        if !self.regions.iter().any(|r| r == region) {
            in_region = self.client(account, region).await?.open_requests().await?.len();
            in_account += in_region;
        }
        Ok((in_region, in_account))
    }

    /// The account's Automatic Management configuration, cached for ten minutes.
    /// `None` when it cannot be read for lack of permission: then nothing is known
    /// and nothing is skipped for it.
    /// The cache's lock is never held across the AWS call: two callers that find it
    /// stale both read it, and both answers are the same.
    async fn auto_management(&self, account: &str, aws: &TargetAws) -> Result<Option<AutoManagement>, AwsError> {
        let now = self.clock.now();
        {
            let cache = self.auto_management.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, am)) = cache.get(account)
                && now - at < AUTO_MANAGEMENT_TTL
            {
                return Ok(Some(am.clone()));
            }
        }
        match aws.auto_management().await {
            Ok(am) => {
                self.auto_management
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(account.to_owned(), (now, am.clone()));
                Ok(Some(am))
            }
            Err(AwsError::AccessDenied { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn record(&self, l: &Ledger, entry: Entry, outcome_name: &'static str, reason: Option<&str>) -> AlertOutcome {
        match l.record(&entry).await {
            Ok(()) => outcome(&entry, outcome_name, reason),
            Err(e) => outcome_for_ledger_error(&entry, e),
        }
    }

    async fn skip(&self, l: &Ledger, mut entry: Entry, reason: &'static str, detail: String) -> AlertOutcome {
        entry.state = State::Skipped;
        entry.reason = Some(reason.to_owned());
        entry.detail = detail;
        self.record(l, entry, "skipped", Some(reason)).await
    }

    /// An AWS error before anything was claimed.
    async fn fail_unclaimed(&self, l: &Ledger, mut entry: Entry, e: &AwsError) -> AlertOutcome {
        entry.state = State::Failed;
        entry.reason = Some("aws_error".into());
        entry.detail = e.to_string();
        let mut o = self.record(l, entry, "failed", Some("aws_error")).await;
        o.transient = true;
        o
    }

    /// Closes a claimed entry as `how` says, releasing its quota.
    async fn release(&self, l: &Ledger, entry: Entry, from: State, how: Release) -> AlertOutcome {
        let mut closed = entry.moved(how.state, self.clock.now());
        closed.reason = Some(how.reason.to_owned());
        closed.detail = how.detail;
        let name = if how.state == State::Failed { "failed" } else { "skipped" };
        let mut o = match l.update(&closed, &[from]).await {
            Ok(_) => outcome(&closed, name, Some(how.reason)),
            Err(e) => outcome_for_ledger_error(&closed, e),
        };
        o.transient |= how.transient;
        o
    }

    /// An AWS error as a recorded failure.
    async fn close_aws_error(&self, l: &Ledger, entry: Entry, from: State, e: &AwsError) -> AlertOutcome {
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
        self.release(l, entry, from, Release { state: State::Failed, reason, detail: e.to_string(), transient }).await
    }

    /// Approves an entry awaiting approval on behalf of `by` (an approver's name) and
    /// files it.
    pub async fn approve(&self, id: &str, by: &str) -> Result<AlertOutcome, ApprovalError> {
        let l = self.ledger().await?;
        let approved = mark_approved(&l, id, self.clock.now(), by).await?;
        let outcome = match self.track(&approved.id) {
            Some(_inflight) => self.check_and_file(&l, approved, State::Approved).await,
            None => outcome(&approved, "skipped", Some("in_progress")),
        };
        self.parts.metrics.count_increase(outcome.outcome, outcome.reason.as_deref().unwrap_or(""));
        self.publish_view(&l).await;
        Ok(outcome)
    }

    /// Rejects an entry awaiting approval on behalf of `by`; the cooldown starts.
    pub async fn reject(&self, id: &str, by: &str) -> Result<Entry, ApprovalError> {
        let l = self.ledger().await?;
        let rejected = reject(&l, id, self.clock.now(), self.config.cooldown, by).await?;
        self.parts.metrics.count_increase("rejected", "");
        self.publish_view(&l).await;
        Ok(rejected)
    }

    /// Wakes the tracker (after an approval from the command line, for example).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Follows open requests forever: at once (recovering what a crash left), then
    /// every poll interval or when woken.
    pub async fn run(self: Arc<Self>) {
        // Until the ledger opens, try again with the backoff `ledger()` keeps.
        let shared = loop {
            match self.ledger().await {
                Ok(l) => break l.is_shared(),
                Err(_) => tokio::time::sleep(LEDGER_RETRY_FIRST).await,
            }
        };
        // A SQLite ledger belongs to this receiver alone: whatever it finds open and
        // not worked on is a previous run's.
        let mut grace = if shared { GRACE } else { Duration::ZERO };
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

    /// One pass over the open entries, and the hourly purge of closed ones.
    pub async fn tick(&self, grace: Duration) -> Result<(), LedgerError> {
        let l = &self.ledger().await?;
        self.purge(l).await;
        let open = l.list(Listing::Open, 10_000).await?;
        let had_open = !open.is_empty();
        for entry in open {
            let Some(_inflight) = self.track(&entry.id) else { continue };
            let age = self.clock.now() - entry.updated_at;
            let stale = age >= grace.as_secs_f64();
            // With no grace (a ledger of this receiver's alone, at start) whatever is not
            // worked on is a previous run's; on a shared one, another replica's checks may
            // take long.
            let checks_stale = grace.is_zero() || age >= CHECKING_GRACE.as_secs_f64();
            match entry.state {
                State::Checking if checks_stale => {
                    self.abandon(l, entry, "the receiver stopped during its checks, nothing was filed").await?;
                }
                // A dry run never reached AWS: nothing in AWS's history is its own.
                State::Filing if stale && entry.dry_run => {
                    self.abandon(l, entry, "the receiver stopped before recording its dry run").await?;
                }
                State::Filing if stale => self.reconcile(l, entry).await?,
                State::Approved => {
                    let o = self.check_and_file(l, entry, State::Approved).await;
                    self.parts.metrics.count_increase(o.outcome, o.reason.as_deref().unwrap_or(""));
                }
                State::Filed => self.follow(l, entry).await?,
                _ => {}
            }
        }
        // With nothing open and nothing shown, the pass changed nothing: no re-render
        // of the whole exposition every poll.
        if had_open || !self.hub.snapshot().increase_requests.is_empty() {
            self.publish_view(l).await;
        }
        Ok(())
    }

    /// Closes an open entry nobody works on any more, in the state it was left in.
    async fn abandon(&self, l: &Ledger, entry: Entry, why: &str) -> Result<(), LedgerError> {
        let mut e = entry.moved(State::Abandoned, self.clock.now());
        e.detail = format!("{}; {why}", entry.detail);
        l.update(&e, &[entry.state]).await?.ok();
        self.parts.metrics.count_increase("abandoned", "");
        Ok(())
    }

    /// Deletes closed entries older than the retention, at most once an hour.
    async fn purge(&self, l: &Ledger) {
        let now = self.clock.now();
        {
            let mut last = self.last_purge.lock().unwrap_or_else(|p| p.into_inner());
            if now - *last < PURGE_EVERY {
                return;
            }
            *last = now;
        }
        match l.purge(now, self.config.retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "purged closed increase ledger entries past the retention"),
            Err(e) => tracing::warn!(error = %e, "cannot purge the increase ledger; trying again in an hour"),
        }
    }

    /// Settles an entry left in Filing by a crash: AWS has a matching request (same
    /// quota and value, created after the intent), or nothing was filed.
    async fn reconcile(&self, l: &Ledger, entry: Entry) -> Result<(), LedgerError> {
        let requests = match self.history(&entry).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(quota = %entry.key, error = %e, "cannot reconcile an interrupted filing yet");
                return Ok(());
            }
        };
        let now = self.clock.now();
        let settled = match find_filed(&requests, &entry) {
            Some(r) => self.found_in_history(&entry, r, "recorded after a restart"),
            None => {
                let mut e = entry.moved(State::Failed, now);
                e.reason = Some("interrupted".into());
                e.detail =
                    format!("{}; the receiver stopped before AWS recorded a request: nothing was filed", entry.detail);
                e
            }
        };
        self.record_settled(l, &settled).await
    }

    /// Records an entry in Filing as settled against AWS's history, and counts it; an
    /// entry found closed and approved there raises the published limit, as following
    /// it would have.
    async fn record_settled(&self, l: &Ledger, settled: &Entry) -> Result<(), LedgerError> {
        let recorded = l.update(settled, &[State::Filing]).await?.is_ok();
        self.parts.metrics.count_increase("reconciled", settled.state.as_str());
        if recorded && settled.state == State::Closed && settled.aws_status.as_deref() == Some("APPROVED") {
            self.raise_limit(&settled.key).await;
        }
        Ok(())
    }

    /// Reads an approved quota's value again (`GetServiceQuota`, with the receiver's own
    /// client) and raises the published limit at once.
    async fn raise_limit(&self, key: &QuotaKey) {
        let current = match self.client(&key.account, &key.region).await {
            Ok(aws) => aws.current_quota(&key.service_code, &key.quota_code).await,
            Err(e) => Err(e),
        };
        match current {
            Ok(current) => (self.refresh)(key.clone(), current.value, current.global).await,
            Err(e) => tracing::warn!(
                quota = %key,
                error = %e,
                "cannot read the limit again after an approved increase; the next listing will"
            ),
        }
    }

    /// The quota's requests in AWS's history, in the region the entry files in.
    async fn history(&self, entry: &Entry) -> Result<Vec<RequestedChange>, AwsError> {
        let aws = self.client(&entry.key.account, &entry.key.region).await?;
        aws.requests_for_quota(&entry.key.service_code, &entry.key.quota_code).await
    }

    /// An entry in Filing, moved to what AWS's history says of its request `r`.
    fn found_in_history(&self, entry: &Entry, r: &RequestedChange, how: &str) -> Entry {
        let now = self.clock.now();
        let mut e = entry.moved(if r.is_open() { State::Filed } else { State::Closed }, now);
        e.request_id = Some(r.id.clone());
        e.aws_status = Some(r.status.clone());
        e.case_id = r.case_id.clone();
        e.detail = format!("{}; {how}: AWS has request {}", entry.detail, r.id);
        if !r.is_open() {
            e.cooldown_until = Some(now + self.config.cooldown.as_secs_f64());
        }
        tracing::info!(quota = %e.key, request_id = %r.id, "a filing whose answer was lost was found in AWS and recorded");
        e
    }

    /// Reads a filed request's status; closes it when AWS has decided.
    async fn follow(&self, l: &Ledger, entry: Entry) -> Result<(), LedgerError> {
        let Some(id) = entry.request_id.clone() else { return Ok(()) };
        let change = match self.client(&entry.key.account, &entry.key.region).await {
            Ok(aws) => aws.requested_change(&id).await,
            Err(e) => Err(e),
        };
        let change = match change {
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
                l.update(&e, &[State::Filed]).await?.ok();
            }
            return Ok(());
        }
        let mut closed = entry.moved(State::Closed, now);
        closed.aws_status = Some(change.status.clone());
        closed.case_id = change.case_id.clone();
        closed.cooldown_until = Some(now + self.config.cooldown.as_secs_f64());
        closed.detail = format!("{}; AWS closed it: {}", entry.detail, change.status);
        if l.update(&closed, &[State::Filed]).await?.is_ok() {
            tracing::info!(quota = %closed.key, request_id = %id, status = %change.status, "quota increase request closed");
            self.parts.metrics.count_increase(&change.status.to_ascii_lowercase(), "");
            if change.status == "APPROVED" {
                self.raise_limit(&closed.key).await;
            }
        }
        Ok(())
    }

    /// Publishes the open entries for the metrics and waits (a little) until
    /// `/metrics` shows them, so that a client that got its answer sees its effect.
    pub async fn publish_view(&self, l: &Ledger) {
        match l.list(Listing::Open, 10_000).await {
            Ok(open) => {
                let generation = self.hub.set_increase_requests(open);
                let _ = tokio::time::timeout(Duration::from_secs(2), self.hub.wait_rendered(generation)).await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot list open increase requests for the metrics"),
        }
    }
}

/// Rejects an entry awaiting approval on behalf of `by` (the receiver and the
/// `requests` subcommand); the cooldown starts.
pub async fn reject(ledger: &Ledger, id: &str, now: f64, cooldown: Duration, by: &str) -> Result<Entry, ApprovalError> {
    decide_approval(ledger, id, now, by, |entry| {
        let mut rejected = entry.moved(State::Rejected, now);
        rejected.cooldown_until = Some(now + cooldown.as_secs_f64());
        rejected
    })
    .await
}

/// Marks an entry approved on behalf of `by` without filing it (the `requests`
/// subcommand: the running receiver files it at its next poll).
pub async fn mark_approved(ledger: &Ledger, id: &str, now: f64, by: &str) -> Result<Entry, ApprovalError> {
    decide_approval(ledger, id, now, by, |entry| entry.moved(State::Approved, now)).await
}

/// Moves an entry out of awaiting approval as `decide` says, recording who decided.
async fn decide_approval(
    ledger: &Ledger,
    id: &str,
    now: f64,
    by: &str,
    decide: impl FnOnce(&Entry) -> Entry,
) -> Result<Entry, ApprovalError> {
    let entry = ledger.get(id).await?.ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
    if entry.state != State::AwaitingApproval {
        return Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: entry.state.as_str() });
    }
    let mut decided = decide(&entry);
    decided.updated_at = now;
    decided.decided_by = Some(by.to_owned());
    decided.detail = format!(
        "{}; {} by {}",
        entry.detail.trim_end_matches("; awaiting approval"),
        decided.state.as_str(),
        super::escape_controls(by)
    );
    match ledger.update(&decided, &[State::AwaitingApproval]).await? {
        Ok(()) => Ok(decided),
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

/// The identity labels in the forms AWS gives them: anything else cannot name a quota
/// (and never reaches a log line or the ledger's key unchecked).
fn valid_identity(key: &QuotaKey) -> Result<(), String> {
    let shown = |s: &str| format!("{:?}", super::escape_controls(s));
    if !(key.account.len() == 12 && key.account.bytes().all(|b| b.is_ascii_digit())) {
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

/// Why nothing is filed while AWS holds an open request for the quota.
fn open_in_aws(open: &RequestedChange) -> String {
    let by = if open.automatic { " by AWS Automatic Management" } else { "" };
    format!("request {} for this quota is open in AWS ({}{by})", open.id, open.status)
}

/// Another replica (or the tracker) moved the entry while it was being decided: worth
/// Alertmanager sending it again, so that nothing is lost to the race.
fn moved(entry: &Entry) -> AlertOutcome {
    let mut o = outcome(entry, "skipped", Some("moved"));
    o.detail = format!("{}; the entry was moved meanwhile", entry.detail);
    o.transient = true;
    o
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
