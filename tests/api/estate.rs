//! The fixed estate the integration tests and the golden file run against.
//!
//! Every usage series is chosen so that the right arithmetic gives one number and each
//! wrong one a different number: a Maximum that a Sum would inflate six-fold, a
//! per-minute Sum that only matches the quota once converted to per-second, a
//! `ResourceCount` that AWS "recommends" summing.

use simaws::estate::{
    Account, Bedrock, Estate, FoundationModel, InferenceProfile, MetricSeries, ProvisionedThroughput, Quota, Region,
    Service, Shape, UsageMetric, dims,
};

pub const ACCOUNT: &str = "123456789012";
pub const ACCESS_KEY: &str = "AKIATESTACCOUNT00001";
/// A second account, used where a test needs another estate's credentials.
pub const OTHER_ACCOUNT: &str = "210987654321";
pub const OTHER_KEY: &str = "AKIATESTACCOUNT00002";

/// Lambda concurrency: six samples a minute; the peak is 810, the sum 4,170.
pub const LAMBDA_SAMPLES: [f64; 6] = [600.0, 720.0, 810.0, 700.0, 650.0, 690.0];
/// KMS calls per ten seconds: 600,000 a minute, 10,000 a second; the peak sample is 120,000.
pub const KMS_SAMPLES: [f64; 6] = [80_000.0, 90_000.0, 100_000.0, 110_000.0, 120_000.0, 100_000.0];
/// Spot vCPUs: six samples of 128 a minute, which AWS's "Sum" would report as 768.
pub const SPOT_VCPUS: f64 = 128.0;
/// A quota name with every character that needs care in an exposition.
pub const AWKWARD_NAME: &str = "Rules per \"security group\" (inbound, outbound) / ENI \\ legacy";
/// How many quotas the multi-page service has, and how many of them have applied values.
pub const MANY_QUOTAS: usize = 230;
pub const MANY_APPLIED: usize = 115;

fn cycle(metric: &UsageMetric, values: &[f64]) -> simaws::estate::MetricSeries {
    metric.series(Shape::Cycle { values: values.to_vec(), samples_per_minute: 6 }).samples_per_minute(6)
}

pub fn test_estate() -> Estate {
    Estate {
        accounts: vec![
            Account::new(ACCOUNT, ACCESS_KEY, vec![us_east_1(), eu_west_1()]),
            Account::new(OTHER_ACCOUNT, OTHER_KEY, vec![Region { name: "us-east-1".into(), ..Region::default() }]),
        ],
        organization: None,
    }
}

pub fn ec2_standard() -> UsageMetric {
    UsageMetric::resource_count("EC2", "vCPU", "Standard/OnDemand")
}

/// EC2's standard on-demand vCPU quota with an applied value.
fn ec2_standard_quota(applied: f64) -> Quota {
    Quota::new("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 5.0)
        .applied(applied)
        .adjustable()
        .usage(ec2_standard())
}

pub fn lambda_concurrency() -> UsageMetric {
    UsageMetric::new("AWS/Lambda", "ConcurrentExecutions", &[], "Maximum")
}

pub fn kms_symmetric() -> UsageMetric {
    UsageMetric::call_count("KMS", "CryptographicOperationsSymmetric")
}

/// AWS/Usage ResourceCount, but with AWS recommending Sum (it happens: see peers.md).
pub fn spot_vcpu() -> UsageMetric {
    let mut m = UsageMetric::resource_count("EC2", "vCPU", "Standard/Spot");
    m.statistic = "Sum".into();
    m
}

pub fn fargate_vcpu() -> UsageMetric {
    UsageMetric::resource_count("Fargate", "vCPU", "Standard/OnDemand")
}

fn us_east_1() -> Region {
    let mut region = us_east_1_quotas();
    bedrock(&mut region);
    region
}

fn us_east_1_quotas() -> Region {
    let mut many = Service { code: "sagemaker".into(), name: "Amazon SageMaker".into(), quotas: Vec::new() };
    for i in 0..MANY_QUOTAS {
        let mut q = Quota::new(&format!("L-5A{i:06}"), &format!("ml.instance-{i} for endpoint usage"), i as f64);
        if i % 2 == 0 {
            q = q.applied(i as f64 + 1000.0).adjustable();
        }
        many.quotas.push(q);
    }
    Region {
        name: "us-east-1".into(),
        services: vec![
            Service {
                code: "ec2".into(),
                name: "Amazon Elastic Compute Cloud (Amazon EC2)".into(),
                quotas: vec![
                    ec2_standard_quota(640.0),
                    // Applied 0 with usage: the ratio is meaningless and must be absent.
                    Quota::new("L-417A185B", "Running On-Demand P instances", 0.0)
                        .applied(0.0)
                        .usage(UsageMetric::resource_count("EC2", "vCPU", "P/OnDemand")),
                    // Default only: ListServiceQuotas leaves it out.
                    Quota::new("L-DB2E81BA", "Running On-Demand G and VT instances", 64.0).adjustable(),
                    // Applied, no usage metric.
                    Quota::new("L-0263D0A3", "EC2-VPC Elastic IPs", 5.0).applied(15.0).adjustable(),
                    Quota::new("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", 5.0)
                        .applied(256.0)
                        .adjustable()
                        .usage(spot_vcpu()),
                    // A usage metric CloudWatch has no data for.
                    Quota::new("L-7295265B", "Running On-Demand X instances", 0.0)
                        .applied(96.0)
                        .usage(UsageMetric::resource_count("EC2", "vCPU", "X/OnDemand")),
                    Quota::new("L-0EA8095F", AWKWARD_NAME, 60.0).adjustable(),
                ],
            },
            Service {
                code: "lambda".into(),
                name: "AWS Lambda".into(),
                quotas: vec![
                    Quota::new("L-B99A9384", "Concurrent executions", 1000.0)
                        .applied(1000.0)
                        .adjustable()
                        .usage(lambda_concurrency()),
                ],
            },
            Service {
                code: "kms".into(),
                name: "AWS Key Management Service (AWS KMS)".into(),
                quotas: vec![
                    Quota::new("L-6E3AF000", "Cryptographic operations (symmetric) request rate", 5500.0)
                        .applied(12_500.0)
                        .adjustable()
                        .period(1, "SECOND")
                        .usage(kms_symmetric()),
                ],
            },
            Service {
                code: "es".into(),
                name: "Amazon OpenSearch Service".into(),
                quotas: vec![
                    Quota::new("L-6408ABDE", "Instances per domain", 40.0)
                        .adjustable()
                        .resource(
                            "arn:aws:es:us-east-1:123456789012:domain/search",
                            "AWS::OpenSearchService::Domain",
                            80.0,
                        )
                        .resource("*", "AWS::OpenSearchService::Domain", 50.0),
                ],
            },
            Service {
                code: "s3".into(),
                name: "Amazon Simple Storage Service (Amazon S3)".into(),
                quotas: vec![Quota::new("L-DC2B2D3D", "General purpose buckets", 10_000.0).adjustable().global()],
            },
            // Two services whose quotas share one usage metric: it is queried once.
            Service {
                code: "fargate".into(),
                name: "AWS Fargate".into(),
                quotas: vec![
                    Quota::new("L-3032A538", "Fargate On-Demand vCPU resource count", 6.0)
                        .applied(400.0)
                        .usage(fargate_vcpu()),
                ],
            },
            Service {
                code: "ecs".into(),
                name: "Amazon Elastic Container Service (Amazon ECS)".into(),
                quotas: vec![
                    Quota::new("L-21C621EB", "Fargate On-Demand vCPU resource count (legacy)", 500.0)
                        .usage(fargate_vcpu()),
                ],
            },
            many,
        ],
        metrics: vec![
            ec2_standard().series(Shape::Constant(544.0)),
            UsageMetric::resource_count("EC2", "vCPU", "P/OnDemand").series(Shape::Constant(8.0)),
            cycle(&spot_vcpu(), &[SPOT_VCPUS; 6]),
            cycle(&lambda_concurrency(), &LAMBDA_SAMPLES),
            cycle(&kms_symmetric(), &KMS_SAMPLES),
            fargate_vcpu().series(Shape::Constant(300.0)),
        ],
        ..Region::default()
    }
}

fn eu_west_1() -> Region {
    Region {
        name: "eu-west-1".into(),
        services: vec![
            Service {
                code: "ec2".into(),
                name: "Amazon Elastic Compute Cloud (Amazon EC2)".into(),
                quotas: vec![ec2_standard_quota(320.0)],
            },
            Service {
                code: "s3".into(),
                name: "Amazon Simple Storage Service (Amazon S3)".into(),
                quotas: vec![Quota::new("L-DC2B2D3D", "General purpose buckets", 10_000.0).adjustable().global()],
            },
        ],
        metrics: vec![ec2_standard().series(Shape::Constant(100.0))],
        ..Region::default()
    }
}

pub const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub const SONNET: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const US_SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const COMMAND_R_PLUS: &str = "cohere.command-r-plus-v1:0";
/// Where the Bedrock minute series start: two days before the tests' "now".
pub const BEDROCK_START: f64 = crate::helpers::WINDOW_END - 2.0 * 86_400.0;
/// Seconds after its minute before a Bedrock datapoint is visible.
pub const BEDROCK_LATE_BY: u64 = 90;

/// Haiku's invocations in minute `i` after `BEDROCK_START`: a pattern that makes any
/// double-counted or skipped minute change the total.
pub fn haiku_invocations(i: usize) -> f64 {
    100.0 + (i % 13) as f64
}

pub fn bedrock_series(model: &str, name: &str, shape: Shape) -> MetricSeries {
    MetricSeries {
        namespace: "AWS/Bedrock".into(),
        name: name.into(),
        dimensions: dims(&[("ModelId", model)]),
        samples_per_minute: 1,
        shape,
        lag_seconds: BEDROCK_LATE_BY,
        starts_at: Some(BEDROCK_START),
    }
}

/// Bedrock in us-east-1: three models, a cross-region profile, a provisioned throughput,
/// quotas for two of the models, and traffic for three.
pub fn bedrock(region: &mut Region) {
    region.bedrock = Bedrock {
        models: vec![
            FoundationModel::new(HAIKU, "Anthropic", "Claude 3 Haiku"),
            FoundationModel::new(SONNET, "Anthropic", "Claude Sonnet 4.5"),
            FoundationModel::new(COMMAND_R_PLUS, "Cohere", "Command R+"),
        ],
        inference_profiles: vec![InferenceProfile {
            id: US_SONNET.into(),
            name: "US Anthropic Claude Sonnet 4.5".into(),
            kind: "SYSTEM_DEFINED".into(),
            arn: format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/{US_SONNET}"),
            model_arns: ["us-east-1", "us-west-2"]
                .iter()
                .map(|r| format!("arn:aws:bedrock:{r}::foundation-model/{SONNET}"))
                .collect(),
        }],
        provisioned: vec![ProvisionedThroughput {
            name: "nightly-batch".into(),
            model_id: HAIKU.into(),
            model_units: 3,
            status: "InService".into(),
        }],
    };
    region.services.push(Service {
        code: "bedrock".into(),
        name: "Amazon Bedrock".into(),
        quotas: vec![
            Quota::new("L-DCADBC78", "On-demand InvokeModel tokens per minute for Anthropic Claude 3 Haiku", 1_000_000.0),
            Quota::new("L-2DC80978", "On-demand InvokeModel requests per minute for Anthropic Claude 3 Haiku", 500.0),
            Quota::new("L-1BC6E08C", "Model invocation max tokens per day for Anthropic Claude 3 Haiku", 1_440_000_000.0),
            Quota::new("L-F4DDD3EB", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1", 2_000_000.0),
            Quota::new(
                "L-381AD9EE",
                "Model invocation max tokens per day for Anthropic Claude Sonnet 4.5 V1 (doubled for cross-region calls)",
                1_000_000_000.0,
            ),
        ],
    });
    let minutes = (0..3 * 1440).map(haiku_invocations).collect();
    region.metrics.extend([
        bedrock_series(HAIKU, "Invocations", Shape::Minutes { start: BEDROCK_START, values: minutes }),
        bedrock_series(
            HAIKU,
            "InvocationThrottles",
            Shape::Bursts { period: 600.0, duration: 120.0, base: 0.0, burst: 7.0 },
        ),
        bedrock_series(HAIKU, "InvocationClientErrors", Shape::Constant(1.0)),
        bedrock_series(HAIKU, "InvocationServerErrors", Shape::Constant(0.0)),
        bedrock_series(HAIKU, "InputTokenCount", Shape::Constant(3000.0)),
        bedrock_series(HAIKU, "OutputTokenCount", Shape::Constant(500.0)),
        bedrock_series(HAIKU, "InvocationLatency", Shape::Constant(850.0)),
        bedrock_series(HAIKU, "EstimatedTPMQuotaUsage", Shape::Constant(600_000.0)),
        bedrock_series(US_SONNET, "Invocations", Shape::Constant(40.0)),
        bedrock_series(US_SONNET, "InputTokenCount", Shape::Constant(10_000.0)),
        bedrock_series(US_SONNET, "OutputTokenCount", Shape::Constant(2_000.0)),
        bedrock_series(US_SONNET, "EstimatedTPMQuotaUsage", Shape::Constant(1_500_000.0)),
        bedrock_series(COMMAND_R_PLUS, "Invocations", Shape::Constant(5.0)),
    ]);
}
