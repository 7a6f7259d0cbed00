//! Service Quotas: `ListServices`, `ListServiceQuotas` (applied values at every level)
//! and `ListAWSDefaultServiceQuotas`, paged with `MaxResults=100` until `NextToken` is
//! absent. A short page never ends a listing; only a missing token does.

use aws_sdk_servicequotas::types::{AppliedLevelEnum, QuotaContextScope, ServiceQuota};

use super::{AwsError, TargetAws, every_page};
use crate::model::{ListedQuota, PeriodUnit, QuotaPeriod, ServiceInfo, Statistic, UsageMetric};

const SERVICE: &str = "servicequotas";
/// The largest page Service Quotas serves.
pub const MAX_RESULTS: i32 = 100;

impl TargetAws {
    /// Every service that has quotas in this region.
    pub async fn list_services(&self) -> Result<Vec<ServiceInfo>, AwsError> {
        const OP: &str = "ListServices";
        let bound = self.timeouts.service_quotas;
        every_page(|token| async move {
            let page = self
                .call(SERVICE, OP, bound, |meter| {
                    self.service_quotas
                        .list_services()
                        .max_results(MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            let services = page.services().iter().filter_map(|s| {
                Some(ServiceInfo {
                    code: s.service_code()?.to_owned(),
                    name: s.service_name().unwrap_or_default().to_owned(),
                })
            });
            Ok((services.collect(), page.next_token))
        })
        .await
    }

    /// The applied values of a service's quotas, account-level and resource-level.
    pub async fn list_applied_quotas(&self, service_code: &str) -> Result<Vec<ListedQuota>, AwsError> {
        const OP: &str = "ListServiceQuotas";
        let bound = self.timeouts.service_quotas;
        every_page(|token| async move {
            let page = self
                .call(SERVICE, OP, bound, |meter| {
                    self.service_quotas
                        .list_service_quotas()
                        .service_code(service_code)
                        .quota_applied_at_level(AppliedLevelEnum::All)
                        .max_results(MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            Ok((page.quotas().iter().filter_map(listed_quota).collect(), page.next_token))
        })
        .await
    }

    /// The AWS default values of a service's quotas.
    pub async fn list_default_quotas(&self, service_code: &str) -> Result<Vec<ListedQuota>, AwsError> {
        const OP: &str = "ListAWSDefaultServiceQuotas";
        let bound = self.timeouts.service_quotas;
        every_page(|token| async move {
            let page = self
                .call(SERVICE, OP, bound, |meter| {
                    self.service_quotas
                        .list_aws_default_service_quotas()
                        .service_code(service_code)
                        .max_results(MAX_RESULTS)
                        .set_next_token(token.clone())
                        .customize()
                        .interceptor(meter)
                        .send()
                })
                .await?;
            Ok((page.quotas().iter().filter_map(listed_quota).collect(), page.next_token))
        })
        .await
    }
}

/// Converts one `ServiceQuota`; entries without a quota code are dropped.
pub fn listed_quota(q: &ServiceQuota) -> Option<ListedQuota> {
    let resource = q
        .quota_context()
        .filter(|c| c.context_scope() == Some(&QuotaContextScope::Resource))
        .and_then(|c| c.context_id())
        .map(str::to_owned);
    Some(ListedQuota {
        service_code: q.service_code().unwrap_or_default().to_owned(),
        service_name: q.service_name().unwrap_or_default().to_owned(),
        code: q.quota_code()?.to_owned(),
        name: q.quota_name().unwrap_or_default().to_owned(),
        unit: q.unit().unwrap_or("None").to_owned(),
        value: q.value(),
        adjustable: q.adjustable(),
        global: q.global_quota(),
        usage_metric: q.usage_metric().and_then(|m| {
            let namespace = m.metric_namespace()?.to_owned();
            let name = m.metric_name()?.to_owned();
            let statistic = Statistic::for_usage(&namespace, &name, m.metric_statistic_recommendation());
            let mut dimensions: Vec<(String, String)> = m
                .metric_dimensions()
                .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            dimensions.sort();
            Some(UsageMetric { namespace, name, dimensions, statistic })
        }),
        period: q.period().and_then(|p| {
            let value = u32::try_from(p.period_value()?).ok().filter(|v| *v > 0)?;
            Some(QuotaPeriod { value, unit: PeriodUnit::parse(p.period_unit()?.as_str())? })
        }),
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_servicequotas::types::{
        MetricInfo, PeriodUnit as SdkPeriodUnit, QuotaContextInfo, QuotaPeriod as SdkPeriod,
    };

    fn base() -> aws_sdk_servicequotas::types::builders::ServiceQuotaBuilder {
        ServiceQuota::builder()
            .service_code("kms")
            .service_name("AWS Key Management Service (AWS KMS)")
            .quota_code("L-6E3AF000")
            .quota_name("Cryptographic operations (symmetric) request rate")
            .value(10000.0)
            .adjustable(true)
    }

    #[test]
    fn a_rate_quota_keeps_its_period_and_sum_statistic() {
        let q = base()
            .period(SdkPeriod::builder().period_value(1).period_unit(SdkPeriodUnit::Second).build())
            .usage_metric(
                MetricInfo::builder()
                    .metric_namespace("AWS/Usage")
                    .metric_name("CallCount")
                    .metric_dimensions("Service", "KMS")
                    .metric_dimensions("Type", "API")
                    .metric_dimensions("Resource", "CryptographicOperationsSymmetric")
                    .metric_dimensions("Class", "None")
                    .metric_statistic_recommendation("Sum")
                    .build(),
            )
            .build();
        let l = listed_quota(&q).expect("has a code");
        assert_eq!(l.period, Some(QuotaPeriod { value: 1, unit: PeriodUnit::Second }));
        let m = l.usage_metric.expect("has a usage metric");
        assert_eq!(m.statistic, Statistic::Sum);
        assert_eq!(
            m.dimensions.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["Class", "Resource", "Service", "Type"],
            "dimensions are sorted so shared metrics compare equal"
        );
        assert!(l.adjustable);
        assert_eq!(l.unit, "None", "a missing unit reads as AWS's None");
    }

    #[test]
    fn a_resource_level_entry_carries_its_context_id() {
        let q = base()
            .quota_context(
                QuotaContextInfo::builder()
                    .context_scope(QuotaContextScope::Resource)
                    .context_id("arn:aws:es:us-east-1:111122223333:domain/search-prod")
                    .build(),
            )
            .build();
        assert_eq!(
            listed_quota(&q).expect("has a code").resource.as_deref(),
            Some("arn:aws:es:us-east-1:111122223333:domain/search-prod")
        );
        let account =
            base().quota_context(QuotaContextInfo::builder().context_scope(QuotaContextScope::Account).build()).build();
        assert_eq!(listed_quota(&account).expect("has a code").resource, None);
    }

    #[test]
    fn an_entry_without_a_quota_code_is_dropped() {
        assert_eq!(listed_quota(&ServiceQuota::builder().quota_name("nameless").build()), None);
    }

    #[test]
    fn a_zero_or_unknown_period_is_ignored() {
        let q = base().period(SdkPeriod::builder().period_value(0).period_unit(SdkPeriodUnit::Second).build()).build();
        assert_eq!(listed_quota(&q).expect("has a code").period, None);
    }
}
