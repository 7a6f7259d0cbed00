//! The Bedrock control plane: `ListFoundationModels` (one call), `ListInferenceProfiles`
//! (system-defined and application profiles, paged) and
//! `ListProvisionedModelThroughputs` (paged).

use aws_sdk_bedrock::types::{
    FoundationModelSummary, InferenceProfileSummary, InferenceProfileType, ProvisionedModelSummary,
};

use super::{AwsError, TargetAws, every_page};
use crate::bedrock::{FoundationModel, InferenceProfile, ProvisionedThroughput, model_id_of_arn, region_of_arn};

const SERVICE: &str = "bedrock";
const MAX_RESULTS: i32 = 1000;

impl TargetAws {
    pub async fn list_foundation_models(&self) -> Result<Vec<FoundationModel>, AwsError> {
        const OP: &str = "ListFoundationModels";
        let out = self
            .call(SERVICE, OP, self.timeouts.bedrock, |meter| {
                self.bedrock.list_foundation_models().customize().interceptor(meter).send()
            })
            .await?;
        Ok(out.model_summaries().iter().map(foundation_model).collect())
    }

    /// Both kinds of inference profile, system-defined first.
    pub async fn list_inference_profiles(&self) -> Result<Vec<InferenceProfile>, AwsError> {
        const OP: &str = "ListInferenceProfiles";
        let bound = self.timeouts.bedrock;
        let mut out = Vec::new();
        for kind in [InferenceProfileType::SystemDefined, InferenceProfileType::Application] {
            let kind = &kind;
            out.extend(
                every_page(|token| async move {
                    let page = self
                        .call(SERVICE, OP, bound, |meter| {
                            self.bedrock
                                .list_inference_profiles()
                                .type_equals(kind.clone())
                                .max_results(MAX_RESULTS)
                                .set_next_token(token.clone())
                                .customize()
                                .interceptor(meter)
                                .send()
                        })
                        .await?;
                    Ok((page.inference_profile_summaries().iter().map(inference_profile).collect(), page.next_token))
                })
                .await?,
            );
        }
        Ok(out)
    }

    pub async fn list_provisioned_throughputs(&self) -> Result<Vec<ProvisionedThroughput>, AwsError> {
        const OP: &str = "ListProvisionedModelThroughputs";
        let bound = self.timeouts.bedrock;
        every_page(|token| async move {
            let page = self
                .call(SERVICE, OP, bound, |meter| {
                    self.bedrock
                        .list_provisioned_model_throughputs()
                        .max_results(MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            Ok((page.provisioned_model_summaries().iter().map(provisioned).collect(), page.next_token))
        })
        .await
    }
}

pub fn foundation_model(m: &FoundationModelSummary) -> FoundationModel {
    FoundationModel {
        id: m.model_id().to_owned(),
        provider: m.provider_name().unwrap_or_default().to_owned(),
        name: m.model_name().unwrap_or_default().to_owned(),
    }
}

pub fn inference_profile(p: &InferenceProfileSummary) -> InferenceProfile {
    let arns: Vec<&str> = p.models().iter().filter_map(|m| m.model_arn()).collect();
    let mut model_ids: Vec<String> = Vec::new();
    let mut regions: Vec<String> = Vec::new();
    for arn in arns {
        if let Some(id) = model_id_of_arn(arn)
            && !model_ids.iter().any(|m| m == id)
        {
            model_ids.push(id.to_owned());
        }
        if let Some(r) = region_of_arn(arn)
            && !regions.iter().any(|x| x == r)
        {
            regions.push(r.to_owned());
        }
    }
    InferenceProfile {
        id: p.inference_profile_id().to_owned(),
        arn: p.inference_profile_arn().to_owned(),
        name: p.inference_profile_name().to_owned(),
        kind: p.r#type().as_str().to_owned(),
        model_ids,
        regions,
    }
}

pub fn provisioned(p: &ProvisionedModelSummary) -> ProvisionedThroughput {
    ProvisionedThroughput {
        name: p.provisioned_model_name().to_owned(),
        model_id: model_id_of_arn(p.foundation_model_arn()).unwrap_or(p.foundation_model_arn()).to_owned(),
        model_units: u32::try_from(p.model_units()).unwrap_or_default(),
        status: p.status().as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrock::types::{InferenceProfileModel, InferenceProfileStatus};

    #[test]
    fn a_cross_region_profile_lists_its_model_once_and_every_region() {
        let arn = |r: &str| format!("arn:aws:bedrock:{r}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0");
        let p = InferenceProfileSummary::builder()
            .inference_profile_id("us.anthropic.claude-3-haiku-20240307-v1:0")
            .inference_profile_arn(
                "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
            )
            .inference_profile_name("US Anthropic Claude 3 Haiku")
            .status(InferenceProfileStatus::Active)
            .r#type(InferenceProfileType::SystemDefined)
            .models(InferenceProfileModel::builder().model_arn(arn("us-east-1")).build())
            .models(InferenceProfileModel::builder().model_arn(arn("us-west-2")).build())
            .build()
            .expect("all required fields are set");
        let converted = inference_profile(&p);
        assert_eq!(converted.model_ids, vec!["anthropic.claude-3-haiku-20240307-v1:0"]);
        assert_eq!(converted.regions, vec!["us-east-1", "us-west-2"]);
        assert_eq!(converted.kind, "SYSTEM_DEFINED");
    }
}
