//! Quota increase requests: `RequestServiceQuotaIncrease`, `GetRequestedServiceQuotaChange`,
//! `ListRequestedServiceQuotaChangeHistory[ByQuota]` and `GetAutoManagementConfiguration`,
//! with AWS's rules and errors.
//!
//! A request's status follows from simulated time and the account's
//! [`IncreaseReview`]: PENDING, CASE_OPENED once a case opens, then APPROVED or
//! DENIED. An approved request's value is the quota's applied value from its decision
//! on, in every listing. AWS allows one open request per quota, two per region and
//! twenty per account; a value not above the current one, a quota that is not
//! adjustable and a global quota asked for outside us-east-1 are refused.

use serde_json::{Map, Value, json};

use crate::estate::{Account, IncreaseReview, Quota, Service};
use crate::server::{ApiError, HandlerContext};

/// Open requests AWS allows per region and per account.
pub const OPEN_PER_REGION: usize = 2;
pub const OPEN_PER_ACCOUNT: usize = 20;

/// One increase request as filed.
#[derive(Debug, Clone, PartialEq)]
pub struct IncreaseRequest {
    pub id: String,
    pub account_id: String,
    pub region: String,
    pub service_code: String,
    pub service_name: String,
    pub quota_code: String,
    pub quota_name: String,
    pub unit: String,
    pub global: bool,
    pub desired: f64,
    /// The quota's value when the request was filed.
    pub value_at_filing: f64,
    /// Epoch seconds.
    pub created: f64,
    pub review: IncreaseReview,
    /// `SupportCaseAllowed` as filed (AWS's default: true).
    pub support_case_allowed: bool,
    /// Who filed it: the caller's user, or the role it assumed.
    pub requester: String,
}

impl IncreaseRequest {
    /// The status at `now`.
    pub fn status(&self, now: f64) -> &'static str {
        let age = now - self.created;
        if !self.support_case_allowed {
            // No support case may open: decided without one, and what would need one
            // is not approved.
            return if age < self.review.decision_after {
                "PENDING"
            } else if self.approved() {
                "APPROVED"
            } else {
                "NOT_APPROVED"
            };
        }
        if age < self.review.case_after {
            "PENDING"
        } else if age < self.review.decision_after {
            "CASE_OPENED"
        } else if self.approved() {
            "APPROVED"
        } else {
            "DENIED"
        }
    }

    fn approved(&self) -> bool {
        self.desired <= self.value_at_filing * self.review.approve_up_to
    }

    pub fn is_open(&self, now: f64) -> bool {
        matches!(self.status(now), "PENDING" | "CASE_OPENED")
    }

    /// When the request was or will be decided.
    pub fn decided_at(&self) -> f64 {
        self.created + self.review.decision_after
    }

    fn case_id(&self, now: f64) -> Option<String> {
        (self.support_case_allowed && now - self.created >= self.review.case_after)
            .then(|| format!("1{}", &self.id[..9]))
    }

    fn last_updated(&self, now: f64) -> f64 {
        let age = now - self.created;
        if age >= self.review.decision_after {
            self.decided_at()
        } else if age >= self.review.case_after {
            self.created + self.review.case_after
        } else {
            self.created
        }
    }

    /// The `RequestedServiceQuotaChange` structure at `now`.
    pub fn to_json(&self, now: f64) -> Value {
        let mut m = Map::new();
        m.insert("Id".into(), json!(self.id));
        if let Some(case) = self.case_id(now) {
            m.insert("CaseId".into(), json!(case));
        }
        m.insert("ServiceCode".into(), json!(self.service_code));
        m.insert("ServiceName".into(), json!(self.service_name));
        m.insert("QuotaCode".into(), json!(self.quota_code));
        m.insert("QuotaName".into(), json!(self.quota_name));
        m.insert("DesiredValue".into(), json!(self.desired));
        m.insert("Status".into(), json!(self.status(now)));
        m.insert("Created".into(), json!(self.created));
        m.insert("LastUpdated".into(), json!(self.last_updated(now)));
        m.insert("Requester".into(), json!(self.requester));
        m.insert("SupportCaseAllowed".into(), json!(self.support_case_allowed));
        m.insert(
            "QuotaArn".into(),
            json!(format!(
                "arn:aws:servicequotas:{}:{}:{}/{}",
                self.region, self.account_id, self.service_code, self.quota_code
            )),
        );
        m.insert("GlobalQuota".into(), json!(self.global));
        m.insert("Unit".into(), json!(self.unit));
        m.insert("QuotaRequestedAtLevel".into(), json!("ACCOUNT"));
        Value::Object(m)
    }
}

/// The applied value of a quota at `now`: the latest approved request's, once decided,
/// otherwise the estate's.
pub(crate) fn applied_value(ctx: &HandlerContext<'_>, service: &Service, q: &Quota) -> Option<f64> {
    let book = crate::lock(ctx.increases);
    book.iter()
        .filter(|r| {
            r.account_id == ctx.account.id
                && r.region == ctx.region
                && r.service_code == service.code
                && r.quota_code == q.code
                && r.decided_at() <= ctx.now
                && r.status(ctx.now) == "APPROVED"
        })
        .max_by(|a, b| a.decided_at().total_cmp(&b.decided_at()))
        .map(|r| r.desired)
        .or(q.applied_value)
}

fn illegal(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "IllegalArgumentException", message)
}

fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    input
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::new(400, "ValidationException", format!("{field} is required")))
}

/// `RequestServiceQuotaIncrease`.
pub(crate) fn request(
    ctx: &HandlerContext<'_>,
    service: &Service,
    q: &Quota,
    input: &Value,
) -> Result<Value, ApiError> {
    let desired = input
        .get("DesiredValue")
        .and_then(Value::as_f64)
        .ok_or_else(|| ApiError::new(400, "ValidationException", "DesiredValue is required"))?;
    if !(0.0..=1e10).contains(&desired) {
        return Err(illegal("DesiredValue must be between 0 and 10000000000"));
    }
    if input.get("ContextId").is_some() {
        return Err(illegal("the simulator does not take resource-level requests"));
    }
    if q.global && ctx.region != "us-east-1" {
        return Err(illegal(format!(
            "{} is a global quota; request its increase in us-east-1, not {}",
            q.code, ctx.region
        )));
    }
    if !q.adjustable {
        return Err(illegal(format!("the quota {} is not adjustable", q.code)));
    }
    let current = applied_value(ctx, service, q)
        .or(q.default_value)
        .ok_or_else(|| ApiError::new(400, "NoSuchResourceException", "The specified resource does not exist."))?;
    if desired <= current {
        return Err(illegal(format!(
            "You must provide a quota value greater than the current quota value. Current value: {current}"
        )));
    }
    let mut book = crate::lock(ctx.increases);
    let open: Vec<&IncreaseRequest> =
        book.iter().filter(|r| r.account_id == ctx.account.id && r.is_open(ctx.now)).collect();
    if open.iter().any(|r| r.region == ctx.region && r.service_code == service.code && r.quota_code == q.code) {
        return Err(ApiError::new(
            400,
            "ResourceAlreadyExistsException",
            "Only one open service quota increase request is allowed per quota.",
        ));
    }
    if open.iter().filter(|r| r.region == ctx.region).count() >= OPEN_PER_REGION {
        return Err(ApiError::new(
            400,
            "QuotaExceededException",
            format!("You have reached the limit of {OPEN_PER_REGION} open quota increase requests in this Region."),
        ));
    }
    if open.len() >= OPEN_PER_ACCOUNT {
        return Err(ApiError::new(
            400,
            "QuotaExceededException",
            format!("You have reached the limit of {OPEN_PER_ACCOUNT} open quota increase requests for this account."),
        ));
    }
    let request = IncreaseRequest {
        id: request_id(ctx.account, book.len()),
        account_id: ctx.account.id.clone(),
        region: ctx.region.to_owned(),
        service_code: service.code.clone(),
        service_name: service.name.clone(),
        quota_code: q.code.clone(),
        quota_name: q.name.clone(),
        unit: q.unit.clone(),
        global: q.global,
        desired,
        value_at_filing: current,
        created: ctx.now,
        review: ctx.account.increase_review.clone(),
        support_case_allowed: input.get("SupportCaseAllowed").and_then(Value::as_bool).unwrap_or(true),
        requester: ctx
            .principal
            .map_or_else(|| format!("arn:aws:iam::{}:user/quota-exporter", ctx.account.id), str::to_owned),
    };
    let out = json!({ "RequestedQuota": request.to_json(ctx.now) });
    book.push(request);
    Ok(out)
}

/// A request id in AWS's shape: 32 hex digits and 8 letters and digits.
fn request_id(account: &Account, n: usize) -> String {
    let mut x = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ account.id.len() as u64;
    let mut tail = String::new();
    for _ in 0..8 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let c = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"[(x >> 58) as usize % 57];
        tail.push(c as char);
    }
    format!("{:016x}{:016x}{tail}", x, (n as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// `GetRequestedServiceQuotaChange`.
pub(crate) fn get(ctx: &HandlerContext<'_>, input: &Value) -> Result<Value, ApiError> {
    let id = required(input, "RequestId")?;
    let book = crate::lock(ctx.increases);
    let r = book
        .iter()
        .find(|r| r.id == id && r.account_id == ctx.account.id && r.region == ctx.region)
        .ok_or_else(|| ApiError::new(400, "NoSuchResourceException", "The specified resource does not exist."))?;
    Ok(json!({ "RequestedQuota": r.to_json(ctx.now) }))
}

/// The requests of the caller's account and region, newest first, filtered by
/// `ServiceCode`, `QuotaCode` and `Status` where given.
pub(crate) fn history(ctx: &HandlerContext<'_>, input: &Value, by_quota: bool) -> Result<Vec<Value>, ApiError> {
    let service =
        if by_quota { Some(required(input, "ServiceCode")?) } else { input.get("ServiceCode").and_then(Value::as_str) };
    let quota = if by_quota { Some(required(input, "QuotaCode")?) } else { None };
    let status = input.get("Status").and_then(Value::as_str);
    if let Some(s) = status
        && !matches!(
            s,
            "PENDING" | "CASE_OPENED" | "APPROVED" | "DENIED" | "CASE_CLOSED" | "NOT_APPROVED" | "INVALID_REQUEST"
        )
    {
        return Err(illegal(format!("unknown Status {s}")));
    }
    let book = crate::lock(ctx.increases);
    let mut out: Vec<&IncreaseRequest> = book
        .iter()
        .filter(|r| r.account_id == ctx.account.id && r.region == ctx.region)
        .filter(|r| service.is_none_or(|s| s == r.service_code))
        .filter(|r| quota.is_none_or(|q| q == r.quota_code))
        .filter(|r| status.is_none_or(|s| s == r.status(ctx.now)))
        .collect();
    out.sort_by(|a, b| b.created.total_cmp(&a.created));
    Ok(out.into_iter().map(|r| r.to_json(ctx.now)).collect())
}

/// `GetAutoManagementConfiguration`.
pub(crate) fn auto_management(ctx: &HandlerContext<'_>) -> Value {
    match &ctx.account.auto_management {
        None => json!({ "OptInLevel": "ACCOUNT", "OptInStatus": "DISABLED" }),
        Some(a) => {
            let exclusions: Map<String, Value> = a
                .exclusions
                .iter()
                .map(|(service, quotas)| {
                    let list = quotas.iter().map(|q| json!({ "QuotaCode": q, "QuotaName": q })).collect();
                    (service.clone(), Value::Array(list))
                })
                .collect();
            json!({
                "OptInLevel": "ACCOUNT",
                "OptInStatus": "ENABLED",
                "OptInType": a.opt_in_type,
                "ExclusionList": exclusions,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(created: f64, desired: f64, at_filing: f64) -> IncreaseRequest {
        IncreaseRequest {
            id: "0123456789abcdef0123456789abcdefABCDEFGH".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            service_code: "ec2".into(),
            service_name: "Amazon EC2".into(),
            quota_code: "L-1216C47A".into(),
            quota_name: "Running On-Demand Standard instances".into(),
            unit: "None".into(),
            global: false,
            desired,
            value_at_filing: at_filing,
            created,
            review: IncreaseReview { case_after: 60.0, decision_after: 600.0, approve_up_to: 2.0 },
            support_case_allowed: true,
            requester: "arn:aws:iam::111122223333:user/quota-exporter".into(),
        }
    }

    #[test]
    fn without_a_support_case_a_request_is_decided_without_one_and_what_needs_one_is_not_approved() {
        let mut r = request(1000.0, 1281.0, 640.0);
        r.support_case_allowed = false;
        assert_eq!(r.status(1060.0), "PENDING", "no case opens");
        assert_eq!(r.to_json(1060.0).get("CaseId"), None);
        assert_eq!(r.status(1600.0), "NOT_APPROVED");
        r.desired = 1280.0;
        assert_eq!(r.status(1600.0), "APPROVED");
    }

    #[test]
    fn a_request_is_pending_then_has_a_case_then_is_decided() {
        let r = request(1000.0, 1280.0, 640.0);
        assert_eq!(r.status(1000.0), "PENDING");
        assert_eq!(r.status(1059.0), "PENDING");
        assert_eq!(r.status(1060.0), "CASE_OPENED");
        assert_eq!(r.status(1599.0), "CASE_OPENED");
        assert_eq!(r.status(1600.0), "APPROVED", "twice the value is within approve_up_to");
        assert_eq!(request(1000.0, 1281.0, 640.0).status(1600.0), "DENIED");
        assert!(r.is_open(1599.0) && !r.is_open(1600.0));
        assert_eq!(r.to_json(1000.0).get("CaseId"), None);
        assert!(r.to_json(1060.0)["CaseId"].as_str().is_some_and(|c| c.len() == 10));
        assert_eq!(r.to_json(1700.0)["LastUpdated"], json!(1600.0));
    }
}
