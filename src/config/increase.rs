//! The `QUOTA_EXPORTER_INCREASE_*` variables: whether the receiver runs, how it
//! authenticates Alertmanager, the policy it applies and where its ledger lives.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{
    ConfigError, PREFIX, Problem, is_code, is_role_arn, is_role_name, number_above, parse, parse_bool,
    parse_duration_at_least, parse_service_codes, problem, whole_number,
};

/// A secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How Alertmanager proves who it is, as its `http_config` sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(user:password)`.
    Basic { username: String, password: Secret },
}

/// A quota named as `service_code/quota_code`, e.g. `ec2/L-1216C47A`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuotaRef {
    pub service_code: String,
    pub quota_code: String,
}

impl std::fmt::Display for QuotaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.service_code, self.quota_code)
    }
}

/// Where the ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerConfig {
    /// A SQLite file, for one receiver.
    Sqlite { path: PathBuf },
    /// A DynamoDB table, shared by several receivers; `endpoint` from
    /// `AWS_ENDPOINT_URL_DYNAMODB` (a DynamoDB-compatible server) overrides the SDK's.
    DynamoDb { table: String, endpoint: Option<String> },
}

/// Faults the tests can inject into a real process. Parsed only in builds with the
/// `test-hooks` feature; a production build refuses the variable (see
/// [`crate::config::TEST_HOOK_VARIABLES`]) and has no code that acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Abort the process right after AWS accepted a request, before the ledger records it.
    CrashAfterFiling,
}

/// A person (or system) who may approve or reject requests over HTTP, with the bearer
/// token they send; the ledger records the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    pub name: String,
    pub token: Secret,
}

/// A role the receiver assumes for its Service Quotas calls (filing needs write
/// permissions the collection never has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRole {
    pub arn: String,
    pub external_id: Option<String>,
}

/// The alert names the receiver acts on by default: the two alerts this project ships
/// with the `auto_increase` label.
pub const DEFAULT_ALERTNAMES: [&str; 2] = ["AwsQuotaUtilizationHigh", "AwsQuotaForecastExhaustion"];

/// The shortest secret accepted when the receiver files in AWS.
pub const MIN_SECRET_BYTES: usize = 32;

/// The receiver's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct IncreaseConfig {
    /// Serve `POST /alertmanager/webhook` and the ledger endpoints.
    pub receiver: bool,
    /// Record what would be filed instead of filing it.
    pub dry_run: bool,
    /// Hold each request until someone approves it.
    pub approval: bool,
    /// What Alertmanager sends. `None` only with a listener on loopback.
    pub credentials: Option<Credentials>,
    /// Who may approve or reject over HTTP; the webhook's credentials never can.
    pub approvers: Vec<Approver>,
    /// Only alerts with one of these names are acted on.
    pub alertnames: Vec<String>,
    /// The exporter's own utilisation of the quota must be at least this, unless the
    /// forecast corroborates the alert.
    pub min_utilization: f64,
    /// A forecast exhaustion within this many days (on a decent fit) corroborates an
    /// alert too; 0 turns forecasts off as evidence.
    pub forecast_days: u32,
    /// `SupportCaseAllowed` on each request: whether AWS may open a support case.
    pub support_case: bool,
    /// The role the receiver's Service Quotas calls use, if not the exporter's own.
    pub role: Option<WriteRole>,
    /// The role (name, a path allowed) assumed in every other account the exporter
    /// collects, to file there; without it, alerts of other accounts are not acted on.
    pub role_name: Option<String>,
    /// The external id the roles of `role_name` ask for.
    pub role_name_external_id: Option<String>,
    /// Closed entries are purged after this long (and once their cooldown is over).
    pub retention: Duration,
    /// `None`: every service.
    pub services: Option<Vec<String>>,
    pub exclude_services: Vec<String>,
    /// `None`: every quota.
    pub quotas: Option<Vec<QuotaRef>>,
    pub exclude_quotas: Vec<QuotaRef>,
    /// Where the exporter has no recommended limit, ask for the current limit times this.
    pub factor: f64,
    /// Never ask for more than the current limit times this.
    pub max_factor: f64,
    /// Never ask for more than this for the quota.
    pub max_values: Vec<(QuotaRef, f64)>,
    /// After a request for a quota closes, none is filed for it for this long.
    pub cooldown: Duration,
    /// Requests filed (or, in dry-run, that would be) per UTC day, across the ledger.
    pub daily_max: u32,
    pub ledger: LedgerConfig,
    /// How often open requests are followed in AWS.
    pub poll_interval: Duration,
    pub fault: Option<Fault>,
}

impl Default for IncreaseConfig {
    fn default() -> Self {
        IncreaseConfig {
            receiver: false,
            dry_run: true,
            approval: false,
            credentials: None,
            approvers: Vec::new(),
            alertnames: DEFAULT_ALERTNAMES.iter().map(|n| (*n).to_owned()).collect(),
            min_utilization: 0.8,
            forecast_days: 14,
            support_case: true,
            role: None,
            role_name: None,
            role_name_external_id: None,
            retention: Duration::from_secs(90 * 86_400),
            services: None,
            exclude_services: Vec::new(),
            quotas: None,
            exclude_quotas: Vec::new(),
            factor: 1.5,
            max_factor: 2.0,
            max_values: Vec::new(),
            cooldown: Duration::from_secs(86_400),
            daily_max: 5,
            ledger: LedgerConfig::Sqlite { path: PathBuf::from("increase-requests.db") },
            poll_interval: Duration::from_secs(60),
            fault: None,
        }
    }
}

impl IncreaseConfig {
    /// Whether the allow and deny lists let this quota through; if not, why.
    pub fn allows(&self, service_code: &str, quota_code: &str) -> Result<(), String> {
        let is = |q: &QuotaRef| q.service_code == service_code && q.quota_code == quota_code;
        if self.services.as_ref().is_some_and(|allow| !allow.iter().any(|s| s == service_code)) {
            return Err(format!("service {service_code} is not in QUOTA_EXPORTER_INCREASE_SERVICES"));
        }
        if self.exclude_services.iter().any(|s| s == service_code) {
            return Err(format!("service {service_code} is in QUOTA_EXPORTER_INCREASE_EXCLUDE_SERVICES"));
        }
        if self.quotas.as_ref().is_some_and(|allow| !allow.iter().any(is)) {
            return Err(format!("{service_code}/{quota_code} is not in QUOTA_EXPORTER_INCREASE_QUOTAS"));
        }
        if self.exclude_quotas.iter().any(is) {
            return Err(format!("{service_code}/{quota_code} is in QUOTA_EXPORTER_INCREASE_EXCLUDE_QUOTAS"));
        }
        Ok(())
    }

    /// The absolute maximum configured for a quota, if any.
    pub fn max_value(&self, service_code: &str, quota_code: &str) -> Option<f64> {
        self.max_values
            .iter()
            .find(|(q, _)| q.service_code == service_code && q.quota_code == quota_code)
            .map(|(_, v)| *v)
    }
}

/// Reads the `QUOTA_EXPORTER_INCREASE_*` variables among `ours` (every
/// `QUOTA_EXPORTER_*` variable set); `dynamodb_endpoint` is `AWS_ENDPOINT_URL_DYNAMODB`;
/// `loopback` says whether the HTTP server listens on loopback only.
pub fn from_vars(
    ours: &HashMap<String, String>,
    dynamodb_endpoint: Option<String>,
    loopback: bool,
) -> Result<IncreaseConfig, ConfigError> {
    let raw = |suffix: &str| ours.get(&format!("{PREFIX}INCREASE_{suffix}")).cloned();
    let d = IncreaseConfig::default();
    let var = |suffix: &str| format!("{PREFIX}INCREASE_{suffix}");
    let receiver = parse(&raw("RECEIVER"), "INCREASE_RECEIVER", d.receiver, parse_bool)?;
    let dry_run = parse(&raw("DRY_RUN"), "INCREASE_DRY_RUN", d.dry_run, parse_bool)?;
    let approval = parse(&raw("APPROVAL"), "INCREASE_APPROVAL", d.approval, parse_bool)?;
    let factor = parse(&raw("FACTOR"), "INCREASE_FACTOR", d.factor, parse_factor)?;
    let max_factor = parse(&raw("MAX_FACTOR"), "INCREASE_MAX_FACTOR", d.max_factor, parse_factor)?;
    if factor > max_factor {
        return Err(ConfigError::Conflict(format!(
            "{}={factor} is above {}={max_factor}: the value asked for would always be capped; \
             expected a factor at most the maximum factor",
            var("FACTOR"),
            var("MAX_FACTOR")
        )));
    }
    // Filing holds secrets to a higher standard: long enough, and in files only their
    // owner can read.
    let filing = receiver && !dry_run;
    let credentials = credentials(&raw, &var, filing)?;
    let set_it = || {
        format!(
            "set {} (or {}, or {} with {}) to what Alertmanager's http_config sends",
            var("TOKEN_FILE"),
            var("TOKEN"),
            var("USERNAME"),
            var("PASSWORD_FILE")
        )
    };
    if filing && credentials.is_none() {
        return Err(ConfigError::Conflict(format!(
            "{}=false files quota increase requests in AWS, so the webhook must know its caller: {}",
            var("DRY_RUN"),
            set_it()
        )));
    }
    if receiver && credentials.is_none() && !loopback {
        return Err(ConfigError::Conflict(format!(
            "{}=true serves a webhook that records decisions, holds quotas off and counts against the daily \
             maximum even in dry-run, so it must know its caller: {}; only a listener on loopback \
             (QUOTA_EXPORTER_LISTEN_ADDRESS=127.0.0.1:9767) may go without",
            var("RECEIVER"),
            set_it()
        )));
    }
    let approvers = match raw("APPROVERS_FILE").filter(|p| !p.trim().is_empty()) {
        None => Vec::new(),
        Some(path) => approvers(path.trim(), &var("APPROVERS_FILE"), filing, credentials.as_ref())?,
    };
    let role = raw("ROLE_ARN").filter(|v| !v.trim().is_empty()).map(|arn| WriteRole {
        arn: arn.trim().to_owned(),
        external_id: raw("ROLE_EXTERNAL_ID").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()),
    });
    if let Some(role) = &role
        && !is_role_arn(&role.arn)
    {
        return Err(ConfigError::Invalid {
            variable: var("ROLE_ARN"),
            value: role.arn.clone(),
            problem: "not an IAM role ARN".into(),
            expected: "arn:PARTITION:iam::ACCOUNT:role/NAME, e.g. arn:aws:iam::111122223333:role/quota-increases"
                .into(),
        });
    }
    let role_name = raw("ROLE_NAME").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(name) = &role_name
        && !is_role_name(name)
    {
        return Err(ConfigError::Invalid {
            variable: var("ROLE_NAME"),
            value: name.clone(),
            problem: "not a role name".into(),
            expected: "a role name such as aws-quota-exporter-increase, with an optional path (ops/increases)".into(),
        });
    }
    if role.is_none() && role_name.is_none() && raw("ROLE_EXTERNAL_ID").is_some_and(|v| !v.trim().is_empty()) {
        return Err(ConfigError::Conflict(format!(
            "{} is set without {} or {}",
            var("ROLE_EXTERNAL_ID"),
            var("ROLE_ARN"),
            var("ROLE_NAME")
        )));
    }
    let ledger = match raw("LEDGER").as_deref().map(str::trim) {
        None | Some("") | Some("sqlite") => LedgerConfig::Sqlite {
            path: raw("LEDGER_PATH").filter(|p| !p.trim().is_empty()).map_or_else(
                || match &d.ledger {
                    LedgerConfig::Sqlite { path } => path.clone(),
                    LedgerConfig::DynamoDb { .. } => PathBuf::from("increase-requests.db"),
                },
                |p| PathBuf::from(p.trim()),
            ),
        },
        Some("dynamodb") => LedgerConfig::DynamoDb {
            table: parse(
                &raw("DYNAMODB_TABLE"),
                "INCREASE_DYNAMODB_TABLE",
                "aws-quota-exporter-increases".into(),
                |v| {
                    // DynamoDB's table name rule: 3 to 255 of [a-zA-Z0-9_.-].
                    let ok = (3..=255).contains(&v.len())
                        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                    if ok {
                        Ok(v.to_owned())
                    } else {
                        Err(problem("not a table name", "3 to 255 of a-z, A-Z, 0-9, _, . and -"))
                    }
                },
            )?,
            endpoint: dynamodb_endpoint.filter(|e| !e.trim().is_empty()),
        },
        Some(other) => {
            return Err(ConfigError::Invalid {
                variable: var("LEDGER"),
                value: other.to_owned(),
                problem: "not a ledger backend".into(),
                expected: "sqlite or dynamodb".into(),
            });
        }
    };
    Ok(IncreaseConfig {
        receiver,
        dry_run,
        approval,
        credentials,
        approvers,
        alertnames: parse(&raw("ALERTNAMES"), "INCREASE_ALERTNAMES", d.alertnames.clone(), parse_alertnames)?,
        min_utilization: parse(&raw("MIN_UTILIZATION"), "INCREASE_MIN_UTILIZATION", d.min_utilization, |v| {
            number_above(v, 0.0, 1.0, "a ratio above 0 and at most 1, e.g. 0.8")
        })?,
        forecast_days: parse(&raw("FORECAST_DAYS"), "INCREASE_FORECAST_DAYS", d.forecast_days, |v| {
            whole_number(v, 0..=365, "a whole number of days from 0 (forecasts are no evidence) to 365")
        })?,
        support_case: parse(&raw("SUPPORT_CASE"), "INCREASE_SUPPORT_CASE", d.support_case, parse_bool)?,
        role,
        role_name_external_id: role_name
            .as_ref()
            .and(raw("ROLE_EXTERNAL_ID").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())),
        role_name,
        retention: parse(&raw("RETENTION"), "INCREASE_RETENTION", d.retention, |v| {
            parse_duration_at_least(v, Duration::from_secs(86_400))
        })?,
        services: parse(&raw("SERVICES"), "INCREASE_SERVICES", None, |v| parse_service_codes(v).map(Some))?,
        exclude_services: parse(
            &raw("EXCLUDE_SERVICES"),
            "INCREASE_EXCLUDE_SERVICES",
            Vec::new(),
            parse_service_codes,
        )?,
        quotas: parse(&raw("QUOTAS"), "INCREASE_QUOTAS", None, |v| parse_quota_refs(v).map(Some))?,
        exclude_quotas: parse(&raw("EXCLUDE_QUOTAS"), "INCREASE_EXCLUDE_QUOTAS", Vec::new(), parse_quota_refs)?,
        factor,
        max_factor,
        max_values: parse(&raw("MAX_VALUES"), "INCREASE_MAX_VALUES", Vec::new(), parse_max_values)?,
        cooldown: parse(&raw("COOLDOWN"), "INCREASE_COOLDOWN", d.cooldown, |v| {
            parse_duration_at_least(v, Duration::ZERO)
        })?,
        daily_max: parse(&raw("DAILY_MAX"), "INCREASE_DAILY_MAX", d.daily_max, |v| {
            whole_number(v, 1..=1000, "a whole number from 1 to 1000")
        })?,
        ledger,
        poll_interval: parse(&raw("POLL_INTERVAL"), "INCREASE_POLL_INTERVAL", d.poll_interval, |v| {
            parse_duration_at_least(v, Duration::from_millis(100))
        })?,
        fault: parse(&raw("FAULT"), "INCREASE_FAULT", None, |v| match v {
            "crash-after-filing" => Ok(Some(Fault::CrashAfterFiling)),
            "none" => Ok(None),
            _ => Err(problem("not a fault", "crash-after-filing or none (a test hook)")),
        })?,
    })
}

/// Reads a secret file. When `filing`, a file that group or others may read is refused:
/// whoever reads it can make the receiver file in AWS.
fn secret_file(path: &str, variable: &str, filing: bool) -> Result<String, ConfigError> {
    let content = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Conflict(format!("{variable}={path:?} cannot be read: {e}")))?;
    if filing {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| ConfigError::Conflict(format!("{variable}={path:?} cannot be read: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError::Conflict(format!(
                "{variable}={path:?} may be read by group or others (mode {:04o}), and it holds a secret that makes \
                 the receiver file in AWS; expected a file only its owner can read (chmod 600)",
                mode & 0o7777
            )));
        }
    }
    Ok(content)
}

/// Refuses a secret too short to file with.
fn long_enough(secret: &Secret, variable: &str, filing: bool) -> Result<(), ConfigError> {
    if filing && secret.0.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::Conflict(format!(
            "{variable} holds {} bytes; filing in AWS takes a secret of at least {MIN_SECRET_BYTES} bytes, \
             e.g. from `openssl rand -hex 32`",
            secret.0.len()
        )));
    }
    Ok(())
}

/// The credentials the webhook demands, from literal values or files.
fn credentials(
    raw: &impl Fn(&str) -> Option<String>,
    var: &impl Fn(&str) -> String,
    filing: bool,
) -> Result<Option<Credentials>, ConfigError> {
    let secret = |literal: &str, file: &str| -> Result<Option<Secret>, ConfigError> {
        let set = |s: &str| raw(s).filter(|v| !v.trim().is_empty());
        let secret = match (set(literal), set(file)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(format!(
                    "both {} and {} are set; expected one of them",
                    var(literal),
                    var(file)
                )));
            }
            (Some(v), None) => (Secret(v.trim().to_owned()), var(literal)),
            (None, Some(path)) => {
                let value = secret_file(path.trim(), &var(file), filing)?.trim().to_owned();
                if value.is_empty() {
                    return Err(ConfigError::Conflict(format!("{}={path:?} is empty; expected a secret", var(file))));
                }
                (Secret(value), var(file))
            }
            (None, None) => return Ok(None),
        };
        long_enough(&secret.0, &secret.1, filing)?;
        Ok(Some(secret.0))
    };
    let token = secret("TOKEN", "TOKEN_FILE")?;
    let username = raw("USERNAME").map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    let password = secret("PASSWORD", "PASSWORD_FILE")?;
    match (token, username, password) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ConfigError::Conflict(format!(
            "{} and basic auth ({}) are both set; expected one of them, as Alertmanager sends one",
            var("TOKEN[_FILE]"),
            var("USERNAME")
        ))),
        (Some(t), None, None) => Ok(Some(Credentials::Bearer(t))),
        (None, Some(username), Some(password)) => Ok(Some(Credentials::Basic { username, password })),
        (None, Some(_), None) => Err(ConfigError::Conflict(format!(
            "{} is set without {} or {}",
            var("USERNAME"),
            var("PASSWORD_FILE"),
            var("PASSWORD")
        ))),
        (None, None, Some(_)) => Err(ConfigError::Conflict(format!("a password is set without {}", var("USERNAME")))),
        (None, None, None) => Ok(None),
    }
}

/// The approvers file: one `name:token` per line; blank lines and `#` comments ignored.
fn approvers(
    path: &str,
    variable: &str,
    filing: bool,
    webhook: Option<&Credentials>,
) -> Result<Vec<Approver>, ConfigError> {
    let content = secret_file(path, variable, filing)?;
    let mut out: Vec<Approver> = Vec::new();
    for (i, line) in content.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |problem: &str| {
            ConfigError::Conflict(format!(
                "{variable}={path:?}, line {i}: {problem}; expected name:token, a name of letters, digits, \
                 '.', '_', '@' or '-' and a bearer token"
            ))
        };
        let (name, token) = line.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let (name, token) = (name.trim(), token.trim());
        if !is_decider_name(name) {
            return Err(bad("the name is not valid"));
        }
        if token.is_empty() {
            return Err(bad("the token is empty"));
        }
        let token = Secret(token.to_owned());
        long_enough(&token, &format!("{variable}={path:?}, line {i},"), filing)?;
        if out.iter().any(|a| a.name == name) {
            return Err(bad(&format!("{name} is listed twice")));
        }
        if out.iter().any(|a| a.token == token) {
            return Err(bad("two approvers share a token"));
        }
        if matches!(webhook, Some(Credentials::Bearer(t)) if *t == token)
            || matches!(webhook, Some(Credentials::Basic { password, .. }) if *password == token)
        {
            return Err(bad("the token is the webhook's own secret, which would let Alertmanager approve"));
        }
        out.push(Approver { name: name.to_owned(), token });
    }
    Ok(out)
}

/// Who may be recorded as deciding on a request (an approver, or `--by` on the command
/// line): 1 to 64 letters, digits, '.', '_', '@' or '-'.
pub fn is_decider_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
}

fn parse_alertnames(v: &str) -> Result<Vec<String>, Problem> {
    const FORM: &str =
        "a comma-separated list of alert names such as AwsQuotaUtilizationHigh,AwsQuotaForecastExhaustion";
    v.split(',')
        .map(str::trim)
        .map(|name| {
            // Prometheus' metric name rule, which alert names follow.
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            if valid { Ok(name.to_owned()) } else { Err(problem(format!("{name:?} is not an alert name"), FORM)) }
        })
        .collect()
}

fn parse_factor(v: &str) -> Result<f64, Problem> {
    number_above(v, 1.0, 100.0, "a number above 1 and at most 100, e.g. 1.5")
}

const QUOTA_REF_FORM: &str =
    "a comma-separated list of service_code/quota_code such as ec2/L-1216C47A,lambda/L-B99A9384";

fn quota_ref(item: &str) -> Option<QuotaRef> {
    let (service, quota) = item.split_once('/')?;
    (is_code(service, 2, usize::MAX) && is_code(quota, 1, usize::MAX))
        .then(|| QuotaRef { service_code: service.to_owned(), quota_code: quota.to_owned() })
}

fn parse_quota_refs(v: &str) -> Result<Vec<QuotaRef>, Problem> {
    v.split(',')
        .map(str::trim)
        .map(|item| {
            quota_ref(item).ok_or_else(|| problem(format!("{item:?} is not service_code/quota_code"), QUOTA_REF_FORM))
        })
        .collect()
}

fn parse_max_values(v: &str) -> Result<Vec<(QuotaRef, f64)>, Problem> {
    const FORM: &str = "a comma-separated list of service_code/quota_code=value such as ec2/L-1216C47A=2000";
    v.split(',')
        .map(str::trim)
        .map(|item| {
            let (q, value) = item.split_once('=').ok_or_else(|| problem(format!("{item:?} has no =value"), FORM))?;
            let q =
                quota_ref(q.trim()).ok_or_else(|| problem(format!("{q:?} is not service_code/quota_code"), FORM))?;
            let value = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0 && v.is_finite())
                .ok_or_else(|| problem(format!("{value:?} is not a positive number"), FORM))?;
            Ok((q, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "0123456789abcdef0123456789abcdef";

    fn ours(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("QUOTA_EXPORTER_INCREASE_{k}"), (*v).to_owned())).collect()
    }

    /// On a listener that is not on loopback.
    fn read(pairs: &[(&str, &str)]) -> Result<IncreaseConfig, ConfigError> {
        from_vars(&ours(pairs), None, false)
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        read(pairs).expect_err("refused").to_string()
    }

    /// A file in a fresh temporary directory, with the given mode.
    fn secret_file_with(name: &str, content: &str, mode: u32) -> String {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("aqe-settings-{}-{}", std::process::id(), name));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let file = dir.join(name);
        std::fs::write(&file, content).expect("written");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        file.to_str().expect("utf-8").to_owned()
    }

    #[test]
    fn the_defaults_are_off_and_dry_run() {
        let c = read(&[]).expect("valid");
        assert_eq!(c, IncreaseConfig::default());
        assert!(!c.receiver && c.dry_run && !c.approval);
        assert_eq!(c.alertnames, ["AwsQuotaUtilizationHigh", "AwsQuotaForecastExhaustion"]);
        assert_eq!((c.min_utilization, c.forecast_days, c.support_case), (0.8, 14, true));
    }

    #[test]
    fn filing_for_real_needs_credentials() {
        assert!(
            error_of(&[("RECEIVER", "true"), ("DRY_RUN", "false")])
                .starts_with("QUOTA_EXPORTER_INCREASE_DRY_RUN=false files quota increase requests in AWS")
        );
        let c = read(&[("RECEIVER", "true"), ("DRY_RUN", "false"), ("TOKEN", LONG)]).expect("valid");
        assert_eq!(c.credentials, Some(Credentials::Bearer(Secret(LONG.into()))));
        assert_eq!(format!("{:?}", c.credentials), "Some(Bearer(Secret(***)))", "secrets are never printed");
    }

    #[test]
    fn a_dry_run_receiver_needs_credentials_unless_it_listens_on_loopback() {
        let error = error_of(&[("RECEIVER", "true")]);
        assert!(error.starts_with("QUOTA_EXPORTER_INCREASE_RECEIVER=true serves a webhook that records"), "{error}");
        assert!(error.contains("only a listener on loopback"), "{error}");
        assert!(from_vars(&ours(&[("RECEIVER", "true")]), None, true).is_ok(), "loopback may go without");
        assert!(read(&[("RECEIVER", "true"), ("TOKEN", "short-is-fine-in-dry-run")]).is_ok());
    }

    #[test]
    fn filing_refuses_short_secrets_and_files_others_may_read() {
        let filing = [("RECEIVER", "true"), ("DRY_RUN", "false")];
        let with = |extra: (&'static str, &str)| {
            let mut pairs = filing.to_vec();
            pairs.push(extra);
            read(&pairs)
        };
        assert_eq!(
            with(("TOKEN", "s3cret")).expect_err("too short").to_string(),
            "QUOTA_EXPORTER_INCREASE_TOKEN holds 6 bytes; filing in AWS takes a secret of at least 32 bytes, \
             e.g. from `openssl rand -hex 32`"
        );
        let open = secret_file_with("open-token", LONG, 0o644);
        let error = with(("TOKEN_FILE", &open)).expect_err("readable by others").to_string();
        assert!(error.contains("may be read by group or others (mode 0644)"), "{error}");
        assert!(error.contains("chmod 600"), "{error}");
        let private = secret_file_with("private-token", &format!("{LONG}\n"), 0o600);
        assert_eq!(
            with(("TOKEN_FILE", &private)).expect("valid").credentials,
            Some(Credentials::Bearer(Secret(LONG.into())))
        );
        // In dry-run the same open file is taken: nothing is filed with it.
        assert!(read(&[("RECEIVER", "true"), ("TOKEN_FILE", &open)]).is_ok());
    }

    #[test]
    fn approvers_come_from_a_file_and_never_share_the_webhook_secret() {
        let other = "fedcba9876543210fedcba9876543210";
        let file = secret_file_with(
            "approvers",
            &format!("# who may approve\nalice:{other}\n\nbob@example.com : {LONG}x\n"),
            0o600,
        );
        let c = read(&[("TOKEN", LONG), ("APPROVERS_FILE", &file)]).expect("valid");
        let names: Vec<&str> = c.approvers.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob@example.com"]);
        let same = secret_file_with("approvers-same", &format!("alice:{LONG}\n"), 0o600);
        let error = error_of(&[("TOKEN", LONG), ("APPROVERS_FILE", &same)]);
        assert!(error.ends_with("line 1: the token is the webhook's own secret, which would let Alertmanager approve; expected name:token, a name of letters, digits, '.', '_', '@' or '-' and a bearer token"), "{error}");
        let bad = secret_file_with("approvers-bad", "alice\n", 0o600);
        assert!(error_of(&[("APPROVERS_FILE", &bad)]).contains("line 1: no ':'"));
        let twice = secret_file_with("approvers-twice", &format!("alice:{LONG}\nalice:{other}\n"), 0o600);
        assert!(error_of(&[("APPROVERS_FILE", &twice)]).contains("alice is listed twice"));
    }

    #[test]
    fn evidence_role_and_retention_settings_are_parsed_with_their_form() {
        let c = read(&[
            ("ALERTNAMES", "AwsQuotaUtilizationHigh, MyQuotaAlert"),
            ("MIN_UTILIZATION", "0.9"),
            ("FORECAST_DAYS", "0"),
            ("SUPPORT_CASE", "false"),
            ("ROLE_ARN", "arn:aws:iam::111122223333:role/ops/quota-increases"),
            ("ROLE_EXTERNAL_ID", "exporter"),
            ("RETENTION", "30d"),
        ])
        .expect("valid");
        assert_eq!(c.alertnames, ["AwsQuotaUtilizationHigh", "MyQuotaAlert"]);
        assert_eq!((c.min_utilization, c.forecast_days, c.support_case), (0.9, 0, false));
        assert_eq!(
            c.role,
            Some(WriteRole {
                arn: "arn:aws:iam::111122223333:role/ops/quota-increases".into(),
                external_id: Some("exporter".into())
            })
        );
        assert_eq!(c.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(
            error_of(&[("MIN_UTILIZATION", "80")]),
            "invalid QUOTA_EXPORTER_INCREASE_MIN_UTILIZATION=\"80\": out of range; expected a ratio above 0 and at most 1, e.g. 0.8"
        );
        assert!(error_of(&[("ALERTNAMES", "Quota Alert")]).contains("\"Quota Alert\" is not an alert name"));
        assert!(error_of(&[("ROLE_ARN", "quota-increases")]).contains("not an IAM role ARN"));
        assert!(
            error_of(&[("ROLE_EXTERNAL_ID", "x")])
                .contains("without QUOTA_EXPORTER_INCREASE_ROLE_ARN or QUOTA_EXPORTER_INCREASE_ROLE_NAME")
        );
        assert!(error_of(&[("RETENTION", "1h")]).contains("shorter than the minimum of 1d"));
    }

    #[test]
    fn credentials_come_from_files_and_conflicts_are_refused() {
        let path = secret_file_with("password", "from-a-file\n", 0o600);
        let c = read(&[("USERNAME", "alertmanager"), ("PASSWORD_FILE", &path)]).expect("valid");
        assert_eq!(
            c.credentials,
            Some(Credentials::Basic { username: "alertmanager".into(), password: Secret("from-a-file".into()) })
        );
        assert!(error_of(&[("TOKEN", "t"), ("USERNAME", "u"), ("PASSWORD", "p")]).contains("both set"));
        assert!(
            error_of(&[("TOKEN", "t"), ("TOKEN_FILE", &path)]).starts_with("both QUOTA_EXPORTER_INCREASE_TOKEN and")
        );
        assert!(error_of(&[("USERNAME", "u")]).contains("without"));
        assert!(error_of(&[("TOKEN_FILE", "/nonexistent/token")]).contains("cannot be read"));
    }

    #[test]
    fn lists_factors_and_maxima_are_parsed_with_their_form() {
        let c = read(&[
            ("QUOTAS", "ec2/L-1216C47A, lambda/L-B99A9384"),
            ("EXCLUDE_SERVICES", "sagemaker"),
            ("MAX_VALUES", "ec2/L-1216C47A=2000"),
            ("FACTOR", "1.25"),
            ("MAX_FACTOR", "3"),
            ("DAILY_MAX", "2"),
            ("COOLDOWN", "7d"),
        ])
        .expect("valid");
        assert_eq!(c.allows("ec2", "L-1216C47A"), Ok(()));
        assert!(c.allows("ec2", "L-34B43A08").is_err());
        assert!(c.allows("sagemaker", "L-1216C47A").is_err());
        assert_eq!(c.max_value("ec2", "L-1216C47A"), Some(2000.0));
        assert_eq!(c.cooldown, Duration::from_secs(7 * 86_400));
        assert_eq!(
            error_of(&[("QUOTAS", "L-1216C47A")]),
            "invalid QUOTA_EXPORTER_INCREASE_QUOTAS=\"L-1216C47A\": \"L-1216C47A\" is not service_code/quota_code; \
             expected a comma-separated list of service_code/quota_code such as ec2/L-1216C47A,lambda/L-B99A9384"
        );
        assert!(error_of(&[("FACTOR", "3"), ("MAX_FACTOR", "2")]).contains("is above"));
        assert!(error_of(&[("FACTOR", "1")]).contains("out of range"));
        assert!(error_of(&[("MAX_VALUES", "ec2/L-1216C47A=-5")]).contains("not a positive number"));
        assert!(error_of(&[("LEDGER", "postgres")]).contains("expected sqlite or dynamodb"));
        assert!(error_of(&[("FAULT", "explode")]).contains("a test hook"));
    }
}
