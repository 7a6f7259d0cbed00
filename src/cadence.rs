//! How often each usage metric is read: the adaptive cadence and the CloudWatch budget.
//!
//! `GetMetricData` is billed per metric requested, whatever the window, so the cost of
//! usage is the number of reads. A metric at its quota's alert tier, or one that can
//! climb to it, is read at every usage refresh (the fastest cadence); a cold, flat one
//! is read less often, down to the slowest interval. A read covers the whole time since
//! the previous one and the lookback before it (for datapoints CloudWatch received
//! late) at 60-second resolution, so a peak is never lost, only seen later; the peak of
//! the last slowest interval is kept beside the latest value.
//!
//! The rule, after each read of a metric (utilisation = value × scale, the largest over
//! the quotas that share the metric, each scaled so that its own lowest alert tier is
//! [`LOWEST_TIER`]), on the points the read brought that earlier reads had not:
//! 1. At the tier: a point at or above the tier makes the metric hot until a read's
//!    points all stay below the tier less the alerts' hysteresis (5 points).
//! 2. A jump: a point at the tier reached by a climb of [`JUMP`] of the limit within one
//!    refresh keeps the metric hot for [`JUMP_MEMORY_SECONDS`].
//! 3. Otherwise the interval is the time the metric needs to climb from where it is to
//!    the tier at the steepest climb it has shown (the largest climb within one refresh
//!    interval, per second, remembered with a half-life of two days), so a crossing is
//!    read within one refresh of happening; a metric that could reach the tier within
//!    one refresh is hot.
//! 4. The interval at most doubles per read (a metric that just moved slows down step
//!    by step), stays between the fastest and the slowest interval, and is a whole
//!    number of refreshes (the one it is read at).
//! 5. A metric without a limit (no utilisation) is read at the fastest cadence when its
//!    value changed and slows down twofold per unchanged read.
//!
//! The budget (USD a month, shared among the process's targets by their number of
//! metrics) is kept by moving the coldest non-hot metrics to the slowest interval first;
//! hot metrics keep the fastest cadence whatever it costs, and the shortfall is
//! reported so that an alert can say the budget is too small.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// What AWS bills per metric requested through `GetMetricData` (standard tier).
pub const USD_PER_METRIC: f64 = 0.01 / 1000.0;
/// The month of the projection: 30 days.
pub const MONTH_SECONDS: f64 = 30.0 * 86_400.0;
/// The lowest alert tier (the `info` tier of the rules), as a ratio: every quota's own
/// lowest tier is scaled to it.
pub const LOWEST_TIER: f64 = 0.70;
/// The alerts' hysteresis: an alert resolves 5 points below its tier.
pub const HYSTERESIS: f64 = 0.05;
/// How long a metric remembers its steepest rise at full weight: it halves every two days.
pub const RISE_HALF_LIFE_SECONDS: f64 = 2.0 * 86_400.0;
/// A jump: a climb of a quarter of the limit within one refresh that reached the tier.
pub const JUMP: f64 = 0.25;
/// How long a quota that jumped stays on the fastest cadence: a quota that spiked once
/// is likely to spike again.
pub const JUMP_MEMORY_SECONDS: f64 = 14.0 * 86_400.0;

/// The largest climb of `points` (in time order) within any `span` seconds, per second
/// of `span`, with values mapped by `scale`.
fn steepest_climb(points: &[(f64, f64)], span: f64, scale: impl Fn(f64) -> f64) -> f64 {
    let mut best = 0.0f64;
    let mut low = 0;
    for (j, &(t, v)) in points.iter().enumerate() {
        while points[low].0 < t - span {
            low += 1;
        }
        let floor = points[low..j].iter().map(|&(_, u)| scale(u)).fold(f64::INFINITY, f64::min);
        if floor.is_finite() {
            best = best.max((scale(v) - floor) / span);
        }
    }
    best
}

/// USD a month for reading one metric every `interval` seconds.
pub fn monthly_cost(interval: f64) -> f64 {
    MONTH_SECONDS / interval.max(1.0) * USD_PER_METRIC
}

/// The bounds of the cadence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Seconds: the usage refresh interval.
    pub fastest: f64,
    /// Seconds: the longest a metric goes unread (and the window of its peak).
    pub slowest: f64,
    /// Seconds: how far before its previous read a read reaches back, for datapoints
    /// CloudWatch received late (the usage lookback).
    pub lookback: f64,
}

impl Settings {
    /// The slowest interval, never below the fastest (equal: a fixed cadence).
    fn slowest(&self) -> f64 {
        self.slowest.max(self.fastest)
    }
}

/// What the schedule knows of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricState {
    /// The end of the window of the last read (epoch seconds).
    pub read_at: f64,
    /// The interval the rule chose at the last read.
    pub interval: f64,
    /// The interval after the budget: when the metric is read next.
    pub scheduled: f64,
    /// The utilisation of the latest datapoint, where the metric has a limit.
    pub utilization: Option<f64>,
    /// Whether the rule keeps the metric on the fastest cadence.
    pub hot: bool,
    /// Whether the metric reached the tier and has not gone 5 points below it.
    at_tier: bool,
    /// When a read last saw the metric jump to the tier.
    jumped_at: Option<f64>,
    /// The steepest climb seen, in utilisation (or value, without a limit) per second,
    /// and when it was last renewed.
    rise: f64,
    rise_at: f64,
    /// The datapoints of the last refresh interval read `(timestamp, value)`.
    last_points: VecDeque<(f64, f64)>,
    /// The highest value per refresh-long bucket of datapoint time `(bucket start,
    /// value)`, over the slowest interval, oldest first.
    peaks: VecDeque<(f64, f64)>,
}

impl MetricState {
    /// The highest one-minute value of the datapoints within the slowest interval
    /// before the last read (to the refresh-long bucket).
    pub fn peak(&self) -> Option<f64> {
        self.peaks.iter().map(|&(_, v)| v).reduce(f64::max)
    }

    fn new(end: f64, settings: &Settings) -> MetricState {
        MetricState {
            read_at: end,
            interval: settings.fastest,
            scheduled: settings.fastest,
            utilization: None,
            hot: false,
            at_tier: false,
            jumped_at: None,
            rise: 0.0,
            rise_at: end,
            last_points: VecDeque::new(),
            peaks: VecDeque::new(),
        }
    }

    /// Keeps the highest value of each refresh-long bucket, for the slowest interval.
    fn record_peaks(&mut self, points: &[(f64, f64)], end: f64, settings: &Settings) {
        let width = settings.fastest.max(60.0);
        for &(t, v) in points {
            let bucket = (t / width).floor() * width;
            match self.peaks.iter_mut().rev().find(|(b, _)| *b <= bucket) {
                Some((b, m)) if *b == bucket => *m = m.max(v),
                _ => {
                    let at = self.peaks.iter().position(|&(b, _)| b > bucket).unwrap_or(self.peaks.len());
                    self.peaks.insert(at, (bucket, v));
                }
            }
        }
        while self.peaks.front().is_some_and(|&(b, _)| b + width <= end - settings.slowest()) {
            self.peaks.pop_front();
        }
    }
}

/// The cost of a schedule against its budget.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budgeted {
    /// USD a month at the scheduled intervals.
    pub projected: f64,
    /// USD a month of the hot metrics alone at the fastest cadence.
    pub hot: f64,
}

/// The cadence of every usage metric of one target.
#[derive(Debug, Clone)]
pub struct Schedule<K> {
    pub settings: Settings,
    states: HashMap<K, MetricState>,
}

impl<K> Default for Schedule<K> {
    fn default() -> Schedule<K> {
        Schedule { settings: Settings { fastest: 300.0, slowest: 3600.0, lookback: 900.0 }, states: HashMap::new() }
    }
}

impl<K: Hash + Eq> PartialEq for Schedule<K> {
    fn eq(&self, other: &Schedule<K>) -> bool {
        self.settings == other.settings && self.states == other.states
    }
}

impl<K: Hash + Ord + Clone> Schedule<K> {
    pub fn new(settings: Settings) -> Schedule<K> {
        Schedule { settings, states: HashMap::new() }
    }

    pub fn state(&self, key: &K) -> Option<&MetricState> {
        self.states.get(key)
    }

    /// Whether `key` is read by a refresh at `now`: never read, or its interval has
    /// passed (within half a refresh, as refreshes do not land on the second). With
    /// the slowest interval no longer than the fastest the cadence is fixed: every
    /// metric, every refresh.
    pub fn is_due(&self, key: &K, now: f64) -> bool {
        if self.settings.slowest <= self.settings.fastest {
            return true;
        }
        self.states.get(key).is_none_or(|s| now + self.settings.fastest / 2.0 >= s.read_at + s.scheduled)
    }

    /// The metrics of `keys` a refresh whose window ends at `end` reads, and the start
    /// of the one window they share ([`Schedule::window_start`]).
    pub fn plan<'k>(&self, keys: impl IntoIterator<Item = &'k K>, end: f64) -> (Vec<&'k K>, f64)
    where
        K: 'k,
    {
        let due: Vec<&K> = keys.into_iter().filter(|k| self.is_due(k, end)).collect();
        let start = self.window_start(due.iter().copied(), end);
        (due, start)
    }

    /// The start of one window that covers, for every metric in `due`, the time since
    /// the lookback before its last read (at least the lookback before `end`), never
    /// more than the slowest interval plus the lookback.
    pub fn window_start<'k>(&self, due: impl IntoIterator<Item = &'k K>, end: f64) -> f64
    where
        K: 'k,
    {
        let lookback = self.settings.lookback;
        let earliest = end - self.settings.slowest() - lookback;
        due.into_iter()
            .filter_map(|k| self.states.get(k))
            .map(|s| s.read_at - lookback)
            .fold(end - lookback, f64::min)
            .max(earliest)
    }

    /// Forgets the metrics not in `keep` (their quotas are gone).
    pub fn retain(&mut self, keep: impl Fn(&K) -> bool) {
        self.states.retain(|k, _| keep(k));
    }

    /// Takes in one read of `key` over a window ending at `end`: its datapoints
    /// `(timestamp, value)` in time order, and `scale`, the factor from value to
    /// utilisation (the largest over the metric's quotas), where it has a limit. Of a
    /// window shared with metrics read less often, only the points from the lookback
    /// before this metric's previous read on count.
    pub fn observe(&mut self, key: &K, points: &[(f64, f64)], scale: Option<f64>, end: f64) {
        let settings = self.settings;
        let known = self.states.get(key).map(|s| s.read_at - settings.lookback);
        let state = self.states.entry(key.clone()).or_insert_with(|| MetricState::new(end, &settings));
        let fresh: Vec<(f64, f64)> =
            points.iter().copied().filter(|&(t, _)| known.is_none_or(|from| t >= from)).collect();
        let as_ratio = |v: f64| scale.map_or(v, |s| v * s);

        // The steepest climb: the largest rise within one refresh interval, from the
        // points known before this read through this read's, per second of a refresh.
        let last_known = state.last_points.back().copied();
        let mut series: Vec<(f64, f64)> = state.last_points.iter().copied().collect();
        series.extend(fresh.iter().filter(|&&(t, _)| last_known.is_none_or(|(lt, _)| t > lt)));
        let fresh_rise = steepest_climb(&series, settings.fastest, as_ratio);
        let decayed = state.rise * 0.5f64.powf((end - state.rise_at).max(0.0) / RISE_HALF_LIFE_SECONDS);
        let rise = fresh_rise.max(decayed);
        state.rise = rise;
        state.rise_at = end;

        // Whether a metric without a limit moved: a new point unlike the last one known.
        let changed = last_known.is_some_and(|(lt, lv)| fresh.iter().any(|&(t, v)| t > lt && v != lv));
        state.record_peaks(&fresh, end, &settings);
        state.last_points = series.into_iter().filter(|&(t, _)| t > end - settings.fastest - 60.0).collect();
        let latest = points.last().map(|&(_, v)| v);
        state.utilization = scale.zip(latest).map(|(s, v)| v * s);

        let ladder = state.interval * 2.0;
        let (interval, hot) = match scale {
            Some(s) => {
                if let Some(highest) = fresh.iter().map(|&(_, v)| v * s).reduce(f64::max) {
                    if highest >= LOWEST_TIER {
                        state.at_tier = true;
                    } else if highest < LOWEST_TIER - HYSTERESIS {
                        state.at_tier = false;
                    }
                    if highest >= LOWEST_TIER && fresh_rise * settings.fastest >= JUMP {
                        state.jumped_at = Some(end);
                    }
                }
                let jumped = state.jumped_at.is_some_and(|at| end - at < JUMP_MEMORY_SECONDS);
                match latest {
                    _ if state.at_tier || jumped => (settings.fastest, true),
                    Some(v) => {
                        let headroom = LOWEST_TIER - v * s;
                        let by_rise = if rise > 0.0 { headroom / rise } else { f64::INFINITY };
                        (by_rise.min(ladder), by_rise <= settings.fastest)
                    }
                    None => (ladder, false),
                }
            }
            None if changed => (settings.fastest, false),
            None => (ladder, false),
        };
        // A whole number of refreshes, rounded down: the refresh that reads it.
        let bounded = interval.clamp(settings.fastest, settings.slowest());
        state.interval = ((bounded / settings.fastest).floor() * settings.fastest).max(settings.fastest);
        state.scheduled = state.interval;
        state.hot = hot;
        state.read_at = end;
    }

    /// Fits the schedule into `budget` (USD a month), where there is one: the non-hot
    /// metrics, coldest first (the longest interval by the rule, then the lowest
    /// utilisation; those without one before them), move to the slowest interval until
    /// the projection fits. Hot metrics are never slowed.
    pub fn apply_budget(&mut self, budget: Option<f64>) -> Budgeted {
        let slowest = self.settings.slowest();
        for s in self.states.values_mut() {
            s.scheduled = s.interval;
        }
        // Summed in a fixed order (the map's is not), so that the same schedule always
        // gives the same figure to the last digit.
        let mut costs: Vec<f64> = self.states.values().map(|s| monthly_cost(s.scheduled)).collect();
        costs.sort_by(f64::total_cmp);
        let mut projected: f64 = costs.iter().sum();
        let hot = self.states.values().filter(|s| s.hot).count() as f64 * monthly_cost(self.settings.fastest);
        if let Some(budget) = budget
            && projected > budget
        {
            let mut cold: Vec<(&K, &mut MetricState)> =
                self.states.iter_mut().filter(|(_, s)| !s.hot && s.scheduled < slowest).collect();
            // Coldest first: the longest time to the tier (the rule's own interval), then
            // the lowest utilisation, then the key, so that the same schedule always
            // stretches the same metrics.
            cold.sort_by(|(ka, a), (kb, b)| {
                let key = |s: &MetricState| s.utilization.unwrap_or(f64::NEG_INFINITY);
                b.scheduled.total_cmp(&a.scheduled).then(key(a).total_cmp(&key(b))).then(ka.cmp(kb))
            });
            for (_, s) in cold {
                if projected <= budget {
                    break;
                }
                projected -= monthly_cost(s.scheduled) - monthly_cost(slowest);
                s.scheduled = slowest;
            }
        }
        Budgeted { projected, hot }
    }
}

/// The process's budget, shared among its targets in proportion to their usage metrics.
#[derive(Debug, Default)]
pub struct BudgetBook {
    total: Option<f64>,
    /// Per target (its store slot): its number of usage metrics.
    targets: std::sync::Mutex<HashMap<usize, usize>>,
}

impl BudgetBook {
    pub fn new(total: Option<f64>) -> BudgetBook {
        BudgetBook { total, targets: Default::default() }
    }

    /// Records that `target` reads `metrics` usage metrics and returns its share of the
    /// budget. Until every target has refreshed once, the first ones share it among
    /// fewer.
    pub fn share(&self, target: usize, metrics: usize) -> Option<f64> {
        let total = self.total?;
        let mut targets = self.targets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        targets.insert(target, metrics);
        let all: usize = targets.values().sum();
        Some(if all == 0 { total } else { total * metrics as f64 / all as f64 })
    }

    /// A target that is gone (its account left) no longer takes a share.
    pub fn forget(&self, target: usize) {
        self.targets.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: f64 = 300.0;
    const SLOW: f64 = 3600.0;

    fn schedule() -> Schedule<&'static str> {
        Schedule::new(Settings { fastest: FAST, slowest: SLOW, lookback: 900.0 })
    }

    /// Per-minute points of `values` ending just before `end`.
    fn minutes(end: f64, values: &[f64]) -> Vec<(f64, f64)> {
        let n = values.len() as f64;
        values.iter().enumerate().map(|(i, &v)| (end - (n - i as f64) * 60.0, v)).collect()
    }

    /// Reads `key` every time it is due over `reads` refreshes of a flat value.
    fn run_flat(s: &mut Schedule<&'static str>, key: &'static str, value: f64, scale: Option<f64>, refreshes: u32) {
        for r in 1..=refreshes {
            let end = f64::from(r) * FAST;
            let (due, start) = s.plan([&key], end);
            if !due.is_empty() {
                let n = ((end - start) / 60.0) as usize;
                s.observe(&key, &minutes(end, &vec![value; n]), scale, end);
            }
        }
    }

    #[test]
    fn a_cold_flat_metric_slows_down_twofold_per_read_to_the_slowest_interval() {
        let mut s = schedule();
        let mut intervals = Vec::new();
        for r in 1..=40 {
            let end = f64::from(r) * FAST;
            if s.is_due(&"m", end) {
                s.observe(&"m", &minutes(end, &[2.0; 5]), Some(0.01), end);
                intervals.push(s.state(&"m").expect("known").interval);
            }
        }
        assert_eq!(intervals[..5], [600.0, 1200.0, 2400.0, 3600.0, 3600.0]);
        assert!(!s.state(&"m").expect("known").hot);
    }

    #[test]
    fn a_metric_that_reached_the_lowest_tier_stays_on_the_fastest_cadence_until_five_points_below() {
        let mut s = schedule();
        // Flat at 69 %, never at the tier: it slows down like any flat metric.
        run_flat(&mut s, "below", 69.0, Some(0.01), 30);
        assert_eq!(s.state(&"below").expect("known").interval, SLOW);
        // At 72 %, then 66 %: still hot; at 64 %: no longer.
        let mut end = 0.0;
        for (value, hot) in [(72.0, true), (66.0, true), (66.0, true), (64.0, false)] {
            end += FAST;
            s.observe(&"m", &minutes(end, &[value; 5]), Some(0.01), end);
            let st = s.state(&"m").expect("known");
            assert_eq!(st.hot, hot, "{value}");
            if hot {
                assert_eq!(st.interval, FAST);
            }
        }
        assert!(s.state(&"m").expect("known").interval > FAST);
    }

    #[test]
    fn a_jump_to_the_tier_keeps_the_metric_on_the_fastest_cadence_for_two_weeks() {
        let mut s = schedule();
        s.observe(&"m", &minutes(600.0, &[5.0, 5.0, 92.0, 5.0, 5.0]), Some(0.01), 600.0);
        assert!(s.state(&"m").expect("known").hot);
        // Flat at 5 % for thirteen days: still read at every refresh.
        let mut end = 600.0;
        while end < 13.0 * 86_400.0 {
            end += FAST;
            s.observe(&"m", &minutes(end, &[5.0; 5]), Some(0.01), end);
            assert_eq!(s.state(&"m").expect("known").interval, FAST, "at {end}");
        }
        // Past two weeks it slows down again.
        let later = 600.0 + JUMP_MEMORY_SECONDS + FAST;
        s.observe(&"m", &minutes(later, &[5.0; 5]), Some(0.01), later);
        assert!(!s.state(&"m").expect("known").hot);
    }

    #[test]
    fn with_the_slowest_interval_at_the_fastest_every_metric_is_read_at_every_refresh() {
        let mut s = Schedule::new(Settings { fastest: FAST, slowest: FAST, lookback: 900.0 });
        s.observe(&"m", &minutes(300.0, &[1.0]), Some(0.01), 300.0);
        assert!(s.is_due(&"m", 300.0));
        assert_eq!(s.state(&"m").expect("known").interval, FAST);
    }

    #[test]
    fn a_peak_inside_the_window_makes_the_metric_hot_even_when_the_latest_value_is_low() {
        let mut s = schedule();
        s.observe(&"m", &minutes(600.0, &[5.0, 5.0, 95.0, 5.0, 5.0]), Some(0.01), 600.0);
        let st = s.state(&"m").expect("known");
        assert!(st.hot);
        assert_eq!(st.peak(), Some(95.0));
        assert_eq!(st.utilization, Some(0.05));
    }

    #[test]
    fn a_cold_metric_that_jumps_is_promoted_at_its_next_read_and_slows_down_again_only_step_by_step() {
        let mut s = schedule();
        run_flat(&mut s, "m", 10.0, Some(0.01), 24);
        assert_eq!(s.state(&"m").expect("known").scheduled, SLOW);
        // Read an hour later: it climbed from 10 % to 40 % in one minute and stayed.
        let end = s.state(&"m").expect("known").read_at + SLOW;
        assert!(s.is_due(&"m", end));
        assert!(!s.is_due(&"m", end - FAST));
        let start = s.window_start([&"m"], end);
        let last = s.state(&"m").expect("known").read_at;
        // From the lookback before the last read: 75 minutes.
        assert_eq!(start, last - 900.0);
        let n = ((end - start) / 60.0) as usize;
        assert_eq!(n, 75);
        let mut values = vec![10.0; n - 30];
        values.extend([40.0; 30]);
        s.observe(&"m", &minutes(end, &values), Some(0.01), end);
        // 30 points of headroom at 30 points a minute: hot.
        let st = s.state(&"m").expect("known");
        assert_eq!((st.interval, st.hot), (FAST, true));
    }

    #[test]
    fn the_interval_is_the_time_to_climb_to_the_tier_at_the_steepest_rise_seen() {
        let mut s = schedule();
        // 1 point of the limit per minute, at 40 %: 30 points of headroom is 30 minutes.
        let values: Vec<f64> = (0..15).map(|i| 26.0 + f64::from(i)).collect();
        s.observe(&"m", &minutes(900.0, &values), Some(0.01), 900.0);
        let st = s.state(&"m").expect("known");
        assert_eq!(st.utilization, Some(0.40));
        // The ladder allows 600 s on the first read; the climb allows 1,800 s.
        assert_eq!(st.interval, 600.0);
        s.observe(&"m", &minutes(1500.0, &[40.0; 10]), Some(0.01), 1500.0);
        assert_eq!(s.state(&"m").expect("known").interval, 1200.0);
        s.observe(&"m", &minutes(2700.0, &[40.0; 20]), Some(0.01), 2700.0);
        let st = s.state(&"m").expect("known");
        assert!((st.interval - 1800.0).abs() < 20.0, "{}", st.interval);
        assert!(!st.hot);
    }

    #[test]
    fn the_remembered_rise_halves_every_two_days() {
        let mut s = schedule();
        s.observe(&"m", &minutes(600.0, &[0.0, 60.0]), Some(0.01), 600.0);
        s.observe(&"m", &minutes(1200.0, &[0.0]), Some(0.01), 1200.0);
        let later = 1200.0 + 2.0 * RISE_HALF_LIFE_SECONDS;
        s.observe(&"m", &minutes(later, &[0.0]), Some(0.01), later);
        // 0.6 within a refresh, a quarter of it after four days.
        let rise = s.state(&"m").expect("known").rise;
        assert!((rise / (0.6 / FAST / 4.0) - 1.0).abs() < 0.01, "{rise}");
    }

    #[test]
    fn a_metric_without_a_limit_is_read_fast_when_it_changes_and_slows_when_it_does_not() {
        let mut s = schedule();
        run_flat(&mut s, "m", 3.0, None, 20);
        assert_eq!(s.state(&"m").expect("known").interval, SLOW);
        let end = 30.0 * FAST;
        s.observe(&"m", &minutes(end, &[4.0]), None, end);
        assert_eq!(s.state(&"m").expect("known").interval, FAST);
    }

    #[test]
    fn a_read_reaches_back_the_lookback_before_the_previous_read_and_no_further_than_the_slowest_interval() {
        let mut s = schedule();
        s.observe(&"slow", &[], Some(0.01), 1000.0);
        s.observe(&"fast", &[], Some(0.01), 1000.0);
        // Datapoints CloudWatch received late, up to the lookback before the last read.
        assert_eq!(s.window_start([&"fast"], 1300.0), 100.0);
        assert_eq!(s.window_start([&"slow"], 1000.0 + SLOW), 100.0);
        assert_eq!(s.window_start([&"slow"], 100_000.0), 100_000.0 - SLOW - 900.0);
        assert_eq!(s.window_start([&"never-read"], 5000.0), 4100.0);
    }

    #[test]
    fn of_a_window_shared_with_slower_metrics_only_the_points_since_the_lookback_before_the_last_read_count() {
        let mut s = schedule();
        s.observe(&"m", &minutes(3600.0, &[10.0; 15]), Some(0.01), 3600.0);
        // A 95 % minute from long before the last read, in a window another metric needed.
        let mut values = vec![10.0; 75];
        values[0] = 95.0;
        s.observe(&"m", &minutes(3900.0, &values), Some(0.01), 3900.0);
        let st = s.state(&"m").expect("known");
        assert!(!st.hot);
        assert_eq!(st.peak(), Some(10.0));
    }

    #[test]
    fn an_interval_is_a_whole_number_of_refreshes_rounded_down() {
        let mut s = schedule();
        // 0.6 points a minute up to 39.4 %: 3 points a refresh, 30.6 points of headroom,
        // a little over 3,060 s to the tier.
        let values: Vec<f64> = (0..15).map(|i| 31.0 + 0.6 * f64::from(i)).collect();
        s.observe(&"m", &minutes(900.0, &values), Some(0.01), 900.0);
        for (end, n, ladder) in [(1500.0, 10, 1200.0), (2700.0, 20, 2400.0)] {
            s.observe(&"m", &minutes(end, &vec![39.4; n]), Some(0.01), end);
            assert_eq!(s.state(&"m").expect("known").interval, ladder);
        }
        s.observe(&"m", &minutes(5100.0, &[39.4; 40]), Some(0.01), 5100.0);
        assert_eq!(s.state(&"m").expect("known").interval, 3000.0);
    }

    #[test]
    fn a_quota_that_jumped_stays_hot_through_reads_without_datapoints() {
        let mut s = schedule();
        s.observe(&"m", &minutes(600.0, &[5.0, 95.0]), Some(0.01), 600.0);
        for end in [900.0, 1200.0, 1500.0] {
            s.observe(&"m", &[], Some(0.01), end);
            let st = s.state(&"m").expect("known");
            assert_eq!((st.interval, st.hot), (FAST, true), "at {end}");
        }
    }

    #[test]
    fn the_peak_covers_the_reads_of_the_slowest_interval() {
        let mut s = schedule();
        s.observe(&"m", &minutes(300.0, &[50.0]), Some(0.01), 300.0);
        s.observe(&"m", &minutes(600.0, &[20.0]), Some(0.01), 600.0);
        assert_eq!(s.state(&"m").expect("known").peak(), Some(50.0));
        s.observe(&"m", &minutes(3900.0, &[10.0]), Some(0.01), 3900.0);
        assert_eq!(s.state(&"m").expect("known").peak(), Some(20.0));
        s.observe(&"m", &minutes(4200.0, &[10.0]), Some(0.01), 4200.0);
        assert_eq!(s.state(&"m").expect("known").peak(), Some(10.0));
    }

    #[test]
    fn the_budget_stretches_the_coldest_metrics_first_and_never_a_hot_one() {
        let mut s: Schedule<u32> = Schedule::new(Settings { fastest: FAST, slowest: SLOW, lookback: 900.0 });
        // Three cold metrics at 2 %, 20 % and 40 % read every 600 s, one hot at 90 %.
        for (k, v) in [(1, 2.0), (2, 20.0), (3, 40.0), (4, 90.0)] {
            s.observe(&k, &minutes(300.0, &[v]), Some(0.01), 300.0);
        }
        let free = s.apply_budget(None);
        let full = 3.0 * monthly_cost(600.0) + monthly_cost(FAST);
        assert!((free.projected - full).abs() < 1e-12);
        let at_slowest = |s: &Schedule<u32>| (1..=4).filter(|k| s.state(k).expect("known").scheduled == SLOW).count();
        assert_eq!(at_slowest(&s), 0);
        // Room for one cold metric at 600 s: the two coldest go to the slowest interval.
        let budget = monthly_cost(FAST) + monthly_cost(600.0) + 2.0 * monthly_cost(SLOW);
        let b = s.apply_budget(Some(budget + 1e-9));
        assert_eq!(at_slowest(&s), 2);
        assert_eq!(s.state(&1).expect("known").scheduled, SLOW);
        assert_eq!(s.state(&2).expect("known").scheduled, SLOW);
        assert_eq!(s.state(&3).expect("known").scheduled, 600.0);
        assert!(b.projected <= budget + 1e-9);
        // Below the hot metric's own cost: everything cold is stretched, the hot one is
        // not, and the projection says the budget cannot hold.
        let b = s.apply_budget(Some(monthly_cost(FAST) / 2.0));
        assert_eq!(s.state(&4).expect("known").scheduled, FAST);
        assert_eq!(b.hot, monthly_cost(FAST));
        assert!(b.projected > monthly_cost(FAST) / 2.0);
    }

    #[test]
    fn the_budget_is_shared_by_the_number_of_metrics_and_a_target_that_is_gone_drops_out() {
        let book = BudgetBook::new(Some(30.0));
        assert_eq!(book.share(1, 100), Some(30.0));
        assert_eq!(book.share(2, 200), Some(20.0));
        assert_eq!(book.share(1, 100), Some(10.0));
        book.forget(2);
        assert_eq!(book.share(1, 100), Some(30.0));
        assert_eq!(BudgetBook::new(None).share(1, 100), None);
    }

    #[test]
    fn the_monthly_cost_of_one_metric_every_five_minutes_is_eight_point_six_four_cents() {
        // 8,640 reads a month at USD 0.01 per 1,000.
        assert!((monthly_cost(300.0) - 0.0864).abs() < 1e-12);
    }
}
