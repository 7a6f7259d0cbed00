//! API call counts: a refresh makes exactly the calls it needs and the exporter's own
//! counters agree with what AWS received.

use aws_quota_exporter::aws::Outcome;
use simaws::generate::{self, Size};
use simaws::paging::page_count;

use crate::helpers::{TestApp, spawn_app_with};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

fn size() -> Size {
    // 12 services of 130 quotas, 40 % with usage: 624 distinct usage metrics per region,
    // which take two GetMetricData calls (500 + 124).
    Size::new(&REGIONS, 12, 130, 0.4)
}

/// The exporter over the generated estate, in both regions.
async fn spawn_generated(size: &Size) -> TestApp {
    spawn_app_with(generate::estate(size), &generate::access_key_id(0), |c| {
        c.regions = REGIONS.iter().map(|r| (*r).to_owned()).collect();
        // These tests pin the quota path's call budget; Bedrock's and the history's are
        // pinned in bedrock.rs and forecast.rs.
        c.bedrock = false;
        c.forecast = false;
    })
    .await
}

/// The `List*` pages one full listing of a region needs.
fn list_pages(size: &Size) -> (usize, usize, usize) {
    let applied = (0..size.quotas_per_service).filter(|i| i % 3 == 0).count();
    (
        page_count(size.services, 100),
        size.services * page_count(applied, 100),
        size.services * page_count(size.quotas_per_service, 100),
    )
}

#[tokio::test]
async fn a_full_refresh_makes_the_list_pages_and_the_fewest_getmetricdata_calls() {
    let size = size();
    let app = spawn_generated(&size).await;
    let distinct = size.services * (0..size.quotas_per_service).filter(|i| generate::has_usage(&size, *i)).count();
    assert_eq!(distinct, 624);
    let (services, applied, defaults) = list_pages(&size);

    for round in 0..2 {
        app.sim.reset_calls();
        app.handle.refresh_all().await;
        let calls = app.sim.calls();
        for region in REGIONS {
            assert_eq!(calls.count_in("ListServices", region), services, "round {round}");
            assert_eq!(calls.count_in("ListServiceQuotas", region), applied, "round {round}");
            assert_eq!(calls.count_in("ListAWSDefaultServiceQuotas", region), defaults, "round {round}");
            assert_eq!(calls.count_in("GetMetricData", region), distinct.div_ceil(500), "round {round}");
        }
        // The account is learned once, on the first refresh, by one of its regions.
        assert_eq!(calls.count("GetCallerIdentity"), usize::from(round == 0), "round {round}");
        let expected_total =
            REGIONS.len() * (services + applied + defaults + distinct.div_ceil(500)) + usize::from(round == 0);
        assert_eq!(calls.total(), expected_total, "nothing else is called");
        assert_eq!(calls.metric_queries(), REGIONS.len() * distinct, "each metric requested once");
    }
}

#[tokio::test]
async fn a_usage_refresh_makes_only_the_getmetricdata_calls() {
    let size = size();
    let app = spawn_generated(&size).await;
    app.handle.refresh_all().await;
    app.sim.reset_calls();
    app.handle.refresh_usage().await;
    let calls = app.sim.calls();
    for region in REGIONS {
        assert_eq!(calls.count_in("GetMetricData", region), 2);
    }
    assert_eq!(calls.total(), 4, "no List call, no STS call");
}

#[tokio::test]
async fn the_exporter_counts_exactly_the_calls_aws_received() {
    let size = size();
    let account = generate::account_id(0);
    let app = spawn_generated(&size).await;
    app.handle.refresh_all().await;
    app.handle.refresh_usage().await;
    let calls = app.sim.calls();
    let m = app.metrics().await;
    for region in REGIONS {
        for (service, op) in [
            ("servicequotas", "ListServices"),
            ("servicequotas", "ListServiceQuotas"),
            ("servicequotas", "ListAWSDefaultServiceQuotas"),
            ("cloudwatch", "GetMetricData"),
        ] {
            assert_eq!(
                app.handle.metrics.api_calls(service, op, Outcome::Ok, &account, region) as usize,
                calls.count_in(op, region),
                "{op} in {region}"
            );
        }
        let requested = m.value("aws_quota_exporter_cloudwatch_metrics_requested_total", &[("cloud_region", region)]);
        assert_eq!(requested, Some(2.0 * 624.0), "two usage refreshes of 624 metrics in {region}");
    }
    // STS is counted before the account is known, so under an empty account label.
    assert_eq!(app.handle.metrics.api_calls("sts", "GetCallerIdentity", Outcome::Ok, "", "us-east-1"), 1);
}
