//! One target's refresh cycle: learn the account, run the collectors, record each
//! source's status, publish an immutable copy of the result.
//!
//! A full refresh lists quotas and then reads their usage; a usage refresh reads usage
//! only. Nothing here ever returns an error to its caller: failures become statuses,
//! logged once where they happen, and the last good data stays published.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::collector::bedrock_inventory::BedrockInventoryCollector;
use crate::collector::bedrock_runtime::BedrockRuntimeCollector;
use crate::collector::history::{self, HistoryCollector};
use crate::collector::quotas::QuotasCollector;
use crate::collector::usage::UsageCollector;
use crate::collector::{Cadence, CollectError, Collector, Source, TargetContext, TargetData};
use crate::model::Target;
use crate::snapshot::{SourceStatus, Store, TargetSnapshot};

/// A limit AWS raised (an approved increase), read at `at` (epoch seconds): it wins
/// over the target's listing until a listing newer than it comes in.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitPatch {
    pub service_code: String,
    pub quota_code: String,
    pub value: f64,
    pub at: f64,
}

/// Raises a published limit at once, without waiting for (or locking) the target's
/// refresh: the patch goes into the store now and into the runner's own data when it
/// next publishes. Shared by the runner and the increase receiver.
#[derive(Debug)]
pub struct LimitPatches {
    index: usize,
    store: Arc<Store>,
    pending: Mutex<Vec<LimitPatch>>,
}

impl LimitPatches {
    /// The store the target publishes into.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Applies `patch` to the target's published snapshot and keeps it for the runner.
    /// Returns the generation to wait for, or `None` if the target does not publish
    /// the quota.
    pub fn apply(&self, patch: LimitPatch) -> Option<u64> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.store.patch(self.index, |snapshot| {
            let mut quotas = (*snapshot.quotas).clone();
            patch_inventory(&mut quotas, &patch)
                .then(|| TargetSnapshot { quotas: Arc::new(quotas), ..snapshot.clone() })
        })?;
        pending.retain(|p| (&p.service_code, &p.quota_code) != (&patch.service_code, &patch.quota_code));
        pending.push(patch);
        Some(generation)
    }
}

/// Sets the limit of a patch's account-level quota; whether the inventory has it.
fn patch_inventory(inventory: &mut crate::collector::QuotaInventory, patch: &LimitPatch) -> bool {
    let Some(service) = inventory.services.get_mut(&patch.service_code) else { return false };
    let mut quotas = (*service.quotas).clone();
    let mut found = false;
    for q in quotas.iter_mut().filter(|q| q.code == patch.quota_code && q.resource.is_none()) {
        q.limit = Some(patch.value);
        found = true;
    }
    service.quotas = Arc::new(quotas);
    found
}

/// Runs the refreshes of one target and publishes the results.
#[derive(Debug)]
pub struct TargetRunner {
    index: usize,
    target: Target,
    identity: Arc<crate::identity::Identity>,
    ctx: TargetContext,
    data: TargetData,
    statuses: BTreeMap<Source, SourceStatus>,
    full_refreshes: u64,
    store: Arc<Store>,
    patches: Arc<LimitPatches>,
}

impl TargetRunner {
    /// A runner publishing into `store`'s slot `index`; `identity` is shared by the
    /// account's targets, so that STS is asked once per account.
    pub fn new(
        index: usize,
        target: Target,
        ctx: TargetContext,
        store: Arc<Store>,
        identity: Arc<crate::identity::Identity>,
    ) -> TargetRunner {
        let patches = Arc::new(LimitPatches { index, store: store.clone(), pending: Mutex::new(Vec::new()) });
        TargetRunner {
            index,
            target,
            identity,
            ctx,
            data: TargetData::default(),
            statuses: BTreeMap::new(),
            full_refreshes: 0,
            store,
            patches,
        }
    }

    /// Where raised limits reach this target without waiting for its lock.
    pub fn patches(&self) -> Arc<LimitPatches> {
        self.patches.clone()
    }

    /// Lists quotas (and the Bedrock inventory), reads usage (and Bedrock's runtime
    /// metrics) and publishes. Returns the published generation.
    pub async fn full_refresh(&mut self) -> u64 {
        if self.ensure_account().await {
            let config = self.ctx.config.clone();
            for spec in crate::collector::enabled(&config) {
                if spec.cadence != Cadence::Daily || self.data.history.due(self.ctx.clock.now()) {
                    self.run_source(spec.source).await;
                }
            }
            self.update_forecasts();
        }
        self.full_refreshes += 1;
        self.report();
        self.publish()
    }

    /// Runs one source's collector.
    async fn run_source(&mut self, source: Source) {
        match source {
            Source::ServiceQuotas => self.run(&QuotasCollector).await,
            Source::BedrockInventory => self.run(&BedrockInventoryCollector).await,
            Source::Usage => self.run(&UsageCollector).await,
            Source::BedrockRuntime => self.run(&BedrockRuntimeCollector).await,
            Source::History => self.run(&HistoryCollector).await,
        }
    }

    /// Tells the account whether this region could be refreshed at all.
    fn report(&self) {
        let ok = self.statuses.values().any(|s| s.success);
        let error = self.statuses.values().find_map(|s| s.error.as_deref());
        self.identity.report(&self.target.region, ok, error);
    }

    /// Reads usage for the quotas already known and publishes. Returns the published generation.
    pub async fn usage_refresh(&mut self) -> u64 {
        if self.ensure_account().await {
            let config = self.ctx.config.clone();
            for spec in crate::collector::enabled(&config).filter(|s| s.cadence == Cadence::Usage) {
                self.run_source(spec.source).await;
            }
            self.update_forecasts();
        }
        self.report();
        self.publish()
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

    /// Learns the account id once per account (its regions share the answer); until
    /// STS has confirmed it (for a role: until the role could be assumed) every source
    /// is marked failed.
    async fn ensure_account(&mut self) -> bool {
        if self.data.account_id.is_some() {
            return true;
        }
        let started = Instant::now();
        match self.identity.resolve(&self.ctx.aws).await {
            Ok(id) => {
                // Another region may have asked: this target's calls are counted and
                // paced under the account from now on too.
                self.ctx.aws.labels.set_account_id(&id);
                self.data.account_id = Some(id);
                true
            }
            Err(e) => {
                let at = self.ctx.clock.now();
                // The account logs this once for all its regions and sources.
                let error = CollectError(format!("account unknown: {e}"));
                for source in self.ctx.sources().collect::<Vec<_>>() {
                    self.set_status(source, at, started.elapsed().as_secs_f64(), Err(error.clone()));
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
        let account = self.identity.id().unwrap_or_default();
        match (&result, previous_error) {
            (Err(e), Some(old)) if old == e.0 => {
                tracing::debug!(aws.region = %region, source = source.as_str(), error = %e, "refresh still failing")
            }
            (Err(e), _) => tracing::warn!(
                cloud.account.id = %account,
                aws.region = %region,
                source = source.as_str(),
                error = %e,
                "refresh incomplete; last good values kept"
            ),
            (Ok(()), Some(_)) => tracing::info!(aws.region = %region, source = source.as_str(), "refresh recovered"),
            (Ok(()), None) => tracing::debug!(aws.region = %region, source = source.as_str(), duration, "refreshed"),
        }
        self.set_status(source, at, duration, result);
    }

    fn set_status(&mut self, source: Source, at: f64, duration: f64, result: Result<(), CollectError>) {
        let previous = self.statuses.get(&source);
        let status = SourceStatus {
            success: result.is_ok(),
            last_attempt: at,
            last_success: if result.is_ok() { Some(at) } else { previous.and_then(|s| s.last_success) },
            duration_seconds: duration,
            error: result.err().map(|e| e.0),
        };
        self.statuses.insert(source, status);
    }

    /// Publishes the target's data, with the raised limits its listing has not caught up
    /// with yet. The runner's own data keeps what the listing said, so that a listing
    /// read before the increase (and finished after it) cannot undo the patch; a patch
    /// goes once a listing shows the raised value, or after two listing intervals.
    fn publish(&self) -> u64 {
        let mut pending = self.patches.pending.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.ctx.clock.now();
        let max_age = 2.0 * self.ctx.config.limits_refresh_interval.as_secs_f64();
        let services = &self.data.quotas.services;
        pending.retain(|p| {
            let listed = services
                .get(&p.service_code)
                .and_then(|s| s.quotas.iter().find(|q| q.code == p.quota_code && q.resource.is_none()))
                .and_then(|q| q.limit);
            now - p.at < max_age && listed.is_none_or(|v| v < p.value)
        });
        let (quotas, forecasts) = if pending.is_empty() {
            (self.data.quotas.clone(), self.data.forecasts.clone())
        } else {
            let mut inventory = (*self.data.quotas).clone();
            for p in pending.iter() {
                patch_inventory(&mut inventory, p);
            }
            let view = TargetData { quotas: Arc::new(inventory), ..self.data.clone() };
            let forecasts = if self.ctx.config.forecast {
                Arc::new(history::forecasts(&view, now, self.ctx.config.forecast_history_days))
            } else {
                view.forecasts.clone()
            };
            (view.quotas, forecasts)
        };
        let snapshot = TargetSnapshot {
            target: self.target.clone(),
            account_id: self.data.account_id.clone().or_else(|| self.identity.id()),
            quotas,
            usage: self.data.usage.clone(),
            bedrock: self.data.bedrock.clone(),
            bedrock_runtime: self.data.bedrock_runtime.clone(),
            forecasts,
            statuses: self.statuses.clone(),
            complete_rounds: self.full_refreshes,
        };
        self.store.publish(self.index, Arc::new(snapshot))
    }
}
