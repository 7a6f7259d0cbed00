//! AWS Organizations over AWS JSON 1.1: `POST /` with `X-Amz-Target:
//! AWSOrganizationsV20161128.<Operation>`. Only the management account may list; any
//! other caller gets `AccessDeniedException`, and an estate without an organization
//! answers `AWSOrganizationsNotInUseException`, as AWS does.

use serde_json::{Value, json};

use crate::calls::Api;
use crate::estate::{Member, Organization};
use crate::faults::FaultKind;
use crate::json11::{self, CONTENT_TYPE};
use crate::server::{ApiError, HandlerContext, HttpResponse, Protocol, RawRequest, respond};

const TARGET_PREFIX: &str = "AWSOrganizationsV20161128.";

pub(crate) struct Organizations;

impl Protocol for Organizations {
    const API: Api = Api::Organizations;
    type Parsed = Value;

    fn parse(req: &RawRequest) -> Result<(String, Value), ApiError> {
        json11::parse(req, TARGET_PREFIX)
    }

    fn fault(kind: &FaultKind) -> ApiError {
        match kind {
            FaultKind::Throttle => ApiError::new(
                400,
                "TooManyRequestsException",
                "You have sent too many requests in too short a period of time.",
            ),
            FaultKind::ServerError => ApiError::new(
                500,
                "ServiceException",
                "AWS Organizations can't complete your request because of an internal service error.",
            ),
            FaultKind::AccessDenied | FaultKind::Latency(_) | FaultKind::Error { .. } => denied(),
        }
    }

    fn unrecognized_client() -> ApiError {
        ApiError::new(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    }

    fn handle(ctx: &HandlerContext<'_>, operation: &str, input: Value) -> Result<HttpResponse, ApiError> {
        let org = ctx.estate.organization.as_ref().ok_or_else(|| {
            ApiError::new(400, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
        })?;
        if ctx.account.id != org.management_account_id {
            return Err(denied());
        }
        let output = match operation {
            "DescribeOrganization" => json!({ "Organization": {
                "Id": org.id,
                "Arn": format!("arn:aws:organizations::{}:organization/{}", org.management_account_id, org.id),
                "FeatureSet": "ALL",
                "MasterAccountId": org.management_account_id,
                "MasterAccountArn": format!("arn:aws:organizations::{0}:account/{1}/{0}", org.management_account_id, org.id),
            }}),
            "ListRoots" => paged(
                "Roots",
                vec![json!({
                    "Id": org.root_id,
                    "Arn": format!("arn:aws:organizations::{}:root/{}/{}", org.management_account_id, org.id, org.root_id),
                    "Name": "Root",
                    "PolicyTypes": [],
                })],
                &input,
            )?,
            "ListAccounts" => paged("Accounts", org.members.iter().map(|m| account(org, m)).collect(), &input)?,
            "ListAccountsForParent" => {
                let parent = parent(org, &input)?;
                let members = org.members.iter().filter(|m| m.parent_id == parent).map(|m| account(org, m)).collect();
                paged("Accounts", members, &input)?
            }
            "ListOrganizationalUnitsForParent" => {
                let parent = parent(org, &input)?;
                let units = org
                    .units
                    .iter()
                    .filter(|u| u.parent_id == parent)
                    .map(|u| {
                        json!({
                            "Id": u.id,
                            "Arn": format!("arn:aws:organizations::{}:ou/{}/{}", org.management_account_id, org.id, u.id),
                            "Name": u.name,
                        })
                    })
                    .collect();
                paged("OrganizationalUnits", units, &input)?
            }
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
        let body = json!({ "__type": err.code, "Message": err.message });
        respond(err.status, CONTENT_TYPE, body.to_string(), &[("x-amzn-requestid", request_id)])
    }
}

fn denied() -> ApiError {
    ApiError::new(400, "AccessDeniedException", "You don't have permissions to access this resource.")
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "InvalidInputException", message)
}

/// The `ParentId` of a request: the root or an organizational unit that exists.
fn parent<'a>(org: &Organization, input: &'a Value) -> Result<&'a str, ApiError> {
    let id = input.get("ParentId").and_then(Value::as_str).ok_or_else(|| invalid("ParentId is required"))?;
    if id == org.root_id || org.units.iter().any(|u| u.id == id) {
        Ok(id)
    } else {
        Err(ApiError::new(
            400,
            "ParentNotFoundException",
            "We can't find a root or OU with the ParentId that you specified.",
        ))
    }
}

/// An `Account` as the API describes it; `State`, the newer field, says the same as
/// `Status` for the statuses the simulator knows.
fn account(org: &Organization, m: &Member) -> Value {
    json!({
        "Id": m.id,
        "Arn": format!("arn:aws:organizations::{}:account/{}/{}", org.management_account_id, org.id, m.id),
        "Email": format!("aws+{}@example.com", m.id),
        "Name": m.name,
        "Status": m.status,
        "State": m.status,
        "JoinedMethod": if m.id == org.management_account_id { "CREATED" } else { "INVITED" },
        "JoinedTimestamp": 1_600_000_000.0,
    })
}

/// Organizations pages by 20 at most.
const PAGING: json11::Paging =
    json11::Paging { max: 20, bad_max: invalid, bad_token: || invalid("The NextToken is not valid.") };

fn paged(key: &str, items: Vec<Value>, input: &Value) -> Result<Value, ApiError> {
    json11::paged(&PAGING, key, items, input)
}
