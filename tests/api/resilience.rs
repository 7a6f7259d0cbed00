//! Collection under faults: an endpoint that never answers, listings and batches that
//! fail every attempt of a call, a refresh stuck in a slow call while an increase is
//! approved, and a refresh that panics.

use std::time::{Duration, Instant};

use aws_quota_exporter::aws::Outcome;
use aws_quota_exporter::aws::timeouts::Timeouts;
use simaws::Fault;

use crate::estate::{ACCESS_KEY, ACCOUNT, test_estate};
use crate::helpers::{spawn_app, spawn_app_scheduled, spawn_app_with};
use crate::increase::{EC2, alert, expected_ask, ledger_entries, outcome, receiver, send};

#[tokio::test]
async fn a_hung_endpoint_fails_the_refresh_within_its_bound_and_the_other_region_carries_on() {
    let app = spawn_app_with(test_estate(), ACCESS_KEY, |c| {
        c.aws_timeouts = Timeouts::all(Duration::from_millis(300), Duration::from_secs(1));
    })
    .await;
    // us-east-1's Service Quotas accepts the connection and never answers.
    app.sim.inject(Fault::latency(Duration::from_secs(3600)).operation("ListServices").region("us-east-1"));
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), app.handle.refresh_all()).await.expect("the refresh ends");
    assert!(started.elapsed() < Duration::from_secs(10), "within its bounds: {:?}", started.elapsed());

    let m = app.metrics().await;
    let us = [("cloud_region", "us-east-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &us), Some(0.0));
    assert!(
        app.handle.metrics.api_calls("servicequotas", "ListServices", Outcome::Timeout, ACCOUNT, "us-east-1") >= 1,
        "the timeouts are counted"
    );
    let timeouts =
        m.find("aws_quota_exporter_aws_api_calls_total", &[("operation", "ListServices"), ("outcome", "timeout")]);
    assert!(!timeouts.is_empty(), "and exported");
    let eu = [("cloud_region", "eu-west-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &eu), Some(1.0));
    assert_eq!(m.quota("aws_quota_limit", "eu-west-1", EC2.0, EC2.1), Some(320.0));
    assert_eq!(app.get("/-/ready").await.status, 200, "a hung region does not hold readiness back");
    app.stop().await;
}

#[tokio::test]
async fn a_service_listing_that_fails_every_attempt_of_its_call_is_tried_again_within_the_refresh() {
    let app = spawn_app().await;
    // Three attempts (the tests' AWS_MAX_ATTEMPTS), all failing: the call fails.
    app.sim.inject(Fault::server_error().operation("ListServices").region("us-east-1").times(3));
    let m = app.refresh().await;
    let us = [("cloud_region", "us-east-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &us), Some(1.0), "complete in the first snapshot");
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(640.0));
    assert_eq!(app.sim.calls().count_in("ListServices", "us-east-1"), 4, "three attempts, then a second round");
    app.stop().await;
}

#[tokio::test]
async fn a_get_metric_data_batch_that_fails_every_attempt_is_tried_again_and_loses_no_value() {
    let app = spawn_app_with(test_estate(), ACCESS_KEY, |c| {
        c.bedrock = false;
        c.forecast = false;
    })
    .await;
    app.sim.inject(Fault::server_error().operation("GetMetricData").region("us-east-1").times(3));
    // The first refresh has no earlier values to fall back on.
    let m = app.refresh().await;
    let usage = [("cloud_region", "us-east-1"), ("source", "usage")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &usage), Some(1.0));
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", EC2.0, EC2.1), Some(544.0));
    assert_eq!(m.quota("aws_quota_usage", "us-east-1", "lambda", "L-B99A9384"), Some(810.0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approved_increase_reaches_the_metrics_while_a_refresh_is_stuck_in_a_slow_call() {
    let (app, _ledger) = receiver(|_| {}).await;
    let ask = expected_ask(&app, EC2, "us-east-1").await;
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""));

    // A full refresh of us-east-1 now takes 20 seconds in one call (under its 60-second
    // bound), holding its target the whole time.
    app.sim.inject(Fault::latency(Duration::from_secs(20)).operation("ListServices").region("us-east-1").times(1));
    let handle = app.handle.clone();
    let stuck = tokio::spawn(async move { handle.refresh_all().await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // AWS approves; the tracker follows the request without waiting for the refresh.
    app.sim.clock().advance(601.0);
    let receiver = app.handle.receiver.clone().expect("on");
    tokio::time::timeout(Duration::from_secs(5), receiver.tick(Duration::ZERO))
        .await
        .expect("the tracker does not wait behind a stuck refresh")
        .expect("ledger ok");
    let entries = ledger_entries(&app).await;
    assert_eq!(entries[0]["aws_status"], "APPROVED");
    let m = app.metrics().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(ask), "the raised limit, at once");
    stuck.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_panics_is_logged_counted_and_started_again() {
    let app = spawn_app_scheduled(test_estate(), ACCESS_KEY, |c| {
        c.regions = vec!["us-east-1".into()];
        c.bedrock = false;
        c.forecast = false;
        c.test_refresh_panics = 1;
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/-/ready").await.status != 200 {
        assert!(Instant::now() < deadline, "the refresh never ran after its panic");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.handle.metrics.task_restarts("refresh"), 1);
    let m = app.metrics().await;
    assert_eq!(m.value("aws_quota_exporter_task_restarts_total", &[("task", "refresh")]), Some(1.0));
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(640.0), "the restarted refresh ran");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listing_read_before_an_approval_and_finished_after_it_does_not_undo_the_raised_limit() {
    let (app, _ledger) = receiver(|_| {}).await;
    let ask = expected_ask(&app, EC2, "us-east-1").await;
    send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    // A full refresh reads EC2 (640, before the decision) at once and then waits three
    // seconds on another service, so it finishes after the approval below.
    app.sim.inject(
        Fault::latency(Duration::from_secs(3)).operation("ListServiceQuotas").service_code("sagemaker").times(1),
    );
    let handle = app.handle.clone();
    let refresh = tokio::spawn(async move { handle.refresh_all().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.sim.clock().advance(601.0);
    app.handle.receiver.clone().expect("on").tick(Duration::ZERO).await.expect("ledger ok");
    assert_eq!(app.metrics().await.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(ask));
    // The listing completes, and is stamped, after the approval.
    app.sim.clock().advance(1.0);
    refresh.await.expect("the refresh ends");
    let m = app.metrics().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(ask), "the older reading did not win");
    // The next listing shows the raised value itself.
    app.handle.refresh_all().await;
    assert_eq!(app.metrics().await.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(ask));
    app.stop().await;
}
