//! The HTTP server against clients that would starve it: slow request heads, idle
//! connections, responses nobody reads, more connections than it holds, and a process
//! out of file descriptors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_quota_exporter::config::Config;

use crate::estate::{ACCESS_KEY, test_estate};
use crate::helpers::{TestApp, spawn_app_with};

fn limits(c: &mut Config, header: u64, send: u64, max: usize) {
    c.http.header_timeout = Duration::from_millis(header);
    c.http.send_timeout = Duration::from_millis(send);
    c.http.max_connections = max;
}

fn address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `within` passes); what it sent.
fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(within)).expect("a timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(got),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_completes_its_request_head_or_sits_idle_is_closed() {
    let app = spawn_app_with(test_estate(), ACCESS_KEY, |c| limits(c, 300, 5000, 64)).await;
    let addr = address(&app);
    let started = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        // A slow client: half a request head, then nothing.
        let mut slow = TcpStream::connect(&addr).expect("connects");
        slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n").expect("written");
        let slow_closed = read_to_close(&mut slow, Duration::from_secs(10)).is_some();
        // A keep-alive client that goes quiet after its answer.
        let mut idle = TcpStream::connect(&addr).expect("connects");
        idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n").expect("written");
        let answer = read_to_close(&mut idle, Duration::from_secs(10)).unwrap_or_default();
        (slow_closed, String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .expect("joined");
    assert!(closed.0, "the slow connection was closed");
    assert!(closed.1.starts_with("HTTP/1.1 200"), "the idle one got its answer first: {}", closed.1);
    assert!(started.elapsed() < Duration::from_secs(10), "both within the header timeout, not the test's patience");
    // Counted as the connection task ends, a moment after the client sees it closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.handle.metrics.http_connections_closed("header_timeout") < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.handle.metrics.http_connections_closed("header_timeout"), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_its_response_is_cut_off_after_the_send_timeout() {
    // An estate whose uncompressed exposition (a few MB) outgrows any socket buffer.
    let size = simaws::generate::Size::new(&["us-east-1"], 20, 250, 0.4);
    let app = spawn_app_with(simaws::generate::estate(&size), &simaws::generate::access_key_id(0), |c| {
        limits(c, 5000, 500, 64);
        c.regions = vec!["us-east-1".into()];
        c.bedrock = false;
        c.forecast = false;
    })
    .await;
    app.handle.refresh_all().await;
    let addr: std::net::SocketAddr = address(&app).parse().expect("an address");
    // A receive window of a few KiB and a reader that never reads.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small window");
    let mut stream = socket.connect(addr).await.expect("connects");
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n")
        .await
        .expect("written");
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.handle.metrics.http_connections_closed("send_timeout") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.handle.metrics.http_connections_closed("send_timeout"), 1);
    // Meanwhile, and after, everyone else is served.
    assert_eq!(app.get("/-/healthy").await.status, 200);
    drop(stream);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_the_connection_idle_the_longest_makes_room_for_a_scrape() {
    let app = spawn_app_with(test_estate(), ACCESS_KEY, |c| limits(c, 30_000, 5000, 4)).await;
    app.handle.refresh_all().await;
    let addr = address(&app);
    // Four connections that say nothing fill the server.
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(&addr).expect("connects"));
        std::thread::sleep(Duration::from_millis(50));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = app.metrics().await;
    assert!(m.count("aws_quota_limit", &[]) > 200, "the scrape got through");
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.handle.metrics.http_connections_closed("evicted") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(app.handle.metrics.http_connections_closed("evicted") >= 1);
    // The first to arrive and sit idle was the one closed.
    let first = idle.remove(0);
    let closed = tokio::task::spawn_blocking(move || {
        let mut first = first;
        read_to_close(&mut first, Duration::from_secs(5)).is_some()
    })
    .await
    .expect("joined");
    assert!(closed, "the longest-idle connection was closed");
    app.stop().await;
}

/// The binary, in demo mode, with `ulimit -n` at `files`; the child and its address.
fn demo_with_few_files(files: u32) -> (std::process::Child, String) {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$0\" --demo"))
        .arg(env!("CARGO_BIN_EXE_aws-quota-exporter"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
        .env("QUOTA_EXPORTER_BEDROCK", "false")
        .env("QUOTA_EXPORTER_FORECAST", "false")
        .env("QUOTA_EXPORTER_LOG_LEVEL", "info");
    let (child, address, _log) = crate::helpers::start_binary(&mut cmd);
    (child, address)
}

/// CPU seconds a process has used (user and system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process's stat");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

#[test]
fn out_of_file_descriptors_the_server_backs_off_instead_of_spinning_and_recovers() {
    let (mut child, addr) = demo_with_few_files(64);
    let ready = |addr: &str| -> bool {
        TcpStream::connect(addr)
            .and_then(|mut s| {
                s.write_all(b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut r = String::new();
                s.read_to_string(&mut r)?;
                Ok(r.starts_with("HTTP/1.1 200"))
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(&addr) {
        assert!(Instant::now() < deadline, "the demo is not ready within a minute");
        std::thread::sleep(Duration::from_millis(100));
    }
    // More connections than the process has file descriptors: accept fails with EMFILE
    // for the rest, and must not spin.
    let flood: Vec<TcpStream> = (0..120).filter_map(|_| TcpStream::connect(&addr).ok()).collect();
    assert!(flood.len() > 64, "the kernel queues them: {}", flood.len());
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_seconds(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(child.id()) - before;
    assert!(used < 0.5, "{used:.2} CPU seconds in 2 s: the accept loop spins");
    drop(flood);
    // With descriptors free again, it serves.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(&addr) {
        assert!(Instant::now() < deadline, "the server does not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
