//! Usage and utilisation, pinned to the simulated CloudWatch data they come from.

use simaws::estate::Shape;

use crate::estate::{KMS_SAMPLES, LAMBDA_SAMPLES, SPOT_VCPUS, ec2_standard};
use crate::helpers::{WINDOW_END, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_maximum_quota_reports_the_peak_of_the_last_complete_minute() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let peak = LAMBDA_SAMPLES.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(peak, 810.0);
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "lambda", "L-B99A9384"), Some(810.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "lambda", "L-B99A9384"), Some(0.81));
}

#[tokio::test]
async fn a_per_second_rate_quota_converts_the_per_minute_sum_to_per_second() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let per_minute: f64 = KMS_SAMPLES.iter().sum();
    assert_eq!(per_minute, 600_000.0);
    // 600,000 calls in the minute is 10,000 a second; the limit is 12,500 a second.
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "kms", "L-6E3AF000"), Some(10_000.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "kms", "L-6E3AF000"), Some(0.8));
}

#[tokio::test]
async fn a_resource_count_is_read_with_maximum_even_where_aws_recommends_sum() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    // Six samples of 128 vCPUs a minute: a Sum would say 768, three times the limit of 256.
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ec2", "L-34B43A08"), Some(SPOT_VCPUS));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ec2", "L-34B43A08"), Some(0.5));
}

#[tokio::test]
async fn utilization_is_usage_over_the_applied_limit() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ec2", "L-1216C47A"), Some(544.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ec2", "L-1216C47A"), Some(0.85));
    assert_eq!(m.quota("aws_quota_usage", "eu-west-1", "ec2", "L-1216C47A"), Some(100.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "eu-west-1", "ec2", "L-1216C47A"), Some(0.3125));
}

#[tokio::test]
async fn a_quota_without_usage_metric_has_a_limit_but_no_usage() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-0263D0A3"), Some(15.0));
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ec2", "L-0263D0A3"), None);
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ec2", "L-0263D0A3"), None);
    // Its info series says where usage would come from: nowhere.
    let info = |code| {
        m.find("aws_quota_info", &[("cloud_region", "us-east-1"), ("quota_code", code)])[0].labels["usage_source"]
            .clone()
    };
    assert_eq!(info("L-0263D0A3"), "none");
    assert_eq!(info("L-1216C47A"), "cloudwatch");
}

#[tokio::test]
async fn a_limit_of_zero_has_usage_but_no_utilization() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-417A185B"), Some(0.0));
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ec2", "L-417A185B"), Some(8.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ec2", "L-417A185B"), None);
}

#[tokio::test]
async fn a_usage_metric_without_datapoints_gives_no_usage() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-7295265B"), Some(96.0));
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ec2", "L-7295265B"), None);
}

#[tokio::test]
async fn a_usage_metric_shared_by_two_quotas_is_queried_once_and_used_by_both() {
    // Bedrock and forecasts off, so that every GetMetricData query is a usage refresh's.
    let app = spawn_app_with(crate::estate::test_estate(), crate::estate::ACCESS_KEY, |c| {
        c.bedrock = false;
        c.forecast = false;
    })
    .await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "fargate", "L-3032A538"), Some(300.0));
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ecs", "L-21C621EB"), Some(300.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ecs", "L-21C621EB"), Some(0.6));
    // us-east-1 quotas point at 7 distinct metrics (8 quotas with usage); eu-west-1 at 1.
    let gmd: Vec<_> = app.sim.calls().0.into_iter().filter(|c| c.operation == "GetMetricData").collect();
    let queries = |region: &str| gmd.iter().filter(|c| c.region == region).map(|c| c.metric_queries).sum::<usize>();
    assert_eq!(queries("us-east-1"), 7);
    assert_eq!(queries("eu-west-1"), 1);
    assert_eq!(m.value("aws_quota_exporter_usage_metrics", &[("cloud_region", "us-east-1")]), Some(7.0));
}

#[tokio::test]
async fn usage_is_the_newest_datapoint_that_has_arrived_in_the_window() {
    let app = spawn_app().await;
    // One value per minute over the 15-minute window: 1, 2, ... 15 (the newest complete minute).
    let start = WINDOW_END - 900.0;
    let set_series = |lag: u64| {
        app.sim.with_estate(|e| {
            let region = e.account_mut("123456789012").and_then(|a| a.region_mut("us-east-1")).expect("in the estate");
            let series = ec2_standard().series(Shape::Minutes { start, values: (1..=15).map(f64::from).collect() });
            region.metrics.retain(|m| m.dimensions != ec2_standard().dimensions || m.namespace != "AWS/Usage");
            region.metrics.push(series.lag(lag));
        })
    };
    set_series(0);
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ec2", "L-1216C47A"), Some(15.0));

    // CloudWatch data that arrives two minutes late: the newest minute that has arrived is 14.
    set_series(120);
    app.handle.refresh_usage().await;
    assert_eq!(app.metrics().await.quota("aws_quota_usage", "us-east-1", "ec2", "L-1216C47A"), Some(14.0));
}

#[tokio::test]
async fn usage_follows_the_data_on_each_usage_refresh() {
    let app = spawn_app().await;
    app.refresh().await;
    app.sim.with_estate(|e| {
        let region = e.account_mut("123456789012").and_then(|a| a.region_mut("us-east-1")).expect("in the estate");
        let series = region.metrics.iter_mut().find(|m| m.name == "ConcurrentExecutions").expect("lambda series");
        series.shape = Shape::Constant(990.0);
    });
    app.sim.clock().advance(300.0);
    app.handle.refresh_usage().await;
    let m = app.metrics().await;
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "lambda", "L-B99A9384"), Some(990.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "lambda", "L-B99A9384"), Some(0.99));
}
