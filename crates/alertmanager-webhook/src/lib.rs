//! Alertmanager's webhook payload, version 4, parsed strictly: every field the
//! receiver relies on is checked for presence and type, unknown fields are ignored,
//! and an error names the field and what was expected (an HTTP client gets it as the
//! body of a 400).
//!
//! It also bounds what a receiver must hold: at most [`MAX_ALERTS`] alerts in one
//! notification and [`MAX_LABEL_VALUE`] bytes in one label value (Alertmanager's
//! `max_alerts` keeps notifications under the first; no quota label comes near the
//! second). A body beyond either is refused whole, with the place it went over.
//!
//! The parser takes bytes of any content and never panics; it is fuzzed
//! (`fuzz/fuzz_targets/webhook_payload.rs`).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// The most alerts one notification may carry.
pub const MAX_ALERTS: usize = 1000;
/// The longest label value taken, in bytes.
pub const MAX_LABEL_VALUE: usize = 1024;

/// Labels or annotations: names to values.
pub type LabelSet = BTreeMap<String, String>;

/// A notification: a group of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub version: String,
    /// Identifies the alert group; Alertmanager sends the same group again on every
    /// group or repeat interval, and from every instance of an HA cluster.
    pub group_key: String,
    /// Alerts left out because of the receiver's `max_alerts`.
    pub truncated_alerts: u64,
    pub status: Status,
    pub receiver: String,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert of the group.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub status: Status,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    /// RFC 3339, as sent.
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing.
    pub ends_at: String,
    pub generator_url: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// Why a body is not a version 4 webhook payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON at all.
    Json(String),
    /// A payload of another version.
    Version(String),
    /// A field missing or of the wrong type: where, and what was expected.
    Field { path: String, expected: &'static str },
    /// More than a receiver takes: where, and by how much.
    TooLarge { path: String, size: usize, max: usize, unit: &'static str },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "the body is not JSON: {e}"),
            ParseError::Version(v) => {
                write!(f, "webhook payload version {v} is not supported; expected version \"4\" (Alertmanager 0.x)")
            }
            ParseError::Field { path, expected } => write!(f, "{path}: expected {expected}"),
            ParseError::TooLarge { path, size, max, unit } => {
                write!(f, "{path}: {size} {unit}, more than the {max} taken")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a webhook body.
pub fn parse(body: &[u8]) -> Result<Payload, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let root = value.as_object().ok_or_else(|| field("the body", "a JSON object"))?;
    match root.get("version") {
        Some(Value::String(v)) if v == "4" => {}
        Some(Value::String(v)) => return Err(ParseError::Version(format!("{v:?}"))),
        Some(other) => return Err(ParseError::Version(other.to_string())),
        None => return Err(field("version", "a string, \"4\"")),
    }
    let alerts = match root.get("alerts") {
        Some(Value::Array(items)) if items.len() > MAX_ALERTS => {
            return Err(ParseError::TooLarge {
                path: "alerts".into(),
                size: items.len(),
                max: MAX_ALERTS,
                unit: "alerts (set max_alerts in the webhook configuration)",
            });
        }
        Some(Value::Array(items)) => {
            items.iter().enumerate().map(|(i, a)| alert(a, &format!("alerts[{i}]"))).collect::<Result<_, _>>()?
        }
        _ => return Err(field("alerts", "an array of alerts")),
    };
    Ok(Payload {
        version: "4".to_owned(),
        group_key: string(root, "groupKey", "groupKey")?,
        truncated_alerts: match root.get("truncatedAlerts") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_u64().ok_or_else(|| field("truncatedAlerts", "a whole number"))?,
        },
        status: status(root, "status")?,
        receiver: optional_string(root, "receiver", "receiver")?,
        group_labels: labels(root, "groupLabels", "groupLabels")?,
        common_labels: labels(root, "commonLabels", "commonLabels")?,
        common_annotations: labels(root, "commonAnnotations", "commonAnnotations")?,
        external_url: optional_string(root, "externalURL", "externalURL")?,
        alerts,
    })
}

fn alert(value: &Value, path: &str) -> Result<Alert, ParseError> {
    let a = value.as_object().ok_or_else(|| field(path, "an alert object"))?;
    Ok(Alert {
        status: status(a, &format!("{path}.status"))?,
        labels: labels(a, "labels", &format!("{path}.labels"))?,
        annotations: labels(a, "annotations", &format!("{path}.annotations"))?,
        starts_at: timestamp(a, "startsAt", &format!("{path}.startsAt"))?,
        ends_at: match a.get("endsAt") {
            None | Some(Value::Null) => String::new(),
            Some(_) => timestamp(a, "endsAt", &format!("{path}.endsAt"))?,
        },
        generator_url: optional_string(a, "generatorURL", &format!("{path}.generatorURL"))?,
        fingerprint: string(a, "fingerprint", &format!("{path}.fingerprint"))?,
    })
}

fn field(path: &str, expected: &'static str) -> ParseError {
    ParseError::Field { path: path.to_owned(), expected }
}

fn string(object: &Map<String, Value>, key: &str, path: &str) -> Result<String, ParseError> {
    match object.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(field(path, "a string")),
    }
}

fn optional_string(object: &Map<String, Value>, key: &str, path: &str) -> Result<String, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(field(path, "a string")),
    }
}

fn status(object: &Map<String, Value>, path: &str) -> Result<Status, ParseError> {
    match object.get("status").and_then(Value::as_str) {
        Some("firing") => Ok(Status::Firing),
        Some("resolved") => Ok(Status::Resolved),
        _ => Err(field(path, "\"firing\" or \"resolved\"")),
    }
}

fn labels(object: &Map<String, Value>, key: &str, path: &str) -> Result<LabelSet, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(LabelSet::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if key == "labels" && s.len() > MAX_LABEL_VALUE => Err(ParseError::TooLarge {
                    path: format!("{path}.{k}"),
                    size: s.len(),
                    max: MAX_LABEL_VALUE,
                    unit: "bytes",
                }),
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(field(&format!("{path}.{k}"), "a string")),
            })
            .collect(),
        Some(_) => Err(field(path, "an object of strings")),
    }
}

/// An RFC 3339 timestamp as Alertmanager writes them: `2026-11-22T05:13:13.123Z` or
/// with an offset. Checked for shape, kept as sent.
fn timestamp(object: &Map<String, Value>, key: &str, path: &str) -> Result<String, ParseError> {
    const EXPECTED: &str = "an RFC 3339 timestamp such as 2026-11-22T05:13:13Z";
    let s = string(object, key, path).map_err(|_| field(path, EXPECTED))?;
    if is_rfc3339(&s) { Ok(s) } else { Err(field(path, EXPECTED)) }
}

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || !digits(5..7) || !digits(8..10) || !digits(11..13) || !digits(14..16) {
        return false;
    }
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return false;
    }
    if !digits(17..19) {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        "Z" | "z" => true,
        offset => {
            let o = offset.as_bytes();
            o.len() == 6
                && matches!(o[0], b'+' | b'-')
                && o[1..3].iter().all(u8::is_ascii_digit)
                && o[3] == b':'
                && o[4..6].iter().all(u8::is_ascii_digit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "version": "4",
      "groupKey": "{}/{auto_increase=\"true\"}:{quota_code=\"L-1216C47A\"}",
      "truncatedAlerts": 0,
      "status": "firing",
      "receiver": "quota-increase",
      "groupLabels": {"quota_code": "L-1216C47A"},
      "commonLabels": {"alertname": "AwsQuotaUtilizationCritical"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager:9093",
      "notification_reason": "new",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "AwsQuotaUtilizationCritical", "auto_increase": "true",
                   "cloud_account_id": "111122223333", "cloud_region": "us-east-1",
                   "service_code": "ec2", "quota_code": "L-1216C47A"},
        "annotations": {"summary": "ec2 L-1216C47A at 92 %"},
        "startsAt": "2026-11-22T05:13:13.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "c6d3b6a1f2e4d5c6",
        "some_future_field": [1, 2, 3]
      }]
    }"#;

    #[test]
    fn a_version_4_payload_parses_and_unknown_fields_are_ignored() {
        let p = parse(SAMPLE.as_bytes()).expect("valid");
        assert_eq!(p.status, Status::Firing);
        assert_eq!(p.receiver, "quota-increase");
        assert_eq!(p.alerts.len(), 1);
        let a = &p.alerts[0];
        assert_eq!(a.labels["quota_code"], "L-1216C47A");
        assert_eq!(a.fingerprint, "c6d3b6a1f2e4d5c6");
        assert_eq!(a.starts_at, "2026-11-22T05:13:13.123456789Z");
    }

    fn error_of(json: &str) -> String {
        parse(json.as_bytes()).expect_err("invalid").to_string()
    }

    #[test]
    fn every_error_names_what_was_wrong() {
        assert!(error_of("{not json").starts_with("the body is not JSON: "));
        assert_eq!(error_of("[]"), "the body: expected a JSON object");
        assert_eq!(
            error_of(&SAMPLE.replace(r#""version": "4""#, r#""version": "3""#)),
            "webhook payload version \"3\" is not supported; expected version \"4\" (Alertmanager 0.x)"
        );
        assert_eq!(error_of(r#"{"alerts": []}"#), "version: expected a string, \"4\"");
        assert_eq!(error_of(r#"{"version": "4"}"#), "alerts: expected an array of alerts");
        assert_eq!(
            error_of(&SAMPLE.replace(r#""service_code": "ec2""#, r#""service_code": 2"#)),
            "alerts[0].labels.service_code: expected a string"
        );
        assert_eq!(
            error_of(&SAMPLE.replace(r#""startsAt": "2026-11-22T05:13:13.123456789Z""#, r#""startsAt": "yesterday""#)),
            "alerts[0].startsAt: expected an RFC 3339 timestamp such as 2026-11-22T05:13:13Z"
        );
        assert_eq!(
            error_of(&SAMPLE.replace(
                r#""status": "firing",
        "labels""#,
                r#""status": "burning",
        "labels""#
            )),
            "alerts[0].status: expected \"firing\" or \"resolved\""
        );
        assert_eq!(
            error_of(&SAMPLE.replace(r#""fingerprint": "c6d3b6a1f2e4d5c6","#, "")),
            "alerts[0].fingerprint: expected a string"
        );
    }

    #[test]
    fn more_alerts_or_longer_label_values_than_a_receiver_takes_are_refused_with_the_place() {
        let p = parse(SAMPLE.as_bytes()).expect("valid");
        let alert = &p.alerts[0];
        let body = |n: usize, value: &str| {
            let one = format!(
                r#"{{"status":"firing","labels":{{"quota_code":"{value}"}},"startsAt":"{}","fingerprint":"f"}}"#,
                alert.starts_at
            );
            format!(r#"{{"version":"4","groupKey":"g","status":"firing","alerts":[{}]}}"#, vec![one; n].join(","))
        };
        assert_eq!(parse(body(MAX_ALERTS, "L-1").as_bytes()).map(|p| p.alerts.len()), Ok(MAX_ALERTS));
        assert_eq!(
            parse(body(MAX_ALERTS + 1, "L-1").as_bytes()).expect_err("too many").to_string(),
            "alerts: 1001 alerts (set max_alerts in the webhook configuration), more than the 1000 taken"
        );
        assert!(parse(body(1, &"x".repeat(MAX_LABEL_VALUE)).as_bytes()).is_ok());
        assert_eq!(
            parse(body(1, &"x".repeat(MAX_LABEL_VALUE + 1)).as_bytes()).expect_err("too long").to_string(),
            "alerts[0].labels.quota_code: 1025 bytes, more than the 1024 taken"
        );
    }

    #[test]
    fn timestamps_are_checked_for_shape() {
        for ok in ["2026-11-22T05:13:13Z", "2026-11-22T05:13:13.5+01:00", "0001-01-01T00:00:00Z"] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in ["2026-11-22", "2026-11-22T05:13:13", "2026-11-22T05:13:13.Z", "2026-11-22T05:13:13+0100", ""] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn deeply_nested_input_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse(deep.as_bytes()), Err(ParseError::Json(_))));
    }

    /// The fuzzer's seeds are what they say: two real payloads and three kinds of error.
    #[test]
    fn the_fuzzing_seeds_cover_payloads_and_each_kind_of_error() {
        let seed = |name: &str| {
            let path = format!("{}/../../fuzz/seeds/webhook_payload/{name}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let firing = parse(&seed("firing.json")).expect("firing.json parses");
        assert_eq!((firing.status, firing.alerts.len()), (Status::Firing, 1));
        assert_eq!(firing.alerts[0].labels["quota_code"], "L-B99A9384");
        let resolved = parse(&seed("resolved.json")).expect("resolved.json parses");
        assert_eq!((resolved.status, resolved.alerts.len(), resolved.truncated_alerts), (Status::Resolved, 2, 3));
        assert_eq!(resolved.alerts[1].ends_at, "");
        assert_eq!(parse(&seed("version3.json")), Err(ParseError::Version("\"3\"".to_owned())));
        assert!(matches!(parse(&seed("wrong_type.json")), Err(ParseError::Field { .. })));
        assert!(matches!(parse(&seed("truncated.json")), Err(ParseError::Json(_))));
    }
}
