//! The Bedrock runtime collector: per-`ModelId` invocations, throttles, errors, tokens,
//! latency and `EstimatedTPMQuotaUsage` from `AWS/Bedrock`, one minute at a time,
//! through the same batched `GetMetricData` as quota usage.
//!
//! The `ModelId`s come from `ListMetrics` (metrics active in the last three hours), so
//! only models with traffic cost anything. Minutes are counted behind the watermark of
//! [`crate::bedrock::runtime`]; a model whose queries fail keeps its watermark and is
//! caught up by the next refresh. The quota utilisation of every model is computed here,
//! against the Bedrock quotas of the same target.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{CollectError, Collector, Source, TargetContext, TargetData};
use crate::aws::cloudwatch::{MetricData, MetricQuery};
use crate::bedrock::matching::{Method, QuotaCandidate, match_quotas};
use crate::bedrock::runtime::{
    Metric, ModelReport, RuntimeState, Utilization, countable_end, report, shared_utilization,
};

const NAMESPACE: &str = "AWS/Bedrock";

/// The runtime state and what it publishes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BedrockRuntime {
    pub state: RuntimeState,
    /// One report per model that has ever had data, sorted by model id.
    pub reports: Vec<ModelReport>,
    /// Each matched quota's consumption by all the model ids it governs, by quota code.
    pub quotas: std::collections::BTreeMap<String, Utilization>,
    /// The model ids each matched quota governs and how each was linked, by quota code.
    pub links: std::collections::BTreeMap<String, Vec<(String, Method)>>,
    /// Where the names the model ids were matched with came from, once matched.
    pub names: Option<crate::bedrock::NameSource>,
    /// What each per-minute quota had left at the last complete minute of its model ids
    /// (limit minus their combined tokens or requests then; negative past the limit),
    /// by quota code.
    pub left: std::collections::BTreeMap<String, f64>,
}

/// Reads `AWS/Bedrock`.
#[derive(Debug, Default)]
pub struct BedrockRuntimeCollector;

fn model_query(index: usize, model_id: &str, metric: Metric, k: usize, period: u32) -> MetricQuery {
    MetricQuery {
        id: format!("b{index}_{k}"),
        namespace: NAMESPACE.into(),
        name: metric.cloudwatch_name().into(),
        dimensions: vec![("ModelId".into(), model_id.to_owned())],
        stat: metric.statistic().into(),
        period,
    }
}

impl Collector for BedrockRuntimeCollector {
    const SOURCE: Source = Source::BedrockRuntime;

    async fn collect(&self, ctx: &TargetContext, data: &mut TargetData) -> Result<(), CollectError> {
        let lookback = ctx.config.usage_lookback.as_secs_f64();
        let end = countable_end(ctx.clock.now(), ctx.config.bedrock_lag.as_secs_f64());
        let mut runtime = (*data.bedrock_runtime).clone();
        let mut errors: Vec<String> = Vec::new();

        // Models with traffic in the last three hours, plus those still in the window.
        let mut ids: BTreeSet<String> =
            runtime.state.models.iter().filter(|(_, m)| !m.minutes.is_empty()).map(|(id, _)| id.clone()).collect();
        match ctx.aws.list_recent_metrics(NAMESPACE).await {
            Ok(dimension_sets) => {
                for set in dimension_sets {
                    if let [(name, value)] = set.as_slice()
                        && name == "ModelId"
                    {
                        ids.insert(value.clone());
                    }
                }
                // A known model with no data in three hours has nothing to count up to now.
                for (id, model) in runtime.state.models.iter_mut() {
                    if !ids.contains(id) {
                        model.watermark = model.watermark.max(end);
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
        let ids: Vec<String> = ids.into_iter().collect();
        let start = runtime.state.window_start(&ids, end, lookback);
        if start < end && !ids.is_empty() {
            let skipped_before = runtime.state.skipped_minutes;
            let failed = fetch_minutes(ctx, &mut runtime.state, &ids, start, end, lookback).await;
            if let Some(e) = failed {
                errors.push(e);
            }
            if let Err(e) = fetch_daily_tokens(ctx, &mut runtime.state, &ids, end).await {
                errors.push(e);
            }
            let skipped = runtime.state.skipped_minutes - skipped_before;
            if skipped > 0 {
                errors.push(format!("{skipped} minute(s) older than the catch-up limit were not counted"));
            }
        }

        let candidates: Vec<QuotaCandidate> = data
            .quotas
            .services
            .get("bedrock")
            .map(|s| s.quotas.iter().filter(|q| q.resource.is_none()).map(QuotaCandidate::of).collect())
            .unwrap_or_default();
        // Without the region's own model list, names come from other regions' lists or
        // from the ids themselves; AWS's usage-metric links need no names at all.
        let (inventory, names) =
            crate::bedrock::names_for(&data.bedrock, runtime.state.models.keys().map(String::as_str), &ctx.model_book);
        let matches: Vec<_> = runtime
            .state
            .models
            .iter()
            .map(|(id, state)| (id, state, match_quotas(id, &inventory, &candidates)))
            .collect();
        runtime.names = Some(names);
        runtime.links.clear();
        for (id, _, ms) in &matches {
            for m in ms {
                runtime.links.entry(m.quota_code.clone()).or_default().push(((*id).clone(), m.method));
            }
        }
        runtime.left =
            crate::bedrock::runtime::left_at_last_minute(matches.iter().map(|(_, state, m)| (*state, m.as_slice())));
        runtime.reports = matches.iter().map(|(id, state, m)| report(id, state, m)).collect();
        runtime.quotas = shared_utilization(matches.iter().map(|(_, state, m)| (*state, m.as_slice())));
        if candidates.is_empty() {
            // Without Bedrock's quotas (excluded, or not listed yet) nothing can match:
            // one line says so instead of one per model.
            if runtime.reports.iter().any(|r| r.recent) && !runtime.state.reported_no_quotas {
                runtime.state.reported_no_quotas = true;
                tracing::warn!(
                    aws.region = %ctx.aws.labels.region,
                    "Bedrock has traffic but no Bedrock quota is known (is the bedrock service excluded?); \
                     no model's quota utilisation is published"
                );
            }
        } else {
            runtime.state.reported_no_quotas = false;
        }
        for r in runtime.reports.iter().filter(|r| r.recent && r.matched.is_none() && !candidates.is_empty()) {
            if runtime.state.reported_unmatched.insert(r.model_id.clone()) {
                tracing::warn!(
                    aws.region = %ctx.aws.labels.region,
                    bedrock.model_id = %r.model_id,
                    "Bedrock model has traffic but no tokens-per-minute quota matched it; its utilisation is not published"
                );
            }
        }
        data.bedrock_runtime = Arc::new(runtime);
        if errors.is_empty() { Ok(()) } else { Err(CollectError(errors.join("; "))) }
    }
}

/// Reads and counts the minutes `[start, end)` of every model. Models whose queries all
/// succeeded are applied; the others keep their watermark. Returns the first error.
async fn fetch_minutes(
    ctx: &TargetContext,
    state: &mut RuntimeState,
    ids: &[String],
    start: f64,
    end: f64,
    lookback: f64,
) -> Option<String> {
    let queries: Vec<MetricQuery> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| Metric::ALL.iter().enumerate().map(move |(k, m)| model_query(i, id, *m, k, 60)))
        .collect();
    let (results, failure) = collect_batches(ctx, &queries, start, end).await;
    for (i, id) in ids.iter().enumerate() {
        let mut series: [Vec<(f64, f64)>; 8] = Default::default();
        let mut complete = true;
        for (k, slot) in series.iter_mut().enumerate() {
            match results.get(&format!("b{i}_{k}")) {
                Some(d) if d.complete => *slot = d.points.clone(),
                _ => complete = false,
            }
        }
        if complete {
            state.apply(id, &series, end, lookback);
        }
    }
    failure
}

/// Reads each model's input and output tokens of the 24 hours before `end`.
async fn fetch_daily_tokens(
    ctx: &TargetContext,
    state: &mut RuntimeState,
    ids: &[String],
    end: f64,
) -> Result<(), String> {
    let queries: Vec<MetricQuery> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| {
            [(Metric::InputTokens, 0), (Metric::OutputTokens, 1)]
                .into_iter()
                .map(move |(m, k)| MetricQuery { id: format!("d{i}_{k}"), ..model_query(i, id, m, k, 86_400) })
        })
        .collect();
    let (results, failure) = collect_batches(ctx, &queries, end - 86_400.0, end).await;
    for (i, id) in ids.iter().enumerate() {
        let sum = |k: usize| {
            results.get(&format!("d{i}_{k}")).filter(|d| d.complete).map(|d| d.points.iter().map(|p| p.1).sum::<f64>())
        };
        if let (Some(input), Some(output), Some(model)) = (sum(0), sum(1), state.models.get_mut(id)) {
            model.tokens_24h = Some(input + output);
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Runs the batches and merges their results; returns the first error, if any.
async fn collect_batches(
    ctx: &TargetContext,
    queries: &[MetricQuery],
    start: f64,
    end: f64,
) -> (HashMap<String, MetricData>, Option<String>) {
    let mut results = HashMap::new();
    let mut failure = None;
    for batch in ctx.aws.get_metric_data_batched(queries, start, end, ctx.config.concurrency).await {
        match batch.data {
            Ok(map) => results.extend(map),
            Err(e) => {
                failure.get_or_insert_with(|| e.to_string());
            }
        }
    }
    (results, failure)
}
