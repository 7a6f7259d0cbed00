//! The alert overrides file: what it publishes for the rules, a reload that takes a new
//! threshold, a bad edit that keeps the last good file and says so, start-up refusing a
//! bad file, and the `quotas` report's effective tiers.

use crate::estate::{ACCESS_KEY, ACCOUNT, test_estate};
use crate::helpers::{TempFile, binary, spawn_app_with};

const FIRST: &str = r#"overrides:
  - region: "us-*"
    service: ec2
    quota: "L-1216C47A"
    critical: 95
  - service: ec2
    quota: L-0263D0A3
    mute_until: 2099-01-01
    reason: released nightly
"#;

#[tokio::test]
async fn the_file_publishes_per_quota_values_and_a_bad_edit_keeps_the_last_good_one() {
    let file = TempFile::new(FIRST);
    let path = file.0.clone();
    let app = spawn_app_with(test_estate(), ACCESS_KEY, move |c| c.alert_overrides = Some(path)).await;
    let m = app.refresh().await;
    let threshold = |m: &crate::helpers::Exposition, region: &str, tier: &str| {
        m.value("aws_quota_alert_threshold", &[("cloud_region", region), ("quota_code", "L-1216C47A"), ("tier", tier)])
    };
    // The glob selects us-east-1's quota only; only the tier the entry sets is published.
    assert_eq!(threshold(&m, "us-east-1", "critical"), Some(0.95));
    assert_eq!(threshold(&m, "eu-west-1", "critical"), None);
    assert_eq!(threshold(&m, "us-east-1", "warning"), None);
    let muted = m.find("aws_quota_alert_muted_until_timestamp_seconds", &[("quota_code", "L-0263D0A3")]);
    assert_eq!(muted.len(), 1, "the test estate lists Elastic IPs in us-east-1 only");
    assert_eq!((muted[0].value, muted[0].labels["reason"].as_str()), (4_070_908_800.0, "released nightly"));
    assert_eq!(m.count("aws_quota_alert_threshold", &[]), 1, "nothing for quotas left at the defaults");
    assert_eq!(m.value("aws_quota_exporter_alert_override_quotas", &[("line", "2")]), Some(1.0));
    assert_eq!(m.value("aws_quota_exporter_alert_override_quotas", &[("line", "6")]), Some(1.0));

    // One line changed: the next render has the new threshold.
    let live = app.handle.overrides.clone().expect("configured");
    file.write(&FIRST.replace("critical: 95", "critical: 85"));
    assert!(live.changed());
    assert!(live.reload());
    app.handle.store.touch();
    let m = app.refresh().await;
    assert_eq!(threshold(&m, "us-east-1", "critical"), Some(0.85));
    assert_eq!(m.value("aws_quota_exporter_alert_overrides_reload_success", &[]), Some(1.0));

    // A bad edit: refused with its line, the last good file stays, the self-metric says so.
    file.write(&FIRST.replace("critical: 95", "critical: 150"));
    live.reload();
    assert_eq!(
        live.error().as_deref(),
        Some(format!("{}: line 2: critical 150 is not a percent above 0 and at most 100", file.0.display()).as_str())
    );
    let m = app.refresh().await;
    assert_eq!(threshold(&m, "us-east-1", "critical"), Some(0.85), "the last good file");
    assert_eq!(m.value("aws_quota_exporter_alert_overrides_reload_success", &[]), Some(0.0));
    // A new mute that has already ended is a bad edit too; one that was in the file is not.
    file.write(&FIRST.replace("2099-01-01", "2020-01-01"));
    live.reload();
    assert!(live.error().is_some_and(|e| e.contains("line 6: mute_until 2020-01-01 00:00:00 has already passed")));
    file.write(FIRST);
    live.reload();
    assert_eq!(live.error(), None);
    app.stop().await;
}

#[test]
fn start_up_refuses_a_bad_file_naming_its_line() {
    let file = TempFile::new("overrides:\n  - service: ec2\n    quota: L-1216C47A\n    colour: red\n");
    let out = binary(
        &["--demo"],
        &[("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0"), ("QUOTA_EXPORTER_ALERT_OVERRIDES", file.path())],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("QUOTA_EXPORTER_ALERT_OVERRIDES:"), "{stderr}");
    assert!(stderr.contains("unknown field `colour`") && stderr.contains("line 4"), "{stderr}");
}

#[tokio::test]
async fn the_quotas_report_shows_each_quotas_effective_tiers_and_mute() {
    let app = spawn_app_with(test_estate(), ACCESS_KEY, |_| {}).await;
    app.refresh().await;
    let mut rows = aws_quota_exporter::report::rows(&app.handle.store.snapshot(), "ec2");
    let overrides = aws_quota_exporter::overrides::Overrides::parse(FIRST, "f", 1.8e9, None).expect("valid");
    aws_quota_exporter::report::apply_overrides(&mut rows, &overrides, 1.8e9);
    let row = |region: &str, code: &str| {
        rows.iter().find(|r| r.region == region && r.quota_code == code && r.account_id == ACCOUNT).expect(code).clone()
    };
    assert_eq!(row("us-east-1", "L-1216C47A").alert_tiers, [70.0, 80.0, 95.0]);
    assert_eq!(row("eu-west-1", "L-1216C47A").alert_tiers, [70.0, 80.0, 90.0]);
    let eip = row("us-east-1", "L-0263D0A3");
    assert_eq!((eip.muted_until, eip.muted_reason.as_deref()), (Some(4_070_908_800.0), Some("released nightly")));
    let table = aws_quota_exporter::report::table(&rows);
    assert!(table.contains("ALERT AT % (INFO/WARNING/CRITICAL)"), "{table}");
    assert!(table.contains("70/80/95"), "{table}");
    assert!(table.contains("70/80/90, muted until 2099-01-01 00:00:00 (released nightly)"), "{table}");
    app.stop().await;
}

#[test]
fn the_shipped_example_file_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/alert-overrides.yaml");
    let text = std::fs::read_to_string(path).expect("the example");
    // Judged at the tests' "now" (2026), before its mute ends.
    let o = aws_quota_exporter::overrides::Overrides::parse(&text, path, crate::helpers::T0, None).expect("valid");
    assert_eq!(o.entries.len(), 3);
    let lambda = o.effective(["111122223333", "us-east-1", "lambda", "L-B99A9384", ""], crate::helpers::T0);
    assert_eq!(lambda.percents(), [50.0, 60.0, 75.0]);
}
