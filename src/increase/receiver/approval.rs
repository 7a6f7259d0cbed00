//! Approval: an entry awaiting approval is approved (and filed) or rejected, by an
//! approver over HTTP or from the command line, with who decided recorded.

use std::time::Duration;

use super::{AlertOutcome, Reason, Receiver, Verdict, outcome};
use crate::increase::backend::Ledger;
use crate::increase::ledger::{Entry, LedgerError, State};

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

impl Receiver {
    /// Approves an entry awaiting approval on behalf of `by` (an approver's name) and
    /// files it.
    pub async fn approve(&self, id: &str, by: &str) -> Result<AlertOutcome, ApprovalError> {
        let l = self.ledger().await?;
        let approved = mark_approved(&l, id, self.clock.now(), by).await?;
        let outcome = match self.track(&approved.id) {
            Some(_inflight) => self.check_and_file(&l, approved, State::Approved).await,
            None => outcome(&approved, Verdict::Skipped, Some(Reason::InProgress)),
        };
        self.count(&outcome);
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
        crate::increase::escape_controls(by)
    );
    match ledger.update(&decided, &[State::AwaitingApproval]).await? {
        Ok(()) => Ok(decided),
        Err(_) => Err(ApprovalError::NotAwaiting { id: id.to_owned(), state: "moved" }),
    }
}
