//! Which Service Quotas quota governs a Bedrock model id.
//!
//! AWS's own link comes first: a quota whose usage metric in Service Quotas carries a
//! `ModelId` dimension governs exactly that model id ([`Method::UsageMetric`]). Only
//! the rest is matched by name ([`Method::Name`]): Bedrock quotas (service code
//! `bedrock`) are named per model, in several generations of wording, and CloudWatch's
//! `ModelId` may be a foundation model, a cross-region or global inference profile
//! (`us.`, `eu.`, `apac.`, `global.` …) or an application inference profile. A quota
//! name is parsed into its kind (tokens or requests per minute, tokens per day), its
//! scope (on-demand, cross-region, global) and its model, and the model part is
//! compared, normalised, with the model's provider and name from `ListFoundationModels`
//! (or, where that list is missing, another region's or the id's own words: see
//! [`derived_model`]). A quota linked by its usage metric is never matched by name to
//! another model id.

use super::Inventory;

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    TokensPerMinute,
    RequestsPerMinute,
    TokensPerDay,
}

impl Kind {
    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TokensPerMinute => "tokens_per_minute",
            Kind::RequestsPerMinute => "requests_per_minute",
            Kind::TokensPerDay => "tokens_per_day",
        }
    }
}

/// Where the inference runs, which decides which quota applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// In one region, called by model id.
    OnDemand,
    /// Through a geographic cross-region inference profile (`us.`, `eu.`, …).
    CrossRegion,
    /// Through a global inference profile (`global.`).
    Global,
}

impl Scope {
    /// The `scope` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OnDemand => "on_demand",
            Scope::CrossRegion => "cross_region",
            Scope::Global => "global",
        }
    }
}

/// A Bedrock quota name, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaName {
    pub kind: Kind,
    pub scope: Scope,
    /// The model part, normalised.
    pub model: String,
    /// "(doubled for cross-region calls)": the limit counts twice for cross-region calls.
    pub doubled_for_cross_region: bool,
}

/// Parses a per-model Bedrock quota name. `None` for everything else: account-wide
/// quotas, long-context ("1M Context Length") variants, Bedrock Mantle quotas, batch
/// and customisation quotas.
pub fn parse_quota_name(name: &str) -> Option<QuotaName> {
    let lower = name.to_ascii_lowercase();
    const EXCLUDED: [&str; 5] = ["mantle", "context length", "batch", "provisioned", "customization"];
    if EXCLUDED.iter().any(|x| lower.contains(x)) {
        return None;
    }
    let (kind, phrase) = [
        (Kind::TokensPerMinute, "tokens per minute"),
        (Kind::RequestsPerMinute, "requests per minute"),
        (Kind::TokensPerDay, "tokens per day"),
    ]
    .into_iter()
    .find(|(_, phrase)| lower.contains(phrase))?;
    let at = lower.find(phrase)?;
    let prefix = &lower[..at];
    let rest = &name[at + phrase.len()..];
    let model = rest.strip_prefix(" for ")?;
    let doubled = lower.contains("doubled for cross-region");
    // A trailing note in parentheses ("(doubled for cross-region calls)") is not part of the model.
    let model = match model.rfind(" (") {
        Some(i) if model[i..].to_ascii_lowercase().contains("cross-region") => &model[..i],
        _ => model,
    };
    let scope = if prefix.contains("global") {
        Scope::Global
    } else if prefix.contains("cross-region") {
        Scope::CrossRegion
    } else if prefix.contains("on-demand") || kind == Kind::TokensPerDay {
        Scope::OnDemand
    } else {
        return None;
    };
    let model = normalize(model);
    if model.is_empty() {
        return None;
    }
    Some(QuotaName { kind, scope, model, doubled_for_cross_region: doubled })
}

/// Lower case, `+` spelt "plus", every other non-alphanumeric a space, a trailing "v1"
/// dropped (AWS writes "V1" in quota names where the model name has no version).
pub fn normalize(s: &str) -> String {
    let s = s.to_ascii_lowercase().replace('+', " plus ");
    let mut tokens: Vec<&str> = s.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty()).collect();
    if tokens.last() == Some(&"v1") {
        tokens.pop();
    }
    tokens.join(" ")
}

/// The major version at the end of a model id (`…-v2:0`, `…-v1:0:28k`), if any.
fn id_version(id: &str) -> Option<u32> {
    let mut parts = id.rsplitn(3, ':');
    let last = parts.next()?;
    let (revision_part, version_part) = match parts.next() {
        // `…-v1:0:28k`: a context-window suffix after the revision.
        Some(mid) if last.chars().any(|c| c.is_ascii_alphabetic()) => (mid, parts.next()?),
        Some(mid) => (last, mid),
        None => return None,
    };
    if !revision_part.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    version_part.rsplit_once("-v")?.1.parse().ok()
}

/// The normalised names a model's quotas may use.
pub fn model_keys(model: &super::FoundationModel) -> Vec<String> {
    let mut name = normalize(&model.name);
    if let Some(v) = id_version(&model.id).filter(|v| *v > 1) {
        let suffix = format!("v{v}");
        if !name.split(' ').any(|t| t == suffix) {
            name = format!("{name} {suffix}");
        }
    }
    let provider = normalize(&model.provider);
    let mut keys = vec![format!("{provider} {name}"), name.clone()];
    if let Some(first) = provider.split(' ').next()
        && first != provider
    {
        keys.push(format!("{first} {name}"));
    }
    keys
}

/// A runtime `ModelId` resolved to its foundation model and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub base_model_id: String,
    pub scope: Scope,
}

/// The geographic prefixes of system-defined inference profiles.
const GEO_PREFIXES: [&str; 8] = ["us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"];

/// Resolves a CloudWatch `ModelId`: a foundation model id, an inference-profile id with a
/// geographic prefix, or an inference profile (system or application) by id or ARN.
pub fn resolve(model_id: &str, inventory: &Inventory) -> ModelRef {
    if let Some(profile) = inventory.profile(model_id) {
        let base = profile.model_ids.first().cloned().unwrap_or_else(|| model_id.to_owned());
        let scope = if profile.id.starts_with("global.") {
            Scope::Global
        } else if profile.kind == "SYSTEM_DEFINED" || profile.regions.len() > 1 {
            Scope::CrossRegion
        } else {
            Scope::OnDemand
        };
        return ModelRef { base_model_id: base, scope };
    }
    if let Some((prefix, rest)) = model_id.split_once('.')
        && GEO_PREFIXES.contains(&prefix)
        && rest.contains('.')
    {
        let scope = if prefix == "global" { Scope::Global } else { Scope::CrossRegion };
        return ModelRef { base_model_id: rest.to_owned(), scope };
    }
    ModelRef { base_model_id: model_id.to_owned(), scope: Scope::OnDemand }
}

/// A quota as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuotaCandidate {
    pub code: String,
    pub name: String,
    pub limit: Option<f64>,
    /// The `ModelId` dimension of the quota's usage metric, where Service Quotas gives one.
    pub usage_model_id: Option<String>,
    /// The name of that usage metric (for the kind, where the quota's name says none).
    pub usage_metric_name: Option<String>,
}

impl QuotaCandidate {
    /// A quota of the `bedrock` service, with its usage metric's link, if any.
    pub fn of(q: &crate::model::Quota) -> QuotaCandidate {
        let metric = q.usage_metric.as_deref();
        QuotaCandidate {
            code: q.code.clone(),
            name: q.name.clone(),
            limit: q.limit,
            usage_model_id: metric
                .and_then(|m| m.dimensions.iter().find(|(k, _)| k == "ModelId"))
                .map(|(_, v)| v.clone()),
            usage_metric_name: metric.map(|m| m.name.clone()),
        }
    }

    /// What the quota limits: from its name, else from its usage metric's name.
    fn kind(&self) -> Option<Kind> {
        if let Some(parsed) = parse_quota_name(&self.name) {
            return Some(parsed.kind);
        }
        let lower = self.name.to_ascii_lowercase();
        if lower.contains("tokens per minute") {
            return Some(Kind::TokensPerMinute);
        }
        if lower.contains("requests per minute") {
            return Some(Kind::RequestsPerMinute);
        }
        match self.usage_metric_name.as_deref()? {
            "EstimatedTPMQuotaUsage" | "InputTokenCount" | "OutputTokenCount" => Some(Kind::TokensPerMinute),
            "Invocations" => Some(Kind::RequestsPerMinute),
            _ => None,
        }
    }
}

/// How a quota was linked to a model id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// Service Quotas names the model id in the quota's usage metric.
    UsageMetric,
    /// The quota's name names the model.
    Name,
}

impl Method {
    /// The `method` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::UsageMetric => "usage_metric",
            Method::Name => "name",
        }
    }
}

/// A quota matched to a model id.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub kind: Kind,
    pub scope: Scope,
    pub quota_code: String,
    /// The limit that applies to this model id (doubled where AWS says so).
    pub limit: f64,
    pub method: Method,
}

/// The quotas that govern `model_id`: at most one per kind. First the quotas whose
/// usage metric names this model id; then, for the kinds still open, the quotas named
/// for its model (never one that AWS links to another model id). Tokens-per-day quotas
/// apply whatever the scope; the others must match the model id's scope.
pub fn match_quotas(model_id: &str, inventory: &Inventory, quotas: &[QuotaCandidate]) -> Vec<Match> {
    let r = resolve(model_id, inventory);
    let mut out: Vec<Match> = Vec::new();
    for q in quotas.iter().filter(|q| q.usage_model_id.as_deref() == Some(model_id)) {
        let (Some(kind), Some(limit)) = (q.kind(), q.limit) else { continue };
        if out.iter().any(|m| m.kind == kind) {
            continue;
        }
        out.push(Match { kind, scope: r.scope, quota_code: q.code.clone(), limit, method: Method::UsageMetric });
    }
    if let Some(model) = inventory.model(&r.base_model_id) {
        let keys = model_keys(model);
        for q in quotas.iter().filter(|q| q.usage_model_id.is_none()) {
            let (Some(parsed), Some(limit)) = (parse_quota_name(&q.name), q.limit) else { continue };
            let scope_fits = parsed.scope == r.scope || parsed.kind == Kind::TokensPerDay;
            if !scope_fits || !keys.contains(&parsed.model) || out.iter().any(|m| m.kind == parsed.kind) {
                continue;
            }
            let doubled = parsed.doubled_for_cross_region && r.scope != Scope::OnDemand;
            out.push(Match {
                kind: parsed.kind,
                scope: if parsed.kind == Kind::TokensPerDay { r.scope } else { parsed.scope },
                quota_code: q.code.clone(),
                limit: if doubled { limit * 2.0 } else { limit },
                method: Method::Name,
            });
        }
    }
    out.sort_by_key(|m| m.kind);
    out
}

/// A foundation model known only by its id, for matching where no region's
/// `ListFoundationModels` has it: the provider is the id's first part, the name its
/// words without the date and version (`anthropic.claude-3-5-sonnet-20241022-v2:0` is
/// Anthropic's "claude 3 5 sonnet", version 2), a letter run followed by digits split
/// (`llama3` reads "llama 3"). Names AWS writes differently from the id (Titan's
/// "Text Embeddings") are not recovered this way.
pub fn derived_model(id: &str) -> Option<super::FoundationModel> {
    let (provider, rest) = id.split_once('.')?;
    // Drop the revision and any context suffix (`:0`, `:0:48k`), then the version.
    let base = rest.split(':').next().unwrap_or(rest);
    let base = match base.rsplit_once("-v") {
        Some((b, v)) if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => b,
        _ => base,
    };
    let mut words = Vec::new();
    for w in base.split('-') {
        // A date (`20241022`) is no part of the name.
        if w.len() == 8 && w.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        // A version word (`v3` in `rerank-v3-5`) is its number.
        if let Some(n) = w.strip_prefix('v').filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())) {
            words.push(n.to_owned());
            continue;
        }
        match w.find(|c: char| c.is_ascii_digit()) {
            Some(i)
                if i > 0
                    && w[..i].chars().all(|c| c.is_ascii_alphabetic())
                    && w[i..].chars().all(|c| c.is_ascii_digit()) =>
            {
                words.push(w[..i].to_owned());
                words.push(w[i..].to_owned());
            }
            _ => words.push(w.to_owned()),
        }
    }
    if words.is_empty() {
        return None;
    }
    Some(super::FoundationModel { id: id.to_owned(), provider: provider.to_owned(), name: words.join(" ") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::{FoundationModel, InferenceProfile};

    /// What the matcher must read from a name: kind, scope, model, doubled.
    type Expected = Option<(Kind, Scope, &'static str, bool)>;

    /// Every wording the matcher knows, with what it must read from it.
    const NAMES: &[(&str, Expected)] = &[
        // Current wording.
        (
            "On-demand InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet",
            Some((Kind::TokensPerMinute, Scope::OnDemand, "anthropic claude 3 5 sonnet", false)),
        ),
        (
            "On-demand InvokeModel requests per minute for Anthropic Claude 3 Haiku",
            Some((Kind::RequestsPerMinute, Scope::OnDemand, "anthropic claude 3 haiku", false)),
        ),
        (
            "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1",
            Some((Kind::TokensPerMinute, Scope::CrossRegion, "anthropic claude sonnet 4 5", false)),
        ),
        (
            "Cross-Region InvokeModel requests per minute for Anthropic Claude Sonnet 4.5 V1",
            Some((Kind::RequestsPerMinute, Scope::CrossRegion, "anthropic claude sonnet 4 5", false)),
        ),
        // Older wording: "model inference", "Cross-region" in lower case.
        (
            "Cross-region model inference tokens per minute for Anthropic Claude 3.7 Sonnet V1",
            Some((Kind::TokensPerMinute, Scope::CrossRegion, "anthropic claude 3 7 sonnet", false)),
        ),
        (
            "Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet V2",
            Some((Kind::RequestsPerMinute, Scope::CrossRegion, "anthropic claude 3 5 sonnet v2", false)),
        ),
        (
            "On-demand model inference tokens per minute for Meta Llama 3.1 70B Instruct",
            Some((Kind::TokensPerMinute, Scope::OnDemand, "meta llama 3 1 70b instruct", false)),
        ),
        (
            "On-demand model inference requests per minute for Cohere Rerank 3.5",
            Some((Kind::RequestsPerMinute, Scope::OnDemand, "cohere rerank 3 5", false)),
        ),
        // Global profiles.
        (
            "Global cross-Region model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1",
            Some((Kind::TokensPerMinute, Scope::Global, "anthropic claude sonnet 4 5", false)),
        ),
        (
            "Global cross-Region InvokeModel requests per minute for Anthropic Claude Haiku 4.5",
            Some((Kind::RequestsPerMinute, Scope::Global, "anthropic claude haiku 4 5", false)),
        ),
        // Tokens per day, with and without the cross-region note.
        (
            "Model invocation max tokens per day for Anthropic Claude Sonnet 4.5 V1 (doubled for cross-region calls)",
            Some((Kind::TokensPerDay, Scope::OnDemand, "anthropic claude sonnet 4 5", true)),
        ),
        (
            "Model invocation max tokens per day for Amazon Nova Pro",
            Some((Kind::TokensPerDay, Scope::OnDemand, "amazon nova pro", false)),
        ),
        // Names with punctuation that must survive normalisation.
        (
            "On-demand InvokeModel tokens per minute for Mistral AI Mistral Large (24.02)",
            Some((Kind::TokensPerMinute, Scope::OnDemand, "mistral ai mistral large 24 02", false)),
        ),
        (
            "On-demand model inference tokens per minute for Cohere Command R+",
            Some((Kind::TokensPerMinute, Scope::OnDemand, "cohere command r plus", false)),
        ),
        // Not per-model quotas of bedrock-runtime: left alone.
        ("Cross-region model inference tokens per minute for Anthropic Claude Sonnet 4 V1 1M Context Length", None),
        ("Cross-Model Max Tokens Per Day", None),
        ("Bedrock Mantle input tokens per minute for OpenAI GPT OSS 120B", None),
        ("Batch inference job size (in GB) for Claude 3 Haiku", None),
        ("Model units no-commitment Provisioned Throughputs across base models", None),
        ("Concurrent model customization jobs", None),
    ];

    #[test]
    fn every_known_quota_name_form_is_parsed() {
        for (name, expected) in NAMES {
            let got = parse_quota_name(name).map(|q| (q.kind, q.scope, q.model, q.doubled_for_cross_region));
            let expected = expected.map(|(k, s, m, d)| (k, s, m.to_owned(), d));
            assert_eq!(got, expected, "{name}");
        }
    }

    fn inventory() -> Inventory {
        let m = |id: &str, provider: &str, name: &str| FoundationModel {
            id: id.into(),
            provider: provider.into(),
            name: name.into(),
        };
        Inventory {
            models: vec![
                m("anthropic.claude-sonnet-4-5-20250929-v1:0", "Anthropic", "Claude Sonnet 4.5"),
                m("anthropic.claude-3-5-sonnet-20240620-v1:0", "Anthropic", "Claude 3.5 Sonnet"),
                m("anthropic.claude-3-5-sonnet-20241022-v2:0", "Anthropic", "Claude 3.5 Sonnet v2"),
                m("anthropic.claude-3-haiku-20240307-v1:0", "Anthropic", "Claude 3 Haiku"),
                m("anthropic.claude-3-haiku-20240307-v1:0:48k", "Anthropic", "Claude 3 Haiku"),
                m("meta.llama3-1-70b-instruct-v1:0", "Meta", "Llama 3.1 70B Instruct"),
                m("amazon.titan-embed-text-v2:0", "Amazon", "Titan Text Embeddings V2"),
                m("cohere.rerank-v3-5:0", "Cohere", "Rerank 3.5"),
                m("cohere.command-r-plus-v1:0", "Cohere", "Command R+"),
                m("cohere.command-r-v1:0", "Cohere", "Command R"),
                m("mistral.mistral-large-2402-v1:0", "Mistral AI", "Mistral Large (24.02)"),
            ],
            profiles: vec![InferenceProfile {
                id: "k3j9x2m7p4q1".into(),
                arn: "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/k3j9x2m7p4q1".into(),
                name: "support-bot".into(),
                kind: "APPLICATION".into(),
                model_ids: vec!["anthropic.claude-3-haiku-20240307-v1:0".into()],
                regions: vec!["us-east-1".into()],
            }],
            provisioned: vec![],
        }
    }

    fn quotas() -> Vec<QuotaCandidate> {
        [
            ("L-A", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1", 2e6),
            ("L-B", "Global cross-Region model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1", 5e6),
            ("L-C", "Model invocation max tokens per day for Anthropic Claude Sonnet 4.5 V1 (doubled for cross-region calls)", 1e9),
            ("L-D", "On-demand InvokeModel tokens per minute for Anthropic Claude 3 Haiku", 2e6),
            ("L-E", "On-demand InvokeModel requests per minute for Anthropic Claude 3 Haiku", 1000.0),
            ("L-F", "Cross-region model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2", 8e5),
            ("L-G", "On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet", 4e5),
            ("L-H", "Cross-region model inference tokens per minute for Meta Llama 3.1 70B Instruct", 6e5),
            ("L-I", "On-demand model inference tokens per minute for Amazon Titan Text Embeddings V2", 3e5),
            ("L-J", "On-demand model inference requests per minute for Cohere Rerank 3.5", 3.0),
            ("L-K", "On-demand model inference tokens per minute for Cohere Command R", 1e5),
            ("L-L", "On-demand InvokeModel tokens per minute for Mistral AI Mistral Large (24.02)", 3e5),
            ("L-M", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1 1M Context Length", 1e6),
        ]
        .into_iter()
        .map(|(code, name, limit)| QuotaCandidate {
            code: code.into(),
            name: name.into(),
            limit: Some(limit),
            ..QuotaCandidate::default()
        })
        .collect()
    }

    fn codes(model_id: &str) -> Vec<(Kind, Scope, String, f64)> {
        match_quotas(model_id, &inventory(), &quotas())
            .into_iter()
            .map(|m| (m.kind, m.scope, m.quota_code, m.limit))
            .collect()
    }

    #[test]
    fn a_cross_region_profile_gets_the_cross_region_quota_and_the_doubled_daily_quota() {
        assert_eq!(
            codes("us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
            vec![
                (Kind::TokensPerMinute, Scope::CrossRegion, "L-A".into(), 2e6),
                (Kind::TokensPerDay, Scope::CrossRegion, "L-C".into(), 2e9),
            ]
        );
        assert_eq!(codes("eu.anthropic.claude-sonnet-4-5-20250929-v1:0")[0].2, "L-A");
        assert_eq!(codes("apac.anthropic.claude-sonnet-4-5-20250929-v1:0")[0].2, "L-A");
    }

    #[test]
    fn a_global_profile_gets_the_global_quota() {
        let got = codes("global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(got[0], (Kind::TokensPerMinute, Scope::Global, "L-B".into(), 5e6));
        assert_eq!(got[1].2, "L-C");
    }

    #[test]
    fn an_on_demand_model_gets_its_on_demand_quotas_and_an_undoubled_daily_quota() {
        assert_eq!(
            codes("anthropic.claude-3-haiku-20240307-v1:0"),
            vec![
                (Kind::TokensPerMinute, Scope::OnDemand, "L-D".into(), 2e6),
                (Kind::RequestsPerMinute, Scope::OnDemand, "L-E".into(), 1000.0),
            ]
        );
        assert_eq!(
            codes("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            vec![(Kind::TokensPerDay, Scope::OnDemand, "L-C".into(), 1e9)]
        );
    }

    #[test]
    fn a_quota_whose_usage_metric_names_a_model_id_governs_exactly_that_one() {
        let v2 = "anthropic.claude-3-5-sonnet-20241022-v2:0";
        let mut quotas = quotas();
        // The newer generation, for the us profile only, linked by AWS through its usage
        // metric; its name ends in a note the name parser cannot read.
        quotas.push(QuotaCandidate {
            code: "L-NEW".into(),
            name: "Cross-Region InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet V2 (us profile)".into(),
            limit: Some(1e6),
            usage_model_id: Some(format!("us.{v2}")),
            usage_metric_name: Some("EstimatedTPMQuotaUsage".into()),
        });
        fn got(id: &str, quotas: &[QuotaCandidate]) -> Vec<(Kind, String, Method)> {
            match_quotas(id, &inventory(), quotas).into_iter().map(|m| (m.kind, m.quota_code, m.method)).collect()
        }
        assert_eq!(got(&format!("us.{v2}"), &quotas), [(Kind::TokensPerMinute, "L-NEW".into(), Method::UsageMetric)]);
        // The eu profile has no quota of its own: the older one, by name.
        assert_eq!(got(&format!("eu.{v2}"), &quotas), [(Kind::TokensPerMinute, "L-F".into(), Method::Name)]);
        // A link needs no inventory: an unknown model id linked by AWS is still matched.
        quotas.push(QuotaCandidate {
            code: "L-RPM".into(),
            name: "Some future wording for a model's requests".into(),
            limit: Some(50.0),
            usage_model_id: Some("acme.rocket-v9:0".into()),
            usage_metric_name: Some("Invocations".into()),
        });
        assert_eq!(got("acme.rocket-v9:0", &quotas), [(Kind::RequestsPerMinute, "L-RPM".into(), Method::UsageMetric)]);
        // Several quotas of one kind linked to one id: the first holds the kind.
        quotas.push(QuotaCandidate { code: "L-NEW2".into(), ..quotas[quotas.len() - 2].clone() });
        assert_eq!(got(&format!("us.{v2}"), &quotas)[0].1, "L-NEW");
    }

    #[test]
    fn an_application_profile_is_linked_by_its_own_id_or_resolved_to_its_model() {
        let arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/k3j9x2m7p4q1";
        let mut quotas = quotas();
        assert_eq!(
            match_quotas(arn, &inventory(), &quotas)[0],
            Match {
                kind: Kind::TokensPerMinute,
                scope: Scope::OnDemand,
                quota_code: "L-D".into(),
                limit: 2e6,
                method: Method::Name
            },
            "by name, through the profile's model"
        );
        quotas.push(QuotaCandidate {
            code: "L-APP".into(),
            name: "On-demand InvokeModel tokens per minute for support-bot".into(),
            limit: Some(3e5),
            usage_model_id: Some(arn.into()),
            usage_metric_name: Some("EstimatedTPMQuotaUsage".into()),
        });
        let m = match_quotas(arn, &inventory(), &quotas);
        assert_eq!((m[0].quota_code.as_str(), m[0].method), ("L-APP", Method::UsageMetric));
        assert_eq!((m[1].quota_code.as_str(), m[1].method), ("L-E", Method::Name), "the other kinds still by name");
    }

    #[test]
    fn a_model_known_only_by_its_id_reads_as_its_provider_and_words() {
        let keys = |id: &str| model_keys(&derived_model(id).expect("derived"));
        assert!(keys("anthropic.claude-3-5-sonnet-20241022-v2:0").contains(&"anthropic claude 3 5 sonnet v2".into()));
        assert!(keys("anthropic.claude-sonnet-4-5-20250929-v1:0").contains(&"anthropic claude sonnet 4 5".into()));
        assert!(keys("anthropic.claude-3-haiku-20240307-v1:0:48k").contains(&"anthropic claude 3 haiku".into()));
        assert!(keys("meta.llama3-1-70b-instruct-v1:0").contains(&"meta llama 3 1 70b instruct".into()));
        assert!(keys("cohere.command-r-plus-v1:0").contains(&"cohere command r plus".into()));
        assert!(keys("cohere.rerank-v3-5:0").contains(&"cohere rerank 3 5".into()));
        assert_eq!(derived_model("no-dot"), None);
    }

    #[test]
    fn model_versions_are_told_apart() {
        assert_eq!(codes("us.anthropic.claude-3-5-sonnet-20241022-v2:0")[0].2, "L-F");
        assert_eq!(codes("anthropic.claude-3-5-sonnet-20240620-v1:0")[0].2, "L-G");
        assert!(codes("anthropic.claude-3-5-sonnet-20241022-v2:0").is_empty(), "v2 has no on-demand quota here");
    }

    #[test]
    fn command_r_plus_is_not_command_r() {
        assert!(codes("cohere.command-r-plus-v1:0").is_empty());
        assert_eq!(codes("cohere.command-r-v1:0")[0].2, "L-K");
    }

    #[test]
    fn names_with_versions_in_the_model_id_and_punctuation_match() {
        assert_eq!(codes("amazon.titan-embed-text-v2:0")[0].2, "L-I");
        assert_eq!(codes("cohere.rerank-v3-5:0")[0].2, "L-J");
        assert_eq!(codes("mistral.mistral-large-2402-v1:0")[0].2, "L-L");
        assert_eq!(codes("us.meta.llama3-1-70b-instruct-v1:0")[0].2, "L-H");
        assert_eq!(codes("anthropic.claude-3-haiku-20240307-v1:0:48k")[0].2, "L-D", "a context-window variant");
    }

    #[test]
    fn an_application_profile_resolves_to_its_model() {
        assert_eq!(codes("k3j9x2m7p4q1")[0].2, "L-D");
        assert_eq!(
            codes("arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/k3j9x2m7p4q1")[0].2,
            "L-D"
        );
    }

    #[test]
    fn an_unknown_model_matches_nothing() {
        assert!(codes("acme.unknown-model-v1:0").is_empty());
        assert!(codes("us.acme.unknown-model-v1:0").is_empty());
    }

    #[test]
    fn prefixes_resolve_to_their_scope_even_without_an_inventory_entry() {
        let empty = Inventory::default();
        assert_eq!(resolve("us-gov.x.y-v1:0", &empty).scope, Scope::CrossRegion);
        assert_eq!(
            resolve("global.x.y-v1:0", &empty),
            ModelRef { base_model_id: "x.y-v1:0".into(), scope: Scope::Global }
        );
        assert_eq!(resolve("anthropic.claude-v2", &empty).scope, Scope::OnDemand);
    }

    #[test]
    fn versions_are_read_from_model_ids() {
        assert_eq!(id_version("anthropic.claude-3-5-sonnet-20241022-v2:0"), Some(2));
        assert_eq!(id_version("anthropic.claude-3-haiku-20240307-v1:0:48k"), Some(1));
        assert_eq!(id_version("cohere.rerank-v3-5:0"), None);
        assert_eq!(id_version("amazon.nova-pro-v1:0"), Some(1));
    }
}
