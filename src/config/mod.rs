//! Configuration from the environment, parsed into types once at start-up.
//!
//! Every variable carries the `QUOTA_EXPORTER_` prefix. `envy` reads them as strings;
//! each is then parsed here so that a bad value stops start-up with a message naming
//! the variable, the value and the form expected. AWS credentials, endpoints and
//! retries come from the standard AWS chain (`AWS_*`), never from here.

pub mod increase;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// The prefix of every variable this module reads.
pub const PREFIX: &str = "QUOTA_EXPORTER_";

/// The default listen port: outside the ports commonly taken by Prometheus components
/// and popular exporters.
pub const DEFAULT_PORT: u16 = 9767;

/// One documented variable; `--help` and the README table are built from this list.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub description: &'static str,
}

/// Every variable, in the order `--help` lists them.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "QUOTA_EXPORTER_LISTEN_ADDRESS",
        default: "0.0.0.0:9767",
        description: "Address and port of the HTTP server (/metrics, /-/healthy, /-/ready).",
    },
    Variable {
        name: "QUOTA_EXPORTER_MAX_CONNECTIONS",
        default: "512",
        description: "HTTP connections held at once, 16 to 65536; at the cap the longest-idle one is closed for a new one, or new ones wait.",
    },
    Variable {
        name: "QUOTA_EXPORTER_REGIONS",
        default: "the AWS SDK's region",
        description: "Comma-separated regions to collect, e.g. us-east-1,eu-west-1.",
    },
    Variable {
        name: "QUOTA_EXPORTER_OWN_ACCOUNT",
        default: "true",
        description: "Collect the credentials' own account with the base credentials; false leaves it out (or reads it through its role when discovered).",
    },
    Variable {
        name: "QUOTA_EXPORTER_ROLE_ARNS",
        default: "none",
        description: "Comma-separated roles to collect through, each ROLE_ARN[|EXTERNAL_ID[|ACCOUNT_NAME]], e.g. arn:aws:iam::444455556666:role/aws-quota-exporter-read||Payments.",
    },
    Variable {
        name: "QUOTA_EXPORTER_ORGANIZATIONS",
        default: "false",
        description: "true discovers the ACTIVE accounts of the AWS Organization (management or delegated administrator credentials), again on the limits cadence.",
    },
    Variable {
        name: "QUOTA_EXPORTER_ORGANIZATIONS_ROLE_NAME",
        default: "aws-quota-exporter-read",
        description: "The role assumed in each discovered account, as arn:PARTITION:iam::ACCOUNT:role/NAME (a path allowed).",
    },
    Variable {
        name: "QUOTA_EXPORTER_ORGANIZATIONS_EXTERNAL_ID",
        default: "none",
        description: "The external id the discovered accounts' roles ask for.",
    },
    Variable {
        name: "QUOTA_EXPORTER_ORGANIZATIONAL_UNITS",
        default: "the whole organization",
        description: "Comma-separated OU (ou-...) or root (r-...) ids: only the accounts under them, at any depth.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCLUDE_ACCOUNTS",
        default: "all accounts",
        description: "Comma-separated 12-digit account ids: only these are collected (allow list, every source).",
    },
    Variable {
        name: "QUOTA_EXPORTER_EXCLUDE_ACCOUNTS",
        default: "none",
        description: "Comma-separated 12-digit account ids never collected (deny list, every source).",
    },
    Variable {
        name: "QUOTA_EXPORTER_ROLE_SESSION_NAME",
        default: "aws-quota-exporter",
        description: "The session name of every assumed role (2 to 64 of letters, digits and +=,.@_-), as CloudTrail shows it.",
    },
    Variable {
        name: "QUOTA_EXPORTER_ROLE_SESSION_DURATION",
        default: "1h",
        description: "How long assumed-role credentials last, 15m to 12h (at most the role's maximum session duration); they are renewed before they expire.",
    },
    Variable {
        name: "QUOTA_EXPORTER_SHARD",
        default: "0/1",
        description: "I/N: this replica collects only shard I of N of the accounts (rendezvous hashing with bounded loads); I may be a pod name ending in -ORDINAL (a StatefulSet's $(POD_NAME)).",
    },
    Variable {
        name: "QUOTA_EXPORTER_MAX_REQUESTS_IN_FLIGHT",
        default: "64",
        description: "AWS requests in flight at once in the whole process, 1 to 4096 (beside the per-target QUOTA_EXPORTER_CONCURRENCY).",
    },
    Variable {
        name: "QUOTA_EXPORTER_SERVICES",
        default: "all services",
        description: "Comma-separated service codes to collect (allow list), e.g. ec2,lambda.",
    },
    Variable {
        name: "QUOTA_EXPORTER_EXCLUDE_SERVICES",
        default: "none",
        description: "Comma-separated service codes never to collect (deny list, applied after the allow list).",
    },
    Variable {
        name: "QUOTA_EXPORTER_LIMITS_REFRESH_INTERVAL",
        default: "1h",
        description: "How often quotas and their limits are listed again (Service Quotas).",
    },
    Variable {
        name: "QUOTA_EXPORTER_USAGE_REFRESH_INTERVAL",
        default: "5m",
        description: "How often usage is read from CloudWatch, without listing quotas again.",
    },
    Variable {
        name: "QUOTA_EXPORTER_USAGE_LOOKBACK",
        default: "15m",
        description: "CloudWatch window searched for the latest usage datapoint (at least 1m).",
    },
    Variable {
        name: "QUOTA_EXPORTER_USAGE_SLOWEST_INTERVAL",
        default: "1h",
        description: "The longest a cold, flat usage metric goes unread (at most 24h); a slower read covers the whole \
                      time since the previous one. At or below the usage refresh interval, every metric is read at \
                      every refresh.",
    },
    Variable {
        name: "QUOTA_EXPORTER_CLOUDWATCH_BUDGET",
        default: "none",
        description: "USD a month this process may spend on CloudWatch usage reads (GetMetricData); the coldest \
                      metrics are read less often first, hot ones never.",
    },
    Variable {
        name: "QUOTA_EXPORTER_CONCURRENCY",
        default: "4",
        description: "AWS requests in flight at once per target (account and region), 1 to 64.",
    },
    Variable {
        name: "QUOTA_EXPORTER_SERVICE_QUOTAS_RATE",
        default: "8",
        description: "Service Quotas requests per second per operation and target (AWS allows 10).",
    },
    Variable {
        name: "QUOTA_EXPORTER_BEDROCK",
        default: "true",
        description: "false turns off the Bedrock inventory, runtime metrics and model-to-quota matching.",
    },
    Variable {
        name: "QUOTA_EXPORTER_BEDROCK_LAG",
        default: "5m",
        description: "How far behind real time Bedrock minutes are counted, so late CloudWatch data is not missed (at least 1m).",
    },
    Variable {
        name: "QUOTA_EXPORTER_FORECAST",
        default: "true",
        description: "false turns off the daily history and the forecasts fitted on it.",
    },
    Variable {
        name: "QUOTA_EXPORTER_FORECAST_HISTORY_DAYS",
        default: "30",
        description: "Days of daily usage history the forecasts are fitted on, 7 to 455.",
    },
    Variable {
        name: "QUOTA_EXPORTER_ALERT_OVERRIDES",
        default: "none",
        description: "A YAML file of per-quota alert thresholds and mutes (see Tuning alerts), published as aws_quota_alert_threshold and aws_quota_alert_muted for the shipped rules; read again when it changes or on SIGHUP (a bad edit keeps the last good file).",
    },
    Variable {
        name: "QUOTA_EXPORTER_FAILOVER_PAIRS",
        default: "none",
        description: "Comma-separated failover pairs PRIMARY=STANDBY, each for every account or for one as ACCOUNT:PRIMARY=STANDBY, e.g. us-east-1=us-west-2; published as aws_quota_failover_pair_info for the failover rules. Per account a region is the primary of one pair at most and the standby of one at most; both regions must be collected.",
    },
    Variable {
        name: "QUOTA_EXPORTER_OTLP_MAX_POINTS_PER_REQUEST",
        default: "10000",
        description: "Most data points in one OTLP request; a push is split into as many requests as it needs (100 to 1000000).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_RECEIVER",
        default: "false",
        description: "true serves POST /alertmanager/webhook, which files quota increase requests (see the README).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_DRY_RUN",
        default: "true",
        description: "Record what would be filed instead of filing; false files requests in AWS.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_APPROVAL",
        default: "false",
        description: "true holds each request until it is approved (POST /increase-requests/ID/approve or the requests subcommand).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_TOKEN_FILE",
        default: "none",
        description: "File holding the bearer token Alertmanager sends (authorization.credentials_file); required with the receiver on unless it listens on loopback. Filing takes 32 bytes or more, in a file only its owner reads.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_TOKEN",
        default: "none",
        description: "The bearer token itself, instead of a file.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_USERNAME",
        default: "none",
        description: "Basic-auth user name, instead of a token (with the password or its file).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_PASSWORD_FILE",
        default: "none",
        description: "File holding the basic-auth password.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_PASSWORD",
        default: "none",
        description: "The basic-auth password itself, instead of a file.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_APPROVERS_FILE",
        default: "none",
        description: "File of name:token lines: who may approve or reject over HTTP (the ledger records the name); the webhook's credentials never can.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_ALERTNAMES",
        default: "AwsQuotaUtilizationHigh,AwsQuotaForecastExhaustion",
        description: "Comma-separated alert names the receiver acts on; any other alert is skipped.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_MIN_UTILIZATION",
        default: "0.8",
        description: "The exporter's own utilisation of the quota that corroborates an alert (above 0, at most 1).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_FORECAST_DAYS",
        default: "14",
        description: "A forecast exhaustion within this many days (fit R² at least 0.8) also corroborates an alert; 0 to 365, 0 turns it off.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_SUPPORT_CASE",
        default: "true",
        description: "SupportCaseAllowed on each request: false files without letting AWS open a support case (AWS then answers NOT_APPROVED where it would need one).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_ROLE_ARN",
        default: "none",
        description: "A role the receiver assumes for its Service Quotas calls, so that only it holds write permissions.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_ROLE_NAME",
        default: "none",
        description: "The role assumed in each other collected account to file there (write permissions); without it only the own account's alerts are acted on.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_ROLE_EXTERNAL_ID",
        default: "none",
        description: "The external id the write roles' trust policies ask for.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_RETENTION",
        default: "90d",
        description: "Closed ledger entries are deleted after this long, once their cooldown is over (at least 1d).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_SERVICES",
        default: "all services",
        description: "Comma-separated service codes whose quotas may be increased (allow list).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_EXCLUDE_SERVICES",
        default: "none",
        description: "Comma-separated service codes whose quotas are never increased.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_QUOTAS",
        default: "all quotas",
        description: "Comma-separated service_code/quota_code that may be increased, e.g. ec2/L-1216C47A (allow list).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_EXCLUDE_QUOTAS",
        default: "none",
        description: "Comma-separated service_code/quota_code never increased.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_FACTOR",
        default: "1.5",
        description: "Without a recommended limit from the forecast, ask for the current limit times this (above 1).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_MAX_FACTOR",
        default: "2",
        description: "Never ask for more than the current limit times this.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_MAX_VALUES",
        default: "none",
        description: "Comma-separated service_code/quota_code=value: the most ever asked for a quota.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_COOLDOWN",
        default: "1d",
        description: "After a request for a quota closes (or a dry run), none is filed for it for this long.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_DAILY_MAX",
        default: "5",
        description: "Requests filed (in dry-run: recorded) per account and UTC day, 1 to 1000.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_LEDGER",
        default: "sqlite",
        description: "Where decisions are recorded: sqlite (one receiver) or dynamodb (several replicas).",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_LEDGER_PATH",
        default: "increase-requests.db",
        description: "The SQLite ledger file.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_DYNAMODB_TABLE",
        default: "aws-quota-exporter-increases",
        description: "The DynamoDB ledger table (created when missing), in the SDK's region.",
    },
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_POLL_INTERVAL",
        default: "1m",
        description: "How often open requests are followed in AWS.",
    },
    Variable {
        name: "QUOTA_EXPORTER_DEMO",
        default: "false",
        description: "true runs against the built-in simulated AWS estate instead of AWS (same as --demo; builds with the demo feature only).",
    },
    Variable {
        name: "QUOTA_EXPORTER_LOG_LEVEL",
        default: "info",
        description: "Log filter: error, warn, info, debug, trace, or a tracing directive list.",
    },
];

/// Variables that exist only in builds with the `test-hooks` feature (the tests' own
/// builds): never in `--help` of a production build, and refused there.
pub const TEST_HOOK_VARIABLES: &[Variable] = &[
    Variable {
        name: "QUOTA_EXPORTER_INCREASE_FAULT",
        default: "none",
        description: "Test hook: crash-after-filing aborts right after AWS accepts a request, before the ledger records it.",
    },
    Variable {
        name: "QUOTA_EXPORTER_TEST_REFRESH_PANICS",
        default: "0",
        description: "Test hook: this many scheduled refreshes panic instead of running.",
    },
];

/// Whether this build has the test hooks compiled in.
pub const HAS_TEST_HOOKS: bool = cfg!(feature = "test-hooks");

/// The variables this build knows: [`VARIABLES`], and the test hooks where compiled in.
pub fn known_variables() -> impl Iterator<Item = &'static Variable> {
    VARIABLES.iter().chain(TEST_HOOK_VARIABLES.iter().filter(|_| HAS_TEST_HOOKS))
}

/// The exporter's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen_address: SocketAddr,
    /// Empty means the AWS SDK's configured region.
    pub regions: Vec<String>,
    /// Which accounts to collect, and how to reach them.
    pub accounts: AccountsConfig,
    /// `None` means every service.
    pub services: Option<Vec<String>>,
    pub exclude_services: Vec<String>,
    pub limits_refresh_interval: Duration,
    pub usage_refresh_interval: Duration,
    pub usage_lookback: Duration,
    /// The longest a cold usage metric goes unread.
    pub usage_slowest_interval: Duration,
    /// USD a month for the usage reads of the whole process, if capped.
    pub cloudwatch_budget: Option<f64>,
    pub concurrency: usize,
    /// Service Quotas requests per second per operation and target.
    pub service_quotas_rate: f64,
    /// Collect Bedrock inventory and runtime metrics.
    pub bedrock: bool,
    /// Minutes are counted only once they are this far behind real time.
    pub bedrock_lag: Duration,
    /// Fetch daily history and publish forecasts.
    pub forecast: bool,
    /// Days of history the forecasts are fitted on.
    pub forecast_history_days: u32,
    /// The OTLP push is split so that no request holds more data points.
    pub otlp_max_points_per_request: usize,
    /// Region pairs whose standby must carry the primary's load.
    pub failover_pairs: Vec<FailoverPair>,
    /// The alert overrides file.
    pub alert_overrides: Option<std::path::PathBuf>,
    /// The automatic increase request receiver.
    pub increase: crate::config::increase::IncreaseConfig,
    /// How long AWS calls may take (not configurable from the environment; tests
    /// shorten them).
    pub aws_timeouts: crate::aws::timeouts::Timeouts,
    /// The HTTP server's connection cap and deadlines.
    pub http: HttpLimits,
    /// Test hook (QUOTA_EXPORTER_TEST_REFRESH_PANICS): scheduled refreshes that panic.
    pub test_refresh_panics: u32,
    pub demo: bool,
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen_address: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            regions: Vec::new(),
            accounts: AccountsConfig::default(),
            services: None,
            exclude_services: Vec::new(),
            limits_refresh_interval: Duration::from_secs(3600),
            usage_refresh_interval: Duration::from_secs(300),
            usage_lookback: Duration::from_secs(900),
            usage_slowest_interval: Duration::from_secs(3600),
            cloudwatch_budget: None,
            concurrency: 4,
            service_quotas_rate: 8.0,
            bedrock: true,
            bedrock_lag: Duration::from_secs(300),
            forecast: true,
            forecast_history_days: 30,
            otlp_max_points_per_request: 10_000,
            failover_pairs: Vec::new(),
            alert_overrides: None,
            increase: crate::config::increase::IncreaseConfig::default(),
            aws_timeouts: crate::aws::timeouts::Timeouts::default(),
            http: HttpLimits::default(),
            test_refresh_panics: 0,
            demo: false,
            log_level: "info".into(),
        }
    }
}

impl Config {
    /// Whether a service code passes the allow and deny lists.
    pub fn wants_service(&self, code: &str) -> bool {
        self.services.as_ref().is_none_or(|allow| allow.iter().any(|s| s == code))
            && !self.exclude_services.iter().any(|s| s == code)
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {variable}={value:?}: {problem}; expected {expected}")]
    Invalid { variable: String, value: String, problem: String, expected: String },
    #[error("unknown variable {variable}{hint}; the variables are listed by --help")]
    Unknown { variable: String, hint: String },
    /// Values that are each valid but cannot go together, or a file that cannot be read.
    #[error("{0}")]
    Conflict(String),
}

/// Reads the configuration from the process environment.
pub fn from_env() -> Result<Config, ConfigError> {
    from_vars(std::env::vars())
}

/// The raw strings, as envy reads them.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    listen_address: Option<String>,
    regions: Option<String>,
    own_account: Option<String>,
    role_arns: Option<String>,
    organizations: Option<String>,
    organizations_role_name: Option<String>,
    organizations_external_id: Option<String>,
    organizational_units: Option<String>,
    include_accounts: Option<String>,
    exclude_accounts: Option<String>,
    role_session_name: Option<String>,
    role_session_duration: Option<String>,
    shard: Option<String>,
    max_requests_in_flight: Option<String>,
    services: Option<String>,
    exclude_services: Option<String>,
    limits_refresh_interval: Option<String>,
    usage_refresh_interval: Option<String>,
    usage_lookback: Option<String>,
    usage_slowest_interval: Option<String>,
    cloudwatch_budget: Option<String>,
    concurrency: Option<String>,
    service_quotas_rate: Option<String>,
    bedrock: Option<String>,
    bedrock_lag: Option<String>,
    forecast: Option<String>,
    forecast_history_days: Option<String>,
    otlp_max_points_per_request: Option<String>,
    failover_pairs: Option<String>,
    alert_overrides: Option<String>,
    max_connections: Option<String>,
    test_refresh_panics: Option<String>,
    demo: Option<String>,
    log_level: Option<String>,
}

/// Reads the configuration from the given variables (all of them; unprefixed ones are ignored).
pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
    let mut dynamodb_endpoint = None;
    let ours: HashMap<String, String> = vars
        .into_iter()
        .filter(|(k, v)| {
            if k == "AWS_ENDPOINT_URL_DYNAMODB" {
                dynamodb_endpoint = Some(v.clone());
            }
            k.starts_with(PREFIX)
        })
        .collect();
    let mut names: Vec<&String> = ours.keys().collect();
    names.sort();
    for name in names {
        if TEST_HOOK_VARIABLES.iter().any(|v| v.name == name) && !HAS_TEST_HOOKS {
            return Err(ConfigError::Conflict(format!(
                "{name} is a test hook, and this build has none: it is compiled only into the tests' builds \
                 (cargo feature test-hooks); unset it"
            )));
        }
        if !known_variables().any(|v| v.name == name) {
            return Err(ConfigError::Unknown { variable: name.clone(), hint: suggestion(name) });
        }
    }
    let d = Config::default();
    // Every field is an optional string, so envy itself cannot fail on a value.
    let raw: Raw = envy::prefixed(PREFIX).from_iter(ours.clone()).unwrap_or_default();
    let listen_address = parse(&raw.listen_address, "LISTEN_ADDRESS", d.listen_address, parse_address)?;
    let increase = crate::config::increase::from_vars(&ours, dynamodb_endpoint, listen_address.ip().is_loopback())?;
    let config = Config {
        listen_address,
        regions: parse(&raw.regions, "REGIONS", Vec::new(), parse_regions)?,
        accounts: accounts_from(&raw)?,
        services: parse(&raw.services, "SERVICES", None, |v| parse_service_codes(v).map(Some))?,
        exclude_services: parse(&raw.exclude_services, "EXCLUDE_SERVICES", Vec::new(), parse_service_codes)?,
        limits_refresh_interval: parse(
            &raw.limits_refresh_interval,
            "LIMITS_REFRESH_INTERVAL",
            d.limits_refresh_interval,
            |v| parse_duration_at_least(v, Duration::from_secs(1)),
        )?,
        usage_refresh_interval: parse(
            &raw.usage_refresh_interval,
            "USAGE_REFRESH_INTERVAL",
            d.usage_refresh_interval,
            |v| parse_duration_at_least(v, Duration::from_secs(1)),
        )?,
        usage_lookback: parse(&raw.usage_lookback, "USAGE_LOOKBACK", d.usage_lookback, |v| {
            parse_duration_at_least(v, Duration::from_secs(60))
        })?,
        usage_slowest_interval: parse(
            &raw.usage_slowest_interval,
            "USAGE_SLOWEST_INTERVAL",
            d.usage_slowest_interval,
            parse_slowest_interval,
        )?,
        cloudwatch_budget: parse(&raw.cloudwatch_budget, "CLOUDWATCH_BUDGET", d.cloudwatch_budget, |v| {
            number_above(v, 0.0, 1e9, "USD a month, a number above 0 (for example 25 or 2.5)").map(Some)
        })?,
        concurrency: parse(&raw.concurrency, "CONCURRENCY", d.concurrency, parse_concurrency)?,
        service_quotas_rate: parse(&raw.service_quotas_rate, "SERVICE_QUOTAS_RATE", d.service_quotas_rate, parse_rate)?,
        bedrock: parse(&raw.bedrock, "BEDROCK", d.bedrock, parse_bool)?,
        bedrock_lag: parse(&raw.bedrock_lag, "BEDROCK_LAG", d.bedrock_lag, |v| {
            parse_duration_at_least(v, Duration::from_secs(60))
        })?,
        forecast: parse(&raw.forecast, "FORECAST", d.forecast, parse_bool)?,
        forecast_history_days: parse(
            &raw.forecast_history_days,
            "FORECAST_HISTORY_DAYS",
            d.forecast_history_days,
            parse_history_days,
        )?,
        otlp_max_points_per_request: parse(
            &raw.otlp_max_points_per_request,
            "OTLP_MAX_POINTS_PER_REQUEST",
            d.otlp_max_points_per_request,
            parse_max_points,
        )?,
        failover_pairs: parse(&raw.failover_pairs, "FAILOVER_PAIRS", Vec::new(), parse_failover_pairs)?,
        alert_overrides: raw.alert_overrides.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(Into::into),
        increase,
        aws_timeouts: d.aws_timeouts,
        http: HttpLimits {
            max_connections: parse(&raw.max_connections, "MAX_CONNECTIONS", d.http.max_connections, |v| {
                whole_number(v, 16..=65_536, "a whole number from 16 to 65536")
            })?,
            ..d.http
        },
        test_refresh_panics: parse(&raw.test_refresh_panics, "TEST_REFRESH_PANICS", 0, |v| {
            whole_number(v, 0..=1000, "a whole number from 0 to 1000 (a test hook)")
        })?,
        demo: parse(&raw.demo, "DEMO", false, parse_bool)?,
        log_level: raw.log_level.filter(|s| !s.trim().is_empty()).unwrap_or(d.log_level),
    };
    Ok(config)
}

/// Which accounts the exporter collects, and how it reaches each.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountsConfig {
    /// The credentials' own account, with the base credentials.
    pub own_account: bool,
    /// Accounts reached through a role each.
    pub roles: Vec<RoleTarget>,
    /// Accounts discovered from AWS Organizations.
    pub organizations: Option<OrganizationsConfig>,
    /// Only these accounts (empty: every account).
    pub include: Vec<String>,
    /// Never these accounts.
    pub exclude: Vec<String>,
    pub session_name: String,
    pub session_duration: Duration,
    pub shard: Shard,
    /// AWS requests in flight at once in the whole process.
    pub max_in_flight: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            own_account: true,
            roles: Vec::new(),
            organizations: None,
            include: Vec::new(),
            exclude: Vec::new(),
            session_name: "aws-quota-exporter".into(),
            session_duration: Duration::from_secs(3600),
            shard: Shard { index: 0, count: 1 },
            max_in_flight: 64,
        }
    }
}

impl AccountsConfig {
    /// Whether an account id passes the include and exclude lists.
    pub fn wants(&self, account_id: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|a| a == account_id))
            && !self.exclude.iter().any(|a| a == account_id)
    }
}

/// An account reached through a role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleTarget {
    pub arn: String,
    pub external_id: Option<String>,
    /// The name people know the account by, when configured.
    pub name: Option<String>,
}

impl RoleTarget {
    /// The account the role belongs to (validated: 12 digits).
    pub fn account_id(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }
}

/// Account discovery from AWS Organizations.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationsConfig {
    /// The role name (a path allowed) assumed in each discovered account.
    pub role_name: String,
    pub external_id: Option<String>,
    /// Roots and organizational units to look under; empty: the whole organization.
    pub units: Vec<String>,
}

/// This replica's share of the accounts: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

const ROLE_ARNS_FORM: &str = "comma-separated ROLE_ARN[|EXTERNAL_ID[|ACCOUNT_NAME]] entries, e.g. \
     arn:aws:iam::444455556666:role/aws-quota-exporter-read|my-external-id|Payments";
const ACCOUNTS_FORM: &str = "a comma-separated list of 12-digit account ids such as 111122223333,444455556666";
const UNITS_FORM: &str = "a comma-separated list of organizational unit ids (ou- then 4 to 32 lowercase letters or \
     digits, '-', then 8 to 32) or root ids (r- then 4 to 32), e.g. ou-ab12-cd34ef56";
const SHARD_FORM: &str = "I/N with 0 <= I < N <= 1000, e.g. 2/3; I may be a pod name ending in -ORDINAL, e.g. \
     aws-quota-exporter-2/3";

fn accounts_from(raw: &Raw) -> Result<AccountsConfig, ConfigError> {
    let d = AccountsConfig::default();
    let organizations = if parse(&raw.organizations, "ORGANIZATIONS", false, parse_bool)? {
        Some(OrganizationsConfig {
            role_name: parse(
                &raw.organizations_role_name,
                "ORGANIZATIONS_ROLE_NAME",
                "aws-quota-exporter-read".to_owned(),
                parse_role_name,
            )?,
            external_id: parse(&raw.organizations_external_id, "ORGANIZATIONS_EXTERNAL_ID", None, |v| {
                parse_external_id(v).map(Some)
            })?,
            units: parse(&raw.organizational_units, "ORGANIZATIONAL_UNITS", Vec::new(), parse_units)?,
        })
    } else {
        for (value, suffix) in [
            (&raw.organizations_role_name, "ORGANIZATIONS_ROLE_NAME"),
            (&raw.organizations_external_id, "ORGANIZATIONS_EXTERNAL_ID"),
            (&raw.organizational_units, "ORGANIZATIONAL_UNITS"),
        ] {
            if value.as_deref().is_some_and(|v| !v.trim().is_empty()) {
                return Err(ConfigError::Conflict(format!(
                    "{PREFIX}{suffix} is set but {PREFIX}ORGANIZATIONS is not true: set QUOTA_EXPORTER_ORGANIZATIONS=true \
                     to discover accounts, or unset {PREFIX}{suffix}"
                )));
            }
        }
        None
    };
    let accounts = AccountsConfig {
        own_account: parse(&raw.own_account, "OWN_ACCOUNT", d.own_account, parse_bool)?,
        roles: parse(&raw.role_arns, "ROLE_ARNS", Vec::new(), parse_role_targets)?,
        organizations,
        include: parse(&raw.include_accounts, "INCLUDE_ACCOUNTS", Vec::new(), parse_account_ids)?,
        exclude: parse(&raw.exclude_accounts, "EXCLUDE_ACCOUNTS", Vec::new(), parse_account_ids)?,
        session_name: parse(&raw.role_session_name, "ROLE_SESSION_NAME", d.session_name, |v| {
            let valid =
                (2..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if valid {
                Ok(v.to_owned())
            } else {
                Err(problem("not a role session name", "2 to 64 letters, digits or +=,.@_- such as aws-quota-exporter"))
            }
        })?,
        session_duration: parse(&raw.role_session_duration, "ROLE_SESSION_DURATION", d.session_duration, |v| {
            let form = "a duration from 15m to 12h, e.g. 1h";
            let duration = parse_duration(v).map_err(|p| problem(p, form))?;
            if (Duration::from_secs(900)..=Duration::from_secs(43_200)).contains(&duration) {
                Ok(duration)
            } else {
                Err(problem("out of range (STS allows 15 minutes to 12 hours)", form))
            }
        })?,
        shard: parse(&raw.shard, "SHARD", d.shard, parse_shard)?,
        max_in_flight: parse(&raw.max_requests_in_flight, "MAX_REQUESTS_IN_FLIGHT", d.max_in_flight, |v| {
            whole_number(v, 1..=4096, "a whole number from 1 to 4096")
        })?,
    };
    if !accounts.own_account && accounts.roles.is_empty() && accounts.organizations.is_none() {
        return Err(ConfigError::Conflict(format!(
            "{PREFIX}OWN_ACCOUNT=false leaves no account to collect: list roles in {PREFIX}ROLE_ARNS or set \
             {PREFIX}ORGANIZATIONS=true"
        )));
    }
    Ok(accounts)
}

/// A 12-digit account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:aws:iam::111122223333:role/name` (any partition, a path allowed).
pub(crate) fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if !partition.is_empty()
            && is_account_id(account)
            && resource.strip_prefix("role/").is_some_and(is_role_name))
}

/// A role name with an optional path: `name` or `path/to/name`, of IAM's characters.
pub(crate) fn is_role_name(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && !name.starts_with('/')
        && !name.ends_with('/')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
}

fn parse_role_name(v: &str) -> Result<String, Problem> {
    if is_role_name(v) {
        Ok(v.to_owned())
    } else {
        Err(problem(
            "not a role name",
            "a role name such as aws-quota-exporter-read, with an optional path (ops/reader)",
        ))
    }
}

/// An external id: 2 to 1224 of letters, digits and +=,.@:/-.
fn parse_external_id(v: &str) -> Result<String, Problem> {
    let valid =
        (2..=1224).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c));
    if valid { Ok(v.to_owned()) } else { Err(problem("not an external id", "2 to 1224 letters, digits or +=,.@:/_-")) }
}

fn parse_role_targets(v: &str) -> Result<Vec<RoleTarget>, Problem> {
    let mut out: Vec<RoleTarget> = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut fields = entry.split('|').map(str::trim);
        let arn = fields.next().unwrap_or_default();
        if !is_role_arn(arn) {
            return Err(problem(format!("{arn:?} is not an IAM role ARN with a 12-digit account id"), ROLE_ARNS_FORM));
        }
        let external_id = match fields.next().filter(|f| !f.is_empty()) {
            Some(id) => Some(parse_external_id(id).map_err(|_| {
                problem(
                    format!("{id:?} is not an external id (2 to 1224 of letters, digits, +=,.@:/_-)"),
                    ROLE_ARNS_FORM,
                )
            })?),
            None => None,
        };
        let name = fields.next().filter(|f| !f.is_empty()).map(str::to_owned);
        if fields.next().is_some() {
            return Err(problem(format!("{entry:?} has more than three |-separated fields"), ROLE_ARNS_FORM));
        }
        let target = RoleTarget { arn: arn.to_owned(), external_id, name };
        if out.iter().any(|t| t.account_id() == target.account_id()) {
            return Err(problem(format!("account {} is listed twice", target.account_id()), ROLE_ARNS_FORM));
        }
        out.push(target);
    }
    Ok(out)
}

fn parse_account_ids(v: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim) {
        if !is_account_id(item) {
            return Err(problem(format!("{item:?} is not a 12-digit account id"), ACCOUNTS_FORM));
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

/// `ou-` with two dash-separated parts of lowercase letters and digits, or `r-`.
pub fn is_unit_id(s: &str) -> bool {
    let lower_alnum = |p: &str, min: usize| {
        (min..=32).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = s.strip_prefix("ou-") {
        matches!(rest.split_once('-'), Some((a, b)) if lower_alnum(a, 4) && lower_alnum(b, 8))
    } else {
        s.strip_prefix("r-").is_some_and(|rest| lower_alnum(rest, 4))
    }
}

fn parse_units(v: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim) {
        if !is_unit_id(item) {
            return Err(problem(format!("{item:?} is not an organizational unit or root id"), UNITS_FORM));
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

fn parse_shard(v: &str) -> Result<Shard, Problem> {
    let (index, count) = v.rsplit_once('/').ok_or_else(|| problem("no '/'", SHARD_FORM))?;
    let count: u32 =
        count.trim().parse().map_err(|_| problem(format!("{count:?} is not a whole number"), SHARD_FORM))?;
    // A number, or a StatefulSet pod's name, which ends in its ordinal.
    let index = index.trim();
    let ordinal = match index.rsplit_once('-') {
        Some((name, ordinal)) if !name.is_empty() => ordinal,
        Some(_) => "",
        None => index,
    };
    let index: u32 = ordinal
        .parse()
        .ok()
        .filter(|_| ordinal.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| problem(format!("{index:?} is not a shard number"), SHARD_FORM))?;
    if !(1..=1000).contains(&count) {
        return Err(problem(format!("{count} shards (1 to 1000 are possible)"), SHARD_FORM));
    }
    if index >= count {
        return Err(problem(
            format!("shard {index} does not exist among {count} (they are 0 to {})", count - 1),
            SHARD_FORM,
        ));
    }
    Ok(Shard { index, count })
}

/// Why a value failed, and the form expected.
pub(crate) struct Problem {
    problem: String,
    expected: &'static str,
}

pub(crate) fn problem(problem: impl Into<String>, expected: &'static str) -> Problem {
    Problem { problem: problem.into(), expected }
}

pub(crate) fn parse<T>(
    raw: &Option<String>,
    suffix: &str,
    default: T,
    f: impl FnOnce(&str) -> Result<T, Problem>,
) -> Result<T, ConfigError> {
    match raw {
        None => Ok(default),
        Some(value) if value.trim().is_empty() => Ok(default),
        Some(value) => f(value.trim()).map_err(|p| ConfigError::Invalid {
            variable: format!("{PREFIX}{suffix}"),
            value: value.clone(),
            problem: p.problem,
            expected: p.expected.to_owned(),
        }),
    }
}

const ADDRESS_FORM: &str = "an IP address and port such as 0.0.0.0:9767, 127.0.0.1:9767 or [::]:9767";

fn parse_address(v: &str) -> Result<SocketAddr, Problem> {
    v.parse().map_err(|_| problem("not an IP address and port", ADDRESS_FORM))
}

const REGIONS_FORM: &str = "a comma-separated list of AWS region codes such as us-east-1,eu-west-1";

fn parse_regions(v: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim) {
        if !is_region_code(item) {
            return Err(problem(format!("{item:?} is not a region code"), REGIONS_FORM));
        }
        if !out.iter().any(|r| r == item) {
            out.push(item.to_owned());
        }
    }
    Ok(out)
}

/// A primary region and the standby that must be able to carry its load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverPair {
    /// `None`: the pair holds for every account.
    pub account: Option<String>,
    pub primary: String,
    pub standby: String,
}

impl FailoverPair {
    /// Whether the pair holds for an account.
    pub fn covers(&self, account: &str) -> bool {
        self.account.as_deref().is_none_or(|a| a == account)
    }
}

const FAILOVER_FORM: &str = "a comma-separated list of PRIMARY=STANDBY region pairs, each optionally for one account as \
     ACCOUNT:PRIMARY=STANDBY, e.g. us-east-1=us-west-2,111122223333:eu-west-1=eu-central-1; per account a region is the \
     primary of one pair at most and the standby of one at most";

fn parse_failover_pairs(v: &str) -> Result<Vec<FailoverPair>, Problem> {
    let mut out: Vec<FailoverPair> = Vec::new();
    for item in v.split(',').map(str::trim) {
        let (account, pair) = match item.split_once(':') {
            Some((a, p)) => (Some(a.trim().to_owned()), p),
            None => (None, item),
        };
        if let Some(a) = &account
            && !is_account_id(a)
        {
            return Err(problem(format!("{a:?} in {item:?} is not a 12-digit account id"), FAILOVER_FORM));
        }
        let Some((primary, standby)) = pair.split_once('=').map(|(p, s)| (p.trim(), s.trim())) else {
            return Err(problem(format!("{item:?} is not PRIMARY=STANDBY"), FAILOVER_FORM));
        };
        for r in [primary, standby] {
            if !is_region_code(r) {
                return Err(problem(format!("{r:?} in {item:?} is not a region code"), FAILOVER_FORM));
            }
        }
        if primary == standby {
            return Err(problem(format!("{item:?} pairs a region with itself"), FAILOVER_FORM));
        }
        let new = FailoverPair { account, primary: primary.to_owned(), standby: standby.to_owned() };
        // Pairs that can hold for the same account: both for it, or one for every account.
        let overlapping = |p: &&FailoverPair| p.account.is_none() || new.account.is_none() || p.account == new.account;
        if let Some(p) = out.iter().filter(overlapping).find(|p| p.primary == new.primary || p.standby == new.standby) {
            let (role, region) =
                if p.primary == new.primary { ("primary", &p.primary) } else { ("standby", &p.standby) };
            return Err(problem(
                format!("{region} is the {role} of both {}={} and {}={}", p.primary, p.standby, primary, standby),
                FAILOVER_FORM,
            ));
        }
        out.push(new);
    }
    Ok(out)
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-northwest-1`, `ap-southeast-5`.
pub fn is_region_code(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

const SERVICES_FORM: &str = "a comma-separated list of Service Quotas service codes such as ec2,lambda,vpc";

/// A Service Quotas code of `min` to `max` characters: a letter, then letters, digits
/// and '-'. Service codes follow `[a-zA-Z][a-zA-Z0-9-]{1,63}`, quota codes the same
/// form.
pub(crate) fn is_code(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(crate) fn parse_service_codes(v: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim) {
        if !is_code(item, 2, 64) {
            return Err(problem(format!("{item:?} is not a service code"), SERVICES_FORM));
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

const DURATION_FORM: &str = "a duration such as 30s, 5m, 1h or 1h30m (units ms, s, m, h, d)";

/// Parses `250ms`, `30s`, `5m`, `1h30m`, `1d`.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = v;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{rest:?} does not start with a number"));
        }
        let number: u64 = rest[..digits].parse().map_err(|_| "number too large".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86_400)),
            "" => return Err(format!("{number} has no unit")),
            other => return Err(format!("unknown unit {other:?}")),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

pub(crate) fn parse_duration_at_least(v: &str, min: Duration) -> Result<Duration, Problem> {
    let d = parse_duration(v).map_err(|p| problem(p, DURATION_FORM))?;
    if d < min {
        return Err(problem(format!("shorter than the minimum of {}", humanize(min)), DURATION_FORM));
    }
    Ok(d)
}

/// Formats a duration the way this module parses it (`1h30m`, `5m`, `250ms`).
pub fn humanize(d: Duration) -> String {
    if d.subsec_millis() != 0 && d.as_secs() == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut s = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// A whole number within `range`; `form` says the range in words.
pub(crate) fn whole_number<T: std::str::FromStr + PartialOrd>(
    v: &str,
    range: std::ops::RangeInclusive<T>,
    form: &'static str,
) -> Result<T, Problem> {
    match v.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        Ok(_) => Err(problem("out of range", form)),
        Err(_) => Err(problem("not a whole number", form)),
    }
}

/// A number above `above` and at most `max`; `form` says the range in words.
pub(crate) fn number_above(v: &str, above: f64, max: f64, form: &'static str) -> Result<f64, Problem> {
    match v.parse::<f64>() {
        Ok(n) if n > above && n <= max => Ok(n),
        Ok(_) => Err(problem("out of range", form)),
        Err(_) => Err(problem("not a number", form)),
    }
}

fn parse_slowest_interval(v: &str) -> Result<Duration, Problem> {
    let d = parse_duration_at_least(v, Duration::from_secs(1))?;
    if d > Duration::from_secs(86_400) {
        return Err(problem("longer than the maximum of 24h", DURATION_FORM));
    }
    Ok(d)
}

fn parse_concurrency(v: &str) -> Result<usize, Problem> {
    whole_number(v, 1..=64, "a whole number from 1 to 64")
}

fn parse_max_points(v: &str) -> Result<usize, Problem> {
    whole_number(v, 100..=1_000_000, "a whole number from 100 to 1000000")
}

fn parse_history_days(v: &str) -> Result<u32, Problem> {
    // A fit needs 7 days; CloudWatch keeps daily-resolution data for 455 days.
    whole_number(v, 7..=455, "a whole number of days from 7 to 455")
}

fn parse_rate(v: &str) -> Result<f64, Problem> {
    number_above(v, 0.0, 10.0, "requests per second, a number above 0 and at most 10 (AWS's own limit)")
}

pub(crate) fn parse_bool(v: &str) -> Result<bool, Problem> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(problem("not a boolean", "true or false")),
    }
}

/// "; did you mean X?" for a near miss of a known variable.
fn suggestion(name: &str) -> String {
    let best = known_variables().map(|v| (strsim::levenshtein(name, v.name), v.name)).min_by_key(|(d, _)| *d);
    match best {
        Some((d, candidate)) if d <= 3 => format!(" (did you mean {candidate}?)"),
        _ => String::new(),
    }
}

/// The `--help` text: usage and every variable with its default.
pub fn help_text() -> String {
    let mut s = [
        "aws-quota-exporter: every AWS service quota's limit, usage and utilisation as Prometheus metrics",
        "",
        "USAGE:",
        "    aws-quota-exporter [--demo]",
        "    aws-quota-exporter quotas --service CODE [--region REGION]... [--output table|json] [--demo]",
        "    aws-quota-exporter check [--needs FILE] [--plan PLAN.json [--region R] [--account ID]] [--from URL]",
        "                             [--threshold 0.9] [--output table|json|junit] [--demo]",
        "    aws-quota-exporter failover --primary REGION --standby REGION [--account ID] [--from URL]",
        "                                [--coverage 1] [--all] [--request] [--output table|json] [--demo]",
        "    aws-quota-exporter requests [--open] [--limit N] [--output table|json]",
        "    aws-quota-exporter requests approve ID | requests reject ID [--by NAME]",
        "    aws-quota-exporter --help | --version",
        "",
        "OPTIONS:",
        "    --demo       run against the built-in simulated AWS estate (no AWS account needed; in builds",
        "                 with the demo feature: cargo run --features demo -- --demo)",
        "    --help       print this help",
        "    --version    print the version",
        "",
        "SUBCOMMANDS:",
        "    quotas       print one service's quotas (limit, default, usage, utilisation) once and exit;",
        "                 --service bedrock groups them by model family, --output json is for scripts",
        "    check        whether a change fits the quotas: FILE (YAML or JSON) lists region, quota",
        "                 (service_code/quota_code) and the amount added; PLAN.json is a Terraform plan",
        "                 (terraform show -json plan.out) whose resources the built-in table turns into",
        "                 quota demand (EC2 vCPUs by family, VPCs, load balancers, ...; other types are",
        "                 listed as not assessed); limits and usage from a running exporter's /metrics",
        "                 (--from http[s]://...) or AWS; exit 0 fits, 1 exceeds, 2 cannot assess",
        "    failover     whether the standby region's limits carry the primary's peak of the last 7",
        "                 days (its usage now from --from); --request proposes the increases that close",
        "                 each gap through the increase path (its policy, ledger and dry-run default);",
        "                 exit 0 carries, 1 short, 2 cannot assess",
        "    requests     list the automatic increase ledger (newest first), or approve or reject an",
        "                 entry awaiting approval (recorded as decided by cli:NAME, default the login name);",
        "                 the running receiver files an approval at its next poll",
        "",
        "ENVIRONMENT (configuration):",
        "",
    ]
    .join("\n");
    for v in known_variables() {
        s.push_str(&format!("    {:<42} default: {}\n        {}\n", v.name, v.default, v.description));
    }
    s.push_str(
        "\nAWS credentials, region, endpoints and retries come from the standard AWS chain:\n    \
         AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,\n    \
         AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SERVICE_QUOTAS, AWS_ENDPOINT_URL_CLOUDWATCH, AWS_ENDPOINT_URL_STS,\n    \
         AWS_MAX_ATTEMPTS, AWS_RETRY_MODE (default here: adaptive), web identity, ECS and EC2 roles.\n",
    );
    s
}

/// The server's connection cap and deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections held at once (`QUOTA_EXPORTER_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// The time to send a complete request head, on a new connection or an idle one.
    pub header_timeout: Duration,
    /// The time to send a response, and the longest a write may wait for the client.
    pub send_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 512,
            header_timeout: Duration::from_secs(20),
            send_timeout: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        from_vars(vars(pairs)).expect_err("the value must be refused").to_string()
    }

    #[test]
    fn failover_pairs_are_region_pairs_for_every_account_or_one_and_never_ambiguous() {
        let c = from_vars(vars(&[(
            "QUOTA_EXPORTER_FAILOVER_PAIRS",
            "us-east-1=us-west-2, us-west-2=us-east-1,111122223333:eu-west-1=eu-central-1",
        )]))
        .expect("valid");
        let pair = |a: Option<&str>, p: &str, s: &str| FailoverPair {
            account: a.map(str::to_owned),
            primary: p.to_owned(),
            standby: s.to_owned(),
        };
        assert_eq!(
            c.failover_pairs,
            [
                pair(None, "us-east-1", "us-west-2"),
                pair(None, "us-west-2", "us-east-1"),
                pair(Some("111122223333"), "eu-west-1", "eu-central-1")
            ]
        );
        assert!(c.failover_pairs[2].covers("111122223333") && !c.failover_pairs[2].covers("444455556666"));
        let e = |v: &str| error_of(&[("QUOTA_EXPORTER_FAILOVER_PAIRS", v)]);
        assert!(
            e("us-east-1")
                .contains("\"us-east-1\" is not PRIMARY=STANDBY; expected a comma-separated list of PRIMARY=STANDBY")
        );
        assert!(e("us-east-1=mars").contains("\"mars\" in \"us-east-1=mars\" is not a region code"));
        assert!(e("us-east-1=us-east-1").contains("pairs a region with itself"));
        assert!(
            e("1234:us-east-1=us-west-2")
                .contains("\"1234\" in \"1234:us-east-1=us-west-2\" is not a 12-digit account id")
        );
        assert!(
            e("us-east-1=us-west-2,111122223333:us-east-2=us-west-2")
                .contains("us-west-2 is the standby of both us-east-1=us-west-2 and us-east-2=us-west-2")
        );
        assert!(e("us-east-1=us-west-2,us-east-1=eu-west-1").contains("us-east-1 is the primary of both"));
        // Pairs for two different accounts do not meet.
        from_vars(vars(&[(
            "QUOTA_EXPORTER_FAILOVER_PAIRS",
            "111122223333:us-east-1=us-west-2,444455556666:us-east-1=eu-west-1",
        )]))
        .expect("valid");
    }

    #[test]
    fn no_variables_give_the_documented_defaults() {
        let c = from_vars(vars(&[("PATH", "/bin")])).expect("defaults are valid");
        assert_eq!(c, Config::default());
        assert_eq!(c.listen_address.port(), 9767);
        assert_eq!(c.usage_lookback, Duration::from_secs(900));
    }

    #[test]
    fn every_variable_is_read() {
        let c = from_vars(vars(&[
            ("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:9000"),
            ("QUOTA_EXPORTER_REGIONS", "us-east-1, eu-west-1,us-east-1"),
            ("QUOTA_EXPORTER_SERVICES", "ec2,lambda"),
            ("QUOTA_EXPORTER_EXCLUDE_SERVICES", "lambda"),
            ("QUOTA_EXPORTER_LIMITS_REFRESH_INTERVAL", "2h"),
            ("QUOTA_EXPORTER_USAGE_REFRESH_INTERVAL", "1m30s"),
            ("QUOTA_EXPORTER_USAGE_LOOKBACK", "1h"),
            ("QUOTA_EXPORTER_USAGE_SLOWEST_INTERVAL", "6h"),
            ("QUOTA_EXPORTER_CLOUDWATCH_BUDGET", "12.5"),
            ("QUOTA_EXPORTER_CONCURRENCY", "8"),
            ("QUOTA_EXPORTER_SERVICE_QUOTAS_RATE", "2.5"),
            ("QUOTA_EXPORTER_BEDROCK", "false"),
            ("QUOTA_EXPORTER_BEDROCK_LAG", "3m"),
            ("QUOTA_EXPORTER_FORECAST", "false"),
            ("QUOTA_EXPORTER_FORECAST_HISTORY_DAYS", "90"),
            ("QUOTA_EXPORTER_DEMO", "true"),
            ("QUOTA_EXPORTER_LOG_LEVEL", "debug"),
        ]))
        .expect("valid");
        assert_eq!(c.listen_address, "127.0.0.1:9000".parse().expect("address"));
        assert_eq!(c.regions, vec!["us-east-1", "eu-west-1"]);
        assert!(c.wants_service("ec2"));
        assert!(!c.wants_service("lambda"), "the deny list wins over the allow list");
        assert!(!c.wants_service("vpc"), "the allow list leaves out everything else");
        assert_eq!(c.limits_refresh_interval, Duration::from_secs(7200));
        assert_eq!(c.usage_refresh_interval, Duration::from_secs(90));
        assert_eq!(c.usage_lookback, Duration::from_secs(3600));
        assert_eq!(c.usage_slowest_interval, Duration::from_secs(6 * 3600));
        assert_eq!(c.cloudwatch_budget, Some(12.5));
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.service_quotas_rate, 2.5);
        assert!(!c.bedrock);
        assert_eq!(c.bedrock_lag, Duration::from_secs(180));
        assert!(!c.forecast);
        assert_eq!(c.forecast_history_days, 90);
        assert!(c.demo);
        assert_eq!(c.log_level, "debug");
    }

    #[test]
    fn every_account_variable_is_read() {
        let c = from_vars(vars(&[
            ("QUOTA_EXPORTER_OWN_ACCOUNT", "false"),
            (
                "QUOTA_EXPORTER_ROLE_ARNS",
                "arn:aws:iam::444455556666:role/reader|ext-id-1|Payments, arn:aws-cn:iam::555566667777:role/ops/reader",
            ),
            ("QUOTA_EXPORTER_ORGANIZATIONS", "true"),
            ("QUOTA_EXPORTER_ORGANIZATIONS_ROLE_NAME", "ops/reader"),
            ("QUOTA_EXPORTER_ORGANIZATIONS_EXTERNAL_ID", "org-ext"),
            ("QUOTA_EXPORTER_ORGANIZATIONAL_UNITS", "ou-ab12-cd34ef56,r-ab12"),
            ("QUOTA_EXPORTER_INCLUDE_ACCOUNTS", "444455556666"),
            ("QUOTA_EXPORTER_EXCLUDE_ACCOUNTS", "555566667777"),
            ("QUOTA_EXPORTER_ROLE_SESSION_NAME", "quota@monitoring"),
            ("QUOTA_EXPORTER_ROLE_SESSION_DURATION", "2h"),
            ("QUOTA_EXPORTER_SHARD", "aws-quota-exporter-2/3"),
            ("QUOTA_EXPORTER_MAX_REQUESTS_IN_FLIGHT", "200"),
        ]))
        .expect("valid");
        let a = &c.accounts;
        assert!(!a.own_account);
        assert_eq!(
            a.roles,
            vec![
                RoleTarget {
                    arn: "arn:aws:iam::444455556666:role/reader".into(),
                    external_id: Some("ext-id-1".into()),
                    name: Some("Payments".into()),
                },
                RoleTarget {
                    arn: "arn:aws-cn:iam::555566667777:role/ops/reader".into(),
                    external_id: None,
                    name: None
                },
            ]
        );
        assert_eq!(a.roles[1].account_id(), "555566667777");
        assert_eq!(
            a.organizations,
            Some(OrganizationsConfig {
                role_name: "ops/reader".into(),
                external_id: Some("org-ext".into()),
                units: vec!["ou-ab12-cd34ef56".into(), "r-ab12".into()],
            })
        );
        assert!(a.wants("444455556666") && !a.wants("555566667777") && !a.wants("111122223333"));
        assert_eq!((a.session_name.as_str(), a.session_duration), ("quota@monitoring", Duration::from_secs(7200)));
        assert_eq!(a.shard, Shard { index: 2, count: 3 });
        assert_eq!(a.max_in_flight, 200);
    }

    #[test]
    fn bad_account_settings_name_the_variable_and_the_form() {
        let e = error_of(&[("QUOTA_EXPORTER_ROLE_ARNS", "arn:aws:iam::4444:role/reader")]);
        assert!(
            e.contains("QUOTA_EXPORTER_ROLE_ARNS") && e.contains("12-digit") && e.contains("ROLE_ARN[|EXTERNAL_ID"),
            "{e}"
        );
        let e = error_of(&[("QUOTA_EXPORTER_ROLE_ARNS", "arn:aws:iam::444455556666:user/reader")]);
        assert!(e.contains("not an IAM role ARN"), "{e}");
        let e = error_of(&[("QUOTA_EXPORTER_EXCLUDE_ACCOUNTS", "111122223333,12345")]);
        assert!(
            e.contains("QUOTA_EXPORTER_EXCLUDE_ACCOUNTS") && e.contains("\"12345\" is not a 12-digit account id"),
            "{e}"
        );
        let e = error_of(&[("QUOTA_EXPORTER_SHARD", "3/2")]);
        assert!(
            e.contains("QUOTA_EXPORTER_SHARD") && e.contains("shard 3 does not exist among 2") && e.contains("I/N"),
            "{e}"
        );
        assert!(error_of(&[("QUOTA_EXPORTER_SHARD", "0/0")]).contains("0 shards"));
        assert!(error_of(&[("QUOTA_EXPORTER_SHARD", "web/3")]).contains("is not a shard number"));
        assert!(error_of(&[("QUOTA_EXPORTER_SHARD", "-1/3")]).contains("is not a shard number"));
        assert!(error_of(&[("QUOTA_EXPORTER_SHARD", "+1/3")]).contains("is not a shard number"));
        assert!(error_of(&[("QUOTA_EXPORTER_OWN_ACCOUNT", "false")]).contains("leaves no account to collect"));
        let e =
            error_of(&[("QUOTA_EXPORTER_ORGANIZATIONS", "true"), ("QUOTA_EXPORTER_ORGANIZATIONAL_UNITS", "ou-AB-1")]);
        assert!(e.contains("QUOTA_EXPORTER_ORGANIZATIONAL_UNITS") && e.contains("not an organizational unit"), "{e}");
        let e = error_of(&[("QUOTA_EXPORTER_ORGANIZATIONAL_UNITS", "ou-ab12-cd34ef56")]);
        assert!(e.contains("QUOTA_EXPORTER_ORGANIZATIONS is not true"), "{e}");
        assert!(error_of(&[("QUOTA_EXPORTER_ROLE_SESSION_DURATION", "13h")]).contains("15 minutes to 12 hours"));
        assert!(error_of(&[("QUOTA_EXPORTER_ROLE_SESSION_NAME", "a b")]).contains("not a role session name"));
        let e = error_of(&[(
            "QUOTA_EXPORTER_ROLE_ARNS",
            "arn:aws:iam::444455556666:role/a,arn:aws:iam::444455556666:role/b",
        )]);
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn a_bad_listen_address_names_the_variable_value_and_form() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_LISTEN_ADDRESS", "localhost")]),
            "invalid QUOTA_EXPORTER_LISTEN_ADDRESS=\"localhost\": not an IP address and port; \
             expected an IP address and port such as 0.0.0.0:9767, 127.0.0.1:9767 or [::]:9767"
        );
    }

    #[test]
    fn a_bad_region_is_named_in_the_error() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_REGIONS", "us-east-1,Frankfurt")]),
            "invalid QUOTA_EXPORTER_REGIONS=\"us-east-1,Frankfurt\": \"Frankfurt\" is not a region code; \
             expected a comma-separated list of AWS region codes such as us-east-1,eu-west-1"
        );
    }

    #[test]
    fn a_bad_service_code_is_named_in_the_error() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_SERVICES", "ec2,elastic load balancing")]),
            "invalid QUOTA_EXPORTER_SERVICES=\"ec2,elastic load balancing\": \"elastic load balancing\" is not a \
             service code; expected a comma-separated list of Service Quotas service codes such as ec2,lambda,vpc"
        );
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_EXCLUDE_SERVICES", "ec2,,vpc")]),
            "invalid QUOTA_EXPORTER_EXCLUDE_SERVICES=\"ec2,,vpc\": \"\" is not a service code; \
             expected a comma-separated list of Service Quotas service codes such as ec2,lambda,vpc"
        );
    }

    #[test]
    fn a_budget_or_slowest_interval_out_of_range_is_named_in_the_error() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_CLOUDWATCH_BUDGET", "$25")]),
            "invalid QUOTA_EXPORTER_CLOUDWATCH_BUDGET=\"$25\": not a number; \
             expected USD a month, a number above 0 (for example 25 or 2.5)"
        );
        assert!(error_of(&[("QUOTA_EXPORTER_CLOUDWATCH_BUDGET", "0")]).contains("out of range"));
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_USAGE_SLOWEST_INTERVAL", "2d")]),
            "invalid QUOTA_EXPORTER_USAGE_SLOWEST_INTERVAL=\"2d\": longer than the maximum of 24h; \
             expected a duration such as 30s, 5m, 1h or 1h30m (units ms, s, m, h, d)"
        );
    }

    #[test]
    fn a_duration_without_a_known_unit_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_USAGE_REFRESH_INTERVAL", "5 minutes")]),
            "invalid QUOTA_EXPORTER_USAGE_REFRESH_INTERVAL=\"5 minutes\": unknown unit \" minutes\"; \
             expected a duration such as 30s, 5m, 1h or 1h30m (units ms, s, m, h, d)"
        );
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_LIMITS_REFRESH_INTERVAL", "3600")]),
            "invalid QUOTA_EXPORTER_LIMITS_REFRESH_INTERVAL=\"3600\": 3600 has no unit; \
             expected a duration such as 30s, 5m, 1h or 1h30m (units ms, s, m, h, d)"
        );
    }

    #[test]
    fn a_lookback_shorter_than_one_cloudwatch_period_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_USAGE_LOOKBACK", "30s")]),
            "invalid QUOTA_EXPORTER_USAGE_LOOKBACK=\"30s\": shorter than the minimum of 1m; \
             expected a duration such as 30s, 5m, 1h or 1h30m (units ms, s, m, h, d)"
        );
    }

    #[test]
    fn otlp_points_per_request_outside_its_range_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_OTLP_MAX_POINTS_PER_REQUEST", "50")]),
            "invalid QUOTA_EXPORTER_OTLP_MAX_POINTS_PER_REQUEST=\"50\": out of range; expected a whole number from 100 to 1000000"
        );
        assert_eq!(
            from_vars(vars(&[("QUOTA_EXPORTER_OTLP_MAX_POINTS_PER_REQUEST", "2500")]))
                .expect("valid")
                .otlp_max_points_per_request,
            2500
        );
    }

    #[test]
    fn concurrency_outside_one_to_sixty_four_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_CONCURRENCY", "0")]),
            "invalid QUOTA_EXPORTER_CONCURRENCY=\"0\": out of range; expected a whole number from 1 to 64"
        );
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_CONCURRENCY", "four")]),
            "invalid QUOTA_EXPORTER_CONCURRENCY=\"four\": not a whole number; expected a whole number from 1 to 64"
        );
    }

    #[test]
    fn a_service_quotas_rate_above_the_aws_limit_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_SERVICE_QUOTAS_RATE", "20")]),
            "invalid QUOTA_EXPORTER_SERVICE_QUOTAS_RATE=\"20\": out of range; \
             expected requests per second, a number above 0 and at most 10 (AWS's own limit)"
        );
    }

    #[test]
    fn a_bedrock_lag_under_a_minute_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_BEDROCK_LAG", "10s")]),
            "invalid QUOTA_EXPORTER_BEDROCK_LAG=\"10s\": shorter than the minimum of 1m; \
             expected a duration such as 30s, 5m, 1h or 1h30m (units ms, s, m, h, d)"
        );
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_BEDROCK", "yes please")]),
            "invalid QUOTA_EXPORTER_BEDROCK=\"yes please\": not a boolean; expected true or false"
        );
    }

    #[test]
    fn a_history_shorter_than_a_fit_needs_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_FORECAST_HISTORY_DAYS", "5")]),
            "invalid QUOTA_EXPORTER_FORECAST_HISTORY_DAYS=\"5\": out of range; expected a whole number of days from 7 to 455"
        );
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_FORECAST_HISTORY_DAYS", "30d")]),
            "invalid QUOTA_EXPORTER_FORECAST_HISTORY_DAYS=\"30d\": not a whole number; expected a whole number of days from 7 to 455"
        );
    }

    #[test]
    fn a_bad_boolean_is_refused() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_DEMO", "maybe")]),
            "invalid QUOTA_EXPORTER_DEMO=\"maybe\": not a boolean; expected true or false"
        );
    }

    #[test]
    fn a_misspelt_variable_is_refused_with_a_suggestion() {
        assert_eq!(
            error_of(&[("QUOTA_EXPORTER_REGION", "us-east-1")]),
            "unknown variable QUOTA_EXPORTER_REGION (did you mean QUOTA_EXPORTER_REGIONS?); \
             the variables are listed by --help"
        );
    }

    #[test]
    fn region_codes_of_every_partition_are_accepted() {
        for r in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-northwest-1", "ap-southeast-5", "il-central-1"] {
            assert!(is_region_code(r), "{r}");
        }
        for r in ["us-east", "useast1", "US-EAST-1", "us--1", "u-east-1"] {
            assert!(!is_region_code(r), "{r}");
        }
    }

    #[test]
    fn durations_round_trip_through_humanize() {
        for s in ["250ms", "30s", "5m", "1h30m", "1d", "2d3h4m5s"] {
            assert_eq!(humanize(parse_duration(s).expect("valid")), s);
        }
    }

    #[test]
    fn help_lists_every_variable() {
        let help = help_text();
        for v in VARIABLES {
            assert!(help.contains(v.name), "{} missing from --help", v.name);
        }
    }
}
