//! Filing a claimed entry: AWS's rules first (Automatic Management, the current value,
//! open requests for the quota, in the region and in the account), then approval, the
//! daily maximum and `RequestServiceQuotaIncrease` in one attempt, with a filing AWS did
//! not confirm settled against its request history, never filed twice.

use super::{
    AUTO_MANAGEMENT_TTL, AlertOutcome, OPEN_PER_ACCOUNT, OPEN_PER_REGION, Reason, Receiver, Release, Verdict, moved,
    outcome, outcome_for_ledger_error,
};
use crate::aws::{AwsError, TargetAws};
use crate::clock::utc_day;
use crate::increase::backend::Ledger;
use crate::increase::ledger::{Entry, Refusal, State};
use crate::increase::{AutoManagement, RequestedChange};

impl Receiver {
    /// The AWS checks, then approval, the daily maximum, and filing. `entry` holds its
    /// quota, in state `from`.
    pub(super) async fn check_and_file(&self, l: &Ledger, mut entry: Entry, from: State) -> AlertOutcome {
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
                return self.release(l, entry, from, Release::skipped(Reason::AutoManagement, detail.into())).await;
            }
            Ok(_) => {}
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
        }
        match aws.current_quota(&service, &quota_code).await {
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
            Ok(q) if !q.adjustable => {
                let detail = format!("AWS reports {service}/{quota_code} as not adjustable");
                return self.release(l, entry, from, Release::skipped(Reason::NotAdjustable, detail)).await;
            }
            Ok(q) if q.value >= desired => {
                let detail = format!("AWS's current value {} is already at or above {desired}", q.value);
                entry.current_value = Some(q.value);
                return self.release(l, entry, from, Release::skipped(Reason::NotAboveCurrent, detail)).await;
            }
            Ok(q) => entry.current_value = Some(q.value),
        }
        match aws.requests_for_quota(&service, &quota_code).await {
            Err(e) => return self.close_aws_error(l, entry, from, &e).await,
            Ok(requests) => {
                if let Some(open) = requests.iter().find(|r| r.is_open()) {
                    let detail = open_in_aws(open);
                    return self.release(l, entry, from, Release::skipped(Reason::OpenRequestInAws, detail)).await;
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
                return self.release(l, entry, from, Release::skipped(Reason::RegionLimit, detail)).await;
            }
            Ok((_, account)) if account >= OPEN_PER_ACCOUNT => {
                let detail = format!("{account} requests are open in the account; AWS allows {OPEN_PER_ACCOUNT}");
                return self.release(l, entry, from, Release::skipped(Reason::AccountLimit, detail)).await;
            }
            Ok(_) => {}
        }
        let now = self.clock.now();
        if from == State::Checking && self.config.approval {
            let mut waiting = entry.moved(State::AwaitingApproval, now);
            waiting.detail = format!("{}; awaiting approval", entry.detail);
            return match l.update(&waiting, &[from]).await {
                Ok(Ok(())) => outcome(&waiting, Verdict::AwaitingApproval, None),
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
                return self.release(l, entry, from, Release::skipped(Reason::DailyMaximum, detail)).await;
            }
            Ok(Err(_)) => return moved(&entry),
            Ok(Ok(())) => {}
        }
        if self.config.dry_run {
            let mut dry = filing.moved(State::DryRun, self.clock.now());
            dry.cooldown_until = Some(dry.updated_at + self.config.cooldown.as_secs_f64());
            dry.detail = format!("dry run: would have filed {desired} ({})", entry.detail);
            return match l.update(&dry, &[State::Filing]).await {
                Ok(_) => outcome(&dry, Verdict::DryRun, None),
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
                    Ok(_) => outcome(&filed, Verdict::Filed, None),
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
    pub(super) async fn settle_unconfirmed(&self, l: &Ledger, filing: Entry, e: &AwsError) -> AlertOutcome {
        let unconfirmed = |why: String| {
            let mut o = outcome(&filing, Verdict::Failed, Some(Reason::Unconfirmed));
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
                Ok(()) => outcome(&settled, Verdict::Filed, None),
                Err(le) => outcome_for_ledger_error(&settled, le),
            };
        }
        if let Some(open) = requests.iter().find(|r| r.is_open()) {
            let detail = format!("{e}; {}", open_in_aws(open));
            return self.release(l, filing, State::Filing, Release::skipped(Reason::OpenRequestInAws, detail)).await;
        }
        unconfirmed(
            "AWS's request history does not show it yet; it will be checked again before anything is filed".into(),
        )
    }

    /// Open requests in `account`'s `region`, and in the whole account (every region the
    /// receiver knows).
    pub(super) async fn open_counts(&self, account: &str, region: &str) -> Result<(usize, usize), AwsError> {
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
    pub(super) async fn auto_management(
        &self,
        account: &str,
        aws: &TargetAws,
    ) -> Result<Option<AutoManagement>, AwsError> {
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
}

/// Why nothing is filed while AWS holds an open request for the quota.
fn open_in_aws(open: &RequestedChange) -> String {
    let by = if open.automatic { " by AWS Automatic Management" } else { "" };
    format!("request {} for this quota is open in AWS ({}{by})", open.id, open.status)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::increase::ledger::QuotaKey;

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
    pub(super) fn an_interrupted_filing_is_matched_by_value_and_time_only() {
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
