//! The receiver's HTTP endpoints:
//!
//! * `POST /alertmanager/webhook`: Alertmanager's notifications (payload version 4);
//! * `GET /increase-requests[?open=true][&limit=N]`: the ledger, newest first (JSON);
//! * `GET /increase-requests/ID`: one entry;
//! * `POST /increase-requests/ID/approve` and `.../reject`: approval mode.
//!
//! Every endpoint demands the configured credentials (bearer token or basic auth,
//! compared in constant time); without credentials (dry-run only) they are open.
//! Answers: 401 wrong or missing credentials, 400 a malformed body (saying what was
//! wrong), 413 a body above [`MAX_BODY`], 200 with a JSON outcome per alert, and 503
//! when something worth a retry failed (Alertmanager retries 5xx, never 4xx).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::ledger::{Entry, Listing};
use super::receiver::{ApprovalError, Receiver};
use super::settings::Credentials;

/// The largest webhook body taken. Alertmanager sends about 1 KiB per alert.
pub const MAX_BODY: usize = 1024 * 1024;

/// Whether a path is the receiver's.
pub fn is_receiver_path(path: &str) -> bool {
    path == "/alertmanager/webhook" || path == "/increase-requests" || path.starts_with("/increase-requests/")
}

type Reply = Response<Bytes>;

fn reply(status: StatusCode, body: serde_json::Value) -> Reply {
    let mut r = Response::new(Bytes::from(format!("{body}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    reply(status, json!({ "error": message.into() }))
}

/// Answers one request to a receiver path; `receiver` is `None` when it is off.
pub async fn handle(receiver: Option<&Receiver>, req: Request<Incoming>) -> Reply {
    let Some(receiver) = receiver else {
        return error(
            StatusCode::NOT_FOUND,
            "the increase receiver is off; set QUOTA_EXPORTER_INCREASE_RECEIVER=true to turn it on",
        );
    };
    if let Some(credentials) = &receiver.config().credentials
        && !authorized(req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()), credentials)
    {
        let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong credentials");
        let challenge = match credentials {
            Credentials::Bearer(_) => "Bearer realm=\"aws-quota-exporter\"",
            Credentials::Basic { .. } => "Basic realm=\"aws-quota-exporter\"",
        };
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(challenge));
        return r;
    }
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["alertmanager", "webhook"]) => webhook(receiver, req).await,
        (&Method::GET, ["increase-requests"]) => list(receiver, req.uri().query().unwrap_or_default()).await,
        (&Method::GET, ["increase-requests", id]) => match receiver.ledger().get(id).await {
            Ok(Some(e)) => reply(StatusCode::OK, json!(e)),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("no entry {id}")),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        (&Method::POST, ["increase-requests", id, "approve"]) => match receiver.approve(id).await {
            Ok(outcome) => reply(StatusCode::OK, json!(outcome)),
            Err(e) => approval_error(e),
        },
        (&Method::POST, ["increase-requests", id, "reject"]) => match receiver.reject(id).await {
            Ok(entry) => reply(StatusCode::OK, json!(entry)),
            Err(e) => approval_error(e),
        },
        (_, ["alertmanager", "webhook"]) => method_not_allowed(&method, &path, "POST"),
        (_, ["increase-requests"] | ["increase-requests", _]) => method_not_allowed(&method, &path, "GET"),
        (_, ["increase-requests", _, "approve" | "reject"]) => method_not_allowed(&method, &path, "POST"),
        _ => error(StatusCode::NOT_FOUND, format!("not found: {path}")),
    }
}

fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> Reply {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, format!("method {method} not allowed on {path}; use {allow}"));
    r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
    r
}

fn approval_error(e: ApprovalError) -> Reply {
    let status = match &e {
        ApprovalError::NotFound(_) => StatusCode::NOT_FOUND,
        ApprovalError::NotAwaiting { .. } => StatusCode::CONFLICT,
        ApprovalError::Ledger(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

async fn webhook(receiver: &Receiver, req: Request<Incoming>) -> Reply {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return too_large();
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("the body could not be read: {e}")),
    };
    let payload = match alertmanager_webhook::parse(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not an Alertmanager webhook payload: {e}")),
    };
    let outcomes = receiver.handle(&payload).await;
    let status = if outcomes.iter().any(|o| o.transient) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    reply(status, json!({ "groupKey": payload.group_key, "outcomes": outcomes }))
}

fn too_large() -> Reply {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {MAX_BODY} bytes; lower max_alerts in the webhook configuration"),
    )
}

async fn list(receiver: &Receiver, query: &str) -> Reply {
    let mut which = Listing::All;
    let mut limit = 100usize;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("open", "true") => which = Listing::Open,
            ("open", "false") => which = Listing::All,
            ("limit", n) => match n.parse::<usize>() {
                Ok(n @ 1..=10_000) => limit = n,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("limit={n:?}: expected a whole number from 1 to 10000"),
                    );
                }
            },
            (k, _) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {k:?}; expected open=true|false and limit=N"),
                );
            }
        }
    }
    match receiver.ledger().list(which, limit).await {
        Ok(entries) => {
            let entries: Vec<&Entry> = entries.iter().collect();
            reply(StatusCode::OK, json!({ "entries": entries }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Whether an `Authorization` header carries the configured credentials. The secret
/// is compared in constant time.
pub fn authorized(header: Option<&str>, credentials: &Credentials) -> bool {
    let Some(header) = header else { return false };
    let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
    match credentials {
        Credentials::Bearer(token) => {
            scheme.eq_ignore_ascii_case("bearer") && same(value.trim().as_bytes(), token.0.as_bytes())
        }
        Credentials::Basic { username, password } => {
            if !scheme.eq_ignore_ascii_case("basic") {
                return false;
            }
            let Some(decoded) = base64_decode(value.trim()) else { return false };
            let expected = format!("{username}:{}", password.0);
            same(&decoded, expected.as_bytes())
        }
    }
}

/// Constant-time equality: the time depends on the longer length only.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Standard base64 with padding, as HTTP basic auth uses.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (i, chunk) in s.chunks(4).enumerate() {
        let last = i == s.len() / 4 - 1;
        let mut n = 0u32;
        let mut pad = 0;
        for (j, &c) in chunk.iter().enumerate() {
            let v = if c == b'=' && last && j >= 2 {
                pad += 1;
                0
            } else if pad > 0 {
                return None;
            } else {
                ALPHABET.iter().position(|&a| a == c)? as u32
            };
            n = (n << 6) | v;
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::increase::settings::Secret;

    #[test]
    fn bearer_tokens_and_basic_auth_are_checked_exactly() {
        let bearer = Credentials::Bearer(Secret("s3cret-token".into()));
        assert!(authorized(Some("Bearer s3cret-token"), &bearer));
        assert!(authorized(Some("bearer s3cret-token"), &bearer), "the scheme is case-insensitive");
        assert!(!authorized(Some("Bearer s3cret-toke"), &bearer));
        assert!(!authorized(Some("Bearer s3cret-token2"), &bearer));
        assert!(!authorized(Some("Basic czNjcmV0LXRva2Vu"), &bearer));
        assert!(!authorized(None, &bearer));
        let basic = Credentials::Basic { username: "alertmanager".into(), password: Secret("pa:ss".into()) };
        // base64("alertmanager:pa:ss")
        assert!(authorized(Some("Basic YWxlcnRtYW5hZ2VyOnBhOnNz"), &basic));
        assert!(!authorized(Some("Basic YWxlcnRtYW5hZ2VyOnBhOnN6"), &basic));
        assert!(!authorized(Some("Basic not base64!"), &basic));
        assert!(!authorized(Some("Bearer pa:ss"), &basic));
    }

    #[test]
    fn base64_decodes_with_and_without_padding_and_refuses_garbage() {
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("YQ"), None);
        assert_eq!(base64_decode("Y=Q="), None);
        assert_eq!(base64_decode("YQ?="), None);
    }

    #[test]
    fn receiver_paths_are_recognised() {
        assert!(is_receiver_path("/alertmanager/webhook"));
        assert!(is_receiver_path("/increase-requests"));
        assert!(is_receiver_path("/increase-requests/123/approve"));
        assert!(!is_receiver_path("/metrics"));
        assert!(!is_receiver_path("/increase-requestsx"));
    }
}
