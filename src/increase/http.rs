//! The receiver's HTTP endpoints:
//!
//! * `POST /alertmanager/webhook`: Alertmanager's notifications (payload version 4);
//! * `GET /increase-requests[?open=true][&limit=N]`: the ledger, newest first (JSON);
//! * `GET /increase-requests/ID`: one entry;
//! * `POST /increase-requests/ID/approve` and `.../reject`: approval mode.
//!
//! Who may do what: the webhook takes only the credentials Alertmanager sends (bearer
//! token or basic auth); approving and rejecting take only an approver's token, and
//! the ledger records the approver's name; reading the ledger takes either. Secrets
//! are compared in constant time. Without configured credentials (a listener on
//! loopback only) the webhook and the ledger are open, approvals never are.
//!
//! Answers: 403 a request from a web page (it carries `Origin`) or an approval with
//! the wrong kind of credential, 429 wrong credentials from an address that sent them
//! again and again (for a while; right credentials still pass, so whoever shares an
//! address with Alertmanager cannot lock it out), 401 wrong or missing credentials, 415 a webhook body that
//! is not `application/json`, 413 a body above [`MAX_BODY`] or beyond the parser's
//! limits, 408 a body not received within [`BODY_TIMEOUT`], 400 a malformed body
//! (saying what was wrong), 200 with a JSON outcome per alert, and 503 when something
//! worth a retry failed, the ledger included (Alertmanager retries 5xx, never 4xx).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::ledger::{Entry, Listing};
use super::receiver::{ApprovalError, Receiver};
use crate::config::increase::Credentials;

/// The largest webhook body taken. Alertmanager sends about 1 KiB per alert.
pub const MAX_BODY: usize = 1024 * 1024;
/// How long a client may take to send a webhook body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Wrong credentials from one address within [`FAILURE_WINDOW`] before it is locked out.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a locked-out address is answered 429.
pub const LOCKOUT: Duration = Duration::from_secs(60);
/// Addresses remembered at once; the oldest is forgotten first.
const TRACKED_CLIENTS: usize = 4096;

/// Whether a path is the receiver's.
pub fn is_receiver_path(path: &str) -> bool {
    path == "/alertmanager/webhook" || path == "/increase-requests" || path.starts_with("/increase-requests/")
}

/// The receiver behind its HTTP gate.
#[derive(Debug)]
pub struct Endpoint {
    receiver: Arc<Receiver>,
    lockout: Lockout,
}

impl Endpoint {
    pub fn new(receiver: Arc<Receiver>) -> Endpoint {
        Endpoint { receiver, lockout: Lockout::default() }
    }
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Caller {
    /// The credentials Alertmanager sends.
    Alertmanager,
    /// An approver, by name.
    Approver(String),
    /// Nobody in particular: no credentials are configured (a loopback listener).
    Anyone,
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

/// Answers one request to a receiver path from `peer`; `endpoint` is `None` when the
/// receiver is off.
pub async fn handle(endpoint: Option<&Endpoint>, peer: IpAddr, req: Request<Incoming>) -> Reply {
    let Some(Endpoint { receiver, lockout }) = endpoint else {
        return error(
            StatusCode::NOT_FOUND,
            "the increase receiver is off; set QUOTA_EXPORTER_INCREASE_RECEIVER=true to turn it on",
        );
    };
    // A web page may make a browser post here (a form, fetch with no-cors); nothing
    // that talks to the receiver legitimately is a browser.
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = super::escape_controls(origin.to_str().unwrap_or("(not text)")).into_owned();
        return error(StatusCode::FORBIDDEN, format!("requests from web pages (Origin: {origin}) are refused"));
    }
    let config = receiver.config();
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let caller = match identify(authorization, config.credentials.as_ref(), &config.approvers) {
        Some(caller) => caller,
        None => {
            // Secrets for filing are at least 32 bytes: guessing them is hopeless, so the
            // lockout only quiets a noisy address, and never refuses right credentials.
            if let Some(left) = lockout.locked(peer) {
                let mut r = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many requests with wrong credentials from this address; try again in {} s",
                        left.as_secs().max(1)
                    ),
                );
                if let Ok(v) = header::HeaderValue::from_str(&left.as_secs().max(1).to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return r;
            }
            lockout.failed(peer);
            let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong credentials");
            let challenge = match &config.credentials {
                Some(Credentials::Basic { .. }) => "Basic realm=\"aws-quota-exporter\"",
                _ => "Bearer realm=\"aws-quota-exporter\"",
            };
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(challenge));
            return r;
        }
    };
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["alertmanager", "webhook"]) => match caller {
            Caller::Alertmanager | Caller::Anyone => webhook(receiver, req).await,
            Caller::Approver(_) => error(StatusCode::FORBIDDEN, "an approver's token cannot post notifications"),
        },
        (&Method::GET, ["increase-requests"]) => list(receiver, req.uri().query().unwrap_or_default()).await,
        (&Method::GET, ["increase-requests", id]) => match async { receiver.ledger().await?.get(id).await }.await {
            Ok(Some(e)) => reply(StatusCode::OK, json!(e)),
            Ok(None) => error(StatusCode::NOT_FOUND, format!("no entry {}", super::escape_controls(id))),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        (&Method::POST, ["increase-requests", id, action @ ("approve" | "reject")]) => {
            let Caller::Approver(name) = caller else {
                return error(
                    StatusCode::FORBIDDEN,
                    "approving and rejecting take an approver's token (QUOTA_EXPORTER_INCREASE_APPROVERS_FILE), \
                     never the webhook's credentials; or use the requests subcommand",
                );
            };
            if *action == "approve" {
                match receiver.approve(id, &name).await {
                    Ok(outcome) => reply(StatusCode::OK, json!(outcome)),
                    Err(e) => approval_error(e),
                }
            } else {
                match receiver.reject(id, &name).await {
                    Ok(entry) => reply(StatusCode::OK, json!(entry)),
                    Err(e) => approval_error(e),
                }
            }
        }
        (_, ["alertmanager", "webhook"]) => method_not_allowed(&method, &path, "POST"),
        (_, ["increase-requests"] | ["increase-requests", _]) => method_not_allowed(&method, &path, "GET"),
        (_, ["increase-requests", _, "approve" | "reject"]) => method_not_allowed(&method, &path, "POST"),
        _ => error(StatusCode::NOT_FOUND, format!("not found: {}", super::escape_controls(&path))),
    }
}

fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> Reply {
    let path = super::escape_controls(path);
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
    error(status, super::escape_controls(&e.to_string()))
}

async fn webhook(receiver: &Receiver, req: Request<Incoming>) -> Reply {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body must be Content-Type: application/json, as Alertmanager sends it (got {:?})",
                super::escape_controls(content_type)
            ),
        );
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return too_large(format!("the body is larger than {MAX_BODY} bytes"));
    }
    let body = match tokio::time::timeout(BODY_TIMEOUT, Limited::new(req.into_body(), MAX_BODY).collect()).await {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
            );
        }
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return too_large(format!("the body is larger than {MAX_BODY} bytes"));
        }
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("the body could not be read: {e}")),
    };
    let payload = match alertmanager_webhook::parse(&body) {
        Ok(p) => p,
        Err(e @ alertmanager_webhook::ParseError::TooLarge { .. }) => {
            return too_large(super::escape_controls(&e.to_string()).into_owned());
        }
        Err(e) => {
            let e = super::escape_controls(&e.to_string()).into_owned();
            return error(StatusCode::BAD_REQUEST, format!("not an Alertmanager webhook payload: {e}"));
        }
    };
    let outcomes = match receiver.handle(&payload).await {
        Ok(outcomes) => outcomes,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let status = if outcomes.iter().any(|o| o.transient) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    reply(status, json!({ "groupKey": payload.group_key, "outcomes": outcomes }))
}

fn too_large(what: String) -> Reply {
    error(StatusCode::PAYLOAD_TOO_LARGE, format!("{what}; lower max_alerts in the webhook configuration"))
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
                    let n = super::escape_controls(n);
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("limit={n:?}: expected a whole number from 1 to 10000"),
                    );
                }
            },
            (k, _) => {
                let k = super::escape_controls(k);
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {k:?}; expected open=true|false and limit=N"),
                );
            }
        }
    }
    match async { receiver.ledger().await?.list(which, limit).await }.await {
        Ok(entries) => {
            let entries: Vec<&Entry> = entries.iter().collect();
            reply(StatusCode::OK, json!({ "entries": entries }))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Who an `Authorization` header says the caller is: `None` for wrong or missing
/// credentials. Every secret is compared in constant time.
fn identify(
    header: Option<&str>,
    credentials: Option<&Credentials>,
    approvers: &[crate::config::increase::Approver],
) -> Option<Caller> {
    if let Some(c) = credentials
        && authorized(header, c)
    {
        return Some(Caller::Alertmanager);
    }
    if let Some(approver) = approvers.iter().find(|a| authorized(header, &Credentials::Bearer(a.token.clone()))) {
        return Some(Caller::Approver(approver.name.clone()));
    }
    // Without credentials, only a request that presents none is anyone's.
    (credentials.is_none() && header.is_none()).then_some(Caller::Anyone)
}

/// Whether an `Authorization` header carries the configured credentials. The secret
/// is compared in constant time.
pub fn authorized(header: Option<&str>, credentials: &Credentials) -> bool {
    let Some(header) = header else { return false };
    let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
    match credentials {
        Credentials::Bearer(token) => {
            scheme.eq_ignore_ascii_case("bearer") && bool::from(value.trim().as_bytes().ct_eq(token.0.as_bytes()))
        }
        Credentials::Basic { username, password } => {
            if !scheme.eq_ignore_ascii_case("basic") {
                return false;
            }
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(value.trim()) else { return false };
            let expected = format!("{username}:{}", password.0);
            bool::from(decoded.ct_eq(expected.as_bytes()))
        }
    }
}

/// Addresses that sent wrong credentials, and which of them are locked out. An IPv6
/// client is known by its /64, which one host can fill with addresses.
#[derive(Debug, Default)]
pub struct Lockout {
    clients: Mutex<HashMap<IpAddr, Failures>>,
}

/// The address a client is known by.
fn client_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(segments))
            }
        },
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

impl Lockout {
    /// How much longer `peer` is locked out, if it is.
    pub fn locked(&self, peer: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(&client_of(peer))?.locked_until.filter(|until| *until > now).map(|until| until - now)
    }

    /// Records wrong credentials from `peer`; the [`MAX_FAILURES`]th within the
    /// window locks it out for [`LOCKOUT`].
    pub fn failed(&self, peer: IpAddr) {
        let now = Instant::now();
        let peer = client_of(peer);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= TRACKED_CLIENTS && !clients.contains_key(&peer) {
            clients.retain(|_, f| f.locked_until.is_some_and(|u| u > now) || now - f.first < FAILURE_WINDOW);
            // Still full: forget the address that has been quiet the longest, and a locked
            // one only when every address is locked.
            let oldest = |locked: bool| {
                clients
                    .iter()
                    .filter(|(_, f)| f.locked_until.is_some_and(|u| u > now) == locked)
                    .min_by_key(|(_, f)| f.first)
                    .map(|(ip, _)| *ip)
            };
            if clients.len() >= TRACKED_CLIENTS
                && let Some(evict) = oldest(false).or_else(|| oldest(true))
            {
                clients.remove(&evict);
            }
        }
        let f = clients.entry(peer).or_insert(Failures { count: 0, first: now, locked_until: None });
        if now - f.first >= FAILURE_WINDOW {
            *f = Failures { count: 0, first: now, locked_until: None };
        }
        f.count += 1;
        if f.count >= MAX_FAILURES {
            f.locked_until = Some(now + LOCKOUT);
            tracing::warn!(peer = %peer, failures = f.count, "wrong credentials again and again: the address is refused for a while");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::increase::{Approver, Secret};

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
    fn the_webhook_credentials_and_an_approver_token_name_different_callers() {
        let webhook = Credentials::Bearer(Secret("webhook-token".into()));
        let approvers = [Approver { name: "alice".into(), token: Secret("alice-token".into()) }];
        assert_eq!(identify(Some("Bearer webhook-token"), Some(&webhook), &approvers), Some(Caller::Alertmanager));
        assert_eq!(
            identify(Some("Bearer alice-token"), Some(&webhook), &approvers),
            Some(Caller::Approver("alice".into()))
        );
        assert_eq!(identify(Some("Bearer guess"), Some(&webhook), &approvers), None);
        assert_eq!(identify(None, Some(&webhook), &approvers), None);
        assert_eq!(identify(None, None, &approvers), Some(Caller::Anyone), "a loopback receiver without credentials");
        assert_eq!(identify(Some("Bearer guess"), None, &approvers), None, "wrong credentials are wrong anywhere");
    }

    #[test]
    fn five_failures_in_a_minute_lock_an_address_out_and_others_stay_in() {
        let lockout = Lockout::default();
        let (attacker, other): (IpAddr, IpAddr) = ("192.0.2.7".parse().expect("ip"), "192.0.2.8".parse().expect("ip"));
        for _ in 0..MAX_FAILURES - 1 {
            lockout.failed(attacker);
        }
        assert_eq!(lockout.locked(attacker), None, "four failures are not enough");
        lockout.failed(attacker);
        let left = lockout.locked(attacker).expect("locked out");
        assert!(left <= LOCKOUT && left > LOCKOUT - Duration::from_secs(5), "{left:?}");
        assert_eq!(lockout.locked(other), None);
    }

    #[test]
    fn an_ipv6_client_is_one_client_across_its_slash_64() {
        let lockout = Lockout::default();
        for i in 0..MAX_FAILURES {
            lockout.failed(format!("2001:db8:1:2::{i:x}").parse().expect("ip"));
        }
        assert!(lockout.locked("2001:db8:1:2:ffff::1".parse().expect("ip")).is_some());
        assert_eq!(lockout.locked("2001:db8:1:3::1".parse().expect("ip")), None, "another /64");
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().expect("ip");
        for _ in 0..MAX_FAILURES {
            lockout.failed(mapped);
        }
        assert!(lockout.locked("192.0.2.9".parse().expect("ip")).is_some(), "an IPv4-mapped address is its IPv4");
    }

    #[test]
    fn the_lockout_remembers_a_bounded_number_of_addresses() {
        let lockout = Lockout::default();
        for i in 0..(TRACKED_CLIENTS as u32 + 100) {
            lockout.failed(IpAddr::from(i.to_be_bytes()));
        }
        assert!(lockout.clients.lock().expect("not poisoned").len() <= TRACKED_CLIENTS);
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
