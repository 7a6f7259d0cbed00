//! The AWS boundary: the only module that imports the AWS SDK.
//!
//! It builds one set of clients per target, runs the calls the collectors need, and
//! turns SDK types into the domain types of [`crate::model`] in pure, unit-tested
//! functions. Every call is bounded in time ([`timeouts`]), goes through its
//! operation's rate limiter on every attempt ([`crate::ratelimit`]) and is retried here,
//! within a budget, when it is safe and worth it ([`retry`]). Every HTTP attempt is
//! counted by operation and outcome through an SDK interceptor, so throttling that the
//! retries absorb is still visible. Errors leave this module as [`AwsError`], never as
//! SDK types.

pub mod bedrock;
pub mod cloudwatch;
pub mod dynamodb;
pub mod increase;
pub mod organizations;
pub mod retry;
pub mod servicequotas;
pub mod sts;
pub mod timeouts;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_servicequotas::config::http::HttpResponse;
use aws_sdk_servicequotas::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_servicequotas::config::retry::RetryConfig;
use aws_sdk_servicequotas::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_servicequotas::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::ratelimit::RateLimits;
pub use crate::selfmetrics::Outcome;
use crate::selfmetrics::SelfMetrics;
use retry::RetryBudget;
pub use retry::RetryPolicy;
use timeouts::{Bound, Timeouts};

/// An AWS call that did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AwsError {
    #[error("{operation} was throttled ({code}): {message}")]
    Throttled { operation: &'static str, code: String, message: String },
    #[error("{operation} was denied ({code}): {message}")]
    AccessDenied { operation: &'static str, code: String, message: String },
    #[error("{operation} failed ({code}): {message}")]
    Api { operation: &'static str, code: String, message: String, status: Option<u16> },
    #[error("{operation} timed out: {message}")]
    Timeout { operation: &'static str, message: String },
    #[error("{operation} failed: {message}")]
    Transport { operation: &'static str, message: String },
}

impl AwsError {
    /// A short word for logs and for the outcome of a collection: throttled, denied,
    /// timeout, error.
    pub fn kind(&self) -> &'static str {
        match self {
            AwsError::Throttled { .. } => "throttled",
            AwsError::AccessDenied { .. } => "denied",
            AwsError::Timeout { .. } => "timeout",
            AwsError::Api { .. } | AwsError::Transport { .. } => "error",
        }
    }

    /// AWS's error code, when AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Throttled { code, .. } | AwsError::AccessDenied { code, .. } | AwsError::Api { code, .. } => {
                Some(code)
            }
            AwsError::Timeout { .. } | AwsError::Transport { .. } => None,
        }
    }

    /// Whether another attempt may succeed: throttling, a server error, a timeout or a
    /// connection that failed. Access denied and other client errors never will.
    pub fn is_retryable(&self) -> bool {
        match self {
            AwsError::Throttled { .. } | AwsError::Timeout { .. } | AwsError::Transport { .. } => true,
            AwsError::Api { status, code, .. } => {
                status.is_some_and(|s| s >= 500)
                    || matches!(code.as_str(), "RequestTimeout" | "RequestTimeoutException")
            }
            AwsError::AccessDenied { .. } => false,
        }
    }

    /// Whether AWS may have acted on a call that did not confirm: a server error, a
    /// timeout or a transport failure after the request may have been sent.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            AwsError::Timeout { .. } | AwsError::Transport { .. } => true,
            AwsError::Api { status, .. } => status.is_some_and(|s| s >= 500),
            AwsError::Throttled { .. } | AwsError::AccessDenied { .. } => false,
        }
    }

    /// A successful answer without a field it must have.
    fn missing(operation: &'static str, field: &str) -> AwsError {
        AwsError::Api {
            operation,
            code: "MissingField".into(),
            message: format!("the answer has no {field}"),
            status: None,
        }
    }

    /// Turns an SDK error into ours, keeping AWS's error code, message and status.
    fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if let SdkError::TimeoutError(_) = &err {
            return AwsError::Timeout { operation, message: DisplayErrorContext(&err).to_string() };
        }
        // Credentials that could not be had (a role that cannot be assumed): no attempt
        // reached the API, and trying again at once will not help.
        if matches!(err, SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)) && is_credentials_error(&err)
        {
            return AwsError::AccessDenied {
                operation,
                code: "CredentialsUnavailable".into(),
                message: format!("the credentials could not be had: {}", deepest_cause(&err)),
            };
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        match err.as_service_error() {
            Some(service) => {
                let code = service.code().unwrap_or("Unknown").to_owned();
                let message = service.message().unwrap_or_default().to_owned();
                match classify(Some(&code), status) {
                    Outcome::Throttled => AwsError::Throttled { operation, code, message },
                    _ if is_access_denied(&code) => AwsError::AccessDenied { operation, code, message },
                    _ => AwsError::Api { operation, code, message, status },
                }
            }
            None => AwsError::Transport { operation, message: DisplayErrorContext(&err).to_string() },
        }
    }
}

/// The innermost cause of an error (AWS's own answer, for a refused role), in words.
fn deepest_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Whether an error, or any error it was caused by, is the credentials provider's.
fn is_credentials_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>().is_some() {
            return true;
        }
        current = e.source();
    }
    false
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

    /// Labels of a target whose account is known before STS answers (a role's).
    pub fn of_account(region: &str, account_id: Option<&str>) -> TargetLabels {
        let labels = TargetLabels::new(region);
        if let Some(id) = account_id {
            labels.set_account_id(id);
        }
        labels
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
            Some(Err(err)) if err.is_timeout_error() => Outcome::Timeout,
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

/// What every client of a process shares: the counters, the rate limiters, the time
/// bounds and the cap on requests in flight.
#[derive(Debug, Clone)]
pub struct ClientParts {
    pub metrics: Arc<SelfMetrics>,
    pub limits: Arc<RateLimits>,
    pub timeouts: Timeouts,
    /// One permit per AWS request in flight, process-wide.
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

impl ClientParts {
    /// Parts with `list_rate` Service Quotas listings per second, the standard bounds
    /// and the default cap of 64 requests in flight.
    pub fn new(metrics: Arc<SelfMetrics>, list_rate: f64) -> ClientParts {
        ClientParts {
            metrics,
            limits: RateLimits::new(list_rate),
            timeouts: Timeouts::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(64)),
        }
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
    limits: Arc<RateLimits>,
    in_flight: Arc<tokio::sync::Semaphore>,
    timeouts: Timeouts,
    policy: RetryPolicy,
    budget: Arc<RetryBudget>,
}

impl TargetAws {
    /// Clients for one region, from a shared SDK configuration. The configuration's
    /// retry settings (`AWS_MAX_ATTEMPTS`, the initial backoff) become this target's
    /// [`RetryPolicy`]; the SDK itself never retries.
    pub fn new(base: &SdkConfig, region: &str, parts: &ClientParts) -> TargetAws {
        TargetAws::of_account(base, region, parts, None)
    }

    /// [`TargetAws::new`] for an account known before STS answers: its rate limiters
    /// are the account's from the first call.
    pub fn of_account(base: &SdkConfig, region: &str, parts: &ClientParts, account_id: Option<&str>) -> TargetAws {
        let config = base.to_builder().region(aws_config::Region::new(region.to_owned())).build();
        let t = parts.timeouts;
        let policy = base.retry_config().map_or_else(RetryPolicy::default, RetryPolicy::from_sdk);
        let once = RetryConfig::disabled();
        TargetAws {
            labels: Arc::new(TargetLabels::of_account(region, account_id)),
            service_quotas: aws_sdk_servicequotas::Client::from_conf(
                aws_sdk_servicequotas::config::Builder::from(&config)
                    .retry_config(once.clone())
                    .timeout_config(t.service_quotas.one_attempt())
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&config)
                    .retry_config(once.clone())
                    .timeout_config(t.cloudwatch.one_attempt())
                    .build(),
            ),
            bedrock: aws_sdk_bedrock::Client::from_conf(
                aws_sdk_bedrock::config::Builder::from(&config)
                    .retry_config(once.clone())
                    .timeout_config(t.bedrock.one_attempt())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config)
                    .retry_config(once)
                    .timeout_config(t.sts.one_attempt())
                    .build(),
            ),
            metrics: parts.metrics.clone(),
            limits: parts.limits.clone(),
            in_flight: parts.in_flight.clone(),
            timeouts: t,
            policy,
            budget: Arc::default(),
        }
    }

    /// The pause before a refresh tries a failed listing or batch again, whole: a few
    /// initial backoffs, so that a burst of throttling has passed.
    pub fn round_pause(&self) -> Duration {
        self.policy.initial_backoff * 4
    }

    /// Runs `units` through `run`, then runs the units that failed with a retryable
    /// error again, whole, in up to [`retry::ROUNDS`] more rounds: each after a pause,
    /// each spending a token of the retry budget. `run` answers every unit it is given,
    /// in any order.
    pub async fn in_rounds<U, T, F, Fut>(&self, units: Vec<U>, mut run: F) -> Vec<(U, Result<T, AwsError>)>
    where
        F: FnMut(Vec<U>) -> Fut,
        Fut: Future<Output = Vec<(U, Result<T, AwsError>)>>,
    {
        let mut results = run(units).await;
        for _ in 0..retry::ROUNDS {
            let (again, done): (Vec<_>, Vec<_>) =
                results.into_iter().partition(|(_, r)| r.as_ref().is_err_and(AwsError::is_retryable));
            results = done;
            if again.is_empty() || !self.budget.try_spend() {
                results.extend(again);
                break;
            }
            tokio::time::sleep(self.round_pause()).await;
            results.extend(run(again.into_iter().map(|(unit, _)| unit).collect()).await);
        }
        results
    }

    /// [`TargetAws::in_rounds`] for one call.
    pub async fn call_in_rounds<T, F, Fut>(&self, mut call: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let mut results = self
            .in_rounds(vec![()], |_| {
                let attempt = call();
                async move { vec![((), attempt.await)] }
            })
            .await;
        results.pop().expect("in_rounds answers every unit it is given").1
    }

    fn meter<E>(&self, service: &'static str, operation: &'static str) -> Meter<E> {
        Meter { metrics: self.metrics.clone(), labels: self.labels.clone(), service, operation, _error: PhantomData }
    }

    /// Runs one idempotent call: every attempt waits for the operation's rate limiter
    /// and is counted; a retryable failure is retried after a jittered backoff while
    /// attempts, the budget and the call's time bound last. `send` gets the meter to
    /// attach and sends one attempt.
    async fn call<T, E, F, Fut>(
        &self,
        service: &'static str,
        op: &'static str,
        bound: Bound,
        mut send: F,
    ) -> Result<T, AwsError>
    where
        F: FnMut(Meter<E>) -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let started = tokio::time::Instant::now();
        let limiter = self.limiter(op);
        let mut attempt = 1;
        loop {
            // The waits for the rate limiter and for a slot in flight count against the
            // call's bound too.
            let attempt_future = async {
                if let Some(l) = &limiter {
                    l.acquire().await;
                }
                let _permit = self.in_flight.acquire().await;
                send(self.meter(service, op)).await
            };
            let left = bound.operation.saturating_sub(started.elapsed());
            let result = match tokio::time::timeout(left, attempt_future).await {
                Ok(r) => r.map_err(|e| AwsError::from_sdk(op, e)),
                Err(_) => Err(AwsError::Timeout {
                    operation: op,
                    message: format!(
                        "the call did not complete within its bound of {:?} (waiting for AWS or for the rate limit)",
                        bound.operation
                    ),
                }),
            };
            let error = match result {
                Ok(v) => {
                    self.budget.succeeded();
                    return Ok(v);
                }
                Err(e) => e,
            };
            let wait = self.policy.backoff(attempt, fastrand::f64());
            let out_of_time = started.elapsed() + wait >= bound.operation;
            if !error.is_retryable() || attempt >= self.policy.max_attempts || out_of_time || !self.budget.try_spend() {
                return Err(error);
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Runs a call that must never be repeated: one attempt, through its rate limiter.
    async fn call_once<T, E, Fut>(
        &self,
        service: &'static str,
        op: &'static str,
        bound: Bound,
        send: impl FnOnce(Meter<E>) -> Fut,
    ) -> Result<T, AwsError>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let limiter = self.limiter(op);
        // Waiting for the limiter and a slot in flight is bounded too; the call itself
        // by the SDK's timeouts.
        let waited = tokio::time::timeout(bound.operation, async {
            if let Some(l) = &limiter {
                l.acquire().await;
            }
            self.in_flight.acquire().await
        })
        .await;
        let Ok(_permit) = waited else {
            return Err(AwsError::Timeout {
                operation: op,
                message: format!("the rate limit left no slot within {:?}; nothing was sent", bound.operation),
            });
        };
        send(self.meter(service, op)).await.map_err(|e| AwsError::from_sdk(op, e))
    }

    /// The rate limiter of an operation in this target's account and region.
    fn limiter(&self, op: &'static str) -> Option<Arc<crate::ratelimit::RateLimiter>> {
        self.limits.get(self.labels.account_id().unwrap_or_default(), &self.labels.region, op)
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

/// Loads the SDK configuration from the standard AWS chain. `AWS_MAX_ATTEMPTS` (or
/// the profile's `max_attempts`) sets how many attempts a read gets, default
/// [`RetryPolicy::default`]; the exporter retries itself, so `AWS_RETRY_MODE` does not
/// apply to its calls.
pub async fn load_sdk_config() -> SdkConfig {
    let d = RetryPolicy::default();
    let attempts = std::env::var("AWS_MAX_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(d.max_attempts);
    let policy = RetryPolicy { max_attempts: attempts, ..d };
    aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(policy.to_sdk()).load().await
}

/// How an assumed role's sessions are made.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// What CloudTrail shows as the session.
    pub name: String,
    pub duration: Duration,
}

/// The SDK configuration of a role assumed from `base`'s credentials: credentials from
/// STS `AssumeRole`, cached (in a cache of the account's own) and renewed before they
/// expire, shared by every client made from the result (all regions of an account: one
/// `AssumeRole` per credential lifetime); everything else as in `base`.
pub async fn assume_role(base: &SdkConfig, role_arn: &str, external_id: Option<&str>, session: &Session) -> SdkConfig {
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name(session.name.clone())
        .session_length(session.duration)
        .configure(base);
    if let Some(id) = external_id {
        provider = provider.external_id(id);
    }
    let provider = provider.build().await;
    // An identity cache of its own: the SDK's shared one keeps 64 providers' credentials
    // and evicts the others, so 200 accounts behind one cache assume their roles again
    // and again.
    base.to_builder()
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .credentials_provider(aws_sdk_servicequotas::config::SharedCredentialsProvider::new(provider))
        .build()
}

/// An SDK configuration for a fixed endpoint and static credentials (the demo estate,
/// or a simulated AWS in tests).
pub async fn static_sdk_config(
    endpoint_url: &str,
    access_key_id: &str,
    secret: &str,
    retries: RetryPolicy,
) -> SdkConfig {
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
        .retry_config(retries.to_sdk())
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
    fn throttling_server_errors_and_timeouts_are_retried_and_denials_are_not() {
        let api =
            |code: &str, status| AwsError::Api { operation: "X", code: code.into(), message: String::new(), status };
        assert!(
            AwsError::Throttled { operation: "X", code: "Throttling".into(), message: String::new() }.is_retryable()
        );
        assert!(api("ServiceException", Some(500)).is_retryable());
        assert!(api("ServiceException", Some(500)).is_ambiguous(), "AWS may have acted on it");
        assert!(!api("IllegalArgumentException", Some(400)).is_retryable());
        assert!(AwsError::Timeout { operation: "X", message: String::new() }.is_retryable());
        assert!(
            !AwsError::AccessDenied { operation: "X", code: "AccessDenied".into(), message: String::new() }
                .is_retryable()
        );
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
