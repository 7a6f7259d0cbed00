//! The binary: `--help`, `--version`, and configuration errors that stop start-up with
//! a message naming the variable.

use std::process::Command;

fn exporter() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"));
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

#[test]
fn help_lists_every_configuration_variable() {
    let out = exporter().arg("--help").output().expect("the binary runs");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf-8");
    for v in aws_quota_exporter::config::VARIABLES {
        assert!(help.contains(v.name), "{} is missing from --help", v.name);
    }
    assert!(help.contains("--demo"));
}

#[test]
fn version_prints_the_crate_version() {
    let out = exporter().arg("--version").output().expect("the binary runs");
    assert_eq!(
        String::from_utf8(out.stdout).expect("utf-8"),
        format!("aws-quota-exporter {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_variable_stops_start_up_with_its_name_value_and_form() {
    let out = exporter().env("QUOTA_EXPORTER_USAGE_LOOKBACK", "ten minutes").output().expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(
        stderr,
        "Error: invalid QUOTA_EXPORTER_USAGE_LOOKBACK=\"ten minutes\": \"ten minutes\" does not start with a number; \
         expected a duration such as 30s, 5m, 1h or 1h30m (units ms, s, m, h, d)\n"
    );
}

#[test]
fn an_unknown_argument_is_refused() {
    let out = exporter().arg("--deamon").output().expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).expect("utf-8"), "Error: unknown argument \"--deamon\"; see --help\n");
}

#[test]
fn a_bad_log_level_is_refused_with_its_variable() {
    let out = exporter().env("QUOTA_EXPORTER_LOG_LEVEL", "loud=maybe=no").output().expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(stderr.starts_with("Error: invalid QUOTA_EXPORTER_LOG_LEVEL=\"loud=maybe=no\""), "{stderr}");
}

#[test]
fn a_bad_otel_variable_stops_start_up_in_one_line_even_with_backtraces_on() {
    let out = exporter()
        .env("RUST_BACKTRACE", "1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).expect("utf-8"),
        "Error: invalid OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": not a supported protocol; \
         expected grpc or http/protobuf\n"
    );
}

#[test]
fn the_readme_documents_every_variable_with_its_default() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    for v in aws_quota_exporter::config::VARIABLES {
        let row = readme.lines().find(|l| l.starts_with(&format!("| `{}` |", v.name)));
        let row = row.unwrap_or_else(|| panic!("{} has no row in the README's configuration table", v.name));
        let documented = row.contains(&format!("| `{}` |", v.default)) || row.contains(&format!("| {} |", v.default));
        assert!(documented, "the README gives another default for {}: {row}", v.name);
    }
}

#[test]
fn the_readme_documents_every_metric_family_the_exporter_exports() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let golden =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/metrics.prom")).expect("golden");
    for family in golden.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()) {
        assert!(readme.contains(&format!("| `{family}` |")), "{family} is missing from the README's metric tables");
    }
}

/// Starts the binary in demo mode on an ephemeral port; returns it and its address.
fn start_demo() -> (std::process::Child, String, std::sync::mpsc::Receiver<String>) {
    crate::helpers::start_binary(exporter().arg("--demo").env("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0"))
}

fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("the exporter accepts connections");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn the_demo_serves_the_simulated_estate_and_stops_cleanly_on_sigterm() {
    let (mut child, address, logs) = start_demo();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while http_get(&address, "/-/ready").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the demo is not ready within a minute");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, metrics) = http_get(&address, "/metrics");
    assert_eq!(status, 200);
    let lambda = metrics
        .lines()
        .find(|l| {
            l.starts_with("aws_quota_utilization_ratio{")
                && l.contains("cloud_region=\"us-east-1\"")
                && l.contains("L-B99A9384")
        })
        .expect("the demo's Lambda concurrency quota has a utilisation");
    assert!(lambda.ends_with(" 0.95"), "{lambda}");

    let killed = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("the exporter exits");
    assert!(status.success(), "exit status {status}");
    // The reader thread ends at end of stderr, after the process exits.
    let logs: Vec<String> = logs.iter().collect();
    assert!(logs.iter().any(|l| l.contains("SIGTERM received")), "{logs:?}");
    assert!(logs.iter().any(|l| l.ends_with("stopped")), "{logs:?}");
}

#[test]
fn a_receiver_listening_beyond_loopback_without_credentials_refuses_to_start() {
    let out = exporter()
        .env("QUOTA_EXPORTER_INCREASE_RECEIVER", "true")
        .env("QUOTA_EXPORTER_LISTEN_ADDRESS", "0.0.0.0:0")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        stderr.starts_with("Error: QUOTA_EXPORTER_INCREASE_RECEIVER=true serves a webhook that records decisions"),
        "{stderr}"
    );
    assert!(stderr.contains("only a listener on loopback"), "{stderr}");
}
