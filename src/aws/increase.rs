//! The Service Quotas calls behind automatic increase requests: the current value of a
//! quota, filing a request, following it, the open requests of a quota and of a region,
//! and the account's Automatic Management configuration.

use aws_sdk_servicequotas::types::{OptInStatus, OptInType, RequestStatus, RequestType, RequestedServiceQuotaChange};

use super::{AwsError, TargetAws, every_page};
use crate::increase::{AutoManagement, CurrentQuota, RequestedChange};

const SERVICE: &str = "servicequotas";

impl TargetAws {
    /// The quota's current value as AWS sees it now (`GetServiceQuota`).
    pub async fn current_quota(&self, service_code: &str, quota_code: &str) -> Result<CurrentQuota, AwsError> {
        const OP: &str = "GetServiceQuota";
        let out = self
            .call(SERVICE, OP, self.timeouts.service_quotas, |meter| {
                self.service_quotas
                    .get_service_quota()
                    .service_code(service_code)
                    .quota_code(quota_code)
                    .customize()
                    .interceptor(meter)
                    .send()
            })
            .await?;
        let q = out.quota().ok_or_else(|| AwsError::missing(OP, "Quota"))?;
        Ok(CurrentQuota {
            value: q.value().ok_or_else(|| AwsError::missing(OP, "Quota.Value"))?,
            adjustable: q.adjustable(),
            global: q.global_quota(),
        })
    }

    /// Files an increase request (`RequestServiceQuotaIncrease`), in one attempt only:
    /// a retry after a lost answer would be refused as a duplicate, or file twice. An
    /// unconfirmed outcome is for the caller to settle against AWS's request history.
    /// `support_case` is `SupportCaseAllowed`.
    pub async fn request_increase(
        &self,
        service_code: &str,
        quota_code: &str,
        desired: f64,
        support_case: bool,
    ) -> Result<RequestedChange, AwsError> {
        const OP: &str = "RequestServiceQuotaIncrease";
        let bound = self.timeouts.request_increase;
        let out = self
            .call_once(SERVICE, OP, bound, |meter| {
                self.service_quotas
                    .request_service_quota_increase()
                    .service_code(service_code)
                    .quota_code(quota_code)
                    .desired_value(desired)
                    .support_case_allowed(support_case)
                    .customize()
                    .config_override(
                        aws_sdk_servicequotas::config::Builder::default().timeout_config(bound.one_attempt()),
                    )
                    .interceptor(meter)
                    .send()
            })
            .await?;
        out.requested_quota().and_then(requested_change).ok_or_else(|| AwsError::missing(OP, "RequestedQuota"))
    }

    /// One request as it stands (`GetRequestedServiceQuotaChange`).
    pub async fn requested_change(&self, request_id: &str) -> Result<RequestedChange, AwsError> {
        const OP: &str = "GetRequestedServiceQuotaChange";
        let out = self
            .call(SERVICE, OP, self.timeouts.service_quotas, |meter| {
                self.service_quotas
                    .get_requested_service_quota_change()
                    .request_id(request_id)
                    .customize()
                    .interceptor(meter)
                    .send()
            })
            .await?;
        out.requested_quota().and_then(requested_change).ok_or_else(|| AwsError::missing(OP, "RequestedQuota"))
    }

    /// Every request for one quota in this region in the last 90 days, newest first
    /// (`ListRequestedServiceQuotaChangeHistoryByQuota`, every page).
    pub async fn requests_for_quota(
        &self,
        service_code: &str,
        quota_code: &str,
    ) -> Result<Vec<RequestedChange>, AwsError> {
        const OP: &str = "ListRequestedServiceQuotaChangeHistoryByQuota";
        let bound = self.timeouts.service_quotas;
        every_page(|token| async move {
            let page = self
                .call(SERVICE, OP, bound, |meter| {
                    self.service_quotas
                        .list_requested_service_quota_change_history_by_quota()
                        .service_code(service_code)
                        .quota_code(quota_code)
                        .max_results(super::servicequotas::MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            Ok((page.requested_quotas().iter().filter_map(requested_change).collect(), page.next_token))
        })
        .await
    }

    /// The open requests of this region, any quota: PENDING and CASE_OPENED
    /// (`ListRequestedServiceQuotaChangeHistory`, one listing per status, every page).
    pub async fn open_requests(&self) -> Result<Vec<RequestedChange>, AwsError> {
        const OP: &str = "ListRequestedServiceQuotaChangeHistory";
        let bound = self.timeouts.service_quotas;
        let mut out = Vec::new();
        for status in [RequestStatus::Pending, RequestStatus::CaseOpened] {
            let status = &status;
            out.extend(
                every_page(|token| async move {
                    let page = self
                        .call(SERVICE, OP, bound, |meter| {
                            self.service_quotas
                                .list_requested_service_quota_change_history()
                                .status(status.clone())
                                .max_results(super::servicequotas::MAX_RESULTS)
                                .set_next_token(token.clone())
                                .customize()
                                .interceptor(meter)
                                .send()
                        })
                        .await?;
                    Ok((page.requested_quotas().iter().filter_map(requested_change).collect(), page.next_token))
                })
                .await?,
            );
        }
        Ok(out)
    }

    /// The account's Automatic Management configuration (`GetAutoManagementConfiguration`).
    pub async fn auto_management(&self) -> Result<AutoManagement, AwsError> {
        const OP: &str = "GetAutoManagementConfiguration";
        let out = self
            .call(SERVICE, OP, self.timeouts.service_quotas, |meter| {
                self.service_quotas.get_auto_management_configuration().customize().interceptor(meter).send()
            })
            .await?;
        Ok(AutoManagement {
            enabled: out.opt_in_status() == Some(&OptInStatus::Enabled),
            adjusts: out.opt_in_type() == Some(&OptInType::NotifyAndAdjust),
            excluded: out
                .exclusion_list()
                .map(|m| {
                    m.iter()
                        .map(|(service, quotas)| {
                            (service.clone(), quotas.iter().filter_map(|q| q.quota_code().map(str::to_owned)).collect())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Converts one `RequestedServiceQuotaChange`; one without an id is dropped.
pub fn requested_change(r: &RequestedServiceQuotaChange) -> Option<RequestedChange> {
    Some(RequestedChange {
        id: r.id()?.to_owned(),
        service_code: r.service_code().unwrap_or_default().to_owned(),
        quota_code: r.quota_code().unwrap_or_default().to_owned(),
        desired: r.desired_value(),
        status: r.status().map_or("UNKNOWN", RequestStatus::as_str).to_owned(),
        case_id: r.case_id().map(str::to_owned),
        created: r.created().map(|t| t.as_secs_f64()),
        automatic: r.request_type() == Some(&RequestType::AutomaticManagement),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_servicequotas::primitives::DateTime;

    #[test]
    fn a_requested_change_keeps_status_case_creation_and_origin() {
        let r = RequestedServiceQuotaChange::builder()
            .id("d187537d15254312a9609aa51ca3cb3cyjQbA7Bm")
            .service_code("ec2")
            .quota_code("L-1216C47A")
            .desired_value(1280.0)
            .status(RequestStatus::CaseOpened)
            .case_id("11223344556")
            .created(DateTime::from_secs(1_795_000_000))
            .request_type(RequestType::AutomaticManagement)
            .build();
        let c = requested_change(&r).expect("has an id");
        assert_eq!(c.status, "CASE_OPENED");
        assert_eq!(c.desired, Some(1280.0));
        assert_eq!(c.case_id.as_deref(), Some("11223344556"));
        assert_eq!(c.created, Some(1_795_000_000.0));
        assert!(c.automatic);
        assert!(c.is_open());
        assert_eq!(requested_change(&RequestedServiceQuotaChange::builder().build()), None);
    }
}
