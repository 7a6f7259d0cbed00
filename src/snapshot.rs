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

/// An account the exporter covers, as people know it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountView {
    pub id: String,
    /// From Organizations or the configuration; `None` when unknown.
    pub name: Option<String>,
    /// The organizational unit it sits in directly, when discovered from Organizations.
    pub unit: Option<String>,
}

/// How the last account discovery from Organizations went.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryView {
    /// The exporter's own account, which asked.
    pub account_id: String,
    /// Where Organizations answered.
    pub region: String,
    pub status: SourceStatus,
}

/// Every target's latest snapshot, sorted by account and region.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub targets: Vec<Arc<TargetSnapshot>>,
    /// The increase receiver's open requests (empty without a receiver).
    pub increase_requests: Arc<Vec<crate::increase::ledger::Entry>>,
    /// The accounts this process covers, by id (those whose id is known).
    pub accounts: Arc<Vec<AccountView>>,
    /// Account discovery, when Organizations is used.
    pub discovery: Option<Arc<DiscoveryView>>,
}

impl Snapshot {
    /// Whether an account's collection works: at its latest refresh, some source of
    /// some region succeeded. `None` until a target of the account has refreshed.
    pub fn account_up(&self, account_id: &str) -> Option<bool> {
        let mut refreshed =
            self.targets.iter().filter(|t| t.account_label() == account_id && !t.statuses.is_empty()).peekable();
        refreshed.peek()?;
        Some(refreshed.any(|t| t.statuses.values().any(|s| s.success)))
    }
}

/// The accounts covered and the discovery's status, as the fleet last said.
type Accounts = (Arc<Vec<AccountView>>, Option<Arc<DiscoveryView>>);

/// Where targets publish and scrapes read.
#[derive(Debug)]
pub struct Hub {
    /// Every registered target's slot (`None` until it publishes), by slot number.
    slots: Mutex<std::collections::BTreeMap<usize, Option<Arc<TargetSnapshot>>>>,
    next_slot: std::sync::atomic::AtomicUsize,
    accounts: RwLock<Accounts>,
    /// Whether the set of targets is known (the first account discovery is over).
    settled: AtomicBool,
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
    /// A hub without targets, with an exposition of the self-metrics already rendered.
    /// Targets come with [`Hub::register`]; readiness waits for [`Hub::set_accounts`].
    pub fn new(metrics: Arc<SelfMetrics>, families: Arc<Vec<Family>>) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            slots: Mutex::new(std::collections::BTreeMap::new()),
            next_slot: std::sync::atomic::AtomicUsize::new(0),
            accounts: RwLock::new((Arc::new(Vec::new()), None)),
            settled: AtomicBool::new(false),
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

    /// A slot for a new target; it counts towards readiness from now on.
    pub fn register(&self) -> usize {
        let index = self.next_slot.fetch_add(1, Ordering::SeqCst);
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).insert(index, None);
        index
    }

    /// Removes a target and its series (an account that went away). Returns the
    /// generation to wait for.
    pub fn unregister(&self, index: usize) -> u64 {
        let generation = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.remove(&index);
            self.published.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.render_requested.notify_one();
        generation
    }

    /// Replaces the accounts covered (and the discovery's status). The first call with
    /// `settled` (the accounts are known) makes readiness possible.
    pub fn set_accounts(&self, accounts: Vec<AccountView>, discovery: Option<DiscoveryView>, settled: bool) -> u64 {
        *self.accounts.write().unwrap_or_else(|p| p.into_inner()) = (Arc::new(accounts), discovery.map(Arc::new));
        if settled {
            self.settled.store(true, Ordering::SeqCst);
        }
        let generation = self.published.fetch_add(1, Ordering::SeqCst) + 1;
        self.render_requested.notify_one();
        generation
    }

    /// Stores a target's new snapshot and asks for a render. Returns its generation. A
    /// target no longer registered (its account went away mid-refresh) is ignored.
    pub fn publish(&self, index: usize, snapshot: Arc<TargetSnapshot>) -> u64 {
        let generation = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = slots.get_mut(&index) {
                *slot = Some(snapshot);
            }
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
            let slot = slots.get_mut(&index)?;
            let changed = Arc::new(change(slot.as_ref()?)?);
            *slot = Some(changed);
            self.published.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.render_requested.notify_one();
        Some(generation)
    }

    /// The latest snapshot of every target that has published.
    pub fn snapshot(&self) -> Snapshot {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut targets: Vec<Arc<TargetSnapshot>> = slots.values().flatten().cloned().collect();
        drop(slots);
        targets.sort_by(|a, b| (a.account_label(), &a.target.region).cmp(&(b.account_label(), &b.target.region)));
        let increase_requests = self.increase_requests.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (accounts, discovery) = self.accounts.read().unwrap_or_else(|p| p.into_inner()).clone();
        Snapshot { targets, increase_requests, accounts, discovery }
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

    /// Asks for a render without new data: the live counters changed (an OTLP export).
    pub fn request_render(&self) {
        self.render_requested.notify_one();
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

    /// True once the targets are known and each has completed one full refresh,
    /// whatever its outcome.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Renders the current snapshot and swaps it in.
    pub fn render(&self) {
        let all_done = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            self.settled.load(Ordering::SeqCst)
                && slots.values().all(|s| s.as_ref().is_some_and(|t| t.complete_rounds > 0))
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
