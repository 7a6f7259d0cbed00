//! `cargo bench --bench organization` (part of `make bench`): the exporter discovering
//! and collecting a simulated AWS Organization of 50 and then 200 accounts in two
//! regions, 20 ms of latency on every AWS call.
//!
//! The simulated AWS runs in a child process, so the peak RSS printed is the
//! exporter's own. Printed per size: AWS calls of a full and of a usage-only refresh
//! against their minimum (counted by the simulator, so STS `AssumeRole`, which the SDK's
//! credentials provider makes, is included), time to the first complete snapshot
//! against the bound AWS's rates and the in-flight cap set, peak RSS, series, and how
//! evenly four shards would split the series. `BENCH_IN_FLIGHT=N` sets
//! `QUOTA_EXPORTER_MAX_REQUESTS_IN_FLIGHT` for an experiment.

#[path = "../tests/common/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_quota_exporter::accounts::assign;
use aws_quota_exporter::aws::{RetryPolicy, static_sdk_config};
use aws_quota_exporter::clock::SystemClock;
use aws_quota_exporter::config::{Config, OrganizationsConfig};
use aws_quota_exporter::startup::{self, Settings};
use process::{cpu_seconds, proc_status_kib, reset_peak_rss};
use simaws::estate::{Member, Organization, OrganizationalUnit, Role};
use simaws::generate::{self, Size};
use simaws::paging::page_count;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const LATENCY: Duration = Duration::from_millis(20);
const ROLE: &str = "aws-quota-exporter-read";
/// Organizational units the members are spread over.
const UNITS: usize = 4;
const SHARDS: u32 = 4;

fn size(accounts: usize) -> Size {
    Size { accounts, ..Size::new(&REGIONS, 5, 26, 0.4) }
}

/// The generated accounts as an organization: account 0 manages, every other one has
/// the read role, trusting account 0; members spread over four units.
fn organization(accounts: usize) -> simaws::Estate {
    let mut estate = generate::estate(&size(accounts));
    let management = generate::account_id(0);
    for account in estate.accounts.iter_mut().skip(1) {
        let arn = format!("arn:aws:iam::{}:role/{ROLE}", account.id);
        account.roles = vec![Role::new(&arn, None).trusting(&management)];
    }
    let units = (0..UNITS)
        .map(|u| OrganizationalUnit {
            id: format!("ou-bench-unit{u:04}"),
            name: format!("Unit {u}"),
            parent_id: "r-bench".into(),
        })
        .collect();
    let members = (0..accounts)
        .map(|i| {
            let parent = if i == 0 { "r-bench".to_owned() } else { format!("ou-bench-unit{:04}", i % UNITS) };
            Member::new(&generate::account_id(i), &format!("Account {i}"), "ACTIVE", &parent)
        })
        .collect();
    estate.organization = Some(Organization {
        id: "o-benchmark01".into(),
        management_account_id: management,
        root_id: "r-bench".into(),
        units,
        members,
    });
    estate
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--simulator") {
        let accounts = args.get(i + 1).and_then(|n| n.parse().ok()).expect("--simulator ACCOUNTS");
        return run_simulator(accounts);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    for accounts in [50, 200] {
        runtime.block_on(bench(accounts));
    }
}

/// The child: serve the organization; on each line from stdin print the calls received
/// so far (total, AssumeRole, GetCallerIdentity, failed) and its CPU time in hundredths
/// of a second, until stdin closes.
fn run_simulator(accounts: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let sim = simaws::SimAws::start(organization(accounts)).await.expect("the simulator starts");
        sim.inject(simaws::Fault::latency(LATENCY));
        println!("{}", sim.endpoint_url());
        std::io::stdout().flush().expect("stdout");
        let sim = Arc::new(sim);
        let reader = sim.clone();
        tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lock().lines() {
                if line.is_err() {
                    break;
                }
                let calls = reader.calls();
                let failed = calls.0.iter().filter(|c| c.failed).count();
                println!(
                    "{} {} {} {failed} {}",
                    calls.total(),
                    calls.count("AssumeRole"),
                    calls.count("GetCallerIdentity"),
                    (cpu_seconds() * 100.0) as usize
                );
                std::io::stdout().flush().expect("stdout");
            }
        })
        .await
        .expect("stdin reader");
    });
}

async fn bench(accounts: usize) {
    let size = size(accounts);
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args(["--simulator", &accounts.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the simulator process starts");
    let mut stdin = child.stdin.take().expect("piped");
    let mut child_out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = move || {
        let mut line = String::new();
        child_out.read_line(&mut line).expect("a line from the child");
        line.trim().to_owned()
    };
    let endpoint = line();
    let mut calls = move || -> [usize; 5] {
        writeln!(stdin, "calls").expect("the child listens");
        let counts: Vec<usize> = line().split(' ').filter_map(|n| n.parse().ok()).collect();
        [counts[0], counts[1], counts[2], counts[3], counts[4]]
    };

    let sdk_config = static_sdk_config(&endpoint, &generate::access_key_id(0), "bench", RetryPolicy::default()).await;
    let mut config = Config {
        listen_address: "127.0.0.1:0".parse().expect("valid"),
        regions: REGIONS.iter().map(|r| (*r).to_owned()).collect(),
        bedrock: false,
        forecast: false,
        // Every usage metric at every refresh: these figures count the calls of reading
        // them all; benches/cadence.rs measures the adaptive cadence.
        usage_slowest_interval: Duration::from_secs(300),
        ..Config::default()
    };
    config.accounts.organizations =
        Some(OrganizationsConfig { role_name: ROLE.into(), external_id: None, units: Vec::new() });
    if let Some(n) = std::env::var("BENCH_IN_FLIGHT").ok().and_then(|v| v.parse().ok()) {
        config.accounts.max_in_flight = n;
    }
    reset_peak_rss();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let app = startup::build(Settings {
        config: config.clone(),
        sdk_config,
        clock: Arc::new(SystemClock),
        schedule: false,
        otlp: None,
    })
    .await
    .expect("the exporter builds");
    let handle = app.handle();
    let address = format!("http://{}/metrics", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    // Discovery ran at start; the first full refresh of every target follows.
    let built = started.elapsed();
    let before = calls();
    // As the running exporter does: discovery at start (above), then every target's full
    // refresh, then the render of the result.
    let phase = Instant::now();
    let runners = handle.fleet.runners().await;
    let generations =
        futures_util::future::join_all(runners.iter().map(|r| async move { r.lock().await.full_refresh().await }))
            .await;
    let collection = phase.elapsed();
    let phase = Instant::now();
    handle.store.wait_rendered(generations.into_iter().max().unwrap_or(0)).await;
    let render = phase.elapsed();
    let first_snapshot = started.elapsed();
    let cpu_first = cpu_seconds() - cpu_before;
    let after_full = calls();
    handle.refresh_usage().await;
    let after_usage = calls();
    let rss = proc_status_kib("VmHWM");

    // The minimum: AWS decides the pages; GetMetricData takes 500 metrics; each account
    // one GetCallerIdentity, each assumed one AssumeRole; Organizations one ListRoots
    // and, for the root and each unit, the pages of its accounts and of its units.
    let targets = accounts * REGIONS.len();
    let applied = (0..size.quotas_per_service).filter(|i| i % 3 == 0).count();
    let with_usage = size.services * (0..size.quotas_per_service).filter(|i| generate::has_usage(&size, *i)).count();
    let list_min = page_count(size.services, 100)
        + size.services * (page_count(applied, 100) + page_count(size.quotas_per_service, 100));
    let gmd_min = with_usage.div_ceil(500);
    let account_pages: usize = page_count(1, 20)
        + (0..UNITS).map(|u| page_count((1..accounts).filter(|i| i % UNITS == u).count(), 20)).sum::<usize>();
    let unit_pages = page_count(UNITS, 20) + UNITS * page_count(0, 20);
    let discovery_min = page_count(1, 20) + account_pages + unit_pages;
    let sts_min = accounts + (accounts - 1);
    let full_min = targets * (list_min + gmd_min) + sts_min + discovery_min;
    let full_calls = after_full[0];
    let usage_min = targets * gmd_min;
    let usage_calls = after_usage[0] - after_full[0];

    // The time AWS's rates allow: each account's region lists at the exporter's share of
    // AWS's 10 requests per second (all targets in parallel), and no more than the
    // in-flight cap of requests at a time, each taking the latency.
    let rate_bound = list_min as f64 / config.service_quotas_rate;
    // Discovery walks the tree one call after the other, each operation paced at 4/s.
    let discovery_bound = account_pages.max(unit_pages) as f64 / 4.0;
    let cap_bound = (full_min as f64 * LATENCY.as_secs_f64()) / config.accounts.max_in_flight as f64;

    let body = reqwest_like_get(&address).await;
    let mut per_account: BTreeMap<String, usize> = BTreeMap::new();
    let mut series = 0;
    for l in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        series += 1;
        let id = l.split("cloud_account_id=\"").nth(1).and_then(|r| r.split('"').next());
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            *per_account.entry(id.to_owned()).or_default() += 1;
        }
    }
    let mut per_shard = vec![0usize; SHARDS as usize];
    let shards = assign(per_account.keys().map(String::as_str), SHARDS);
    for (id, n) in &per_account {
        per_shard[shards[id.as_str()] as usize] += n;
    }
    let (smallest, largest) =
        (per_shard.iter().min().copied().unwrap_or(0), per_shard.iter().max().copied().unwrap_or(0));
    // A fifth shard: the accounts that move, against the fifth that must.
    let five = assign(per_account.keys().map(String::as_str), SHARDS + 1);
    let moved = shards.iter().filter(|(id, shard)| five[*id] != **shard).count();

    println!("organization: {} accounts, {}", accounts, size.summary());
    println!(
        "  AWS calls, full refresh (discovery and STS included): {full_calls} (minimum {full_min}, ratio {:.2})",
        full_calls as f64 / full_min as f64
    );
    println!(
        "    of which AssumeRole {}, GetCallerIdentity {}; answered with an error: {}",
        after_full[1], after_full[2], after_full[3]
    );
    println!(
        "  AWS calls, usage-only refresh: {usage_calls} (minimum {usage_min}, ratio {:.2})",
        usage_calls as f64 / usage_min as f64
    );
    println!("  time to the first complete snapshot: {:.2} s", first_snapshot.as_secs_f64());
    println!(
        "    discovery ({discovery_min} calls) and targets: {:.2} s (bound {discovery_bound:.2} s: Organizations paced at 4 calls/s per operation)",
        built.as_secs_f64()
    );
    println!(
        "    every target's full refresh: {:.2} s (bound {rate_bound:.2} s from AWS's listing rate per target, {cap_bound:.2} s from {} requests in flight at {} ms)",
        collection.as_secs_f64(),
        config.accounts.max_in_flight,
        LATENCY.as_millis()
    );
    println!("    render: {:.2} s", render.as_secs_f64());
    println!(
        "  CPU to the first complete snapshot: exporter {cpu_first:.1} s, simulator {:.1} s (2 cores for both)",
        (after_full[4] - before[4]) as f64 / 100.0
    );
    println!("  peak RSS: {:.1} MB ({:.2} MB per account)", rss as f64 / 1024.0, rss as f64 / 1024.0 / accounts as f64);
    println!("  series on /metrics: {series}; {} calls before the first refresh", before[0]);
    println!(
        "  {SHARDS} shards: series per shard {per_shard:?}, largest/smallest {:.2}",
        largest as f64 / smallest.max(1) as f64
    );
    println!(
        "  {} shards instead of {SHARDS}: {moved} of {} accounts move ({} must)",
        SHARDS + 1,
        per_account.len(),
        per_account.len().div_ceil((SHARDS + 1) as usize)
    );
    drop(calls);
    let _ = child.wait();
}

/// GET over HTTP/1.0 (the body whole, uncompressed).
async fn reqwest_like_get(url: &str) -> String {
    let address = url.trim_start_matches("http://").split('/').next().expect("an address").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("the exporter accepts connections");
        write!(stream, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request sent");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response read");
        response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
    })
    .await
    .expect("the scrape ran")
}
