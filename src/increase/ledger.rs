//! The ledger: every decision the receiver makes, recorded durably, and the one
//! guarantee everything else rests on: **at most one open entry per quota** (account,
//! region, service code, quota code), whatever the number of concurrent deliveries or
//! replicas. An entry is open from the moment the receiver claims the quota until the
//! request closes in AWS (or the receiver gives up before filing).
//!
//! The intent is recorded before the AWS call ([`State::Filing`]) and the request id
//! after it ([`State::Filed`]); an entry found in `Filing` after a crash is reconciled
//! with AWS's request history, so nothing is filed twice.
//!
//! These are the domain's types; the backends that keep them (SQLite and DynamoDB)
//! are behind [`crate::increase::backend::Ledger`].

use serde::Serialize;

/// What the ledger keys open requests by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct QuotaKey {
    #[serde(rename = "cloud_account_id")]
    pub account: String,
    /// The region the request is filed in: us-east-1 for global quotas.
    #[serde(rename = "cloud_region")]
    pub region: String,
    pub service_code: String,
    pub quota_code: String,
}

impl std::fmt::Display for QuotaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::escape_controls as e;
        write!(f, "{}/{} in {} {}", e(&self.service_code), e(&self.quota_code), e(&self.account), e(&self.region))
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Claimed; the AWS checks are running. Open.
    Checking,
    /// Waiting for someone to approve it. Open.
    AwaitingApproval,
    /// Approved; to be checked again and filed. Open.
    Approved,
    /// About to call, or calling, `RequestServiceQuotaIncrease`. Open.
    Filing,
    /// Filed; AWS is reviewing it. Open.
    Filed,
    /// Closed in AWS: approved, denied, case closed.
    Closed,
    /// What would have been filed, in dry-run. Closed at once.
    DryRun,
    /// Rejected by a person. Closed.
    Rejected,
    /// AWS refused it, or a check failed. Closed; nothing is open in AWS.
    Failed,
    /// Claimed, then given up before filing (a crash during the checks). Closed.
    Abandoned,
    /// Not acted on, with its reason. Never open.
    Skipped,
    /// A resolved alert, recorded. Never open.
    Resolved,
}

impl State {
    pub const ALL: [State; 12] = [
        State::Checking,
        State::AwaitingApproval,
        State::Approved,
        State::Filing,
        State::Filed,
        State::Closed,
        State::DryRun,
        State::Rejected,
        State::Failed,
        State::Abandoned,
        State::Skipped,
        State::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Checking => "checking",
            State::AwaitingApproval => "awaiting_approval",
            State::Approved => "approved",
            State::Filing => "filing",
            State::Filed => "filed",
            State::Closed => "closed",
            State::DryRun => "dry_run",
            State::Rejected => "rejected",
            State::Failed => "failed",
            State::Abandoned => "abandoned",
            State::Skipped => "skipped",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Whether an entry in this state holds its quota.
    pub fn is_open(self) -> bool {
        matches!(self, State::Checking | State::AwaitingApproval | State::Approved | State::Filing | State::Filed)
    }
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: String,
    #[serde(flatten)]
    pub key: QuotaKey,
    pub state: State,
    /// Decided by a receiver in dry-run: its cooldown and daily count never hold back
    /// a receiver that files.
    pub dry_run: bool,
    /// A short, stable reason for skipped and failed entries (also a metric label).
    pub reason: Option<String>,
    /// What happened, in a sentence.
    pub detail: String,
    pub current_value: Option<f64>,
    pub desired_value: Option<f64>,
    pub request_id: Option<String>,
    /// The request's status in AWS.
    pub aws_status: Option<String>,
    pub case_id: Option<String>,
    pub alertname: Option<String>,
    pub fingerprint: Option<String>,
    pub starts_at: Option<String>,
    /// The UTC day the entry counted against the daily maximum.
    pub counted_day: Option<String>,
    /// Who approved or rejected it: an approver's name, or `cli:USER`.
    pub decided_by: Option<String>,
    /// No new request for the quota before this (epoch seconds).
    pub cooldown_until: Option<f64>,
    pub created_at: f64,
    pub updated_at: f64,
    pub closed_at: Option<f64>,
}

impl Entry {
    /// A new entry for `key` at `now`, with a fresh id.
    pub fn new(key: QuotaKey, state: State, now: f64) -> Entry {
        Entry {
            id: new_id(now),
            key,
            state,
            dry_run: false,
            reason: None,
            detail: String::new(),
            current_value: None,
            desired_value: None,
            request_id: None,
            aws_status: None,
            case_id: None,
            alertname: None,
            fingerprint: None,
            starts_at: None,
            counted_day: None,
            decided_by: None,
            cooldown_until: None,
            created_at: now,
            updated_at: now,
            closed_at: None,
        }
    }

    /// The entry moved to `state` at `now`, closed if the state is not open.
    pub fn moved(&self, state: State, now: f64) -> Entry {
        let mut e = self.clone();
        e.state = state;
        e.updated_at = now;
        if !state.is_open() && e.closed_at.is_none() {
            e.closed_at = Some(now);
        }
        e
    }
}

/// A sortable, unique id: milliseconds since the epoch and 64 random bits.
pub fn new_id(now: f64) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:013}-{:016x}", (now * 1000.0) as u64, h.finish())
}

/// Why the ledger refused a step: a rule, not a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Another entry holds the quota.
    Busy { id: String, state: State },
    /// A request for the quota closed recently.
    Cooldown { until: f64 },
    /// The day's requests are used up.
    DailyMax { max: u32 },
    /// The entry is no longer in the state the step expected (someone else moved it).
    Moved,
}

/// The ledger could not be read or written: transient, so the webhook answers 503 and
/// Alertmanager retries.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the ledger is unavailable: {0}")]
pub struct LedgerError(pub String);

/// Which entries to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    All,
    Open,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_never_repeat() {
        let a = new_id(1_795_000_000.0);
        let b = new_id(1_795_000_000.0);
        let c = new_id(1_795_000_001.0);
        assert_ne!(a, b);
        assert!(a[..13] < c[..13]);
    }

    #[test]
    fn open_states_are_exactly_the_ones_holding_a_quota() {
        let open: Vec<&str> = State::ALL.iter().filter(|s| s.is_open()).map(|s| s.as_str()).collect();
        assert_eq!(open, ["checking", "awaiting_approval", "approved", "filing", "filed"]);
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }
}
