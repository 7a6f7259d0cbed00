//! Forecasts: an ordinary least-squares line through daily usage, and what it says.
//!
//! Pure: the history comes from `crate::collector::history`. A fit needs at least
//! [`MIN_POINTS`] days. From the line come the usage at 7 and 30 days, the slope per
//! day, the time at which the line reaches the limit, the coefficient of determination
//! (so alerts can ignore poor fits), and the limit to ask AWS for.

/// Fewer days than this give no forecast.
pub const MIN_POINTS: usize = 7;

/// The horizons published, in days, with their `horizon` label values.
pub const HORIZONS: [(f64, &str); 2] = [(7.0, "7d"), (30.0, "30d")];

/// Exhaustion further away than this is not published.
pub const EXHAUSTION_HORIZON_DAYS: f64 = 365.0;

const DAY: f64 = 86_400.0;

/// A straight line through `(day, value)` points, days counted since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub slope_per_day: f64,
    pub intercept: f64,
    /// Coefficient of determination, 0 to 1.
    pub r2: f64,
    pub points: usize,
    pub first_day: f64,
    pub last_day: f64,
}

impl Fit {
    /// The fitted value on a day (fractional days since the epoch).
    pub fn at(&self, day: f64) -> f64 {
        self.intercept + self.slope_per_day * day
    }
}

/// Fits a line with `linreg`; `None` with fewer than [`MIN_POINTS`] points or a
/// degenerate input (all points on one day).
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    if points.len() < MIN_POINTS {
        return None;
    }
    let (slope, intercept): (f64, f64) = linreg::linear_regression_of(points).ok()?;
    if !slope.is_finite() || !intercept.is_finite() {
        return None;
    }
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let total: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let residual: f64 = points.iter().map(|p| (p.1 - (intercept + slope * p.0)).powi(2)).sum();
    // A flat series is fitted perfectly by a flat line.
    let r2 = if total == 0.0 { 1.0 } else { (1.0 - residual / total).clamp(0.0, 1.0) };
    let first_day = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let last_day = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    Some(Fit { slope_per_day: slope, intercept, r2, points: points.len(), first_day, last_day })
}

/// What a fit says about one quota.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub slope_per_day: f64,
    pub r2: f64,
    /// The fitted usage at each of [`HORIZONS`], never below 0.
    pub at: [f64; 2],
    /// Unix time at which the line reaches the limit (now, if it already has).
    pub exhaustion: Option<f64>,
    /// The value to request from AWS, where one is warranted.
    pub recommended_limit: Option<f64>,
}

/// The forecast of a series of `(day, value)` points against a limit, at `now` (epoch seconds).
pub fn forecast(points: &[(f64, f64)], now: f64, limit: Option<f64>, adjustable: bool) -> Option<Forecast> {
    let f = fit(points)?;
    let today = now / DAY;
    let at = HORIZONS.map(|(days, _)| f.at(today + days).max(0.0));
    Some(Forecast {
        slope_per_day: f.slope_per_day,
        r2: f.r2,
        at,
        exhaustion: limit.and_then(|l| exhaustion(&f, now, l)),
        recommended_limit: limit.and_then(|l| recommended_limit(&f, now, l, adjustable)),
    })
}

/// When a rising line reaches `limit`: epoch seconds, no earlier than `now`, and only
/// within [`EXHAUSTION_HORIZON_DAYS`].
pub fn exhaustion(f: &Fit, now: f64, limit: f64) -> Option<f64> {
    if f.slope_per_day <= 0.0 || limit <= 0.0 {
        return None;
    }
    let day = (limit - f.intercept) / f.slope_per_day;
    let at = (day * DAY).max(now);
    (at <= now + EXHAUSTION_HORIZON_DAYS * DAY).then_some(at)
}

/// The limit to request: the 30-day forecast times 1.3, or 1.5 where the fitted usage grew
/// by more than half over the history, rounded up to two significant figures and never
/// below the current limit. Only for adjustable quotas whose 30-day forecast exceeds 80 %
/// of the limit.
pub fn recommended_limit(f: &Fit, now: f64, limit: f64, adjustable: bool) -> Option<f64> {
    if !adjustable || limit <= 0.0 {
        return None;
    }
    let in_30_days = f.at(now / DAY + 30.0).max(0.0);
    if in_30_days <= 0.8 * limit {
        return None;
    }
    let (start, end) = (f.at(f.first_day), f.at(f.last_day));
    let fast = start <= 0.0 || (end - start) / start > 0.5;
    let factor = if fast { 1.5 } else { 1.3 };
    Some(round_up_to_step(in_30_days * factor).max(limit))
}

/// Rounds up to two significant figures (whole numbers below 100): 832.1 → 840,
/// 1,234 → 1,300, 2,512,000 → 2,600,000, 5.2 → 6.
pub fn round_up_to_step(v: f64) -> f64 {
    if v <= 0.0 {
        return 0.0;
    }
    let step = 10f64.powf(v.log10().floor() - 1.0).max(1.0);
    // Guard against float noise turning an exact multiple into the next step.
    let steps = (v / step - 1e-9).ceil();
    steps * step
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_790_000_000.0;

    /// One point a day for `days` days up to yesterday, `value(i)` on day `i`.
    fn daily(days: usize, value: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
        let today = (NOW / DAY).floor();
        (0..days).map(|i| (today - days as f64 + i as f64 + 0.5, value(i))).collect()
    }

    #[test]
    fn a_perfect_line_is_recovered_with_an_r2_of_one() {
        let f = fit(&daily(30, |i| 100.0 + 10.0 * i as f64)).expect("30 points");
        assert!((f.slope_per_day - 10.0).abs() < 1e-9);
        assert!((f.r2 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fewer_than_seven_points_give_no_forecast() {
        assert!(fit(&daily(6, |i| i as f64)).is_none());
        assert!(forecast(&daily(6, |i| i as f64), NOW, Some(10.0), true).is_none());
        assert!(fit(&daily(7, |i| i as f64)).is_some());
    }

    #[test]
    fn a_known_slope_reaches_the_limit_when_arithmetic_says() {
        // 100 on the first day, +10 a day: 1000 is reached 90 days after the first point.
        let points = daily(30, |i| 100.0 + 10.0 * i as f64);
        let first = points[0].0;
        let f = forecast(&points, NOW, Some(1000.0), true).expect("a forecast");
        let truth = (first + 90.0) * DAY;
        let at = f.exhaustion.expect("rising towards the limit");
        assert!(((at - NOW) - (truth - NOW)).abs() / (truth - NOW) < 0.01, "{at} vs {truth}");
    }

    #[test]
    fn flat_and_falling_series_never_run_out() {
        let flat = forecast(&daily(30, |_| 500.0), NOW, Some(1000.0), true).expect("a forecast");
        assert_eq!(flat.exhaustion, None);
        assert_eq!(flat.slope_per_day, 0.0);
        let falling = forecast(&daily(30, |i| 800.0 - 5.0 * i as f64), NOW, Some(1000.0), true).expect("a forecast");
        assert_eq!(falling.exhaustion, None);
        assert!(falling.slope_per_day < 0.0);
    }

    #[test]
    fn a_forecast_is_never_below_zero() {
        let f = forecast(&daily(30, |i| 300.0 - 10.0 * i as f64), NOW, Some(1000.0), true).expect("a forecast");
        assert_eq!(f.at, [0.0, 0.0]);
    }

    #[test]
    fn an_exhaustion_more_than_a_year_away_is_not_published() {
        let f = forecast(&daily(30, |i| 100.0 + 0.1 * i as f64), NOW, Some(1000.0), true).expect("a forecast");
        assert_eq!(f.exhaustion, None);
    }

    #[test]
    fn a_line_already_past_the_limit_is_exhausted_now() {
        let f = forecast(&daily(30, |i| 900.0 + 10.0 * i as f64), NOW, Some(1000.0), true).expect("a forecast");
        assert_eq!(f.exhaustion, Some(NOW));
    }

    #[test]
    fn the_recommended_limit_follows_the_rule() {
        // Slow growth: 700 → 729 over 30 days (4 %), about 760 in 30 days, so x1.3.
        let slow = daily(30, |i| 700.0 + i as f64);
        let f = fit(&slow).expect("fit");
        let in_30 = f.at(NOW / DAY + 30.0);
        assert!(in_30 > 0.8 * 900.0 && in_30 < 0.8 * 1000.0);
        assert_eq!(recommended_limit(&f, NOW, 900.0, true), Some(round_up_to_step(in_30 * 1.3)));
        assert_eq!(recommended_limit(&f, NOW, 900.0, true), Some(990.0));
        assert_eq!(recommended_limit(&f, NOW, 1000.0, true), None, "760 is under 80 % of 1000");
        // Fast growth: 100 → 390 over 30 days, so x1.5.
        let fast = daily(30, |i| 100.0 + 10.0 * i as f64);
        let f = fit(&fast).expect("fit");
        let in_30 = f.at(NOW / DAY + 30.0);
        assert!(in_30 > 0.8 * 700.0);
        assert_eq!(recommended_limit(&f, NOW, 700.0, true), Some(round_up_to_step(in_30 * 1.5)));
        // Not adjustable, or comfortably under 80 %: nothing to recommend.
        assert_eq!(recommended_limit(&f, NOW, 700.0, false), None);
        assert_eq!(recommended_limit(&f, NOW, 10_000.0, true), None);
    }

    #[test]
    fn steps_are_two_significant_figures() {
        assert_eq!(round_up_to_step(832.1), 840.0);
        assert_eq!(round_up_to_step(1234.0), 1300.0);
        assert_eq!(round_up_to_step(1300.0), 1300.0);
        assert_eq!(round_up_to_step(2_512_000.0), 2_600_000.0);
        assert_eq!(round_up_to_step(5.2), 6.0);
        assert_eq!(round_up_to_step(0.0), 0.0);
    }

    #[test]
    fn noise_lowers_r2_but_keeps_the_slope_close() {
        // ±15 % noise around +5 a day from 200.
        let noisy = daily(30, |i| {
            let noise = [0.15, -0.1, 0.05, -0.15, 0.1, 0.0, -0.05][i % 7];
            (200.0 + 5.0 * i as f64) * (1.0 + noise)
        });
        let f = fit(&noisy).expect("fit");
        assert!((f.slope_per_day - 5.0).abs() < 1.5, "{}", f.slope_per_day);
        assert!(f.r2 > 0.5 && f.r2 < 0.99, "{}", f.r2);
    }
}
