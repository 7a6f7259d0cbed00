//! The OTLP push, received by in-test collectors: a tonic gRPC `MetricsService` and a
//! hyper HTTP/protobuf endpoint at `/v1/metrics`. Both must receive every family of
//! `/metrics` with the same series and values.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_quota_exporter::otlp::{OtlpSettings, Protocol};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use prost::Message;

use crate::estate::{ACCESS_KEY, test_estate};
use crate::helpers::{Exposition, TestApp, spawn_app_pushing};

/// Every request a receiver got, and how many of them came gzipped.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<ExportMetricsServiceRequest>>>, Arc<std::sync::atomic::AtomicUsize>);

impl Received {
    fn gzipped(&self) -> usize {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn take(&self) -> Vec<ExportMetricsServiceRequest> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }

    fn count(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        if request.metadata().get("grpc-encoding").is_some_and(|e| e == "gzip") {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.0.lock().expect("not poisoned").push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

/// A gRPC collector on `listener`.
fn grpc_receiver(listener: tokio::net::TcpListener) -> Received {
    let received = Received::default();
    let service = MetricsServiceServer::new(received.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    received
}

/// An HTTP/protobuf collector on `listener`, answering POST /v1/metrics.
fn http_receiver(listener: tokio::net::TcpListener) -> Received {
    serve_http(listener, None)
}

/// The same over TLS, with the test collector certificate.
fn https_receiver(listener: tokio::net::TcpListener) -> Received {
    serve_http(listener, Some(tokio_rustls::TlsAcceptor::from(tls_server_config())))
}

fn serve_http(listener: tokio::net::TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) -> Received {
    let received = Received::default();
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let store = store.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer_http(req, store.clone()));
                let http = hyper::server::conn::http1::Builder::new();
                let _ = match tls {
                    None => http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await,
                    Some(tls) => {
                        // A client that does not trust the certificate hangs up here.
                        let Ok(stream) = tls.accept(stream).await else { return };
                        http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await
                    }
                };
            });
        }
    });
    received
}

async fn answer_http(
    req: hyper::Request<hyper::body::Incoming>,
    store: Received,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    use http_body_util::{BodyExt, Full};
    assert_eq!(req.uri().path(), "/v1/metrics");
    assert_eq!(req.headers()["content-type"], "application/x-protobuf");
    let gzipped = req.headers().get("content-encoding").is_some_and(|e| e == "gzip");
    let mut body = req.into_body().collect().await.expect("a body").to_bytes().to_vec();
    if gzipped {
        use std::io::Read;
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain).expect("valid gzip");
        body = plain;
        store.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let request = ExportMetricsServiceRequest::decode(&body[..]).expect("a protobuf ExportMetricsServiceRequest");
    store.0.lock().expect("not poisoned").push(request);
    let reply = ExportMetricsServiceResponse { partial_success: None }.encode_to_vec();
    Ok(hyper::Response::builder()
        .header("content-type", "application/x-protobuf")
        .body(Full::new(bytes::Bytes::from(reply)))
        .expect("a valid response"))
}

const TLS_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// The test collector's certificate (for 127.0.0.1, signed by the test CA) and key.
fn tls_server_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(format!("{TLS_FIXTURES}/collector.pem"))
        .expect("the certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("a PEM certificate");
    let key = PrivateKeyDer::from_pem_file(format!("{TLS_FIXTURES}/collector.key")).expect("a PEM key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the key matches the certificate");
    Arc::new(config)
}

/// A gRPC collector over TLS, with the test collector certificate.
fn grpcs_receiver(listener: tokio::net::TcpListener) -> Received {
    let received = Received::default();
    let identity = tonic::transport::Identity::from_pem(
        std::fs::read(format!("{TLS_FIXTURES}/collector.pem")).expect("the certificate file"),
        std::fs::read(format!("{TLS_FIXTURES}/collector.key")).expect("the key file"),
    );
    let service = MetricsServiceServer::new(received.clone());
    let mut server = tonic::transport::Server::builder()
        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
        .expect("a valid TLS configuration");
    tokio::spawn(
        server.add_service(service).serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    received
}

fn settings(endpoint: String, protocol: Protocol, interval: Duration) -> OtlpSettings {
    OtlpSettings {
        endpoint,
        protocol,
        headers: vec![("x-tenant".into(), "quota-team".into())],
        timeout: Duration::from_secs(2),
        gzip: false,
        interval,
        resource: vec![
            ("service.name".into(), "aws-quota-exporter".into()),
            ("service.version".into(), env!("CARGO_PKG_VERSION").into()),
            ("service.instance.id".into(), "test-instance".into()),
        ],
    }
}

/// Series by sample name: labels (attributes translated back to label names) → value.
type Series = BTreeMap<String, BTreeSet<(Vec<(String, String)>, String)>>;

/// The OTLP families that change with every push, so a push and a scrape cannot agree on them.
const LIVE: [&str; 2] =
    ["aws_quota_exporter_otlp_exports_total", "aws_quota_exporter_otlp_last_export_duration_seconds"];

fn from_exposition(m: &Exposition) -> Series {
    let mut out = Series::new();
    for s in &m.samples {
        let labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.entry(s.name.clone()).or_default().insert((labels, format!("{}", s.value)));
    }
    out
}

/// Translates an OTLP request back into series; checks cloud.provider on the way.
fn from_otlp(request: &ExportMetricsServiceRequest) -> Series {
    let mut out = Series::new();
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                let (name, points) = match metric.data.as_ref().expect("data") {
                    Data::Gauge(g) => (metric.name.clone(), &g.data_points),
                    Data::Sum(s) => {
                        assert!(s.is_monotonic, "{} is a monotonic counter", metric.name);
                        assert_eq!(s.aggregation_temporality, 2, "{} is cumulative", metric.name);
                        (format!("{}_total", metric.name), &s.data_points)
                    }
                    other => panic!("{}: unexpected data {other:?}", metric.name),
                };
                let series = out.entry(name.clone()).or_default();
                for p in points {
                    let mut labels = Vec::new();
                    let mut cloud = false;
                    for kv in &p.attributes {
                        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(AnyValue::StringValue(s)) => s.clone(),
                            other => panic!("{name}: attribute {} is {other:?}", kv.key),
                        };
                        match kv.key.as_str() {
                            "cloud.provider" => {
                                assert_eq!(value, "aws");
                                cloud = true;
                            }
                            "cloud.account.id" => labels.push(("cloud_account_id".to_owned(), value)),
                            "cloud.region" => labels.push(("cloud_region".to_owned(), value)),
                            key => labels.push((key.to_owned(), value)),
                        }
                    }
                    let has_cloud_labels = labels.iter().any(|(k, _)| k == "cloud_account_id" || k == "cloud_region");
                    assert_eq!(cloud, has_cloud_labels, "{name}: cloud.provider goes with the cloud attributes");
                    labels.sort();
                    let value = match p.value {
                        Some(NumberValue::AsDouble(v)) => v,
                        Some(NumberValue::AsInt(v)) => v as f64,
                        None => panic!("{name}: a point without value"),
                    };
                    series.insert((labels, format!("{value}")));
                }
            }
        }
    }
    out
}

/// Waits for a push that holds every quota the exposition has, and returns it.
async fn complete_push(received: &Received, m: &Exposition) -> ExportMetricsServiceRequest {
    let quotas = m.count("aws_quota_info", &[]);
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for request in received.take().into_iter().rev() {
            if from_otlp(&request).get("aws_quota_info").map_or(0, BTreeSet::len) == quotas {
                return request;
            }
        }
    }
    panic!("no complete OTLP push within 10 seconds");
}

async fn same_data_as_metrics(app: &TestApp, received: &Received) {
    app.handle.refresh_all().await;
    let m = app.metrics().await;
    let request = complete_push(received, &m).await;

    let scraped = from_exposition(&m);
    let pushed = from_otlp(&request);
    let scraped_names: BTreeSet<&String> = scraped.keys().filter(|n| !LIVE.contains(&n.as_str())).collect();
    let pushed_names: BTreeSet<&String> = pushed.keys().filter(|n| !LIVE.contains(&n.as_str())).collect();
    assert_eq!(pushed_names, scraped_names, "the same families carry data");
    for name in scraped_names {
        assert_eq!(pushed[name], scraped[name], "{name} differs between the push and the scrape");
    }
    for family in [
        "aws_quota_info",
        "aws_quota_utilization_ratio",
        "aws_quota_usage_forecast",
        "aws_bedrock_invocations_total",
        "aws_bedrock_quota_utilization_ratio",
        "aws_quota_exporter_aws_api_calls_total",
        "aws_quota_exporter_refresh_success",
    ] {
        assert!(pushed.get(family).is_some_and(|s| !s.is_empty()), "{family} carries data in both");
    }

    let resource = &request.resource_metrics[0].resource.as_ref().expect("a resource").attributes;
    let attribute = |key: &str| {
        resource.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            _ => None,
        })
    };
    assert_eq!(attribute("service.name").as_deref(), Some("aws-quota-exporter"));
    assert_eq!(attribute("service.version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(attribute("service.instance.id").as_deref(), Some("test-instance"));
    let unit = |name: &str| {
        request.resource_metrics[0].scope_metrics[0].metrics.iter().find(|m| m.name == name).map(|m| m.unit.clone())
    };
    assert_eq!(unit("aws_quota_utilization_ratio").as_deref(), Some("1"));
    assert_eq!(unit("aws_quota_exporter_refresh_duration_seconds").as_deref(), Some("s"));
    assert_eq!(unit("aws_bedrock_input_tokens").as_deref(), Some("{token}"));
}

async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port")
}

/// A collector for `protocol` on a loopback port, and the endpoint to push to.
async fn collector(protocol: Protocol) -> (String, Received) {
    let l = listener().await;
    let address = l.local_addr().expect("bound");
    match protocol {
        Protocol::Grpc => (format!("http://{address}"), grpc_receiver(l)),
        Protocol::HttpProtobuf => (format!("http://{address}/v1/metrics"), http_receiver(l)),
    }
}

/// The exporter over the test estate, pushing every 300 ms.
async fn pushing(protocol: Protocol, gzip: bool) -> (TestApp, Received) {
    pushing_with(protocol, gzip, Duration::from_millis(300), |_| {}).await
}

async fn pushing_with(
    protocol: Protocol,
    gzip: bool,
    interval: Duration,
    configure: impl FnOnce(&mut aws_quota_exporter::config::Config),
) -> (TestApp, Received) {
    let (endpoint, received) = collector(protocol).await;
    let settings = OtlpSettings { gzip, ..settings(endpoint, protocol, interval) };
    (spawn_app_pushing(test_estate(), ACCESS_KEY, configure, Some(settings)).await, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_collectors_receive_the_same_data_as_metrics_plain_or_gzipped() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        for gzip in [false, true] {
            let (app, received) = pushing(protocol, gzip).await;
            same_data_as_metrics(&app, &received).await;
            if gzip {
                assert!(received.gzipped() >= 1, "{protocol}: the pushes came gzipped");
            } else {
                assert_eq!(received.gzipped(), 0, "{protocol}: uncompressed unless asked");
            }
            app.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_refuses_connections_costs_nothing_and_gets_the_data_when_it_returns() {
    // A port with nothing listening on it, for now.
    let l = listener().await;
    let address = l.local_addr().expect("bound");
    drop(l);
    let app = spawn_app_pushing(
        test_estate(),
        ACCESS_KEY,
        |_| {},
        Some(settings(format!("http://{address}/v1/metrics"), Protocol::HttpProtobuf, Duration::from_millis(200))),
    )
    .await;
    app.handle.refresh_all().await;
    for _ in 0..100 {
        if app.handle.metrics.otlp_exports(false) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.handle.metrics.otlp_exports(false) >= 3, "failed pushes are counted");
    // Scrapes and refreshes go on.
    let m = app.refresh().await;
    assert!(m.count("aws_quota_info", &[]) > 200);
    assert!(m.value("aws_quota_exporter_otlp_exports_total", &[("outcome", "error")]).is_some_and(|v| v >= 3.0));

    // The collector comes back on the same port.
    let received = http_receiver(tokio::net::TcpListener::bind(address).await.expect("the port is free again"));
    let request = complete_push(&received, &m).await;
    assert!(from_otlp(&request).contains_key("aws_quota_limit"));
    assert!(app.handle.metrics.otlp_exports(true) >= 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_pushes_once_more() {
    // An interval far beyond the test: only the shutdown can push.
    let (app, received) = pushing_with(Protocol::Grpc, false, Duration::from_secs(3600), |_| {}).await;
    app.handle.refresh_all().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.count(), 0, "nothing pushed before the interval");
    app.stop().await;
    let pushed = received.take();
    assert_eq!(pushed.len(), 1, "exactly one push at shutdown");
    assert!(from_otlp(&pushed[0]).get("aws_quota_info").is_some_and(|s| s.len() > 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_split_into_requests_no_larger_than_the_limit_that_together_equal_metrics() {
    let (app, received) =
        pushing_with(Protocol::Grpc, false, Duration::from_millis(300), |c| c.otlp_max_points_per_request = 100).await;
    app.handle.refresh_all().await;
    let m = app.metrics().await;
    let scraped = from_exposition(&m);
    let needed = aws_quota_exporter::otlp::requests_for(m.samples.len(), 100);
    assert!(needed >= 10, "the test estate needs many requests: {} samples", m.samples.len());
    // Pushes from before the snapshot was complete are not the subject here.
    received.take();

    let mut requests = Vec::new();
    let mut pushed = Series::new();
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for request in received.take() {
            for (name, series) in from_otlp(&request) {
                pushed.entry(name).or_default().extend(series);
            }
            requests.push(request);
        }
        if pushed.get("aws_quota_info") == scraped.get("aws_quota_info") && requests.len() >= 2 * needed {
            break;
        }
    }
    let largest = requests.iter().map(crate::otlp_points::points).max().unwrap_or(0);
    assert!(largest <= 100, "a request of {largest} data points, above the limit of 100");
    assert!(requests.len() >= needed, "{} requests for {needed} needed", requests.len());
    for (name, series) in &scraped {
        if !LIVE.contains(&name.as_str()) {
            assert_eq!(pushed.get(name), Some(series), "{name}: the requests together differ from /metrics");
        }
    }
    app.stop().await;
}

/// The demo binary pushing to `endpoint`, trusting only the certificates in `ca_file`.
fn demo_pushing(endpoint: &str, protocol: &str, ca_file: &str) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"))
        .arg("--demo")
        .env_clear()
        .env("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
        .env("QUOTA_EXPORTER_LOG_LEVEL", "error")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .env("SSL_CERT_FILE", format!("{TLS_FIXTURES}/{ca_file}"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// Waits up to `seconds` for a request carrying quota data.
async fn quota_data_within(received: &Received, seconds: u64) -> bool {
    for _ in 0..seconds * 10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if received.take().iter().any(|r| from_otlp(r).get("aws_quota_info").is_some_and(|s| !s.is_empty())) {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_pushed_to_over_tls_for_both_protocols_and_the_certificate_is_checked() {
    for protocol in ["grpc", "http/protobuf"] {
        let l = listener().await;
        let address = l.local_addr().expect("bound");
        let received = if protocol == "grpc" { grpcs_receiver(l) } else { https_receiver(l) };
        // The base endpoint: the exporter appends /v1/metrics for HTTP.
        let mut trusting = demo_pushing(&format!("https://{address}"), protocol, "ca.pem");
        let delivered = quota_data_within(&received, 60).await;
        let _ = trusting.kill();
        let _ = trusting.wait();
        assert!(delivered, "{protocol}: no data over TLS from an exporter that trusts the collector's CA");

        let mut distrusting = demo_pushing(&format!("https://{address}"), protocol, "other-ca.pem");
        let delivered = quota_data_within(&received, 8).await;
        let _ = distrusting.kill();
        let _ = distrusting.wait();
        assert!(!delivered, "{protocol}: data went to a collector whose certificate is not trusted");
    }
}
