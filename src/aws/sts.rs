//! STS `GetCallerIdentity`: which account a target's credentials belong to, for the
//! `cloud_account_id` label.

use super::{AwsError, TargetAws};

const SERVICE: &str = "sts";

impl TargetAws {
    /// The account id of the target's credentials; also records it in the target's labels.
    pub async fn caller_account_id(&self) -> Result<String, AwsError> {
        const OP: &str = "GetCallerIdentity";
        if let Some(known) = self.labels.account_id() {
            return Ok(known.to_owned());
        }
        let out = self
            .call(SERVICE, OP, self.timeouts.sts, |meter| {
                self.sts.get_caller_identity().customize().interceptor(meter).send()
            })
            .await?;
        let account = out.account().filter(|a| !a.is_empty()).ok_or_else(|| AwsError::missing(OP, "Account"))?;
        self.labels.set_account_id(account);
        Ok(account.to_owned())
    }
}
