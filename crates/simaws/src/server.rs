//! The HTTP server: reads each request, works out which API and account it is for from
//! its SigV4 credential scope, consults the faults, records the call and hands the
//! request to the protocol handler.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::calls::{Api, Call};
use crate::estate::Account;
use crate::faults::{self, CallContext, FaultKind};
use crate::{Shared, bedrock, cloudwatch, lock, organizations, servicequotas, sts};

/// Request bodies above this size are refused; the SDK never sends anything close.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// A request read in full.
#[derive(Debug)]
pub(crate) struct RawRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An error as an API reports it, before the protocol gives it its wire shape.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.into(), message: message.into() }
    }
}

/// What a handler sees of the request's caller.
#[derive(Debug)]
pub(crate) struct HandlerContext<'a> {
    pub account: &'a Account,
    /// The whole estate (roles of other accounts, the organization).
    pub estate: &'a crate::Estate,
    pub region: &'a str,
    pub now: f64,
    pub request_id: &'a str,
    /// Every quota increase request filed so far, in every account.
    pub increases: &'a std::sync::Mutex<Vec<crate::increases::IncreaseRequest>>,
    /// The role the caller's credentials belong to, when STS issued them.
    pub principal: Option<&'a str>,
    /// Credentials issued by STS `AssumeRole`.
    pub sessions: &'a std::sync::Mutex<std::collections::HashMap<String, crate::Session>>,
}

/// One wire protocol.
pub(crate) trait Protocol {
    const API: Api;
    type Parsed;

    /// The operation name and its parsed input.
    fn parse(req: &RawRequest) -> Result<(String, Self::Parsed), ApiError>;

    /// The Service Quotas `ServiceCode` the request is about, if any (for faults and counters).
    fn service_code(_parsed: &Self::Parsed) -> Option<String> {
        None
    }

    /// How many metric queries the request carries (CloudWatch only).
    fn metric_queries(_parsed: &Self::Parsed) -> usize {
        0
    }

    /// The API's own error for an injected fault.
    fn fault(kind: &FaultKind) -> ApiError;

    /// The API's error for an access key it does not know.
    fn unrecognized_client() -> ApiError;
    /// The API's error for temporary credentials past their expiration.
    fn expired_token() -> ApiError {
        ApiError::new(400, "ExpiredTokenException", "The security token included in the request is expired")
    }

    fn handle(ctx: &HandlerContext<'_>, operation: &str, parsed: Self::Parsed) -> Result<HttpResponse, ApiError>;

    /// The wire shape of an error.
    fn render(err: &ApiError, request_id: &str) -> HttpResponse;
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    // A client that hangs up mid-request is not the simulator's problem.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        }
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "request body unreadable or too large")),
    };
    let raw = RawRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
    };
    if raw.method == Method::GET && raw.path == INCREASES_PATH {
        return Ok(increase_listing(&shared));
    }
    let scope = credential_scope(&raw);
    let api = scope.as_ref().and_then(|s| api_of_signing_name(&s.service)).or_else(|| guess_api(&raw));
    let response = match api {
        Some(Api::ServiceQuotas) => run::<servicequotas::ServiceQuotas>(&shared, raw, scope).await,
        Some(Api::CloudWatch) => run::<cloudwatch::CloudWatch>(&shared, raw, scope).await,
        Some(Api::Sts) => run::<sts::Sts>(&shared, raw, scope).await,
        Some(Api::Bedrock) => run::<bedrock::Bedrock>(&shared, raw, scope).await,
        Some(Api::Organizations) => run::<organizations::Organizations>(&shared, raw, scope).await,
        None => plain(StatusCode::NOT_FOUND, "the simulator does not serve this API"),
    };
    Ok(response)
}

/// Not an AWS API: every increase request filed with the simulator, for tests and the
/// demo to look at (`GET`, JSON).
pub const INCREASES_PATH: &str = "/_simaws/increase-requests";

fn increase_listing(shared: &Shared) -> HttpResponse {
    let now = shared.clock.now();
    let all: Vec<serde_json::Value> = lock(&shared.increases)
        .iter()
        .map(|r| {
            let mut v = r.to_json(now);
            v["AccountId"] = serde_json::json!(r.account_id);
            v["Region"] = serde_json::json!(r.region);
            v
        })
        .collect();
    respond(200, "application/json", serde_json::Value::Array(all).to_string(), &[])
}

/// The parts of a SigV4 `Credential=` scope the simulator uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scope {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, ...`.
pub(crate) fn credential_scope(req: &RawRequest) -> Option<Scope> {
    let auth = req.header("authorization")?;
    let credential = auth.split([' ', ',']).find_map(|part| part.strip_prefix("Credential="))?;
    let mut fields = credential.split('/');
    let access_key_id = fields.next()?.to_owned();
    let _date = fields.next()?;
    let region = fields.next()?.to_owned();
    let service = fields.next()?.to_owned();
    Some(Scope { access_key_id, region, service })
}

fn api_of_signing_name(name: &str) -> Option<Api> {
    match name {
        "servicequotas" => Some(Api::ServiceQuotas),
        "monitoring" => Some(Api::CloudWatch),
        "sts" => Some(Api::Sts),
        "bedrock" => Some(Api::Bedrock),
        "organizations" => Some(Api::Organizations),
        _ => None,
    }
}

/// Without a signature, the request's shape still tells the API apart.
fn guess_api(req: &RawRequest) -> Option<Api> {
    if req.header("x-amz-target").is_some_and(|t| t.starts_with("ServiceQuotasV20190624.")) {
        Some(Api::ServiceQuotas)
    } else if req.header("x-amz-target").is_some_and(|t| t.starts_with("AWSOrganizationsV20161128.")) {
        Some(Api::Organizations)
    } else if req.path.starts_with("/service/GraniteServiceVersion20100801/") {
        Some(Api::CloudWatch)
    } else if req.header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        Some(Api::Sts)
    } else {
        None
    }
}

async fn run<P: Protocol>(shared: &Shared, raw: RawRequest, scope: Option<Scope>) -> HttpResponse {
    let request_id = format!(
        "sim-{:08x}-0000-4000-8000-{:012x}",
        std::process::id(),
        shared.request_counter.fetch_add(1, Ordering::Relaxed)
    );
    let (operation, parsed) = match P::parse(&raw) {
        Ok(x) => x,
        Err(e) => return P::render(&e, &request_id),
    };
    let Some(scope) = scope else {
        let e = ApiError::new(403, "MissingAuthenticationTokenException", "Missing Authentication Token");
        return P::render(&e, &request_id);
    };
    let session = lock(&shared.sessions).get(&scope.access_key_id).cloned();
    let account_id = match &session {
        Some(s) => Some(s.account_id.clone()),
        None => {
            let estate = shared.estate.read().unwrap_or_else(|p| p.into_inner());
            estate.account_by_key(&scope.access_key_id).map(|a| a.id.clone())
        }
    };
    if session.as_ref().is_some_and(|s| shared.clock.now() >= s.expires_at) {
        let call = Call {
            api: P::API,
            operation,
            region: scope.region.clone(),
            account_id: account_id.unwrap_or_default(),
            service_code: P::service_code(&parsed),
            metric_queries: 0,
            failed: true,
            principal: session.map(|s| s.role_arn),
            at: shared.clock.now(),
        };
        lock(&shared.calls).push(call);
        return P::render(&P::expired_token(), &request_id);
    }
    let principal = session.map(|s| s.role_arn);
    let service_code = P::service_code(&parsed);
    let mut call = Call {
        api: P::API,
        operation: operation.clone(),
        region: scope.region.clone(),
        account_id: account_id.clone().unwrap_or_default(),
        service_code: service_code.clone(),
        metric_queries: P::metric_queries(&parsed),
        failed: false,
        principal: principal.clone(),
        at: shared.clock.now(),
    };
    let Some(account_id) = account_id else {
        call.failed = true;
        lock(&shared.calls).push(call);
        return P::render(&P::unrecognized_client(), &request_id);
    };
    let verdict = {
        let ctx = CallContext {
            operation: &operation,
            region: &scope.region,
            account_id: &account_id,
            service_code: service_code.as_deref(),
        };
        faults::judge(&mut lock(&shared.faults), &ctx)
    };
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let fault = |kind: &FaultKind| match kind {
        FaultKind::Error { status, code } => ApiError::new(*status, code, "an error the simulator was told to answer"),
        other => P::fault(other),
    };
    let response = match &verdict.error {
        Some(kind) if !verdict.committed => P::render(&fault(kind), &request_id),
        _ => {
            let estate = shared.estate.read().unwrap_or_else(|p| p.into_inner());
            match estate.accounts.iter().find(|a| a.id == account_id) {
                Some(account) => {
                    let ctx = HandlerContext {
                        account,
                        estate: &estate,
                        region: &scope.region,
                        now: shared.clock.now(),
                        request_id: &request_id,
                        increases: &shared.increases,
                        principal: principal.as_deref(),
                        sessions: &shared.sessions,
                    };
                    let answer = P::handle(&ctx, &operation, parsed).unwrap_or_else(|e| P::render(&e, &request_id));
                    // Carried out; the caller only hears of an error.
                    match &verdict.error {
                        Some(kind) => P::render(&fault(kind), &request_id),
                        None => answer,
                    }
                }
                None => P::render(&P::unrecognized_client(), &request_id),
            }
        }
    };
    call.failed = response.status().as_u16() >= 400;
    lock(&shared.calls).push(call);
    response
}

/// A response with a body and content type.
pub(crate) fn respond(
    status: u16,
    content_type: &str,
    body: impl Into<Bytes>,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut builder = Response::builder().status(status).header("content-type", content_type);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "invalid response header"))
}

fn plain(status: StatusCode, message: &str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from(message.to_owned())));
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_scope_names_key_region_and_service() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDSIM/20261122/eu-west-1/servicequotas/aws4_request, SignedHeaders=host, Signature=abc"
                .parse()
                .expect("valid header"),
        );
        let req =
            RawRequest { method: Method::POST, path: "/".into(), query: String::new(), headers, body: Bytes::new() };
        assert_eq!(
            credential_scope(&req),
            Some(Scope {
                access_key_id: "AKIDSIM".into(),
                region: "eu-west-1".into(),
                service: "servicequotas".into()
            })
        );
    }
}
