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
            .sts
            .get_caller_identity()
            .customize()
            .interceptor(self.meter::<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError>(SERVICE, OP))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, e))?;
        let account = out.account().filter(|a| !a.is_empty()).ok_or_else(|| AwsError::Api {
            operation: OP,
            code: "MissingAccount".into(),
            message: "the response named no account".into(),
        })?;
        self.labels.set_account_id(account);
        Ok(account.to_owned())
    }
}
