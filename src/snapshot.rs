//! The snapshot store: an immutable copy of every target's latest data, and a
//! notification when it changes.
//!
//! Target runners, the fleet and the increase receiver publish into the [`Store`]; the
//! outputs read it. The store knows nothing of them: it numbers each change (a
//! generation) and announces it on a watch channel; the renderer
//! ([`crate::exposition::Renderer`]) subscribes and says which generation its
//! exposition includes ([`Store::mark_rendered`]), so that a publisher can wait until a
//! scrape shows its change ([`Store::wait_rendered`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use crate::collector::{BedrockRuntime, QuotaInventory, Source, UsageTable};
use crate::model::Target;

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
    /// Every source that failed at its latest refresh, as `region source: error`.
    pub fn failures(&self) -> Vec<String> {
        self.targets
            .iter()
            .flat_map(|t| t.statuses.iter().map(move |(source, s)| (t, source, s)))
            .filter_map(|(t, source, s)| {
                Some(format!("{} {}: {}", t.target.region, source.as_str(), s.error.as_ref()?))
            })
            .collect()
    }

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

/// Where targets publish and outputs read.
#[derive(Debug)]
pub struct Store {
    /// Every registered target's slot (`None` until it publishes), by slot number.
    slots: Mutex<std::collections::BTreeMap<usize, Option<Arc<TargetSnapshot>>>>,
    next_slot: std::sync::atomic::AtomicUsize,
    accounts: RwLock<Accounts>,
    /// Whether the set of targets is known (the first account discovery is over).
    settled: AtomicBool,
    increase_requests: RwLock<Arc<Vec<crate::increase::ledger::Entry>>>,
    /// The generation of the latest change; subscribers wait on it.
    published: watch::Sender<u64>,
    /// The latest generation the renderer's exposition includes.
    rendered: watch::Sender<u64>,
}

impl Store {
    /// A store without targets. Targets come with [`Store::register`]; completeness
    /// waits for [`Store::set_accounts`] with `settled`.
    pub fn new() -> Arc<Store> {
        Arc::new(Store {
            slots: Mutex::new(std::collections::BTreeMap::new()),
            next_slot: std::sync::atomic::AtomicUsize::new(0),
            accounts: RwLock::new((Arc::new(Vec::new()), None)),
            settled: AtomicBool::new(false),
            increase_requests: RwLock::new(Arc::new(Vec::new())),
            published: watch::Sender::new(0),
            rendered: watch::Sender::new(0),
        })
    }

    /// Numbers a change and announces it: the generation to wait for.
    fn changed(&self) -> u64 {
        let mut generation = 0;
        self.published.send_modify(|g| {
            *g += 1;
            generation = *g;
        });
        generation
    }

    /// Announces a change that is not a target's (the alert overrides were reloaded):
    /// the generation to wait for.
    pub fn touch(&self) -> u64 {
        self.changed()
    }

    /// A slot for a new target; it counts towards completeness from now on.
    pub fn register(&self) -> usize {
        let index = self.next_slot.fetch_add(1, Ordering::SeqCst);
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).insert(index, None);
        index
    }

    /// Removes a target and its series (an account that went away). Returns the
    /// generation to wait for.
    pub fn unregister(&self, index: usize) -> u64 {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).remove(&index);
        self.changed()
    }

    /// Replaces the accounts covered (and the discovery's status). The first call with
    /// `settled` (the accounts are known) makes completeness possible.
    pub fn set_accounts(&self, accounts: Vec<AccountView>, discovery: Option<DiscoveryView>, settled: bool) -> u64 {
        *self.accounts.write().unwrap_or_else(|p| p.into_inner()) = (Arc::new(accounts), discovery.map(Arc::new));
        if settled {
            self.settled.store(true, Ordering::SeqCst);
        }
        self.changed()
    }

    /// Stores a target's new snapshot. Returns its generation. A target no longer
    /// registered (its account went away mid-refresh) is ignored.
    pub fn publish(&self, index: usize, snapshot: Arc<TargetSnapshot>) -> u64 {
        if let Some(slot) = self.slots.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&index) {
            *slot = Some(snapshot);
        }
        self.changed()
    }

    /// Replaces a target's published snapshot by `change` of it, unless `change` says
    /// `None`; returns the generation to wait for. Nothing is published for a target
    /// that has not published yet.
    pub fn patch(&self, index: usize, change: impl FnOnce(&TargetSnapshot) -> Option<TargetSnapshot>) -> Option<u64> {
        {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.get_mut(&index)?;
            let changed = Arc::new(change(slot.as_ref()?)?);
            *slot = Some(changed);
        }
        Some(self.changed())
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

    /// Replaces the increase receiver's open requests. Returns the generation to wait
    /// for with [`Store::wait_rendered`].
    pub fn set_increase_requests(&self, mut open: Vec<crate::increase::ledger::Entry>) -> u64 {
        open.sort_by(|a, b| a.id.cmp(&b.id));
        *self.increase_requests.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(open);
        self.changed()
    }

    /// True once the targets are known and each has completed one full refresh,
    /// whatever its outcome.
    pub fn is_complete(&self) -> bool {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        self.settled.load(Ordering::SeqCst) && slots.values().all(|s| s.as_ref().is_some_and(|t| t.complete_rounds > 0))
    }

    /// Changes with every change of the store: its value is the latest generation.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Said by the renderer: its exposition now includes `generation`.
    pub fn mark_rendered(&self, generation: u64) {
        self.rendered.send_if_modified(|g| {
            let newer = generation > *g;
            if newer {
                *g = generation;
            }
            newer
        });
    }

    /// Waits until a generation returned by [`Store::publish`] (or another change) has
    /// been rendered.
    pub async fn wait_rendered(&self, generation: u64) {
        let mut rx = self.rendered.subscribe();
        // The sender lives as long as the store, which outlives this borrow.
        let _ = rx.wait_for(|g| *g >= generation).await;
    }
}
