//! What the AWS JSON 1.1 APIs (Service Quotas, Organizations) share: the operation in
//! `X-Amz-Target`, a JSON object as the body, and `MaxResults`/`NextToken` paging.

use serde_json::{Map, Value, json};

use crate::paging;
use crate::server::{ApiError, RawRequest};

pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The operation named after `target_prefix` in `X-Amz-Target`, and the body (an empty
/// body is an empty object).
pub(crate) fn parse(req: &RawRequest, target_prefix: &str) -> Result<(String, Value), ApiError> {
    let target = req.header("x-amz-target").unwrap_or_default();
    let operation = target
        .strip_prefix(target_prefix)
        .ok_or_else(|| ApiError::new(400, "UnknownOperationException", format!("unknown target {target:?}")))?;
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::new(400, "SerializationException", format!("malformed JSON body: {e}")))?
    };
    if !body.is_object() {
        return Err(ApiError::new(400, "SerializationException", "the body must be a JSON object"));
    }
    Ok((operation.to_owned(), body))
}

/// How an API pages: its largest (and default) `MaxResults`, and its errors for a bad
/// `MaxResults` and a `NextToken` it did not issue.
pub(crate) struct Paging {
    pub max: usize,
    pub bad_max: fn(String) -> ApiError,
    pub bad_token: fn() -> ApiError,
}

/// Pages `items` and wraps them under `key` with the `NextToken`, if any.
pub(crate) fn paged(paging: &Paging, key: &str, items: Vec<Value>, input: &Value) -> Result<Value, ApiError> {
    let max = match input.get("MaxResults") {
        None | Some(Value::Null) => paging.max,
        Some(v) => match v.as_u64().map(|n| n as usize) {
            Some(n) if (1..=paging.max).contains(&n) => n,
            _ => return Err((paging.bad_max)(format!("MaxResults must be between 1 and {}, got {v}", paging.max))),
        },
    };
    let token = input.get("NextToken").and_then(Value::as_str);
    let page = paging::page(token, items.len(), max).map_err(|_| (paging.bad_token)())?;
    let mut out = Map::new();
    out.insert(key.into(), Value::Array(items[page.range].to_vec()));
    if let Some(t) = page.next_token {
        out.insert("NextToken".into(), Value::String(t));
    }
    Ok(Value::Object(out))
}
