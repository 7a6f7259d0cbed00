//! Service Quotas over AWS JSON 1.1: `POST /` with `X-Amz-Target:
//! ServiceQuotasV20190624.<Operation>`, JSON bodies, errors as `__type` and `message`.

use serde_json::{Map, Value, json};

use crate::calls::Api;
use crate::estate::{Quota, Service};
use crate::faults::FaultKind;
use crate::increases;
use crate::json11::{self, CONTENT_TYPE};
use crate::server::{ApiError, HandlerContext, HttpResponse, Protocol, RawRequest, respond};

const TARGET_PREFIX: &str = "ServiceQuotasV20190624.";

pub(crate) struct ServiceQuotas;

impl Protocol for ServiceQuotas {
    const API: Api = Api::ServiceQuotas;
    type Parsed = Value;

    fn parse(req: &RawRequest) -> Result<(String, Value), ApiError> {
        json11::parse(req, TARGET_PREFIX)
    }

    fn service_code(parsed: &Value) -> Option<String> {
        parsed.get("ServiceCode").and_then(Value::as_str).map(str::to_owned)
    }

    fn fault(kind: &FaultKind) -> ApiError {
        match kind {
            FaultKind::Throttle => {
                ApiError::new(400, "TooManyRequestsException", "Due to throttling, the request was denied.")
            }
            FaultKind::ServerError => ApiError::new(500, "ServiceException", "Something went wrong."),
            FaultKind::AccessDenied | FaultKind::Latency(_) | FaultKind::Error { .. } => ApiError::new(
                400,
                "AccessDeniedException",
                "You do not have sufficient permission to perform this action.",
            ),
        }
    }

    fn unrecognized_client() -> ApiError {
        ApiError::new(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    }

    fn handle(ctx: &HandlerContext<'_>, operation: &str, input: Value) -> Result<HttpResponse, ApiError> {
        let output = match operation {
            "ListServices" => list_services(ctx, &input)?,
            "ListServiceQuotas" => list_service_quotas(ctx, &input)?,
            "ListAWSDefaultServiceQuotas" => list_default_quotas(ctx, &input)?,
            "GetServiceQuota" => get_service_quota(ctx, &input)?,
            "GetAWSDefaultServiceQuota" => get_default_quota(ctx, &input)?,
            "RequestServiceQuotaIncrease" => {
                let service = service(ctx, &input)?;
                increases::request(ctx, service, find_quota(service, &input)?, &input)?
            }
            "GetRequestedServiceQuotaChange" => increases::get(ctx, &input)?,
            "ListRequestedServiceQuotaChangeHistory" => {
                paged("RequestedQuotas", increases::history(ctx, &input, false)?, &input)?
            }
            "ListRequestedServiceQuotaChangeHistoryByQuota" => {
                paged("RequestedQuotas", increases::history(ctx, &input, true)?, &input)?
            }
            "GetAutoManagementConfiguration" => increases::auto_management(ctx),
            other => {
                return Err(ApiError::new(
                    400,
                    "UnknownOperationException",
                    format!("the simulator does not implement {other}"),
                ));
            }
        };
        Ok(respond(200, CONTENT_TYPE, output.to_string(), &[("x-amzn-requestid", ctx.request_id)]))
    }

    fn render(err: &ApiError, request_id: &str) -> HttpResponse {
        let body = json!({ "__type": err.code, "message": err.message });
        respond(err.status, CONTENT_TYPE, body.to_string(), &[("x-amzn-requestid", request_id)])
    }
}

fn illegal(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "IllegalArgumentException", message)
}

/// Service Quotas pages by 100 at most.
const PAGING: json11::Paging = json11::Paging {
    max: 100,
    bad_max: illegal,
    bad_token: || ApiError::new(400, "InvalidPaginationTokenException", "Invalid input was provided."),
};

/// Pages `items` and wraps them under `key` with the `NextToken`, if any.
fn paged(key: &str, items: Vec<Value>, input: &Value) -> Result<Value, ApiError> {
    json11::paged(&PAGING, key, items, input)
}

fn services<'a>(ctx: &'a HandlerContext<'_>) -> &'a [Service] {
    ctx.account.region(ctx.region).map(|r| r.services.as_slice()).unwrap_or_default()
}

fn service<'a>(ctx: &'a HandlerContext<'_>, input: &Value) -> Result<&'a Service, ApiError> {
    let code = input
        .get("ServiceCode")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::new(400, "ValidationException", "ServiceCode is required"))?;
    services(ctx)
        .iter()
        .find(|s| s.code == code)
        .ok_or_else(|| ApiError::new(400, "NoSuchResourceException", "The specified resource does not exist."))
}

fn list_services(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let items = services(ctx).iter().map(|s| json!({ "ServiceCode": s.code, "ServiceName": s.name })).collect();
    paged("Services", items, input)
}

/// Which applied values a `ListServiceQuotas` call asks for.
fn applied_level(input: &Value) -> Result<(bool, bool), ApiError> {
    match input.get("QuotaAppliedAtLevel").and_then(Value::as_str).unwrap_or("ACCOUNT") {
        "ACCOUNT" => Ok((true, false)),
        "RESOURCE" => Ok((false, true)),
        "ALL" => Ok((true, true)),
        other => Err(illegal(format!("QuotaAppliedAtLevel must be ACCOUNT, RESOURCE or ALL, got {other}"))),
    }
}

fn list_service_quotas(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let service = service(ctx, input)?;
    let (account_level, resource_level) = applied_level(input)?;
    let only = input.get("QuotaCode").and_then(Value::as_str);
    let mut items = Vec::new();
    for q in service.quotas.iter().filter(|q| only.is_none_or(|c| c == q.code)) {
        if account_level && let Some(v) = increases::applied_value(ctx, service, q) {
            items.push(quota_json(ctx, service, q, v, true, None));
        }
        if resource_level {
            for r in &q.resource_values {
                let context = json!({
                    "ContextScope": "RESOURCE",
                    "ContextScopeType": r.scope_type,
                    "ContextId": r.context_id,
                });
                items.push(quota_json(ctx, service, q, r.value, true, Some(context)));
            }
        }
    }
    paged("Quotas", items, input)
}

fn list_default_quotas(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let service = service(ctx, input)?;
    let items = service
        .quotas
        .iter()
        .filter_map(|q| q.default_value.map(|v| quota_json(ctx, service, q, v, false, None)))
        .collect();
    paged("Quotas", items, input)
}

fn find_quota<'a>(service: &'a Service, input: &Value) -> Result<&'a Quota, ApiError> {
    let code = input
        .get("QuotaCode")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::new(400, "ValidationException", "QuotaCode is required"))?;
    service
        .quotas
        .iter()
        .find(|q| q.code == code)
        .ok_or_else(|| ApiError::new(400, "NoSuchResourceException", "The specified resource does not exist."))
}

fn get_service_quota(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let service = service(ctx, input)?;
    let q = find_quota(service, input)?;
    let value = increases::applied_value(ctx, service, q)
        .or(q.default_value)
        .ok_or_else(|| ApiError::new(400, "NoSuchResourceException", "The specified resource does not exist."))?;
    Ok(json!({ "Quota": quota_json(ctx, service, q, value, true, None) }))
}

fn get_default_quota(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let service = service(ctx, input)?;
    let q = find_quota(service, input)?;
    let value = q
        .default_value
        .ok_or_else(|| ApiError::new(400, "NoSuchResourceException", "The specified resource does not exist."))?;
    Ok(json!({ "Quota": quota_json(ctx, service, q, value, false, None) }))
}

/// A `ServiceQuota` structure. Applied quotas carry the account in their ARN; defaults do not.
fn quota_json(
    ctx: &HandlerContext<'_>,
    service: &Service,
    q: &Quota,
    value: f64,
    applied: bool,
    context: Option<Value>,
) -> Value {
    let account = if applied { ctx.account.id.as_str() } else { "" };
    let mut m = Map::new();
    m.insert("ServiceCode".into(), json!(service.code));
    m.insert("ServiceName".into(), json!(service.name));
    m.insert(
        "QuotaArn".into(),
        json!(format!("arn:aws:servicequotas:{}:{}:{}/{}", ctx.region, account, service.code, q.code)),
    );
    m.insert("QuotaCode".into(), json!(q.code));
    m.insert("QuotaName".into(), json!(q.name));
    m.insert("Value".into(), json!(value));
    m.insert("Unit".into(), json!(q.unit));
    m.insert("Adjustable".into(), json!(q.adjustable));
    m.insert("GlobalQuota".into(), json!(q.global));
    if let Some(u) = &q.usage_metric {
        m.insert(
            "UsageMetric".into(),
            json!({
                "MetricNamespace": u.namespace,
                "MetricName": u.name,
                "MetricDimensions": u.dimensions,
                "MetricStatisticRecommendation": u.statistic,
            }),
        );
    }
    if let Some(p) = &q.period {
        m.insert("Period".into(), json!({ "PeriodValue": p.value, "PeriodUnit": p.unit }));
    }
    let level = if context.is_some() { "RESOURCE" } else { "ACCOUNT" };
    m.insert("QuotaAppliedAtLevel".into(), json!(level));
    if let Some(c) = context {
        m.insert("QuotaContext".into(), c);
    }
    if !q.description.is_empty() {
        m.insert("Description".into(), json!(q.description));
    }
    Value::Object(m)
}
