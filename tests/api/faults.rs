//! AWS failures: throttling, access denial, server errors. One failing region, service
//! or batch never blanks the others, keeps its last good values with their age, and
//! recovers on the next refresh.

use aws_quota_exporter::aws::Outcome;
use simaws::Fault;

use crate::estate::ACCOUNT;
use crate::helpers::{T0, spawn_app, spawn_app_with};

fn set_applied(app: &crate::helpers::TestApp, service: &str, code: &str, value: f64) {
    app.sim.with_estate(|e| {
        let region = e.account_mut(ACCOUNT).and_then(|a| a.region_mut("us-east-1")).expect("in the estate");
        region.service_mut(service).and_then(|s| s.quota_mut(code)).expect("quota").applied_value = Some(value);
    });
}

#[tokio::test]
async fn a_throttled_listing_is_retried_and_every_attempt_is_counted() {
    let app = spawn_app().await;
    app.sim.inject(Fault::throttle().operation("ListServiceQuotas").service_code("ec2").region("us-east-1").times(2));
    let m = app.refresh().await;

    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-1216C47A"), Some(640.0), "complete after retries");
    let labels = [("cloud_region", "us-east-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &labels), Some(1.0));
    let ec2_listings = app.sim.calls().0.into_iter().filter(|c| {
        c.operation == "ListServiceQuotas" && c.region == "us-east-1" && c.service_code.as_deref() == Some("ec2")
    });
    assert_eq!(ec2_listings.count(), 3, "two throttled attempts, then one page");
    let calls = |outcome: Outcome| {
        app.handle.metrics.api_calls("servicequotas", "ListServiceQuotas", outcome, ACCOUNT, "us-east-1")
    };
    assert_eq!(calls(Outcome::Throttled), 2);
    assert_eq!(
        m.value(
            "aws_quota_exporter_aws_api_calls_total",
            &[("operation", "ListServiceQuotas"), ("outcome", "throttled"), ("cloud_region", "us-east-1")]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn a_service_throttled_beyond_retries_keeps_its_last_good_quotas_and_recovers() {
    let app = spawn_app().await;
    app.refresh().await;

    set_applied(&app, "ec2", "L-1216C47A", 700.0);
    set_applied(&app, "lambda", "L-B99A9384", 2000.0);
    app.sim.clock().advance(3600.0);
    app.sim.inject(Fault::throttle().operation("ListServiceQuotas").service_code("ec2"));
    let m = app.refresh().await;

    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-1216C47A"), Some(640.0), "the last good value");
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "ec2", "L-1216C47A"), Some(544.0), "usage still refreshed");
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "lambda", "L-B99A9384"), Some(2000.0), "others refreshed");
    let ec2 = [("cloud_region", "us-east-1"), ("service_code", "ec2")];
    assert_eq!(m.value("aws_quota_exporter_service_refresh_success", &ec2), Some(0.0));
    assert_eq!(m.value("aws_quota_exporter_service_last_success_timestamp_seconds", &ec2), Some(T0));
    let source = [("cloud_region", "us-east-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &source), Some(0.0));
    assert_eq!(m.value("aws_quota_exporter_last_success_timestamp_seconds", &source), Some(T0));
    assert_eq!(m.value("aws_quota_exporter_last_refresh_timestamp_seconds", &source), Some(T0 + 3600.0));

    app.sim.clear_faults();
    app.sim.clock().advance(3600.0);
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-1216C47A"), Some(700.0));
    assert_eq!(m.value("aws_quota_exporter_service_refresh_success", &ec2), Some(1.0));
    assert_eq!(m.value("aws_quota_exporter_service_last_success_timestamp_seconds", &ec2), Some(T0 + 7200.0));
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &source), Some(1.0));
}

#[tokio::test]
async fn access_denied_in_one_region_leaves_the_other_region_complete() {
    let app = spawn_app().await;
    app.sim.inject(Fault::access_denied().operation("ListServices").region("eu-west-1"));
    let m = app.refresh().await;

    assert_eq!(m.count("aws_quota_info", &[("cloud_region", "eu-west-1")]), 0);
    let eu = [("cloud_region", "eu-west-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &eu), Some(0.0));
    assert_eq!(m.value("aws_quota_exporter_last_success_timestamp_seconds", &eu), None, "it never succeeded");

    let us = [("cloud_region", "us-east-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &us), Some(1.0));
    assert_eq!(
        m.value("aws_quota_exporter_refresh_success", &[("cloud_region", "us-east-1"), ("source", "usage")]),
        Some(1.0)
    );
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ec2", "L-1216C47A"), Some(0.85));
    assert!(m.count("aws_quota_info", &[("cloud_region", "us-east-1")]) > 200);
    assert_eq!(app.get("/-/ready").await.status, 200, "a failing region does not hold readiness back");
}

#[tokio::test]
async fn a_server_error_in_one_service_fails_that_service_alone() {
    let app = spawn_app().await;
    app.sim.inject(Fault::server_error().operation("ListAWSDefaultServiceQuotas").service_code("lambda"));
    let m = app.refresh().await;
    assert_eq!(m.count("aws_quota_info", &[("cloud_region", "us-east-1"), ("service_code", "lambda")]), 0);
    assert_eq!(
        m.value(
            "aws_quota_exporter_service_refresh_success",
            &[("cloud_region", "us-east-1"), ("service_code", "lambda")]
        ),
        Some(0.0)
    );
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "kms", "L-6E3AF000"), Some(12_500.0));
    // Three attempts in each of the refresh's three rounds; each is counted as an error.
    assert_eq!(
        app.handle.metrics.api_calls(
            "servicequotas",
            "ListAWSDefaultServiceQuotas",
            Outcome::Error,
            ACCOUNT,
            "us-east-1"
        ),
        9
    );
}

#[tokio::test]
async fn stale_usage_keeps_its_values_and_its_age_shows() {
    let app = spawn_app().await;
    let before = app.refresh().await;
    let usage = [("cloud_region", "us-east-1"), ("source", "usage")];
    assert_eq!(before.value("aws_quota_exporter_last_success_timestamp_seconds", &usage), Some(T0));

    app.sim.clock().advance(600.0);
    app.sim.inject(Fault::server_error().operation("GetMetricData").region("us-east-1"));
    app.handle.refresh_usage().await;
    let m = app.metrics().await;

    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "lambda", "L-B99A9384"), Some(810.0), "the last good value");
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "kms", "L-6E3AF000"), Some(0.8));
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &usage), Some(0.0));
    assert_eq!(m.value("aws_quota_exporter_last_success_timestamp_seconds", &usage), Some(T0));
    assert_eq!(m.value("aws_quota_exporter_last_refresh_timestamp_seconds", &usage), Some(T0 + 600.0));
    let eu = [("cloud_region", "eu-west-1"), ("source", "usage")];
    assert_eq!(m.value("aws_quota_exporter_last_success_timestamp_seconds", &eu), Some(T0 + 600.0));

    app.sim.clear_faults();
    app.handle.refresh_usage().await;
    let m = app.metrics().await;
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &usage), Some(1.0));
    assert_eq!(m.value("aws_quota_exporter_last_success_timestamp_seconds", &usage), Some(T0 + 600.0));
}

#[tokio::test]
async fn credentials_aws_does_not_recognise_fail_the_target_without_stopping_the_exporter() {
    let app = spawn_app_with(crate::estate::test_estate(), "AKIANOBODYKNOWSTHIS0", |c| {
        c.regions = vec!["us-east-1".into()];
    })
    .await;
    let m = app.refresh().await;
    assert_eq!(m.count("aws_quota_info", &[]), 0);
    assert_eq!(
        m.value("aws_quota_exporter_refresh_success", &[("cloud_region", "us-east-1"), ("source", "service_quotas")]),
        Some(0.0)
    );
    assert_eq!(app.sim.calls().count("ListServices"), 0, "nothing is listed without an account");
    assert_eq!(app.get("/-/healthy").await.status, 200);
}
