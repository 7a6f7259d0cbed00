//! Start-up: turns a configuration and an AWS SDK configuration into a running exporter.
//!
//! [`build`] binds the listener (port 0 in tests), creates one runner per target and
//! the snapshot store; [`App::run_until`] serves and, when scheduling is on, refreshes
//! each target on its own cadences until shutdown. Tests keep scheduling off and drive
//! refreshes through [`AppHandle`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::accounts::{Fleet, FleetParts};
use crate::aws::ClientParts;
use crate::clock::Clock;
use crate::config::{Config, humanize};
use crate::exposition::Renderer;
use crate::increase::http::Endpoint;
use crate::increase::receiver::{LimitRefresh, Receiver, ReceiverParts};
use crate::metrics::HelpContext;
use crate::selfmetrics::SelfMetrics;
use crate::snapshot::Store;
use crate::supervise::supervise;
use crate::target::{LimitPatch, TargetRunner};

/// Everything start-up needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub sdk_config: aws_config::SdkConfig,
    pub clock: Arc<dyn Clock>,
    /// Refresh in the background on the configured cadences.
    pub schedule: bool,
    /// Push over OTLP too, when set.
    pub otlp: Option<crate::otlp::OtlpSettings>,
}

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("no region configured: set QUOTA_EXPORTER_REGIONS (e.g. us-east-1,eu-west-1) or AWS_REGION")]
    NoRegion,
    #[error(
        "QUOTA_EXPORTER_FAILOVER_PAIRS pairs {primary}={standby}, but {missing} is not collected: add it to \
         QUOTA_EXPORTER_REGIONS (now {collected})"
    )]
    FailoverRegion { primary: String, standby: String, missing: String, collected: String },
    #[error("QUOTA_EXPORTER_ALERT_OVERRIDES: {0}")]
    Overrides(#[from] crate::overrides::OverridesError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Otlp(#[from] crate::otlp::OtlpStartError),
}

/// A built exporter, not yet serving.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    handle: AppHandle,
    schedule: bool,
    limits_interval: Duration,
    usage_interval: Duration,
    otlp: Option<crate::otlp::OtlpOutput>,
    endpoint: Option<Arc<Endpoint>>,
    http: crate::server::HttpLimits,
    /// Whether the first account discovery succeeded.
    discovered: bool,
    /// Test hook: refreshes left to panic.
    panics: Arc<std::sync::atomic::AtomicU32>,
}

/// Drives and inspects a running exporter (tests, benchmarks, subcommands).
#[derive(Debug, Clone)]
pub struct AppHandle {
    /// Where the targets publish.
    pub store: Arc<Store>,
    /// What `/metrics` serves, rendered from the store.
    pub renderer: Arc<Renderer>,
    pub metrics: Arc<SelfMetrics>,
    /// The increase receiver, when it is on.
    pub receiver: Option<Arc<Receiver>>,
    /// Every target of every account collected.
    pub fleet: Arc<Fleet>,
    /// The alert overrides, when a file is configured.
    pub overrides: Option<Arc<crate::overrides::Live>>,
}

impl AppHandle {
    /// Discovers the accounts again (when the exporter discovers), then a full refresh
    /// (quotas, then usage) of every target, concurrently; returns once the result is
    /// rendered.
    pub async fn refresh_all(&self) {
        if self.fleet.discovers() {
            self.fleet.sync().await;
        }
        let runners = self.fleet.runners().await;
        let generations =
            futures_util::future::join_all(runners.iter().map(|r| async move { r.lock().await.full_refresh().await }))
                .await;
        self.wait(generations).await;
    }

    /// A usage-only refresh of every target; returns once the result is rendered.
    pub async fn refresh_usage(&self) {
        let runners = self.fleet.runners().await;
        let generations =
            futures_util::future::join_all(runners.iter().map(|r| async move { r.lock().await.usage_refresh().await }))
                .await;
        self.wait(generations).await;
    }

    async fn wait(&self, generations: Vec<u64>) {
        if let Some(max) = generations.into_iter().max() {
            self.store.wait_rendered(max).await;
        }
    }
}

/// Each enabled source's refresh interval in seconds (the source table's), and the
/// account discovery's when Organizations is used.
fn refresh_intervals(config: &Config) -> Vec<(&'static str, f64)> {
    let mut out = crate::collector::intervals(config);
    if config.accounts.organizations.is_some() {
        out.push(("organizations", config.limits_refresh_interval.as_secs_f64()));
    }
    out
}

/// Builds the exporter: resolves targets, binds the listener, creates the runners.
pub async fn build(settings: Settings) -> Result<App, StartupError> {
    let Settings { config, sdk_config, clock, schedule, otlp } = settings;
    let regions = if config.regions.is_empty() {
        vec![sdk_config.region().ok_or(StartupError::NoRegion)?.to_string()]
    } else {
        config.regions.clone()
    };
    for p in &config.failover_pairs {
        if let Some(missing) = [&p.primary, &p.standby].into_iter().find(|r| !regions.contains(r)) {
            return Err(StartupError::FailoverRegion {
                primary: p.primary.clone(),
                standby: p.standby.clone(),
                missing: missing.clone(),
                collected: regions.join(","),
            });
        }
    }
    let listener = TcpListener::bind(config.listen_address)
        .await
        .map_err(|source| StartupError::Listen { address: config.listen_address, source })?;
    let local_addr =
        listener.local_addr().map_err(|source| StartupError::Listen { address: config.listen_address, source })?;

    let metrics = Arc::new(SelfMetrics::new());
    let parts = ClientParts {
        metrics: metrics.clone(),
        limits: crate::ratelimit::RateLimits::new(config.service_quotas_rate),
        timeouts: config.aws_timeouts,
        in_flight: Arc::new(tokio::sync::Semaphore::new(config.accounts.max_in_flight)),
    };
    let help = HelpContext {
        limits_interval: humanize(config.limits_refresh_interval),
        usage_interval: humanize(config.usage_refresh_interval),
        usage_lookback: humanize(config.usage_lookback),
        usage_slowest: humanize(config.usage_slowest_interval.max(config.usage_refresh_interval)),
        cloudwatch_budget: config.cloudwatch_budget,
        bedrock_lag: humanize(config.bedrock_lag),
        history_days: config.forecast_history_days,
        refresh_intervals: refresh_intervals(&config),
        failover_pairs: config.failover_pairs.clone(),
        overrides: match &config.alert_overrides {
            Some(path) => Some(Arc::new(crate::overrides::Live::load(path, clock.clone())?)),
            None => None,
        },
    };
    let overrides = help.overrides.clone();
    let store = Store::new();
    let renderer = Renderer::new(store.clone(), Arc::new(crate::metrics::catalog(&help)), metrics.clone());
    let config = Arc::new(config);
    let fleet = Arc::new(Fleet::new(FleetParts {
        base: sdk_config.clone(),
        parts: parts.clone(),
        config: config.clone(),
        clock: clock.clone(),
        regions: regions.clone(),
        store: store.clone(),
        lowest_tier: overrides.clone().map(lowest_tier),
    }));
    let discovered = fleet.sync().await;
    // The write roles' sessions: named apart from the read roles' in CloudTrail.
    let session =
        crate::aws::Session { name: "aws-quota-exporter-increases".into(), duration: config.accounts.session_duration };
    let receiver = if config.increase.receiver {
        let receiver_sdk = match &config.increase.role {
            Some(role) => crate::aws::assume_role(&sdk_config, &role.arn, role.external_id.as_deref(), &session).await,
            None => sdk_config.clone(),
        };
        let receiver = Receiver::new(ReceiverParts {
            config: Arc::new(config.increase.clone()),
            store: store.clone(),
            clock: clock.clone(),
            sdk_config: receiver_sdk.clone(),
            ledger_sdk_config: sdk_config.clone(),
            client_parts: parts.clone(),
            regions: regions.clone(),
            refresh: limit_refresh(clock.clone(), fleet.clone()),
            max_usage_age: config.usage_refresh_interval * 2 + config.usage_lookback,
            session,
        });
        // A ledger that cannot be opened does not stop the exporter: the receiver
        // answers 503 and tries again in the background.
        let _ = receiver.open_ledger().await;
        Some(receiver)
    } else {
        None
    };
    let otlp = otlp
        .map(|s| {
            let source = crate::otlp::Source {
                store: store.clone(),
                families: renderer.families().clone(),
                metrics: metrics.clone(),
                on_push: Arc::new({
                    let renderer = renderer.clone();
                    move || {
                        renderer.request_render();
                    }
                }),
            };
            crate::otlp::OtlpOutput::start(&s, source, config.otlp_max_points_per_request)
        })
        .transpose()?;
    Ok(App {
        listener,
        local_addr,
        handle: AppHandle { store, renderer, metrics, receiver: receiver.clone(), fleet, overrides },
        schedule,
        limits_interval: config.limits_refresh_interval,
        usage_interval: config.usage_refresh_interval,
        otlp,
        endpoint: receiver.map(|r| Arc::new(Endpoint::new(r))),
        http: config.http,
        discovered,
        panics: Arc::new(std::sync::atomic::AtomicU32::new(config.test_refresh_panics)),
    })
}

/// Raises an approved quota's limit in every target of its account that publishes it,
/// at once: never by waiting for a target's refresh, which may be stuck in a slow call.
fn limit_refresh(clock: Arc<dyn Clock>, fleet: Arc<Fleet>) -> LimitRefresh {
    Arc::new(move |key, value, global| {
        let (clock, fleet) = (clock.clone(), fleet.clone());
        Box::pin(async move {
            let targets = fleet.patches(&key.account).await;
            let patch = LimitPatch {
                service_code: key.service_code.clone(),
                quota_code: key.quota_code.clone(),
                value,
                at: clock.now(),
            };
            for (region, patches) in &targets {
                if (*region == key.region || global)
                    && let Some(generation) = patches.apply(patch.clone())
                {
                    tracing::info!(quota = %key, aws.region = %region, limit = value, "limit raised after an approved increase");
                    let _ =
                        tokio::time::timeout(Duration::from_secs(2), patches.store().wait_rendered(generation)).await;
                }
            }
        })
    })
}

/// Builds the exporter, runs one full refresh of every target and returns the snapshot,
/// without serving and without the receiver.
pub async fn collect_once(mut settings: Settings) -> Result<crate::snapshot::Snapshot, StartupError> {
    settings.config.increase.receiver = false;
    Ok(refresh_once(settings).await?.store.snapshot())
}

/// A quota's lowest alert tier from the overrides file in use, as a ratio (the shipped
/// default where the file sets none).
fn lowest_tier(live: Arc<crate::overrides::Live>) -> crate::collector::LowestTier {
    crate::collector::LowestTier(Arc::new(move |identity| {
        let tiers = live.current().effective(identity, live.now()).percents();
        tiers.into_iter().fold(f64::INFINITY, f64::min) / 100.0
    }))
}

/// Builds the exporter on loopback without scheduling, serving or pushing, and runs one
/// full refresh. The failover pairs and the alert overrides are for the rules, which a
/// one-shot command does not feed: they are left out.
async fn refresh_once(mut settings: Settings) -> Result<AppHandle, StartupError> {
    settings.config.listen_address = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    settings.config.failover_pairs.clear();
    settings.config.alert_overrides = None;
    settings.schedule = false;
    settings.otlp = None;
    let app = build(settings).await?;
    let handle = app.handle();
    let renderer = tokio::spawn(handle.renderer.clone().run());
    handle.refresh_all().await;
    renderer.abort();
    Ok(handle)
}

impl App {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }

    /// Serves, and refreshes when scheduling is on, until `shutdown` completes. Every
    /// background task is supervised: a panic is logged, counted and the task restarts.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let metrics = self.handle.metrics.clone();
        let renderer = self.handle.renderer.clone();
        let mut tasks = vec![tokio::spawn(supervise("renderer", metrics.clone(), move || renderer.clone().run()))];
        if self.schedule {
            let (limits, usage, panics, loop_metrics) =
                (self.limits_interval, self.usage_interval, self.panics.clone(), metrics.clone());
            let scheduler: crate::accounts::Scheduler = Arc::new(move |runner, delay| {
                let (panics, runner) = (panics.clone(), runner.clone());
                tokio::spawn(supervise("refresh", loop_metrics.clone(), move || {
                    refresh_loop(runner.clone(), limits, usage, delay, panics.clone())
                }))
                .abort_handle()
            });
            self.handle.fleet.schedule(scheduler).await;
            if self.handle.fleet.discovers() {
                let (fleet, discovered) = (self.handle.fleet.clone(), self.discovered);
                tasks.push(tokio::spawn(supervise("discovery", metrics.clone(), move || {
                    discovery_loop(fleet.clone(), limits, usage, discovered)
                })));
            }
        }
        if self.schedule
            && let Some(receiver) = &self.handle.receiver
        {
            let receiver = receiver.clone();
            tasks.push(tokio::spawn(supervise("tracker", metrics.clone(), move || receiver.clone().run())));
        }
        if let Some(live) = &self.handle.overrides {
            let (live, store) = (live.clone(), self.handle.store.clone());
            tasks.push(tokio::spawn(supervise("overrides", metrics.clone(), move || {
                let store = store.clone();
                crate::overrides::watch(live.clone(), store.clone(), move || {
                    store.touch();
                })
            })));
        }
        let server = crate::server::Server {
            renderer: self.handle.renderer.clone(),
            endpoint: self.endpoint.clone(),
            limits: self.http,
            metrics: metrics.clone(),
        };
        server.serve(self.listener, shutdown).await;
        for task in tasks {
            task.abort();
        }
        self.handle.fleet.stop().await;
        if let Some(otlp) = self.otlp {
            // One last push of what was collected, bounded in time.
            otlp.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// Discovers the accounts again on the limits cadence (the first discovery ran at
/// start), or on the usage cadence while discovery fails.
async fn discovery_loop(fleet: Arc<Fleet>, limits: Duration, usage: Duration, mut succeeded: bool) {
    loop {
        tokio::time::sleep(if succeeded { limits } else { usage.min(limits) }).await;
        succeeded = fleet.sync().await;
    }
}

/// Refreshes one target forever, from `delay` on: a full refresh every `limits`, usage
/// every `usage` in between. `panics` is a test hook: while above zero, a refresh panics
/// (and counts it down) instead of running.
async fn refresh_loop(
    runner: Arc<Mutex<TargetRunner>>,
    limits: Duration,
    usage: Duration,
    delay: Duration,
    panics: Arc<std::sync::atomic::AtomicU32>,
) {
    tokio::time::sleep(delay).await;
    let mut next_full = Instant::now();
    let mut next_usage;
    loop {
        #[cfg(feature = "test-hooks")]
        if panics
            .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                n.checked_sub(1)
            })
            .is_ok()
        {
            panic!("test hook: a refresh panics");
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = &panics;
        let now = Instant::now();
        if now >= next_full {
            runner.lock().await.full_refresh().await;
            next_full = now + limits;
            next_usage = now + usage;
        } else {
            runner.lock().await.usage_refresh().await;
            next_usage = now + usage;
        }
        tokio::time::sleep_until(next_full.min(next_usage)).await;
    }
}

/// What must live as long as the exporter: the simulated estate, in demo mode.
pub type Guard = Box<dyn std::any::Any + Send>;

/// The SDK configuration: the simulated estate in demo mode, the AWS chain otherwise.
pub async fn sdk_config(config: &mut Config) -> anyhow::Result<(Option<Guard>, aws_config::SdkConfig)> {
    if config.demo {
        #[cfg(feature = "demo")]
        {
            use anyhow::Context;
            let (sim, sdk) = crate::demo::start(config).await.context("starting the simulated AWS estate")?;
            tracing::info!(endpoint = %sim.endpoint_url(), "demo mode: serving the simulated AWS estate, not AWS");
            return Ok((Some(Box::new(sim)), sdk));
        }
        #[cfg(not(feature = "demo"))]
        anyhow::bail!(
            "--demo (QUOTA_EXPORTER_DEMO=true) needs the simulated AWS estate, which this build leaves out: \
             build with the demo feature, e.g. cargo run --features demo -- --demo"
        );
    }
    Ok((None, crate::aws::load_sdk_config().await))
}

/// The exporter's main job: serves `/metrics` and refreshes until `shutdown`.
pub async fn serve(
    mut config: Config,
    otlp: Option<crate::otlp::OtlpSettings>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (_sim, sdk_config) = sdk_config(&mut config).await?;
    let settings = Settings { config, sdk_config, clock: Arc::new(crate::clock::SystemClock), schedule: true, otlp };
    let app = build(settings).await?;
    tracing::info!(address = %app.local_addr(), "serving /metrics");
    app.run_until(shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// One full refresh with `config` for a one-shot command (`quotas`, `check`): of the
/// demo estate (its management account only, unless discovery was asked for) or of AWS.
pub async fn collect_for_command(config: Config) -> anyhow::Result<crate::snapshot::Snapshot> {
    let (snapshot, _kept) = collect_for_command_with(config, false).await?;
    Ok(snapshot)
}

/// What a one-shot command keeps after its refresh: the exporter (whose receiver, if
/// asked for, acts on the refreshed data) and the simulated estate of the demo.
pub struct Kept {
    pub handle: AppHandle,
    _sim: Option<Guard>,
}

/// As [`collect_for_command`], and with `receiver` the increase receiver too (its
/// ledger open, as the configuration says; nothing served over HTTP), kept for what the
/// command does next.
pub async fn collect_for_command_with(
    mut config: Config,
    receiver: bool,
) -> anyhow::Result<(crate::snapshot::Snapshot, Kept)> {
    let asked_to_discover = config.accounts.organizations.is_some();
    let (sim, sdk_config) = sdk_config(&mut config).await?;
    if config.demo && !asked_to_discover {
        config.accounts.organizations = None;
    }
    config.increase.receiver = receiver;
    let settings =
        Settings { config, sdk_config, clock: Arc::new(crate::clock::SystemClock), schedule: false, otlp: None };
    let handle = refresh_once(settings).await?;
    Ok((handle.store.snapshot(), Kept { handle, _sim: sim }))
}
