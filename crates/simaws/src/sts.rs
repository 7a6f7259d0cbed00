//! STS over the AWS query protocol: a form-encoded `POST /` with `Action` and `Version`,
//! answered in XML. Only `GetCallerIdentity` is served.

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
            FaultKind::AccessDenied | FaultKind::Latency(_) => {
                ApiError::new(403, "AccessDenied", "User is not authorized to perform this action")
            }
        }
    }

    fn unrecognized_client() -> ApiError {
        ApiError::new(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    }

    fn handle(ctx: &HandlerContext<'_>, operation: &str, _params: Self::Parsed) -> Result<HttpResponse, ApiError> {
        match operation {
            "GetCallerIdentity" => {
                let account = &ctx.account.id;
                let body = format!(
                    "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    \
                     <Arn>arn:aws:iam::{account}:user/quota-exporter</Arn>\n    <UserId>AIDASIMULATED{account}</UserId>\n    \
                     <Account>{account}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
                     <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
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
    fn a_truncated_escape_is_kept_literally() {
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
