//! The `quotas` subcommand: the same collectors, one refresh, a table or JSON.

use std::sync::Arc;
use std::time::Duration;

use aws_quota_exporter::aws::{RetryPolicy, static_sdk_config};
use aws_quota_exporter::config::Config;
use aws_quota_exporter::report;
use aws_quota_exporter::startup::{Settings, collect_once};
use simaws::{SimAws, SimClock};

use crate::estate::{ACCESS_KEY, test_estate};
use crate::golden::check;
use crate::helpers::{SimTime, T0};

/// One refresh of the test estate, limited to one service, as the subcommand does it.
async fn snapshot(service: &str) -> aws_quota_exporter::snapshot::Snapshot {
    let sim = SimAws::start_with(test_estate(), SimClock::manual(T0), "127.0.0.1:0").await.expect("simulator");
    let retries = RetryPolicy { max_attempts: 1, initial_backoff: Duration::from_millis(1), ..RetryPolicy::default() };
    let sdk_config = static_sdk_config(&sim.endpoint_url(), ACCESS_KEY, "secret", retries).await;
    let config = Config {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        services: Some(vec![service.into()]),
        bedrock: service == "bedrock",
        service_quotas_rate: 1000.0,
        ..Config::default()
    };
    let settings =
        Settings { config, sdk_config, clock: Arc::new(SimTime(sim.clock().clone())), schedule: false, otlp: None };
    collect_once(settings).await.expect("collects")
}

#[tokio::test]
async fn the_ec2_table_lists_every_quota_with_usage_and_utilisation() {
    let rows = report::rows(&snapshot("ec2").await, "ec2");
    assert_eq!(rows.len(), 8, "seven in us-east-1, one in eu-west-1");
    check("quotas-ec2.txt", &report::table(&rows));
    let standard =
        rows.iter().find(|r| r.quota_code == "L-1216C47A" && r.region == "us-east-1").expect("the vCPU quota");
    assert_eq!(
        (standard.limit, standard.default_limit, standard.usage, standard.utilization),
        (Some(640.0), Some(5.0), Some(544.0), Some(0.85))
    );
    assert_eq!(standard.usage_source, "cloudwatch");
    // AWS publishes no usage metric for Elastic IPs: the table says so.
    let ips = rows.iter().find(|r| r.quota_code == "L-0263D0A3").expect("the Elastic IP quota");
    assert_eq!((ips.usage, ips.usage_source), (None, "none"));
    let table = report::table(&rows);
    let line = table.lines().find(|l| l.starts_with("L-0263D0A3")).expect("its line");
    assert!(line.contains("no usage source"), "{line}");
}

#[tokio::test]
async fn the_bedrock_report_groups_quotas_by_model_family_with_their_combined_usage() {
    let rows = report::rows(&snapshot("bedrock").await, "bedrock");
    let families: Vec<&str> = rows.iter().filter_map(|r| r.family.as_deref()).collect();
    assert_eq!(families, ["Anthropic"; 5], "all five quotas of the test estate are Anthropic's");
    let haiku_tpm = rows.iter().find(|r| r.quota_code == "L-DCADBC78").expect("Haiku's TPM quota");
    assert_eq!((haiku_tpm.usage, haiku_tpm.utilization), (Some(600_000.0), Some(0.6)));
    let json = report::json(&rows);
    check("quotas-bedrock.json", &json);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(parsed.as_array().map(Vec::len), Some(5));
    assert_eq!(parsed[0]["family"], "Anthropic");
    check("quotas-bedrock.txt", &report::table(&rows));
}

#[test]
fn the_binary_prints_the_demo_bedrock_quotas_as_json_grouped_by_family() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"))
        .args(["quotas", "--service", "bedrock", "--demo", "--region", "us-east-1", "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout, logs on stderr");
    let mut families: Vec<&str> =
        rows.as_array().expect("an array").iter().filter_map(|r| r["family"].as_str()).collect();
    families.dedup();
    for family in ["Amazon", "Anthropic", "Cohere", "Meta", "Mistral AI", "Account-wide"] {
        assert!(families.contains(&family), "{family} missing from {families:?}");
    }
}

#[test]
fn the_subcommand_needs_a_service() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"))
        .args(["quotas", "--demo"])
        .env_clear()
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Error: quotas needs --service, e.g. quotas --service ec2\n");
}
