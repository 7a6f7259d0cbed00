//! The automatic increase receiver end to end: Alertmanager payloads over HTTP, the real
//! SDK against the simulated Service Quotas (which applies AWS's rules), the SQLite
//! ledger on disk, and what `/metrics` then shows.

use std::sync::Arc;
use std::time::Duration;

use aws_quota_exporter::config::increase::{Approver, Credentials, IncreaseConfig, LedgerConfig, QuotaRef, Secret};
use aws_quota_exporter::increase::ledger::{Entry, QuotaKey, State};
use serde_json::{Value, json};
use simaws::Fault;

use crate::estate::{ACCESS_KEY, ACCOUNT, OTHER_ACCOUNT, test_estate};
use crate::helpers::{T0, TestApp, spawn_app_sharing, spawn_app_with};

/// An approver's token, and the header that sends it.
pub(crate) const APPROVER_TOKEN: &str = "approver-token-abcdefghijklmnopqrstuvwxyz";
pub(crate) const APPROVER: (&str, &str) = ("authorization", "Bearer approver-token-abcdefghijklmnopqrstuvwxyz");
pub const TOKEN: &str = "test-token-0123456789abcdef-0123456789";
pub const AUTH: (&str, &str) = ("authorization", "Bearer test-token-0123456789abcdef-0123456789");
pub(crate) const EC2: (&str, &str) = ("ec2", "L-1216C47A");

/// A ledger file removed when the test ends.
pub struct TempLedger(pub std::path::PathBuf);

impl TempLedger {
    pub fn new() -> TempLedger {
        let id = aws_quota_exporter::increase::ledger::new_id(0.0);
        TempLedger(std::env::temp_dir().join(format!("aqe-test-ledger-{id}.db")))
    }
}

impl Drop for TempLedger {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The receiver on, filing for real (not dry-run), with a bearer token and a fresh
/// SQLite ledger; the targets refreshed once so the inventory is known.
pub(crate) async fn receiver(configure: impl FnOnce(&mut IncreaseConfig)) -> (TestApp, TempLedger) {
    let (app, ledger) = receiver_before_first_refresh(configure).await;
    app.handle.refresh_all().await;
    (app, ledger)
}

/// The same, before the targets' first refresh: the exporter knows no quota yet.
pub(crate) async fn receiver_before_first_refresh(
    configure: impl FnOnce(&mut IncreaseConfig),
) -> (TestApp, TempLedger) {
    let ledger = TempLedger::new();
    let path = ledger.0.clone();
    let app = spawn_app_with(test_estate(), ACCESS_KEY, move |c| {
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::Sqlite { path },
            ..IncreaseConfig::default()
        };
        configure(&mut c.increase);
    })
    .await;
    (app, ledger)
}

/// A firing critical-tier alert for a quota of the test account, opted in.
pub fn alert(service: &str, quota: &str, region: &str) -> Value {
    json!({
        "status": "firing",
        "labels": {
            "alertname": "AwsQuotaUtilizationHigh",
            "severity": "critical",
            "auto_increase": "true",
            "cloud_account_id": ACCOUNT,
            "cloud_region": region,
            "service_code": service,
            "quota_code": quota,
        },
        "annotations": {"summary": format!("{service} {quota} is above 90 %")},
        "startsAt": "2026-11-22T05:13:13.123Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": format!("{service}-{quota}-{region}"),
    })
}

pub fn payload(alerts: Vec<Value>) -> String {
    json!({
        "version": "4",
        "groupKey": "{}/{auto_increase=\"true\"}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "quota-increase",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
    .to_string()
}

/// Sets the usage CloudWatch reports for a metric of the test account's region: a
/// constant from now on.
pub fn set_usage(app: &TestApp, region: &str, metric: &simaws::estate::UsageMetric, value: f64) {
    app.sim.with_estate(|e| {
        let r = e.account_mut(ACCOUNT).and_then(|a| a.region_mut(region)).expect("the region");
        r.metrics.retain(|m| {
            (&m.namespace, &m.name, &m.dimensions) != (&metric.namespace, &metric.name, &metric.dimensions)
        });
        r.metrics.push(metric.series(simaws::estate::Shape::Constant(value)));
    });
}

/// Posts a payload with the token; the status and the outcomes.
pub(crate) async fn send(app: &TestApp, alerts: Vec<Value>) -> (u16, Vec<Value>) {
    let reply = app.post("/alertmanager/webhook", &[AUTH, ("content-type", "application/json")], payload(alerts)).await;
    let body: Value = serde_json::from_slice(&reply.body).expect("a JSON answer");
    let outcomes = body["outcomes"].as_array().cloned().unwrap_or_default();
    (reply.status, outcomes)
}

pub(crate) fn outcome(o: &Value) -> (&str, &str) {
    (o["outcome"].as_str().unwrap_or_default(), o["reason"].as_str().unwrap_or_default())
}

pub(crate) async fn ledger_entries(app: &TestApp) -> Vec<Value> {
    let reply = app.request("GET", "/increase-requests?limit=1000", &[AUTH]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body: Value = serde_json::from_slice(&reply.body).expect("JSON");
    body["entries"].as_array().cloned().unwrap_or_default()
}

/// The value the receiver must ask for: the recommended limit where the exporter
/// publishes one, else 1.5 times the limit; capped at twice the limit.
pub(crate) async fn expected_ask(app: &TestApp, (service, quota): (&str, &str), region: &str) -> f64 {
    let m = app.metrics().await;
    let limit = m.quota("aws_quota_limit", region, service, quota).expect("a limit");
    let recommended = m.quota("aws_quota_recommended_limit", region, service, quota).filter(|r| *r > limit);
    recommended.unwrap_or(limit * 1.5).min(limit * 2.0).ceil()
}

#[tokio::test]
async fn a_critical_alert_files_one_request_and_the_ledger_and_metrics_show_it() {
    let (app, _ledger) = receiver(|_| {}).await;
    let ask = expected_ask(&app, EC2, "us-east-1").await;
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(status, 200);
    assert_eq!(outcome(&outcomes[0]), ("filed", ""), "{outcomes:?}");

    let filed = app.sim.increase_requests();
    assert_eq!(filed.len(), 1);
    assert_eq!((filed[0].service_code.as_str(), filed[0].quota_code.as_str()), EC2);
    assert_eq!(filed[0].region, "us-east-1");
    assert_eq!(filed[0].desired, ask);
    assert_eq!(outcomes[0]["request_id"], json!(filed[0].id));

    let entries = ledger_entries(&app).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["state"], "filed");
    assert_eq!(entries[0]["aws_status"], "PENDING");
    assert_eq!(entries[0]["request_id"], json!(filed[0].id));
    assert_eq!(entries[0]["current_value"], json!(640.0));

    let m = app.metrics().await;
    let identity = [("cloud_region", "us-east-1"), ("service_code", EC2.0), ("quota_code", EC2.1)];
    let mut open = identity.to_vec();
    open.extend([("state", "filed"), ("status", "PENDING")]);
    assert_eq!(m.value("aws_quota_increase_request_open", &open), Some(1.0));
    assert_eq!(m.value("aws_quota_increase_request_desired_value", &identity), Some(ask));
    assert_eq!(m.value("aws_quota_increase_requests_total", &[("outcome", "filed")]), Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn a_notification_before_the_quota_is_listed_asks_for_a_retry_and_the_retry_files() {
    let (app, _ledger) = receiver_before_first_refresh(|_| {}).await;
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(status, 503, "Alertmanager retries a 5xx: {outcomes:?}");
    assert_eq!(outcome(&outcomes[0]), ("skipped", "not_ready"), "{outcomes:?}");
    assert!(outcomes[0]["detail"].as_str().unwrap_or_default().contains("not listed the quotas of us-east-1"));

    // EC2's listing fails from the start: its quotas are still unknown, not absent.
    app.sim.inject(Fault::access_denied().operation("ListServiceQuotas").service_code("ec2"));
    app.handle.refresh_all().await;
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (503, ("skipped", "not_ready")), "{outcomes:?}");
    assert!(outcomes[0]["detail"].as_str().unwrap_or_default().contains("no successful listing of ec2"));
    // A service that was listed and has no such quota is a plain skip.
    let (status, outcomes) = send(&app, vec![alert("lambda", "L-NOTAQUOTA", "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("skipped", "unknown_quota")), "{outcomes:?}");
    assert!(app.sim.increase_requests().is_empty());

    app.sim.clear_faults();
    app.handle.refresh_all().await;
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("filed", "")), "{outcomes:?}");
    assert_eq!(app.sim.increase_requests().len(), 1);
    let m = app.metrics().await;
    assert_eq!(
        m.value("aws_quota_increase_requests_total", &[("outcome", "skipped"), ("reason", "not_ready")]),
        Some(2.0)
    );
    app.stop().await;
}

#[tokio::test]
async fn alertmanager_resending_the_notification_files_nothing_more() {
    let (app, _ledger) = receiver(|_| {}).await;
    for _ in 0..3 {
        send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    }
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("skipped", "open_request")));
    assert_eq!(app.sim.increase_requests().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_identical_deliveries_file_exactly_one_request() {
    let (app, _ledger) = receiver(|_| {}).await;
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await })
        })
        .collect();
    let mut filed = 0;
    let mut skipped = 0;
    for t in tasks {
        let (status, outcomes) = t.await.expect("joined");
        assert_eq!(status, 200);
        match outcome(&outcomes[0]) {
            ("filed", _) => filed += 1,
            ("skipped", "open_request") => skipped += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((filed, skipped), (1, 99));
    assert_eq!(app.sim.increase_requests().len(), 1, "exactly one request in AWS");
    Arc::try_unwrap(app).ok().expect("the only reference").stop().await;
}

#[tokio::test]
async fn an_approved_request_raises_the_published_limit_and_starts_the_cooldown() {
    let (app, _ledger) = receiver(|c| c.cooldown = Duration::from_secs(86_400)).await;
    let ask = expected_ask(&app, EC2, "us-east-1").await;
    send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    let receiver = app.handle.receiver.clone().expect("the receiver is on");

    // AWS opens a case after a minute: followed, still open.
    app.sim.clock().advance(61.0);
    receiver.tick(Duration::ZERO).await.expect("ledger ok");
    assert_eq!(ledger_entries(&app).await[0]["aws_status"], "CASE_OPENED");

    // Decided after ten minutes: approved, the limit is read again at once.
    app.sim.clock().advance(600.0);
    receiver.tick(Duration::ZERO).await.expect("ledger ok");
    let entries = ledger_entries(&app).await;
    assert_eq!((entries[0]["state"].as_str(), entries[0]["aws_status"].as_str()), (Some("closed"), Some("APPROVED")));
    let m = app.metrics().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(ask), "the approved value is published");
    assert!(m.find("aws_quota_increase_request_open", &[]).is_empty(), "nothing open any more");
    assert_eq!(m.value("aws_quota_increase_requests_total", &[("outcome", "approved")]), Some(1.0));

    // Usage keeps growing into the new limit and the alert comes back: in the
    // cooldown, nothing is filed.
    set_usage(&app, "us-east-1", &crate::estate::ec2_standard(), ask * 0.95);
    app.handle.refresh_usage().await;
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "cooldown"));
    // A day later it may be filed again, from the new limit.
    app.sim.clock().advance(86_400.0);
    app.handle.refresh_usage().await;
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""), "{outcomes:?}");
    assert_eq!(app.sim.increase_requests().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_denied_request_leaves_the_limit_alone() {
    let (app, _ledger) = receiver(|_| {}).await;
    // This account's reviewer approves nothing above the current value.
    app.sim.with_estate(|e| e.account_mut(ACCOUNT).expect("the account").increase_review.approve_up_to = 1.0);
    let ask = expected_ask(&app, EC2, "us-east-1").await;
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcomes[0]["desired_value"], json!(ask));
    app.sim.clock().advance(601.0);
    app.handle.receiver.clone().expect("on").tick(Duration::ZERO).await.expect("ledger ok");
    let entries = ledger_entries(&app).await;
    assert_eq!(entries[0]["aws_status"], "DENIED");
    assert_eq!(app.metrics().await.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(640.0));
    assert_eq!(app.metrics().await.value("aws_quota_increase_requests_total", &[("outcome", "denied")]), Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn alerts_the_policy_does_not_allow_are_skipped_with_their_reason_and_only_opted_in_ones_are_recorded() {
    let (app, _ledger) = receiver(|c| {
        c.exclude_services = vec!["kms".into()];
        c.exclude_quotas = vec![QuotaRef { service_code: "ec2".into(), quota_code: "L-34B43A08".into() }];
    })
    .await;
    let mut not_opted_in = alert(EC2.0, EC2.1, "us-east-1");
    not_opted_in["labels"]["auto_increase"] = json!("false");
    let mut unlabelled = alert(EC2.0, EC2.1, "us-east-1");
    unlabelled["labels"].as_object_mut().expect("labels").remove("quota_code");
    let mut resource = alert("es", "L-6408ABDE", "us-east-1");
    resource["labels"]["resource"] = json!("arn:aws:es:us-east-1:123456789012:domain/search");
    let mut other_account = alert(EC2.0, EC2.1, "us-east-1");
    other_account["labels"]["cloud_account_id"] = json!(OTHER_ACCOUNT);
    let mut resolved = alert(EC2.0, EC2.1, "us-east-1");
    resolved["status"] = json!("resolved");
    let mut resolved_not_opted_in = resolved.clone();
    resolved_not_opted_in["labels"]["auto_increase"] = json!("false");
    let mut other_alert = alert(EC2.0, EC2.1, "us-east-1");
    other_alert["labels"]["alertname"] = json!("SomethingElseEntirely");
    let mut forged_account = alert(EC2.0, EC2.1, "us-east-1");
    forged_account["labels"]["cloud_account_id"] = json!("12345678901\nlevel=error msg=forged");
    let cases = [
        (not_opted_in, ("skipped", "not_opted_in")),
        (resolved_not_opted_in, ("resolved", "")),
        (other_alert, ("skipped", "alertname")),
        (forged_account, ("skipped", "invalid_labels")),
        (unlabelled, ("skipped", "missing_labels")),
        (resource, ("skipped", "resource_level")),
        (alert("kms", "L-6E3AF000", "us-east-1"), ("skipped", "policy")),
        (alert("ec2", "L-34B43A08", "us-east-1"), ("skipped", "policy")),
        (alert("ec2", "L-7295265B", "us-east-1"), ("skipped", "not_adjustable")),
        (alert("ec2", "L-NOTAQUOTA", "us-east-1"), ("skipped", "unknown_quota")),
        (other_account, ("skipped", "other_account")),
        (resolved, ("resolved", "")),
    ];
    let count = cases.len();
    let (status, outcomes) = send(&app, cases.iter().map(|(a, _)| a.clone()).collect()).await;
    assert_eq!(status, 200);
    for ((a, expected), got) in cases.iter().zip(&outcomes) {
        assert_eq!(outcome(got), *expected, "{}: {got}", a["fingerprint"]);
        assert!(!got["detail"].as_str().unwrap_or_default().is_empty(), "every decision says why");
    }
    assert!(app.sim.increase_requests().is_empty(), "nothing filed");
    // Alerts that are not opted in are counted, never stored: they have no entry.
    for o in &outcomes[..2] {
        assert_eq!(o["entry_id"], Value::Null, "{o}");
    }
    assert_eq!(ledger_entries(&app).await.len(), count - 2, "every opted-in decision is recorded");
    assert!(
        outcomes[3]["detail"].as_str().is_some_and(|d| d.contains("\\nlevel=error")),
        "control characters are escaped: {}",
        outcomes[3]["detail"]
    );
    let m = app.metrics().await;
    assert_eq!(
        m.value("aws_quota_increase_requests_total", &[("outcome", "skipped"), ("reason", "policy")]),
        Some(2.0)
    );
    assert_eq!(
        m.value("aws_quota_increase_requests_total", &[("outcome", "skipped"), ("reason", "not_opted_in")]),
        Some(1.0),
        "counted"
    );
    app.stop().await;
}

#[tokio::test]
async fn caps_limit_the_value_and_a_cap_at_the_current_limit_files_nothing() {
    let (app, _ledger) = receiver(|c| {
        c.max_values = vec![
            (QuotaRef { service_code: "ec2".into(), quota_code: "L-1216C47A".into() }, 700.0),
            (QuotaRef { service_code: "lambda".into(), quota_code: "L-B99A9384".into() }, 1000.0),
        ];
    })
    .await;
    let (_, outcomes) =
        send(&app, vec![alert(EC2.0, EC2.1, "us-east-1"), alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""));
    assert_eq!(outcomes[0]["desired_value"], json!(700.0));
    assert_eq!(outcome(&outcomes[1]), ("skipped", "capped"));
    assert_eq!(app.sim.increase_requests().len(), 1);
    assert_eq!(app.sim.increase_requests()[0].desired, 700.0);
    app.stop().await;
}

#[tokio::test]
async fn a_global_quota_is_requested_in_us_east_1_even_when_only_another_region_is_configured() {
    // The bucket quota, 95 % used as the exporter sees it from eu-west-1.
    let mut estate = test_estate();
    let buckets = simaws::estate::UsageMetric::resource_count("S3", "GeneralPurposeBuckets", "None");
    let region = estate.account_mut(ACCOUNT).and_then(|a| a.region_mut("eu-west-1")).expect("eu-west-1");
    region.service_mut("s3").and_then(|s| s.quota_mut("L-DC2B2D3D")).expect("the bucket quota").usage_metric =
        Some(buckets.clone());
    region.metrics.push(buckets.series(simaws::estate::Shape::Constant(9_500.0)));
    let ledger = TempLedger::new();
    let path = ledger.0.clone();
    let app = spawn_app_with(estate, ACCESS_KEY, move |c| {
        c.regions = vec!["eu-west-1".into()];
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::Sqlite { path },
            ..IncreaseConfig::default()
        };
    })
    .await;
    app.handle.refresh_all().await;
    let (_, outcomes) = send(&app, vec![alert("s3", "L-DC2B2D3D", "eu-west-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""), "{outcomes:?}");
    let filed = app.sim.increase_requests();
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].region, "us-east-1", "global quotas are requested in us-east-1");
    assert_eq!(ledger_entries(&app).await[0]["cloud_region"], "us-east-1");
    app.stop().await;
}

#[tokio::test]
async fn dry_run_records_what_it_would_file_and_files_nothing() {
    let (app, _ledger) = receiver(|c| c.dry_run = true).await;
    let ask = expected_ask(&app, EC2, "us-east-1").await;
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("dry_run", ""));
    assert!(outcomes[0]["detail"].as_str().is_some_and(|d| d.starts_with(&format!("dry run: would have filed {ask}"))));
    assert!(app.sim.increase_requests().is_empty());
    // As a filed request would, the dry run holds the quota off for the cooldown.
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "cooldown"));
    // The AWS reads happened: dry-run checks what filing would check.
    assert!(app.sim.calls().count("GetServiceQuota") >= 1);
    assert_eq!(app.sim.calls().count("RequestServiceQuotaIncrease"), 0);
    app.stop().await;
}

#[tokio::test]
async fn in_approval_mode_nothing_is_filed_until_an_approver_approves_and_a_rejection_files_nothing() {
    let (app, _ledger) = receiver(|c| {
        c.approval = true;
        c.approvers = vec![Approver { name: "alice".into(), token: Secret(APPROVER_TOKEN.into()) }];
    })
    .await;
    let (_, outcomes) =
        send(&app, vec![alert(EC2.0, EC2.1, "us-east-1"), alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("awaiting_approval", ""));
    assert_eq!(outcome(&outcomes[1]), ("awaiting_approval", ""));
    assert!(app.sim.increase_requests().is_empty());
    let ec2 = outcomes[0]["entry_id"].as_str().expect("an entry").to_owned();
    let lambda = outcomes[1]["entry_id"].as_str().expect("an entry").to_owned();

    // Approval and rejection take an approver's token: not none, and not the
    // credentials Alertmanager sends, or approval mode would approve itself.
    assert_eq!(app.post(&format!("/increase-requests/{ec2}/approve"), &[], "").await.status, 401);
    let by_alertmanager = app.post(&format!("/increase-requests/{ec2}/approve"), &[AUTH], "").await;
    assert_eq!(by_alertmanager.status, 403, "{}", by_alertmanager.text());
    assert!(by_alertmanager.text().contains("approver's token"), "{}", by_alertmanager.text());
    let approved = app.post(&format!("/increase-requests/{ec2}/approve"), &[APPROVER], "").await;
    assert_eq!(approved.status, 200, "{}", approved.text());
    let approved: Value = serde_json::from_slice(&approved.body).expect("JSON");
    assert_eq!(approved["outcome"], "filed");
    assert_eq!(app.sim.increase_requests().len(), 1);

    let rejected = app.post(&format!("/increase-requests/{lambda}/reject"), &[APPROVER], "").await;
    assert_eq!(rejected.status, 200);
    assert_eq!(app.sim.increase_requests().len(), 1, "a rejection files nothing");
    // Who decided is recorded.
    let entries = ledger_entries(&app).await;
    let decided_by = |id: &str| entries.iter().find(|e| e["id"] == id).map(|e| e["decided_by"].clone());
    assert_eq!(decided_by(&ec2), Some(json!("alice")));
    assert_eq!(decided_by(&lambda), Some(json!("alice")));
    // Neither can be approved again.
    assert_eq!(app.post(&format!("/increase-requests/{lambda}/approve"), &[APPROVER], "").await.status, 409);
    assert_eq!(app.post(&format!("/increase-requests/{ec2}/approve"), &[APPROVER], "").await.status, 409);
    assert_eq!(app.post("/increase-requests/no-such-entry/approve", &[APPROVER], "").await.status, 404);
    let (_, outcomes) = send(&app, vec![alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "cooldown"), "a rejection starts the cooldown");
    app.stop().await;
}

#[tokio::test]
async fn the_daily_maximum_stops_filing_for_the_rest_of_the_utc_day() {
    let (app, _ledger) = receiver(|c| c.daily_max = 1).await;
    let (_, outcomes) =
        send(&app, vec![alert(EC2.0, EC2.1, "us-east-1"), alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""));
    assert_eq!(outcome(&outcomes[1]), ("skipped", "daily_maximum"));
    assert_eq!(app.sim.increase_requests().len(), 1);
    // The next UTC day.
    let next_day = (T0 / 86_400.0).floor() * 86_400.0 + 86_400.0;
    app.sim.clock().set(next_day + 10.0);
    app.handle.refresh_usage().await;
    let (_, outcomes) = send(&app, vec![alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""), "{outcomes:?}");
    app.stop().await;
}

#[tokio::test]
async fn aws_rules_are_checked_before_filing() {
    let (app, _ledger) = receiver(|_| {}).await;
    let aws = aws_quota_exporter::aws::TargetAws::new(
        &aws_quota_exporter::aws::static_sdk_config(
            &app.sim.endpoint_url(),
            ACCESS_KEY,
            "x",
            aws_quota_exporter::aws::RetryPolicy::default(),
        )
        .await,
        "us-east-1",
        &aws_quota_exporter::aws::ClientParts::new(Arc::default(), 10.0),
    );
    // Someone filed for Lambda by hand: the receiver does not file a second one.
    aws.request_increase("lambda", "L-B99A9384", 1200.0, true).await.expect("filed by hand");
    let (_, outcomes) = send(&app, vec![alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "open_request_in_aws"), "{outcomes:?}");
    // A second request by hand makes two open in the region: AWS's limit.
    aws.request_increase("kms", "L-6E3AF000", 20_000.0, true).await.expect("filed by hand");
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "region_limit"), "{outcomes:?}");
    assert_eq!(app.sim.increase_requests().len(), 2, "only the two filed by hand");
    // Both skips released the quota: once the region is free again, it is filed.
    app.sim.clock().advance(601.0);
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""), "{outcomes:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_limit_already_raised_in_aws_is_not_requested_again() {
    let (app, _ledger) = receiver(|_| {}).await;
    // The limit rose in AWS after the exporter last listed it.
    app.sim.with_estate(|e| {
        let q = e.account_mut(ACCOUNT).and_then(|a| a.region_mut("us-east-1")).and_then(|r| r.service_mut("ec2"));
        q.and_then(|s| s.quota_mut(EC2.1)).expect("the quota").applied_value = Some(5000.0);
    });
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "not_above_current"), "{outcomes:?}");
    assert!(app.sim.increase_requests().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn automatic_management_adjusting_the_quota_is_respected_and_said() {
    let (app, _ledger) = receiver(|_| {}).await;
    app.sim.with_estate(|e| {
        e.account_mut(ACCOUNT).expect("the account").auto_management = Some(simaws::estate::AutoManagement {
            opt_in_type: "NotifyAndAdjust".into(),
            exclusions: [("lambda".to_owned(), vec![])].into_iter().collect(),
        });
    });
    let (_, outcomes) =
        send(&app, vec![alert(EC2.0, EC2.1, "us-east-1"), alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "auto_management"));
    assert!(outcomes[0]["detail"].as_str().is_some_and(|d| d.contains("Automatic Management")));
    assert_eq!(outcome(&outcomes[1]), ("filed", ""), "Lambda is excluded from Automatic Management");
    app.stop().await;
}

#[tokio::test]
async fn aws_errors_become_recorded_outcomes_and_transient_ones_ask_for_a_retry() {
    let (app, _ledger) = receiver(|_| {}).await;
    app.sim.inject(Fault::access_denied().operation("RequestServiceQuotaIncrease"));
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("failed", "access_denied")), "a 4xx is final");
    app.sim.clear_faults();
    app.sim.inject(Fault::throttle().operation("GetServiceQuota"));
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (503, ("failed", "throttled")), "Alertmanager retries a 503");
    app.sim.clear_faults();
    // Neither failure held the quota: the retry files it.
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("filed", "")));
    assert_eq!(app.sim.increase_requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_server_error_while_filing_is_settled_against_aws_history() {
    let (app, _ledger) = receiver(|_| {}).await;
    app.sim.inject(Fault::server_error().operation("RequestServiceQuotaIncrease"));
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (503, ("failed", "unconfirmed")));
    app.sim.clear_faults();
    // Until settled, the quota stays held: a retry files nothing.
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "open_request"));
    // AWS has no such request, so nothing was filed: the entry fails and frees the quota.
    app.handle.receiver.clone().expect("on").tick(Duration::ZERO).await.expect("ledger ok");
    let entries = ledger_entries(&app).await;
    let settled = entries.iter().find(|e| e["reason"] == "interrupted").expect("the settled entry");
    assert_eq!(settled["state"], "failed");
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""));
    assert_eq!(app.sim.increase_requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_filing_recorded_as_intent_only_is_found_in_aws_history_after_a_restart() {
    let ledger = TempLedger::new();
    let (app, _own) = receiver(|_| {}).await;
    // As a crash would leave it: AWS has the request, the ledger only the intent.
    let sqlite = aws_quota_exporter::increase::sqlite::SqliteLedger::open(&ledger.0).expect("opens");
    let key = QuotaKey {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        service_code: EC2.0.into(),
        quota_code: EC2.1.into(),
    };
    let mut intent = Entry::new(key, State::Checking, T0);
    intent.desired_value = Some(960.0);
    sqlite.claim(&intent, T0).await.expect("ok").expect("claimed");
    let mut filing = intent.moved(State::Filing, T0);
    filing.counted_day = Some(aws_quota_exporter::clock::utc_day(T0));
    sqlite.begin_filing(&filing, &[State::Checking], 5).await.expect("ok").expect("counted");
    let sdk = aws_quota_exporter::aws::static_sdk_config(
        &app.sim.endpoint_url(),
        ACCESS_KEY,
        "x",
        aws_quota_exporter::aws::RetryPolicy::default(),
    )
    .await;
    let filed = aws_quota_exporter::aws::TargetAws::new(
        &sdk,
        "us-east-1",
        &aws_quota_exporter::aws::ClientParts::new(Arc::default(), 10.0),
    )
    .request_increase(EC2.0, EC2.1, 960.0, true)
    .await
    .expect("filed");
    drop(sqlite);

    // A receiver starts on that ledger.
    let path = ledger.0.clone();
    let restarted = spawn_app_sharing(&app, ACCESS_KEY, move |c| {
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::Sqlite { path },
            ..IncreaseConfig::default()
        };
    })
    .await;
    restarted.handle.refresh_all().await;
    restarted.handle.receiver.clone().expect("on").tick(Duration::ZERO).await.expect("ledger ok");
    let entries = ledger_entries(&restarted).await;
    assert_eq!(entries[0]["state"], "filed");
    assert_eq!(entries[0]["request_id"], json!(filed.id));
    let (_, outcomes) = send(&restarted, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "open_request"));
    assert_eq!(app.sim.increase_requests().len(), 1, "nothing filed twice");
    restarted.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_message_and_files_nothing() {
    let (app, _ledger) = receiver(|_| {}).await;
    let good = payload(vec![alert(EC2.0, EC2.1, "us-east-1")]);
    let json = ("content-type", "application/json");

    let r = app.post("/alertmanager/webhook", &[json], good.clone()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"aws-quota-exporter\""));
    let r = app.post("/alertmanager/webhook", &[("authorization", "Bearer wrong"), json], good.clone()).await;
    assert_eq!(r.status, 401);
    assert_eq!(app.request("GET", "/increase-requests", &[]).await.status, 401, "the ledger is private too");

    let r = app.post("/alertmanager/webhook", &[AUTH, json], "{\"version\": \"4\", \"alerts\": [").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not an Alertmanager webhook payload: the body is not JSON"), "{}", r.text());
    let r =
        app.post("/alertmanager/webhook", &[AUTH, json], good.replace("\"version\":\"4\"", "\"version\":\"3\"")).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("version \\\"3\\\" is not supported"), "{}", r.text());
    let r =
        app.post("/alertmanager/webhook", &[AUTH, json], good.replace("\"fingerprint\":", "\"fingerprint_\":")).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("alerts[0].fingerprint: expected a string"), "{}", r.text());
    let huge = payload(vec![alert(EC2.0, EC2.1, "us-east-1"); 5000]);
    assert!(huge.len() > aws_quota_exporter::increase::http::MAX_BODY);
    let r = app.post("/alertmanager/webhook", &[AUTH, json], huge).await;
    assert_eq!(r.status, 413);
    assert_eq!(app.request("GET", "/alertmanager/webhook", &[AUTH]).await.status, 405);
    assert_eq!(app.request("GET", "/increase-requests?limit=zero", &[AUTH]).await.status, 400);

    assert!(app.sim.increase_requests().is_empty(), "nothing filed");
    assert!(ledger_entries(&app).await.is_empty(), "nothing recorded");
    app.stop().await;
}

#[tokio::test]
async fn the_endpoints_say_so_when_the_receiver_is_off() {
    let app = crate::helpers::spawn_app().await;
    let r = app.post("/alertmanager/webhook", &[], payload(vec![])).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("QUOTA_EXPORTER_INCREASE_RECEIVER=true"), "{}", r.text());
    app.stop().await;
}

#[tokio::test]
async fn twenty_open_requests_in_the_account_stop_filing_in_any_region() {
    use simaws::estate::{Account, Estate, Quota, Region, Service};
    const REGIONS: [&str; 11] = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "ap-southeast-1",
        "ap-southeast-2",
    ];
    // Each quota 95 % used, so that the exporter's own data backs the alert.
    let metric = |c: &str| simaws::estate::UsageMetric::resource_count("EC2", c, "Standard/OnDemand");
    let region = |name: &str| Region {
        name: name.into(),
        services: vec![Service {
            code: "ec2".into(),
            name: "Amazon EC2".into(),
            quotas: ["L-0000000A", "L-0000000B", "L-0000000C"]
                .iter()
                .map(|c| Quota::new(c, c, 10.0).applied(100.0).adjustable().usage(metric(c)))
                .collect(),
        }],
        metrics: ["L-0000000A", "L-0000000B", "L-0000000C"]
            .iter()
            .map(|c| metric(c).series(simaws::estate::Shape::Constant(95.0)))
            .collect(),
        ..Region::default()
    };
    let estate = Estate {
        accounts: vec![Account::new(ACCOUNT, ACCESS_KEY, REGIONS.iter().map(|r| region(r)).collect())],
        organization: None,
    };
    let ledger = TempLedger::new();
    let path = ledger.0.clone();
    let app = spawn_app_with(estate, ACCESS_KEY, move |c| {
        c.regions = REGIONS.iter().map(|r| (*r).to_owned()).collect();
        c.bedrock = false;
        c.forecast = false;
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::Sqlite { path },
            ..IncreaseConfig::default()
        };
    })
    .await;
    app.handle.refresh_all().await;
    let sdk = aws_quota_exporter::aws::static_sdk_config(
        &app.sim.endpoint_url(),
        ACCESS_KEY,
        "x",
        aws_quota_exporter::aws::RetryPolicy::default(),
    )
    .await;
    // Two open requests in each of ten regions, filed by hand: the account's twenty.
    for r in &REGIONS[..10] {
        let aws = aws_quota_exporter::aws::TargetAws::new(
            &sdk,
            r,
            &aws_quota_exporter::aws::ClientParts::new(Arc::default(), 10.0),
        );
        aws.request_increase("ec2", "L-0000000A", 150.0, true).await.expect("filed by hand");
        aws.request_increase("ec2", "L-0000000B", 150.0, true).await.expect("filed by hand");
    }
    let (_, outcomes) = send(&app, vec![alert("ec2", "L-0000000C", "ap-southeast-2")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "account_limit"), "{outcomes:?}");
    assert!(outcomes[0]["detail"].as_str().is_some_and(|d| d.starts_with("20 requests are open in the account")));
    assert_eq!(app.sim.increase_requests().len(), 20);
    app.stop().await;
}

/// The exporter binary against `endpoint` (a simulator in this process), receiver on,
/// filing, with `extra` variables; its address once it listens.
fn exporter_process(endpoint: &str, ledger: &std::path::Path, extra: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
        .env("QUOTA_EXPORTER_REGIONS", "us-east-1")
        .env("QUOTA_EXPORTER_BEDROCK", "false")
        .env("QUOTA_EXPORTER_FORECAST", "false")
        .env("QUOTA_EXPORTER_INCREASE_RECEIVER", "true")
        .env("QUOTA_EXPORTER_INCREASE_DRY_RUN", "false")
        .env("QUOTA_EXPORTER_INCREASE_TOKEN", TOKEN)
        .env("QUOTA_EXPORTER_INCREASE_LEDGER_PATH", ledger)
        .env("QUOTA_EXPORTER_INCREASE_POLL_INTERVAL", "200ms");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let (child, address, _log) = crate::helpers::start_binary(&mut cmd);
    (child, address)
}

/// One HTTP/1.1 exchange; `None` when the connection ends without an answer.
fn exchange(address: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        AUTH.1,
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    Some((status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

async fn ready(address: &str) {
    for _ in 0..600 {
        let address = address.to_owned();
        let up = tokio::task::spawn_blocking(move || exchange(&address, "GET", "/-/ready", ""))
            .await
            .expect("joined")
            .is_some_and(|(s, _)| s == 200);
        if up {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the exporter is not ready within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_between_filing_and_recording_files_nothing_new_after_restart() {
    use std::os::unix::process::ExitStatusExt;
    let sim = simaws::SimAws::start(test_estate()).await.expect("the simulator starts");
    let ledger = TempLedger::new();
    let body = payload(vec![alert(EC2.0, EC2.1, "us-east-1")]);

    let (mut crashing, address) =
        exporter_process(&sim.endpoint_url(), &ledger.0, &[("QUOTA_EXPORTER_INCREASE_FAULT", "crash-after-filing")]);
    ready(&address).await;
    let (a, b) = (address.clone(), body.clone());
    let answer =
        tokio::task::spawn_blocking(move || exchange(&a, "POST", "/alertmanager/webhook", &b)).await.expect("joined");
    assert_eq!(answer, None, "the process died before answering");
    let status = tokio::task::spawn_blocking(move || crashing.wait()).await.expect("joined").expect("exited");
    assert_eq!(status.signal(), Some(6), "aborted by the fault switch: {status}");
    let filed = sim.increase_requests();
    assert_eq!(filed.len(), 1, "AWS took the request before the crash");

    // Restarted without the fault: the intent is reconciled with AWS's history.
    let (mut restarted, address) = exporter_process(&sim.endpoint_url(), &ledger.0, &[]);
    ready(&address).await;
    let mut entry = Value::Null;
    for _ in 0..100 {
        let a = address.clone();
        let (_, listing) = tokio::task::spawn_blocking(move || exchange(&a, "GET", "/increase-requests", ""))
            .await
            .expect("joined")
            .expect("an answer");
        entry = serde_json::from_str::<Value>(&listing).expect("JSON")["entries"][0].clone();
        if entry["state"] == "filed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entry["state"], "filed", "{entry}");
    assert_eq!(entry["request_id"], json!(filed[0].id));
    let (a, b) = (address.clone(), body.clone());
    let (status, answer) = tokio::task::spawn_blocking(move || exchange(&a, "POST", "/alertmanager/webhook", &b))
        .await
        .expect("joined")
        .expect("an answer");
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["outcomes"][0]["reason"], "open_request", "{answer}");
    assert_eq!(sim.increase_requests().len(), 1, "nothing filed twice");
    let _ = restarted.kill();
    let _ = restarted.wait();
}

fn requests_command(ledger: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"))
        .arg("requests")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QUOTA_EXPORTER_INCREASE_LEDGER_PATH", ledger)
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn the_requests_subcommand_lists_the_ledger_and_approves_or_rejects() {
    let (app, ledger) = receiver(|c| c.approval = true).await;
    let (_, outcomes) =
        send(&app, vec![alert(EC2.0, EC2.1, "us-east-1"), alert("lambda", "L-B99A9384", "us-east-1")]).await;
    let ec2 = outcomes[0]["entry_id"].as_str().expect("an entry").to_owned();
    let lambda = outcomes[1]["entry_id"].as_str().expect("an entry").to_owned();

    let listed = requests_command(&ledger.0, &["--open"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let table = String::from_utf8(listed.stdout).expect("utf-8");
    assert!(table.starts_with("CREATED (UTC)"));
    assert_eq!(table.lines().filter(|l| l.contains("awaiting_approval")).count(), 2, "{table}");
    let json = requests_command(&ledger.0, &["--output", "json"]);
    let entries: Vec<Value> = serde_json::from_slice(&json.stdout).expect("a JSON array");
    assert_eq!(entries.len(), 2);

    let approved = requests_command(&ledger.0, &["approve", &ec2]);
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    assert!(String::from_utf8_lossy(&approved.stdout).contains("the receiver files it at its next poll"));
    let rejected = requests_command(&ledger.0, &["reject", &lambda]);
    assert!(rejected.status.success());
    let again = requests_command(&ledger.0, &["reject", &lambda]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        format!("Error: entry {lambda} is rejected, not awaiting approval\n")
    );

    // The receiver files the approval from the command line at its next poll.
    assert!(app.sim.increase_requests().is_empty());
    app.handle.receiver.clone().expect("on").tick(Duration::from_secs(120)).await.expect("ledger ok");
    assert_eq!(app.sim.increase_requests().len(), 1);
    assert_eq!(app.sim.increase_requests()[0].quota_code, EC2.1);
    app.stop().await;

    // A mistyped path is an error, not an empty ledger created on the spot.
    let missing = ledger.0.with_extension("missing.db");
    let listed = requests_command(&missing, &[]);
    assert_eq!(listed.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&listed.stderr),
        format!(
            "Error: no increase ledger at {}: set QUOTA_EXPORTER_INCREASE_LEDGER_PATH to the file the receiver writes\n",
            missing.display()
        )
    );
    assert!(!missing.exists());
}
