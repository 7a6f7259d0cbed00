//! `spawn_app()`: the real exporter on 127.0.0.1 port 0, talking through the real AWS
//! SDK over HTTP to a simulated AWS with a manual clock, plus a small HTTP client and a
//! parser for the text exposition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_quota_exporter::aws::{RetryPolicy, static_sdk_config};
use aws_quota_exporter::clock::Clock;
use aws_quota_exporter::config::Config;
use aws_quota_exporter::startup::{self, AppHandle, Settings};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use simaws::{Estate, SimAws, SimClock};

/// The tests' "now": 30 seconds into a minute.
pub const T0: f64 = 1_790_000_010.0;
/// The end of the usage window at `T0`: the start of the current minute.
pub const WINDOW_END: f64 = 1_789_999_980.0;

#[test]
fn the_test_time_is_thirty_seconds_into_the_minute_that_ends_the_window() {
    assert_eq!((T0 / 60.0).floor() * 60.0, WINDOW_END);
    assert_eq!(T0 - WINDOW_END, 30.0);
}

/// The simulator's manual clock, as the exporter's clock.
#[derive(Debug)]
pub struct SimTime(pub SimClock);

impl Clock for SimTime {
    fn now(&self) -> f64 {
        self.0.now()
    }
}

pub struct TestApp {
    pub address: String,
    pub handle: AppHandle,
    pub sim: Arc<SimAws>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Stops the exporter as SIGTERM would and waits until it has finished.
    pub async fn stop(mut self) {
        drop(self.shutdown.take());
        if let Some(task) = self.task.take() {
            task.await.expect("the exporter task ends cleanly");
        }
    }
}

/// The exporter over `estate`, with `access_key_id` as its credentials and the
/// configuration adjusted by `configure`. Nothing is refreshed until the test asks.
pub async fn spawn_app_with(estate: Estate, access_key_id: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_pushing(estate, access_key_id, configure, None).await
}

/// Like [`spawn_app_with`], pushing over OTLP as `otlp` says.
pub async fn spawn_app_pushing(
    estate: Estate,
    access_key_id: &str,
    configure: impl FnOnce(&mut Config),
    otlp: Option<aws_quota_exporter::otlp::OtlpSettings>,
) -> TestApp {
    let sim = SimAws::start_with(estate, SimClock::manual(T0), "127.0.0.1:0").await.expect("the simulator starts");
    spawn_app_on(Arc::new(sim), access_key_id, configure, otlp).await
}

/// Another exporter on the same simulated AWS as `app` (a second replica).
pub async fn spawn_app_sharing(app: &TestApp, access_key_id: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(app.sim.clone(), access_key_id, configure, None).await
}

/// Like [`spawn_app_with`], refreshing on its own schedule, as the binary does.
pub async fn spawn_app_scheduled(estate: Estate, access_key_id: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    let sim = SimAws::start_with(estate, SimClock::manual(T0), "127.0.0.1:0").await.expect("the simulator starts");
    spawn(Arc::new(sim), access_key_id, configure, None, true).await
}

/// The exporter on a simulator the test started itself (a real clock, say).
pub async fn spawn_app_on_sim(sim: Arc<SimAws>, access_key_id: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn(sim, access_key_id, configure, None, false).await
}

async fn spawn_app_on(
    sim: Arc<SimAws>,
    access_key_id: &str,
    configure: impl FnOnce(&mut Config),
    otlp: Option<aws_quota_exporter::otlp::OtlpSettings>,
) -> TestApp {
    spawn(sim, access_key_id, configure, otlp, false).await
}

async fn spawn(
    sim: Arc<SimAws>,
    access_key_id: &str,
    configure: impl FnOnce(&mut Config),
    otlp: Option<aws_quota_exporter::otlp::OtlpSettings>,
    schedule: bool,
) -> TestApp {
    let retries = RetryPolicy { max_attempts: 3, initial_backoff: Duration::from_millis(2), ..RetryPolicy::default() };
    let sdk_config = static_sdk_config(&sim.endpoint_url(), access_key_id, "test-secret", retries).await;
    let mut config = Config {
        listen_address: "127.0.0.1:0".parse().expect("valid address"),
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        // The limiter is proven by its own tests; here it would only slow the suite.
        service_quotas_rate: 1000.0,
        // Every usage metric at every refresh, as a test that sets usage and refreshes
        // at the same instant expects; the tests of the adaptive cadence turn it on.
        usage_slowest_interval: Duration::from_secs(300),
        ..Config::default()
    };
    configure(&mut config);
    let settings = Settings { config, sdk_config, clock: Arc::new(SimTime(sim.clock().clone())), schedule, otlp };
    let app = startup::build(settings).await.expect("the exporter builds");
    let address = format!("http://{}", app.local_addr());
    let handle = app.handle();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp { address, handle, sim, shutdown: Some(tx), task: Some(task) }
}

/// The exporter over the test estate, as its main account.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(crate::estate::test_estate(), crate::estate::ACCESS_KEY, |_| {}).await
}

/// Starts the exporter binary as `cmd` says (stderr piped), and waits until it logs
/// the address it serves on; the child, that address, and its later log lines.
pub fn start_binary(
    cmd: &mut std::process::Command,
) -> (std::process::Child, String, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().expect("the binary starts");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Drained to the end even when nobody listens, so the child never blocks on a
        // full pipe.
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let address = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("the exporter logs its address");
        if line.contains("serving /metrics") {
            break line.rsplit("address=").next().expect("an address field").trim().to_owned();
        }
    };
    (child, address, rx)
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("a UTF-8 body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// Sends a request with the given method and headers.
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let mut req = http::Request::builder().method(method).uri(format!("{}{path}", self.address));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = client.request(req.body(Empty::new()).expect("a valid request")).await.expect("the server answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("a readable body").to_bytes();
        Reply { status, headers, body }
    }

    /// Sends a POST with a body.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
        let client = Client::builder(TokioExecutor::new()).build_http::<http_body_util::Full<Bytes>>();
        let mut req = http::Request::builder().method("POST").uri(format!("{}{path}", self.address));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = client
            .request(req.body(http_body_util::Full::new(body.into())).expect("a valid request"))
            .await
            .expect("the server answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("a readable body").to_bytes();
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[]).await
    }

    /// `/metrics` in the text format, uncompressed.
    pub async fn metrics(&self) -> Exposition {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200);
        Exposition::parse(&reply.text())
    }

    /// A full refresh of every target, then the resulting exposition.
    pub async fn refresh(&self) -> Exposition {
        self.handle.refresh_all().await;
        self.metrics().await
    }
}

/// One sample: family name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed text exposition.
#[derive(Debug, Clone)]
pub struct Exposition {
    pub raw: String,
    pub samples: Vec<Sample>,
}

impl Exposition {
    pub fn parse(raw: &str) -> Exposition {
        let samples = raw
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| parse_sample(l).unwrap_or_else(|| panic!("unparseable sample line: {l}")))
            .collect();
        Exposition { raw: raw.to_owned(), samples }
    }

    /// Samples of a family whose labels include every given pair.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect()
    }

    /// The value of the one sample that matches; `None` when there is none; panics on several.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        assert!(found.len() <= 1, "{name} {labels:?} matches {} samples", found.len());
        found.first().map(|s| s.value)
    }

    /// Like `value`, for a quota of the test account.
    pub fn quota(&self, name: &str, region: &str, service: &str, code: &str) -> Option<f64> {
        let found: Vec<&Sample> = self
            .find(name, &[("cloud_region", region), ("service_code", service), ("quota_code", code)])
            .into_iter()
            .filter(|s| !s.labels.contains_key("resource"))
            .collect();
        assert!(found.len() <= 1, "{name} {service}/{code} in {region} matches {} samples", found.len());
        found.first().map(|s| s.value)
    }

    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.find(name, labels).len()
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name_and_labels, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match name_and_labels.split_once('{') {
        None => (name_and_labels.to_owned(), BTreeMap::new()),
        Some((name, rest)) => (name.to_owned(), parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample { name, labels, value })
}

/// Parses `a="x",b="y\"z"` with the exposition's escapes.
fn parse_labels(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if key.is_empty() {
            return Some(out);
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key, value);
        match chars.next() {
            Some(',') => continue,
            None => return Some(out),
            Some(_) => return None,
        }
    }
}

/// The exporter binary run with `args` and only `env` (and `PATH`) in its environment.
pub fn binary(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

/// A file in the temporary directory, removed on drop.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    pub fn new(text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("aqe-test-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::write(&path, text).expect("written");
        TempFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }

    pub fn write(&self, text: &str) {
        std::fs::write(&self.0, text).expect("written");
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
