//! The HTTP surface: endpoints, readiness, format negotiation, compression.

use std::io::Read;

use crate::helpers::{Exposition, spawn_app};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
    application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
    text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

#[tokio::test]
async fn ready_turns_true_only_after_the_first_full_refresh() {
    let app = spawn_app().await;
    let before = app.get("/-/ready").await;
    assert_eq!(before.status, 503);
    assert!(before.text().contains("waiting for the first full refresh"));
    assert_eq!(app.get("/-/healthy").await.status, 200, "healthy from the start");

    app.handle.refresh_all().await;
    let after = app.get("/-/ready").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.text(), "Ready\n");
}

#[tokio::test]
async fn metrics_are_served_before_the_first_refresh_with_the_self_metrics_only() {
    let app = spawn_app().await;
    let m = app.metrics().await;
    assert_eq!(m.count("aws_quota_info", &[]), 0);
    assert_eq!(m.value("aws_quota_exporter_build_info", &[]), Some(1.0));
}

#[tokio::test]
async fn the_landing_page_links_every_endpoint() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    for link in ["href=\"/metrics\"", "href=\"/-/healthy\"", "href=\"/-/ready\""] {
        assert!(page.text().contains(link), "{link}");
    }
}

#[tokio::test]
async fn an_unknown_path_is_a_404_and_a_wrong_method_a_405() {
    let app = spawn_app().await;
    let missing = app.get("/metrics/extra").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), "not found: /metrics/extra; the endpoints are listed at /\n");
    let post = app.request("POST", "/metrics", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(post.text(), "method POST not allowed on /metrics; use GET or HEAD\n");
}

#[tokio::test]
async fn prometheus_gets_openmetrics_and_curl_gets_the_text_format() {
    let app = spawn_app().await;
    app.handle.refresh_all().await;

    let om = app.request("GET", "/metrics", &[("accept", PROMETHEUS_ACCEPT)]).await;
    assert_eq!(om.header("content-type"), Some("application/openmetrics-text; version=1.0.0; charset=utf-8"));
    let body = om.text();
    assert!(body.ends_with("# EOF\n"));
    assert!(body.contains("# TYPE aws_quota info\n"));
    assert!(body.contains("# TYPE aws_quota_exporter_aws_api_calls counter\n"));
    assert!(body.contains("# UNIT aws_quota_exporter_refresh_duration_seconds seconds\n"));

    let text = app.get("/metrics").await;
    assert_eq!(text.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert!(text.text().contains("# TYPE aws_quota_info gauge\n"));
    assert!(text.text().contains("# TYPE aws_quota_exporter_aws_api_calls_total counter\n"));

    // Both formats carry exactly the same samples.
    let samples = |raw: &str| {
        let mut lines: Vec<String> =
            raw.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(samples(&body), samples(&text.text()));
    assert!(Exposition::parse(&text.text()).samples.len() > 500);
}

#[tokio::test]
async fn gzip_is_served_when_asked_and_inflates_to_the_plain_body() {
    let app = spawn_app().await;
    app.handle.refresh_all().await;
    let plain = app.get("/metrics").await;
    assert_eq!(plain.header("content-encoding"), None);

    let zipped = app.request("GET", "/metrics", &[("accept-encoding", "gzip")]).await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("Accept, Accept-Encoding"));
    assert!(zipped.body.len() * 4 < plain.body.len(), "{} vs {} bytes", zipped.body.len(), plain.body.len());
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..]).read_to_end(&mut inflated).expect("valid gzip");
    assert_eq!(inflated, plain.body);
}

#[tokio::test]
async fn head_answers_with_headers_and_no_body() {
    let app = spawn_app().await;
    let head = app.request("HEAD", "/metrics", &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert!(head.body.is_empty());
}
