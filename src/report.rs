//! The `quotas` subcommand: one service's quotas as a table for people or JSON for
//! scripts, from one refresh through the same collectors as the exporter.
//!
//! Bedrock quotas are grouped by model family (the provider of the model each quota is
//! named for), and their usage is the combined consumption of every model id the quota
//! governs (a model called directly and through an application inference profile).

use serde::Serialize;

use crate::bedrock::matching::{model_keys, parse_quota_name};
use crate::metrics::usage_of;
use crate::model::utilization;
use crate::snapshot::{Snapshot, TargetSnapshot};

/// One quota of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub account_id: String,
    pub region: String,
    pub service_code: String,
    /// The model family of a Bedrock quota (Anthropic, Amazon, Meta, …), `None` elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub quota_code: String,
    pub quota_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub unit: String,
    pub limit: Option<f64>,
    pub default_limit: Option<f64>,
    pub adjustable: bool,
    pub global: bool,
    pub usage: Option<f64>,
    pub utilization: Option<f64>,
    /// Where its usage comes from: `cloudwatch`, or `none` (no usage source).
    pub usage_source: &'static str,
    /// For a Bedrock quota: the model ids it governs, how each was linked, and what the
    /// quota had left at the last complete minute (per-minute quotas).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<Linked>,
    /// The utilisation alert's tiers (info, warning, critical) in percent: the shipped
    /// defaults, or what the overrides file sets.
    pub alert_tiers: [f64; 3],
    /// Until when (Unix time) and why the overrides file mutes the quota's alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted_reason: Option<String>,
}

/// Applies the overrides file to the rows: each quota's effective tiers and mute.
pub fn apply_overrides(rows: &mut [Row], overrides: &crate::overrides::Overrides, now: f64) {
    for r in rows {
        let id = [
            r.account_id.as_str(),
            r.region.as_str(),
            r.service_code.as_str(),
            r.quota_code.as_str(),
            r.resource.as_deref().unwrap_or(""),
        ];
        let e = overrides.effective(id, now);
        r.alert_tiers = e.percents();
        (r.muted_until, r.muted_reason) = match e.mute {
            Some((until, reason)) => (Some(until), Some(reason)),
            None => (None, None),
        };
    }
}

/// A model id a Bedrock quota governs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Linked {
    pub model_id: String,
    /// `usage_metric` (Service Quotas names the model id in the quota's usage metric) or
    /// `name` (the quota's name names the model).
    pub method: &'static str,
    /// Tokens or requests the quota had left in the last complete minute, shared by every
    /// model id it governs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_per_minute: Option<f64>,
}

/// The rows of one service, sorted by region, family, name and resource.
pub fn rows(snapshot: &Snapshot, service_code: &str) -> Vec<Row> {
    let mut out = Vec::new();
    for t in &snapshot.targets {
        let Some(service) = t.quotas.services.get(service_code) else { continue };
        for q in service.quotas.iter() {
            let mut usage = usage_of(t, q);
            let mut ratio = usage.and_then(|u| utilization(u, q.limit));
            let family = (service_code == "bedrock").then(|| bedrock_family(t, &q.name));
            if service_code == "bedrock"
                && ratio.is_none()
                && let Some(u) = t.bedrock_runtime.quotas.get(&q.code)
            {
                usage = Some(u.used);
                ratio = Some(u.ratio);
            }
            out.push(Row {
                account_id: t.account_label().to_owned(),
                region: t.target.region.clone(),
                service_code: service_code.to_owned(),
                family,
                quota_code: q.code.clone(),
                quota_name: q.name.clone(),
                resource: q.resource.clone(),
                unit: q.unit.clone(),
                limit: q.limit,
                default_limit: q.default_limit,
                adjustable: q.adjustable,
                global: q.global,
                usage,
                utilization: ratio,
                usage_source: crate::metrics::usage_source(t, q),
                models: linked(t, &q.code),
                alert_tiers: crate::overrides::TIERS.map(|(_, d)| d),
                muted_until: None,
                muted_reason: None,
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.region, &a.family, &a.quota_name, &a.resource).cmp(&(&b.region, &b.family, &b.quota_name, &b.resource))
    });
    out
}

/// The model ids a Bedrock quota governs in a target, with how each was linked.
fn linked(t: &TargetSnapshot, quota_code: &str) -> Vec<Linked> {
    let left = t.bedrock_runtime.left.get(quota_code).copied();
    t.bedrock_runtime
        .links
        .get(quota_code)
        .map(|ids| {
            ids.iter()
                .map(|(id, m)| Linked { model_id: id.clone(), method: m.as_str(), left_per_minute: left })
                .collect()
        })
        .unwrap_or_default()
}

/// The provider of the model a Bedrock quota is named for; the quota name's first word
/// where no listed model matches; "Account-wide" for quotas not named for a model.
fn bedrock_family(t: &TargetSnapshot, quota_name: &str) -> String {
    let Some(parsed) = parse_quota_name(quota_name) else { return "Account-wide".into() };
    if let Some(model) = t.bedrock.models.iter().find(|m| model_keys(m).contains(&parsed.model)) {
        return model.provider.clone();
    }
    let lower = quota_name.to_ascii_lowercase();
    let model_part = lower.find(" for ").map(|i| &quota_name[i + 5..]).unwrap_or_default();
    model_part.split(' ').next().filter(|w| !w.is_empty()).unwrap_or("Other").to_owned()
}

/// The rows as pretty JSON.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).expect("rows are plain data") + "\n"
}

/// The rows as a table, one block per region (and per family for Bedrock).
pub fn table(rows: &[Row]) -> String {
    // The tiers column only where some quota is tuned, the model ids only for Bedrock.
    let tuned =
        rows.iter().any(|r| r.alert_tiers != crate::overrides::TIERS.map(|(_, d)| d) || r.muted_until.is_some());
    let with_links = rows.iter().any(|r| !r.models.is_empty());
    let mut headers = vec!["CODE", "NAME", "LIMIT", "DEFAULT", "ADJUSTABLE", "USAGE", "UTILISATION"];
    if tuned {
        headers.push("ALERT AT % (INFO/WARNING/CRITICAL)");
    }
    if with_links {
        headers.push("MODEL IDS (LINKED BY)");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let name = match &r.resource {
                Some(res) => format!("{} [{res}]", r.quota_name),
                None => r.quota_name.clone(),
            };
            let mut row = vec![
                r.quota_code.clone(),
                name,
                number(r.limit),
                number(r.default_limit),
                if r.adjustable { "yes".into() } else { "no".into() },
                match r.usage_source {
                    "none" => "no usage source".into(),
                    _ => number(r.usage),
                },
                r.utilization.map_or_else(|| "-".into(), |u| format!("{:.1}%", u * 100.0)),
            ];
            if tuned {
                row.push(tiers(r));
            }
            if with_links {
                row.push(
                    r.models.iter().map(|m| format!("{} ({})", m.model_id, m.method)).collect::<Vec<_>>().join(", "),
                );
            }
            row
        })
        .collect();
    // Text columns are left-aligned, numbers right-aligned; every group shares the widths.
    let (header, lines) = crate::table::lines(&headers, &cells, &[2, 3, 5, 6]);
    let mut out = String::new();
    let mut group: Option<(String, Option<String>)> = None;
    for (r, line) in rows.iter().zip(&lines) {
        let this = (r.region.clone(), r.family.clone());
        if group.as_ref() != Some(&this) {
            if group.is_some() {
                out.push('\n');
            }
            match &r.family {
                Some(f) => out.push_str(&format!("{} {} — {f}\n", r.service_code, r.region)),
                None => out.push_str(&format!("{} {}\n", r.service_code, r.region)),
            }
            out.push_str(&header);
            out.push('\n');
            group = Some(this);
        }
        out.push_str(line);
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("no quotas found\n");
    }
    out
}

/// `70/80/90`, and the mute with its end and reason.
fn tiers(r: &Row) -> String {
    let t = r.alert_tiers.map(|v| if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v}") }).join("/");
    match (r.muted_until, &r.muted_reason) {
        (Some(until), Some(reason)) => {
            format!("{t}, muted until {} ({reason})", crate::clock::utc_time(until))
        }
        _ => t,
    }
}

/// A value for the table: whole numbers with thousands separators, others to two places.
/// A number as the command line prints it: whole numbers grouped by thousands, others
/// with two decimals, `-` for none.
pub(crate) fn number(v: Option<f64>) -> String {
    let Some(v) = v else { return "-".into() };
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let digits = (v.abs() as u64).to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if v < 0.0 { format!("-{grouped}") } else { grouped }
    } else {
        format!("{v:.2}")
    }
}

/// The `quotas` subcommand: one full refresh of `service` in `regions` (the configured
/// ones when empty), printed as a table or JSON; an error lists what could not be read.
pub async fn run(
    mut config: crate::config::Config,
    service: &str,
    regions: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    if !regions.is_empty() {
        config.regions = regions;
    }
    config.services = Some(vec![service.to_owned()]);
    config.exclude_services.clear();
    // The overrides are applied to the report here, not published.
    let overrides_path = config.alert_overrides.take();
    // Bedrock's runtime metrics only serve the Bedrock report.
    config.bedrock = service == "bedrock";
    let snapshot = crate::startup::collect_for_command(config).await?;
    let mut rows = rows(&snapshot, service);
    if let Some(path) = &overrides_path {
        let live = crate::overrides::Live::load(path, std::sync::Arc::new(crate::clock::SystemClock))?;
        apply_overrides(&mut rows, &live.current(), live.now());
    }
    print!("{}", if json { self::json(&rows) } else { table(&rows) });
    let failures = snapshot.failures();
    if !failures.is_empty() {
        anyhow::bail!("some of the data could not be read:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(Some(2_880_000_000.0)), "2,880,000,000");
        assert_eq!(number(Some(640.0)), "640");
        assert_eq!(number(Some(0.125)), "0.12");
        assert_eq!(number(None), "-");
    }
}
