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

/// Foundation models any region's `ListFoundationModels` has listed, shared by every
/// target of the process, to name the model ids of a region whose own list is missing
/// (denied, failing since start, not listed yet). Model names are the same in every
/// region and account.
#[derive(Debug, Default)]
pub struct ModelBook(std::sync::RwLock<std::collections::BTreeMap<String, FoundationModel>>);

impl ModelBook {
    /// Remembers a region's list.
    pub fn learn(&self, models: &[FoundationModel]) {
        let mut book = self.0.write().unwrap_or_else(|p| p.into_inner());
        for m in models {
            book.insert(m.id.clone(), m.clone());
        }
    }

    pub fn get(&self, id: &str) -> Option<FoundationModel> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
}

/// Where the names a region's model ids were matched with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameSource {
    /// The region's own `ListFoundationModels`.
    Inventory,
    /// Its list is missing: another region's lists named every model id.
    OtherRegions,
    /// Its list is missing and some model id is in no region's list: its words were
    /// read from the id itself ([`matching::derived_model`]).
    ModelIds,
}

impl NameSource {
    /// The `source` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Inventory => "inventory",
            NameSource::OtherRegions => "other_regions",
            NameSource::ModelIds => "model_ids",
        }
    }
}

/// The inventory to match `model_ids` with: the region's own where it lists models,
/// otherwise its profiles with each model id's base model named from `book` or, failing
/// that, from the id.
pub fn names_for<'a>(
    own: &'a Inventory,
    model_ids: impl IntoIterator<Item = &'a str>,
    book: &ModelBook,
) -> (std::borrow::Cow<'a, Inventory>, NameSource) {
    if !own.models.is_empty() {
        return (std::borrow::Cow::Borrowed(own), NameSource::Inventory);
    }
    let mut inventory = own.clone();
    let mut source = NameSource::OtherRegions;
    for id in model_ids {
        let base = matching::resolve(id, own).base_model_id;
        if inventory.model(&base).is_some() {
            continue;
        }
        if let Some(m) = book.get(&base) {
            inventory.models.push(m);
        } else if let Some(m) = matching::derived_model(&base) {
            inventory.models.push(m);
            source = NameSource::ModelIds;
        }
    }
    (std::borrow::Cow::Owned(inventory), source)
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
    fn a_region_without_its_model_list_borrows_names_then_reads_them_from_ids() {
        let haiku = FoundationModel {
            id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            provider: "Anthropic".into(),
            name: "Claude 3 Haiku".into(),
        };
        let book = ModelBook::default();
        let own = Inventory { models: vec![haiku.clone()], ..Inventory::default() };
        let (inv, source) = names_for(&own, ["x.y-v1:0"], &book);
        assert_eq!((inv.models.len(), source), (1, NameSource::Inventory), "a region's own list is used as it is");

        book.learn(std::slice::from_ref(&haiku));
        let empty = Inventory::default();
        let (inv, source) = names_for(&empty, ["us.anthropic.claude-3-haiku-20240307-v1:0"], &book);
        assert_eq!((inv.models.clone(), source), (vec![haiku], NameSource::OtherRegions), "the profile's base model");
        let (inv, source) = names_for(&empty, ["meta.llama3-1-70b-instruct-v1:0"], &book);
        assert_eq!((inv.models[0].name.as_str(), source), ("llama 3 1 70b instruct", NameSource::ModelIds));
    }

    #[test]
    fn model_ids_and_regions_come_out_of_arns() {
        let arn = "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
        assert_eq!(model_id_of_arn(arn), Some("anthropic.claude-3-haiku-20240307-v1:0"));
        assert_eq!(region_of_arn(arn), Some("us-west-2"));
        assert_eq!(model_id_of_arn("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"), None);
    }
}
