//! One target's refresh cycle: learn the account, run the collectors, record each
//! source's status, publish an immutable copy of the result.
//!
//! A full refresh lists quotas and then reads their usage; a usage refresh reads usage
//! only. Nothing here ever returns an error to its caller: failures become statuses,
//! logged once where they happen, and the last good data stays published.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::collector::bedrock_inventory::BedrockInventoryCollector;
use crate::collector::bedrock_runtime::BedrockRuntimeCollector;
use crate::collector::history::{self, HistoryCollector};
use crate::collector::quotas::QuotasCollector;
use crate::collector::usage::UsageCollector;
use crate::collector::{CollectError, Collector, Source, TargetContext, TargetData};
use crate::model::Target;
use crate::snapshot::{Hub, TargetSnapshot};

/// How a source's last refresh went.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub success: bool,
    /// Epoch seconds of the last attempt.
    pub last_attempt: f64,
    /// Epoch seconds of the last fully successful refresh.
    pub last_success: Option<f64>,
    pub duration_seconds: f64,
    pub error: Option<String>,
}

/// Runs the refreshes of one target and publishes the results.
#[derive(Debug)]
pub struct TargetRunner {
    index: usize,
    target: Target,
    ctx: TargetContext,
    data: TargetData,
    statuses: BTreeMap<Source, SourceStatus>,
    full_refreshes: u64,
    hub: Arc<Hub>,
}

impl TargetRunner {
    pub fn new(index: usize, target: Target, ctx: TargetContext, hub: Arc<Hub>) -> TargetRunner {
        TargetRunner {
            index,
            target,
            ctx,
            data: TargetData::default(),
            statuses: BTreeMap::new(),
            full_refreshes: 0,
            hub,
        }
    }

    /// Lists quotas (and the Bedrock inventory), reads usage (and Bedrock's runtime
    /// metrics) and publishes. Returns the published generation.
    pub async fn full_refresh(&mut self) -> u64 {
        if self.ensure_account().await {
            self.run(&QuotasCollector).await;
            if self.ctx.config.bedrock {
                self.run(&BedrockInventoryCollector).await;
            }
            self.run(&UsageCollector).await;
            if self.ctx.config.bedrock {
                self.run(&BedrockRuntimeCollector).await;
            }
            if self.ctx.config.forecast && self.data.history.due(self.ctx.clock.now()) {
                self.run(&HistoryCollector).await;
            }
            self.update_forecasts();
        }
        self.full_refreshes += 1;
        self.publish()
    }

    /// Reads usage for the quotas already known and publishes. Returns the published generation.
    pub async fn usage_refresh(&mut self) -> u64 {
        if self.ensure_account().await {
            self.run(&UsageCollector).await;
            if self.ctx.config.bedrock {
                self.run(&BedrockRuntimeCollector).await;
            }
            self.update_forecasts();
        }
        self.publish()
    }

    /// Reads one quota's value again (`GetServiceQuota`), after AWS approved an
    /// increase, and publishes it. Returns the published generation.
    pub async fn refresh_limit(&mut self, service_code: &str, quota_code: &str) -> u64 {
        match self.ctx.aws.current_quota(service_code, quota_code).await {
            Ok(current) => {
                let mut inventory = (*self.data.quotas).clone();
                if let Some(service) = inventory.services.get_mut(service_code) {
                    let mut quotas = (*service.quotas).clone();
                    for q in quotas.iter_mut().filter(|q| q.code == quota_code && q.resource.is_none()) {
                        q.limit = Some(current.value);
                    }
                    service.quotas = Arc::new(quotas);
                }
                self.data.quotas = Arc::new(inventory);
                self.update_forecasts();
                tracing::info!(
                    aws.region = %self.target.region,
                    service_code,
                    quota_code,
                    limit = current.value,
                    "limit read again after an approved increase"
                );
            }
            Err(e) => tracing::warn!(
                aws.region = %self.target.region,
                service_code,
                quota_code,
                error = %e,
                "cannot read the limit again after an approved increase; the next full refresh will"
            ),
        }
        self.publish()
    }

    /// Whether this target publishes the quota: its region's, or a global one.
    pub fn publishes(&self, region: &str, service_code: &str, quota_code: &str) -> bool {
        let listed = self
            .data
            .quotas
            .services
            .get(service_code)
            .and_then(|s| s.quotas.iter().find(|q| q.code == quota_code && q.resource.is_none()));
        listed.is_some_and(|q| self.target.region == region || q.global)
    }

    /// Extends the history's current day with this refresh's readings and fits again.
    fn update_forecasts(&mut self) {
        if !self.ctx.config.forecast {
            return;
        }
        let now = self.ctx.clock.now();
        history::extend(&mut self.data, now);
        self.data.forecasts = Arc::new(history::forecasts(&self.data, now, self.ctx.config.forecast_history_days));
    }

    /// Learns the account id once; without it no series can be labelled, so every
    /// source is marked failed until it is known.
    async fn ensure_account(&mut self) -> bool {
        if self.data.account_id.is_some() {
            return true;
        }
        let started = Instant::now();
        match self.ctx.aws.caller_account_id().await {
            Ok(id) => {
                self.data.account_id = Some(id);
                true
            }
            Err(e) => {
                let at = self.ctx.clock.now();
                let error = CollectError(format!("account unknown: {e}"));
                for source in self.ctx.sources() {
                    self.record(source, at, started.elapsed().as_secs_f64(), Err(error.clone()));
                }
                false
            }
        }
    }

    async fn run<C: Collector>(&mut self, collector: &C) {
        let at = self.ctx.clock.now();
        let started = Instant::now();
        let result = collector.collect(&self.ctx, &mut self.data).await;
        self.record(C::SOURCE, at, started.elapsed().as_secs_f64(), result);
    }

    /// Records a source's outcome and logs it once: a new or changed failure as a
    /// warning, a recovery as info, a failure that repeats itself only at debug level.
    fn record(&mut self, source: Source, at: f64, duration: f64, result: Result<(), CollectError>) {
        let previous = self.statuses.get(&source);
        let previous_error = previous.and_then(|s| s.error.as_deref());
        let region = &self.target.region;
        match (&result, previous_error) {
            (Err(e), Some(old)) if old == e.0 => {
                tracing::debug!(aws.region = %region, source = source.as_str(), error = %e, "refresh still failing")
            }
            (Err(e), _) => tracing::warn!(
                aws.region = %region,
                source = source.as_str(),
                error = %e,
                "refresh incomplete; last good values kept"
            ),
            (Ok(()), Some(_)) => tracing::info!(aws.region = %region, source = source.as_str(), "refresh recovered"),
            (Ok(()), None) => tracing::debug!(aws.region = %region, source = source.as_str(), duration, "refreshed"),
        }
        let status = SourceStatus {
            success: result.is_ok(),
            last_attempt: at,
            last_success: if result.is_ok() { Some(at) } else { previous.and_then(|s| s.last_success) },
            duration_seconds: duration,
            error: result.err().map(|e| e.0),
        };
        self.statuses.insert(source, status);
    }

    fn publish(&self) -> u64 {
        let snapshot = TargetSnapshot {
            target: self.target.clone(),
            account_id: self.data.account_id.clone(),
            quotas: self.data.quotas.clone(),
            usage: self.data.usage.clone(),
            bedrock: self.data.bedrock.clone(),
            bedrock_runtime: self.data.bedrock_runtime.clone(),
            forecasts: self.data.forecasts.clone(),
            statuses: self.statuses.clone(),
            complete_rounds: self.full_refreshes,
        };
        self.hub.publish(self.index, Arc::new(snapshot))
    }
}
