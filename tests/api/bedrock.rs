//! Bedrock: inventory, counters that count every minute exactly once, gauges, and each
//! quota utilisation pinned to the simulated `AWS/Bedrock` data.

use simaws::Fault;

use crate::estate::{
    ACCESS_KEY, BEDROCK_START, COMMAND_R_PLUS, HAIKU, SONNET, US_SONNET, haiku_invocations, test_estate,
};
use crate::helpers::{Exposition, T0, TestApp, spawn_app, spawn_app_with};

/// The exporter's default lag and lookback.
const LAG: f64 = 300.0;
const LOOKBACK: f64 = 900.0;

/// The first minute not yet countable at `now`.
fn countable_end(now: f64) -> f64 {
    ((now - LAG) / 60.0).floor() * 60.0
}

/// Haiku's invocations over the minutes `[from, to)`, from the series' own definition.
fn haiku_sum(from: f64, to: f64) -> f64 {
    let mut total = 0.0;
    let mut t = from;
    while t < to {
        total += haiku_invocations(((t - BEDROCK_START) / 60.0) as usize);
        t += 60.0;
    }
    total
}

fn model(m: &Exposition, name: &str, model_id: &str) -> Option<f64> {
    m.value(name, &[("cloud_region", "us-east-1"), ("model_id", model_id)])
}

fn utilization(m: &Exposition, model_id: &str, kind: &str) -> Option<(f64, String, String)> {
    let found = m.find("aws_bedrock_quota_utilization_ratio", &[("model_id", model_id), ("kind", kind)]);
    assert!(found.len() <= 1);
    found.first().map(|s| (s.value, s.labels["quota_code"].clone(), s.labels["scope"].clone()))
}

/// Only the Bedrock quotas are listed, so every GetMetricData call is Bedrock's.
async fn bedrock_only() -> TestApp {
    spawn_app_with(test_estate(), ACCESS_KEY, |c| {
        c.regions = vec!["us-east-1".into()];
        c.services = Some(vec!["bedrock".into()]);
    })
    .await
}

#[tokio::test]
async fn the_inventory_lists_models_profiles_and_provisioned_throughput() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let info = m.find("aws_bedrock_model_info", &[("cloud_region", "us-east-1"), ("model_id", HAIKU)]);
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].labels["provider"], "Anthropic");
    assert_eq!(info[0].labels["model_name"], "Claude 3 Haiku");
    assert_eq!(m.count("aws_bedrock_model_info", &[("cloud_region", "us-east-1")]), 3);

    let profile = m.find("aws_bedrock_inference_profile_info", &[("inference_profile_id", US_SONNET)]);
    assert_eq!(profile.len(), 1);
    assert_eq!(profile[0].labels["type"], "SYSTEM_DEFINED");
    assert_eq!(profile[0].labels["models"], SONNET, "one model, though it runs in two regions");

    assert_eq!(
        m.value(
            "aws_bedrock_provisioned_model_units",
            &[("provisioned_model_name", "nightly-batch"), ("status", "InService")]
        ),
        Some(3.0)
    );
    assert_eq!(m.count("aws_bedrock_model_info", &[("cloud_region", "eu-west-1")]), 0, "no Bedrock there");
}

#[tokio::test]
async fn counters_count_every_minute_once_across_refreshes_late_data_and_a_failure() {
    let app = bedrock_only().await;
    app.handle.refresh_all().await;
    let first_start = countable_end(T0) - LOOKBACK;

    // Refreshes at uneven intervals, shorter and longer than a minute; one of them fails.
    for (step, fail) in [(37.0, false), (200.0, false), (61.0, true), (333.0, false), (29.0, false), (600.0, false)] {
        app.sim.clock().advance(step);
        if fail {
            // Every attempt of every round of the refresh's GetMetricData calls fails.
            app.sim.inject(Fault::server_error().operation("GetMetricData"));
        }
        app.handle.refresh_usage().await;
        app.sim.clear_faults();
        let m = app.metrics().await;
        let source = [("cloud_region", "us-east-1"), ("source", "bedrock_runtime")];
        assert_eq!(m.value("aws_quota_exporter_refresh_success", &source), Some(if fail { 0.0 } else { 1.0 }));
    }
    let now = app.sim.clock().now();
    let m = app.metrics().await;
    let expected = haiku_sum(first_start, countable_end(now));
    assert_eq!(model(&m, "aws_bedrock_invocations_total", HAIKU), Some(expected));
    // Constant series: one value per counted minute.
    let minutes = (countable_end(now) - first_start) / 60.0;
    assert_eq!(model(&m, "aws_bedrock_input_tokens_total", HAIKU), Some(3000.0 * minutes));
    assert_eq!(model(&m, "aws_bedrock_invocation_client_errors_total", HAIKU), Some(minutes));
    assert_eq!(model(&m, "aws_bedrock_invocations_total", US_SONNET), Some(40.0 * minutes));
}

#[tokio::test]
async fn throttles_are_counted_from_their_episodes() {
    let app = bedrock_only().await;
    let m = app.refresh().await;
    // Seven throttles a minute for the first two minutes of every ten.
    let (start, end) = (countable_end(T0) - LOOKBACK, countable_end(T0));
    let mut expected = 0.0;
    let mut t = start;
    while t < end {
        if t.rem_euclid(600.0) < 120.0 {
            expected += 7.0;
        }
        t += 60.0;
    }
    assert!(expected > 0.0);
    assert_eq!(model(&m, "aws_bedrock_invocation_throttles_total", HAIKU), Some(expected));
    assert_eq!(model(&m, "aws_bedrock_invocation_throttles_total", US_SONNET), Some(0.0), "no throttle datapoints");
}

#[tokio::test]
async fn gauges_show_the_latest_complete_minute() {
    let app = bedrock_only().await;
    let m = app.refresh().await;
    assert_eq!(model(&m, "aws_bedrock_invocation_latency_seconds", HAIKU), Some(0.85));
    assert_eq!(model(&m, "aws_bedrock_estimated_tpm_quota_usage", HAIKU), Some(600_000.0));
    assert_eq!(model(&m, "aws_bedrock_estimated_tpm_quota_usage", US_SONNET), Some(1_500_000.0));
    assert_eq!(model(&m, "aws_bedrock_invocation_latency_seconds", US_SONNET), None, "no latency data for it");
}

#[tokio::test]
async fn each_utilisation_formula_is_pinned_to_the_data() {
    let app = bedrock_only().await;
    let m = app.refresh().await;

    // Tokens per minute: the peak EstimatedTPMQuotaUsage minute over the quota.
    assert_eq!(utilization(&m, HAIKU, "tokens_per_minute"), Some((0.6, "L-DCADBC78".into(), "on_demand".into())));
    assert_eq!(
        utilization(&m, US_SONNET, "tokens_per_minute"),
        Some((0.75, "L-F4DDD3EB".into(), "cross_region".into()))
    );

    // Requests per minute: the peak Invocations minute of the lookback over the quota.
    let end = countable_end(T0);
    let mut peak: f64 = 0.0;
    let mut t = end - LOOKBACK;
    while t < end {
        peak = peak.max(haiku_invocations(((t - BEDROCK_START) / 60.0) as usize));
        t += 60.0;
    }
    assert_eq!(peak, 112.0);
    assert_eq!(
        utilization(&m, HAIKU, "requests_per_minute"),
        Some((112.0 / 500.0, "L-2DC80978".into(), "on_demand".into()))
    );

    // Tokens per day: input and output tokens of the last 24 hours over the quota,
    // which counts double for cross-region calls where the quota's name says so.
    assert_eq!(
        utilization(&m, HAIKU, "tokens_per_day"),
        Some((3500.0 * 1440.0 / 1_440_000_000.0, "L-1BC6E08C".into(), "on_demand".into()))
    );
    assert_eq!(
        utilization(&m, US_SONNET, "tokens_per_day"),
        Some((12_000.0 * 1440.0 / 2_000_000_000.0, "L-381AD9EE".into(), "cross_region".into()))
    );
    assert_eq!(utilization(&m, US_SONNET, "requests_per_minute"), None, "no RPM quota for it");
}

#[tokio::test]
async fn a_model_with_traffic_and_no_matching_quota_is_visible_as_unmatched() {
    let app = bedrock_only().await;
    let m = app.refresh().await;
    assert_eq!(model(&m, "aws_bedrock_model_quota_matched", COMMAND_R_PLUS), Some(0.0));
    assert_eq!(model(&m, "aws_bedrock_model_quota_matched", HAIKU), Some(1.0));
    assert_eq!(model(&m, "aws_bedrock_invocations_total", COMMAND_R_PLUS), Some(5.0 * LOOKBACK / 60.0));
    assert_eq!(m.count("aws_bedrock_quota_utilization_ratio", &[("model_id", COMMAND_R_PLUS)]), 0);
}

#[tokio::test]
async fn only_models_with_data_produce_runtime_series() {
    let app = bedrock_only().await;
    let m = app.refresh().await;
    let with_counters: Vec<String> =
        m.find("aws_bedrock_invocations_total", &[]).iter().map(|s| s.labels["model_id"].clone()).collect();
    assert_eq!(with_counters, [HAIKU, COMMAND_R_PLUS, US_SONNET], "SONNET itself had no on-demand traffic");
}

#[tokio::test]
async fn bedrock_costs_one_listing_and_two_getmetricdata_calls_per_usage_refresh() {
    let app = bedrock_only().await;
    app.handle.refresh_all().await;
    app.sim.reset_calls();
    app.sim.clock().advance(300.0);
    app.handle.refresh_usage().await;
    let calls = app.sim.calls();
    assert_eq!(calls.count("ListMetrics"), 1);
    // Three models with traffic: 8 metrics each for the minutes, 2 each for the day.
    assert_eq!(calls.count("GetMetricData"), 2);
    assert_eq!(calls.metric_queries(), 3 * 8 + 3 * 2);
    assert_eq!(calls.total(), 3, "no inventory listing on a usage refresh");
}

#[tokio::test]
async fn a_denied_bedrock_api_fails_the_bedrock_sources_and_nothing_else() {
    let app = spawn_app().await;
    app.sim.inject(Fault::access_denied().operation("ListFoundationModels"));
    app.sim.inject(Fault::access_denied().operation("ListMetrics"));
    let m = app.refresh().await;
    let status =
        |source| m.value("aws_quota_exporter_refresh_success", &[("cloud_region", "us-east-1"), ("source", source)]);
    assert_eq!(status("bedrock_inventory"), Some(0.0));
    assert_eq!(status("bedrock_runtime"), Some(0.0));
    assert_eq!(status("service_quotas"), Some(1.0));
    assert_eq!(status("usage"), Some(1.0));
    assert_eq!(m.count("aws_bedrock_model_info", &[]), 0);
    assert!(m.count("aws_bedrock_inference_profile_info", &[]) > 0, "the other lists still succeed");
}

/// The test estate with one more Bedrock quota in us-east-1.
fn with_quota(quota: simaws::estate::Quota) -> simaws::estate::Estate {
    let mut e = test_estate();
    let east = e.accounts[0].regions.iter_mut().find(|r| r.name == "us-east-1").expect("us-east-1");
    east.services.iter_mut().find(|s| s.code == "bedrock").expect("bedrock").quotas.push(quota);
    e
}

#[tokio::test]
async fn a_quota_whose_usage_metric_names_the_model_id_wins_over_a_name_match() {
    // A newer quota for the us profile only, linked by AWS through its usage metric.
    let newer = simaws::estate::Quota::new(
        "L-5E8B2C4A",
        "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1 (us profile)",
        3_000_000.0,
    )
    .usage(simaws::estate::UsageMetric::new(
        "AWS/Bedrock",
        "EstimatedTPMQuotaUsage",
        &[("ModelId", US_SONNET)],
        "Sum",
    ));
    let app = spawn_app_with(with_quota(newer), ACCESS_KEY, |c| {
        c.regions = vec!["us-east-1".into()];
        c.services = Some(vec!["bedrock".into()]);
    })
    .await;
    let m = app.refresh().await;
    // 1.5 M estimated tokens a minute against the linked 3 M, not the name-matched 2 M.
    assert_eq!(
        utilization(&m, US_SONNET, "tokens_per_minute"),
        Some((0.5, "L-5E8B2C4A".into(), "cross_region".into()))
    );
    let matched = m.find("aws_bedrock_model_quota_matched", &[("model_id", US_SONNET)]);
    assert_eq!((matched[0].value, matched[0].labels["method"].as_str()), (1.0, "usage_metric"));
    let haiku = m.find("aws_bedrock_model_quota_matched", &[("model_id", HAIKU)]);
    assert_eq!((haiku[0].value, haiku[0].labels["method"].as_str()), (1.0, "name"));
    let none = m.find("aws_bedrock_model_quota_matched", &[("model_id", COMMAND_R_PLUS)]);
    assert_eq!((none[0].value, none[0].labels["method"].as_str()), (0.0, "none"));
    // The quota's own usage, read through its usage metric, agrees with the model's.
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "bedrock", "L-5E8B2C4A"), Some(1_500_000.0));
    // The report says how each model id was linked, and what was left in the last minute.
    let rows = aws_quota_exporter::report::rows(&app.handle.store.snapshot(), "bedrock");
    let row = |code: &str| rows.iter().find(|r| r.quota_code == code).expect(code).clone();
    let linked = row("L-5E8B2C4A").models;
    assert_eq!((linked[0].model_id.as_str(), linked[0].method), (US_SONNET, "usage_metric"));
    assert_eq!(linked[0].left_per_minute, Some(3_000_000.0 - 1_500_000.0));
    assert!(row("L-F4DDD3EB").models.is_empty(), "the name match no longer governs the us profile");
    let haiku_rpm = row("L-2DC80978").models;
    assert_eq!((haiku_rpm[0].model_id.as_str(), haiku_rpm[0].method), (HAIKU, "name"));
    let last = countable_end(T0) - 60.0;
    let invocations = haiku_invocations(((last - BEDROCK_START) / 60.0) as usize);
    assert_eq!(haiku_rpm[0].left_per_minute, Some(500.0 - invocations), "500 a minute less the last minute's");
    app.stop().await;
}

#[tokio::test]
async fn a_region_whose_model_list_is_denied_still_matches_every_model_with_traffic() {
    use crate::estate::bedrock_series;
    use simaws::estate::{Account, Estate, Quota, Region, Service, Shape};
    let eu_sonnet = SONNET.replacen("anthropic.", "eu.anthropic.", 1);
    let mut east = Region { name: "us-east-1".into(), ..Region::default() };
    crate::estate::bedrock(&mut east);
    let mut west = Region { name: "eu-west-1".into(), bedrock: east.bedrock.clone(), ..Region::default() };
    west.services.push(Service {
        code: "bedrock".into(),
        name: "Amazon Bedrock".into(),
        quotas: vec![
            Quota::new(
                "L-DCADBC78",
                "On-demand InvokeModel tokens per minute for Anthropic Claude 3 Haiku",
                1_000_000.0,
            ),
            Quota::new(
                "L-F4DDD3EB",
                "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.5 V1",
                2_000_000.0,
            ),
        ],
    });
    west.metrics.extend([
        bedrock_series(HAIKU, "Invocations", Shape::Constant(10.0)),
        bedrock_series(HAIKU, "EstimatedTPMQuotaUsage", Shape::Constant(100_000.0)),
        bedrock_series(&eu_sonnet, "Invocations", Shape::Constant(20.0)),
        bedrock_series(&eu_sonnet, "EstimatedTPMQuotaUsage", Shape::Constant(500_000.0)),
    ]);
    let estate = Estate {
        accounts: vec![Account::new(crate::estate::ACCOUNT, ACCESS_KEY, vec![east, west])],
        organization: None,
    };
    let app = spawn_app_with(estate, ACCESS_KEY, |c| {
        c.regions = vec!["us-east-1".into(), "eu-west-1".into()];
        c.services = Some(vec!["bedrock".into()]);
    })
    .await;
    app.sim.inject(Fault::access_denied().operation("ListFoundationModels").region("eu-west-1"));
    // The regions refresh side by side: a second refresh has us-east-1's list for certain.
    app.refresh().await;
    let m = app.refresh().await;
    let west = |name: &str, model: &str| m.find(name, &[("cloud_region", "eu-west-1"), ("model_id", model)]);
    assert_eq!(m.count("aws_bedrock_model_info", &[("cloud_region", "eu-west-1")]), 0, "the list is denied");
    for (model, ratio) in [(HAIKU, 0.1), (eu_sonnet.as_str(), 0.25)] {
        let matched = west("aws_bedrock_model_quota_matched", model);
        assert_eq!((matched[0].value, matched[0].labels["method"].as_str()), (1.0, "name"), "{model}");
        let u = west("aws_bedrock_quota_utilization_ratio", model);
        assert_eq!(u.iter().find(|s| s.labels["kind"] == "tokens_per_minute").map(|s| s.value), Some(ratio), "{model}");
    }
    let names = m.find("aws_quota_exporter_bedrock_model_names_info", &[("cloud_region", "eu-west-1")]);
    assert_eq!(names[0].labels["source"], "other_regions");
    let names = m.find("aws_quota_exporter_bedrock_model_names_info", &[("cloud_region", "us-east-1")]);
    assert_eq!(names[0].labels["source"], "inventory");
    app.stop().await;
}

#[tokio::test]
async fn a_model_throttled_from_sixty_percent_of_its_quota_has_an_onset_of_about_sixty_percent() {
    use simaws::estate::Shape;
    // Haiku's estimated tokens a minute cycle through ten levels, as shares of its
    // 1,000,000 quota; every minute at 60 % or more is throttled.
    let cycle = [0.30, 0.40, 0.50, 0.60, 0.62, 0.65, 0.70, 0.60, 0.45, 0.35];
    let minutes = 3 * 1440;
    let load: Vec<f64> = (0..minutes).map(|i| cycle[i % 10] * 1_000_000.0).collect();
    let throttles: Vec<f64> = (0..minutes).map(|i| if cycle[i % 10] >= 0.6 { 2.0 } else { 0.0 }).collect();
    let mut e = test_estate();
    let east = e.accounts[0].regions.iter_mut().find(|r| r.name == "us-east-1").expect("us-east-1");
    east.metrics.retain(|s| {
        !(s.dimensions.iter().any(|(_, v)| v == HAIKU)
            && (s.name == "EstimatedTPMQuotaUsage" || s.name == "InvocationThrottles"))
    });
    east.metrics.extend([
        crate::estate::bedrock_series(
            HAIKU,
            "EstimatedTPMQuotaUsage",
            Shape::Minutes { start: BEDROCK_START, values: load },
        ),
        crate::estate::bedrock_series(
            HAIKU,
            "InvocationThrottles",
            Shape::Minutes { start: BEDROCK_START, values: throttles },
        ),
    ]);
    let app = spawn_app_with(e, ACCESS_KEY, |c| {
        c.regions = vec!["us-east-1".into()];
        c.services = Some(vec!["bedrock".into()]);
    })
    .await;
    let m = app.refresh().await;
    // Fifteen minutes hold seven or eight throttled ones: too few for an estimate.
    assert_eq!(m.count("aws_bedrock_throttle_onset_ratio", &[("model_id", HAIKU)]), 0);
    app.sim.clock().advance(600.0);
    app.handle.refresh_usage().await;
    let m = app.metrics().await;
    let ratio = m.value("aws_bedrock_throttle_onset_ratio", &[("model_id", HAIKU), ("kind", "tokens_per_minute")]);
    let ratio = ratio.expect("an onset after ten throttled minutes");
    assert!((ratio - 0.6).abs() < 0.02, "onset at {ratio} of the quota");
    let per_minute =
        m.value("aws_bedrock_throttle_onset_per_minute", &[("model_id", HAIKU), ("kind", "tokens_per_minute")]);
    assert_eq!(per_minute, Some(ratio * 1_000_000.0));
    let labels = &m.find("aws_bedrock_throttle_onset_ratio", &[("kind", "tokens_per_minute")])[0].labels;
    assert_eq!(labels["quota_code"], "L-DCADBC78");
    assert_eq!(m.count("aws_bedrock_throttle_onset_ratio", &[("model_id", COMMAND_R_PLUS)]), 0, "never throttled");
    app.stop().await;
}
