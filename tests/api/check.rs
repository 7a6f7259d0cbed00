//! `aws-quota-exporter check`, the deployment gate, as CI runs it: the binary, a needs
//! file, and either the demo estate through the collectors or a running exporter's
//! `/metrics` (then no AWS call at all). Exit 0 fits, 1 exceeds, 2 cannot assess.

use std::process::Output;

use crate::helpers::{TempFile, binary, spawn_app};

fn check(args: &[&str]) -> Output {
    check_with(args, &[])
}

fn check_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    binary(&[&["check"], args].concat(), env)
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn against_the_demo_the_example_that_fits_exits_0_and_the_other_exits_1_with_its_arithmetic() {
    let fits = check(&["--demo", "--needs", &example("needs-fits.yaml")]);
    assert_eq!(fits.status.code(), Some(0), "{}", String::from_utf8_lossy(&fits.stderr));
    let table = String::from_utf8(fits.stdout).expect("utf-8");
    assert_eq!(table.lines().filter(|l| l.ends_with("fits")).count(), 2, "{table}");

    let exceeds = check(&["--demo", "--needs", &example("needs-exceeds.yaml")]);
    assert_eq!(exceeds.status.code(), Some(1), "{}", String::from_utf8_lossy(&exceeds.stderr));
    let table = String::from_utf8(exceeds.stdout).expect("utf-8");
    assert!(
        table.contains("ec2/L-1216C47A (Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances) in 111122223333 \
                        us-east-1: 544 now + 64 added = 608 of 640, 95.0% of the limit, at or above the threshold of 90.0%"),
        "{table}"
    );
    assert_eq!(table.lines().filter(|l| l.ends_with("EXCEEDS")).count(), 1, "only the Standard vCPUs: {table}");
}

#[test]
fn against_the_demo_the_example_terraform_plan_exits_1_with_the_vcpus_it_adds_per_family() {
    let out = check(&["--demo", "--plan", &example("terraform-plan.json")]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).expect("utf-8");
    // 4 x c6i.2xlarge through the group's launch template, 2 x m5.2xlarge, a c5.xlarge
    // deleted, an m5.large grown to an m5.xlarge: 32 + 16 - 4 + 2 Standard vCPUs; a
    // g5.xlarge replaced by a g5.4xlarge: 16 - 4 G vCPUs.
    assert!(
        table.contains(
            "EC2 On-Demand vCPUs the plan adds, by family: Standard (A, C, D, H, I, M, R, T, Z) +46, G and VT +12"
        ),
        "{table}"
    );
    assert!(table.contains("544 now + 46 added = 590 of 640, 92.2% of the limit"), "{table}");
    assert!(table.contains("48 now + 12 added = 60 of 64, 93.8% of the limit"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("aws_s3_bucket.artifacts ")
            && l.contains(" create ")
            && l.ends_with("NOT ASSESSED: aws_s3_bucket is not in the resource table")),
        "{table}"
    );
    assert!(table.contains("2 resource change(s) not assessed"), "{table}");
    assert!(!table.contains("aws_security_group_rule.unchanged"), "a no-op is no change: {table}");

    let out = check(&["--demo", "--plan", &example("terraform-plan.json"), "--output", "junit"]);
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).expect("utf-8");
    assert!(xml.contains("tests=\"6\" failures=\"2\" skipped=\"2\""), "{xml}");
    assert!(xml.contains("<testcase classname=\"not assessed\" name=\"aws_iam_role.workers\">"), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_and_a_needs_file_add_up_against_a_running_exporter() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let labels = [("cloud_region", "eu-west-1"), ("service_code", "ec2"), ("quota_code", "L-1216C47A")];
    let usage = m.value("aws_quota_usage", &labels).expect("a usage");
    let url = format!("{}/metrics", app.address);
    let plan = TempFile::new(
        r#"{"format_version": "1.2", "resource_changes": [
            {"address": "aws_instance.a", "type": "aws_instance",
             "change": {"actions": ["create"], "before": null, "after": {"instance_type": "m5.2xlarge"}}},
            {"address": "aws_instance.b", "type": "aws_instance",
             "change": {"actions": ["delete"], "before": {"instance_type": "t3.micro"}, "after": null}}]}"#,
    );
    let needs = TempFile::new("- {region: eu-west-1, quota: ec2/L-1216C47A, add: 3}\n");
    let out = check(&[
        "--from",
        &url,
        "--plan",
        plan.path(),
        "--needs",
        needs.path(),
        "--region",
        "eu-west-1",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["quotas"][0]["added"], 8.0 - 2.0 + 3.0);
    assert_eq!(json["quotas"][0]["after"], usage + 9.0);
    assert_eq!(json["vcpus_by_family"]["Standard (A, C, D, H, I, M, R, T, Z)"], 6.0);
    assert_eq!(json["resource_changes"][1]["action"], "delete");

    // A plan without a region and no --region, and a file that is no plan: exit 2.
    let out = check(&["--from", &url, "--plan", plan.path()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("aws_instance.a: the plan does not say its region; pass --region"), "{stderr}");
    let out = check(&["--from", &url, "--plan", &example("needs-fits.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a Terraform plan in JSON"), "{stderr}");
    let out = check(&["--from", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name the change: --needs FILE, --plan FILE"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_running_exporter_it_reads_metrics_makes_no_aws_call_and_judges_at_the_threshold() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let labels = [("cloud_region", "eu-west-1"), ("service_code", "ec2"), ("quota_code", "L-1216C47A")];
    let limit = m.value("aws_quota_limit", &labels).expect("a limit");
    let usage = m.value("aws_quota_usage", &labels).expect("a usage");
    let room = 0.9 * limit - usage;
    assert!(room > 2.0, "the test estate leaves room below 90 %: {usage} of {limit}");
    let url = format!("{}/metrics", app.address);
    // The binary could reach the simulated AWS: were it to call AWS, the call log would say.
    let endpoint = app.sim.endpoint_url();
    let aws = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", crate::estate::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let calls = app.sim.calls().total();

    let needs = |add: f64| TempFile::new(&format!("- region: eu-west-1\n  quota: ec2/L-1216C47A\n  add: {add}\n"));
    let below = needs((room - 1.0).floor());
    let out = check_with(&["--from", &url, "--needs", below.path(), "--output", "json"], &aws);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["fits"], true);
    assert_eq!(json["quotas"][0]["limit"], limit);
    assert_eq!(json["quotas"][0]["usage"], usage);
    assert_eq!(json["quotas"][0]["after"], usage + (room - 1.0).floor());

    let at = needs(room.ceil());
    let out = check_with(&["--from", &url, "--needs", at.path(), "--output", "junit"], &aws);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let xml = String::from_utf8(out.stdout).expect("utf-8");
    assert!(xml.contains("tests=\"1\" failures=\"1\"") && xml.contains("<failure message="), "{xml}");
    // A lower threshold of its own turns the fitting change into one that does not.
    let out = check_with(&["--from", &url, "--needs", below.path(), "--threshold", "0.5"], &aws);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(app.sim.calls().total(), calls, "the gate made no AWS call");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_assessed_exits_2_with_a_clear_message_never_a_pass() {
    let app = spawn_app().await;
    app.refresh().await;
    let url = format!("{}/metrics", app.address);
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let unknown = TempFile::new("- {region: eu-west-1, quota: ec2/L-00000000, add: 1}\n");
    let out = check(&["--from", &url, "--needs", unknown.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ec2/L-00000000 in eu-west-1: no such quota in the data"), "{}", stderr(&out));

    let negative = TempFile::new("- {region: eu-west-1, quota: ec2/L-1216C47A, add: -4}\n");
    let out = check(&["--from", &url, "--needs", negative.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("entry 1: add -4 is not an amount of at least 0"), "{}", stderr(&out));

    let plan = TempFile::new(r#"{"format_version": "1.2", "resource_changes": [{"type": "aws_instance"}]}"#);
    let out = check(&["--from", &url, "--needs", plan.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not a needs file"), "{}", stderr(&out));

    let fine = TempFile::new("- {region: eu-west-1, quota: ec2/L-1216C47A, add: 1}\n");
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let dead = format!("http://{}/metrics", closed.local_addr().expect("bound"));
    drop(closed);
    let out = check(&["--from", &dead, "--needs", fine.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("cannot read the exporter's metrics at {dead}")), "{}", stderr(&out));
    let dead_tls = dead.replace("http://", "https://");
    let out = check(&["--from", &dead_tls, "--needs", fine.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("cannot read the exporter's metrics at {dead_tls}")), "{}", stderr(&out));
    let out = check(&["--from", "ftp://127.0.0.1/metrics", "--needs", fine.path()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not an http:// or https:// URL"), "{}", stderr(&out));

    let out = check(&["--from", &url, "--needs", fine.path(), "--threshold", "90"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--threshold 90 is not a share of the limit from 0.01 to 1"), "{}", stderr(&out));

    let out = check(&["--from", &url, "--needs", "/nonexistent/needs.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read /nonexistent/needs.yaml"), "{}", stderr(&out));
    app.stop().await;
}
