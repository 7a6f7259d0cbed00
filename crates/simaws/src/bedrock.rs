//! The Bedrock control plane over REST JSON: `GET /foundation-models` (not paginated),
//! `GET /inference-profiles` and `GET /provisioned-model-throughputs` (paginated with
//! `maxResults` and `nextToken`). Errors carry `x-amzn-ErrorType` and a JSON `message`.

use serde_json::{Map, Value, json};

use crate::calls::Api;
use crate::faults::FaultKind;
use crate::paging;
use crate::server::{ApiError, HandlerContext, HttpResponse, Protocol, RawRequest, respond};
use crate::sts::percent_decode;

/// A fixed creation time for everything the simulator lists.
const CREATED: &str = "2025-06-01T00:00:00Z";

pub(crate) struct Bedrock;

/// A request's query parameters.
pub(crate) type Query = Vec<(String, String)>;

fn param<'a>(query: &'a Query, name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl Protocol for Bedrock {
    const API: Api = Api::Bedrock;
    type Parsed = Query;

    fn parse(req: &RawRequest) -> Result<(String, Query), ApiError> {
        if req.method != http::Method::GET {
            return Err(ApiError::new(405, "ValidationException", format!("{} is not served", req.method)));
        }
        let operation = match req.path.as_str() {
            "/foundation-models" => "ListFoundationModels",
            "/inference-profiles" => "ListInferenceProfiles",
            "/provisioned-model-throughputs" => "ListProvisionedModelThroughputs",
            other => return Err(ApiError::new(404, "ResourceNotFoundException", format!("no resource at {other}"))),
        };
        let query = req
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Ok((operation.to_owned(), query))
    }

    fn fault(kind: &FaultKind) -> ApiError {
        match kind {
            FaultKind::Throttle => {
                ApiError::new(429, "ThrottlingException", "Too many requests, please wait before trying again.")
            }
            FaultKind::ServerError => ApiError::new(500, "InternalServerException", "Internal server error"),
            FaultKind::AccessDenied | FaultKind::Latency(_) | FaultKind::Error { .. } => ApiError::new(
                403,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            ),
        }
    }

    fn unrecognized_client() -> ApiError {
        ApiError::new(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    }

    fn handle(ctx: &HandlerContext<'_>, operation: &str, query: Query) -> Result<HttpResponse, ApiError> {
        let bedrock = ctx.account.region(ctx.region).map(|r| r.bedrock.clone()).unwrap_or_default();
        let region = ctx.region;
        let output = match operation {
            "ListFoundationModels" => {
                let provider = param(&query, "byProvider");
                let summaries: Vec<Value> = bedrock
                    .models
                    .iter()
                    .filter(|m| provider.is_none_or(|p| p.eq_ignore_ascii_case(&m.provider)))
                    .map(|m| {
                        json!({
                            "modelArn": m.arn(region),
                            "modelId": m.id,
                            "modelName": m.name,
                            "providerName": m.provider,
                            "inputModalities": ["TEXT"],
                            "outputModalities": [m.output_modality],
                            "responseStreamingSupported": m.output_modality == "TEXT",
                            "customizationsSupported": [],
                            "inferenceTypesSupported": ["ON_DEMAND"],
                            "modelLifecycle": { "status": "ACTIVE" },
                        })
                    })
                    .collect();
                json!({ "modelSummaries": summaries })
            }
            "ListInferenceProfiles" => {
                let kind = param(&query, "type");
                if let Some(k) = kind
                    && k != "SYSTEM_DEFINED"
                    && k != "APPLICATION"
                {
                    return Err(ApiError::new(
                        400,
                        "ValidationException",
                        format!("type must be SYSTEM_DEFINED or APPLICATION, got {k}"),
                    ));
                }
                let items: Vec<Value> = bedrock
                    .inference_profiles
                    .iter()
                    .filter(|p| kind.is_none_or(|k| k == p.kind))
                    .map(|p| {
                        json!({
                            "inferenceProfileName": p.name,
                            "inferenceProfileArn": p.arn,
                            "inferenceProfileId": p.id,
                            "models": p.model_arns.iter().map(|a| json!({ "modelArn": a })).collect::<Vec<_>>(),
                            "status": "ACTIVE",
                            "type": p.kind,
                            "createdAt": CREATED,
                            "updatedAt": CREATED,
                        })
                    })
                    .collect();
                paged("inferenceProfileSummaries", items, &query)?
            }
            "ListProvisionedModelThroughputs" => {
                let items: Vec<Value> = bedrock
                    .provisioned
                    .iter()
                    .map(|p| {
                        let arn = format!("arn:aws:bedrock:{region}:{}:provisioned-model/{}", ctx.account.id, p.name);
                        let model_arn = format!("arn:aws:bedrock:{region}::foundation-model/{}", p.model_id);
                        json!({
                            "provisionedModelName": p.name,
                            "provisionedModelArn": arn,
                            "modelArn": model_arn,
                            "desiredModelArn": model_arn,
                            "foundationModelArn": model_arn,
                            "modelUnits": p.model_units,
                            "desiredModelUnits": p.model_units,
                            "status": p.status,
                            "commitmentDuration": "OneMonth",
                            "creationTime": CREATED,
                            "lastModifiedTime": CREATED,
                        })
                    })
                    .collect();
                paged("provisionedModelSummaries", items, &query)?
            }
            other => {
                return Err(ApiError::new(
                    400,
                    "ValidationException",
                    format!("the simulator does not implement {other}"),
                ));
            }
        };
        Ok(respond(200, "application/json", output.to_string(), &[("x-amzn-requestid", ctx.request_id)]))
    }

    fn render(err: &ApiError, request_id: &str) -> HttpResponse {
        let body = json!({ "message": err.message });
        respond(
            err.status,
            "application/json",
            body.to_string(),
            &[("x-amzn-errortype", &err.code), ("x-amzn-requestid", request_id)],
        )
    }
}

fn paged(key: &str, items: Vec<Value>, query: &Query) -> Result<Value, ApiError> {
    let max = match param(query, "maxResults") {
        None => 1000,
        Some(v) => match v.parse::<usize>() {
            Ok(n @ 1..=1000) => n,
            _ => {
                return Err(ApiError::new(
                    400,
                    "ValidationException",
                    format!("maxResults must be 1 to 1000, got {v}"),
                ));
            }
        },
    };
    let page = paging::page(param(query, "nextToken"), items.len(), max)
        .map_err(|_| ApiError::new(400, "ValidationException", "The nextToken is invalid"))?;
    let mut out = Map::new();
    out.insert(key.into(), Value::Array(items[page.range].to_vec()));
    if let Some(t) = page.next_token {
        out.insert("nextToken".into(), Value::String(t));
    }
    Ok(Value::Object(out))
}
