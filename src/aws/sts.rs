//! STS `GetCallerIdentity`: which account a target's credentials belong to, for the
//! `cloud_account_id` label, and whether a role's credentials can be had at all.

use super::{AwsError, TargetAws};

const SERVICE: &str = "sts";

impl TargetAws {
    /// The account id of the target's credentials; also records it in the target's labels.
    pub async fn caller_account_id(&self) -> Result<String, AwsError> {
        if let Some(known) = self.labels.account_id() {
            return Ok(known.to_owned());
        }
        self.verify_identity().await
    }

    /// Asks STS whose credentials these are, even when the account is known (a role's:
    /// this proves the role can be assumed and belongs to the account). Records it in
    /// the target's labels.
    pub async fn verify_identity(&self) -> Result<String, AwsError> {
        const OP: &str = "GetCallerIdentity";
        let out = self
            .call(SERVICE, OP, self.timeouts.sts, |meter| {
                self.sts.get_caller_identity().customize().interceptor(meter).send()
            })
            .await?;
        let account = out.account().filter(|a| !a.is_empty()).ok_or_else(|| AwsError::missing(OP, "Account"))?;
        if let Some(expected) = self.labels.account_id()
            && expected != account
        {
            return Err(AwsError::Api {
                operation: OP,
                code: "WrongAccount".into(),
                message: format!("the credentials belong to account {account}, not {expected}"),
                status: None,
            });
        }
        self.labels.set_account_id(account);
        Ok(account.to_owned())
    }
}
