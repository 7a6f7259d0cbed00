//! Failover capacity between regions: the pair series the rules join on, start-up
//! refusing a pair whose regions it does not collect, the primary's 7-day peak pinned to
//! the simulated history, the increase path's failover proposals, and
//! `aws-quota-exporter failover` as a person runs it (the demo's seeded gap, JSON,
//! `--from`, `--request`: a dry run by default, filed when filing is on, never twice).

use std::process::Output;

use aws_quota_exporter::config::FailoverPair;
use aws_quota_exporter::config::increase::IncreaseConfig;
use aws_quota_exporter::failover::{Verdict, compare};
use aws_quota_exporter::increase::ledger::QuotaKey;
use aws_quota_exporter::increase::receiver::decision::Failover;
use aws_quota_exporter::increase::receiver::{Reason, Verdict as Outcome};
use simaws::estate::{Account, Estate, Quota, Region, Service, Shape, UsageMetric};

use crate::helpers::{T0, binary, spawn_app, spawn_app_with};
use crate::increase::TempLedger;

const KEY: &str = "AKIAFAILOVERTEST0001";
const ACCOUNT: &str = "666677778888";
const DAY: f64 = 86_400.0;

fn pair(primary: &str, standby: &str) -> FailoverPair {
    FailoverPair { account: None, primary: primary.into(), standby: standby.into() }
}

fn failover(args: &[&str], env: &[(&str, &str)]) -> Output {
    binary(&[&["failover"], args].concat(), env)
}

fn fargate(resource: &str) -> UsageMetric {
    UsageMetric::resource_count("Fargate", resource, "Standard/OnDemand")
}

/// us-east-1 with a usage that falls 3 a day to 600 now and one flat at 200; eu-west-1
/// with the same quotas, limits 500 and 300.
fn estate() -> Estate {
    let start = T0 - 60.0 * DAY;
    let quotas = |falling: f64, flat: f64| Service {
        code: "fargate".into(),
        name: "AWS Fargate".into(),
        quotas: vec![
            Quota::new("L-0000000A", "Falling", falling).adjustable().usage(fargate("falling")),
            Quota::new("L-0000000B", "Flat", flat).adjustable().usage(fargate("flat")),
        ],
    };
    let east = Region {
        name: "us-east-1".into(),
        services: vec![quotas(1000.0, 1000.0)],
        metrics: vec![
            fargate("falling").series(Shape::Linear { anchor: T0, at_anchor: 600.0, per_day: -3.0 }).starting_at(start),
            fargate("flat").series(Shape::Constant(200.0)).starting_at(start),
        ],
        ..Region::default()
    };
    let west = Region { name: "eu-west-1".into(), services: vec![quotas(500.0, 300.0)], ..Region::default() };
    Estate { accounts: vec![Account::new(ACCOUNT, KEY, vec![east, west])], organization: None }
}

#[tokio::test]
async fn the_primarys_peak_is_the_highest_daily_maximum_of_the_last_seven_days() {
    let app = spawn_app_with(estate(), KEY, |c| {
        c.bedrock = false;
        c.failover_pairs = vec![pair("us-east-1", "eu-west-1")];
    })
    .await;
    let m = app.refresh().await;
    assert_eq!(
        m.value("aws_quota_failover_pair_info", &[("cloud_account_id", ACCOUNT)]),
        Some(1.0),
        "the pair, for the account the exporter covers"
    );
    let rows = compare(
        &aws_quota_exporter::check::from_snapshot(&app.handle.store.snapshot()),
        "us-east-1",
        "eu-west-1",
        None,
        1.0,
    );
    // A falling line's daily maximum is its value at midnight; the oldest of the seven
    // days is the highest: 600 + 3 x (days from that midnight to now).
    let oldest_midnight = ((T0 / DAY).floor() - 7.0) * DAY;
    let peak = 600.0 + 3.0 * (T0 - oldest_midnight) / DAY;
    let falling = rows.iter().find(|r| r.quota_code == "L-0000000A").expect("compared");
    let got = falling.primary_peak_7d.expect("a peak from the daily history");
    assert!((got - peak).abs() < 1e-6, "peak {got}, the history says {peak}");
    assert!(falling.primary_usage < 600.5, "usage now is the line's value now: {}", falling.primary_usage);
    assert_eq!(falling.standby_limit, Some(500.0));
    assert!((falling.shortfall.expect("short") - (peak - 500.0)).abs() < 1e-6);
    assert_eq!(falling.verdict, Verdict::Short, "600 now fits in 500? no; the peak of {peak} even less");
    let flat = rows.iter().find(|r| r.quota_code == "L-0000000B").expect("compared");
    assert_eq!((flat.primary_peak_7d, flat.need, flat.verdict), (Some(200.0), 200.0, Verdict::Carries));
    app.stop().await;
}

#[test]
fn start_up_refuses_a_pair_whose_region_is_not_collected() {
    let out = binary(
        &["--demo"],
        &[
            ("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0"),
            ("QUOTA_EXPORTER_REGIONS", "us-east-1,eu-west-1"),
            ("QUOTA_EXPORTER_FAILOVER_PAIRS", "us-east-1=us-west-2"),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "QUOTA_EXPORTER_FAILOVER_PAIRS pairs us-east-1=us-west-2, but us-west-2 is not collected: add it to \
             QUOTA_EXPORTER_REGIONS (now us-east-1,eu-west-1)"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failover_proposal_is_judged_on_the_exporters_own_data_and_filed_within_the_caps() {
    let (app, _ledger) = crate::increase::receiver(|_| {}).await;
    let receiver = app.handle.receiver.clone().expect("on");
    let m = app.refresh().await;
    let code = [("service_code", "ec2"), ("quota_code", "L-1216C47A")];
    let at = |region: &str, name: &str| {
        let mut labels = vec![("cloud_region", region)];
        labels.extend(code);
        m.value(name, &labels)
    };
    let usage = at("us-east-1", "aws_quota_usage").expect("usage in the primary");
    let limit = at("eu-west-1", "aws_quota_limit").expect("a limit in the standby");
    let key = |region: &str| QuotaKey {
        account: crate::estate::ACCOUNT.into(),
        region: region.into(),
        service_code: "ec2".into(),
        quota_code: "L-1216C47A".into(),
    };
    let calls = app.sim.increase_requests().len();
    // A coverage at which the standby carries the primary: nothing is asked, whatever
    // the caller thinks.
    let carried = Failover { primary_region: "us-east-1".into(), coverage: limit / usage };
    let o = receiver.propose_failover(key("eu-west-1"), &carried).await;
    assert_eq!((o.outcome, o.reason), (Outcome::Skipped, Some(Reason::NotCorroborated)), "{}", o.detail);
    // Ten times the primary's usage: a gap, asked for within the policy's caps.
    let o = receiver
        .propose_failover(key("eu-west-1"), &Failover { primary_region: "us-east-1".into(), coverage: 10.0 })
        .await;
    assert_eq!(o.outcome, Outcome::Filed, "{}", o.detail);
    let cap = limit * IncreaseConfig::default().max_factor;
    assert_eq!(o.desired_value, Some((usage * 10.0).min(cap).ceil()), "{}", o.detail);
    assert!(o.detail.starts_with("filed: failover from us-east-1: the standby's limit"), "{}", o.detail);
    assert_eq!(app.sim.increase_requests().len(), calls + 1);
    // The same again: the ledger's open entry stops it.
    let o = receiver
        .propose_failover(key("eu-west-1"), &Failover { primary_region: "us-east-1".into(), coverage: 10.0 })
        .await;
    assert_eq!((o.outcome, o.reason), (Outcome::Skipped, Some(Reason::OpenRequest)), "{}", o.detail);
    assert_eq!(app.sim.increase_requests().len(), calls + 1, "never twice");
    // A primary region the exporter does not collect is no evidence.
    let o = receiver
        .propose_failover(key("eu-west-1"), &Failover { primary_region: "ap-south-1".into(), coverage: 1.0 })
        .await;
    assert_eq!(o.reason, Some(Reason::UnknownQuota), "{}", o.detail);
    app.stop().await;
}

#[test]
fn against_the_demo_the_report_lists_the_seeded_gap_and_request_files_it_once() {
    let ledger = TempLedger::new();
    let path = ledger.0.to_str().expect("a UTF-8 path");
    let args = ["--demo", "--primary", "us-east-1", "--standby", "eu-west-1"];
    let out = failover(&args, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).expect("utf-8");
    let gap = table.lines().find(|l| l.starts_with("ec2/L-DB2E81BA")).expect("the G and VT gap");
    let cells: Vec<&str> = gap.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    // us-east-1 runs 48 G vCPUs (its peak too); eu-west-1 may run 32 and runs 24.
    assert_eq!(cells[2..], ["111122223333", "48", "48", "48", "32", "24", "16", "SHORT"], "{table}");
    assert_eq!(table.lines().filter(|l| l.ends_with("SHORT")).count(), 1, "{table}");

    let json = failover(&[&args[..], &["--output", "json"]].concat(), &[]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["carries"], false);
    let g = v["quotas"].as_array().expect("rows").iter().find(|r| r["quota_code"] == "L-DB2E81BA").expect("G");
    assert_eq!(
        (g["primary_peak_7d"].as_f64(), g["standby_limit"].as_f64(), g["shortfall"].as_f64()),
        (Some(48.0), Some(32.0), Some(16.0))
    );

    // --request: a dry run by default, recorded in the ledger.
    let env = [("QUOTA_EXPORTER_INCREASE_LEDGER_PATH", path)];
    let request = [&args[..], &["--request", "--output", "json"]].concat();
    let v: serde_json::Value = serde_json::from_slice(&failover(&request, &env).stdout).expect("JSON");
    let r = &v["requests"][0];
    assert_eq!((r["region"].as_str(), r["outcome"]["outcome"].as_str()), (Some("eu-west-1"), Some("dry_run")), "{v}");
    assert_eq!(r["outcome"]["desired_value"], 48.0, "{v}");
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(1), "only the gap: {v}");

    // Filing on: a dry run's entry does not hold back live filing (its cooldown is
    // the dry run's own); filed in the simulated estate, and not again on a second run.
    let env = [("QUOTA_EXPORTER_INCREASE_LEDGER_PATH", path), ("QUOTA_EXPORTER_INCREASE_DRY_RUN", "false")];
    let v: serde_json::Value = serde_json::from_slice(&failover(&request, &env).stdout).expect("JSON");
    let o = &v["requests"][0]["outcome"];
    assert_eq!(o["outcome"], "filed", "{v}");
    assert!(o["request_id"].as_str().is_some_and(|id| !id.is_empty()), "AWS's request id: {v}");
    let v: serde_json::Value = serde_json::from_slice(&failover(&request, &env).stdout).expect("JSON");
    let o = &v["requests"][0]["outcome"];
    assert_eq!((o["outcome"].as_str(), o["reason"].as_str()), (Some("skipped"), Some("open_request")), "{v}");
    let listed = binary(&["requests", "--output", "json"], &[("QUOTA_EXPORTER_INCREASE_LEDGER_PATH", path)]);
    let entries: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let states: Vec<(&str, &str)> = entries
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| Some((e["alertname"].as_str()?, e["state"].as_str()?)))
        .collect();
    assert_eq!(
        states,
        [
            ("aws-quota-exporter failover", "skipped"),
            ("aws-quota-exporter failover", "filed"),
            ("aws-quota-exporter failover", "dry_run")
        ],
        "newest first: {entries}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_running_exporter_each_figure_is_the_exporters_and_bad_input_exits_2() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let url = format!("{}/metrics", app.address);
    let out = failover(&["--primary", "us-east-1", "--standby", "eu-west-1", "--from", &url, "--output", "json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = v["quotas"].as_array().expect("rows");
    assert!(!rows.is_empty(), "{v}");
    let mut short = false;
    for r in rows {
        let (s, q) = (r["service_code"].as_str().expect("s"), r["quota_code"].as_str().expect("q"));
        assert_eq!(r["primary_peak_7d"], serde_json::Value::Null, "a /metrics text has no peak");
        assert_eq!(r["primary_usage"].as_f64(), m.quota("aws_quota_usage", "us-east-1", s, q), "{r}");
        assert_eq!(r["need"], r["primary_usage"], "{r}");
        assert_eq!(r["standby_limit"].as_f64(), m.quota("aws_quota_limit", "eu-west-1", s, q), "{r}");
        let over = r["standby_limit"].as_f64().is_some_and(|l| r["need"].as_f64().expect("need") > l);
        assert_eq!(r["verdict"] == "short", over, "{r}");
        short |= over;
    }
    assert_eq!(out.status.code(), Some(if short { 1 } else { 0 }));

    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let out = failover(&["--primary", "us-east-1", "--standby", "eu-west-1", "--from", &url, "--request"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--request acts only on the exporter's own reading of AWS"), "{}", stderr(&out));
    let out = failover(&["--primary", "us-east-1", "--standby", "ap-south-1", "--from", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no quotas in ap-south-1 in the data"), "{}", stderr(&out));
    let out = failover(&["--primary", "us-east-1", "--standby", "us-east-1", "--from", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("a standby is another region"), "{}", stderr(&out));
    let out = failover(&["--primary", "us-east-1", "--standby", "eu-west-1", "--coverage", "0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--coverage 0 is not a share"), "{}", stderr(&out));
    app.stop().await;
}
