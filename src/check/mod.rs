//! `aws-quota-exporter check`: will a change fit? A needs file (YAML or JSON) says how
//! much each quota gains, a Terraform plan says it through the resource table of
//! [`plan`]; the limits and usage come from a running exporter's
//! `/metrics` (no AWS call, no AWS permission) or from AWS through the collectors. Each
//! quota's usage after the change is compared with the threshold (the critical tier by
//! default).
//!
//! Exit codes: 0 every quota fits, 1 one exceeds the threshold, 2 the change cannot be
//! assessed (a needs file that cannot be read, a quota the data does not have, a quota
//! without usage, an exporter that cannot be reached): never a pass by default.

pub mod instances;
pub mod plan;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a change cannot be assessed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct CannotAssess(pub String);

/// One line of a needs file: a quota and what the change adds to its usage.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// The account; may be left out when the data has the quota in one account only.
    pub account: Option<String>,
    pub region: String,
    pub service_code: String,
    pub quota_code: String,
    pub add: f64,
    pub note: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    List(Vec<Line>),
    Wrapped { needs: Vec<Line> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    account: Option<serde_yaml::Value>,
    region: Option<String>,
    quota: Option<String>,
    service_code: Option<String>,
    quota_code: Option<String>,
    add: Option<f64>,
    note: Option<String>,
}

/// The form of a needs file, for messages.
pub const NEEDS_FORM: &str = "a list (or `needs:` list) of entries with region, quota (service_code/quota_code) \
     and add (a number of at least 0), and optionally account (12 digits) and note";

/// Reads a needs file (YAML, of which JSON is a part). `name` is its path, for messages.
pub fn parse_needs(text: &str, name: &str) -> Result<Vec<Need>, CannotAssess> {
    let file: File = serde_yaml::from_str(text)
        .map_err(|e| CannotAssess(format!("{name} is not a needs file ({e}); expected {NEEDS_FORM}")))?;
    let lines = match file {
        File::List(l) | File::Wrapped { needs: l } => l,
    };
    if lines.is_empty() {
        return Err(CannotAssess(format!("{name} lists no needs; expected {NEEDS_FORM}")));
    }
    let mut needs = Vec::with_capacity(lines.len());
    for (i, line) in lines.into_iter().enumerate() {
        let at = |what: String| CannotAssess(format!("{name}, entry {}: {what}", i + 1));
        let account = match line.account {
            None => None,
            Some(serde_yaml::Value::String(s)) => Some(s),
            Some(serde_yaml::Value::Number(n)) => Some(format!("{n:0>12}")),
            Some(other) => return Err(at(format!("account {other:?} is not a 12-digit account id"))),
        };
        if let Some(a) = &account
            && !crate::config::is_account_id(a)
        {
            return Err(at(format!("account {a:?} is not a 12-digit account id")));
        }
        let region = line.region.ok_or_else(|| at("no region".into()))?;
        if !crate::config::is_region_code(&region) {
            return Err(at(format!("region {region:?} is not a region code such as us-east-1")));
        }
        let (service_code, quota_code) = match (line.quota, line.service_code, line.quota_code) {
            (Some(q), None, None) => match q.split_once('/') {
                Some((s, c)) if !s.is_empty() && !c.is_empty() => (s.to_owned(), c.to_owned()),
                _ => return Err(at(format!("quota {q:?} is not service_code/quota_code, e.g. ec2/L-1216C47A"))),
            },
            (None, Some(s), Some(c)) => (s, c),
            _ => return Err(at("name the quota as quota: ec2/L-1216C47A (or service_code and quota_code)".into())),
        };
        let add = line.add.ok_or_else(|| at("no add: the amount the change adds to the quota's usage".into()))?;
        if !add.is_finite() || add < 0.0 {
            return Err(at(format!("add {add} is not an amount of at least 0")));
        }
        needs.push(Need { account, region, service_code, quota_code, add, note: line.note });
    }
    Ok(needs)
}

/// What is known of a quota now.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub name: String,
    pub limit: Option<f64>,
    pub usage: Option<f64>,
    pub adjustable: bool,
    /// One quota for every region (IAM, S3 buckets), listed in each.
    pub global: bool,
    /// The highest daily peak of the last 7 days, where the data has one (from AWS with
    /// its daily history; a `/metrics` text has none).
    pub peak_7d: Option<f64>,
}

impl Known {
    /// A quota with a name, limit and usage only.
    pub fn new(name: &str, limit: Option<f64>, usage: Option<f64>) -> Known {
        Known { name: name.to_owned(), limit, usage, adjustable: false, global: false, peak_7d: None }
    }
}

/// Quotas by account, region, service code and quota code (account-level quotas only).
pub type Inventory = BTreeMap<(String, String, String, String), Known>;

/// The quotas of a snapshot.
pub fn from_snapshot(snapshot: &crate::snapshot::Snapshot) -> Inventory {
    let mut out = Inventory::new();
    for t in &snapshot.targets {
        for q in t.quotas.quotas().filter(|q| q.resource.is_none()) {
            out.insert(
                (t.account_label().to_owned(), t.target.region.clone(), q.service_code.to_string(), q.code.clone()),
                Known {
                    name: q.name.clone(),
                    limit: q.limit,
                    usage: crate::metrics::usage_of(t, q),
                    adjustable: q.adjustable,
                    global: q.global,
                    peak_7d: t.forecasts.peaks.get(&(q.service_code.clone(), q.code.clone(), None)).copied(),
                },
            );
        }
    }
    out
}

/// The quotas of a `/metrics` exposition (text format): `aws_quota_limit`,
/// `aws_quota_usage` and the names of `aws_quota_info`.
pub fn from_exposition(text: &str) -> Inventory {
    let mut out = Inventory::new();
    for line in text.lines().filter(|l| l.starts_with("aws_quota_")) {
        let Some((name, labels, value)) = sample(line) else { continue };
        if !matches!(name, "aws_quota_limit" | "aws_quota_usage" | "aws_quota_info") {
            continue;
        }
        let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        if !get("resource").is_empty() {
            continue;
        }
        let key = (get("cloud_account_id"), get("cloud_region"), get("service_code"), get("quota_code"));
        let known = out.entry(key).or_insert(Known::new("", None, None));
        match name {
            "aws_quota_limit" => known.limit = Some(value),
            "aws_quota_usage" => known.usage = Some(value),
            _ => {
                known.name = get("quota_name");
                known.adjustable = get("adjustable") == "true";
                known.global = get("global") == "true";
            }
        }
    }
    out
}

/// A sample's labels, unescaped.
type Labels = Vec<(String, String)>;

/// A sample line of the text format: name, labels and value.
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (n, v) = line.split_once(' ')?;
            return Some((n, Vec::new(), v.split(' ').next()?.parse().ok()?));
        }
    };
    let mut labels = Vec::new();
    let mut chars = rest.char_indices().peekable();
    let end = loop {
        let (start, c) = chars.next()?;
        if c == '}' {
            break start;
        }
        if c == ',' {
            continue;
        }
        let eq = rest[start..].find('=')? + start;
        let label = rest[start..eq].to_owned();
        while chars.peek().is_some_and(|(i, _)| *i <= eq) {
            chars.next();
        }
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.push((label, value));
    };
    let value = rest[end + 1..].trim().split(' ').next()?.parse().ok()?;
    Some((name, labels, value))
}

/// What the change does to one quota.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub account: String,
    pub region: String,
    pub service_code: String,
    pub quota_code: String,
    pub quota_name: String,
    pub limit: f64,
    pub usage: f64,
    pub added: f64,
    pub after: f64,
    /// `after / limit`; above 1 when the change does not fit at all.
    pub ratio: f64,
    pub fits: bool,
}

/// Sums the needs per quota and compares each quota's usage after the change with
/// `threshold` (a ratio of the limit): a quota fits below it. Every problem is reported
/// at once.
pub fn assess(needs: &[Need], inventory: &Inventory, threshold: f64) -> Result<Vec<Row>, CannotAssess> {
    let mut added: BTreeMap<(String, String, String, String), f64> = BTreeMap::new();
    let mut problems = Vec::new();
    for n in needs {
        let quota = format!("{}/{} in {}", n.service_code, n.quota_code, n.region);
        let account = match &n.account {
            Some(a) => Some(a.clone()),
            None => {
                let holders: Vec<&String> = inventory
                    .keys()
                    .filter(|(_, r, s, c)| *r == n.region && *s == n.service_code && *c == n.quota_code)
                    .map(|(a, ..)| a)
                    .collect();
                match holders.as_slice() {
                    [one] => Some((*one).clone()),
                    [] => None,
                    several => {
                        let list: Vec<&str> = several.iter().map(|a| a.as_str()).collect();
                        problems.push(format!(
                            "{quota}: {} accounts have it ({}); name the account",
                            list.len(),
                            list.join(", ")
                        ));
                        continue;
                    }
                }
            }
        };
        let key = (account.unwrap_or_default(), n.region.clone(), n.service_code.clone(), n.quota_code.clone());
        if !inventory.contains_key(&key) {
            let whose = if key.0.is_empty() { String::new() } else { format!(" of account {}", key.0) };
            problems.push(format!("{quota}{whose}: no such quota in the data (is the service and region collected?)"));
            continue;
        }
        *added.entry(key).or_default() += n.add;
    }
    let mut rows = Vec::new();
    for (key, add) in added {
        let known = &inventory[&key];
        let (account, region, service_code, quota_code) = key;
        let quota = format!("{service_code}/{quota_code} in {account} {region}");
        let Some(limit) = known.limit else {
            problems.push(format!("{quota}: no limit is known"));
            continue;
        };
        let Some(usage) = known.usage else {
            problems.push(format!("{quota}: no usage is known (the quota has no CloudWatch usage metric)"));
            continue;
        };
        let after = usage + add;
        let ratio = if limit > 0.0 {
            after / limit
        } else if after > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        rows.push(Row {
            account,
            region,
            service_code,
            quota_code,
            quota_name: known.name.clone(),
            limit,
            usage,
            added: add,
            after,
            ratio,
            fits: ratio < threshold,
        });
    }
    if problems.is_empty() { Ok(rows) } else { Err(CannotAssess(problems.join("\n  "))) }
}

fn number(v: f64) -> String {
    crate::report::number(Some(v))
}

fn percent(ratio: f64) -> String {
    if ratio.is_finite() { format!("{:.1}%", ratio * 100.0) } else { "-".into() }
}

/// How a quota's usage after the change compares with the threshold.
fn arithmetic(r: &Row, threshold: f64) -> String {
    format!(
        "{} now + {} added = {} of {}, {} of the limit, at or above the threshold of {}",
        number(r.usage),
        number(r.added),
        number(r.after),
        number(r.limit),
        percent(r.ratio),
        percent(threshold)
    )
}

/// A signed amount: `+8`, `-4`.
fn signed(v: f64) -> String {
    if v < 0.0 { format!("-{}", number(-v)) } else { format!("+{}", number(v)) }
}

/// The plan's resource changes as lines a person reads: what each adds to which quota,
/// or why it adds nothing or cannot be assessed.
fn plan_lines(plan: &plan::Plan) -> String {
    let header = ["RESOURCE", "ACTION", "EFFECT"];
    let mut cells = Vec::new();
    for c in &plan.changes {
        let effects: Vec<String> = match &c.effect {
            plan::Effect::Demand(d) if d.is_empty() => vec!["changes no quota".into()],
            plan::Effect::Demand(d) => d
                .iter()
                .map(|d| {
                    format!("{} {}/{} in {}: {}", signed(d.amount), d.service_code, d.quota_code, d.region, d.what)
                })
                .collect(),
            plan::Effect::NoQuota(why) => vec![format!("no quota: {why}")],
            plan::Effect::NotAssessed(why) => vec![format!("NOT ASSESSED: {why}")],
        };
        for (i, e) in effects.into_iter().enumerate() {
            let (address, action) =
                if i == 0 { (c.address.clone(), c.action.as_str().to_owned()) } else { (String::new(), String::new()) };
            cells.push(vec![address, action, e]);
        }
    }
    let (head, lines) = crate::table::lines(&header, &cells, &[]);
    let mut out = format!("\n{head}\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    let families = plan.vcpus_by_family();
    if !families.is_empty() {
        let list: Vec<String> = families.iter().map(|(f, v)| format!("{f} {}", signed(*v))).collect();
        out.push_str(&format!("EC2 On-Demand vCPUs the plan adds, by family: {}\n", list.join(", ")));
    }
    let missing = plan.not_assessed().count();
    if missing > 0 {
        out.push_str(&format!(
            "{missing} resource change(s) not assessed: their quota use is not counted above; check them by hand \
             or add them to a needs file\n"
        ));
    }
    out
}

/// The rows as a table a person reads, with the arithmetic of each quota that exceeds,
/// then the plan's resource changes.
pub fn table(rows: &[Row], threshold: f64, plan: Option<&plan::Plan>) -> String {
    let header =
        ["QUOTA", "NAME", "ACCOUNT", "REGION", "LIMIT", "USAGE NOW", "ADDED", "AFTER", "% OF LIMIT", "VERDICT"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!("{}/{}", r.service_code, r.quota_code),
                r.quota_name.clone(),
                r.account.clone(),
                r.region.clone(),
                number(r.limit),
                number(r.usage),
                number(r.added),
                number(r.after),
                percent(r.ratio),
                if r.fits { "fits".into() } else { "EXCEEDS".into() },
            ]
        })
        .collect();
    let (head, lines) = crate::table::lines(&header, &cells, &[4, 5, 6, 7, 8]);
    let mut out = head + "\n";
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    for r in rows.iter().filter(|r| !r.fits) {
        out.push_str(&format!(
            "{}/{} ({}) in {} {}: {}\n",
            r.service_code,
            r.quota_code,
            r.quota_name,
            r.account,
            r.region,
            arithmetic(r, threshold)
        ));
    }
    if let Some(p) = plan {
        out.push_str(&plan_lines(p));
    }
    out
}

/// The rows as JSON, with the plan's resource changes and vCPUs by family.
pub fn json(rows: &[Row], threshold: f64, plan: Option<&plan::Plan>) -> String {
    let fits = rows.iter().all(|r| r.fits);
    let mut value = serde_json::json!({ "threshold": threshold, "fits": fits, "quotas": rows });
    if let Some(p) = plan {
        let families: serde_json::Map<String, serde_json::Value> =
            p.vcpus_by_family().into_iter().map(|(f, v)| (f.to_owned(), v.into())).collect();
        value["resource_changes"] = serde_json::json!(p.changes);
        value["vcpus_by_family"] = families.into();
        value["not_assessed"] = p.not_assessed().count().into();
    }
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c if c.is_control() && c != '\n' && c != '\t' => String::new(),
            c => c.to_string(),
        })
        .collect()
}

/// The rows as JUnit XML: one test case per quota, a failure for each that exceeds, and
/// a skipped case for each resource change of the plan that could not be assessed.
pub fn junit(rows: &[Row], threshold: f64, plan: Option<&plan::Plan>) -> String {
    let failures = rows.iter().filter(|r| !r.fits).count();
    let skipped: Vec<(&plan::Change, &str)> = plan.map(|p| p.not_assessed().collect()).unwrap_or_default();
    let tests = rows.len() + skipped.len();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"aws-quota-exporter check\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{}\">\n  <testsuite name=\"quotas\" tests=\"{tests}\" failures=\"{failures}\" skipped=\"{}\">\n",
        skipped.len(),
        skipped.len()
    );
    for r in rows {
        let name = xml_escape(&format!("{}/{} {} {}", r.service_code, r.quota_code, r.account, r.region));
        let class = xml_escape(&r.quota_name);
        out.push_str(&format!("    <testcase classname=\"{class}\" name=\"{name}\""));
        if r.fits {
            out.push_str("/>\n");
        } else {
            let message = xml_escape(&arithmetic(r, threshold));
            out.push_str(&format!(">\n      <failure message=\"{message}\" type=\"quota\"/>\n    </testcase>\n"));
        }
    }
    for (c, why) in skipped {
        out.push_str(&format!(
            "    <testcase classname=\"not assessed\" name=\"{}\">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
            xml_escape(&c.address),
            xml_escape(why)
        ));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// How the result is printed (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Junit,
}

/// Reads `/metrics` from a running exporter (HTTP, or HTTPS trusting the system's root
/// certificates, within 30 seconds).
pub async fn fetch(url: &str) -> Result<String, CannotAssess> {
    use http_body_util::{BodyExt, Empty};
    let unreachable = |why: String| CannotAssess(format!("cannot read the exporter's metrics at {url}: {why}"));
    let uri: http::Uri = url.parse().map_err(|e| unreachable(format!("not a URL ({e})")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(unreachable("not an http:// or https:// URL, e.g. http://exporter:9767/metrics".into()));
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| unreachable(format!("no trusted root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(https);
    let request = http::Request::get(uri)
        .header("accept", "text/plain;version=0.0.4")
        .body(Empty::new())
        .map_err(|e| unreachable(e.to_string()))?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| unreachable(crate::errors::chain(&e)))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| unreachable(e.to_string()))?.to_bytes();
        if !status.is_success() {
            return Err(unreachable(format!("HTTP {status}")));
        }
        String::from_utf8(body.to_vec()).map_err(|_| unreachable("the answer is not UTF-8 text".into()))
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), exchange)
        .await
        .map_err(|_| unreachable("no answer within 30 seconds".into()))?
}

/// The quotas the needs name, from AWS: one refresh of their services in their regions.
async fn from_aws(mut config: crate::config::Config, needs: &[Need]) -> Result<Inventory, CannotAssess> {
    let mut services: Vec<String> = needs.iter().map(|n| n.service_code.clone()).collect();
    services.sort();
    services.dedup();
    let mut regions: Vec<String> = needs.iter().map(|n| n.region.clone()).collect();
    regions.sort();
    regions.dedup();
    config.services = Some(services);
    config.exclude_services.clear();
    config.regions = regions;
    config.bedrock = false;
    config.forecast = false;
    let fail = |e: &dyn std::fmt::Display| CannotAssess(format!("cannot read the quotas from AWS: {e:#}"));
    let snapshot = crate::startup::collect_for_command(config).await.map_err(|e| fail(&e))?;
    let failures = snapshot.failures();
    if !failures.is_empty() {
        return Err(fail(&format!("some of the data could not be read:\n  {}", failures.join("\n  "))));
    }
    Ok(from_snapshot(&snapshot))
}

/// What a change is: a needs file, a Terraform plan, or both.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub needs: Option<std::path::PathBuf>,
    pub plan: Option<std::path::PathBuf>,
    /// The region of plan resources whose region the plan does not say.
    pub region: Option<String>,
    /// The account the plan is for; by default the one account that has each quota.
    pub account: Option<String>,
}

fn read(path: &std::path::Path) -> Result<(String, String), CannotAssess> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| CannotAssess(format!("cannot read {name}: {e}")))?;
    Ok((text, name))
}

/// The `check` subcommand: prints the assessment; true when every quota fits.
pub async fn run(
    config: crate::config::Config,
    inputs: &Inputs,
    from: Option<&str>,
    threshold: f64,
    output: Output,
) -> Result<bool, CannotAssess> {
    let mut needs = Vec::new();
    if let Some(path) = &inputs.needs {
        let (text, name) = read(path)?;
        needs = parse_needs(&text, &name)?;
    }
    let plan = match &inputs.plan {
        Some(path) => {
            let (text, name) = read(path)?;
            let plan = plan::read(&text, &name, inputs.region.as_deref())?;
            needs.extend(plan.needs(inputs.account.as_deref()));
            Some(plan)
        }
        None => None,
    };
    if inputs.needs.is_none() && inputs.plan.is_none() {
        return Err(CannotAssess("name the change: --needs FILE, --plan FILE (terraform show -json), or both".into()));
    }
    let inventory = match (from, needs.is_empty()) {
        (_, true) => Inventory::new(),
        (Some(url), false) => from_exposition(&fetch(url).await?),
        (None, false) => from_aws(config, &needs).await?,
    };
    let rows = assess(&needs, &inventory, threshold)?;
    let plan = plan.as_ref();
    print!(
        "{}",
        match output {
            Output::Table => table(&rows, threshold, plan),
            Output::Json => json(&rows, threshold, plan),
            Output::Junit => junit(&rows, threshold, plan),
        }
    );
    Ok(rows.iter().all(|r| r.fits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        let mut i = Inventory::new();
        let key = |a: &str, c: &str| (a.to_owned(), "us-east-1".to_owned(), "ec2".to_owned(), c.to_owned());
        i.insert(key("111122223333", "L-1216C47A"), Known::new("Standard", Some(640.0), Some(544.0)));
        i.insert(key("111122223333", "L-0263D0A3"), Known::new("EIPs", Some(15.0), None));
        i.insert(key("444455556666", "L-DB2E81BA"), Known::new("G", Some(64.0), Some(48.0)));
        i.insert(key("111122223333", "L-DB2E81BA"), Known::new("G", Some(64.0), Some(8.0)));
        i
    }

    fn need(account: Option<&str>, code: &str, add: f64) -> Need {
        Need {
            account: account.map(str::to_owned),
            region: "us-east-1".into(),
            service_code: "ec2".into(),
            quota_code: code.into(),
            add,
            note: None,
        }
    }

    #[test]
    fn needs_are_summed_per_quota_and_compared_with_the_threshold() {
        let rows = assess(
            &[need(None, "L-1216C47A", 16.0), need(Some("111122223333"), "L-1216C47A", 16.0)],
            &inventory(),
            0.9,
        )
        .expect("assessed");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].added, rows[0].after, rows[0].ratio), (32.0, 576.0, 0.9));
        assert!(!rows[0].fits, "90 % is the critical tier: at it, the change does not fit");
        let rows = assess(&[need(None, "L-1216C47A", 31.0)], &inventory(), 0.9).expect("assessed");
        assert!(rows[0].fits, "575 of 640");
    }

    #[test]
    fn what_cannot_be_assessed_is_said_all_at_once_and_never_passes() {
        let e = assess(
            &[need(None, "L-DB2E81BA", 1.0), need(None, "L-0263D0A3", 1.0), need(None, "L-NOPE", 1.0)],
            &inventory(),
            0.9,
        )
        .expect_err("not assessable");
        assert!(e.0.contains("2 accounts have it (111122223333, 444455556666); name the account"), "{e}");
        assert!(e.0.contains("ec2/L-0263D0A3 in 111122223333 us-east-1: no usage is known"), "{e}");
        assert!(e.0.contains("ec2/L-NOPE in us-east-1: no such quota"), "{e}");
    }

    #[test]
    fn a_needs_file_is_yaml_or_json_and_bad_entries_name_themselves() {
        let yaml = "needs:\n  - region: us-east-1\n    quota: ec2/L-1216C47A\n    add: 64\n    note: new fleet\n";
        let json = r#"[{"account": "111122223333", "region": "us-east-1", "service_code": "ec2", "quota_code": "L-1216C47A", "add": 1.5}]"#;
        assert_eq!(parse_needs(yaml, "y").expect("yaml")[0].add, 64.0);
        assert_eq!(parse_needs(json, "j").expect("json")[0].account.as_deref(), Some("111122223333"));
        let bad = |text: &str| parse_needs(text, "needs.yaml").expect_err("refused").0;
        assert!(
            bad("- {region: us-east-1, quota: ec2/L-1, add: -3}")
                .contains("entry 1: add -3 is not an amount of at least 0")
        );
        assert!(bad("- {region: mars, quota: ec2/L-1, add: 3}").contains("region \"mars\""));
        assert!(bad("- {region: us-east-1, quota: L-1, add: 3}").contains("not service_code/quota_code"));
        assert!(bad("- {region: us-east-1, quota: ec2/L-1, add: 3, colour: red}").contains("is not a needs file"));
        assert!(bad("[]").contains("lists no needs"));
        assert!(bad("{\"format_version\": \"1.2\", \"resource_changes\": []}").contains("is not a needs file"));
    }

    #[test]
    fn an_exposition_gives_limits_usage_and_names_and_leaves_resource_quotas_out() {
        let text = "# HELP aws_quota_limit x\n\
            aws_quota_limit{cloud_account_id=\"1\",cloud_region=\"r\",service_code=\"s\",quota_code=\"q\",resource=\"\"} 640\n\
            aws_quota_usage{cloud_account_id=\"1\",cloud_region=\"r\",service_code=\"s\",quota_code=\"q\",resource=\"\"} 544.5\n\
            aws_quota_info{cloud_account_id=\"1\",cloud_region=\"r\",service_code=\"s\",quota_code=\"q\",quota_name=\"A \\\"quoted\\\", name\",adjustable=\"true\",global=\"false\",resource=\"\"} 1\n\
            aws_quota_limit{cloud_account_id=\"1\",cloud_region=\"r\",service_code=\"s\",quota_code=\"p\",resource=\"vpc-1\"} 5\n";
        let inv = from_exposition(text);
        assert_eq!(inv.len(), 1);
        let k = &inv[&("1".into(), "r".into(), "s".into(), "q".into())];
        assert_eq!((k.limit, k.usage, k.name.as_str()), (Some(640.0), Some(544.5), "A \"quoted\", name"));
        assert_eq!((k.adjustable, k.global, k.peak_7d), (true, false, None));
    }

    #[test]
    fn junit_has_a_failure_per_quota_that_exceeds() {
        let rows = assess(&[need(None, "L-1216C47A", 64.0)], &inventory(), 0.9).expect("assessed");
        let xml = junit(&rows, 0.9, None);
        assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains(
                "<failure message=\"544 now + 64 added = 608 of 640, 95.0% of the limit, at or above the threshold of \
                 90.0%\""
            ),
            "{xml}"
        );
    }
}
