//! The demo estate: a small organization whose management account has two regions
//! with the quotas people actually hit.
//!
//! Service codes, quota codes and names follow AWS's own. Usage is set so that the
//! demo shows every case the exporter handles: quotas in the 70, 80 and 90 % alert
//! tiers, quotas growing towards their limit, a per-second rate quota measured by a
//! `Sum` of `CallCount`, resource-level quotas, a global quota listed in both regions,
//! default-only quotas and quotas without a usage metric, and Amazon Bedrock in
//! us-east-1 (see [`bedrock`]).

pub mod bedrock;

use crate::estate::{
    Account, Estate, IncreaseReview, Member, MetricSeries, Organization, OrganizationalUnit, Quota, Region, Role,
    Service, Shape, UsageMetric,
};
use crate::faults::Fault;

/// The demo's deliberate trouble, in the management account, so that the exporter's health metrics, dashboards and
/// alerts have something to show: a service whose quotas are denied in eu-west-1, one
/// whose listing fails from its second refresh on (it keeps its last good quotas), a
/// CloudWatch permission that disappears in eu-west-1 after two calls (its Bedrock data
/// goes stale), and throttling of one in four `GetMetricData` calls in us-east-1 (the
/// SDK retries it away, the exporter counts it).
pub fn faults() -> Vec<Fault> {
    // In the management account only, so that its members show clean collection.
    [
        Fault::access_denied().operation("ListServiceQuotas").service_code("sagemaker").region("eu-west-1"),
        Fault::server_error().operation("ListAWSDefaultServiceQuotas").service_code("ebs").region("eu-west-1").after(1),
        Fault::access_denied().operation("ListMetrics").region("eu-west-1").after(2),
        Fault::throttle().operation("GetMetricData").region("us-east-1").every(4),
    ]
    .into_iter()
    .map(|f| f.account(ACCOUNT_ID))
    .collect()
}

/// The demo account id (the placeholder AWS uses in its own documentation).
pub const ACCOUNT_ID: &str = "111122223333";
/// The access key the demo signs its requests with.
pub const ACCESS_KEY_ID: &str = "AKIASIMULATEDDEMO001";
pub const SECRET_ACCESS_KEY: &str = "simulated/secret/not/a/real/key/000000";
/// The demo organization's member accounts: one collected, one whose role refuses,
/// one suspended.
pub const PAYMENTS_ACCOUNT_ID: &str = "444455556666";
pub const SANDBOX_ACCOUNT_ID: &str = "777788889999";
pub const SUSPENDED_ACCOUNT_ID: &str = "222233334444";
/// The read role every member has (the exporter's default role name).
pub const READ_ROLE_NAME: &str = "aws-quota-exporter-read";
pub const ROOT_ID: &str = "r-demo";
pub const WORKLOADS_OU: &str = "ou-demo-workloads";
pub const SANDBOX_OU: &str = "ou-demo-sandbox1";
/// The regions of the demo account.
pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// Days of history every demo series has before `now`, enough for 30-day forecasts.
const HISTORY_DAYS: f64 = 45.0;

/// The demo estate, with time-varying series anchored at `now` (epoch seconds).
pub fn estate(now: f64) -> Estate {
    let management = Account {
        // Quick enough to watch: a case after 10 seconds, a decision after 30. Up to
        // 1.5 times the limit is approved (Lambda's 1,000 -> 1,300), more is denied
        // (VPCs' 20 -> 40), so that the denial alert has something to show.
        increase_review: IncreaseReview { case_after: 10.0, decision_after: 30.0, approve_up_to: 1.5 },
        ..Account::new(ACCOUNT_ID, ACCESS_KEY_ID, vec![us_east_1(now), eu_west_1(now)])
    };
    // Payments runs the same workloads at 0.9 times the load: a quota at 95 % in the
    // management account is at about 85 % there, above the warning tier in both
    // accounts but critical only in one.
    let mut payments = Account {
        regions: management.regions.iter().map(|r| r.scaled(0.9)).collect(),
        ..Account::new(PAYMENTS_ACCOUNT_ID, "AKIASIMULATEDPAYMENT1", Vec::new())
    };
    payments.roles = vec![Role::new(&role_arn(PAYMENTS_ACCOUNT_ID, READ_ROLE_NAME), None).trusting(ACCOUNT_ID)];
    // Sandbox's role trusts nobody: the exporter cannot assume it.
    let mut sandbox = Account::new(SANDBOX_ACCOUNT_ID, "AKIASIMULATEDSANDBOX1", vec![eu_west_1(now)]);
    sandbox.roles = vec![Role::new(&role_arn(SANDBOX_ACCOUNT_ID, READ_ROLE_NAME), None)];
    Estate { accounts: vec![management, payments, sandbox], organization: Some(organization()) }
}

/// The demo organization: the management account at the root, Payments and a
/// suspended account under Workloads, Sandbox under its own unit.
pub fn organization() -> Organization {
    let unit =
        |id: &str, name: &str| OrganizationalUnit { id: id.into(), name: name.into(), parent_id: ROOT_ID.into() };
    Organization {
        id: "o-demo1234567".into(),
        management_account_id: ACCOUNT_ID.into(),
        root_id: ROOT_ID.into(),
        units: vec![unit(WORKLOADS_OU, "Workloads"), unit(SANDBOX_OU, "Sandbox")],
        members: vec![
            Member::new(ACCOUNT_ID, "Management", "ACTIVE", ROOT_ID),
            Member::new(PAYMENTS_ACCOUNT_ID, "Payments", "ACTIVE", WORKLOADS_OU),
            Member::new(SUSPENDED_ACCOUNT_ID, "Retired", "SUSPENDED", WORKLOADS_OU),
            Member::new(SANDBOX_ACCOUNT_ID, "Sandbox", "ACTIVE", SANDBOX_OU),
        ],
    }
}

/// `arn:aws:iam::ACCOUNT:role/NAME`.
pub fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// Builds a region from services, collecting each quota's series.
struct RegionBuilder {
    region: Region,
    now: f64,
}

impl RegionBuilder {
    fn new(name: &str, now: f64) -> Self {
        RegionBuilder { region: Region { name: name.into(), ..Region::default() }, now }
    }

    fn service(mut self, code: &str, name: &str, quotas: Vec<(Quota, Option<Usage>)>) -> Self {
        let mut service = Service { code: code.into(), name: name.into(), quotas: Vec::new() };
        for (quota, usage) in quotas {
            if let (Some(metric), Some(usage)) = (&quota.usage_metric, usage) {
                let exists = self.region.metric(&metric.namespace, &metric.name, &metric.dimensions).is_some();
                if !exists {
                    self.region.metrics.push(usage.series(metric, self.now));
                }
            }
            service.quotas.push(quota);
        }
        self.region.services.push(service);
        self
    }

    /// Adds Amazon Bedrock: its control plane, its quotas and its runtime metrics.
    fn bedrock(mut self) -> Self {
        let name = self.region.name.clone();
        self.region.bedrock = bedrock::control_plane(&name, ACCOUNT_ID);
        self.region.services.push(bedrock::quotas());
        let start = self.now - HISTORY_DAYS * 86_400.0;
        self.region.metrics.extend(bedrock::series(&bedrock::traffic(&name, ACCOUNT_ID), start, self.now));
        self
    }

    fn build(self) -> Region {
        self.region
    }
}

/// How a demo quota's usage behaves.
#[derive(Debug, Clone, Copy)]
enum Usage {
    /// A constant level, one sample per minute.
    Flat(f64),
    /// A level at `now` and a daily change.
    Growing(f64, f64),
    /// A level with noise around a trend.
    Noisy(f64, f64, f64),
    /// A per-minute request count spread over six samples a minute (for `Sum` metrics).
    CallsPerMinute(f64),
    /// A level that began `days` ago: too little history for a forecast.
    Recent(f64, f64),
}

impl Usage {
    fn series(self, metric: &UsageMetric, now: f64) -> MetricSeries {
        let start = now - HISTORY_DAYS * 86_400.0;
        let s = match self {
            Usage::Flat(v) => metric.series(Shape::Constant(v)),
            Usage::Growing(v, per_day) => metric.series(Shape::Linear { anchor: now, at_anchor: v, per_day }),
            Usage::Noisy(v, per_day, amplitude) => metric.series(Shape::Noisy {
                anchor: now,
                at_anchor: v,
                per_day,
                amplitude,
                seed: metric.dimensions.values().map(|d| d.len() as u64).sum(),
            }),
            Usage::CallsPerMinute(n) => metric.series(Shape::Constant(n / 6.0)).samples_per_minute(6),
            Usage::Recent(v, days) => return metric.series(Shape::Constant(v)).starting_at(now - days * 86_400.0),
        };
        s.starting_at(start)
    }
}

fn q(quota: Quota) -> (Quota, Option<Usage>) {
    (quota, None)
}

fn used(quota: Quota, usage: Usage) -> (Quota, Option<Usage>) {
    (quota, Some(usage))
}

fn ec2_vcpu(class: &str) -> UsageMetric {
    UsageMetric::resource_count("EC2", "vCPU", class)
}

fn us_east_1(now: f64) -> Region {
    common("us-east-1", now, 1.0)
        .service(
            "iam",
            "AWS Identity and Access Management (IAM)",
            vec![
                used(
                    Quota::new("L-FE177D64", "Roles per account", 1000.0)
                        .adjustable()
                        .global()
                        .usage(UsageMetric::resource_count("IAM", "Role", "None")),
                    Usage::Growing(610.0, 6.0),
                ),
                q(Quota::new("L-F4A5425F", "Customer managed policies per account", 1500.0).adjustable().global()),
                q(Quota::new("L-0DA4ABF3", "Managed policies per role", 10.0).adjustable().global()),
            ],
        )
        .service(
            "es",
            "Amazon OpenSearch Service",
            vec![q(Quota::new("L-6408ABDE", "Instances per domain", 40.0)
                .adjustable()
                .resource(
                    "arn:aws:es:us-east-1:111122223333:domain/search-prod",
                    "AWS::OpenSearchService::Domain",
                    80.0,
                )
                .resource(
                    "arn:aws:es:us-east-1:111122223333:domain/logs-archive",
                    "AWS::OpenSearchService::Domain",
                    60.0,
                )
                .resource("*", "AWS::OpenSearchService::Domain", 40.0)
                .described("The maximum number of instances in a single OpenSearch Service domain."))],
        )
        .bedrock()
        .build()
}

fn eu_west_1(now: f64) -> Region {
    common("eu-west-1", now, 0.5).build()
}

/// The services both regions have; `scale` sets how busy the region is.
fn common(region: &str, now: f64, scale: f64) -> RegionBuilder {
    // eu-west-1 is us-east-1's failover region, and its G and VT limit was never raised
    // to match: 32 vCPUs against us-east-1's 48 in use, the demo's failover gap.
    let g_limit = if region == "eu-west-1" { 32.0 } else { 64.0 };
    RegionBuilder::new(region, now)
        .service(
            "ec2",
            "Amazon Elastic Compute Cloud (Amazon EC2)",
            vec![
                used(
                    Quota::new("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 5.0)
                        .applied(640.0)
                        .adjustable()
                        .usage(ec2_vcpu("Standard/OnDemand"))
                        .described("Maximum number of vCPUs assigned to the Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances."),
                    // 85 % in us-east-1: the warning tier.
                    Usage::Flat(544.0 * scale),
                ),
                used(
                    Quota::new("L-DB2E81BA", "Running On-Demand G and VT instances", 0.0)
                        .applied(g_limit)
                        .adjustable()
                        .usage(ec2_vcpu("G/OnDemand")),
                    // 75 % in both regions: the info tier.
                    Usage::Flat(48.0 * scale),
                ),
                used(
                    Quota::new("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", 5.0)
                        .applied(256.0)
                        .adjustable()
                        .usage(ec2_vcpu("Standard/Spot")),
                    // Noisy growth: about 55 % now, rising 1.6 vCPU a day, ±12 from day to day.
                    Usage::Noisy(140.0 * scale, 1.6 * scale, 12.0 * scale),
                ),
                used(
                    Quota::new("L-417A185B", "Running On-Demand P instances", 0.0)
                        .adjustable()
                        .usage(ec2_vcpu("P/OnDemand")),
                    Usage::Flat(0.0),
                ),
                q(Quota::new("L-0263D0A3", "EC2-VPC Elastic IPs", 5.0).applied(15.0).adjustable()),
                q(Quota::new("L-74FC7D96", "Running On-Demand F instances", 0.0).adjustable()),
            ],
        )
        .service(
            "lambda",
            "AWS Lambda",
            vec![
                used(
                    Quota::new("L-B99A9384", "Concurrent executions", 1000.0)
                        .applied(1000.0)
                        .adjustable()
                        .usage(UsageMetric::new("AWS/Lambda", "ConcurrentExecutions", &[], "Maximum")),
                    // 95 %: the critical tier.
                    Usage::Flat(950.0 * scale),
                ),
                q(Quota::new("L-2ACBD22F", "Function and layer storage", 75.0).unit("Gigabytes").adjustable()),
                q(Quota::new("L-9FEE3D26", "Elastic network interfaces per VPC", 500.0).adjustable()),
            ],
        )
        .service(
            "vpc",
            "Amazon Virtual Private Cloud (Amazon VPC)",
            vec![
                used(
                    Quota::new("L-F678F1CE", "VPCs per Region", 5.0)
                        .applied(20.0)
                        .adjustable()
                        .usage(UsageMetric::resource_count("VPC", "vpc", "None")),
                    // 17 of 20 and a new VPC every other day: runs out within a week.
                    Usage::Growing(17.0 * scale, 0.6 * scale),
                ),
                q(Quota::new("L-A4707A72", "Internet gateways per Region", 5.0).applied(20.0).adjustable()),
                q(Quota::new("L-0EA8095F", "Inbound or outbound rules per security group", 60.0).adjustable()),
                q(Quota::new("L-29B6F2EB", "Interface VPC endpoints per VPC", 50.0).adjustable()),
                q(Quota::new("L-2AFB9258", "Security groups per network interface", 5.0).adjustable()),
                q(Quota::new("L-E79EC296", "VPC security groups per Region", 2500.0).adjustable()),
            ],
        )
        .service(
            "ebs",
            "Amazon Elastic Block Store (Amazon EBS)",
            vec![
                q(Quota::new("L-7A658B76", "Storage for General Purpose SSD (gp3) volumes, in TiB", 50.0)
                    .applied(100.0)
                    .adjustable()),
                q(Quota::new("L-D18FCD1D", "Storage for General Purpose SSD (gp2) volumes, in TiB", 50.0).adjustable()),
                q(Quota::new("L-309BACF6", "Snapshots per Region", 100000.0).adjustable()),
            ],
        )
        .service(
            "elasticloadbalancing",
            "Elastic Load Balancing (ELB)",
            vec![
                used(
                    Quota::new("L-53DA6B97", "Application Load Balancers per Region", 50.0)
                        .adjustable()
                        .usage(UsageMetric::resource_count("Elastic Load Balancing", "ApplicationLoadBalancer", "None")),
                    Usage::Growing(31.0 * scale, 0.35 * scale),
                ),
                q(Quota::new("L-69A177A2", "Network Load Balancers per Region", 50.0).adjustable()),
                q(Quota::new("L-E9E9831D", "Classic Load Balancers per Region", 20.0).adjustable()),
                q(Quota::new("L-7E6692B2", "Target groups per Action per Application Load Balancer", 5.0)),
            ],
        )
        .service(
            "rds",
            "Amazon Relational Database Service (Amazon RDS)",
            vec![
                used(
                    Quota::new("L-7B6409FD", "DB instances", 40.0)
                        .adjustable()
                        .usage(UsageMetric::resource_count("RDS", "DBInstances", "None")),
                    Usage::Flat(12.0 * scale),
                ),
                q(Quota::new("L-7ADDB58A", "Total storage for all DB instances", 100000.0).unit("Gigabytes").adjustable()),
                used(
                    Quota::new("L-952B80B8", "DB clusters", 40.0)
                        .adjustable()
                        .usage(UsageMetric::resource_count("RDS", "DBClusters", "None")),
                    // Started three days ago: too little history to forecast.
                    Usage::Recent(9.0 * scale, 3.0),
                ),
            ],
        )
        .service(
            "fargate",
            "AWS Fargate",
            vec![
                used(
                    Quota::new("L-3032A538", "Fargate On-Demand vCPU resource count", 6.0)
                        .applied(400.0)
                        .adjustable()
                        .usage(UsageMetric::resource_count("Fargate", "vCPU", "Standard/OnDemand")),
                    // About 65 % now and rising 4.5 vCPU a day: it runs out within a month.
                    Usage::Growing(260.0 * scale, 4.5 * scale),
                ),
                used(
                    Quota::new("L-36FBB829", "Fargate Spot vCPU resource count", 6.0)
                        .applied(100.0)
                        .adjustable()
                        .usage(UsageMetric::resource_count("Fargate", "vCPU", "Standard/Spot")),
                    // Falling usage: never runs out.
                    Usage::Growing(40.0 * scale, -0.5 * scale),
                ),
            ],
        )
        .service(
            "cloudformation",
            "AWS CloudFormation",
            vec![
                used(
                    Quota::new("L-0485CB21", "Stack count", 2000.0)
                        .adjustable()
                        .usage(UsageMetric::resource_count("CloudFormation", "Stack", "None")),
                    Usage::Flat(1210.0 * scale),
                ),
                q(Quota::new("L-9DE8E4FB", "Resource type count", 50.0).adjustable()),
            ],
        )
        .service(
            "kms",
            "AWS Key Management Service (AWS KMS)",
            vec![
                used(
                    Quota::new("L-6E3AF000", "Cryptographic operations (symmetric) request rate", 10000.0)
                        .applied(10000.0)
                        .adjustable()
                        .period(1, "SECOND")
                        .usage(UsageMetric::call_count("KMS", "CryptographicOperationsSymmetric")),
                    // 480,000 calls a minute is 8,000 a second: 80 % of 10,000 per second.
                    Usage::CallsPerMinute(480_000.0 * scale),
                ),
                q(Quota::new("L-C2F1777E", "CreateKey request rate", 5.0).period(1, "SECOND")),
            ],
        )
        .service(
            "s3",
            "Amazon Simple Storage Service (Amazon S3)",
            vec![q(Quota::new("L-DC2B2D3D", "General purpose buckets", 10000.0).adjustable().global())],
        )
        .service(
            "sagemaker",
            "Amazon SageMaker",
            vec![
                q(Quota::new("L-1C2E9BB5", "ml.g5.xlarge for endpoint usage", 0.0).adjustable()),
                q(Quota::new("L-AD1E7A5A", "Number of instances across all notebook instances (\"ml.*\") per account", 20.0)
                    .adjustable()),
            ],
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_covers_at_least_ten_services_in_each_region() {
        let e = estate(1.8e9);
        for r in &e.accounts[0].regions {
            assert!(r.services.len() >= 10, "{} has {} services", r.name, r.services.len());
        }
    }

    #[test]
    fn every_demo_usage_metric_has_a_series() {
        let e = estate(1.8e9);
        for r in &e.accounts[0].regions {
            for m in r.distinct_usage_metrics() {
                assert!(r.metric(&m.namespace, &m.name, &m.dimensions).is_some(), "{} {:?}", m.name, m.dimensions);
            }
        }
    }
}
