//! The adaptive cadence of usage reads against the simulated CloudWatch: a cold metric
//! is read less often, its slow read covers the time since the previous one (a spike in
//! between is seen, later, not lost), and the budget stretches the coldest first.

use std::time::Duration;

use simaws::estate::{Shape, UsageMetric};

use crate::estate::{ACCESS_KEY, ACCOUNT, ec2_standard, test_estate};
use crate::helpers::{T0, TestApp, WINDOW_END, spawn_app_with};

const FASTEST: f64 = 300.0;
const SLOWEST: f64 = 3600.0;
/// USD a month for one metric read every `interval` seconds.
fn monthly(interval: f64) -> f64 {
    30.0 * 86_400.0 / interval * 0.01 / 1000.0
}

fn set_shape(app: &TestApp, region: &str, metric: &UsageMetric, shape: Shape) {
    app.sim.with_estate(|e| {
        let r = e.account_mut(ACCOUNT).and_then(|a| a.region_mut(region)).expect("the region");
        r.metrics.retain(|m| {
            (&m.namespace, &m.name, &m.dimensions) != (&metric.namespace, &metric.name, &metric.dimensions)
        });
        r.metrics.push(metric.series(shape));
    });
}

async fn adaptive(budget: Option<f64>) -> TestApp {
    spawn_app_with(test_estate(), ACCESS_KEY, |c| {
        c.usage_slowest_interval = Duration::from_secs(SLOWEST as u64);
        c.cloudwatch_budget = budget;
    })
    .await
}

#[tokio::test]
async fn a_cold_metric_waits_for_its_interval_and_its_slow_read_sees_the_spike_it_slept_through() {
    let app = adaptive(None).await;
    // EC2 standard vCPUs: 544 of 640 in us-east-1 (85 %, hot), 100 of 320 in eu-west-1
    // (31 %, flat): flat at 100 for an hour, then a spike to 304 (95 %) in the minute
    // that starts 6 minutes after the first read's window, then 100 again.
    let start = WINDOW_END - 1800.0;
    let mut minutes = vec![100.0; 60];
    minutes[(WINDOW_END + 360.0 - start) as usize / 60] = 304.0;
    set_shape(&app, "eu-west-1", &ec2_standard(), Shape::Minutes { start, values: minutes });

    let m = app.refresh().await;
    let interval = |m: &crate::helpers::Exposition, region| {
        m.quota("aws_quota_usage_read_interval_seconds", region, "ec2", "L-1216C47A")
    };
    assert_eq!(interval(&m, "us-east-1"), Some(FASTEST), "85 % is hot");
    assert_eq!(interval(&m, "eu-west-1"), Some(2.0 * FASTEST), "a cold metric's first step");
    assert_eq!(m.quota("aws_quota_usage", "eu-west-1", "ec2", "L-1216C47A"), Some(100.0));
    let first_stamp = m.quota("aws_quota_usage_timestamp_seconds", "eu-west-1", "ec2", "L-1216C47A");
    assert_eq!(first_stamp, Some(WINDOW_END - 60.0), "the last complete minute");

    // Five minutes later the hot metric is read again and the cold one is not due.
    app.sim.clock().set(T0 + FASTEST);
    app.sim.reset_calls();
    app.handle.refresh_usage().await;
    let m = app.metrics().await;
    assert_eq!(
        m.quota("aws_quota_usage_timestamp_seconds", "us-east-1", "ec2", "L-1216C47A"),
        Some(WINDOW_END + 240.0)
    );
    assert_eq!(m.quota("aws_quota_usage_timestamp_seconds", "eu-west-1", "ec2", "L-1216C47A"), first_stamp);
    let read =
        |region| m.value("aws_quota_exporter_usage_metrics", &[("cloud_region", region)]).expect("known") as usize;
    let known = |region| m.count("aws_quota_usage_read_interval_seconds", &[("cloud_region", region)]);
    assert_eq!(read("eu-west-1"), 0, "nothing in eu-west-1 is due");
    assert!(read("us-east-1") > 0 && read("us-east-1") < known("us-east-1"), "only the hot ones in us-east-1");

    // Ten minutes after the first read it is due; its window reaches back to the first
    // read, so the spike that came and went in between is its peak.
    app.sim.clock().set(T0 + 2.0 * FASTEST);
    app.handle.refresh_usage().await;
    let m = app.metrics().await;
    assert_eq!(m.quota("aws_quota_usage", "eu-west-1", "ec2", "L-1216C47A"), Some(100.0), "the latest minute");
    assert_eq!(m.quota("aws_quota_usage_peak", "eu-west-1", "ec2", "L-1216C47A"), Some(304.0));
    assert_eq!(
        m.quota("aws_quota_usage_timestamp_seconds", "eu-west-1", "ec2", "L-1216C47A"),
        Some(WINDOW_END + 540.0)
    );
    assert_eq!(interval(&m, "eu-west-1"), Some(FASTEST), "promoted at once");
}

#[tokio::test]
async fn the_budget_moves_the_coldest_metrics_to_the_slowest_interval_and_never_a_hot_one() {
    // Far too small a budget: everything cold goes to an hour.
    let app = adaptive(Some(0.01)).await;
    // The first refresh reads every usage metric: how many each region has.
    let first = app.refresh().await;
    // Each target takes its share as it refreshes: after every target's first refresh
    // the shares are in proportion and add up to the budget.
    app.sim.clock().set(T0 + FASTEST);
    let m = app.refresh().await;
    assert_eq!(m.value("aws_quota_exporter_cloudwatch_budget_usd", &[]), Some(0.01));
    let mut share_sum = 0.0;
    for region in ["us-east-1", "eu-west-1"] {
        let place = [("cloud_region", region)];
        let metrics = first.value("aws_quota_exporter_usage_metrics", &place).expect("known");
        let hot = m.value("aws_quota_exporter_cloudwatch_hot_monthly_cost_usd", &place).expect("known");
        let projected = m.value("aws_quota_exporter_cloudwatch_projected_monthly_cost_usd", &place).expect("known");
        let hot_metrics = (hot / monthly(FASTEST)).round();
        assert!(hot_metrics >= 1.0 || region == "eu-west-1", "{region} has a hot quota");
        let expected = hot + (metrics - hot_metrics) * monthly(SLOWEST);
        assert!((projected - expected).abs() < 1e-9, "{region}: {projected} against {expected}");
        share_sum += m.value("aws_quota_exporter_cloudwatch_budget_share_usd", &place).expect("known");
        // Per quota: only the fastest or the slowest interval.
        for s in m.find("aws_quota_usage_read_interval_seconds", &place) {
            assert!(s.value == FASTEST || s.value == SLOWEST, "{s:?}");
        }
    }
    assert!((share_sum - 0.01).abs() < 1e-12, "the shares add up to the budget: {share_sum}");
    assert_eq!(m.quota("aws_quota_usage_read_interval_seconds", "us-east-1", "ec2", "L-1216C47A"), Some(FASTEST));
    assert_eq!(m.quota("aws_quota_usage_read_interval_seconds", "eu-west-1", "ec2", "L-1216C47A"), Some(SLOWEST));

    // Without a budget the same estate costs more: the cold metrics are on their first step.
    let free = adaptive(None).await;
    let m2 = free.refresh().await;
    let place = [("cloud_region", "eu-west-1")];
    let capped = m.value("aws_quota_exporter_cloudwatch_projected_monthly_cost_usd", &place).expect("known");
    let uncapped = m2.value("aws_quota_exporter_cloudwatch_projected_monthly_cost_usd", &place).expect("known");
    assert!(uncapped > capped, "{uncapped} > {capped}");
    assert_eq!(m2.value("aws_quota_exporter_cloudwatch_budget_usd", &[]), None);
    assert_eq!(m2.value("aws_quota_exporter_cloudwatch_budget_share_usd", &place), None);
}

#[tokio::test]
async fn a_quota_whose_overridden_tier_it_has_reached_is_read_at_every_refresh() {
    // Spot vCPUs in us-east-1: 128 of 256, 50 %, below the shipped 70 %.
    let plain = adaptive(None).await;
    let m = plain.refresh().await;
    let interval = |m: &crate::helpers::Exposition| {
        m.quota("aws_quota_usage_read_interval_seconds", "us-east-1", "ec2", "L-34B43A08")
    };
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ec2", "L-34B43A08"), Some(0.5));
    assert_eq!(interval(&m), Some(2.0 * FASTEST), "cold at the shipped tiers");

    // The overrides file puts its info tier at 45 %: it is at its tier, hence hot.
    let file = crate::helpers::TempFile::new("overrides:\n  - service: ec2\n    quota: L-34B43A08\n    info: 45\n");
    let path = std::path::PathBuf::from(file.path());
    let tuned = spawn_app_with(test_estate(), ACCESS_KEY, move |c| {
        c.usage_slowest_interval = Duration::from_secs(SLOWEST as u64);
        c.alert_overrides = Some(path);
    })
    .await;
    let m = tuned.refresh().await;
    assert_eq!(interval(&m), Some(FASTEST));
    // The other quotas keep the shipped tiers.
    assert_eq!(m.quota("aws_quota_usage_read_interval_seconds", "eu-west-1", "ec2", "L-1216C47A"), Some(2.0 * FASTEST));
}
