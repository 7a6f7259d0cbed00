//! The snapshot: an immutable copy of every target's latest data, and the exposition
//! rendered from it once per change.
//!
//! Target runners publish into the [`Hub`]; a renderer task turns the latest snapshot
//! into pre-rendered, pre-compressed expositions and swaps them in atomically. A
//! scrape only clones an `Arc` of what was rendered last: it never calls AWS, never
//! waits for a refresh and never renders.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{Notify, watch};

use crate::collector::{BedrockRuntime, QuotaInventory, Source, UsageTable};
use crate::exposition::Exposition;
use crate::metrics::{Family, Inputs};
use crate::model::Target;
use crate::selfmetrics::SelfMetrics;
use crate::target::SourceStatus;

/// What one target published last.
#[derive(Debug, Clone)]
pub struct TargetSnapshot {
    pub target: Target,
    pub account_id: Option<String>,
    pub quotas: Arc<QuotaInventory>,
    pub usage: Arc<UsageTable>,
    pub bedrock: Arc<crate::bedrock::Inventory>,
    pub bedrock_runtime: Arc<BedrockRuntime>,
    pub forecasts: Arc<crate::collector::history::Forecasts>,
    pub statuses: std::collections::BTreeMap<Source, SourceStatus>,
    /// How many full refreshes (quotas and usage) this target has completed.
    pub complete_rounds: u64,
}

impl TargetSnapshot {
    /// The `cloud_account_id` label value (empty until STS has answered).
    pub fn account_label(&self) -> &str {
        self.account_id.as_deref().unwrap_or_default()
    }
}

/// Every target's latest snapshot, sorted by account and region.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub targets: Vec<Arc<TargetSnapshot>>,
    /// The increase receiver's open requests (empty without a receiver).
    pub increase_requests: Arc<Vec<crate::increase::ledger::Entry>>,
}

/// Where targets publish and scrapes read.
#[derive(Debug)]
pub struct Hub {
    slots: Mutex<Vec<Option<Arc<TargetSnapshot>>>>,
    published: AtomicU64,
    render_requested: Notify,
    rendered: watch::Sender<u64>,
    exposition: RwLock<Arc<Exposition>>,
    ready: AtomicBool,
    metrics: Arc<SelfMetrics>,
    families: Arc<Vec<Family>>,
    increase_requests: RwLock<Arc<Vec<crate::increase::ledger::Entry>>>,
}

impl Hub {
    /// A hub for `targets` targets, with an exposition of the self-metrics already rendered.
    pub fn new(targets: usize, metrics: Arc<SelfMetrics>, families: Arc<Vec<Family>>) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            slots: Mutex::new(vec![None; targets]),
            published: AtomicU64::new(0),
            render_requested: Notify::new(),
            rendered: watch::Sender::new(0),
            exposition: RwLock::new(Arc::new(Exposition::default())),
            ready: AtomicBool::new(false),
            metrics,
            families,
            increase_requests: RwLock::new(Arc::new(Vec::new())),
        });
        hub.render();
        hub
    }

    /// Stores a target's new snapshot and asks for a render. Returns its generation.
    pub fn publish(&self, index: usize, snapshot: Arc<TargetSnapshot>) -> u64 {
        let generation = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots[index] = Some(snapshot);
            self.published.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.render_requested.notify_one();
        generation
    }

    /// Replaces a target's published snapshot by `change` of it, unless `change` says
    /// `None`; returns the generation to wait for. Nothing is published for a target
    /// that has not published yet.
    pub fn patch(&self, index: usize, change: impl FnOnce(&TargetSnapshot) -> Option<TargetSnapshot>) -> Option<u64> {
        let generation = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let current = slots.get(index)?.as_ref()?;
            slots[index] = Some(Arc::new(change(current)?));
            self.published.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.render_requested.notify_one();
        Some(generation)
    }

    /// The latest snapshot of every target that has published.
    pub fn snapshot(&self) -> Snapshot {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut targets: Vec<Arc<TargetSnapshot>> = slots.iter().flatten().cloned().collect();
        targets.sort_by(|a, b| (a.account_label(), &a.target.region).cmp(&(b.account_label(), &b.target.region)));
        let increase_requests = self.increase_requests.read().unwrap_or_else(|p| p.into_inner()).clone();
        Snapshot { targets, increase_requests }
    }

    /// Replaces the increase receiver's open requests and asks for a render. Returns
    /// the generation to wait for with [`Hub::wait_rendered`].
    pub fn set_increase_requests(&self, mut open: Vec<crate::increase::ledger::Entry>) -> u64 {
        open.sort_by(|a, b| a.id.cmp(&b.id));
        *self.increase_requests.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(open);
        let generation = self.published.fetch_add(1, Ordering::SeqCst) + 1;
        self.render_requested.notify_one();
        generation
    }

    /// The family catalog every output walks.
    pub fn families(&self) -> &Arc<Vec<Family>> {
        &self.families
    }

    /// The live counters of the exporter.
    pub fn self_metrics(&self) -> &Arc<SelfMetrics> {
        &self.metrics
    }

    /// What a scrape serves.
    pub fn exposition(&self) -> Arc<Exposition> {
        self.exposition.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// True once every target has completed one full refresh, whatever its outcome.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Renders the current snapshot and swaps it in.
    pub fn render(&self) {
        let all_done = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.iter().all(|s| s.as_ref().is_some_and(|t| t.complete_rounds > 0))
        };
        let snapshot = self.snapshot();
        let counters = self.metrics.gather();
        let exposition = Exposition::render(&self.families, &Inputs { snapshot: &snapshot, counters: &counters });
        *self.exposition.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(exposition);
        if all_done {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    /// Changes after every render.
    pub fn subscribe_rendered(&self) -> watch::Receiver<u64> {
        self.rendered.subscribe()
    }

    /// Waits until a generation returned by [`Hub::publish`] has been rendered.
    pub async fn wait_rendered(&self, generation: u64) {
        let mut rx = self.rendered.subscribe();
        // The sender lives as long as the hub, which outlives this borrow.
        let _ = rx.wait_for(|g| *g >= generation).await;
    }

    /// Renders whenever something was published, coalescing bursts, off the async threads.
    pub async fn run_renderer(self: Arc<Self>) {
        loop {
            self.render_requested.notified().await;
            let generation = self.published.load(Ordering::SeqCst);
            let hub = self.clone();
            if tokio::task::spawn_blocking(move || hub.render()).await.is_err() {
                tracing::error!("rendering the exposition panicked; serving the previous one");
            }
            self.rendered.send_replace(generation);
        }
    }
}
