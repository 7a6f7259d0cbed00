//! AWS Organizations: the accounts of the organization, each with the name of the
//! organizational unit it sits in. The tree is walked from its root: `ListRoots`, then
//! `ListAccountsForParent` and `ListOrganizationalUnitsForParent` for every parent,
//! every page of each. Only the management account or a delegated administrator may
//! list.

use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};

use super::{AwsError, ClientParts, TargetAws, every_page};
pub use crate::model::OrgAccount;

const SERVICE: &str = "organizations";
/// Organizations' own maximum page size.
const MAX_RESULTS: i32 = 20;
/// Where Organizations lives in a partition: a global service whose endpoint is in
/// us-east-1 (cn-northwest-1 in China, us-gov-west-1 in GovCloud).
pub fn region_of(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-northwest-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

/// The Organizations client of the exporter's own (base) credentials.
#[derive(Debug, Clone)]
pub struct Organizations {
    aws: TargetAws,
    client: aws_sdk_organizations::Client,
    region: &'static str,
}

impl Organizations {
    /// The client of the partition's Organizations endpoint.
    pub fn new(base: &aws_config::SdkConfig, parts: &ClientParts, partition: &str) -> Organizations {
        let region = region_of(partition);
        let aws = TargetAws::new(base, region, parts);
        let config = base.to_builder().region(aws_config::Region::new(region)).build();
        let client = aws_sdk_organizations::Client::from_conf(
            aws_sdk_organizations::config::Builder::from(&config)
                .retry_config(aws_sdk_organizations::config::retry::RetryConfig::disabled())
                .timeout_config(parts.timeouts.organizations.one_attempt())
                .build(),
        );
        Organizations { aws, client, region }
    }

    /// The region its calls go to (and are counted under).
    pub fn region(&self) -> &'static str {
        self.region
    }

    /// Counts and paces its calls under the exporter's own account, once known.
    pub fn set_account(&self, account_id: &str) {
        self.aws.labels.set_account_id(account_id);
    }

    /// Every account of the organization, walking the tree from the root.
    pub async fn accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
        let roots = self.list_roots().await?;
        let mut out = Vec::new();
        // (parent id, its name, the ids above and including it)
        let mut parents: Vec<(String, String, Vec<String>)> =
            roots.into_iter().map(|id| (id.clone(), "Root".to_owned(), vec![id])).collect();
        while let Some((parent, name, path)) = parents.pop() {
            for account in self.accounts_for_parent(&parent).await? {
                if let Some(a) = org_account(&account, &name, &path) {
                    out.push(a);
                }
            }
            for (id, unit_name) in self.units_for_parent(&parent).await? {
                let mut below = path.clone();
                below.push(id.clone());
                parents.push((id, unit_name, below));
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn list_roots(&self) -> Result<Vec<String>, AwsError> {
        const OP: &str = "ListRoots";
        let aws = &self.aws;
        every_page(|token| async move {
            let page = aws
                .call(SERVICE, OP, aws.timeouts.organizations, |meter| {
                    self.client
                        .list_roots()
                        .max_results(MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            Ok((page.roots().iter().filter_map(|r| r.id().map(str::to_owned)).collect(), page.next_token))
        })
        .await
    }

    async fn accounts_for_parent(&self, parent: &str) -> Result<Vec<Account>, AwsError> {
        const OP: &str = "ListAccountsForParent";
        let aws = &self.aws;
        every_page(|token| async move {
            let page = aws
                .call(SERVICE, OP, aws.timeouts.organizations, |meter| {
                    self.client
                        .list_accounts_for_parent()
                        .parent_id(parent)
                        .max_results(MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            Ok((page.accounts().to_vec(), page.next_token))
        })
        .await
    }

    async fn units_for_parent(&self, parent: &str) -> Result<Vec<(String, String)>, AwsError> {
        const OP: &str = "ListOrganizationalUnitsForParent";
        let aws = &self.aws;
        every_page(|token| async move {
            let page = aws
                .call(SERVICE, OP, aws.timeouts.organizations, |meter| {
                    self.client
                        .list_organizational_units_for_parent()
                        .parent_id(parent)
                        .max_results(MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            let units = page
                .organizational_units()
                .iter()
                .filter_map(|u| Some((u.id()?.to_owned(), u.name().unwrap_or_default().to_owned())))
                .collect();
            Ok((units, page.next_token))
        })
        .await
    }
}

/// An SDK account in domain terms; `None` without an id. `State` is the newer field;
/// where AWS still sends only `Status`, that decides.
fn org_account(a: &Account, unit: &str, ancestors: &[String]) -> Option<OrgAccount> {
    let id = a.id().filter(|id| !id.is_empty())?;
    let active = match (a.state(), a.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    };
    Some(OrgAccount {
        id: id.to_owned(),
        name: a.name().unwrap_or_default().to_owned(),
        active,
        unit: unit.to_owned(),
        ancestors: ancestors.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_state_or_status_makes_an_account_active() {
        let path = vec!["r-ab12".to_owned()];
        let account = |state: Option<AccountState>, status: Option<AccountStatus>| {
            let a = Account::builder().id("444455556666").name("Payments").set_state(state).set_status(status).build();
            org_account(&a, "Workloads", &path).expect("has an id")
        };
        assert!(account(Some(AccountState::Active), None).active);
        assert!(!account(Some(AccountState::Suspended), Some(AccountStatus::Active)).active, "State wins");
        assert!(account(None, Some(AccountStatus::Active)).active);
        assert!(!account(None, Some(AccountStatus::PendingClosure)).active);
        assert!(!account(None, None).active, "an account of unknown state is not collected");
        let a = account(Some(AccountState::Active), None);
        assert_eq!(
            (a.name.as_str(), a.unit.as_str(), a.ancestors.as_slice()),
            ("Payments", "Workloads", path.as_slice())
        );
        assert!(org_account(&Account::builder().name("x").build(), "Root", &path).is_none());
    }
}
