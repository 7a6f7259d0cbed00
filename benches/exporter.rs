//! `cargo bench --bench exporter` (or `make bench`): the exporter against a generated
//! large estate with 20 ms of latency on every AWS call.
//!
//! The simulated AWS runs in a child process so that the peak RSS printed is the
//! exporter's own (plus this benchmark's scrape clients). Printed: AWS calls per full
//! and per usage-only refresh against their minimum, time to the first complete
//! snapshot, render time, exposition size, scrape latency under concurrent scrapers
//! (and nginx's, serving the same gzip bytes as a static file, under the same load),
//! the OTLP push of the whole snapshot (time, CPU, request size) into a gRPC collector
//! in the child process, and peak RSS.

#[path = "../tests/common/otlp_points.rs"]
mod otlp_points;
#[path = "../tests/common/process.rs"]
mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_quota_exporter::aws::{RetryPolicy, static_sdk_config};
use aws_quota_exporter::clock::SystemClock;
use aws_quota_exporter::config::Config;
use aws_quota_exporter::startup::{self, Settings};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use process::{api_calls, cpu_seconds, mb, proc_status_kib, reset_peak_rss};
use prost::Message;
use simaws::generate::{self, Size};
use simaws::paging::page_count;

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"];
const LATENCY: Duration = Duration::from_millis(20);
const SCRAPERS: usize = 8;
const SCRAPES_EACH: usize = 50;
/// Pushes measured after the first one that carries the complete snapshot.
const PUSHES: u64 = 3;
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2";

fn size() -> Size {
    Size::new(&REGIONS, 40, 250, 0.4)
}

fn main() {
    if std::env::args().any(|a| a == "--simulator") {
        return run_simulator();
    }
    // `cargo bench` passes --bench; anything else is ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(bench());
}

/// The child: serve the generated estate and an OTLP gRPC collector until stdin
/// closes, then print what the collector received last.
fn run_simulator() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let sim = simaws::SimAws::start(generate::estate(&size())).await.expect("the simulator starts");
        sim.inject(simaws::Fault::latency(LATENCY));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the collector");
        let collector = Collector::default();
        println!("{}", sim.endpoint_url());
        println!("http://{}", listener.local_addr().expect("bound"));
        std::io::stdout().flush().expect("stdout");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(MetricsServiceServer::new(collector.clone()).max_decoding_message_size(1 << 30))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .expect("stdin reader");
        let c = *collector.0.lock().expect("not poisoned");
        println!("{} {} {} {} {}", c.requests, c.points, c.largest_points, c.largest_bytes, c.largest_gzip_bytes);
    });
}

/// What the collector received.
#[derive(Clone, Default)]
struct Collector(Arc<std::sync::Mutex<Received>>);

#[derive(Clone, Copy, Default)]
struct Received {
    requests: usize,
    points: usize,
    largest_points: usize,
    largest_bytes: usize,
    /// The largest request, gzipped as OTEL_EXPORTER_OTLP_COMPRESSION=gzip would send it.
    largest_gzip_bytes: usize,
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let points = otlp_points::points(&request);
        let mut r = self.0.lock().expect("not poisoned");
        r.requests += 1;
        r.points += points;
        r.largest_points = r.largest_points.max(points);
        if request.encoded_len() > r.largest_bytes {
            r.largest_bytes = request.encoded_len();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&request.encode_to_vec()).expect("gzip in memory");
            r.largest_gzip_bytes = gz.finish().expect("gzip in memory").len();
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

async fn bench() {
    let size = size();
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--simulator")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the simulator process starts");
    let mut child_out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = || {
        let mut line = String::new();
        child_out.read_line(&mut line).expect("a line from the child");
        line.trim().to_owned()
    };
    let endpoint = line();
    let collector = line();

    let sdk_config = static_sdk_config(&endpoint, &generate::access_key_id(0), "bench", RetryPolicy::default()).await;
    let config = Config {
        listen_address: "127.0.0.1:0".parse().expect("valid"),
        regions: REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        // The generated estate has no Bedrock; this measures the quota path.
        bedrock: false,
        // Every usage metric at every refresh: these figures count the calls of reading
        // them all; benches/cadence.rs measures the adaptive cadence.
        usage_slowest_interval: Duration::from_secs(300),
        ..Config::default()
    };
    let app = startup::build(Settings {
        config: config.clone(),
        sdk_config,
        clock: Arc::new(SystemClock),
        schedule: false,
        otlp: None,
    })
    .await
    .expect("the exporter builds");
    let address = format!("http://{}/metrics", app.local_addr());
    let handle = app.handle();
    tokio::spawn(app.run_until(std::future::pending()));

    // The minimum number of calls: AWS decides the pages, and GetMetricData takes 500 metrics.
    let applied = (0..size.quotas_per_service).filter(|i| i % 3 == 0).count();
    let distinct = size.services * (0..size.quotas_per_service).filter(|i| generate::has_usage(&size, *i)).count();
    let gmd_min = distinct.div_ceil(500);
    let list_min = page_count(size.services, 100)
        + size.services * (page_count(applied, 100) + page_count(size.quotas_per_service, 100));
    // The full refresh also reads the daily history the forecasts are fitted on: one
    // more GetMetricData per 500 metrics (30 daily points each fit in one page).
    let history_min = if config.forecast { gmd_min } else { 0 };
    let full_min = REGIONS.len() * (list_min + gmd_min + history_min) + 1;
    let usage_min = REGIONS.len() * gmd_min;

    let calls_before = api_calls(&handle);
    reset_peak_rss();
    let started = Instant::now();
    handle.refresh_all().await;
    let first_snapshot = started.elapsed();
    // The first refresh also learns the account (one STS call).
    let full_calls = api_calls(&handle) - calls_before;

    let calls_before = api_calls(&handle);
    let started = Instant::now();
    handle.refresh_usage().await;
    let usage_refresh = started.elapsed();
    let usage_calls = api_calls(&handle) - calls_before;
    let rss_refresh = proc_status_kib("VmHWM");

    let started = Instant::now();
    handle.renderer.render();
    let render = started.elapsed();
    let exposition = handle.renderer.exposition();

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    reset_peak_rss();
    let gzip_latencies = scrape(&client, &address, true).await;
    // The same gzip bytes from nginx, under the same load from the same client.
    let nginx = Nginx::serve(&exposition.openmetrics_gzip);
    let nginx_latencies = scrape(&client, &nginx.url, true).await;
    drop(nginx);
    let rss_gzip_scrapes = proc_status_kib("VmHWM");
    reset_peak_rss();
    let plain_latencies = scrape(&client, &address, false).await;
    let rss_plain_scrapes = proc_status_kib("VmHWM");

    // The OTLP pushes, alone: the output starts only now, on the complete snapshot, and
    // pushes when told to (the interval is beyond the benchmark).
    let otlp_settings = aws_quota_exporter::otlp::settings_from_vars(
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .expect("valid OTLP settings")
    .expect("an endpoint is set");
    // Without the push: the process as it serves scrapes, settled.
    let rss_without_push = proc_status_kib("VmRSS");
    reset_peak_rss();
    let source = aws_quota_exporter::otlp::Source {
        store: handle.store.clone(),
        families: handle.renderer.families().clone(),
        metrics: handle.metrics.clone(),
        on_push: Arc::new(|| {}),
    };
    let otlp = aws_quota_exporter::otlp::OtlpOutput::start(&otlp_settings, source, config.otlp_max_points_per_request)
        .expect("OTLP starts");
    let mut push_seconds = Vec::new();
    let mut push_cpu = Vec::new();
    let mut requests_per_push = 0;
    for _ in 0..=PUSHES {
        let (cpu_before, started) = (cpu_seconds(), Instant::now());
        let pushed = otlp.push_now().await;
        assert_eq!(pushed.failed, 0, "an OTLP push failed");
        requests_per_push = pushed.requests;
        push_seconds.push(started.elapsed().as_secs_f64());
        push_cpu.push(cpu_seconds() - cpu_before);
    }
    let (first_push, first_cpu) = (push_seconds.remove(0), push_cpu.remove(0));
    let rss_pushes = proc_status_kib("VmHWM");
    let rss_with_push = proc_status_kib("VmRSS");
    let remembered = otlp.remembered_series().await;
    otlp.shutdown(Duration::from_secs(60)).await;
    let rss_now = proc_status_kib("VmRSS");

    drop(child.stdin.take());
    let received: Vec<usize> = line().split(' ').map(|n| n.parse().expect("a number")).collect();
    let _ = child.wait();
    let (requests, points, largest_points, largest_bytes, largest_gzip) =
        (received[0], received[1], received[2], received[3], received[4]);

    println!("aws-quota-exporter benchmark");
    println!(
        "estate: {} ({distinct} distinct per region); {} ms latency per AWS call",
        size.summary(),
        LATENCY.as_millis()
    );
    println!(
        "settings: Service Quotas rate {}/s per operation and region, concurrency {}",
        config.service_quotas_rate, config.concurrency
    );
    println!(
        "AWS calls, full refresh:       {full_calls} (minimum {full_min}, ratio {:.2})",
        full_calls as f64 / full_min as f64
    );
    println!(
        "AWS calls, usage-only refresh: {usage_calls} (minimum {usage_min}, ratio {:.2})",
        usage_calls as f64 / usage_min as f64
    );
    println!("time to first complete snapshot: {:.2} s", first_snapshot.as_secs_f64());
    println!("usage-only refresh:              {:.2} s", usage_refresh.as_secs_f64());
    println!("render of one snapshot (both formats, gzip): {:.0} ms", render.as_secs_f64() * 1000.0);
    println!(
        "exposition: {} series; text {:.1} MB ({:.2} MB gzip); OpenMetrics {:.1} MB ({:.2} MB gzip)",
        exposition.series,
        mb(exposition.text_bytes),
        mb(exposition.text_gzip.len()),
        mb(exposition.openmetrics_bytes),
        mb(exposition.openmetrics_gzip.len())
    );
    report("scrape, OpenMetrics + gzip (as Prometheus asks)", &gzip_latencies);
    report("nginx serving the same gzip bytes as a static file", &nginx_latencies);
    let at = |sorted: &[Duration], p: f64| {
        sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)].as_secs_f64()
    };
    println!(
        "  exporter / nginx: p50 {:.2}x, p99 {:.2}x (below 1: the exporter answers faster)",
        at(&gzip_latencies, 0.50) / at(&nginx_latencies, 0.50),
        at(&gzip_latencies, 0.99) / at(&nginx_latencies, 0.99)
    );
    report("scrape, text without gzip (as curl asks)", &plain_latencies);
    let pushes = PUSHES as usize + 2; // the timed ones, the first, and the one at shutdown
    let per_push = points / pushes;
    let by_points = aws_quota_exporter::otlp::requests_for(per_push, config.otlp_max_points_per_request);
    println!(
        "OTLP push over gRPC of the whole snapshot: {per_push} data points in {requests_per_push} requests \
         ({by_points} by the point limit alone; at most 3 MiB each) \
         (largest {largest_points} points, {:.2} MB, {:.2} MB gzipped; at most {} points allowed)",
        mb(largest_bytes),
        mb(largest_gzip),
        config.otlp_max_points_per_request
    );
    println!(
        "  first push {:.0} ms, {:.2} CPU-s; then {PUSHES} pushes: {} ms; {} CPU-s (the whole process)",
        first_push * 1000.0,
        first_cpu,
        push_seconds.iter().map(|s| format!("{:.0}", s * 1000.0)).collect::<Vec<_>>().join(", "),
        push_cpu.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ")
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let scale = 100_000.0 / per_push as f64;
    println!(
        "  per 100,000 data points (scaled from the median push): {:.0} ms, {:.2} CPU-s",
        median(&mut push_seconds) * scale * 1000.0,
        median(&mut push_cpu) * scale
    );
    assert_eq!(requests, pushes * requests_per_push, "every push sent every request");
    let by_bytes = largest_bytes <= aws_quota_exporter::otlp::encode::MAX_REQUEST_BYTES;
    assert!(requests_per_push >= by_points && by_bytes, "{requests_per_push} requests, {largest_bytes} bytes at most");
    println!("  kept between pushes: the start times of {remembered} counter series (of {per_push} data points)");
    println!("peak RSS of the exporter process (scrape clients included):");
    println!("  during the first full refresh and a usage refresh: {:.1} MB", rss_refresh as f64 / 1024.0);
    println!("  during the gzip scrapes:                           {:.1} MB", rss_gzip_scrapes as f64 / 1024.0);
    println!("  during the uncompressed scrapes:                   {:.1} MB", rss_plain_scrapes as f64 / 1024.0);
    println!("  without the OTLP push (after the scrapes):         {:.1} MB", rss_without_push as f64 / 1024.0);
    println!(
        "  with the OTLP push: peak during the pushes {:.1} MB ({:.2}x), after the last {:.1} MB ({:.2}x)",
        rss_pushes as f64 / 1024.0,
        rss_pushes as f64 / rss_without_push as f64,
        rss_with_push as f64 / 1024.0,
        rss_with_push as f64 / rss_without_push as f64
    );
    println!("  at the end:                                        {:.1} MB", rss_now as f64 / 1024.0);
}

async fn scrape(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    url: &str,
    gzip: bool,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..SCRAPERS {
        let client = client.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(SCRAPES_EACH);
            for _ in 0..SCRAPES_EACH {
                let mut req = http::Request::get(&url);
                if gzip {
                    req = req.header("accept", PROMETHEUS_ACCEPT).header("accept-encoding", "gzip");
                }
                let started = Instant::now();
                let res = client.request(req.body(Empty::new()).expect("valid")).await.expect("answered");
                // Read every byte, as a scraper must, without keeping the body.
                let mut body = res.into_body();
                let mut bytes = 0usize;
                while let Some(frame) = body.frame().await {
                    bytes += frame.expect("a readable body").data_ref().map_or(0, |d| d.len());
                }
                latencies.push(started.elapsed());
                assert!(bytes > 0);
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("scraper"));
    }
    all.sort();
    all
}

/// nginx from Debian (`apt-get install nginx-light`), serving one pre-compressed file at
/// `/metrics` on a loopback port, as a static file server does; stopped, and its
/// directory removed, on drop.
struct Nginx {
    url: String,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Nginx {
    fn serve(gzip_body: &[u8]) -> Nginx {
        let dir = std::env::temp_dir().join(format!("aqe-bench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        std::fs::write(dir.join("metrics.gz"), gzip_body).expect("the body is written");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let d = dir.display();
        let conf = format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; \
             uwsgi_temp_path {d}; scgi_temp_path {d}; keepalive_requests 100000;\n\
             server {{ listen 127.0.0.1:{port}; location = /metrics {{ alias {d}/metrics.gz; \
             default_type \"application/openmetrics-text; version=1.0.0; charset=utf-8\"; \
             add_header Content-Encoding gzip; }} }} }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("the configuration is written");
        let nginx =
            ["/usr/sbin/nginx", "nginx"].into_iter().find(|p| std::path::Path::new(p).exists()).unwrap_or("nginx");
        let child = Command::new(nginx)
            .args(["-p", &dir.display().to_string(), "-c", &dir.join("nginx.conf").display().to_string()])
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (apt-get install nginx-light)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { url: format!("http://127.0.0.1:{port}/metrics"), child, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn report(what: &str, sorted: &[Duration]) {
    let pct = |p: f64| sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)];
    println!(
        "{what}: {} scrapes by {SCRAPERS} concurrent scrapers: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        sorted.len(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        sorted[sorted.len() - 1].as_secs_f64() * 1000.0
    );
}
