//! `cargo bench --bench cadence` (part of `make bench`): 30 simulated days of an estate
//! of usage metrics with mixed behaviour, replayed twice through the exporter's
//! scheduler (`aws_quota_exporter::cadence`, the code the usage collector runs): once
//! with fixed 5-minute polling (the slowest interval at the fastest, every metric at
//! every refresh) and once adaptive (slowest 1 h), then adaptive under a budget.
//!
//! The estate (a fixed seed, every value a function of the minute, as CloudWatch's
//! one-minute `Maximum` would give it): flat cold quotas that step now and then, slow
//! growth, daily cycles with noise, and sudden spikes to above 90 % lasting minutes.
//! Each minute's datapoint arrives in CloudWatch 0 to 3 minutes after the minute ends
//! (late data, drawn per metric and minute). Each read gets the one-minute points of
//! its window that have arrived, exactly as the collector asks CloudWatch for them (from
//! the lookback before the metric's last read, ending at the last complete minute).
//!
//! Printed per run: metrics requested and USD a month, and for every upward crossing
//! of the 70/80/90 % tiers in the truth (re-armed 5 points below, as the alerts' own
//! hysteresis) the delay from the crossing minute's arrival in CloudWatch until a read
//! whose window holds it (its value then shows in `aws_quota_usage_peak`, and in
//! `aws_quota_usage` when it is the latest minute): the share within one usage
//! refresh, the 99th percentile and the worst, and how many no read ever covered
//! (missed).
//! Targets (issue 17): cost ratio ≤ 0.2, 99 % of crossings within one refresh, none
//! missed. `BENCH_METRICS=N` changes the estate's size, `BENCH_LOOKBACK=seconds` the lookback.

use aws_quota_exporter::cadence::{Schedule, Settings, USD_PER_METRIC};

const MINUTE: f64 = 60.0;
const DAY_MINUTES: i64 = 1440;
const DAYS: i64 = 30;
const FASTEST: f64 = 300.0;
const SLOWEST: f64 = 3600.0;
/// The usage lookback (`BENCH_LOOKBACK=seconds` changes it, for an experiment).
const LOOKBACK: f64 = 900.0;
const TIERS: [f64; 3] = [70.0, 80.0, 90.0];
const REARM: f64 = 5.0;
/// Every quota's limit: values are percent of it.
const LIMIT: f64 = 100.0;

/// A deterministic hash of a seed and a number to `[0, 1)`.
fn unit(seed: u64, n: i64) -> f64 {
    let mut z = seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone)]
enum Kind {
    /// A level that steps by a few units every few days.
    Flat { level: f64, every_days: i64 },
    /// A resource count growing by `per_day`.
    Growth { start: f64, per_day: f64 },
    /// A daily cycle over a base, with per-minute noise.
    Daily { base: f64, amplitude: f64, phase: i64, noise: f64 },
    /// A flat base with spikes above 90 % at random minutes.
    Spikes { base: f64, spikes: Vec<(i64, i64, f64)> },
}

impl Kind {
    const NAMES: [&'static str; 4] = ["flat", "growing", "daily cycles", "spiking"];

    fn index(&self) -> usize {
        match self {
            Kind::Flat { .. } => 0,
            Kind::Growth { .. } => 1,
            Kind::Daily { .. } => 2,
            Kind::Spikes { .. } => 3,
        }
    }
}

#[derive(Debug, Clone)]
struct Metric {
    seed: u64,
    kind: Kind,
}

impl Metric {
    /// The one-minute value (percent of the limit) of minute `m`.
    fn value(&self, m: i64) -> f64 {
        let v = match &self.kind {
            Kind::Flat { level, every_days } => {
                let epoch = m.div_euclid(every_days * DAY_MINUTES);
                (level + (unit(self.seed, epoch) * 6.0).floor() - 3.0).max(0.0)
            }
            Kind::Growth { start, per_day } => (start + per_day * m as f64 / DAY_MINUTES as f64).floor(),
            Kind::Daily { base, amplitude, phase, noise } => {
                let x = 2.0 * std::f64::consts::PI * (m - phase) as f64 / DAY_MINUTES as f64;
                let wave = amplitude * x.sin().max(0.0);
                (base + wave + (unit(self.seed, m) * 2.0 - 1.0) * noise).round()
            }
            Kind::Spikes { base, spikes } => {
                match spikes.iter().find(|&&(at, len, _)| m >= at && m < at + len) {
                    // A one-minute ramp, then the plateau.
                    Some(&(at, _, top)) if m == at => (base + top) / 2.0,
                    Some(&(_, _, top)) => top,
                    None => *base,
                }
            }
        };
        v.clamp(0.0, LIMIT)
    }
}

fn estate(n: usize) -> Vec<Metric> {
    (0..n)
        .map(|i| {
            let seed = 0xC0FFEE ^ (i as u64).wrapping_mul(0x1000_0000_01B3);
            let r = |k: i64| unit(seed, -1 - k);
            let share = i as f64 / n as f64;
            let kind = if share < 0.55 {
                Kind::Flat { level: (r(0) * 45.0).floor(), every_days: 3 + (r(1) * 12.0) as i64 }
            } else if share < 0.70 {
                Kind::Growth { start: 10.0 + r(0) * 45.0, per_day: 0.3 + r(1) * 2.2 }
            } else if share < 0.90 {
                Kind::Daily {
                    base: 20.0 + r(0) * 35.0,
                    amplitude: 5.0 + r(1) * 35.0,
                    phase: (r(2) * DAY_MINUTES as f64) as i64,
                    noise: 1.5,
                }
            } else {
                let count = 1 + (r(0) * 4.0) as i64;
                let spikes = (0..count)
                    .map(|k| {
                        let at = (r(1 + 3 * k) * ((DAYS - 1) * DAY_MINUTES) as f64) as i64;
                        let len = 3 + (r(2 + 3 * k) * 57.0) as i64;
                        (at, len, 91.0 + (r(3 + 3 * k) * 8.0).floor())
                    })
                    .collect();
                Kind::Spikes { base: 3.0 + (r(0) * 27.0).floor(), spikes }
            };
            Metric { seed, kind }
        })
        .collect()
}

/// When minute `m`'s datapoint is in CloudWatch: after the minute ends, 0 to 3 minutes
/// later (late-arriving data), a fixed draw per metric and minute.
fn visible_at(metric: &Metric, m: i64) -> f64 {
    let lag = (unit(metric.seed ^ 0x1A7E, m) * 4.0).floor() * MINUTE;
    (m + 1) as f64 * MINUTE + lag
}

/// The upward tier crossings of a metric in the truth, by minute, and whether each is
/// on the metric's first excursion to the lowest tier less the hysteresis (65 %): a
/// jump no history announces.
fn crossings(metric: &Metric, minutes: i64) -> Vec<(i64, bool)> {
    let mut out = Vec::new();
    let mut armed = [true; 3];
    let mut first_excursion_ended = false;
    let mut above = false;
    for m in 0..minutes {
        let v = metric.value(m);
        if above && v < TIERS[0] - REARM {
            first_excursion_ended = true;
        }
        above |= v >= TIERS[0] - REARM;
        for (k, tier) in TIERS.iter().enumerate() {
            if armed[k] && v >= *tier {
                out.push((m, !first_excursion_ended));
                armed[k] = false;
            } else if v < tier - REARM {
                armed[k] = true;
            }
        }
    }
    out
}

struct Outcome {
    requested: u64,
    delays: Vec<f64>,
    /// Per kind of metric (flat, growing, daily, spiking): crossings and those seen late.
    by_kind: [(usize, usize); 4],
    requested_by_kind: [u64; 4],
    /// Crossings seen late on a metric's first excursion to 65 %.
    late_on_first_excursion: usize,
    missed: usize,
    budget_short_refreshes: usize,
    final_projection: f64,
}

fn replay(metrics: &[Metric], truth: &[Vec<(i64, bool)>], settings: Settings, budget: Option<f64>) -> Outcome {
    let minutes = DAYS * DAY_MINUTES;
    let mut schedule: Schedule<usize> = Schedule::new(settings);
    let mut out = Outcome {
        requested: 0,
        delays: Vec::new(),
        by_kind: [(0, 0); 4],
        requested_by_kind: [0; 4],
        late_on_first_excursion: 0,
        missed: 0,
        budget_short_refreshes: 0,
        final_projection: 0.0,
    };
    let keys: Vec<usize> = (0..metrics.len()).collect();
    let refreshes = (minutes as f64 * MINUTE / FASTEST) as i64;
    let mut pending: Vec<Vec<(i64, bool)>> = truth.to_vec();
    for r in 1..=refreshes {
        let end = r as f64 * FASTEST;
        let (due, start) = schedule.plan(&keys, end);
        for &&i in &due {
            let first = (start / MINUTE).ceil() as i64;
            let last = (end / MINUTE) as i64;
            // What CloudWatch holds at `end`: the minutes of the window that have arrived.
            let points: Vec<(f64, f64)> = (first..last)
                .filter(|&m| visible_at(&metrics[i], m) <= end)
                .map(|m| (m as f64 * MINUTE, metrics[i].value(m)))
                .collect();
            // The part of the window this metric takes (see `Schedule::observe`).
            let own_start = schedule.state(&i).map_or(start, |s| s.read_at - schedule.settings.lookback);
            schedule.observe(&i, &points, Some(1.0 / LIMIT), end);
            out.requested += 1;
            out.requested_by_kind[metrics[i].kind.index()] += 1;
            // A crossing minute that has arrived and lies in the metric's part of the
            // window is seen now; one that lies before it was never held by any read
            // (an earlier read would have seen it) and is missed; one that has not
            // arrived waits.
            let kind = &mut out.by_kind[metrics[i].kind.index()];
            pending[i].retain(|&(m, first)| {
                let at = m as f64 * MINUTE;
                let arrived = visible_at(&metrics[i], m);
                if at >= end || arrived > end && at >= own_start {
                    return true;
                }
                kind.0 += 1;
                let delay = end - arrived;
                if at < own_start || delay > FASTEST {
                    kind.1 += 1;
                    out.late_on_first_excursion += usize::from(first);
                }
                if at < own_start {
                    out.missed += 1;
                } else {
                    out.delays.push(delay);
                }
                false
            });
        }
        let b = schedule.apply_budget(budget);
        if budget.is_some_and(|b2| b.projected > b2 + 1e-9) {
            out.budget_short_refreshes += 1;
        }
        out.final_projection = b.projected;
    }
    // Crossings no read has seen by the end: counted with the delay until the end, a
    // lower bound.
    let last = refreshes as f64 * FASTEST;
    for (i, crossings) in pending.iter().enumerate() {
        for &(m, first) in crossings {
            let delay = last - visible_at(&metrics[i], m);
            let kind = &mut out.by_kind[metrics[i].kind.index()];
            kind.0 += 1;
            if delay > FASTEST {
                kind.1 += 1;
                out.late_on_first_excursion += usize::from(first);
            }
            out.delays.push(delay.max(0.0));
        }
    }
    out
}

fn report(name: &str, o: &Outcome) {
    let mut delays = o.delays.clone();
    delays.sort_by(f64::total_cmp);
    let total = delays.len() + o.missed;
    let within = delays.iter().filter(|&&d| d <= FASTEST).count();
    let p99 = delays.get(((delays.len() as f64 * 0.99).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0);
    let worst = delays.last().copied().unwrap_or(0.0);
    let usd = o.requested as f64 * USD_PER_METRIC * 30.0 / DAYS as f64;
    println!(
        "{name:<26} {:>12} {:>10.2} {:>10} {:>9.2} % {:>8.0} s {:>8.0} s {:>7}",
        o.requested,
        usd,
        total,
        100.0 * within as f64 / total.max(1) as f64,
        p99,
        worst,
        o.missed
    );
    let kinds: Vec<String> =
        Kind::NAMES.iter().zip(o.by_kind).map(|(name, (all, late))| format!("{name} {late} of {all}")).collect();
    println!(
        "{:<26} seen later than one refresh: {}; of them on a metric's first excursion to 65 %: {}",
        "",
        kinds.join(", "),
        o.late_on_first_excursion
    );
    let requested: Vec<String> =
        Kind::NAMES.iter().zip(o.requested_by_kind).map(|(name, n)| format!("{name} {n}")).collect();
    println!("{:<26} metrics requested: {}", "", requested.join(", "));
}

fn main() {
    let n: usize = std::env::var("BENCH_METRICS").ok().and_then(|v| v.parse().ok()).unwrap_or(700);
    let lookback: f64 = std::env::var("BENCH_LOOKBACK").ok().and_then(|v| v.parse().ok()).unwrap_or(LOOKBACK);
    let metrics = estate(n);
    let minutes = DAYS * DAY_MINUTES;
    let truth: Vec<Vec<(i64, bool)>> = metrics.iter().map(|m| crossings(m, minutes)).collect();
    let kinds = |f: fn(&Kind) -> bool| metrics.iter().filter(|m| f(&m.kind)).count();
    let with_crossings = truth.iter().filter(|t| !t.is_empty()).count();
    println!(
        "{DAYS}-day replay: {n} usage metrics ({} flat, {} growing, {} daily cycles, {} spiking; {with_crossings} cross a tier), \
         refresh {}s, slowest {}s, lookback {}s, datapoints 0 to 3 minutes late",
        kinds(|k| matches!(k, Kind::Flat { .. })),
        kinds(|k| matches!(k, Kind::Growth { .. })),
        kinds(|k| matches!(k, Kind::Daily { .. })),
        kinds(|k| matches!(k, Kind::Spikes { .. })),
        FASTEST,
        SLOWEST,
        lookback
    );
    println!(
        "{:<26} {:>12} {:>10} {:>10} {:>11} {:>10} {:>10} {:>7}",
        "polling", "requested", "USD/month", "crossings", "within 5m", "p99 delay", "max delay", "missed"
    );
    let started = std::time::Instant::now();
    let fixed = replay(&metrics, &truth, Settings { fastest: FASTEST, slowest: FASTEST, lookback }, None);
    report("fixed every 5 min", &fixed);
    let adaptive = replay(&metrics, &truth, Settings { fastest: FASTEST, slowest: SLOWEST, lookback }, None);
    report("adaptive (slowest 1 h)", &adaptive);
    let budget = fixed.requested as f64 * USD_PER_METRIC * 0.15;
    let budgeted = replay(&metrics, &truth, Settings { fastest: FASTEST, slowest: SLOWEST, lookback }, Some(budget));
    report(&format!("adaptive, budget ${budget:.2}"), &budgeted);
    let ratio = adaptive.requested as f64 / fixed.requested as f64;
    let within = |o: &Outcome| {
        o.delays.iter().filter(|&&d| d <= FASTEST).count() as f64 / (o.delays.len() + o.missed).max(1) as f64
    };
    println!(
        "cost ratio adaptive/fixed: {ratio:.3} (target <= 0.2: {}); crossings within one refresh: {:.2} % \
         (target >= 99 %: {}); missed: {} (target 0: {})",
        verdict(ratio <= 0.2),
        100.0 * within(&adaptive),
        verdict(within(&adaptive) >= 0.99),
        adaptive.missed,
        verdict(adaptive.missed == 0),
    );
    let late = |o: &Outcome| o.by_kind.iter().map(|&(_, l)| l).sum::<usize>();
    let all = adaptive.delays.len() + adaptive.missed;
    println!(
        "of the {} crossings seen late, {} are on a metric's first excursion to 65 % (a flat quota's first jump: no \
         read but the next one can see it, at any cadence slower than fixed); without them, {:.2} % within one refresh",
        late(&adaptive),
        adaptive.late_on_first_excursion,
        100.0 * (all - late(&adaptive)) as f64 / (all - adaptive.late_on_first_excursion).max(1) as f64
    );
    println!(
        "budget ${budget:.2}/month: projected ${:.2} at the end, over budget in {} of {} refreshes (the hot set at the \
         fastest cadence costs more than the budget then; the alert AwsQuotaExporterCloudWatchBudgetTooSmall fires)",
        budgeted.final_projection,
        budgeted.budget_short_refreshes,
        minutes * 60 / FASTEST as i64
    );
    println!("replayed in {:.1} s", started.elapsed().as_secs_f64());
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
