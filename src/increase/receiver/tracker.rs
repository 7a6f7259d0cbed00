//! The tracker: follows filed requests until AWS closes them, settles what a crash left
//! in Filing against AWS's request history, abandons stale claims, purges old entries
//! and publishes the open ones for the metrics.

use std::sync::Arc;
use std::time::Duration;

use super::{CHECKING_GRACE, GRACE, LEDGER_RETRY_FIRST, PURGE_EVERY, Reason, Receiver, find_filed};
use crate::aws::AwsError;
use crate::increase::RequestedChange;
use crate::increase::backend::Ledger;
use crate::increase::ledger::{Entry, LedgerError, Listing, QuotaKey, State};

impl Receiver {
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
                    self.count(&o);
                }
                State::Filed => self.follow(l, entry).await?,
                _ => {}
            }
        }
        // With nothing open and nothing shown, the pass changed nothing: no re-render
        // of the whole exposition every poll.
        if had_open || !self.store.snapshot().increase_requests.is_empty() {
            self.publish_view(l).await;
        }
        Ok(())
    }

    /// Closes an open entry nobody works on any more, in the state it was left in.
    pub(super) async fn abandon(&self, l: &Ledger, entry: Entry, why: &str) -> Result<(), LedgerError> {
        let mut e = entry.moved(State::Abandoned, self.clock.now());
        e.detail = format!("{}; {why}", entry.detail);
        l.update(&e, &[entry.state]).await?.ok();
        self.parts.metrics.count_increase("abandoned", "");
        Ok(())
    }

    /// Deletes closed entries older than the retention, at most once an hour.
    pub(super) async fn purge(&self, l: &Ledger) {
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
    pub(super) async fn reconcile(&self, l: &Ledger, entry: Entry) -> Result<(), LedgerError> {
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
                e.reason = Some(Reason::Interrupted.as_str().to_owned());
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
    pub(super) async fn record_settled(&self, l: &Ledger, settled: &Entry) -> Result<(), LedgerError> {
        let recorded = l.update(settled, &[State::Filing]).await?.is_ok();
        self.parts.metrics.count_increase("reconciled", settled.state.as_str());
        if recorded && settled.state == State::Closed && settled.aws_status.as_deref() == Some("APPROVED") {
            self.raise_limit(&settled.key).await;
        }
        Ok(())
    }

    /// Reads an approved quota's value again (`GetServiceQuota`, with the receiver's own
    /// client) and raises the published limit at once.
    pub(super) async fn raise_limit(&self, key: &QuotaKey) {
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
    pub(super) async fn history(&self, entry: &Entry) -> Result<Vec<RequestedChange>, AwsError> {
        let aws = self.client(&entry.key.account, &entry.key.region).await?;
        aws.requests_for_quota(&entry.key.service_code, &entry.key.quota_code).await
    }

    /// An entry in Filing, moved to what AWS's history says of its request `r`.
    pub(super) fn found_in_history(&self, entry: &Entry, r: &RequestedChange, how: &str) -> Entry {
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
    pub(super) async fn follow(&self, l: &Ledger, entry: Entry) -> Result<(), LedgerError> {
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
                let generation = self.store.set_increase_requests(open);
                let _ = tokio::time::timeout(Duration::from_secs(2), self.store.wait_rendered(generation)).await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot list open increase requests for the metrics"),
        }
    }
}
