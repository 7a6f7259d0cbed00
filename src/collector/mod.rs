//! Collectors: one per source of data, each in its own file, behind one method.
//!
//! A collector refreshes its own part of a target's [`TargetData`] and reports
//! whether everything succeeded. Whatever fails keeps its last good data: a collector
//! never blanks what it could not refresh, and never touches another source's data.
//! The runner in [`crate::target`] times each collection and records its status, so
//! every source reports its own success, last success and duration.

pub mod bedrock_inventory;
pub mod bedrock_runtime;
pub mod history;
pub mod quotas;
pub mod usage;

use std::future::Future;
use std::sync::Arc;

use crate::aws::TargetAws;
use crate::clock::Clock;
use crate::config::Config;

pub use bedrock_runtime::BedrockRuntime;
pub use quotas::QuotaInventory;
pub use usage::UsageTable;

/// A source of data, one per collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Quotas and their limits, from Service Quotas.
    ServiceQuotas,
    /// Usage of every quota with a usage metric, from CloudWatch.
    Usage,
    /// Bedrock models, inference profiles and provisioned throughputs.
    BedrockInventory,
    /// Bedrock runtime metrics per model, from CloudWatch.
    BedrockRuntime,
    /// Daily usage history for the forecasts, from CloudWatch.
    History,
}

impl Source {
    /// The `source` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::ServiceQuotas => "service_quotas",
            Source::Usage => "usage",
            Source::BedrockInventory => "bedrock_inventory",
            Source::BedrockRuntime => "bedrock_runtime",
            Source::History => "history",
        }
    }
}

/// How often a source is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Every full refresh (`QUOTA_EXPORTER_LIMITS_REFRESH_INTERVAL`).
    Limits,
    /// Every refresh, full or usage-only (`QUOTA_EXPORTER_USAGE_REFRESH_INTERVAL`).
    Usage,
    /// In a full refresh, once a day.
    Daily,
}

/// One row of the source table.
#[derive(Debug, Clone, Copy)]
pub struct SourceSpec {
    pub source: Source,
    pub cadence: Cadence,
    /// Whether the configuration turns it on.
    pub enabled: fn(&Config) -> bool,
}

/// Every source, in the order a refresh runs them (quotas before the usage they are
/// matched with, the Bedrock inventory before the runtime metrics it names), with its
/// cadence and what turns it on. The runner, the help texts and
/// `aws_quota_exporter_refresh_interval_seconds` all read this table.
pub const SOURCES: [SourceSpec; 5] = [
    SourceSpec { source: Source::ServiceQuotas, cadence: Cadence::Limits, enabled: |_| true },
    SourceSpec { source: Source::BedrockInventory, cadence: Cadence::Limits, enabled: |c| c.bedrock },
    SourceSpec { source: Source::Usage, cadence: Cadence::Usage, enabled: |_| true },
    SourceSpec { source: Source::BedrockRuntime, cadence: Cadence::Usage, enabled: |c| c.bedrock },
    SourceSpec { source: Source::History, cadence: Cadence::Daily, enabled: |c| c.forecast },
];

/// The sources `config` turns on, in refresh order.
pub fn enabled(config: &Config) -> impl Iterator<Item = &'static SourceSpec> + '_ {
    SOURCES.iter().filter(move |s| (s.enabled)(config))
}

/// Each enabled source's refresh interval in seconds, in the order of [`Source`] (the
/// order of every per-source series).
pub fn intervals(config: &Config) -> Vec<(&'static str, f64)> {
    let mut specs: Vec<&SourceSpec> = enabled(config).collect();
    specs.sort_by_key(|s| s.source);
    specs
        .into_iter()
        .map(|s| {
            let seconds = match s.cadence {
                Cadence::Limits => config.limits_refresh_interval.as_secs_f64(),
                Cadence::Usage => config.usage_refresh_interval.as_secs_f64(),
                Cadence::Daily => 86_400.0,
            };
            (s.source.as_str(), seconds)
        })
        .collect()
}

/// Everything a collector needs to know about its target.
#[derive(Debug, Clone)]
pub struct TargetContext {
    pub aws: TargetAws,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// Whether this target publishes global quotas. A global quota is the same in every
    /// region, so each account publishes it from one region only.
    pub publishes_global_quotas: bool,
    /// Every region's Bedrock model names, for a region whose own list is missing.
    pub model_book: Arc<crate::bedrock::ModelBook>,
    /// The process's CloudWatch budget, shared by its targets.
    pub cloudwatch_budget: Arc<crate::cadence::BudgetBook>,
    /// This target's key in the budget (its store slot).
    pub budget_key: usize,
    /// Each quota's lowest alert tier (a ratio), where the alert overrides set one.
    pub lowest_tier: Option<LowestTier>,
}

/// A quota's lowest alert tier as a ratio, by its identity (account, region, service,
/// quota, resource): what the usage cadence takes for "near the tier".
#[derive(Clone)]
pub struct LowestTier(pub Arc<TierOf>);

/// The function behind [`LowestTier`].
pub type TierOf = dyn Fn([&str; 5]) -> f64 + Send + Sync;

impl std::fmt::Debug for LowestTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LowestTier")
    }
}

impl TargetContext {
    /// The sources this target refreshes.
    pub fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        enabled(&self.config).map(|s| s.source)
    }
}

/// The data of one target, each part owned by one collector.
#[derive(Debug, Clone, Default)]
pub struct TargetData {
    pub account_id: Option<String>,
    pub quotas: Arc<QuotaInventory>,
    pub usage: Arc<UsageTable>,
    pub bedrock: Arc<crate::bedrock::Inventory>,
    pub bedrock_runtime: Arc<BedrockRuntime>,
    pub history: Arc<history::History>,
    pub forecasts: Arc<history::Forecasts>,
}

/// What went wrong in a collection; the data the collector could refresh is kept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CollectError(pub String);

/// One source's collector.
pub trait Collector: Send + Sync {
    const SOURCE: Source;

    /// Refreshes this source's part of `data`, keeping the last good values of
    /// anything that failed, and says what failed.
    fn collect(
        &self,
        ctx: &TargetContext,
        data: &mut TargetData,
    ) -> impl Future<Output = Result<(), CollectError>> + Send;
}
