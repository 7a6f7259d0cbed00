//! `cargo bench --bench chaos` (or `make chaos`): collection under faults, a soak, and a
//! connection flood.
//!
//! The simulated AWS runs in a child process, a fresh one per scenario, serving a
//! generated estate of 4 regions x 18 services x 100 quotas (7,200 quotas, 40 % with a
//! usage metric) with 20 ms of latency per call. With faults on, every operation is
//! throttled with probability 0.30 and answers HTTP 500 with probability 0.05
//! (seeded: a run repeats). Printed:
//!
//! 1. per retry policy (attempts per call and initial backoff), the first full refresh
//!    with and without faults: time, share of quotas and of usage values in the
//!    snapshot, AWS call attempts, and the highest rate of calls per operation and
//!    region against AWS's limit;
//! 2. a soak of 100 refresh cycles under faults (a full refresh every tenth, usage
//!    refreshes between, as the default cadences have it): resident memory at cycles
//!    10 and 100, and completeness at the end;
//! 3. 2,000 idle connections against the default cap of 512: connections held, and the
//!    latency of a scrape made while they are open.

#[path = "../tests/common/process.rs"]
mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_quota_exporter::aws::{RetryPolicy, static_sdk_config};
use aws_quota_exporter::clock::SystemClock;
use aws_quota_exporter::config::Config;
use aws_quota_exporter::startup::{self, AppHandle, Settings};
use process::{api_calls, proc_status_kib};
use simaws::generate::{self, Size};

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"];
const LATENCY: Duration = Duration::from_millis(20);
const THROTTLED: f64 = 0.30;
const SERVER_ERRORS: f64 = 0.05;
const CYCLES: usize = 100;
const FLOOD: usize = 2000;

fn size() -> Size {
    Size::new(&REGIONS, 18, 100, 0.4)
}

/// AWS's per-second limits per account and region, for the operations the refresh makes.
fn aws_limit(operation: &str) -> Option<f64> {
    match operation {
        "ListServices" | "ListServiceQuotas" | "ListAWSDefaultServiceQuotas" => Some(10.0),
        "GetMetricData" => Some(50.0),
        "ListMetrics" => Some(25.0),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--simulator") {
        let faults = args.get(i + 1).is_some_and(|f| f == "faults");
        return run_simulator(faults);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(bench());
}

/// The child: serve the generated estate until stdin closes, then print the highest
/// number of calls in any one second per operation and region.
fn run_simulator(faults: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let sim = simaws::SimAws::start(generate::estate(&size())).await.expect("the simulator starts");
        sim.inject(simaws::Fault::latency(LATENCY));
        if faults {
            sim.inject(simaws::Fault::throttle().probability(THROTTLED, 0x5EED_0001));
            sim.inject(simaws::Fault::server_error().probability(SERVER_ERRORS, 0x5EED_0002));
        }
        println!("{}", sim.endpoint_url());
        std::io::stdout().flush().expect("stdout");
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .expect("stdin reader");
        for ((operation, region), peak) in sim.calls().peak_per_second() {
            println!("{operation} {region} {peak}");
        }
    });
}

/// A simulator child process.
struct Simulator {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    endpoint: String,
}

impl Simulator {
    fn start(faults: bool) -> Simulator {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["--simulator", if faults { "faults" } else { "none" }])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the simulator process starts");
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut endpoint = String::new();
        out.read_line(&mut endpoint).expect("the endpoint");
        Simulator { child, out, endpoint: endpoint.trim().to_owned() }
    }

    /// Stops it; the highest call rate of any operation against AWS's limit, as
    /// `(operation, region, calls in one second, limit)`.
    fn stop(mut self) -> Option<(String, String, usize, f64)> {
        drop(self.child.stdin.take());
        let mut worst: Option<(String, String, usize, f64)> = None;
        for line in (&mut self.out).lines().map_while(Result::ok) {
            let parts: Vec<&str> = line.split(' ').collect();
            let [op, region, peak] = parts[..] else { continue };
            let (Some(limit), Ok(peak)) = (aws_limit(op), peak.parse::<usize>()) else { continue };
            if worst.as_ref().is_none_or(|w| peak as f64 / limit > w.2 as f64 / w.3) {
                worst = Some((op.to_owned(), region.to_owned(), peak, limit));
            }
        }
        let _ = self.child.wait();
        worst
    }
}

/// The exporter over a simulator, with `attempts` per call and `backoff` initially.
async fn exporter(endpoint: &str, attempts: u32, backoff: Duration) -> (AppHandle, String) {
    let retries = RetryPolicy { max_attempts: attempts, initial_backoff: backoff, ..RetryPolicy::default() };
    let sdk_config = static_sdk_config(endpoint, &generate::access_key_id(0), "chaos", retries).await;
    let config = Config {
        listen_address: "127.0.0.1:0".parse().expect("valid"),
        regions: REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        bedrock: false,
        // Every usage metric at every refresh: these figures count the calls of reading
        // them all; benches/cadence.rs measures the adaptive cadence.
        usage_slowest_interval: Duration::from_secs(300),
        ..Config::default()
    };
    let app =
        startup::build(Settings { config, sdk_config, clock: Arc::new(SystemClock), schedule: false, otlp: None })
            .await
            .expect("the exporter builds");
    let address = app.local_addr().to_string();
    let handle = app.handle();
    tokio::spawn(app.run_until(std::future::pending()));
    (handle, address)
}

/// Shares of the estate's quotas and usage values in the published snapshot.
fn completeness(handle: &AppHandle) -> (f64, f64) {
    let size = size();
    let quotas = size.quotas();
    let with_usage = (0..size.quotas_per_service).filter(|i| generate::has_usage(&size, *i)).count();
    let usage = REGIONS.len() * size.services * with_usage;
    let snapshot = handle.store.snapshot();
    let got_quotas: usize = snapshot.targets.iter().map(|t| t.quotas.quotas().count()).sum();
    let got_usage: usize = snapshot.targets.iter().map(|t| t.usage.readings.len()).sum();
    (got_quotas as f64 / quotas as f64, got_usage as f64 / usage as f64)
}

struct Run {
    seconds: f64,
    quotas: f64,
    usage: f64,
    attempts: u64,
    worst: Option<(String, String, usize, f64)>,
}

async fn first_refresh(faults: bool, attempts: u32, backoff: Duration) -> Run {
    let sim = Simulator::start(faults);
    let (handle, _) = exporter(&sim.endpoint, attempts, backoff).await;
    let started = Instant::now();
    handle.refresh_all().await;
    let seconds = started.elapsed().as_secs_f64();
    let (quotas, usage) = completeness(&handle);
    let attempts = api_calls(&handle);
    Run { seconds, quotas, usage, attempts, worst: sim.stop() }
}

fn pct(share: f64) -> String {
    format!("{:.2} %", share * 100.0)
}

async fn bench() {
    let size = size();
    println!("aws-quota-exporter chaos benchmark");
    println!("estate: {}; {} ms latency per call", size.summary(), LATENCY.as_millis());
    println!(
        "faults: every operation throttled with probability {THROTTLED:.2} and HTTP 500 with probability {SERVER_ERRORS:.2}"
    );
    println!();
    println!("1. first complete snapshot, per retry policy (attempts per call, initial backoff):");
    let policies = [(6, Duration::from_millis(200)), (3, Duration::from_millis(200)), (3, Duration::from_secs(1))];
    let mut baseline = None;
    for (attempts, backoff) in policies {
        for faults in [false, true] {
            if !faults && baseline.is_some() {
                continue;
            }
            let run = first_refresh(faults, attempts, backoff).await;
            if !faults {
                baseline = Some(run.seconds);
            }
            let ratio = baseline.map_or(String::new(), |b| format!(" ({:.1}x the fault-free time)", run.seconds / b));
            let worst = run.worst.as_ref().map_or("none".to_owned(), |(op, region, peak, limit)| {
                format!("{op} in {region}: {peak} calls in one second, AWS allows {limit:.0}")
            });
            println!(
                "  {attempts} attempts, {:>4} ms, {}: {:.1} s{ratio}; quotas {}, usage values {}; {} call attempts; highest rate: {worst}",
                backoff.as_millis(),
                if faults { "faults   " } else { "no faults" },
                run.seconds,
                pct(run.quotas),
                pct(run.usage),
                run.attempts
            );
        }
    }

    println!();
    println!("2. soak: {CYCLES} refresh cycles under faults (6 attempts, 200 ms), a full refresh every tenth:");
    let sim = Simulator::start(true);
    let (handle, address) = exporter(&sim.endpoint, 6, Duration::from_millis(200)).await;
    let mut rss = Vec::new();
    let started = Instant::now();
    for cycle in 1..=CYCLES {
        if cycle % 10 == 1 {
            handle.refresh_all().await;
        } else {
            handle.refresh_usage().await;
        }
        if cycle == 10 || cycle == CYCLES {
            rss.push(proc_status_kib("VmRSS") as f64 / 1024.0);
        }
    }
    let (quotas, usage) = completeness(&handle);
    println!(
        "  {:.0} s; RSS at cycle 10: {:.1} MB, at cycle {CYCLES}: {:.1} MB ({:+.1} %); at the end quotas {}, usage values {}",
        started.elapsed().as_secs_f64(),
        rss[0],
        rss[1],
        (rss[1] / rss[0] - 1.0) * 100.0,
        pct(quotas),
        pct(usage)
    );

    println!();
    println!("3. connection flood: {FLOOD} idle connections, then a scrape:");
    let mut idle = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        match tokio::net::TcpStream::connect(&address).await {
            Ok(s) => idle.push(s),
            Err(e) => {
                println!("  connection {} refused: {e} (raise ulimit -n)", idle.len() + 1);
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = handle.metrics.http_connections();
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(30), scrape(&address)).await;
    let latency = started.elapsed();
    println!(
        "  {} connections opened; the server held {held} (its cap: 512) and closed {} to make room; a scrape {} in {:.1} ms",
        idle.len(),
        handle.metrics.http_connections_closed("evicted"),
        match answer {
            Ok(Ok(bytes)) => format!("answered {bytes} bytes"),
            Ok(Err(e)) => format!("failed ({e})"),
            Err(_) => "timed out".to_owned(),
        },
        latency.as_secs_f64() * 1000.0
    );
    drop(idle);
    let _ = sim.stop();
}

/// One gzip scrape of `/metrics` over a fresh connection; the bytes received.
async fn scrape(address: &str) -> std::io::Result<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(address).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
        .await?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).await?;
    if !body.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other("not a 200"));
    }
    Ok(body.len())
}
