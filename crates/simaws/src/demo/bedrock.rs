//! The demo's Amazon Bedrock: foundation models from Anthropic, Amazon, Meta, Cohere and
//! Mistral AI, system-defined and application inference profiles, one provisioned
//! throughput, per-model `AWS/Bedrock` traffic (with throttling episodes and data that
//! arrives 90 seconds late), and Bedrock quotas named the ways AWS names them.

use crate::estate::{
    Bedrock, FoundationModel, InferenceProfile, MetricSeries, ProvisionedThroughput, Quota, Service, Shape,
    UsageMetric, dims,
};

pub const SONNET_45: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const SONNET_35_V2: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
pub const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub const NOVA_PRO: &str = "amazon.nova-pro-v1:0";
pub const TITAN_EMBED_V2: &str = "amazon.titan-embed-text-v2:0";
pub const LLAMA_31_70B: &str = "meta.llama3-1-70b-instruct-v1:0";
pub const COMMAND_R_PLUS: &str = "cohere.command-r-plus-v1:0";
pub const RERANK_35: &str = "cohere.rerank-v3-5:0";
pub const MISTRAL_LARGE: &str = "mistral.mistral-large-2402-v1:0";
/// The application inference profile's id.
pub const SUPPORT_BOT: &str = "k3j9x2m7p4q1";

/// Seconds after its minute before a Bedrock datapoint appears in CloudWatch.
pub const LATE_BY: u64 = 90;

/// The control plane of a region.
pub fn control_plane(region: &str, account: &str) -> Bedrock {
    let models = vec![
        FoundationModel::new(SONNET_45, "Anthropic", "Claude Sonnet 4.5"),
        FoundationModel::new(SONNET_35_V2, "Anthropic", "Claude 3.5 Sonnet v2"),
        FoundationModel::new(HAIKU_3, "Anthropic", "Claude 3 Haiku"),
        FoundationModel::new(NOVA_PRO, "Amazon", "Nova Pro"),
        FoundationModel {
            output_modality: "EMBEDDING".into(),
            ..FoundationModel::new(TITAN_EMBED_V2, "Amazon", "Titan Text Embeddings V2")
        },
        FoundationModel::new(LLAMA_31_70B, "Meta", "Llama 3.1 70B Instruct"),
        FoundationModel::new(COMMAND_R_PLUS, "Cohere", "Command R+"),
        FoundationModel::new(RERANK_35, "Cohere", "Rerank 3.5"),
        FoundationModel::new(MISTRAL_LARGE, "Mistral AI", "Mistral Large (24.02)"),
    ];
    let arn = |m: &str, r: &str| format!("arn:aws:bedrock:{r}::foundation-model/{m}");
    let us = ["us-east-1", "us-east-2", "us-west-2"];
    let system = |prefix: &str, model: &str, name: &str, regions: &[&str]| InferenceProfile {
        id: format!("{prefix}.{model}"),
        name: name.into(),
        kind: "SYSTEM_DEFINED".into(),
        arn: format!("arn:aws:bedrock:{region}:{account}:inference-profile/{prefix}.{model}"),
        model_arns: regions.iter().map(|r| arn(model, r)).collect(),
    };
    let inference_profiles = vec![
        system("us", SONNET_45, "US Anthropic Claude Sonnet 4.5", &us),
        system(
            "global",
            SONNET_45,
            "Global Anthropic Claude Sonnet 4.5",
            &["us-east-1", "eu-west-1", "ap-northeast-1"],
        ),
        system("us", SONNET_35_V2, "US Anthropic Claude 3.5 Sonnet v2", &us),
        system("us", LLAMA_31_70B, "US Meta Llama 3.1 70B Instruct", &us),
        system("us", NOVA_PRO, "US Nova Pro", &us),
        InferenceProfile {
            id: SUPPORT_BOT.into(),
            name: "support-bot".into(),
            kind: "APPLICATION".into(),
            arn: support_bot_arn(region, account),
            model_arns: vec![arn(HAIKU_3, region)],
        },
    ];
    let provisioned = vec![ProvisionedThroughput {
        name: "claims-summarizer".into(),
        model_id: HAIKU_3.into(),
        model_units: 2,
        status: "InService".into(),
    }];
    Bedrock { models, inference_profiles, provisioned }
}

/// The ARN of the application inference profile, which is its `ModelId` in CloudWatch.
pub fn support_bot_arn(region: &str, account: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:application-inference-profile/{SUPPORT_BOT}")
}

/// One model's traffic per minute.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    pub invocations: f64,
    /// Throttles per minute during an episode (3 minutes out of every 20), 0 otherwise.
    pub throttle_bursts: f64,
    /// Throttles every minute.
    pub steady_throttles: f64,
    pub client_errors: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub latency_ms: f64,
    /// `EstimatedTPMQuotaUsage`: input tokens plus output tokens times the model's burndown rate.
    pub estimated_tpm: f64,
    /// Daily growth of the estimated tokens per minute.
    pub tpm_growth_per_day: f64,
}

/// The demo traffic by `ModelId`, as CloudWatch reports it (inference-profile ids included).
pub fn traffic(region: &str, account: &str) -> Vec<(String, Traffic)> {
    let t =
        |invocations, throttle_bursts, client_errors, input_tokens, output_tokens, latency_ms, burndown: f64| Traffic {
            invocations,
            throttle_bursts,
            steady_throttles: 0.0,
            client_errors,
            input_tokens,
            output_tokens,
            latency_ms,
            estimated_tpm: input_tokens + burndown * output_tokens,
            tpm_growth_per_day: 0.0,
        };
    vec![
        // 85 % of its cross-region TPM (1.7 M of 2 M) and RPM (170 of 200): the warning tier,
        // and growing by 60,000 tokens a minute each day: it runs out within a week.
        (
            format!("us.{SONNET_45}"),
            Traffic { tpm_growth_per_day: 60_000.0, ..t(170.0, 25.0, 2.0, 1_200_000.0, 100_000.0, 4200.0, 5.0) },
        ),
        (format!("global.{SONNET_45}"), t(60.0, 0.0, 0.0, 500_000.0, 40_000.0, 3900.0, 5.0)),
        (format!("us.{SONNET_35_V2}"), t(40.0, 0.0, 0.0, 300_000.0, 20_000.0, 2800.0, 1.0)),
        (HAIKU_3.to_owned(), t(400.0, 0.0, 3.0, 450_000.0, 90_000.0, 900.0, 1.0)),
        // About 76 % of its cross-region TPM: the info tier; one request in ten throttled.
        (
            format!("us.{LLAMA_31_70B}"),
            Traffic { steady_throttles: 10.0, ..t(90.0, 0.0, 1.0, 380_000.0, 75_000.0, 2100.0, 1.0) },
        ),
        (NOVA_PRO.to_owned(), t(120.0, 0.0, 0.0, 150_000.0, 30_000.0, 1300.0, 1.0)),
        // 93 % of its TPM: the critical tier.
        (TITAN_EMBED_V2.to_owned(), t(800.0, 0.0, 0.0, 279_000.0, 0.0, 120.0, 1.0)),
        // Traffic without any matching quota in Service Quotas.
        (COMMAND_R_PLUS.to_owned(), t(25.0, 0.0, 0.0, 60_000.0, 8_000.0, 2500.0, 1.0)),
        (support_bot_arn(region, account), t(30.0, 0.0, 0.0, 40_000.0, 5_000.0, 850.0, 1.0)),
    ]
}

/// The `AWS/Bedrock` series of the traffic, visible [`LATE_BY`] seconds late, with
/// growth anchored at `now`.
pub fn series(traffic: &[(String, Traffic)], starts_at: f64, now: f64) -> Vec<MetricSeries> {
    let mut out = Vec::new();
    for (model_id, t) in traffic {
        let one = |name: &str, shape: Shape| MetricSeries {
            namespace: "AWS/Bedrock".into(),
            name: name.into(),
            dimensions: dims(&[("ModelId", model_id)]),
            samples_per_minute: 1,
            shape,
            lag_seconds: LATE_BY,
            starts_at: Some(starts_at),
        };
        out.push(one("Invocations", Shape::Constant(t.invocations)));
        out.push(one("InvocationClientErrors", Shape::Constant(t.client_errors)));
        out.push(one("InvocationServerErrors", Shape::Constant(0.0)));
        out.push(one("InputTokenCount", Shape::Constant(t.input_tokens)));
        out.push(one("OutputTokenCount", Shape::Constant(t.output_tokens)));
        out.push(one("InvocationLatency", Shape::Constant(t.latency_ms)));
        let tpm = if t.tpm_growth_per_day == 0.0 {
            Shape::Constant(t.estimated_tpm)
        } else {
            Shape::Linear { anchor: now, at_anchor: t.estimated_tpm, per_day: t.tpm_growth_per_day }
        };
        out.push(one("EstimatedTPMQuotaUsage", tpm));
        if t.throttle_bursts > 0.0 || t.steady_throttles > 0.0 {
            let throttles = Shape::Bursts {
                period: 1200.0,
                duration: 180.0,
                base: t.steady_throttles,
                burst: t.steady_throttles + t.throttle_bursts,
            };
            out.push(one("InvocationThrottles", throttles));
        }
    }
    out
}

/// Amazon Bedrock's quotas, in the current and older wordings AWS uses, with the
/// variants the matcher must leave alone (long-context, Mantle, account-wide).
pub fn quotas() -> Service {
    let q = |code: &str, name: &str, value: f64| Quota::new(code, name, value);
    Service {
        code: "bedrock".into(),
        name: "Amazon Bedrock".into(),
        quotas: vec![
            q(
                "L-F4DDD3EB",
                "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1",
                2_000_000.0,
            )
            .adjustable(),
            q("L-4A6BFAB1", "Cross-Region InvokeModel requests per minute for Anthropic Claude Sonnet 4.5 V1", 200.0),
            q(
                "L-2A9F1E07",
                "Global cross-Region model inference tokens per minute for Anthropic Claude Sonnet 4.5 V1",
                5_000_000.0,
            )
            .adjustable(),
            q(
                "L-5C1E6D3B",
                "Global cross-Region model inference requests per minute for Anthropic Claude Sonnet 4.5 V1",
                500.0,
            ),
            q(
                "L-381AD9EE",
                "Model invocation max tokens per day for Anthropic Claude Sonnet 4.5 V1 (doubled for cross-region calls)",
                2_880_000_000.0,
            ),
            q(
                "L-8EA73537",
                "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1 1M Context Length",
                1_000_000.0,
            ),
            q("L-DCADBC78", "On-demand InvokeModel tokens per minute for Anthropic Claude 3 Haiku", 2_000_000.0)
                .adjustable(),
            q("L-2DC80978", "On-demand InvokeModel requests per minute for Anthropic Claude 3 Haiku", 1000.0),
            q("L-1BC6E08C", "Model invocation max tokens per day for Anthropic Claude 3 Haiku", 2_880_000_000.0),
            q(
                "L-479B647F",
                "Cross-region model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2",
                800_000.0,
            )
            .adjustable(),
            q(
                "L-A4D7C0E1",
                "Cross-region model inference requests per minute for Anthropic Claude 3.5 Sonnet V2",
                100.0,
            ),
            // The newer generation for the same model, for its us profile only: Service
            // Quotas links it through its usage metric, whose ModelId names the profile.
            q(
                "L-5E8B2C4A",
                "Cross-Region InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet V2 (us profile)",
                1_000_000.0,
            )
            .adjustable()
            .usage(UsageMetric::new(
                "AWS/Bedrock",
                "EstimatedTPMQuotaUsage",
                &[("ModelId", &format!("us.{SONNET_35_V2}"))],
                "Sum",
            )),
            q(
                "L-9F2B5D4C",
                "Cross-region model inference tokens per minute for Meta Llama 3.1 70B Instruct",
                600_000.0,
            )
            .adjustable(),
            q("L-3E7C9A21", "Cross-region model inference requests per minute for Meta Llama 3.1 70B Instruct", 150.0),
            q("L-7D3F8B02", "On-demand model inference tokens per minute for Amazon Nova Pro", 2_000_000.0)
                .adjustable(),
            q("L-0B6C2E9A", "On-demand model inference requests per minute for Amazon Nova Pro", 500.0),
            q(
                "L-C5E1A8F3",
                "On-demand model inference tokens per minute for Amazon Titan Text Embeddings V2",
                300_000.0,
            ),
            q("L-11512E58", "On-demand model inference requests per minute for Cohere Rerank 3.5", 3.0),
            q("L-4F8E1C3D", "On-demand InvokeModel tokens per minute for Mistral AI Mistral Large (24.02)", 300_000.0),
            q("L-6B0D4F1E", "Cross-Model Max Tokens Per Day", 10_000_000_000.0),
            q("L-E2A4C6B8", "Bedrock Mantle input tokens per minute for OpenAI GPT OSS 120B", 1_000_000.0),
        ],
    }
}
