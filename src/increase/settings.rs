//! The `QUOTA_EXPORTER_INCREASE_*` variables: whether the receiver runs, how it
//! authenticates Alertmanager, the policy it applies and where its ledger lives.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{
    ConfigError, PREFIX, Problem, parse, parse_bool, parse_duration_at_least, parse_service_codes, problem,
    whole_number,
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

/// Faults the tests can inject into a real process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Abort the process right after AWS accepted a request, before the ledger records it.
    CrashAfterFiling,
}

/// The receiver's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct IncreaseConfig {
    /// Serve `POST /alertmanager/webhook` and the ledger endpoints.
    pub receiver: bool,
    /// Record what would be filed instead of filing it.
    pub dry_run: bool,
    /// Hold each request until someone approves it.
    pub approval: bool,
    pub credentials: Option<Credentials>,
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
/// `QUOTA_EXPORTER_*` variable set); `dynamodb_endpoint` is `AWS_ENDPOINT_URL_DYNAMODB`.
pub fn from_vars(
    ours: &HashMap<String, String>,
    dynamodb_endpoint: Option<String>,
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
    let credentials = credentials(&raw, &var)?;
    if receiver && !dry_run && credentials.is_none() {
        return Err(ConfigError::Conflict(format!(
            "{}=false files quota increase requests in AWS, so the webhook must know its caller: set {} \
             (or {}, or {} with {}) to what Alertmanager's http_config sends",
            var("DRY_RUN"),
            var("TOKEN_FILE"),
            var("TOKEN"),
            var("USERNAME"),
            var("PASSWORD_FILE")
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
            _ => Err(problem("not a fault", "crash-after-filing or none (tests only)")),
        })?,
    })
}

/// The credentials the webhook demands, from literal values or files.
fn credentials(
    raw: &impl Fn(&str) -> Option<String>,
    var: &impl Fn(&str) -> String,
) -> Result<Option<Credentials>, ConfigError> {
    let secret = |literal: &str, file: &str| -> Result<Option<Secret>, ConfigError> {
        let set = |s: &str| raw(s).filter(|v| !v.trim().is_empty());
        match (set(literal), set(file)) {
            (Some(_), Some(_)) => Err(ConfigError::Conflict(format!(
                "both {} and {} are set; expected one of them",
                var(literal),
                var(file)
            ))),
            (Some(v), None) => Ok(Some(Secret(v.trim().to_owned()))),
            (None, Some(path)) => {
                let content = std::fs::read_to_string(path.trim())
                    .map_err(|e| ConfigError::Conflict(format!("{}={path:?} cannot be read: {e}", var(file))))?;
                let value = content.trim().to_owned();
                if value.is_empty() {
                    return Err(ConfigError::Conflict(format!("{}={path:?} is empty; expected a secret", var(file))));
                }
                Ok(Some(Secret(value)))
            }
            (None, None) => Ok(None),
        }
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

fn parse_factor(v: &str) -> Result<f64, Problem> {
    const FORM: &str = "a number above 1 and at most 100, e.g. 1.5";
    match v.parse::<f64>() {
        Ok(f) if f > 1.0 && f <= 100.0 => Ok(f),
        Ok(_) => Err(problem("out of range", FORM)),
        Err(_) => Err(problem("not a number", FORM)),
    }
}

const QUOTA_REF_FORM: &str =
    "a comma-separated list of service_code/quota_code such as ec2/L-1216C47A,lambda/L-B99A9384";

fn quota_ref(item: &str) -> Option<QuotaRef> {
    let (service, quota) = item.split_once('/')?;
    let code = |s: &str, min: usize| {
        s.len() >= min
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    (code(service, 2) && code(quota, 1))
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

    fn ours(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (format!("QUOTA_EXPORTER_INCREASE_{k}"), (*v).to_owned())).collect()
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        from_vars(&ours(pairs), None).expect_err("refused").to_string()
    }

    #[test]
    fn the_defaults_are_off_and_dry_run() {
        let c = from_vars(&HashMap::new(), None).expect("valid");
        assert_eq!(c, IncreaseConfig::default());
        assert!(!c.receiver && c.dry_run && !c.approval);
    }

    #[test]
    fn filing_for_real_needs_credentials() {
        assert!(
            error_of(&[("RECEIVER", "true"), ("DRY_RUN", "false")])
                .starts_with("QUOTA_EXPORTER_INCREASE_DRY_RUN=false files quota increase requests in AWS")
        );
        let c =
            from_vars(&ours(&[("RECEIVER", "true"), ("DRY_RUN", "false"), ("TOKEN", "s3cret")]), None).expect("valid");
        assert_eq!(c.credentials, Some(Credentials::Bearer(Secret("s3cret".into()))));
        assert_eq!(format!("{:?}", c.credentials), "Some(Bearer(Secret(***)))", "secrets are never printed");
    }

    #[test]
    fn credentials_come_from_files_and_conflicts_are_refused() {
        let dir = std::env::temp_dir().join(format!("aqe-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let file = dir.join("password");
        std::fs::write(&file, "from-a-file\n").expect("written");
        let path = file.to_str().expect("utf-8");
        let c = from_vars(&ours(&[("USERNAME", "alertmanager"), ("PASSWORD_FILE", path)]), None).expect("valid");
        assert_eq!(
            c.credentials,
            Some(Credentials::Basic { username: "alertmanager".into(), password: Secret("from-a-file".into()) })
        );
        assert!(error_of(&[("TOKEN", "t"), ("USERNAME", "u"), ("PASSWORD", "p")]).contains("both set"));
        assert!(
            error_of(&[("TOKEN", "t"), ("TOKEN_FILE", path)]).starts_with("both QUOTA_EXPORTER_INCREASE_TOKEN and")
        );
        assert!(error_of(&[("USERNAME", "u")]).contains("without"));
        assert!(error_of(&[("TOKEN_FILE", "/nonexistent/token")]).contains("cannot be read"));
    }

    #[test]
    fn lists_factors_and_maxima_are_parsed_with_their_form() {
        let c = from_vars(
            &ours(&[
                ("QUOTAS", "ec2/L-1216C47A, lambda/L-B99A9384"),
                ("EXCLUDE_SERVICES", "sagemaker"),
                ("MAX_VALUES", "ec2/L-1216C47A=2000"),
                ("FACTOR", "1.25"),
                ("MAX_FACTOR", "3"),
                ("DAILY_MAX", "2"),
                ("COOLDOWN", "7d"),
            ]),
            None,
        )
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
        assert!(error_of(&[("FAULT", "explode")]).contains("tests only"));
    }
}
