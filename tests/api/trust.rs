//! The receiver under attack and faults: it acts only on evidence, knows its callers,
//! takes bounded payloads, files nothing twice when an answer is lost, and keeps the
//! exporter serving when its ledger cannot be opened.

use std::time::Duration;

use aws_quota_exporter::config::increase::{Credentials, IncreaseConfig, LedgerConfig, Secret, WriteRole};
use serde_json::{Value, json};
use simaws::Fault;

use crate::estate::{ACCESS_KEY, ACCOUNT, ec2_standard, test_estate};
use crate::helpers::spawn_app_with;
use crate::increase::{
    AUTH, EC2, TOKEN, TempLedger, alert, expected_ask, ledger_entries, outcome, payload, receiver, send, set_usage,
};

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test]
async fn a_forged_alert_for_a_quota_at_ten_percent_files_nothing_and_the_same_quota_at_ninety_five_percent_files() {
    let (app, _ledger) = receiver(|_| {}).await;
    // The quota at 10 % of its limit of 640, as the exporter reads it from CloudWatch.
    set_usage(&app, "us-east-1", &ec2_standard(), 64.0);
    app.handle.refresh_usage().await;
    assert_eq!(app.metrics().await.quota("aws_quota_utilization_ratio", "us-east-1", EC2.0, EC2.1), Some(0.1));

    // Anyone who can post to Alertmanager can make this alert.
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("skipped", "not_corroborated")), "{outcomes:?}");
    let detail = outcomes[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("utilisation 10.0 % (usage 64 of 640)"), "{detail}");
    assert!(app.sim.increase_requests().is_empty(), "nothing filed");
    assert_eq!(app.sim.calls().count("RequestServiceQuotaIncrease"), 0);

    // The same quota at 95 %: the exporter's own data backs the alert.
    set_usage(&app, "us-east-1", &ec2_standard(), 608.0);
    app.handle.refresh_usage().await;
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("filed", "")), "{outcomes:?}");
    assert!(
        outcomes[0]["detail"].as_str().is_some_and(|d| d.contains("the exporter's own utilisation is 95.0 %")),
        "{outcomes:?}"
    );
    assert_eq!(app.sim.increase_requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn repeated_wrong_credentials_from_one_client_are_answered_429_for_a_while_and_right_ones_still_pass() {
    let (app, _ledger) = receiver(|_| {}).await;
    let body = payload(vec![alert(EC2.0, EC2.1, "us-east-1")]);
    let wrong = ("authorization", "Bearer guessing-the-token-0123456789abcdef");
    for attempt in 1..=aws_quota_exporter::increase::http::MAX_FAILURES {
        let r = app.post("/alertmanager/webhook", &[wrong, JSON], body.clone()).await;
        assert_eq!(r.status, 401, "attempt {attempt}");
    }
    // Locked out: wrong credentials are refused without a look for now, and told when
    // to come back.
    let r = app.post("/alertmanager/webhook", &[wrong, JSON], body.clone()).await;
    assert_eq!(r.status, 429, "{}", r.text());
    let retry_after: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("a Retry-After header");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(app.request("GET", "/increase-requests", &[wrong]).await.status, 429, "every endpoint");
    assert!(app.sim.increase_requests().is_empty());
    // Whoever shares the address with Alertmanager cannot lock Alertmanager out.
    let r = app.post("/alertmanager/webhook", &[AUTH, JSON], body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    app.stop().await;
}

#[tokio::test]
async fn the_webhook_takes_only_json_and_refuses_requests_from_web_pages() {
    let (app, _ledger) = receiver(|_| {}).await;
    let body = payload(vec![alert(EC2.0, EC2.1, "us-east-1")]);
    let r = app.post("/alertmanager/webhook", &[AUTH, ("content-type", "text/plain")], body.clone()).await;
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(r.text().contains("Content-Type: application/json"), "{}", r.text());
    // A page on any site can make a browser post a form here; a browser says where from.
    let page = ("origin", "https://attacker.example");
    let r = app.post("/alertmanager/webhook", &[AUTH, JSON, page], body.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("requests from web pages (Origin: https://attacker.example) are refused"));
    assert_eq!(app.request("GET", "/increase-requests", &[AUTH, page]).await.status, 403);
    assert!(ledger_entries(&app).await.is_empty(), "nothing recorded");
    // With charset, as some clients send it, JSON is JSON.
    let r = app.post("/alertmanager/webhook", &[AUTH, ("content-type", "application/json; charset=utf-8")], body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    app.stop().await;
}

#[tokio::test]
async fn more_than_a_thousand_alerts_or_a_label_value_over_a_kibibyte_is_refused_whole() {
    let (app, _ledger) = receiver(|_| {}).await;
    let many = payload(vec![alert("lambda", "L-NOTAQUOTA", "us-east-1"); 1001]);
    assert!(many.len() < aws_quota_exporter::increase::http::MAX_BODY, "under the byte limit");
    let r = app.post("/alertmanager/webhook", &[AUTH, JSON], many).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("alerts: 1001 alerts"), "{}", r.text());
    let mut long = alert(EC2.0, EC2.1, "us-east-1");
    long["labels"]["note"] = json!("x".repeat(1025));
    let r = app.post("/alertmanager/webhook", &[AUTH, JSON], payload(vec![long])).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("alerts[0].labels.note: 1025 bytes"), "{}", r.text());
    assert!(ledger_entries(&app).await.is_empty(), "nothing recorded");
    assert!(app.sim.increase_requests().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_request_aws_carried_out_but_answered_with_a_server_error_is_recorded_as_filed_once() {
    let (app, _ledger) = receiver(|_| {}).await;
    let ask = expected_ask(&app, EC2, "us-east-1").await;
    // AWS creates the request, then the answer is lost in a 500.
    app.sim.inject(Fault::server_error().operation("RequestServiceQuotaIncrease").committed().times(1));
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("filed", "")), "{outcomes:?}");
    let filed = app.sim.increase_requests();
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].desired, ask);
    assert_eq!(app.sim.calls().count("RequestServiceQuotaIncrease"), 1, "never sent twice");
    assert_eq!(outcomes[0]["request_id"], json!(filed[0].id), "our own request, found in AWS's history");
    let entries = ledger_entries(&app).await;
    assert_eq!((entries[0]["state"].as_str(), entries[0]["request_id"].as_str()), (Some("filed"), Some(&*filed[0].id)));
    // Alertmanager sends it again: the request is followed, not filed again.
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "open_request"));
    assert_eq!(app.sim.increase_requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn resource_already_exists_while_filing_is_settled_against_aws_history_not_recorded_as_a_failure() {
    let (app, _ledger) = receiver(|_| {}).await;
    // What the SDK's own retry of a lost answer used to meet: AWS has the request.
    app.sim.inject(
        Fault::error(400, "ResourceAlreadyExistsException")
            .operation("RequestServiceQuotaIncrease")
            .committed()
            .times(1),
    );
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("filed", "")), "{outcomes:?}");
    let filed = app.sim.increase_requests();
    assert_eq!(filed.len(), 1);
    assert_eq!(outcomes[0]["request_id"], json!(filed[0].id));
    let failed = app.metrics().await.value("aws_quota_increase_requests_total", &[("outcome", "failed")]);
    assert_eq!(failed, None, "no failure is recorded");
    app.stop().await;
}

#[tokio::test]
async fn support_case_allowed_goes_to_aws_as_configured() {
    let (app, _ledger) = receiver(|c| c.support_case = false).await;
    send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    let filed = app.sim.increase_requests();
    assert_eq!(filed.len(), 1);
    assert!(!filed[0].support_case_allowed, "SupportCaseAllowed=false reached AWS");
    app.stop().await;
    let (app, _ledger) = receiver(|_| {}).await;
    send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert!(app.sim.increase_requests()[0].support_case_allowed, "AWS's default, said out loud");
    app.stop().await;
}

#[tokio::test]
async fn filing_goes_through_the_write_role_and_collection_does_not() {
    const ROLE: &str = "arn:aws:iam::123456789012:role/quota-increases";
    let mut estate = test_estate();
    estate.account_mut(ACCOUNT).expect("the account").roles =
        vec![simaws::estate::Role::new(ROLE, Some("exporter-increases"))];
    let ledger = TempLedger::new();
    let path = ledger.0.clone();
    let app = spawn_app_with(estate, ACCESS_KEY, move |c| {
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::Sqlite { path },
            role: Some(WriteRole { arn: ROLE.into(), external_id: Some("exporter-increases".into()) }),
            ..IncreaseConfig::default()
        };
    })
    .await;
    app.handle.refresh_all().await;
    let (_, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""), "{outcomes:?}");
    let calls = app.sim.calls().0;
    let by = |op: &str| calls.iter().filter(|c| c.operation == op).map(|c| c.principal.clone()).collect::<Vec<_>>();
    assert!(!by("AssumeRole").is_empty(), "the receiver assumed its role");
    assert_eq!(by("RequestServiceQuotaIncrease"), vec![Some(ROLE.to_owned())], "filed as the write role");
    assert!(by("GetServiceQuota").iter().all(|p| p.as_deref() == Some(ROLE)), "its checks too");
    assert!(by("ListServiceQuotas").iter().all(Option::is_none), "collection keeps the exporter's own credentials");
    assert_eq!(app.sim.increase_requests()[0].requester, ROLE);
    app.stop().await;
}

#[tokio::test]
async fn a_ledger_that_cannot_be_opened_leaves_metrics_serving_and_the_receiver_answering_503_until_it_opens() {
    let dir =
        std::env::temp_dir().join(format!("aqe-late-ledger-{}", aws_quota_exporter::increase::ledger::new_id(0.0)));
    let path = dir.join("ledger.db");
    let ledger_path = path.clone();
    let app = spawn_app_with(test_estate(), ACCESS_KEY, move |c| {
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::Sqlite { path: ledger_path },
            ..IncreaseConfig::default()
        };
    })
    .await;
    // The exporter started and collects; the ledger's directory does not exist.
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", EC2.0, EC2.1), Some(640.0));
    assert_eq!(m.value("aws_quota_increase_ledger_available", &[]), Some(0.0));
    let r = app.post("/alertmanager/webhook", &[AUTH, JSON], payload(vec![alert(EC2.0, EC2.1, "us-east-1")])).await;
    assert_eq!(r.status, 503, "Alertmanager will send it again: {}", r.text());
    assert!(r.text().contains("cannot open"), "{}", r.text());
    assert!(app.sim.increase_requests().is_empty());

    // Once the directory exists, the next try (after its backoff) opens the ledger.
    std::fs::create_dir_all(&dir).expect("the directory");
    app.sim.clock().advance(2.0);
    let (status, outcomes) = send(&app, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!((status, outcome(&outcomes[0])), (200, ("filed", "")), "{outcomes:?}");
    let m = app.refresh().await;
    assert_eq!(m.value("aws_quota_increase_ledger_available", &[]), Some(1.0));
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn dry_run_decisions_do_not_hold_back_a_receiver_that_files_on_the_same_ledger() {
    let ledger = TempLedger::new();
    let start = |dry_run: bool| {
        let path = ledger.0.clone();
        spawn_app_with(test_estate(), ACCESS_KEY, move |c| {
            c.increase = IncreaseConfig {
                receiver: true,
                dry_run,
                credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
                ledger: LedgerConfig::Sqlite { path },
                daily_max: 1,
                ..IncreaseConfig::default()
            };
        })
    };
    // A dry run uses the day's one request and starts a cooldown, in dry-run terms.
    let trial = start(true).await;
    trial.handle.refresh_all().await;
    let (_, outcomes) = send(&trial, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("dry_run", ""));
    let (_, outcomes) = send(&trial, vec![alert("lambda", "L-B99A9384", "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("skipped", "daily_maximum"), "the dry run's own daily maximum");
    trial.stop().await;

    // Live on the same ledger: neither the dry run's cooldown nor its count apply.
    let live = start(false).await;
    live.handle.refresh_all().await;
    let (_, outcomes) = send(&live, vec![alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(outcome(&outcomes[0]), ("filed", ""), "{outcomes:?}");
    assert_eq!(live.sim.increase_requests().len(), 1);
    let entries = ledger_entries(&live).await;
    let modes: Vec<(&str, bool)> =
        entries.iter().map(|e| (e["state"].as_str().unwrap_or_default(), e["dry_run"] == Value::Bool(true))).collect();
    assert!(modes.contains(&("dry_run", true)) && modes.contains(&("filed", false)), "{modes:?}");
    live.stop().await;
}

#[tokio::test]
async fn closed_entries_past_the_retention_are_purged_and_open_entries_stay() {
    let (app, _ledger) = receiver(|c| c.retention = Duration::from_secs(86_400)).await;
    // AWS takes its time over this request: it stays open.
    app.sim.with_estate(|e| {
        let review = &mut e.account_mut(ACCOUNT).expect("account").increase_review;
        (review.case_after, review.decision_after) = (1e9, 2e9);
    });
    // A skipped decision, and an open request.
    let mut other = alert(EC2.0, EC2.1, "us-east-1");
    other["labels"]["alertname"] = json!("NotOurs");
    send(&app, vec![other, alert(EC2.0, EC2.1, "us-east-1")]).await;
    assert_eq!(ledger_entries(&app).await.len(), 2);
    let receiver = app.handle.receiver.clone().expect("on");
    // Two days on, past the retention.
    app.sim.clock().advance(2.0 * 86_400.0);
    receiver.tick(Duration::from_secs(120)).await.expect("ledger ok");
    let entries = ledger_entries(&app).await;
    let states: Vec<&str> = entries.iter().filter_map(|e| e["state"].as_str()).collect();
    assert_eq!(states, ["filed"], "the skipped entry is gone, the open one stays");
    app.stop().await;
}
