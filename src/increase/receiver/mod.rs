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

mod approval;
pub mod decision;
mod filing;
mod tracker;

pub use approval::{ApprovalError, mark_approved, reject};
pub use decision::Reason;
pub use filing::find_filed;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alertmanager_webhook::{Alert, Payload, Status};
use serde::Serialize;

use super::AutoManagement;
use super::backend::Ledger;
use super::ledger::{Entry, LedgerError, QuotaKey, Refusal, State};
use crate::aws::{AwsError, ClientParts, TargetAws};
use crate::clock::Clock;
use crate::config::increase::IncreaseConfig;
use crate::snapshot::Store;

/// The label that opts an alert in.
pub const OPT_IN_LABEL: &str = "auto_increase";
/// The identity labels an alert must carry.
pub const IDENTITY_LABELS: [&str; 4] = ["cloud_account_id", "cloud_region", "service_code", "quota_code"];
/// The `alertname` of the ledger entries `aws-quota-exporter failover --request` makes.
pub const FAILOVER_SOURCE: &str = "aws-quota-exporter failover";
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

/// What the receiver did with an alert (or an approval).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Filed,
    DryRun,
    AwaitingApproval,
    Skipped,
    Failed,
    Resolved,
}

impl Verdict {
    /// The spelling on the wire and in the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Filed => "filed",
            Verdict::DryRun => "dry_run",
            Verdict::AwaitingApproval => "awaiting_approval",
            Verdict::Skipped => "skipped",
            Verdict::Failed => "failed",
            Verdict::Resolved => "resolved",
        }
    }
}

/// What happened to one alert of a notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertOutcome {
    pub fingerprint: String,
    pub alertname: Option<String>,
    pub outcome: Verdict,
    pub reason: Option<Reason>,
    pub detail: String,
    pub entry_id: Option<String>,
    pub request_id: Option<String>,
    pub desired_value: Option<f64>,
    /// Worth a retry: the webhook answers 503 so that Alertmanager sends it again.
    #[serde(skip)]
    pub transient: bool,
}

/// How a claimed entry closes: skipped or failed, why, and whether Alertmanager
/// should send the alert again.
struct Release {
    state: State,
    reason: Reason,
    detail: String,
    transient: bool,
}

impl Release {
    fn skipped(reason: Reason, detail: String) -> Release {
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

/// The receiver.
pub struct Receiver {
    config: Arc<IncreaseConfig>,
    ledger: Mutex<LedgerSlot>,
    /// Set while one caller opens the ledger, so that others do not wait for it.
    opening: std::sync::atomic::AtomicBool,
    store: Arc<Store>,
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
    pub store: Arc<Store>,
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
            store: parts.store,
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

    /// Counts a decision in `aws_quota_increase_requests_total`.
    fn count(&self, o: &AlertOutcome) {
        self.parts.metrics.count_increase(o.outcome.as_str(), o.reason.map_or("", Reason::as_str));
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
            self.count(&outcome);
            outcomes.push(outcome);
        }
        self.publish_view(&l).await;
        Ok(outcomes)
    }

    /// One alert: the decision step ([`decision`]), then the claim in the ledger, then
    /// AWS's rules and filing ([`filing`]).
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

        let firing = alert.status == Status::Firing;
        if let Err(stop) = decision::screen(&alert.labels, firing, &entry.key, &self.config) {
            return self.stop(l, entry, stop).await;
        }
        self.judge_and_file(l, entry, now, decision::judge).await
    }

    /// Proposes raising a standby region's limit of a quota (`key`, in the standby) to
    /// carry its primary's load (`aws-quota-exporter failover --request`): the same
    /// policy, ledger, AWS checks, approval, daily maximum and dry-run as an alert, with
    /// the exporter's own data for both regions as the evidence
    /// ([`decision::judge_failover`]).
    pub async fn propose_failover(&self, key: QuotaKey, failover: &decision::Failover) -> AlertOutcome {
        let now = self.clock.now();
        let mut entry = Entry::new(key, State::Skipped, now);
        entry.dry_run = self.config.dry_run;
        entry.alertname = Some(FAILOVER_SOURCE.to_owned());
        let l = match self.ledger().await {
            Ok(l) => l,
            Err(e) => return outcome_for_ledger_error(&entry, e),
        };
        let outcome = self.propose_in(&l, entry, failover, now).await;
        self.count(&outcome);
        self.publish_view(&l).await;
        outcome
    }

    async fn propose_in(&self, l: &Ledger, entry: Entry, failover: &decision::Failover, now: f64) -> AlertOutcome {
        if let Err(detail) = decision::valid_identity(&entry.key) {
            return self.skip(l, entry, Reason::InvalidLabels, detail).await;
        }
        if let Err(why) = self.config.allows(&entry.key.service_code, &entry.key.quota_code) {
            return self.skip(l, entry, Reason::Policy, why).await;
        }
        self.judge_and_file(l, entry, now, |entry, cx| decision::judge_failover(entry, cx, failover)).await
    }

    /// The decision's second step (`judge`, on the receiver's own account and the
    /// exporter's snapshot), then the claim and filing, or the recorded stop.
    async fn judge_and_file(
        &self,
        l: &Ledger,
        mut entry: Entry,
        now: f64,
        judge: impl FnOnce(&mut Entry, &decision::Context<'_>) -> Result<decision::Claim, decision::Stop>,
    ) -> AlertOutcome {
        let own_account = match self.own_account().await {
            Ok(a) => a,
            Err(e) => return self.fail_unclaimed(l, entry, &e).await,
        };
        let snapshot = self.store.snapshot();
        let cx = decision::Context {
            config: &self.config,
            own_account: &own_account,
            snapshot: &snapshot,
            regions: &self.regions,
            now,
            max_usage_age: self.max_usage_age,
        };
        match judge(&mut entry, &cx) {
            Ok(claim) => self.claim_and_file(l, entry, claim).await,
            Err(stop) => self.stop(l, entry, stop).await,
        }
    }

    /// Claims the quota in the ledger for `claim`, then AWS's rules and filing.
    async fn claim_and_file(&self, l: &Ledger, mut entry: Entry, claim: decision::Claim) -> AlertOutcome {
        let now = self.clock.now();
        entry.desired_value = Some(claim.desired);
        entry.detail = claim.detail;
        entry.state = State::Checking;
        match l.claim(&entry, now).await {
            Err(e) => outcome_for_ledger_error(&entry, e),
            Ok(Err(Refusal::Busy { id, state })) => {
                let detail = format!("entry {id} for this quota is {}", state.as_str());
                self.skip(l, entry, Reason::OpenRequest, detail).await
            }
            Ok(Err(Refusal::Cooldown { until })) => {
                let detail = format!(
                    "a request for this quota closed recently; the next may be filed from {until:.0} (epoch seconds)"
                );
                self.skip(l, entry, Reason::Cooldown, detail).await
            }
            Ok(Err(other)) => self.skip(l, entry, Reason::Ledger, format!("{other:?}")).await,
            Ok(Ok(())) => {
                let _inflight = self.track(&entry.id);
                self.check_and_file(l, entry, State::Checking).await
            }
        }
    }

    /// Answers (and records, unless not opted in) an alert the decision step stopped.
    async fn stop(&self, l: &Ledger, mut entry: Entry, stop: decision::Stop) -> AlertOutcome {
        match stop {
            // Alerts that are not opted in are counted, never stored: a notification
            // full of them costs no ledger rows.
            decision::Stop::NotOptedIn { firing } => {
                let (verdict, reason) =
                    if firing { (Verdict::Skipped, Some(Reason::NotOptedIn)) } else { (Verdict::Resolved, None) };
                entry.detail = format!("the alert does not carry {OPT_IN_LABEL}=\"true\"; counted, not recorded");
                let mut o = outcome(&entry, verdict, reason);
                o.entry_id = None;
                o
            }
            decision::Stop::Resolved => {
                entry.state = State::Resolved;
                entry.detail = "the alert resolved; recorded, not acted on".into();
                self.record(l, entry, Verdict::Resolved, None).await
            }
            decision::Stop::Skip(reason, detail) => self.skip(l, entry, reason, detail).await,
            decision::Stop::Retry(reason, detail) => {
                let mut o = self.skip(l, entry, reason, detail).await;
                o.transient = true;
                o
            }
        }
    }

    async fn record(&self, l: &Ledger, entry: Entry, verdict: Verdict, reason: Option<Reason>) -> AlertOutcome {
        match l.record(&entry).await {
            Ok(()) => outcome(&entry, verdict, reason),
            Err(e) => outcome_for_ledger_error(&entry, e),
        }
    }

    async fn skip(&self, l: &Ledger, mut entry: Entry, reason: Reason, detail: String) -> AlertOutcome {
        entry.state = State::Skipped;
        entry.reason = Some(reason.as_str().to_owned());
        entry.detail = detail;
        self.record(l, entry, Verdict::Skipped, Some(reason)).await
    }

    /// An AWS error before anything was claimed.
    async fn fail_unclaimed(&self, l: &Ledger, mut entry: Entry, e: &AwsError) -> AlertOutcome {
        entry.state = State::Failed;
        entry.reason = Some(Reason::AwsError.as_str().to_owned());
        entry.detail = e.to_string();
        let mut o = self.record(l, entry, Verdict::Failed, Some(Reason::AwsError)).await;
        o.transient = true;
        o
    }

    /// Closes a claimed entry as `how` says, releasing its quota.
    async fn release(&self, l: &Ledger, entry: Entry, from: State, how: Release) -> AlertOutcome {
        let mut closed = entry.moved(how.state, self.clock.now());
        closed.reason = Some(how.reason.as_str().to_owned());
        closed.detail = how.detail;
        let verdict = if how.state == State::Failed { Verdict::Failed } else { Verdict::Skipped };
        let mut o = match l.update(&closed, &[from]).await {
            Ok(_) => outcome(&closed, verdict, Some(how.reason)),
            Err(e) => outcome_for_ledger_error(&closed, e),
        };
        o.transient |= how.transient;
        o
    }

    /// An AWS error as a recorded failure.
    async fn close_aws_error(&self, l: &Ledger, entry: Entry, from: State, e: &AwsError) -> AlertOutcome {
        let (reason, transient) = match e.code() {
            Some("ResourceAlreadyExistsException") => (Reason::OpenRequestInAws, false),
            Some("QuotaExceededException") => (Reason::AwsRequestLimit, false),
            Some("IllegalArgumentException") => (Reason::IllegalArgument, false),
            Some("AccessDeniedException" | "DependencyAccessDeniedException") => (Reason::AccessDenied, false),
            Some("NoSuchResourceException") => (Reason::NoSuchQuota, false),
            Some("InvalidResourceStateException") => (Reason::InvalidState, false),
            _ if matches!(e, AwsError::Throttled { .. }) => (Reason::Throttled, true),
            _ => (Reason::AwsError, true),
        };
        self.release(l, entry, from, Release { state: State::Failed, reason, detail: e.to_string(), transient }).await
    }
}

fn outcome(entry: &Entry, verdict: Verdict, reason: Option<Reason>) -> AlertOutcome {
    AlertOutcome {
        fingerprint: entry.fingerprint.clone().unwrap_or_default(),
        alertname: entry.alertname.clone(),
        outcome: verdict,
        reason: reason.or_else(|| entry.reason.as_deref().and_then(Reason::parse)),
        detail: entry.detail.clone(),
        entry_id: Some(entry.id.clone()),
        request_id: entry.request_id.clone(),
        desired_value: entry.desired_value,
        transient: false,
    }
}

/// Another replica (or the tracker) moved the entry while it was being decided: worth
/// Alertmanager sending it again, so that nothing is lost to the race.
fn moved(entry: &Entry) -> AlertOutcome {
    let mut o = outcome(entry, Verdict::Skipped, Some(Reason::Moved));
    o.detail = format!("{}; the entry was moved meanwhile", entry.detail);
    o.transient = true;
    o
}

fn outcome_for_ledger_error(entry: &Entry, e: LedgerError) -> AlertOutcome {
    tracing::warn!(quota = %entry.key, error = %e, "the increase ledger failed; Alertmanager will retry");
    AlertOutcome {
        fingerprint: entry.fingerprint.clone().unwrap_or_default(),
        alertname: entry.alertname.clone(),
        outcome: Verdict::Failed,
        reason: Some(Reason::Ledger),
        detail: e.to_string(),
        entry_id: None,
        request_id: None,
        desired_value: entry.desired_value,
        transient: true,
    }
}
