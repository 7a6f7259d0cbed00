//! Forecasts against series whose trend is known: exhaustion dates, recommended limits,
//! noisy, flat, falling and too-short histories, and the cost of the daily history.

use simaws::estate::{Account, Estate, Quota, Region, Service, Shape, UsageMetric};

use crate::helpers::{Exposition, T0, TestApp, spawn_app_with};

const KEY: &str = "AKIAFORECASTTEST0001";
const DAY: f64 = 86_400.0;

fn metric(resource: &str) -> UsageMetric {
    UsageMetric::resource_count("Fargate", resource, "Standard/OnDemand")
}

fn quota(code: &str, limit: f64, resource: &str) -> Quota {
    Quota::new(code, &format!("Forecast test {code}"), limit).adjustable().usage(metric(resource))
}

fn line(at_now: f64, per_day: f64) -> Shape {
    Shape::Linear { anchor: T0, at_anchor: at_now, per_day }
}

/// One service whose quotas each have a usage series of a known shape, 60 days long
/// unless said otherwise.
fn estate() -> Estate {
    let start = T0 - 60.0 * DAY;
    let series = |resource: &str, shape: Shape| metric(resource).series(shape).starting_at(start);
    Estate {
        accounts: vec![Account::new(
            "333344445555",
            KEY,
            vec![Region {
                name: "us-east-1".into(),
                services: vec![Service {
                    code: "fargate".into(),
                    name: "AWS Fargate".into(),
                    quotas: vec![
                        quota("L-00000001", 1000.0, "rising"),
                        quota("L-00000002", 1000.0, "near"),
                        quota("L-00000003", 1000.0, "noisy"),
                        quota("L-00000004", 1000.0, "flat"),
                        quota("L-00000005", 1000.0, "falling"),
                        quota("L-00000006", 1000.0, "short"),
                        Quota::new("L-00000007", "Not adjustable, near its limit", 1000.0).usage(metric("fixed")),
                    ],
                }],
                metrics: vec![
                    // 400 now, +5 a day: reaches 1000 in 120 days.
                    series("rising", line(400.0, 5.0)),
                    // 650 now, +10 a day: 955 in 30 days, grew 80 % over the month.
                    series("near", line(650.0, 10.0)),
                    // 300 now, +5 a day, ±30 from day to day.
                    series(
                        "noisy",
                        Shape::Noisy { anchor: T0, at_anchor: 300.0, per_day: 5.0, amplitude: 30.0, seed: 11 },
                    ),
                    series("flat", Shape::Constant(500.0)),
                    series("falling", line(600.0, -3.0)),
                    // Only four days of data.
                    metric("short").series(line(600.0, 20.0)).starting_at(T0 - 4.0 * DAY),
                    series("fixed", line(900.0, 5.0)),
                ],
                ..Region::default()
            }],
        )],
        organization: None,
    }
}

async fn app() -> TestApp {
    spawn_app_with(estate(), KEY, |c| {
        c.regions = vec!["us-east-1".into()];
        c.bedrock = false;
    })
    .await
}

fn of(m: &Exposition, name: &str, code: &str) -> Option<f64> {
    m.value(name, &[("quota_code", code)])
}

fn horizon(m: &Exposition, code: &str, h: &str) -> Option<f64> {
    m.value("aws_quota_usage_forecast", &[("quota_code", code), ("horizon", h)])
}

#[tokio::test]
async fn a_known_slope_gives_the_exhaustion_date_within_one_percent() {
    let app = app().await;
    let m = app.refresh().await;
    let truth = T0 + (1000.0 - 400.0) / 5.0 * DAY;
    let at = of(&m, "aws_quota_forecast_exhaustion_timestamp_seconds", "L-00000001").expect("rising to its limit");
    let error = (at - truth).abs() / (truth - T0);
    assert!(error < 0.01, "exhaustion {at} vs {truth}: {:.2} %", error * 100.0);
    // Within 1 %: the current day, still partial, counts as one of the days and its peak so
    // far sits a little under the line.
    let slope = of(&m, "aws_quota_usage_trend_per_day", "L-00000001").expect("a trend");
    assert!((slope - 5.0).abs() < 0.05, "{slope}");
    assert!(of(&m, "aws_quota_forecast_fit_r2", "L-00000001").expect("a fit") > 0.999);
    // 400 now: about 435 in 7 days and 550 in 30, give or take half a day of slope.
    let in_7 = horizon(&m, "L-00000001", "7d").expect("7d");
    let in_30 = horizon(&m, "L-00000001", "30d").expect("30d");
    assert!((in_7 - 435.0).abs() <= 5.0, "{in_7}");
    assert!((in_30 - 550.0).abs() <= 5.0, "{in_30}");
    assert_eq!(of(&m, "aws_quota_recommended_limit", "L-00000001"), None, "550 is well under 80 % of 1000");
}

#[tokio::test]
async fn a_quota_forecast_past_eighty_percent_gets_a_recommended_limit() {
    let app = app().await;
    let m = app.refresh().await;
    // About 955 in 30 days, more than 800. It grew by far more than half over the
    // month (from about 360), so 955 x 1.5 = 1432, rounded up to 1500.
    assert_eq!(of(&m, "aws_quota_recommended_limit", "L-00000002"), Some(1500.0));
    // The same growth on a quota that cannot be raised: no recommendation.
    assert_eq!(of(&m, "aws_quota_recommended_limit", "L-00000007"), None);
    assert!(of(&m, "aws_quota_forecast_exhaustion_timestamp_seconds", "L-00000007").is_some());
}

#[tokio::test]
async fn a_noisy_series_is_forecast_within_a_stated_tolerance() {
    let app = app().await;
    let m = app.refresh().await;
    // Daily noise of ±30 around +5 a day: the slope within 20 %, the date within 10 %.
    let slope = of(&m, "aws_quota_usage_trend_per_day", "L-00000003").expect("a trend");
    assert!((slope - 5.0).abs() < 1.0, "slope {slope}");
    let truth = T0 + (1000.0 - 300.0) / 5.0 * DAY;
    let at = of(&m, "aws_quota_forecast_exhaustion_timestamp_seconds", "L-00000003").expect("rising");
    assert!((at - truth).abs() / (truth - T0) < 0.10, "{at} vs {truth}");
    let r2 = of(&m, "aws_quota_forecast_fit_r2", "L-00000003").expect("a fit");
    assert!(r2 < 0.99 && r2 > 0.3, "noise shows in the fit: {r2}");
}

#[tokio::test]
async fn flat_and_falling_series_never_run_out() {
    let app = app().await;
    let m = app.refresh().await;
    assert_eq!(of(&m, "aws_quota_usage_trend_per_day", "L-00000004"), Some(0.0));
    assert_eq!(horizon(&m, "L-00000004", "30d"), Some(500.0));
    assert_eq!(of(&m, "aws_quota_forecast_exhaustion_timestamp_seconds", "L-00000004"), None);
    let falling = of(&m, "aws_quota_usage_trend_per_day", "L-00000005").expect("a trend");
    assert!((falling + 3.0).abs() < 0.03, "{falling}");
    assert_eq!(of(&m, "aws_quota_forecast_exhaustion_timestamp_seconds", "L-00000005"), None);
}

#[tokio::test]
async fn fewer_than_seven_days_give_no_forecast() {
    let app = app().await;
    let m = app.refresh().await;
    assert!(of(&m, "aws_quota_usage", "L-00000006").is_some(), "it has usage");
    for family in [
        "aws_quota_usage_trend_per_day",
        "aws_quota_forecast_fit_r2",
        "aws_quota_forecast_exhaustion_timestamp_seconds",
    ] {
        assert_eq!(of(&m, family, "L-00000006"), None, "{family}");
    }
    assert_eq!(m.count("aws_quota_usage_forecast", &[("quota_code", "L-00000006")]), 0);
}

#[tokio::test]
async fn the_history_costs_one_call_per_500_series_once_a_day() {
    let size = simaws::generate::Size::new(&["us-east-1"], 6, 300, 0.4);
    // 6 x 120 = 720 usage series: two calls for the usage, two for the history.
    let app = spawn_app_with(simaws::generate::estate(&size), &simaws::generate::access_key_id(0), |c| {
        c.regions = vec!["us-east-1".into()];
        c.bedrock = false;
    })
    .await;
    let series = 720usize;
    let gmd = |app: &TestApp| app.sim.calls().count("GetMetricData");

    app.handle.refresh_all().await;
    assert_eq!(gmd(&app), 2 * series.div_ceil(500), "usage and history");
    assert_eq!(app.sim.calls().metric_queries(), 2 * series);

    for hours in [1.0, 5.0, 12.0] {
        app.sim.reset_calls();
        app.sim.clock().set(T0 + hours * 3600.0);
        app.handle.refresh_all().await;
        assert_eq!(gmd(&app), series.div_ceil(500), "usage only, {hours} h after the history");
    }
    app.sim.reset_calls();
    app.sim.clock().set(T0 + DAY);
    app.handle.refresh_all().await;
    assert_eq!(gmd(&app), 2 * series.div_ceil(500), "a day later the history is read again");
    app.sim.reset_calls();
    app.handle.refresh_usage().await;
    assert_eq!(gmd(&app), series.div_ceil(500), "a usage refresh never reads the history");
}

#[tokio::test]
async fn usage_refreshes_extend_the_current_day() {
    let app = app().await;
    app.handle.refresh_all().await;
    // A jump in usage today, after the daily history was read: the fit must see it.
    app.sim.with_estate(|e| {
        let region = e.accounts[0].region_mut("us-east-1").expect("region");
        let s = region.metrics.iter_mut().find(|m| m.dimensions["Resource"] == "flat").expect("series");
        s.shape = Shape::Constant(900.0);
    });
    app.sim.clock().advance(600.0);
    app.handle.refresh_usage().await;
    let m = app.metrics().await;
    let slope = of(&m, "aws_quota_usage_trend_per_day", "L-00000004").expect("a trend");
    assert!(slope > 0.0, "today's peak of 900 tilts the flat line: {slope}");
}

#[tokio::test]
async fn a_bedrock_models_tokens_per_minute_are_forecast_against_its_quota() {
    use crate::estate::{HAIKU, US_SONNET};
    let app = crate::helpers::spawn_app().await;
    // The cross-region Sonnet profile: 1.5 M estimated tokens a minute now, +10,000 a day,
    // against its 2 M quota: 50 days to go.
    app.sim.with_estate(|e| {
        let region = e.account_mut(crate::estate::ACCOUNT).and_then(|a| a.region_mut("us-east-1")).expect("region");
        for s in region.metrics.iter_mut().filter(|m| m.namespace == "AWS/Bedrock") {
            s.starts_at = Some(T0 - 40.0 * DAY);
            if s.name == "EstimatedTPMQuotaUsage" && s.dimensions["ModelId"] == US_SONNET {
                s.shape = line(1_500_000.0, 10_000.0);
            }
        }
    });
    let m = app.refresh().await;
    let labels = |model| [("model_id", model), ("kind", "tokens_per_minute")];
    let slope = m.value("aws_bedrock_quota_usage_trend_per_day", &labels(US_SONNET)).expect("a trend");
    assert!((slope - 10_000.0).abs() < 100.0, "{slope}");
    let at = m.value("aws_bedrock_quota_forecast_exhaustion_timestamp_seconds", &labels(US_SONNET)).expect("rising");
    let truth = T0 + 50.0 * DAY;
    assert!((at - truth).abs() / (truth - T0) < 0.01, "{at} vs {truth}");
    let sample = &m.find("aws_bedrock_quota_usage_trend_per_day", &labels(US_SONNET))[0];
    assert_eq!(sample.labels["quota_code"], "L-F4DDD3EB");
    assert_eq!(sample.labels["scope"], "cross_region");
    // Haiku's flat traffic: a flat forecast at its daily average.
    assert_eq!(m.value("aws_bedrock_quota_usage_trend_per_day", &labels(HAIKU)), Some(0.0));
    assert_eq!(
        m.value("aws_bedrock_quota_usage_forecast", &[("model_id", HAIKU), ("horizon", "30d")]),
        Some(600_000.0)
    );
    assert_eq!(m.value("aws_bedrock_quota_forecast_exhaustion_timestamp_seconds", &labels(HAIKU)), None);
}
