//! STS over the AWS query protocol: a form-encoded `POST /` with `Action` and `Version`,
//! answered in XML. `GetCallerIdentity`, and `AssumeRole` for the roles an account
//! lists: temporary credentials that later requests are recognised by.

use crate::calls::Api;
use crate::faults::FaultKind;
use crate::server::{ApiError, HandlerContext, HttpResponse, Protocol, RawRequest, respond};

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub(crate) struct Sts;

impl Protocol for Sts {
    const API: Api = Api::Sts;
    type Parsed = Vec<(String, String)>;

    fn parse(req: &RawRequest) -> Result<(String, Self::Parsed), ApiError> {
        let body = std::str::from_utf8(&req.body)
            .map_err(|_| ApiError::new(400, "MalformedInput", "the body is not UTF-8"))?;
        let params = form_decode(body);
        let action = params
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ApiError::new(400, "MissingAction", "Missing Action"))?;
        if !params.iter().any(|(k, v)| k == "Version" && v == "2011-06-15") {
            return Err(ApiError::new(400, "InvalidParameterValue", "Version must be 2011-06-15"));
        }
        Ok((action, params))
    }

    fn fault(kind: &FaultKind) -> ApiError {
        match kind {
            FaultKind::Throttle => ApiError::new(400, "Throttling", "Rate exceeded"),
            FaultKind::ServerError => ApiError::new(500, "InternalFailure", "An internal error occurred"),
            FaultKind::AccessDenied | FaultKind::Latency(_) | FaultKind::Error { .. } => {
                ApiError::new(403, "AccessDenied", "User is not authorized to perform this action")
            }
        }
    }

    fn unrecognized_client() -> ApiError {
        ApiError::new(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    }

    fn expired_token() -> ApiError {
        ApiError::new(403, "ExpiredToken", "The security token included in the request is expired")
    }

    fn handle(ctx: &HandlerContext<'_>, operation: &str, params: Self::Parsed) -> Result<HttpResponse, ApiError> {
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match operation {
            "GetCallerIdentity" => {
                let account = &ctx.account.id;
                let arn = match ctx.principal {
                    Some(role) => assumed_role_arn(role, "session"),
                    None => format!("arn:aws:iam::{account}:user/quota-exporter"),
                };
                let body = format!(
                    "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    \
                     <Arn>{}</Arn>\n    <UserId>AIDASIMULATED{account}</UserId>\n    \
                     <Account>{account}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
                     <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                    xml_escape(&arn),
                    ctx.request_id
                );
                Ok(respond(200, "text/xml", body, &[("x-amzn-requestid", ctx.request_id)]))
            }
            "AssumeRole" => {
                let arn =
                    param("RoleArn").ok_or_else(|| ApiError::new(400, "ValidationError", "RoleArn is required"))?;
                let session = param("RoleSessionName").filter(|n| (2..=64).contains(&n.len())).ok_or_else(|| {
                    ApiError::new(400, "ValidationError", "RoleSessionName must be 2 to 64 characters")
                })?;
                let denied = || {
                    ApiError::new(
                        403,
                        "AccessDenied",
                        format!(
                            "User: {} is not authorized to perform: sts:AssumeRole on resource: {arn}",
                            ctx.account.id
                        ),
                    )
                };
                // The role must exist in an account of the estate, and its trust policy
                // must name the caller's account (its own account always may).
                let role = ctx.estate.role(arn).ok_or_else(denied)?;
                let trusted = role.account_id() == ctx.account.id || role.trusted_accounts.contains(&ctx.account.id);
                if !trusted || role.external_id.as_deref().is_some_and(|id| Some(id) != param("ExternalId")) {
                    return Err(denied());
                }
                let requested = match param("DurationSeconds") {
                    None => 3600,
                    Some(v) => v.parse::<u64>().ok().filter(|d| (900..=43_200).contains(d)).ok_or_else(|| {
                        ApiError::new(400, "ValidationError", "DurationSeconds must be between 900 and 43200")
                    })?,
                };
                // AWS refuses a duration above the role's maximum; the simulator's roles
                // may have a maximum below AWS's floor of 900 seconds, and then it wins.
                if role.max_session_seconds >= 900 && requested > role.max_session_seconds {
                    return Err(ApiError::new(
                        400,
                        "ValidationError",
                        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                    ));
                }
                // Refused from this moment of the simulator's clock; the SDK is told the
                // same lifetime on the real clock, which its credentials cache runs on.
                let lifetime = requested.min(role.max_session_seconds) as f64;
                let expires_at = ctx.now + lifetime;
                let real_now =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
                // One lock for the count and the insert: concurrent AssumeRoles must not
                // hand out the same key.
                let (n, key) = {
                    let mut sessions = ctx.sessions.lock().unwrap_or_else(|p| p.into_inner());
                    let n = sessions.len();
                    let key = format!("ASIASIM{n:013}");
                    let session = crate::Session {
                        account_id: role.account_id().to_owned(),
                        role_arn: arn.to_owned(),
                        expires_at,
                    };
                    sessions.insert(key.clone(), session);
                    (n, key)
                };
                let expires = iso8601(real_now + lifetime);
                let body = format!(
                    "<AssumeRoleResponse xmlns=\"{XMLNS}\">\n  <AssumeRoleResult>\n    <Credentials>\n      \
                     <AccessKeyId>{key}</AccessKeyId>\n      <SecretAccessKey>sim-secret-{n}</SecretAccessKey>\n      \
                     <SessionToken>sim-session-token-{n}</SessionToken>\n      <Expiration>{expires}</Expiration>\n    \
                     </Credentials>\n    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      \
                     <AssumedRoleId>AROASIMULATED:{}</AssumedRoleId>\n    </AssumedRoleUser>\n  </AssumeRoleResult>\n  \
                     <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
                    xml_escape(&assumed_role_arn(arn, session)),
                    xml_escape(session),
                    ctx.request_id
                );
                Ok(respond(200, "text/xml", body, &[("x-amzn-requestid", ctx.request_id)]))
            }
            other => Err(ApiError::new(400, "InvalidAction", format!("the simulator does not implement {other}"))),
        }
    }

    fn render(err: &ApiError, request_id: &str) -> HttpResponse {
        let kind = if err.status >= 500 { "Receiver" } else { "Sender" };
        let body = format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    \
             <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            xml_escape(&err.code),
            xml_escape(&err.message)
        );
        respond(err.status, "text/xml", body, &[("x-amzn-requestid", request_id)])
    }
}

/// `arn:aws:iam::ACCOUNT:role/NAME` as STS names a session of it:
/// `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`.
fn assumed_role_arn(role_arn: &str, session: &str) -> String {
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let name = role_arn.rsplit('/').next().unwrap_or_default();
    format!("arn:aws:sts::{account}:assumed-role/{name}/{session}")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Epoch seconds as an ISO 8601 UTC timestamp, the way STS writes `Expiration`.
fn iso8601(epoch: f64) -> String {
    let secs = (epoch.floor() as i64).clamp(0, 253_402_300_799);
    let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_plus_and_percent_escapes() {
        assert_eq!(
            form_decode("Action=GetCallerIdentity&Version=2011-06-15&Name=a+b%2Fc"),
            vec![
                ("Action".to_owned(), "GetCallerIdentity".to_owned()),
                ("Version".to_owned(), "2011-06-15".to_owned()),
                ("Name".to_owned(), "a b/c".to_owned()),
            ]
        );
    }

    #[test]
    fn expirations_are_written_as_utc_timestamps() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000.5), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn a_truncated_escape_is_kept_literally() {
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
