//! The whole `/metrics` output for the test estate, in both formats, against committed
//! golden files. `UPDATE_GOLDEN=1 cargo test --test api golden` rewrites them; the
//! Makefile lints them with `promtool check metrics` and an OpenMetrics parser.

use std::path::PathBuf;

use crate::helpers::spawn_app_with;

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2";

/// Durations are the only values that change from run to run; they are pinned to 0.
fn mask(body: &str) -> String {
    body.lines()
        .map(|l| match l.split_once("} ") {
            Some((series, _)) if l.starts_with("aws_quota_exporter_refresh_duration_seconds{") => {
                format!("{series}}} 0")
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("the golden file is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run UPDATE_GOLDEN=1 cargo test --test api golden", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!(
            "{name} differs from the golden file at line {:?}:\n  golden: {:?}\n  actual: {:?}\n\
             (UPDATE_GOLDEN=1 cargo test --test api golden rewrites it after a deliberate change)",
            first.map(|i| i + 1),
            first.and_then(|i| expected.lines().nth(i)),
            first.and_then(|i| actual.lines().nth(i)),
        );
    }
}

#[tokio::test]
async fn the_metrics_output_matches_the_golden_files() {
    // An overrides file: a glob's thresholds and a mute, and an entry that selects nothing.
    let overrides = std::env::temp_dir().join(format!("aqe-golden-overrides-{}.yaml", std::process::id()));
    std::fs::write(
        &overrides,
        r#"overrides:
  - service: lambda
    quota: "L-B99A*"
    info: 50
    warning: 60
    critical: 75
  - service: ec2
    quota: L-0263D0A3
    mute_until: 2099-01-01
    reason: released nightly
  - service: ec2
    quota: L-NOSUCH
    critical: 95
"#,
    )
    .expect("written");
    let path = overrides.clone();
    let app = spawn_app_with(crate::estate::test_estate(), crate::estate::ACCESS_KEY, move |c| {
        c.alert_overrides = Some(path);
        // The adaptive cadence as shipped, and a budget.
        c.usage_slowest_interval = std::time::Duration::from_secs(3600);
        c.cloudwatch_budget = Some(5.0);
        c.failover_pairs = vec![aws_quota_exporter::config::FailoverPair {
            account: None,
            primary: "us-east-1".into(),
            standby: "eu-west-1".into(),
        }];
    })
    .await;
    app.handle.refresh_all().await;
    // An hour more of Bedrock minutes: enough of Haiku's throttled ones for an onset.
    app.sim.clock().advance(3600.0);
    app.handle.refresh_usage().await;
    check("metrics.prom", &mask(&app.get("/metrics").await.text()));
    check("metrics.openmetrics", &mask(&app.request("GET", "/metrics", &[("accept", PROMETHEUS_ACCEPT)]).await.text()));
    let _ = std::fs::remove_file(&overrides);
}
