//! The OTLP push output: every family of the catalog, pushed to an OpenTelemetry
//! collector over gRPC or HTTP/protobuf.
//!
//! Configured only by the standard `OTEL_*` variables and off unless an endpoint is
//! set. Gauges are observable gauges and counters observable cumulative sums, whose
//! callbacks read the same snapshot and the same sample generators as `/metrics`, so the
//! two outputs carry the same data. Exports run on the SDK's own thread, never on the
//! scrape or refresh path; a collector that is down or slow only costs failed exports,
//! which are counted, logged with backoff and dropped (nothing queues up).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use opentelemetry::metrics::{AsyncInstrument, MeterProvider as _};
use opentelemetry::{Key, KeyValue, StringValue, Value};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality};

use crate::exposition::Kind;
use crate::metrics::{Family, Inputs, Sink};
use crate::selfmetrics::SelfMetrics;
use crate::snapshot::Hub;

/// The smallest cardinality limit an instrument gets. The SDK allocates a table of the
/// limit's size for every instrument of every shard up front, so limits follow the
/// families' sizes rather than one large constant.
const MIN_CARDINALITY_LIMIT: usize = 64;

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl std::fmt::Display for Protocol {
    /// The spelling of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        })
    }
}

/// How to push, as the `OTEL_*` variables say.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The URL metrics are sent to (for HTTP, with its `/v1/metrics` path).
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// gzip the requests (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
    pub gzip: bool,
    pub interval: Duration,
    /// Resource attributes, `service.*` included.
    pub resource: Vec<(String, String)>,
}

/// An `OTEL_*` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}={value:?}: {problem}; expected {expected}")]
pub struct OtlpConfigError {
    variable: String,
    value: String,
    problem: String,
    expected: String,
}

fn invalid(variable: &str, value: &str, problem: impl Into<String>, expected: &str) -> OtlpConfigError {
    OtlpConfigError {
        variable: variable.into(),
        value: value.into(),
        problem: problem.into(),
        expected: expected.into(),
    }
}

/// Reads the settings from the process environment; `None` when OTLP is off.
pub fn settings_from_env() -> Result<Option<OtlpSettings>, OtlpConfigError> {
    settings_from_vars(std::env::vars())
}

/// Reads the settings from the given variables; `None` when no endpoint is set, when
/// `OTEL_SDK_DISABLED=true` or `OTEL_METRICS_EXPORTER=none`.
pub fn settings_from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Option<OtlpSettings>, OtlpConfigError> {
    let vars: HashMap<String, String> =
        vars.into_iter().filter(|(k, v)| k.starts_with("OTEL_") && !v.trim().is_empty()).collect();
    let get = |k: &str| vars.get(k).map(|v| v.trim().to_owned());
    if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    match get("OTEL_METRICS_EXPORTER").as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(invalid("OTEL_METRICS_EXPORTER", other, "not supported here", "otlp or none"));
        }
    }
    // The signal-specific variable wins over the generic one.
    let pick = |signal: &str, generic: &str| {
        get(signal).map(|v| (signal.to_owned(), v)).or_else(|| get(generic).map(|v| (generic.to_owned(), v)))
    };
    let protocol = match pick("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") {
        None => Protocol::HttpProtobuf,
        Some((_, v)) if v == "grpc" => Protocol::Grpc,
        Some((_, v)) if v == "http/protobuf" => Protocol::HttpProtobuf,
        Some((var, v)) => return Err(invalid(&var, &v, "not a supported protocol", "grpc or http/protobuf")),
    };
    const URL_FORM: &str = "an http:// or https:// URL such as http://collector:4318";
    let check_url = |var: &str, v: &str| {
        if v.starts_with("http://") || v.starts_with("https://") {
            Ok(())
        } else {
            Err(invalid(var, v, "not an http or https URL", URL_FORM))
        }
    };
    let endpoint = if let Some(v) = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
        // The per-signal endpoint is used as it is.
        check_url("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &v)?;
        v
    } else if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
        check_url("OTEL_EXPORTER_OTLP_ENDPOINT", &v)?;
        match protocol {
            Protocol::Grpc => v,
            // OTLP/HTTP appends the signal's path to the base endpoint.
            Protocol::HttpProtobuf => format!("{}/v1/metrics", v.trim_end_matches('/')),
        }
    } else {
        return Ok(None);
    };
    let headers = match pick("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") {
        None => Vec::new(),
        Some((var, v)) => key_values(&v).ok_or_else(|| {
            invalid(
                &var,
                &v,
                "not a list of key=value pairs",
                "key1=value1,key2=value2 (values may be percent-encoded)",
            )
        })?,
    };
    let millis = |var: &str, v: &str, min: u64| {
        v.parse::<u64>()
            .ok()
            .filter(|ms| *ms >= min)
            .map(Duration::from_millis)
            .ok_or_else(|| invalid(var, v, "not a whole number of milliseconds", "milliseconds, e.g. 10000"))
    };
    let timeout = match pick("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") {
        None => Duration::from_secs(10),
        Some((var, v)) => millis(&var, &v, 1)?,
    };
    let gzip = match pick("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION") {
        None => false,
        Some((_, v)) if v == "gzip" => true,
        Some((_, v)) if v == "none" => false,
        Some((var, v)) => return Err(invalid(&var, &v, "not a supported compression", "gzip or none")),
    };
    let interval = match get("OTEL_METRIC_EXPORT_INTERVAL") {
        None => Duration::from_secs(60),
        Some(v) => millis("OTEL_METRIC_EXPORT_INTERVAL", &v, 1)?,
    };
    let mut resource = match get("OTEL_RESOURCE_ATTRIBUTES") {
        None => Vec::new(),
        Some(v) => key_values(&v).ok_or_else(|| {
            invalid("OTEL_RESOURCE_ATTRIBUTES", &v, "not a list of key=value pairs", "key1=value1,key2=value2")
        })?,
    };
    let mut set = |key: &str, value: String, overwrite: bool| match resource.iter_mut().find(|(k, _)| k == key) {
        Some(entry) if overwrite => entry.1 = value,
        Some(_) => {}
        None => resource.push((key.to_owned(), value)),
    };
    // OTEL_SERVICE_NAME takes precedence over service.name in OTEL_RESOURCE_ATTRIBUTES.
    match get("OTEL_SERVICE_NAME") {
        Some(name) => set("service.name", name, true),
        None => set("service.name", "aws-quota-exporter".to_owned(), false),
    }
    set("service.version", env!("CARGO_PKG_VERSION").to_owned(), false);
    set("service.instance.id", instance_id(), false);
    Ok(Some(OtlpSettings { endpoint, protocol, headers, timeout, gzip, interval, resource }))
}

/// `k1=v1,k2=v2` with percent-decoded values (W3C baggage style).
fn key_values(v: &str) -> Option<Vec<(String, String)>> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A random UUID for `service.instance.id`, from the kernel; a time-based id elsewhere.
fn instance_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid").map(|s| s.trim().to_owned()).unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{:x}-{}", nanos, std::process::id())
    })
}

/// Why the OTLP output could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter for {endpoint}: {message}")]
pub struct OtlpStartError {
    endpoint: String,
    message: String,
}

/// A running OTLP output: one or more shards, each a meter provider with its own
/// periodic reader and exporter that pushes its share of the series.
///
/// The OpenTelemetry SDK sends everything one provider collects in one request. A
/// collector refuses requests above its limit (4 MiB by default over gRPC), so the
/// series are split by a hash of their identity into enough shards that each request
/// holds at most `max_points` data points. The number of shards follows the size of the
/// snapshot: a watcher re-shards when the estate outgrows them or shrinks to half.
#[derive(Debug)]
pub struct OtlpOutput {
    shared: Arc<Shared>,
    watcher: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    settings: OtlpSettings,
    hub: Arc<Hub>,
    max_points: usize,
    /// One log-with-backoff for every shard: a dead collector is one problem.
    log: Arc<Mutex<LogBackoff>>,
    shards: Mutex<Vec<Shard>>,
}

/// How the series are laid out over the shards: how many, and each family's
/// cardinality limit per shard.
#[derive(Debug, Clone)]
struct Layout {
    count: usize,
    max_points: usize,
    limits: Arc<Vec<usize>>,
    /// Per family, the split the shards are taking their parts from.
    splits: Arc<Vec<Mutex<Split>>>,
}

impl Layout {
    /// A layout for a snapshot with these family sizes, with room for each family to
    /// double before it is outgrown.
    fn for_sizes(family_series: &[usize], max_points: usize) -> Layout {
        let count = shards_for(family_series.iter().sum(), max_points);
        let limits = family_series.iter().map(|n| (4 * n.div_ceil(count)).max(MIN_CARDINALITY_LIMIT)).collect();
        let splits = family_series.iter().map(|_| Mutex::new(Split::default())).collect();
        Layout { count, max_points, limits: Arc::new(limits), splits: Arc::new(splits) }
    }

    /// Whether a snapshot with these family sizes still fits: few enough series for the
    /// shards' requests, and no family above half its limit on an average shard.
    fn fits(&self, family_series: &[usize]) -> bool {
        shards_for(family_series.iter().sum(), self.max_points) <= self.count
            && family_series.iter().zip(self.limits.iter()).all(|(n, limit)| 2 * n.div_ceil(self.count) <= *limit)
    }

    fn family_fits(&self, family: usize, family_series: &[usize]) -> bool {
        let n = family_series.get(family).copied().unwrap_or(0);
        2 * n.div_ceil(self.count) <= self.limits.get(family).copied().unwrap_or(MIN_CARDINALITY_LIMIT)
    }
}

#[derive(Debug)]
struct Shard {
    provider: SdkMeterProvider,
    layout: Layout,
    /// Set when the shard is replaced: its callbacks observe nothing from then on, so
    /// its final export on shutdown is empty.
    retired: Arc<AtomicBool>,
}

/// How many shards `series` data points need so that no request exceeds `max_points`.
/// Shards are filled to three quarters on average: a hash spreads series evenly, not
/// exactly, and the margin keeps the fullest shard under the limit.
pub fn shards_for(series: usize, max_points: usize) -> usize {
    let per_shard = (max_points * 3 / 4).max(1);
    series.div_ceil(per_shard).max(1)
}

impl OtlpOutput {
    /// Starts pushing. Must be called inside the (multi-threaded) Tokio runtime.
    pub fn start(settings: &OtlpSettings, hub: Arc<Hub>, max_points: usize) -> Result<OtlpOutput, OtlpStartError> {
        let layout = Layout::for_sizes(&hub.exposition().family_series, max_points);
        let shared = Arc::new(Shared {
            settings: settings.clone(),
            hub: hub.clone(),
            max_points,
            log: Arc::new(Mutex::new(LogBackoff::default())),
            shards: Mutex::new(Vec::new()),
        });
        *shared.shards.lock().unwrap_or_else(|p| p.into_inner()) = shared.build(&layout)?;
        tracing::info!(
            otlp.endpoint = %settings.endpoint,
            otlp.protocol = %settings.protocol,
            interval = ?settings.interval,
            "pushing metrics over OTLP"
        );
        let watcher = tokio::spawn(shared.clone().watch(hub.subscribe_rendered()));
        Ok(OtlpOutput { shared, watcher })
    }

    /// The number of shards pushing now.
    pub fn shards(&self) -> usize {
        self.shared.shards.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Pushes now, every shard at once, and returns when all are done: the number of
    /// shards whose push failed. For benchmarks and tests; pushes are otherwise periodic.
    pub async fn force_flush(&self) -> usize {
        let providers: Vec<SdkMeterProvider> =
            self.shared.shards.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|s| s.provider.clone()).collect();
        let flushing: Vec<_> =
            providers.into_iter().map(|p| tokio::task::spawn_blocking(move || p.force_flush())).collect();
        let mut failed = 0;
        for done in flushing {
            if !matches!(done.await, Ok(Ok(()))) {
                failed += 1;
            }
        }
        failed
    }

    /// Exports once more and stops, waiting at most `timeout`. Runs the SDK's blocking
    /// shutdown off the async threads (a flush from an async thread can hang).
    pub async fn shutdown(self, timeout: Duration) {
        self.watcher.abort();
        let shards = std::mem::take(&mut *self.shared.shards.lock().unwrap_or_else(|p| p.into_inner()));
        let stopping: Vec<_> = shards
            .into_iter()
            .map(|shard| tokio::task::spawn_blocking(move || shard.provider.shutdown_with_timeout(timeout)))
            .collect();
        let all = async {
            let mut failed = 0;
            for done in stopping {
                if !matches!(done.await, Ok(Ok(()))) {
                    failed += 1;
                }
            }
            failed
        };
        match tokio::time::timeout(timeout + Duration::from_secs(1), all).await {
            Ok(0) => tracing::info!("OTLP exporter flushed and stopped"),
            Ok(failed) => tracing::warn!(shards = failed, "OTLP exporter stopped without a final export"),
            Err(_) => tracing::warn!("OTLP exporter did not stop in time"),
        }
    }
}

impl Shared {
    /// The layout's shards, each with its exporter, reader and instruments.
    fn build(&self, layout: &Layout) -> Result<Vec<Shard>, OtlpStartError> {
        (0..layout.count)
            .map(|index| {
                let retired = Arc::new(AtomicBool::new(false));
                let shard = ShardOf { index, layout: layout.clone() };
                let provider = self.provider(shard, retired.clone())?;
                Ok(Shard { provider, layout: layout.clone(), retired })
            })
            .collect()
    }

    fn provider(&self, shard: ShardOf, retired: Arc<AtomicBool>) -> Result<SdkMeterProvider, OtlpStartError> {
        let settings = &self.settings;
        let fail =
            |e: &dyn std::fmt::Display| OtlpStartError { endpoint: settings.endpoint.clone(), message: e.to_string() };
        let exporter = match settings.protocol {
            Protocol::Grpc => {
                let mut headers = http::HeaderMap::new();
                for (k, v) in &settings.headers {
                    let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| fail(&e))?;
                    headers.insert(name, http::HeaderValue::from_str(v).map_err(|e| fail(&e))?);
                }
                let builder = opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(&settings.endpoint)
                    .with_timeout(settings.timeout)
                    .with_metadata(opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers));
                // Left alone, the SDK would set up TLS for https with no trusted roots at all.
                let builder = if settings.endpoint.starts_with("https://") {
                    builder.with_tls_config(
                        opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_native_roots(),
                    )
                } else {
                    builder
                };
                // Without gzip the SDK finds the compression variable unset or "none".
                if settings.gzip { builder.with_compression(opentelemetry_otlp::Compression::Gzip) } else { builder }
                    .build()
            }
            Protocol::HttpProtobuf => {
                let builder = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(&settings.endpoint)
                    .with_timeout(settings.timeout)
                    .with_headers(settings.headers.iter().cloned().collect());
                // The SDK's hyper client speaks plain HTTP only; https gets a rustls
                // connector trusting the system's roots (or SSL_CERT_FILE / SSL_CERT_DIR).
                let builder = if settings.endpoint.starts_with("https://") {
                    let connector = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                        .map_err(|e| fail(&format!("no trusted root certificates: {e}")))?
                        .https_only()
                        .enable_http1()
                        .build();
                    builder.with_http_client(opentelemetry_http::hyper::HyperClient::new(
                        connector,
                        settings.timeout,
                        None,
                    ))
                } else {
                    builder
                };
                if settings.gzip { builder.with_compression(opentelemetry_otlp::Compression::Gzip) } else { builder }
                    .build()
            }
        }
        .map_err(|e| fail(&e))?;
        let monitored = Monitored {
            inner: exporter,
            runtime: tokio::runtime::Handle::current(),
            metrics: self.hub.self_metrics().clone(),
            hub: self.hub.clone(),
            log: self.log.clone(),
            endpoint: settings.endpoint.clone(),
        };
        let reader = PeriodicReader::builder(monitored).with_interval(settings.interval).build();
        let resource = Resource::builder_empty()
            .with_attributes(settings.resource.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())))
            .build();
        let families = self.hub.families().clone();
        let limits = shard.layout.limits.clone();
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader)
            .with_view(move |i: &Instrument| {
                let family = families.iter().position(|f| f.otel_name() == i.name())?;
                Stream::builder().with_cardinality_limit(limits[family]).build().ok()
            })
            .build();
        register(&provider, self.hub.clone(), shard, retired);
        Ok(provider)
    }

    /// Re-shards after each render that changed the size of the snapshot enough.
    async fn watch(self: Arc<Self>, mut rendered: tokio::sync::watch::Receiver<u64>) {
        while rendered.changed().await.is_ok() {
            let sizes = self.hub.exposition().family_series.clone();
            let Some(current) = self.shards.lock().unwrap_or_else(|p| p.into_inner()).first().map(|s| s.layout.clone())
            else {
                return; // shut down
            };
            let layout = Layout::for_sizes(&sizes, self.max_points);
            // Grown out of the layout, or shrunk to half its shards.
            if current.fits(&sizes) && layout.count * 2 > current.count {
                continue;
            }
            let new = match self.build(&layout) {
                Ok(new) => new,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot re-shard the OTLP output; keeping the current shards");
                    continue;
                }
            };
            let old = std::mem::replace(&mut *self.shards.lock().unwrap_or_else(|p| p.into_inner()), new);
            tracing::debug!(series = sizes.iter().sum::<usize>(), shards = layout.count, "OTLP output re-sharded");
            for shard in old {
                shard.retired.store(true, Ordering::SeqCst);
                let timeout = self.settings.timeout;
                tokio::task::spawn_blocking(move || shard.provider.shutdown_with_timeout(timeout));
            }
        }
    }
}

/// Which share of the series a shard pushes.
#[derive(Debug, Clone)]
struct ShardOf {
    index: usize,
    layout: Layout,
}

/// The shard a series of `family` with these labels belongs to: a hash of its
/// identity, so a series stays in one shard (and one cumulative stream) for as long as
/// the layout lasts.
fn shard_of(family: usize, labels: &[(&str, &str)], count: usize) -> usize {
    if count == 1 {
        return 0;
    }
    let mut h = std::hash::DefaultHasher::new();
    family.hash(&mut h);
    labels.hash(&mut h);
    (h.finish() % count as u64) as usize
}

/// A data point ready for the SDK: attributes interned and sorted.
type Point = (Vec<KeyValue>, f64);

/// One family's data points split over the shards. The first shard to collect the
/// family walks the snapshot once for all of them; each shard then takes its part, and
/// the split is dropped once every shard has.
#[derive(Debug, Default)]
struct Split {
    parts: Vec<Vec<Point>>,
    taken: Vec<bool>,
}

impl Split {
    /// Walks `family` of the current snapshot into one part per shard, keeping at most
    /// `room` points per part: past its cardinality limit the SDK would fold the rest
    /// into one overflow series.
    fn compute(hub: &Hub, family: usize, count: usize, room: usize) -> Split {
        let snapshot = hub.snapshot();
        let counters = hub.self_metrics().gather();
        let inputs = Inputs { snapshot: &snapshot, counters: &counters };
        let mut sink = Splitter { family, room, parts: vec![Vec::new(); count], interned: Interned::default() };
        // Collecting into memory cannot fail.
        let _ = hub.families()[family].samples(&inputs, &mut sink);
        Split { parts: sink.parts, taken: vec![false; count] }
    }
}

/// One observable instrument per family, reading the current snapshot, for one shard.
fn register(provider: &SdkMeterProvider, hub: Arc<Hub>, shard: ShardOf, retired: Arc<AtomicBool>) {
    let meter = provider.meter("aws-quota-exporter");
    for index in 0..hub.families().len() {
        let family: &Family = &hub.families()[index];
        let hub = hub.clone();
        let retired = retired.clone();
        let shard = shard.clone();
        let observe = move |observer: &dyn AsyncInstrument<f64>| {
            // A replaced shard, or a layout the snapshot outgrew since the last re-shard
            // (the watcher is about to replace it): observing would overflow a limit.
            if retired.load(Ordering::SeqCst) {
                return;
            }
            let layout = &shard.layout;
            let exposition = hub.exposition();
            if shards_for(exposition.series, layout.max_points) > layout.count
                || !layout.family_fits(index, &exposition.family_series)
            {
                return;
            }
            let part = {
                let mut split = layout.splits[index].lock().unwrap_or_else(|p| p.into_inner());
                // A shard that already took its part is collecting again: a new round.
                if split.taken.get(shard.index).is_none_or(|taken| *taken) {
                    let room = layout.limits[index].saturating_sub(1);
                    *split = Split::compute(&hub, index, layout.count, room);
                }
                split.taken[shard.index] = true;
                let part = std::mem::take(&mut split.parts[shard.index]);
                if split.taken.iter().all(|t| *t) {
                    *split = Split::default();
                }
                part
            };
            for (attributes, value) in &part {
                observer.observe(*value, attributes);
            }
        };
        match family.kind {
            Kind::Counter => {
                meter
                    .f64_observable_counter(family.otel_name())
                    .with_description(family.help.clone())
                    .with_unit(family.otel_unit)
                    .with_callback(move |o| observe(o))
                    .build();
            }
            Kind::Gauge | Kind::Info => {
                meter
                    .f64_observable_gauge(family.otel_name())
                    .with_description(family.help.clone())
                    .with_unit(family.otel_unit)
                    .with_callback(move |o| observe(o))
                    .build();
            }
        }
    }
}

/// The OTLP attribute for a Prometheus label: the semantic conventions where they
/// exist, the label's own name otherwise.
pub fn attribute_name(label: &str) -> &str {
    match label {
        "cloud_account_id" => "cloud.account.id",
        "cloud_region" => "cloud.region",
        other => other,
    }
}

/// Turns samples into points and sorts them into the shards' parts.
struct Splitter {
    family: usize,
    room: usize,
    parts: Vec<Vec<Point>>,
    interned: Interned,
}

/// Attribute keys and values shared across the data points of one collection: the SDK
/// keeps every attribute set between pushes, and most values (account, region,
/// service) repeat on thousands of points, so each is allocated once, not per point.
#[derive(Default)]
struct Interned {
    keys: HashMap<String, Key>,
    values: HashMap<String, Value>,
}

impl Interned {
    fn key(&mut self, label: &str) -> Key {
        if let Some(k) = self.keys.get(label) {
            return k.clone();
        }
        let key = match attribute_name(label) {
            "cloud.account.id" => Key::from_static_str("cloud.account.id"),
            "cloud.region" => Key::from_static_str("cloud.region"),
            other => Key::from(Arc::<str>::from(other)),
        };
        self.keys.insert(label.to_owned(), key.clone());
        key
    }

    fn value(&mut self, v: &str) -> Value {
        if let Some(value) = self.values.get(v) {
            return value.clone();
        }
        let value = Value::String(StringValue::from(Arc::<str>::from(v)));
        self.values.insert(v.to_owned(), value.clone());
        value
    }
}

impl Sink for Splitter {
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> std::io::Result<()> {
        let shard = shard_of(self.family, labels, self.parts.len());
        let part = &mut self.parts[shard];
        if part.len() >= self.room {
            return Ok(());
        }
        let mut attributes = Vec::with_capacity(labels.len() + 1);
        for (k, v) in labels {
            let (key, value) = (self.interned.key(k), self.interned.value(v));
            attributes.push(KeyValue::new(key, value));
        }
        if labels.iter().any(|(k, _)| *k == "cloud_account_id" || *k == "cloud_region") {
            attributes.push(KeyValue::new(Key::from_static_str("cloud.provider"), Value::from("aws")));
        }
        // Sorted by key, the order the SDK keeps attribute sets in: given in another
        // order, it would store each set twice.
        attributes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        part.push((attributes, value));
        Ok(())
    }
}

/// Logs export failures at most once per backoff period, doubling it up to an hour.
#[derive(Debug, Default)]
struct LogBackoff {
    failures: u64,
    next_log: Option<Instant>,
    backoff: Duration,
}

/// Wraps the OTLP exporter: counts each export's outcome, logs failures with backoff,
/// and runs the export inside the Tokio runtime (the SDK polls it on its own thread).
struct Monitored<E> {
    inner: E,
    runtime: tokio::runtime::Handle,
    metrics: Arc<SelfMetrics>,
    /// Asked to render after each export, so that `/metrics` counts it.
    hub: Arc<Hub>,
    log: Arc<Mutex<LogBackoff>>,
    endpoint: String,
}

impl<E> std::fmt::Debug for Monitored<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitored").field("endpoint", &self.endpoint).finish()
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Monitored<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let started = Instant::now();
        let result = InRuntime { runtime: self.runtime.clone(), inner: Box::pin(self.inner.export(metrics)) }.await;
        self.metrics.count_otlp_export(result.is_ok(), started.elapsed().as_secs_f64());
        self.hub.request_render();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(()) if log.failures > 0 => {
                tracing::info!(otlp.endpoint = %self.endpoint, failures = log.failures, "OTLP export recovered");
                *log = LogBackoff::default();
            }
            Ok(()) => {}
            Err(e) => {
                log.failures += 1;
                let now = Instant::now();
                if log.next_log.is_none_or(|at| now >= at) {
                    tracing::warn!(
                        otlp.endpoint = %self.endpoint,
                        failures = log.failures,
                        error = %e,
                        "OTLP export failed; the data of this export is dropped"
                    );
                    log.backoff = (log.backoff * 2).clamp(Duration::from_secs(60), Duration::from_secs(3600));
                    log.next_log = Some(now + log.backoff);
                }
            }
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// Polls a future with the Tokio runtime entered, from any thread.
struct InRuntime<F> {
    runtime: tokio::runtime::Handle,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = self.runtime.enter();
        self.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_filled_to_three_quarters_of_the_limit() {
        assert_eq!(shards_for(0, 10_000), 1);
        assert_eq!(shards_for(7_500, 10_000), 1);
        assert_eq!(shards_for(7_501, 10_000), 2);
        assert_eq!(shards_for(216_404, 10_000), 29);
    }

    #[test]
    fn a_layout_leaves_each_family_room_to_double_and_no_more() {
        let layout = Layout::for_sizes(&[1_000, 10, 0], 10_000);
        assert_eq!(layout.count, 1);
        assert_eq!(*layout.limits, vec![4_000, MIN_CARDINALITY_LIMIT, MIN_CARDINALITY_LIMIT]);
        assert!(layout.fits(&[2_000, 32, 0]));
        assert!(!layout.fits(&[2_001, 10, 0]), "a family past half its limit");
        assert!(!layout.fits(&[1_000, 33, 0]), "a small family past half the minimum");
        assert!(!layout.fits(&[7_000, 10, 600]), "more series than one request may hold");
        assert!(layout.family_fits(1, &[9_999, 32, 0]) && !layout.family_fits(0, &[9_999, 32, 0]));

        let split = Layout::for_sizes(&[40_000, 100], 10_000);
        assert_eq!(split.count, 6);
        assert_eq!(*split.limits, vec![4 * 6_667, 4 * 17]);
    }

    #[test]
    fn a_series_always_lands_in_the_same_shard_and_shards_are_even() {
        let count = shards_for(30_000, 10_000);
        assert_eq!(count, 4);
        let mut sizes = [0usize; 4];
        for q in 0..30_000 {
            let code = format!("L-{q:08X}");
            let labels = [("cloud_region", "us-east-1"), ("quota_code", code.as_str())];
            let shard = shard_of(0, &labels, count);
            assert_eq!(shard, shard_of(0, &labels, count), "the same series, the same shard");
            sizes[shard] += 1;
        }
        assert!(sizes.iter().all(|n| (7_000..8_000).contains(n)), "uneven shards: {sizes:?}");
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn settings(pairs: &[(&str, &str)]) -> Option<OtlpSettings> {
        settings_from_vars(vars(pairs)).expect("valid")
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        settings_from_vars(vars(pairs)).expect_err("invalid").to_string()
    }

    #[test]
    fn no_endpoint_means_no_push() {
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x")]), None);
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]), None);
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRICS_EXPORTER", "none")]),
            None
        );
    }

    #[test]
    fn http_appends_the_signal_path_to_the_base_endpoint_and_grpc_does_not() {
        let http = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).expect("on");
        assert_eq!(http.endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(http.protocol, Protocol::HttpProtobuf, "http/protobuf is the default");
        let grpc = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .expect("on");
        assert_eq!(grpc.endpoint, "http://collector:4317");
        assert_eq!(grpc.protocol, Protocol::Grpc);
    }

    #[test]
    fn the_metrics_endpoint_is_used_as_it_is_and_signal_variables_win() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://metrics.example/otlp/metrics"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "authorization=Bearer%20xyz,tenant=ops"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
        ])
        .expect("on");
        assert_eq!(s.endpoint, "https://metrics.example/otlp/metrics");
        assert_eq!(s.headers, vec![("authorization".into(), "Bearer xyz".into()), ("tenant".into(), "ops".into())]);
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.interval, Duration::from_secs(15));
    }

    #[test]
    fn the_resource_names_the_service_and_its_instance() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,deployment.environment=prod"),
            ("OTEL_SERVICE_NAME", "quota-watch"),
        ])
        .expect("on");
        let get = |k: &str| s.resource.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("service.name").as_deref(), Some("quota-watch"), "OTEL_SERVICE_NAME wins");
        assert_eq!(get("deployment.environment").as_deref(), Some("prod"));
        assert_eq!(get("service.version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert!(get("service.instance.id").is_some_and(|id| id.len() >= 16));
        let default = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).expect("on");
        assert!(default.resource.contains(&("service.name".into(), "aws-quota-exporter".into())));
    }

    #[test]
    fn bad_values_name_the_variable_and_the_form() {
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]),
            "invalid OTEL_EXPORTER_OTLP_ENDPOINT=\"collector:4317\": not an http or https URL; \
             expected an http:// or https:// URL such as http://collector:4318"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]),
            "invalid OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": not a supported protocol; expected grpc or http/protobuf"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", "novalue")]),
            "invalid OTEL_EXPORTER_OTLP_HEADERS=\"novalue\": not a list of key=value pairs; \
             expected key1=value1,key2=value2 (values may be percent-encoded)"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRIC_EXPORT_INTERVAL", "1m")]),
            "invalid OTEL_METRIC_EXPORT_INTERVAL=\"1m\": not a whole number of milliseconds; expected milliseconds, e.g. 10000"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]),
            "invalid OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\": not a supported compression; expected gzip or none"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRICS_EXPORTER", "prometheus")]),
            "invalid OTEL_METRICS_EXPORTER=\"prometheus\": not supported here; expected otlp or none"
        );
    }

    #[test]
    fn cloud_labels_follow_the_semantic_conventions() {
        assert_eq!(attribute_name("cloud_account_id"), "cloud.account.id");
        assert_eq!(attribute_name("cloud_region"), "cloud.region");
        assert_eq!(attribute_name("quota_code"), "quota_code");
    }
}
