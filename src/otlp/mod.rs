//! The OTLP push output: every family of the catalog, pushed to an OpenTelemetry
//! collector over gRPC or HTTP/protobuf.
//!
//! Configured only by the standard `OTEL_*` variables ([`settings`]) and off unless an
//! endpoint is set. Each push reads the snapshot store at push time and encodes the
//! catalog's families straight into the bytes of OTLP export requests ([`encode`]), at
//! most `max_points` data points and 3 MiB each, sent one after the other
//! ([`transport`]) while the next is being encoded. Between pushes the output keeps
//! nothing per series but the start time of each counter series: the snapshot already
//! holds every value.
//!
//! Why not the OpenTelemetry SDK's pipeline: its observable instruments keep every
//! series' attributes and aggregation state between collections (about 2 KB per data
//! point), and its OTLP exporter only takes the SDK's own `ResourceMetrics`, which only
//! that pipeline can build. The requests are therefore encoded here, as prost encodes
//! the protocol's own messages (the tests decode them with `opentelemetry-proto`), point
//! by point without building a message tree, and sent by tonic and hyper as the SDK's
//! exporter does.
//!
//! Pushes run off the scrape and refresh paths; a collector that is down or slow only
//! costs failed requests, which are counted, logged with backoff and dropped (nothing
//! queues up).

pub mod encode;
pub mod settings;
pub mod transport;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use encode::{attribute_name, requests_for};
pub use settings::{OtlpConfigError, OtlpSettings, Protocol, settings_from_env, settings_from_vars};
pub use transport::OtlpStartError;

use crate::metrics::{Family, Inputs};
use crate::selfmetrics::SelfMetrics;
use crate::snapshot::Store;
use encode::{CounterStarts, Push};
use transport::Transport;

/// What a push reads: the snapshot store, the catalog and the live counters.
#[derive(Clone)]
pub struct Source {
    pub store: Arc<Store>,
    pub families: Arc<Vec<Family>>,
    pub metrics: Arc<SelfMetrics>,
    /// Called after each push: the export counters changed.
    pub on_push: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("families", &self.families.len()).finish()
    }
}

/// What one push did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Requests sent, and how many of them failed.
    pub requests: usize,
    pub failed: usize,
    pub points: usize,
}

/// A running OTLP output.
#[derive(Debug)]
pub struct OtlpOutput {
    pusher: Arc<Pusher>,
    periodic: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Pusher {
    settings: OtlpSettings,
    max_points: usize,
    source: Source,
    transport: Transport,
    /// When the output started, in nanoseconds since the epoch: every stream's start.
    started: u64,
    /// The counters' start times; the lock also keeps pushes one at a time.
    counters: tokio::sync::Mutex<CounterStarts>,
    log: Mutex<LogBackoff>,
}

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl OtlpOutput {
    /// Starts pushing every `settings.interval`, the first push one interval from now.
    /// Must be called inside the (multi-threaded) Tokio runtime.
    pub fn start(settings: &OtlpSettings, source: Source, max_points: usize) -> Result<OtlpOutput, OtlpStartError> {
        let pusher = Arc::new(Pusher {
            settings: settings.clone(),
            max_points: max_points.max(1),
            transport: Transport::new(settings)?,
            source,
            started: now_nanos(),
            counters: tokio::sync::Mutex::new(CounterStarts::default()),
            log: Mutex::new(LogBackoff::default()),
        });
        tracing::info!(
            otlp.endpoint = %settings.endpoint,
            otlp.protocol = %settings.protocol,
            interval = ?settings.interval,
            "pushing metrics over OTLP"
        );
        let periodic = tokio::spawn({
            let pusher = pusher.clone();
            let interval = settings.interval;
            async move {
                let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    pusher.push().await;
                }
            }
        });
        Ok(OtlpOutput { pusher, periodic })
    }

    /// Pushes now and returns when every request has been answered. For benchmarks and
    /// tests; pushes are otherwise periodic.
    pub async fn push_now(&self) -> Pushed {
        self.pusher.push().await
    }

    /// How many counter series the output remembers between pushes (their start times).
    pub async fn remembered_series(&self) -> usize {
        self.pusher.counters.lock().await.len()
    }

    /// Stops the periodic pushes and pushes once more, waiting at most `timeout`.
    pub async fn shutdown(self, timeout: Duration) {
        self.periodic.abort();
        match tokio::time::timeout(timeout, self.pusher.push()).await {
            Ok(p) if p.failed == 0 => tracing::info!("OTLP exporter flushed and stopped"),
            Ok(p) => tracing::warn!(requests = p.failed, "OTLP exporter stopped without a complete final export"),
            Err(_) => tracing::warn!("OTLP exporter did not stop in time"),
        }
    }
}

impl Pusher {
    /// One push of the whole snapshot: requests are encoded on a blocking thread and sent
    /// one at a time as they come, so at most three requests' bytes exist at once (one
    /// being sent, one handed over, one being written).
    async fn push(self: &Arc<Self>) -> Pushed {
        let mut counters = self.counters.lock().await;
        let taken = std::mem::take(&mut *counters);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let pusher = self.clone();
        let encoding = tokio::task::spawn_blocking(move || {
            let mut counters = taken;
            let snapshot = pusher.source.store.snapshot();
            let inputs = Inputs { snapshot: &snapshot, counters: &pusher.source.metrics };
            let push = Push {
                resource: &pusher.settings.resource,
                max_points: pusher.max_points,
                max_bytes: encode::MAX_REQUEST_BYTES,
                output_start: pusher.started,
                now: now_nanos(),
                counters: &mut counters,
            };
            let points = encode::encode(&pusher.source.families, &inputs, push, &mut |r| tx.blocking_send(r).is_ok());
            (counters, points)
        });
        let mut pushed = Pushed::default();
        while let Some(request) = rx.recv().await {
            let started = Instant::now();
            let result = self.transport.send(request).await;
            self.source.metrics.count_otlp_export(result.is_ok(), started.elapsed().as_secs_f64());
            pushed.requests += 1;
            if let Err(e) = result {
                pushed.failed += 1;
                self.log_failure(&e);
            }
        }
        match encoding.await {
            Ok((kept, points)) => {
                *counters = kept;
                pushed.points = points;
            }
            Err(e) => tracing::error!(error = %e, "encoding the OTLP push panicked"),
        }
        drop(counters);
        if pushed.failed == 0 && pushed.requests > 0 {
            self.log_recovery();
        }
        (self.source.on_push)();
        pushed
    }

    fn log_failure(&self, e: &transport::SendError) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.failures += 1;
        let now = Instant::now();
        if log.next_log.is_none_or(|at| now >= at) {
            tracing::warn!(
                otlp.endpoint = %self.settings.endpoint,
                failures = log.failures,
                error = %e,
                "OTLP export failed; the data of this export is dropped"
            );
            log.backoff = (log.backoff * 2).clamp(Duration::from_secs(60), Duration::from_secs(3600));
            log.next_log = Some(now + log.backoff);
        }
    }

    fn log_recovery(&self) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.failures > 0 {
            tracing::info!(otlp.endpoint = %self.settings.endpoint, failures = log.failures, "OTLP export recovered");
            *log = LogBackoff::default();
        }
    }
}

/// Logs export failures at most once per backoff period, doubling it up to an hour.
#[derive(Debug, Default)]
struct LogBackoff {
    failures: u64,
    next_log: Option<Instant>,
    backoff: Duration,
}
