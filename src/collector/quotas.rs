//! The Service Quotas collector: lists every service, then each service's applied and
//! default quotas, merged into one inventory.
//!
//! Every call is retried by the AWS boundary; a service listing (or `ListServices`)
//! that still fails is tried again, whole, in up to [`crate::aws::retry::ROUNDS`] more rounds
//! within the same refresh, so that a burst of throttling does not leave a region or a
//! service out of the first snapshot. A service that fails even so keeps its last good
//! quotas and records the error; a service that AWS stops listing, and a quota that
//! disappears from a service, disappear from the inventory on the next successful
//! listing.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;

use super::{CollectError, Collector, Source, TargetContext, TargetData};
use crate::aws::AwsError;
use crate::model::{Quota, ServiceInfo, merge_quotas};

/// Every quota of a target, by service code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaInventory {
    pub services: BTreeMap<String, ServiceQuotas>,
}

/// One service's quotas and the state of its last listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceQuotas {
    pub info: ServiceInfo,
    /// Sorted by quota code, then resource.
    pub quotas: Arc<Vec<Quota>>,
    /// Epoch seconds of the last successful listing of this service.
    pub last_success: Option<f64>,
    /// Why the last listing failed, if it did.
    pub error: Option<String>,
}

impl QuotaInventory {
    /// Every quota, in service order.
    pub fn quotas(&self) -> impl Iterator<Item = &Quota> {
        self.services.values().flat_map(|s| s.quotas.iter())
    }
}

/// Reads quotas from Service Quotas.
#[derive(Debug, Default)]
pub struct QuotasCollector;

impl Collector for QuotasCollector {
    const SOURCE: Source = Source::ServiceQuotas;

    async fn collect(&self, ctx: &TargetContext, data: &mut TargetData) -> Result<(), CollectError> {
        let services =
            ctx.aws.call_in_rounds(|| ctx.aws.list_services()).await.map_err(|e| CollectError(e.to_string()))?;
        let wanted: Vec<ServiceInfo> = services.into_iter().filter(|s| ctx.config.wants_service(&s.code)).collect();
        let listings = ctx.aws.in_rounds(wanted, |services| list_services(ctx, services)).await;

        let now = ctx.clock.now();
        let previous = &data.quotas.services;
        let mut inventory = QuotaInventory::default();
        let mut failures = Vec::new();
        for (info, listing) in listings {
            let entry = match listing {
                Ok(quotas) => ServiceQuotas { info, quotas: Arc::new(quotas), last_success: Some(now), error: None },
                Err(error) => {
                    let error = error.to_string();
                    failures.push(format!("{} ({error})", info.code));
                    match previous.get(&info.code) {
                        Some(old) => ServiceQuotas { error: Some(error), ..old.clone() },
                        None => ServiceQuotas { info, quotas: Arc::default(), last_success: None, error: Some(error) },
                    }
                }
            };
            inventory.services.insert(entry.info.code.clone(), entry);
        }
        data.quotas = Arc::new(inventory);
        if failures.is_empty() {
            Ok(())
        } else {
            failures.sort();
            Err(CollectError(format!("listing failed for {} service(s): {}", failures.len(), failures.join("; "))))
        }
    }
}

type Listing = (ServiceInfo, Result<Vec<Quota>, AwsError>);

/// Lists services, `concurrency` at a time.
async fn list_services(ctx: &TargetContext, services: Vec<ServiceInfo>) -> Vec<Listing> {
    let listings: Vec<_> = services.into_iter().map(|s| list_service(ctx, s)).collect();
    futures_util::stream::iter(listings).buffer_unordered(ctx.config.concurrency.max(1)).collect().await
}

/// Lists one service's applied and default quotas and merges them.
async fn list_service(ctx: &TargetContext, service: ServiceInfo) -> Listing {
    let listing = async {
        let applied = ctx.aws.list_applied_quotas(&service.code).await?;
        let defaults = ctx.aws.list_default_quotas(&service.code).await?;
        let mut quotas = merge_quotas(&service, applied, defaults);
        if !ctx.publishes_global_quotas {
            quotas.retain(|q| !q.global);
        }
        Ok(quotas)
    }
    .await;
    (service, listing)
}
