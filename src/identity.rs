//! Which account a target's credentials belong to, asked once per account.

use std::collections::BTreeMap;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::aws::{AwsError, TargetAws};

/// An account's identity, shared by its targets: STS is asked once per account, not
/// once per region, and a refusal is remembered briefly so that the account's other
/// regions do not ask again in the same refresh. It also turns the targets' outcomes
/// into one log line when the account starts or stops failing.
#[derive(Debug)]
pub struct Identity {
    /// The id a role's ARN names, before STS has confirmed it.
    expected: Option<String>,
    verified: std::sync::OnceLock<String>,
    /// One STS call at a time for the account.
    asking: Mutex<()>,
    refused: StdMutex<Option<(Instant, AwsError)>>,
    /// How many regions report; the account's state is judged once all have.
    regions: usize,
    /// Each region's last outcome, and whether the account was up at the last judgement.
    health: StdMutex<(BTreeMap<String, bool>, Option<bool>)>,
}

/// How long a refusal answers for the account's other regions.
const REFUSAL_MEMORY: Duration = Duration::from_secs(20);

impl Identity {
    /// The identity of an account whose id is `expected` (a role's) or unknown (the
    /// exporter's own), collected in `regions` regions.
    pub fn new(expected: Option<&str>, regions: usize) -> Identity {
        Identity {
            expected: expected.map(str::to_owned),
            verified: std::sync::OnceLock::new(),
            asking: Mutex::new(()),
            refused: StdMutex::new(None),
            regions: regions.max(1),
            health: StdMutex::new((BTreeMap::new(), None)),
        }
    }

    /// The account id, confirmed or expected.
    pub fn id(&self) -> Option<String> {
        self.verified.get().cloned().or_else(|| self.expected.clone())
    }

    /// The account id the credentials belong to, asking STS through `aws` the first
    /// time (one `GetCallerIdentity` per account).
    pub async fn resolve(&self, aws: &TargetAws) -> Result<String, AwsError> {
        if let Some(id) = self.verified.get() {
            return Ok(id.clone());
        }
        let _asking = self.asking.lock().await;
        if let Some(id) = self.verified.get() {
            return Ok(id.clone());
        }
        if let Some((at, e)) = self.refused.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < REFUSAL_MEMORY
        {
            return Err(e.clone());
        }
        match aws.verify_identity().await {
            Ok(id) => Ok(self.verified.get_or_init(|| id).clone()),
            Err(e) => {
                *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// Records a region's outcome; once every region has reported, logs once when the
    /// account starts or stops failing.
    pub fn report(&self, region: &str, ok: bool, error: Option<&str>) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.0.insert(region.to_owned(), ok);
        if health.0.len() < self.regions {
            return;
        }
        let up = health.0.values().any(|ok| *ok);
        let account = self.id().unwrap_or_default();
        match (health.1, up) {
            (Some(true) | None, false) => tracing::warn!(
                cloud.account.id = %account,
                error = error.unwrap_or_default(),
                "account failing: no source of any region could be refreshed"
            ),
            (Some(false), true) => tracing::info!(cloud.account.id = %account, "account recovered"),
            _ => {}
        }
        health.1 = Some(up);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_account_is_judged_once_every_region_has_reported() {
        let identity = Identity::new(Some("444455556666"), 2);
        identity.report("eu-west-1", false, Some("denied"));
        assert_eq!(identity.health.lock().expect("not poisoned").1, None, "one region of two is no verdict");
        identity.report("us-east-1", true, None);
        assert_eq!(identity.health.lock().expect("not poisoned").1, Some(true));
        identity.report("us-east-1", false, Some("denied"));
        assert_eq!(identity.health.lock().expect("not poisoned").1, Some(false));
    }
}
