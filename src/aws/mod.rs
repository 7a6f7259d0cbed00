//! The AWS boundary: the only module that imports the AWS SDK.
//!
//! It builds one set of clients per target, runs the calls the collectors need, and
//! turns SDK types into the domain types of [`crate::model`] in pure, unit-tested
//! functions. Every HTTP attempt, including the SDK's own retries, is counted by
//! operation and outcome through an SDK interceptor, so throttling that the SDK
//! absorbs is still visible. Errors leave this module as [`AwsError`], never as SDK
//! types.

pub mod bedrock;
pub mod cloudwatch;
pub mod dynamodb;
pub mod increase;
pub mod servicequotas;
pub mod sts;

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;
use aws_sdk_servicequotas::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_servicequotas::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_servicequotas::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ratelimit::RateLimiter;
use crate::selfmetrics::SelfMetrics;

/// An AWS call that did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AwsError {
    #[error("{operation} was throttled ({code}): {message}")]
    Throttled { operation: &'static str, code: String, message: String },
    #[error("{operation} was denied ({code}): {message}")]
    AccessDenied { operation: &'static str, code: String, message: String },
    #[error("{operation} failed ({code}): {message}")]
    Api { operation: &'static str, code: String, message: String },
    #[error("{operation} failed: {message}")]
    Transport { operation: &'static str, message: String },
}

impl AwsError {
    /// A short word for logs and for the outcome of a collection: throttled, denied, error.
    pub fn kind(&self) -> &'static str {
        match self {
            AwsError::Throttled { .. } => "throttled",
            AwsError::AccessDenied { .. } => "denied",
            AwsError::Api { .. } | AwsError::Transport { .. } => "error",
        }
    }

    /// AWS's error code, when AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Throttled { code, .. } | AwsError::AccessDenied { code, .. } | AwsError::Api { code, .. } => {
                Some(code)
            }
            AwsError::Transport { .. } => None,
        }
    }

    /// A successful answer without a field it must have.
    fn missing(operation: &'static str, field: &str) -> AwsError {
        AwsError::Api { operation, code: "MissingField".into(), message: format!("the answer has no {field}") }
    }

    /// Turns an SDK error into ours, keeping AWS's error code and message.
    fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        match err.as_service_error() {
            Some(service) => {
                let code = service.code().unwrap_or("Unknown").to_owned();
                let message = service.message().unwrap_or_default().to_owned();
                match classify(Some(&code), None) {
                    Outcome::Throttled => AwsError::Throttled { operation, code, message },
                    _ if is_access_denied(&code) => AwsError::AccessDenied { operation, code, message },
                    _ => AwsError::Api { operation, code, message },
                }
            }
            None => AwsError::Transport { operation, message: DisplayErrorContext(&err).to_string() },
        }
    }
}

/// The outcome of one HTTP attempt, as counted in the self-metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Throttled,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::Error => "error",
        }
    }
}

/// Classifies a failed attempt by its AWS error code (the SDK's own throttling list)
/// or an HTTP 429.
pub fn classify(code: Option<&str>, status: Option<u16>) -> Outcome {
    const THROTTLING: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    ];
    if code.is_some_and(|c| THROTTLING.contains(&c)) || status == Some(429) {
        Outcome::Throttled
    } else {
        Outcome::Error
    }
}

fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
    )
}

/// The labels every call of a target is counted under. The account is learned from
/// STS after the clients exist, so it is filled in once known.
#[derive(Debug, Default)]
pub struct TargetLabels {
    pub region: String,
    account_id: OnceLock<String>,
}

impl TargetLabels {
    pub fn new(region: &str) -> TargetLabels {
        TargetLabels { region: region.to_owned(), account_id: OnceLock::new() }
    }

    pub fn account_id(&self) -> Option<&str> {
        self.account_id.get().map(String::as_str)
    }

    pub fn set_account_id(&self, id: &str) {
        // A target's account never changes; a second call keeps the first value.
        let _ = self.account_id.set(id.to_owned());
    }
}

/// Counts every HTTP attempt of one operation, typed by the operation's error so the
/// AWS error code can be read.
struct Meter<E> {
    metrics: Arc<SelfMetrics>,
    labels: Arc<TargetLabels>,
    service: &'static str,
    operation: &'static str,
    _error: PhantomData<fn() -> E>,
}

impl<E> fmt::Debug for Meter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter").field("service", &self.service).field("operation", &self.operation).finish()
    }
}

impl<E> Intercept for Meter<E>
where
    E: ProvideErrorMetadata + std::error::Error + fmt::Debug + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        "ApiCallMeter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => Outcome::Ok,
            Some(Err(err)) => {
                let code = err.as_operation_error().and_then(|e| e.downcast_ref::<E>()).and_then(|e| e.code());
                classify(code, context.response().map(|r| r.status().as_u16()))
            }
            None => Outcome::Error,
        };
        self.metrics.count_api_call(
            self.service,
            self.operation,
            outcome,
            self.labels.account_id().unwrap_or_default(),
            &self.labels.region,
        );
        Ok(())
    }
}

/// The clients and limits of one target.
#[derive(Debug, Clone)]
pub struct TargetAws {
    pub labels: Arc<TargetLabels>,
    service_quotas: aws_sdk_servicequotas::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    bedrock: aws_sdk_bedrock::Client,
    sts: aws_sdk_sts::Client,
    metrics: Arc<SelfMetrics>,
    limits: Arc<ServiceQuotasLimits>,
}

/// Client-side limits on Service Quotas calls: AWS allows 10 list calls per second per
/// operation, account and region, so each operation gets its own limiter.
#[derive(Debug)]
struct ServiceQuotasLimits {
    list_services: RateLimiter,
    list_service_quotas: RateLimiter,
    list_default_quotas: RateLimiter,
}

impl TargetAws {
    /// Clients for one region, from a shared SDK configuration.
    pub fn new(base: &SdkConfig, region: &str, rate_per_second: f64, metrics: Arc<SelfMetrics>) -> TargetAws {
        let config = base.to_builder().region(aws_config::Region::new(region.to_owned())).build();
        TargetAws {
            labels: Arc::new(TargetLabels::new(region)),
            service_quotas: aws_sdk_servicequotas::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            bedrock: aws_sdk_bedrock::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            metrics,
            limits: Arc::new(ServiceQuotasLimits {
                list_services: RateLimiter::per_second(rate_per_second),
                list_service_quotas: RateLimiter::per_second(rate_per_second),
                list_default_quotas: RateLimiter::per_second(rate_per_second),
            }),
        }
    }

    fn meter<E>(&self, service: &'static str, operation: &'static str) -> Meter<E> {
        Meter { metrics: self.metrics.clone(), labels: self.labels.clone(), service, operation, _error: PhantomData }
    }
}

/// Every page of a listing. `fetch` gets the previous page's `NextToken` (none for the
/// first) and returns the page's items and its own `NextToken`; the listing ends only
/// when that token is absent or empty, never on a short page.
async fn every_page<T, Fut>(mut fetch: impl FnMut(Option<String>) -> Fut) -> Result<Vec<T>, AwsError>
where
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = fetch(token.take()).await?;
        out.extend(items);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// Loads the SDK configuration from the standard AWS chain. Retries default to the
/// adaptive mode (a client-side rate limiter that backs off on throttling) unless
/// `AWS_RETRY_MODE` says otherwise.
pub async fn load_sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if std::env::var_os("AWS_RETRY_MODE").is_none() {
        let attempts = std::env::var("AWS_MAX_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
        loader = loader.retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(attempts));
    }
    loader.load().await
}

/// Retry settings for [`static_sdk_config`].
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    pub max_attempts: u32,
    pub initial_backoff: std::time::Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Retries { max_attempts: 3, initial_backoff: std::time::Duration::from_secs(1) }
    }
}

/// An SDK configuration for a fixed endpoint and static credentials (the demo estate,
/// or a simulated AWS in tests), with adaptive retries.
pub async fn static_sdk_config(endpoint_url: &str, access_key_id: &str, secret: &str, retries: Retries) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_sdk_servicequotas::config::Credentials::new(
            access_key_id,
            secret,
            None,
            None,
            "static",
        ))
        .retry_config(
            aws_config::retry::RetryConfig::adaptive()
                .with_max_attempts(retries.max_attempts)
                .with_initial_backoff(retries.initial_backoff),
        )
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_and_http_429_are_throttled_and_the_rest_are_errors() {
        assert_eq!(classify(Some("TooManyRequestsException"), Some(400)), Outcome::Throttled);
        assert_eq!(classify(Some("Throttling"), Some(400)), Outcome::Throttled);
        assert_eq!(classify(Some("ThrottlingException"), Some(429)), Outcome::Throttled);
        assert_eq!(classify(None, Some(429)), Outcome::Throttled);
        assert_eq!(classify(Some("AccessDeniedException"), Some(400)), Outcome::Error);
        assert_eq!(classify(Some("ServiceException"), Some(500)), Outcome::Error);
        assert_eq!(classify(None, None), Outcome::Error);
    }

    #[test]
    fn an_account_id_once_set_does_not_change() {
        let labels = TargetLabels::new("us-east-1");
        assert_eq!(labels.account_id(), None);
        labels.set_account_id("111122223333");
        labels.set_account_id("999999999999");
        assert_eq!(labels.account_id(), Some("111122223333"));
    }
}
