//! Amazon Bedrock, in domain terms: the model inventory, the matching of model ids to
//! their per-model quotas, and the per-minute runtime arithmetic (counters built from
//! CloudWatch's per-minute sums behind a watermark, peaks, utilisation).
//!
//! Everything here is pure; the collectors in `crate::collector` fetch the data.

pub mod matching;
pub mod runtime;

/// A foundation model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundationModel {
    pub id: String,
    pub provider: String,
    pub name: String,
}

/// An inference profile, system-defined (cross-region, global) or an application's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceProfile {
    pub id: String,
    pub arn: String,
    pub name: String,
    /// `SYSTEM_DEFINED` or `APPLICATION`.
    pub kind: String,
    /// The foundation models it routes to (ids, de-duplicated, in order).
    pub model_ids: Vec<String>,
    /// The regions of the model ARNs it routes to.
    pub regions: Vec<String>,
}

/// A provisioned throughput.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedThroughput {
    pub name: String,
    pub model_id: String,
    pub model_units: u32,
    pub status: String,
}

/// A region's Bedrock control plane.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub models: Vec<FoundationModel>,
    pub profiles: Vec<InferenceProfile>,
    pub provisioned: Vec<ProvisionedThroughput>,
}

impl Inventory {
    pub fn model(&self, id: &str) -> Option<&FoundationModel> {
        self.models.iter().find(|m| m.id == id)
    }

    /// A profile by id or ARN.
    pub fn profile(&self, id_or_arn: &str) -> Option<&InferenceProfile> {
        self.profiles.iter().find(|p| p.id == id_or_arn || p.arn == id_or_arn)
    }
}

/// The model id in a foundation-model ARN
/// (`arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0`).
pub fn model_id_of_arn(arn: &str) -> Option<&str> {
    arn.split_once(":foundation-model/").map(|(_, id)| id).filter(|id| !id.is_empty())
}

/// The region of an ARN (its fourth field).
pub fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_and_regions_come_out_of_arns() {
        let arn = "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(model_id_of_arn(arn), Some("anthropic.claude-3-haiku-20240307-v1:0"));
        assert_eq!(region_of_arn(arn), Some("us-west-2"));
        assert_eq!(model_id_of_arn("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"), None);
    }
}
