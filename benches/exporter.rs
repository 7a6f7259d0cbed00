//! `cargo bench --bench exporter` (or `make bench`): the exporter against a generated
//! large estate with 20 ms of latency on every AWS call.
//!
//! The simulated AWS runs in a child process so that the peak RSS printed is the
//! exporter's own (plus this benchmark's scrape clients). Printed: AWS calls per full
//! and per usage-only refresh against their minimum, time to the first complete
//! snapshot, render time, exposition size, scrape latency under concurrent scrapers,
//! and peak RSS.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_quota_exporter::aws::{Retries, static_sdk_config};
use aws_quota_exporter::clock::SystemClock;
use aws_quota_exporter::config::Config;
use aws_quota_exporter::startup::{self, Settings};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use simaws::generate::{self, Size};
use simaws::paging::page_count;

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"];
const LATENCY: Duration = Duration::from_millis(20);
const SCRAPERS: usize = 8;
const SCRAPES_EACH: usize = 50;
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2";

fn size() -> Size {
    Size {
        accounts: 1,
        regions: REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        services: 40,
        quotas_per_service: 250,
        usage_fraction: 0.4,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--simulator") {
        return run_simulator();
    }
    // `cargo bench` passes --bench; anything else is ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(bench());
}

/// The child: serve the generated estate until stdin closes.
fn run_simulator() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let sim = simaws::SimAws::start(generate::estate(&size())).await.expect("the simulator starts");
        sim.inject(simaws::Fault::latency(LATENCY));
        println!("{}", sim.endpoint_url());
        std::io::stdout().flush().expect("stdout");
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .expect("stdin reader");
    });
}

async fn bench() {
    let size = size();
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--simulator")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the simulator process starts");
    let mut endpoint = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut endpoint).expect("the endpoint line");
    let endpoint = endpoint.trim().to_owned();

    let sdk_config = static_sdk_config(&endpoint, &generate::access_key_id(0), "bench", Retries::default()).await;
    let config = Config {
        listen_address: "127.0.0.1:0".parse().expect("valid"),
        regions: REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        // The generated estate has no Bedrock; this measures the quota path.
        bedrock: false,
        ..Config::default()
    };
    let app =
        startup::build(Settings { config: config.clone(), sdk_config, clock: Arc::new(SystemClock), schedule: false })
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
    let full_min = REGIONS.len() * (list_min + gmd_min);
    let usage_min = REGIONS.len() * gmd_min;

    let calls_before = api_calls(&handle);
    reset_peak_rss();
    let started = Instant::now();
    handle.refresh_all().await;
    let first_snapshot = started.elapsed();
    // The first refresh also learns each region's account (one STS call each).
    let full_calls = api_calls(&handle) - calls_before - REGIONS.len() as u64;

    let calls_before = api_calls(&handle);
    let started = Instant::now();
    handle.refresh_usage().await;
    let usage_refresh = started.elapsed();
    let usage_calls = api_calls(&handle) - calls_before;
    let rss_refresh = proc_status_kib("VmHWM");

    let started = Instant::now();
    handle.hub.render();
    let render = started.elapsed();
    let exposition = handle.hub.exposition();

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    reset_peak_rss();
    let gzip_latencies = scrape(&client, &address, true).await;
    let rss_gzip_scrapes = proc_status_kib("VmHWM");
    reset_peak_rss();
    let plain_latencies = scrape(&client, &address, false).await;
    let rss_plain_scrapes = proc_status_kib("VmHWM");
    let rss_now = proc_status_kib("VmRSS");

    drop(child.stdin.take());
    let _ = child.wait();

    println!("aws-quota-exporter benchmark");
    println!(
        "estate: {} regions x {} services x {} quotas = {} quotas, {:.0} % with a usage metric ({distinct} distinct per region); {} ms latency per AWS call",
        REGIONS.len(),
        size.services,
        size.quotas_per_service,
        REGIONS.len() * size.services * size.quotas_per_service,
        size.usage_fraction * 100.0,
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
    report("scrape, text without gzip (as curl asks)", &plain_latencies);
    println!("peak RSS of the exporter process (scrape clients included):");
    println!("  during the first full refresh and a usage refresh: {:.1} MB", rss_refresh as f64 / 1024.0);
    println!("  during the gzip scrapes:                           {:.1} MB", rss_gzip_scrapes as f64 / 1024.0);
    println!("  during the uncompressed scrapes:                   {:.1} MB", rss_plain_scrapes as f64 / 1024.0);
    println!("  at the end:                                        {:.1} MB", rss_now as f64 / 1024.0);
}

fn api_calls(handle: &startup::AppHandle) -> u64 {
    handle
        .metrics
        .gather()
        .iter()
        .filter(|f| f.name() == aws_quota_exporter::selfmetrics::API_CALLS)
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
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

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Resets the kernel's peak-RSS mark (VmHWM) so each phase is measured alone.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim_start_matches(':').trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or(0)
}
