//! The Bedrock inventory collector: foundation models, inference profiles (system and
//! application) and provisioned throughputs. A list that fails keeps its last good
//! contents; the others are still refreshed.

use std::sync::Arc;

use super::{CollectError, Collector, Source, TargetContext, TargetData};

/// Reads the Bedrock control plane.
#[derive(Debug, Default)]
pub struct BedrockInventoryCollector;

impl Collector for BedrockInventoryCollector {
    const SOURCE: Source = Source::BedrockInventory;

    async fn collect(&self, ctx: &TargetContext, data: &mut TargetData) -> Result<(), CollectError> {
        let (models, profiles, provisioned) = tokio::join!(
            ctx.aws.list_foundation_models(),
            ctx.aws.list_inference_profiles(),
            ctx.aws.list_provisioned_throughputs(),
        );
        let mut inventory = (*data.bedrock).clone();
        let mut errors = Vec::new();
        match models {
            Ok(m) => {
                ctx.model_book.learn(&m);
                inventory.models = m;
            }
            Err(e) => errors.push(e.to_string()),
        }
        match profiles {
            Ok(p) => inventory.profiles = p,
            Err(e) => errors.push(e.to_string()),
        }
        match provisioned {
            Ok(p) => inventory.provisioned = p,
            Err(e) => errors.push(e.to_string()),
        }
        data.bedrock = Arc::new(inventory);
        if errors.is_empty() { Ok(()) } else { Err(CollectError(errors.join("; "))) }
    }
}
