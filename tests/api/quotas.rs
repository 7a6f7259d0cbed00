//! Quota discovery: limits, defaults, resource-level and global quotas, paging,
//! allow and deny lists, and quotas that come and go.

use simaws::paging::page_count;

use crate::estate::{ACCESS_KEY, AWKWARD_NAME, MANY_APPLIED, MANY_QUOTAS, test_estate};
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn every_quota_of_a_multi_page_service_is_published() {
    let app = spawn_app().await;
    let m = app.refresh().await;

    assert_eq!(m.count("aws_quota_info", &[("cloud_region", "us-east-1"), ("service_code", "sagemaker")]), MANY_QUOTAS);
    // Quota 4 has an applied value (1004), quota 229 (on the last page) only its default.
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "sagemaker", "L-5A000004"), Some(1004.0));
    assert_eq!(m.quota("aws_quota_default_limit", "us-east-1", "sagemaker", "L-5A000004"), Some(4.0));
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "sagemaker", "L-5A000229"), Some(229.0));

    // The simulator serves short pages before the last one; only a missing token ends a listing.
    let calls = app.sim.calls();
    assert_eq!(calls.count_for_service("ListAWSDefaultServiceQuotas", "sagemaker"), page_count(MANY_QUOTAS, 100));
    assert_eq!(calls.count_for_service("ListServiceQuotas", "sagemaker"), page_count(MANY_APPLIED, 100));
    assert!(page_count(MANY_QUOTAS, 100) >= 3, "the listing really spans several pages, one of them short");
}

#[tokio::test]
async fn every_service_of_a_multi_page_service_list_is_published() {
    let size = simaws::generate::Size::new(&["us-east-1"], 230, 1, 0.0);
    let app = spawn_app_with(simaws::generate::estate(&size), &simaws::generate::access_key_id(0), |c| {
        c.regions = vec!["us-east-1".into()];
    })
    .await;
    let m = app.refresh().await;
    assert_eq!(m.count("aws_quota_exporter_service_refresh_success", &[]), 230);
    assert_eq!(m.count("aws_quota_info", &[]), 230);
    assert_eq!(app.sim.calls().count("ListServices"), page_count(230, 100));
}

#[tokio::test]
async fn the_applied_value_is_the_limit_and_the_default_is_kept() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-1216C47A"), Some(640.0));
    assert_eq!(m.quota("aws_quota_default_limit", "us-east-1", "ec2", "L-1216C47A"), Some(5.0));
    assert_eq!(m.quota("aws_quota_limit", "eu-west-1", "ec2", "L-1216C47A"), Some(320.0));
}

#[tokio::test]
async fn a_default_only_quota_is_published_with_its_default_as_limit() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-DB2E81BA"), Some(64.0));
    assert_eq!(m.quota("aws_quota_default_limit", "us-east-1", "ec2", "L-DB2E81BA"), Some(64.0));
}

#[tokio::test]
async fn resource_level_quotas_are_published_per_resource_beside_the_account_quota() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let es = [("cloud_region", "us-east-1"), ("service_code", "es"), ("quota_code", "L-6408ABDE")];
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "es", "L-6408ABDE"), Some(40.0), "the account-level default");
    let with = |r: &'static str| {
        let mut l = es.to_vec();
        l.push(("resource", r));
        l
    };
    assert_eq!(m.value("aws_quota_limit", &with("arn:aws:es:us-east-1:123456789012:domain/search")), Some(80.0));
    assert_eq!(m.value("aws_quota_limit", &with("*")), Some(50.0));
    assert_eq!(m.value("aws_quota_default_limit", &with("*")), Some(40.0));
    assert_eq!(m.count("aws_quota_info", &es), 3);
}

#[tokio::test]
async fn a_global_quota_is_published_once_per_account_from_us_east_1() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "s3", "L-DC2B2D3D"), Some(10_000.0));
    assert_eq!(m.count("aws_quota_info", &[("service_code", "s3")]), 1, "not once per region");
    assert_eq!(m.value("aws_quota_info", &[("service_code", "s3"), ("global", "true")]), Some(1.0));
}

#[tokio::test]
async fn the_info_series_carries_names_unit_and_flags() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let info = m.find("aws_quota_info", &[("cloud_region", "us-east-1"), ("quota_code", "L-1216C47A")]);
    assert_eq!(info.len(), 1);
    let labels = &info[0].labels;
    assert_eq!(labels["cloud_account_id"], "123456789012", "the account comes from STS GetCallerIdentity");
    assert_eq!(labels["service_name"], "Amazon Elastic Compute Cloud (Amazon EC2)");
    assert_eq!(labels["quota_name"], "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances");
    assert_eq!(labels["unit"], "None");
    assert_eq!(labels["adjustable"], "true");
    assert_eq!(labels["global"], "false");
    assert_eq!(info[0].value, 1.0);
}

#[tokio::test]
async fn awkward_quota_names_are_escaped_and_read_back_intact() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    let line = m.raw.lines().find(|l| l.contains("L-0EA8095F") && l.starts_with("aws_quota_info")).expect("published");
    assert!(
        line.contains(r#"quota_name="Rules per \"security group\" (inbound, outbound) / ENI \\ legacy""#),
        "{line}"
    );
    let info = m.find("aws_quota_info", &[("quota_code", "L-0EA8095F")]);
    assert_eq!(info[0].labels["quota_name"], AWKWARD_NAME);
}

#[tokio::test]
async fn the_allow_and_deny_lists_decide_which_services_are_listed() {
    let app = spawn_app_with(test_estate(), ACCESS_KEY, |c| {
        c.services = Some(vec!["ec2".into(), "lambda".into(), "kms".into()]);
        c.exclude_services = vec!["kms".into()];
    })
    .await;
    let m = app.refresh().await;
    let services: std::collections::BTreeSet<(String, String)> = m
        .find("aws_quota_info", &[])
        .iter()
        .map(|s| (s.labels["cloud_region"].clone(), s.labels["service_code"].clone()))
        .collect();
    let expected = [("eu-west-1", "ec2"), ("us-east-1", "ec2"), ("us-east-1", "lambda")]
        .map(|(r, s)| (r.to_owned(), s.to_owned()))
        .into_iter()
        .collect();
    assert_eq!(services, expected);
    let calls = app.sim.calls();
    assert_eq!(calls.count_for_service("ListServiceQuotas", "kms"), 0);
    assert_eq!(calls.count_for_service("ListServiceQuotas", "sagemaker"), 0);
}

#[tokio::test]
async fn a_quota_or_service_that_disappears_from_aws_disappears_from_the_metrics() {
    let app = spawn_app().await;
    let m = app.refresh().await;
    assert!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-0263D0A3").is_some());
    assert!(m.quota("aws_quota_limit", "us-east-1", "lambda", "L-B99A9384").is_some());

    app.sim.with_estate(|e| {
        let region = e.account_mut("123456789012").and_then(|a| a.region_mut("us-east-1")).expect("in the estate");
        region.service_mut("ec2").expect("ec2").quotas.retain(|q| q.code != "L-0263D0A3");
        region.services.retain(|s| s.code != "lambda");
    });
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-0263D0A3"), None);
    assert_eq!(m.count("aws_quota_info", &[("quota_code", "L-0263D0A3")]), 0);
    assert_eq!(m.count("aws_quota_info", &[("cloud_region", "us-east-1"), ("service_code", "lambda")]), 0);
    assert_eq!(m.count("aws_quota_usage", &[("cloud_region", "us-east-1"), ("service_code", "lambda")]), 0);
    assert_eq!(
        m.count(
            "aws_quota_exporter_service_refresh_success",
            &[("cloud_region", "us-east-1"), ("service_code", "lambda")]
        ),
        0
    );
    assert!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-1216C47A").is_some(), "the rest is still there");
}

#[tokio::test]
async fn a_changed_applied_value_is_picked_up_by_the_next_full_refresh() {
    let app = spawn_app().await;
    app.refresh().await;
    app.sim.with_estate(|e| {
        let region = e.account_mut("123456789012").and_then(|a| a.region_mut("us-east-1")).expect("in the estate");
        region.service_mut("ec2").and_then(|s| s.quota_mut("L-1216C47A")).expect("quota").applied_value = Some(1024.0);
    });
    app.handle.refresh_usage().await;
    assert_eq!(app.metrics().await.quota("aws_quota_limit", "us-east-1", "ec2", "L-1216C47A"), Some(640.0));
    let m = app.refresh().await;
    assert_eq!(m.quota("aws_quota_limit", "us-east-1", "ec2", "L-1216C47A"), Some(1024.0));
    assert_eq!(m.quota("aws_quota_utilization_ratio", "us-east-1", "ec2", "L-1216C47A"), Some(544.0 / 1024.0));
}
