//! The `OTEL_*` variables the OTLP output reads, with an error naming the variable and
//! the expected form for each value it cannot use.

use std::collections::HashMap;
use std::time::Duration;

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl std::fmt::Display for Protocol {
    /// The spelling of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        })
    }
}

/// How to push, as the `OTEL_*` variables say.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The URL metrics are sent to (for HTTP, with its `/v1/metrics` path).
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// gzip the requests (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
    pub gzip: bool,
    pub interval: Duration,
    /// Resource attributes, `service.*` included.
    pub resource: Vec<(String, String)>,
}

/// An `OTEL_*` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}={value:?}: {problem}; expected {expected}")]
pub struct OtlpConfigError {
    variable: String,
    value: String,
    problem: String,
    expected: String,
}

fn invalid(variable: &str, value: &str, problem: impl Into<String>, expected: &str) -> OtlpConfigError {
    OtlpConfigError {
        variable: variable.into(),
        value: value.into(),
        problem: problem.into(),
        expected: expected.into(),
    }
}

/// Reads the settings from the process environment; `None` when OTLP is off.
pub fn settings_from_env() -> Result<Option<OtlpSettings>, OtlpConfigError> {
    settings_from_vars(std::env::vars())
}

/// Reads the settings from the given variables; `None` when no endpoint is set, when
/// `OTEL_SDK_DISABLED=true` or `OTEL_METRICS_EXPORTER=none`.
pub fn settings_from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Option<OtlpSettings>, OtlpConfigError> {
    let vars: HashMap<String, String> =
        vars.into_iter().filter(|(k, v)| k.starts_with("OTEL_") && !v.trim().is_empty()).collect();
    let get = |k: &str| vars.get(k).map(|v| v.trim().to_owned());
    if get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    match get("OTEL_METRICS_EXPORTER").as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(invalid("OTEL_METRICS_EXPORTER", other, "not supported here", "otlp or none"));
        }
    }
    // The signal-specific variable wins over the generic one.
    let pick = |signal: &str, generic: &str| {
        get(signal).map(|v| (signal.to_owned(), v)).or_else(|| get(generic).map(|v| (generic.to_owned(), v)))
    };
    let protocol = match pick("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") {
        None => Protocol::HttpProtobuf,
        Some((_, v)) if v == "grpc" => Protocol::Grpc,
        Some((_, v)) if v == "http/protobuf" => Protocol::HttpProtobuf,
        Some((var, v)) => return Err(invalid(&var, &v, "not a supported protocol", "grpc or http/protobuf")),
    };
    const URL_FORM: &str = "an http:// or https:// URL such as http://collector:4318";
    let check_url = |var: &str, v: &str| {
        if v.starts_with("http://") || v.starts_with("https://") {
            Ok(())
        } else {
            Err(invalid(var, v, "not an http or https URL", URL_FORM))
        }
    };
    let endpoint = if let Some(v) = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
        // The per-signal endpoint is used as it is.
        check_url("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &v)?;
        v
    } else if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
        check_url("OTEL_EXPORTER_OTLP_ENDPOINT", &v)?;
        match protocol {
            Protocol::Grpc => v,
            // OTLP/HTTP appends the signal's path to the base endpoint.
            Protocol::HttpProtobuf => format!("{}/v1/metrics", v.trim_end_matches('/')),
        }
    } else {
        return Ok(None);
    };
    let headers = match pick("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") {
        None => Vec::new(),
        Some((var, v)) => key_values(&v).ok_or_else(|| {
            invalid(
                &var,
                &v,
                "not a list of key=value pairs",
                "key1=value1,key2=value2 (values may be percent-encoded)",
            )
        })?,
    };
    let millis = |var: &str, v: &str, min: u64| {
        v.parse::<u64>()
            .ok()
            .filter(|ms| *ms >= min)
            .map(Duration::from_millis)
            .ok_or_else(|| invalid(var, v, "not a whole number of milliseconds", "milliseconds, e.g. 10000"))
    };
    let timeout = match pick("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") {
        None => Duration::from_secs(10),
        Some((var, v)) => millis(&var, &v, 1)?,
    };
    let gzip = match pick("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION") {
        None => false,
        Some((_, v)) if v == "gzip" => true,
        Some((_, v)) if v == "none" => false,
        Some((var, v)) => return Err(invalid(&var, &v, "not a supported compression", "gzip or none")),
    };
    let interval = match get("OTEL_METRIC_EXPORT_INTERVAL") {
        None => Duration::from_secs(60),
        Some(v) => millis("OTEL_METRIC_EXPORT_INTERVAL", &v, 1)?,
    };
    let mut resource = match get("OTEL_RESOURCE_ATTRIBUTES") {
        None => Vec::new(),
        Some(v) => key_values(&v).ok_or_else(|| {
            invalid("OTEL_RESOURCE_ATTRIBUTES", &v, "not a list of key=value pairs", "key1=value1,key2=value2")
        })?,
    };
    let mut set = |key: &str, value: String, overwrite: bool| match resource.iter_mut().find(|(k, _)| k == key) {
        Some(entry) if overwrite => entry.1 = value,
        Some(_) => {}
        None => resource.push((key.to_owned(), value)),
    };
    // OTEL_SERVICE_NAME takes precedence over service.name in OTEL_RESOURCE_ATTRIBUTES.
    match get("OTEL_SERVICE_NAME") {
        Some(name) => set("service.name", name, true),
        None => set("service.name", "aws-quota-exporter".to_owned(), false),
    }
    set("service.version", env!("CARGO_PKG_VERSION").to_owned(), false);
    set("service.instance.id", instance_id(), false);
    Ok(Some(OtlpSettings { endpoint, protocol, headers, timeout, gzip, interval, resource }))
}

/// `k1=v1,k2=v2` with percent-decoded values (W3C baggage style).
fn key_values(v: &str) -> Option<Vec<(String, String)>> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A random UUID for `service.instance.id`, from the kernel; a time-based id elsewhere.
fn instance_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid").map(|s| s.trim().to_owned()).unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{:x}-{}", nanos, std::process::id())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn settings(pairs: &[(&str, &str)]) -> Option<OtlpSettings> {
        settings_from_vars(vars(pairs)).expect("valid")
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        settings_from_vars(vars(pairs)).expect_err("invalid").to_string()
    }

    #[test]
    fn no_endpoint_means_no_push() {
        assert_eq!(settings(&[("OTEL_SERVICE_NAME", "x")]), None);
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]), None);
        assert_eq!(
            settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRICS_EXPORTER", "none")]),
            None
        );
    }

    #[test]
    fn http_appends_the_signal_path_to_the_base_endpoint_and_grpc_does_not() {
        let http = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).expect("on");
        assert_eq!(http.endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(http.protocol, Protocol::HttpProtobuf, "http/protobuf is the default");
        let grpc = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .expect("on");
        assert_eq!(grpc.endpoint, "http://collector:4317");
        assert_eq!(grpc.protocol, Protocol::Grpc);
    }

    #[test]
    fn the_metrics_endpoint_is_used_as_it_is_and_signal_variables_win() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://metrics.example/otlp/metrics"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "authorization=Bearer%20xyz,tenant=ops"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
        ])
        .expect("on");
        assert_eq!(s.endpoint, "https://metrics.example/otlp/metrics");
        assert_eq!(s.headers, vec![("authorization".into(), "Bearer xyz".into()), ("tenant".into(), "ops".into())]);
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.interval, Duration::from_secs(15));
    }

    #[test]
    fn the_resource_names_the_service_and_its_instance() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,deployment.environment=prod"),
            ("OTEL_SERVICE_NAME", "quota-watch"),
        ])
        .expect("on");
        let get = |k: &str| s.resource.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("service.name").as_deref(), Some("quota-watch"), "OTEL_SERVICE_NAME wins");
        assert_eq!(get("deployment.environment").as_deref(), Some("prod"));
        assert_eq!(get("service.version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert!(get("service.instance.id").is_some_and(|id| id.len() >= 16));
        let default = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).expect("on");
        assert!(default.resource.contains(&("service.name".into(), "aws-quota-exporter".into())));
    }

    #[test]
    fn bad_values_name_the_variable_and_the_form() {
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]),
            "invalid OTEL_EXPORTER_OTLP_ENDPOINT=\"collector:4317\": not an http or https URL; \
             expected an http:// or https:// URL such as http://collector:4318"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]),
            "invalid OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": not a supported protocol; expected grpc or http/protobuf"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_HEADERS", "novalue")]),
            "invalid OTEL_EXPORTER_OTLP_HEADERS=\"novalue\": not a list of key=value pairs; \
             expected key1=value1,key2=value2 (values may be percent-encoded)"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRIC_EXPORT_INTERVAL", "1m")]),
            "invalid OTEL_METRIC_EXPORT_INTERVAL=\"1m\": not a whole number of milliseconds; expected milliseconds, e.g. 10000"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]),
            "invalid OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\": not a supported compression; expected gzip or none"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_METRICS_EXPORTER", "prometheus")]),
            "invalid OTEL_METRICS_EXPORTER=\"prometheus\": not supported here; expected otlp or none"
        );
    }
}
