//! Automatic quota increase requests: an Alertmanager webhook receiver that files a
//! `RequestServiceQuotaIncrease` for a quota that crossed its critical tier, once,
//! within policy.
//!
//! * [`crate::config::increase`]: the `QUOTA_EXPORTER_INCREASE_*` variables.
//! * [`evidence`]: whether the exporter's own data backs an alert, in pure functions.
//! * [`policy`]: what to ask for and whether to ask at all, in pure functions.
//! * [`ledger`]: every decision, recorded durably; at most one open request per quota,
//!   whatever the number of concurrent deliveries or replicas (SQLite here,
//!   DynamoDB in [`crate::aws::dynamodb`]).
//! * [`receiver`]: the webhook, the AWS checks, filing, approval, following open
//!   requests and reconciling after a crash.

pub mod backend;
pub mod cli;
pub mod evidence;
pub mod http;
pub mod ledger;
pub mod policy;
pub mod receiver;
pub mod sqlite;

use std::collections::BTreeMap;

use crate::config::increase::{IncreaseConfig, LedgerConfig};
use backend::Ledger;
use ledger::LedgerError;

/// Opens the configured ledger: the SQLite file, or the DynamoDB table (created when
/// missing; `AWS_ENDPOINT_URL_DYNAMODB` points it at a DynamoDB-compatible server).
pub async fn open_ledger(config: &IncreaseConfig, sdk_config: &aws_config::SdkConfig) -> Result<Ledger, LedgerError> {
    match &config.ledger {
        LedgerConfig::Sqlite { path } => {
            // Opening may wait up to SQLite's busy timeout: off the async threads.
            let path = path.clone();
            let opened = tokio::task::spawn_blocking(move || sqlite::SqliteLedger::open(&path))
                .await
                .map_err(|e| LedgerError(format!("opening the ledger failed: {e}")))?;
            Ok(Ledger::Sqlite(opened?))
        }
        LedgerConfig::DynamoDb { table, endpoint } => Ok(Ledger::DynamoDb(
            crate::aws::dynamodb::DynamoLedger::open(sdk_config, table, endpoint.as_deref(), config.retention).await?,
        )),
    }
}

pub use crate::table::escape_controls;

/// A quota's value as AWS reports it now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurrentQuota {
    pub value: f64,
    pub adjustable: bool,
    pub global: bool,
}

/// A quota increase request as AWS reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedChange {
    pub id: String,
    pub service_code: String,
    pub quota_code: String,
    pub desired: Option<f64>,
    /// PENDING, CASE_OPENED, APPROVED, DENIED, CASE_CLOSED, NOT_APPROVED, INVALID_REQUEST.
    pub status: String,
    pub case_id: Option<String>,
    /// Epoch seconds.
    pub created: Option<f64>,
    /// Filed by AWS's Automatic Management rather than by a person or a tool.
    pub automatic: bool,
}

impl RequestedChange {
    /// Whether AWS still counts it as open (one per quota, two per region, twenty per account).
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "CASE_OPENED")
    }
}

/// An account's Service Quotas Automatic Management configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutoManagement {
    pub enabled: bool,
    /// NotifyAndAdjust: AWS raises some adjustable quotas itself.
    pub adjusts: bool,
    /// Services excluded, each with the quota codes listed for it (none listed: the whole service).
    pub excluded: BTreeMap<String, Vec<String>>,
}

impl AutoManagement {
    /// Whether AWS may be adjusting this quota itself: the account opted in to
    /// NotifyAndAdjust and neither the service nor the quota is excluded.
    pub fn may_adjust(&self, service_code: &str, quota_code: &str) -> bool {
        self.enabled
            && self.adjusts
            && match self.excluded.get(service_code) {
                None => true,
                Some(quotas) => !quotas.is_empty() && !quotas.iter().any(|q| q == quota_code),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_management_adjusts_only_when_opted_in_to_adjusting_and_not_excluded() {
        let mut a = AutoManagement { enabled: true, adjusts: true, excluded: BTreeMap::new() };
        assert!(a.may_adjust("ec2", "L-1216C47A"));
        a.excluded.insert("ec2".into(), vec![]);
        assert!(!a.may_adjust("ec2", "L-1216C47A"), "a whole service excluded");
        a.excluded.insert("ec2".into(), vec!["L-1216C47A".into()]);
        assert!(!a.may_adjust("ec2", "L-1216C47A"), "the quota excluded");
        assert!(a.may_adjust("ec2", "L-34B43A08"), "another quota of the service is not");
        assert!(!AutoManagement { adjusts: false, ..a.clone() }.may_adjust("lambda", "L-B99A9384"), "NotifyOnly");
        assert!(!AutoManagement { enabled: false, ..a }.may_adjust("lambda", "L-B99A9384"));
    }
}
