//! A simulated AWS estate on loopback that speaks the real wire protocols.
//!
//! The real AWS SDK clients talk to it unchanged: Service Quotas over AWS JSON 1.1,
//! CloudWatch `GetMetricData` and `ListMetrics` over Smithy RPC v2 CBOR, STS over the
//! query protocol with XML answers, and the Bedrock control plane over REST JSON. Quota
//! increase requests are filed, reviewed over simulated time and approved or denied
//! (see [`increases`]). It serves an [`estate::Estate`] described as data, injects
//! faults ([`faults::Fault`]) and counts every call ([`calls::Calls`]).
//!
//! It is test and demo infrastructure: it never checks signatures, and it must never
//! be mistaken for AWS. The exporter's product code does not depend on it; only the
//! demo wiring and the tests do.

mod bedrock;
pub mod calls;
mod cbor;
mod cloudwatch;
pub mod demo;
pub mod estate;
pub mod faults;
pub mod generate;
pub mod increases;
mod json11;
pub mod paging;
mod organizations;
mod server;
mod servicequotas;
mod sts;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use calls::{Api, Call, Calls};
pub use estate::Estate;
pub use faults::{Fault, FaultKind};

/// The simulator's notion of "now", shared by every handler.
///
/// Real time by default; tests use a manual clock so that late-arriving data and
/// time windows are deterministic.
#[derive(Debug, Clone)]
pub struct SimClock(Option<Arc<Mutex<f64>>>);

impl SimClock {
    pub fn real() -> SimClock {
        SimClock(None)
    }

    /// A clock that stays at `epoch_seconds` until moved.
    pub fn manual(epoch_seconds: f64) -> SimClock {
        SimClock(Some(Arc::new(Mutex::new(epoch_seconds))))
    }

    /// Epoch seconds.
    pub fn now(&self) -> f64 {
        match &self.0 {
            None => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            Some(t) => *lock(t),
        }
    }

    /// Moves a manual clock; a real clock ignores this.
    pub fn set(&self, epoch_seconds: f64) {
        if let Some(t) = &self.0 {
            *lock(t) = epoch_seconds;
        }
    }

    pub fn advance(&self, seconds: f64) {
        if let Some(t) = &self.0 {
            *lock(t) += seconds;
        }
    }
}

/// Locks a mutex, recovering the data if a panicking test thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// State shared by the server and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub estate: RwLock<Estate>,
    pub faults: Mutex<Vec<Fault>>,
    pub calls: Mutex<Vec<Call>>,
    pub clock: SimClock,
    pub request_counter: std::sync::atomic::AtomicU64,
    pub increases: Mutex<Vec<increases::IncreaseRequest>>,
    pub sessions: Mutex<std::collections::HashMap<String, Session>>,
}

/// Temporary credentials STS issued by `AssumeRole`: the role and its account.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub account_id: String,
    pub role_arn: String,
    /// Epoch seconds (the simulator's clock) from which the credentials are refused.
    pub expires_at: f64,
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimAws {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl SimAws {
    /// Starts the simulator on 127.0.0.1 with an ephemeral port and a real clock.
    pub async fn start(estate: Estate) -> std::io::Result<SimAws> {
        SimAws::start_with(estate, SimClock::real(), "127.0.0.1:0").await
    }

    /// Starts the simulator with a given clock and bind address.
    pub async fn start_with(estate: Estate, clock: SimClock, bind: &str) -> std::io::Result<SimAws> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            estate: RwLock::new(estate),
            faults: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            clock,
            request_counter: Default::default(),
            increases: Mutex::new(Vec::new()),
            sessions: Mutex::new(std::collections::HashMap::new()),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(server::serve(listener, shared.clone(), rx));
        Ok(SimAws { addr, shared, _shutdown: tx })
    }

    /// The endpoint URL to give the SDK (`AWS_ENDPOINT_URL`).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn clock(&self) -> &SimClock {
        &self.shared.clock
    }

    /// Reads or changes the estate; the next request sees the change.
    pub fn with_estate<R>(&self, f: impl FnOnce(&mut Estate) -> R) -> R {
        let mut estate = self.shared.estate.write().unwrap_or_else(|p| p.into_inner());
        f(&mut estate)
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// A copy of every call received so far.
    pub fn calls(&self) -> Calls {
        Calls(lock(&self.shared.calls).clone())
    }

    /// Every quota increase request filed so far.
    pub fn increase_requests(&self) -> Vec<increases::IncreaseRequest> {
        lock(&self.shared.increases).clone()
    }

    /// Forgets the calls received so far.
    pub fn reset_calls(&self) {
        lock(&self.shared.calls).clear();
    }
}
