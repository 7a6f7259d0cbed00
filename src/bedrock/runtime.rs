//! Bedrock runtime arithmetic: counters built from CloudWatch's per-minute sums, and
//! the gauges and utilisation of the most recent minutes.
//!
//! CloudWatch data arrives late, so a minute is only counted once it is older than a
//! lag behind real time, and each model keeps a watermark: every minute before it has
//! been counted, none after it. A refresh counts the complete minutes from the
//! watermark to the new end and moves the watermark there; a refresh that fails for a
//! model leaves its watermark where it was, so the next one counts those minutes. No
//! minute is counted twice and none is skipped, whatever the refresh timing.

use std::collections::{BTreeMap, BTreeSet};

use super::matching::{Kind, Match};

/// The `AWS/Bedrock` metrics read per `ModelId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Invocations,
    Throttles,
    ClientErrors,
    ServerErrors,
    InputTokens,
    OutputTokens,
    /// Average milliseconds per invocation.
    Latency,
    /// `EstimatedTPMQuotaUsage`: tokens counted against the TPM quota (burndown applied).
    EstimatedTpm,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::Invocations,
        Metric::Throttles,
        Metric::ClientErrors,
        Metric::ServerErrors,
        Metric::InputTokens,
        Metric::OutputTokens,
        Metric::Latency,
        Metric::EstimatedTpm,
    ];

    /// The metrics that become counters, in `ALL` order.
    pub const COUNTERS: [Metric; 6] = [
        Metric::Invocations,
        Metric::Throttles,
        Metric::ClientErrors,
        Metric::ServerErrors,
        Metric::InputTokens,
        Metric::OutputTokens,
    ];

    pub fn cloudwatch_name(self) -> &'static str {
        match self {
            Metric::Invocations => "Invocations",
            Metric::Throttles => "InvocationThrottles",
            Metric::ClientErrors => "InvocationClientErrors",
            Metric::ServerErrors => "InvocationServerErrors",
            Metric::InputTokens => "InputTokenCount",
            Metric::OutputTokens => "OutputTokenCount",
            Metric::Latency => "InvocationLatency",
            Metric::EstimatedTpm => "EstimatedTPMQuotaUsage",
        }
    }

    /// The statistic per minute: latency is averaged, everything else summed.
    pub fn statistic(self) -> &'static str {
        if self == Metric::Latency { "Average" } else { "Sum" }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn is_counter(self) -> bool {
        self.index() < Metric::COUNTERS.len()
    }
}

/// One minute of one model: a value per metric, where CloudWatch had one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Minute(pub [Option<f64>; 8]);

impl Minute {
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.0[m.index()]
    }
}

/// One model's counters, watermark and recent minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelState {
    /// Epoch seconds: every minute before this one has been counted.
    pub watermark: f64,
    /// Counter totals, in [`Metric::COUNTERS`] order.
    pub totals: [f64; 6],
    /// Whether any datapoint has been counted (a model without one has no series).
    pub counted_any: bool,
    /// The minutes of the lookback window, by minute start.
    pub minutes: BTreeMap<i64, Minute>,
    /// Input plus output tokens of the trailing 24 hours.
    pub tokens_24h: Option<f64>,
    /// The minutes of the last [`ONSET_WINDOW_SECONDS`] that had throttles, by minute
    /// start: the requests tried (invocations plus throttles) and the estimated TPM
    /// quota usage, for the throttling onset.
    pub throttled: BTreeMap<i64, (f64, Option<f64>)>,
}

/// How far back throttled minutes are kept for the onset: three days.
pub const ONSET_WINDOW_SECONDS: f64 = 3.0 * 86_400.0;
/// Fewer throttled minutes than this give no onset.
pub const ONSET_MIN_MINUTES: usize = 10;

/// The load at which throttling begins, from the loads of the minutes that had
/// throttles: the lowest of them once the lowest tenth (rounded down) is set aside. The
/// minimum alone would follow one odd minute (a burst of a few seconds throttles within
/// a quiet minute); the median would report where throttling is usual, not where it
/// begins. `None` with fewer than [`ONSET_MIN_MINUTES`] minutes.
pub fn onset(loads: &[f64]) -> Option<f64> {
    if loads.len() < ONSET_MIN_MINUTES {
        return None;
    }
    let mut sorted: Vec<f64> = loads.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 10).copied()
}

/// The runtime state of one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeState {
    pub models: BTreeMap<String, ModelState>,
    /// Models with traffic and no matched quota that have been logged already.
    pub reported_unmatched: BTreeSet<String>,
    /// Whether the absence of any Bedrock quota has been logged already.
    pub reported_no_quotas: bool,
    /// Minutes that could not be counted because a model was unreachable for longer
    /// than the catch-up limit.
    pub skipped_minutes: u64,
}

/// The longest gap a refresh catches up on; older minutes are given up on.
pub const MAX_CATCH_UP_SECONDS: f64 = 3.0 * 3600.0;

/// The end of the countable minutes: the start of the minute `lag` seconds ago.
pub fn countable_end(now: f64, lag_seconds: f64) -> f64 {
    ((now - lag_seconds) / 60.0).floor() * 60.0
}

impl RuntimeState {
    /// The watermark a model starts from: its own, or the lookback window's start for a
    /// model seen for the first time. Never further back than the catch-up limit.
    pub fn start_of(&self, model_id: &str, end: f64, lookback: f64) -> f64 {
        let start = self.models.get(model_id).map_or(end - lookback, |m| m.watermark);
        start.max(end - MAX_CATCH_UP_SECONDS)
    }

    /// The window a refresh must fetch to bring every model up to `end`.
    pub fn window_start(&self, model_ids: &[String], end: f64, lookback: f64) -> f64 {
        model_ids.iter().map(|id| self.start_of(id, end, lookback)).fold(end, f64::min)
    }

    /// Counts a model's datapoints for the minutes from its watermark up to `end`, keeps
    /// the minutes of the lookback window and moves the watermark to `end`.
    /// `data[i]` holds the `(minute start, value)` datapoints of `Metric::ALL[i]`.
    pub fn apply(&mut self, model_id: &str, data: &[Vec<(f64, f64)>; 8], end: f64, lookback: f64) {
        let start = self.start_of(model_id, end, lookback);
        let state = self.models.entry(model_id.to_owned()).or_insert_with(|| ModelState {
            watermark: start,
            totals: [0.0; 6],
            counted_any: false,
            minutes: BTreeMap::new(),
            tokens_24h: None,
            throttled: BTreeMap::new(),
        });
        // The minutes counted now, older than the lookback window too (a catch-up).
        let mut fresh: BTreeMap<i64, Minute> = BTreeMap::new();
        if start > state.watermark {
            self.skipped_minutes += ((start - state.watermark) / 60.0).round() as u64;
            state.watermark = start;
        }
        for (metric, points) in Metric::ALL.iter().zip(data) {
            for &(t, v) in points {
                let minute = (t / 60.0).floor() * 60.0;
                if minute >= end || minute < end - lookback.max(MAX_CATCH_UP_SECONDS) {
                    continue;
                }
                if minute >= state.watermark {
                    if metric.is_counter() {
                        state.totals[metric.index()] += v;
                        state.counted_any = true;
                    }
                    fresh.entry(minute as i64).or_default().0[metric.index()] = Some(v);
                }
                if minute >= end - lookback {
                    state.minutes.entry(minute as i64).or_default().0[metric.index()] = Some(v);
                }
            }
        }
        // The newly counted minutes that had throttles, for the onset.
        for (minute, values) in &fresh {
            let throttles = values.get(Metric::Throttles).unwrap_or(0.0);
            if throttles > 0.0 {
                let tried = values.get(Metric::Invocations).unwrap_or(0.0) + throttles;
                state.throttled.insert(*minute, (tried, values.get(Metric::EstimatedTpm)));
            }
        }
        let oldest_throttled = (end - ONSET_WINDOW_SECONDS) as i64;
        state.throttled.retain(|m, _| *m >= oldest_throttled);
        state.watermark = state.watermark.max(end);
        let oldest = (end - lookback) as i64;
        state.minutes.retain(|m, _| *m >= oldest);
    }
}

/// What one model publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReport {
    pub model_id: String,
    /// Counter totals in [`Metric::COUNTERS`] order, once anything has been counted.
    pub totals: Option<[f64; 6]>,
    /// Average latency of the latest complete minute, in seconds.
    pub latency_seconds: Option<f64>,
    /// `EstimatedTPMQuotaUsage` of the latest complete minute.
    pub estimated_tpm: Option<f64>,
    /// Whether the lookback window holds any data for this model.
    pub recent: bool,
    /// Each matched quota with this model id's consumption (in the quota's unit) and
    /// its utilisation.
    pub utilization: Vec<Utilization>,
    /// How the tokens-per-minute quota that governs this model id was linked to it, if
    /// one does.
    pub matched: Option<crate::bedrock::matching::Method>,
    /// Where throttling begins, per minute, by kind (tokens or requests per minute), with
    /// the governing quota of that kind and the onset's share of its limit.
    pub onsets: Vec<Onset>,
}

/// The load at which a model id's throttling begins.
#[derive(Debug, Clone, PartialEq)]
pub struct Onset {
    pub kind: Kind,
    /// Tokens or requests per minute.
    pub per_minute: f64,
    /// The governing quota's code and `per_minute / limit`.
    pub quota: Option<(String, f64)>,
}

/// One quota's consumption by one model id, or by every model id it governs.
#[derive(Debug, Clone, PartialEq)]
pub struct Utilization {
    pub quota: Match,
    /// Peak tokens or requests in one minute, or tokens in 24 hours.
    pub used: f64,
    pub ratio: f64,
}

/// The latest minute's value of a metric.
fn latest(state: &ModelState, m: Metric) -> Option<f64> {
    state.minutes.values().rev().find_map(|minute| minute.get(m))
}

/// The highest minute of a metric over the lookback window.
fn peak(state: &ModelState, m: Metric) -> Option<f64> {
    state.minutes.values().filter_map(|minute| minute.get(m)).reduce(f64::max)
}

/// The report of one model given the quotas that govern it:
/// tokens per minute = peak `EstimatedTPMQuotaUsage` minute / limit;
/// requests per minute = peak `Invocations` minute / limit;
/// tokens per day = input plus output tokens of the last 24 hours / limit.
pub fn report(model_id: &str, state: &ModelState, matches: &[Match]) -> ModelReport {
    let recent = !state.minutes.is_empty();
    let utilization = if recent {
        matches
            .iter()
            .filter(|m| m.limit > 0.0)
            .filter_map(|m| {
                let used = match m.kind {
                    Kind::TokensPerMinute => peak(state, Metric::EstimatedTpm)?,
                    Kind::RequestsPerMinute => peak(state, Metric::Invocations)?,
                    Kind::TokensPerDay => state.tokens_24h?,
                };
                Some(Utilization { quota: m.clone(), used, ratio: used / m.limit })
            })
            .collect()
    } else {
        Vec::new()
    };
    ModelReport {
        model_id: model_id.to_owned(),
        totals: state.counted_any.then_some(state.totals),
        latency_seconds: latest(state, Metric::Latency).map(|ms| ms / 1000.0),
        estimated_tpm: latest(state, Metric::EstimatedTpm),
        recent,
        utilization,
        matched: matches.iter().find(|m| m.kind == Kind::TokensPerMinute).map(|m| m.method),
        onsets: onsets(state, matches),
    }
}

/// The throttling onset of each per-minute kind with enough throttled minutes.
fn onsets(state: &ModelState, matches: &[Match]) -> Vec<Onset> {
    let loads = |kind: Kind| -> Vec<f64> {
        state
            .throttled
            .values()
            .filter_map(|(tried, tpm)| if kind == Kind::TokensPerMinute { *tpm } else { Some(*tried) })
            .collect()
    };
    [Kind::TokensPerMinute, Kind::RequestsPerMinute]
        .into_iter()
        .filter_map(|kind| {
            let per_minute = onset(&loads(kind))?;
            let quota = matches
                .iter()
                .find(|m| m.kind == kind && m.limit > 0.0)
                .map(|m| (m.quota_code.clone(), per_minute / m.limit));
            Some(Onset { kind, per_minute, quota })
        })
        .collect()
}

/// What each per-minute quota has left at the last complete minute any of its model ids
/// has: its limit minus their combined tokens (`EstimatedTPMQuotaUsage`) or requests
/// (invocations) in that minute. A client can size its own token bucket from it. Keyed
/// by quota code; tokens-per-day quotas are left out.
pub fn left_at_last_minute<'a>(
    models: impl IntoIterator<Item = (&'a ModelState, &'a [Match])> + Clone,
) -> BTreeMap<String, f64> {
    let per_minute = |m: &Match| m.kind != Kind::TokensPerDay && m.limit > 0.0;
    let mut last: BTreeMap<String, (f64, i64)> = BTreeMap::new();
    for (state, matches) in models.clone() {
        let Some(minute) = state.minutes.keys().next_back() else { continue };
        for m in matches.iter().filter(|m| per_minute(m)) {
            let e = last.entry(m.quota_code.clone()).or_insert((m.limit, *minute));
            e.1 = e.1.max(*minute);
        }
    }
    let mut used: BTreeMap<String, f64> = BTreeMap::new();
    for (state, matches) in models {
        for m in matches.iter().filter(|m| per_minute(m)) {
            let Some((_, minute)) = last.get(&m.quota_code) else { continue };
            let metric = if m.kind == Kind::TokensPerMinute { Metric::EstimatedTpm } else { Metric::Invocations };
            let v = state.minutes.get(minute).and_then(|x| x.get(metric)).unwrap_or(0.0);
            *used.entry(m.quota_code.clone()).or_default() += v;
        }
    }
    last.into_iter().map(|(code, (limit, _))| (code.clone(), limit - used.get(&code).copied().unwrap_or(0.0))).collect()
}

/// Each quota's consumption by all the model ids it governs together (a model called
/// directly and through an application inference profile share its quota): the peak of
/// their per-minute sums for a per-minute quota, and for a daily quota the sum of their
/// 24-hour tokens, each against the limit that applies to it. Keyed by quota code.
pub fn shared_utilization<'a>(
    models: impl IntoIterator<Item = (&'a ModelState, &'a [Match])>,
) -> BTreeMap<String, Utilization> {
    let mut per_minute: BTreeMap<(String, i64), f64> = BTreeMap::new();
    let mut out: BTreeMap<String, Utilization> = BTreeMap::new();
    for (state, matches) in models {
        for m in matches.iter().filter(|m| m.limit > 0.0) {
            let entry = out.entry(m.quota_code.clone()).or_insert_with(|| Utilization {
                quota: m.clone(),
                used: 0.0,
                ratio: 0.0,
            });
            let metric = match m.kind {
                Kind::TokensPerMinute => Metric::EstimatedTpm,
                Kind::RequestsPerMinute => Metric::Invocations,
                Kind::TokensPerDay => {
                    let tokens = state.tokens_24h.unwrap_or(0.0);
                    entry.used += tokens;
                    entry.ratio += tokens / m.limit;
                    continue;
                }
            };
            for (minute, values) in &state.minutes {
                if let Some(v) = values.get(metric) {
                    *per_minute.entry((m.quota_code.clone(), *minute)).or_default() += v;
                }
            }
        }
    }
    for ((code, _), sum) in per_minute {
        if let Some(u) = out.get_mut(&code)
            && sum > u.used
        {
            u.used = sum;
            u.ratio = sum / u.quota.limit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::matching::{Method, Scope};

    const LOOKBACK: f64 = 900.0;

    /// Invocations of `value` in every minute of `[from, to)`, nothing else.
    fn invocations(from: f64, to: f64, value: f64) -> [Vec<(f64, f64)>; 8] {
        let mut data: [Vec<(f64, f64)>; 8] = Default::default();
        let mut t = from;
        while t < to {
            data[0].push((t, value));
            t += 60.0;
        }
        data
    }

    #[test]
    fn the_countable_end_trails_real_time_by_the_lag() {
        assert_eq!(countable_end(1_000_030.0, 300.0), 999_720.0);
    }

    #[test]
    fn minutes_refetched_by_overlapping_windows_are_counted_once() {
        let mut s = RuntimeState::default();
        let end1 = 60_000.0;
        s.apply("m", &invocations(end1 - LOOKBACK, end1, 1.0), end1, LOOKBACK);
        assert_eq!(s.models["m"].totals[0], 15.0, "the first refresh counts the lookback window");
        // The next refresh's window overlaps the first by five minutes.
        let end2 = end1 + 300.0;
        s.apply("m", &invocations(end1 - 300.0, end2, 1.0), end2, LOOKBACK);
        assert_eq!(s.models["m"].totals[0], 20.0);
        assert_eq!(s.models["m"].watermark, end2);
    }

    #[test]
    fn a_failed_refresh_is_caught_up_by_the_next_one() {
        let mut s = RuntimeState::default();
        s.apply("m", &invocations(59_100.0, 60_000.0, 2.0), 60_000.0, LOOKBACK);
        // A refresh at 60,300 fails for this model: nothing applied. The next one fetches
        // from the watermark.
        let end = 60_600.0;
        assert_eq!(s.window_start(&["m".to_owned()], end, LOOKBACK), 60_000.0);
        s.apply("m", &invocations(60_000.0, end, 2.0), end, LOOKBACK);
        assert_eq!(s.models["m"].totals[0], 2.0 * 25.0, "15 + 10 minutes, none twice, none skipped");
    }

    #[test]
    fn a_model_seen_later_starts_at_its_own_lookback_without_disturbing_others() {
        let mut s = RuntimeState::default();
        s.apply("a", &invocations(59_100.0, 60_000.0, 1.0), 60_000.0, LOOKBACK);
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let end = 60_300.0;
        let start = s.window_start(&ids, end, LOOKBACK);
        assert_eq!(start, end - LOOKBACK, "the window reaches back for the new model");
        s.apply("a", &invocations(start, end, 1.0), end, LOOKBACK);
        s.apply("b", &invocations(start, end, 1.0), end, LOOKBACK);
        assert_eq!(s.models["a"].totals[0], 20.0);
        assert_eq!(s.models["b"].totals[0], 15.0);
    }

    #[test]
    fn an_outage_longer_than_the_catch_up_limit_is_given_up_and_counted_as_skipped() {
        let mut s = RuntimeState::default();
        s.apply("m", &invocations(59_100.0, 60_000.0, 1.0), 60_000.0, LOOKBACK);
        let end = 60_000.0 + MAX_CATCH_UP_SECONDS + 600.0;
        let start = s.window_start(&["m".to_owned()], end, LOOKBACK);
        assert_eq!(start, end - MAX_CATCH_UP_SECONDS);
        s.apply("m", &invocations(start, end, 1.0), end, LOOKBACK);
        assert_eq!(s.skipped_minutes, 10);
        assert_eq!(s.models["m"].totals[0], 15.0 + MAX_CATCH_UP_SECONDS / 60.0);
    }

    #[test]
    fn only_the_lookback_window_is_kept_for_gauges_and_peaks() {
        let mut s = RuntimeState::default();
        let mut data = invocations(59_100.0, 60_000.0, 1.0);
        data[0][3].1 = 9.0; // a peak minute
        data[6] = vec![(59_880.0, 1200.0), (59_940.0, 800.0)]; // latency in ms
        data[7] = vec![(59_940.0, 5000.0)];
        s.apply("m", &data, 60_000.0, LOOKBACK);
        let r = report("m", &s.models["m"], &[]);
        assert_eq!(r.latency_seconds, Some(0.8), "the latest complete minute");
        assert_eq!(r.estimated_tpm, Some(5000.0));
        assert_eq!(peak(&s.models["m"], Metric::Invocations), Some(9.0));
        // Twenty minutes later without data, the window is empty and nothing is recent.
        s.apply("m", &Default::default(), 61_200.0, LOOKBACK);
        assert!(!report("m", &s.models["m"], &[]).recent);
        assert_eq!(
            report("m", &s.models["m"], &[]).totals.map(|t| t[0]),
            Some(23.0),
            "14 minutes of 1 and one of 9 remain"
        );
    }

    #[test]
    fn utilization_divides_the_peak_minute_and_the_daily_tokens_by_each_limit() {
        let mut s = RuntimeState::default();
        let mut data = invocations(59_100.0, 60_000.0, 100.0);
        data[0][5].1 = 170.0;
        data[7] = vec![(59_880.0, 1_000_000.0), (59_940.0, 1_700_000.0)];
        s.apply("m", &data, 60_000.0, LOOKBACK);
        s.models.get_mut("m").expect("applied").tokens_24h = Some(1.44e9);
        let m = |kind, limit: f64| Match {
            kind,
            scope: Scope::CrossRegion,
            quota_code: "L-X".into(),
            limit,
            method: Method::Name,
        };
        let matches =
            [m(Kind::TokensPerMinute, 2_000_000.0), m(Kind::RequestsPerMinute, 200.0), m(Kind::TokensPerDay, 2.88e9)];
        let r = report("m", &s.models["m"], &matches);
        let ratios: Vec<(Kind, f64)> = r.utilization.iter().map(|u| (u.quota.kind, u.ratio)).collect();
        assert_eq!(
            ratios,
            vec![(Kind::TokensPerMinute, 0.85), (Kind::RequestsPerMinute, 0.85), (Kind::TokensPerDay, 0.5)]
        );
        assert_eq!(r.matched, Some(Method::Name));
        assert_eq!(report("m", &s.models["m"], &matches[1..]).matched, None, "matched means a TPM quota");
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;
    use crate::bedrock::matching::{Method, Scope};

    fn minutes(values: &[(i64, f64, f64)]) -> ModelState {
        let mut minutes = BTreeMap::new();
        for (t, invocations, tpm) in values {
            let mut m = Minute::default();
            m.0[Metric::Invocations as usize] = Some(*invocations);
            m.0[Metric::EstimatedTpm as usize] = Some(*tpm);
            minutes.insert(*t, m);
        }
        ModelState {
            watermark: 0.0,
            totals: [0.0; 6],
            counted_any: true,
            minutes,
            tokens_24h: None,
            throttled: BTreeMap::new(),
        }
    }

    #[test]
    fn model_ids_sharing_a_quota_add_up_minute_by_minute() {
        let tpm = Match {
            kind: Kind::TokensPerMinute,
            scope: Scope::OnDemand,
            quota_code: "L-T".into(),
            limit: 1000.0,
            method: Method::Name,
        };
        // Direct calls peak in minute 60, the profile's in minute 120; together they peak at 120.
        let direct = minutes(&[(60, 0.0, 500.0), (120, 0.0, 300.0)]);
        let profile = minutes(&[(60, 0.0, 100.0), (120, 0.0, 400.0)]);
        let shared = shared_utilization([(&direct, &[tpm.clone()][..]), (&profile, &[tpm][..])]);
        assert_eq!(shared["L-T"].used, 700.0, "the peak of the sums, not the sum of the peaks (900)");
        assert_eq!(shared["L-T"].ratio, 0.7);
    }

    #[test]
    fn daily_tokens_add_up_against_each_model_ids_own_limit() {
        let tpd = |limit| Match {
            kind: Kind::TokensPerDay,
            scope: Scope::OnDemand,
            quota_code: "L-D".into(),
            limit,
            method: Method::Name,
        };
        let mut direct = minutes(&[]);
        direct.tokens_24h = Some(100.0);
        let mut cross = minutes(&[]);
        cross.tokens_24h = Some(100.0);
        let shared = shared_utilization([(&direct, &[tpd(1000.0)][..]), (&cross, &[tpd(2000.0)][..])]);
        assert_eq!(shared["L-D"].used, 200.0);
        // 100/1000 + 100/2000, with float rounding.
        assert!((shared["L-D"].ratio - 0.15).abs() < 1e-12, "{}", shared["L-D"].ratio);
    }

    #[test]
    fn the_onset_sets_the_lowest_tenth_of_throttled_minutes_aside_and_needs_ten_of_them() {
        // Eleven throttled minutes at 60 % to 70 % of a quota, and one burst-throttled
        // quiet minute at 20 %: the quiet one is set aside.
        let mut loads = vec![0.2];
        loads.extend((0..11).map(|i| 0.6 + 0.01 * f64::from(i)));
        assert_eq!(onset(&loads), Some(0.6));
        assert_eq!(onset(&loads[..9]), None, "nine minutes are too few");
        assert_eq!(onset(&[0.5; 10]), Some(0.5));
    }

    #[test]
    fn throttled_minutes_are_kept_for_three_days_with_the_load_tried() {
        let mut s = RuntimeState::default();
        let mut data: [Vec<(f64, f64)>; 8] = Default::default();
        // Minute 0 and 1: 90 and 100 invocations; only minute 1 throttled, 10 times.
        data[Metric::Invocations.index()] = vec![(0.0, 90.0), (60.0, 100.0)];
        data[Metric::Throttles.index()] = vec![(0.0, 0.0), (60.0, 10.0)];
        data[Metric::EstimatedTpm.index()] = vec![(0.0, 5000.0), (60.0, 6000.0)];
        s.apply("m", &data, 120.0, 900.0);
        assert_eq!(s.models["m"].throttled.iter().collect::<Vec<_>>(), [(&60, &(110.0, Some(6000.0)))]);
        // Counted once: a later refresh over the same minutes adds nothing.
        s.apply("m", &data, 180.0, 900.0);
        assert_eq!(s.models["m"].throttled.len(), 1);
        // A catch-up past the lookback window keeps the older throttled minutes too.
        let mut late: [Vec<(f64, f64)>; 8] = Default::default();
        late[Metric::Throttles.index()] = vec![(180.0, 1.0), (3000.0, 1.0)];
        s.apply("m", &late, 3600.0, 900.0);
        assert_eq!(s.models["m"].throttled.keys().collect::<Vec<_>>(), [&60, &180, &3000]);
        s.apply("m", &Default::default(), ONSET_WINDOW_SECONDS + 3660.0, 900.0);
        assert!(s.models["m"].throttled.is_empty(), "three days later it is gone");
    }
}
