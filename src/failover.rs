//! `aws-quota-exporter failover`: can a standby region carry its primary's load? For
//! each account-level, regional quota with usage in the primary: the primary's usage
//! now and its peak of the last 7 days (from AWS's daily history; a `/metrics` text has
//! only the usage now), against the standby's limit. `--request` proposes the increases
//! that close the gaps through the increase receiver's path: its policy, ledger, AWS
//! checks, approval and dry-run default.
//!
//! Exit codes as for `check`: 0 the standby carries every quota, 1 some quota falls
//! short, 2 the pair cannot be assessed.

use serde::Serialize;

use crate::check::{CannotAssess, Inventory, Output};
use crate::report::number;

/// Where a quota stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The standby's limit is below the need.
    Short,
    /// The standby's data has no such quota (its service is not collected there, or the
    /// quota does not exist in that region): nothing to compare with.
    NotInStandby,
    Carries,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Short => "SHORT",
            Verdict::NotInStandby => "NOT IN STANDBY",
            Verdict::Carries => "carries",
        }
    }
}

/// One quota of the pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub account: String,
    pub service_code: String,
    pub quota_code: String,
    pub quota_name: String,
    pub primary_usage: f64,
    /// `None` where the data has no daily history (a `/metrics` text, a rate quota).
    pub primary_peak_7d: Option<f64>,
    /// The peak (or the usage now, without one) times the coverage.
    pub need: f64,
    pub standby_limit: Option<f64>,
    pub standby_usage: Option<f64>,
    /// How far the standby's limit is below the need.
    pub shortfall: Option<f64>,
    pub adjustable: bool,
    pub verdict: Verdict,
}

/// Compares every quota with usage in `primary` with the same quota in `standby`, for
/// `account` or every account that has the primary's quotas. Global and resource-level
/// quotas are left out (the inventory has no resource-level ones). Shortest first.
pub fn compare(inv: &Inventory, primary: &str, standby: &str, account: Option<&str>, coverage: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    for ((a, region, service_code, quota_code), known) in inv {
        if region != primary || account.is_some_and(|x| x != a) || known.global {
            continue;
        }
        let Some(usage) = known.usage else { continue };
        let peak = known.peak_7d;
        let need = peak.map_or(usage, |p| p.max(usage)) * coverage;
        let twin = inv.get(&(a.clone(), standby.to_owned(), service_code.clone(), quota_code.clone()));
        let standby_limit = twin.and_then(|t| t.limit);
        let shortfall = standby_limit.map(|l| need - l).filter(|s| *s > 0.0);
        let verdict = match (standby_limit, shortfall) {
            (None, _) => Verdict::NotInStandby,
            (_, Some(_)) => Verdict::Short,
            _ => Verdict::Carries,
        };
        rows.push(Row {
            account: a.clone(),
            service_code: service_code.clone(),
            quota_code: quota_code.clone(),
            quota_name: known.name.clone(),
            primary_usage: usage,
            primary_peak_7d: peak,
            need,
            standby_limit,
            standby_usage: twin.and_then(|t| t.usage),
            shortfall,
            adjustable: twin.map_or(known.adjustable, |t| t.adjustable),
            verdict,
        });
    }
    rows.sort_by(|x, y| {
        x.verdict
            .cmp(&y.verdict)
            .then(y.shortfall.unwrap_or(0.0).total_cmp(&x.shortfall.unwrap_or(0.0)))
            .then((&x.account, &x.service_code, &x.quota_code).cmp(&(&y.account, &y.service_code, &y.quota_code)))
    });
    rows
}

/// Why the pair cannot be assessed: a region without any quota in the data.
pub fn assessable(inv: &Inventory, primary: &str, standby: &str, account: Option<&str>) -> Result<(), CannotAssess> {
    let has = |region: &str| inv.keys().any(|(a, r, ..)| r == region && account.is_none_or(|x| x == a));
    let whose = account.map(|a| format!(" of account {a}")).unwrap_or_default();
    let missing: Vec<String> = [primary, standby]
        .into_iter()
        .filter(|r| !has(r))
        .map(|r| format!("no quotas{whose} in {r} in the data (is the region collected?)"))
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(CannotAssess(missing.join("\n  "))) }
}

/// The rows a person reads: the gaps (every row with `all`), then a summary.
pub fn table(rows: &[Row], primary: &str, standby: &str, all: bool) -> String {
    let (primary_now, primary_peak) = (format!("{primary} NOW"), format!("{primary} 7-DAY PEAK"));
    let (standby_limit, standby_now) = (format!("{standby} LIMIT"), format!("{standby} NOW"));
    let header = [
        "QUOTA",
        "NAME",
        "ACCOUNT",
        &primary_now,
        &primary_peak,
        "NEED",
        &standby_limit,
        &standby_now,
        "SHORT BY",
        "VERDICT",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| all || r.verdict != Verdict::Carries)
        .map(|r| {
            vec![
                format!("{}/{}", r.service_code, r.quota_code),
                r.quota_name.clone(),
                r.account.clone(),
                number(Some(r.primary_usage)),
                number(r.primary_peak_7d),
                number(Some(r.need)),
                number(r.standby_limit),
                number(r.standby_usage),
                number(r.shortfall),
                r.verdict.as_str().to_owned(),
            ]
        })
        .collect();
    let mut out = String::new();
    if !cells.is_empty() {
        let (head, lines) = crate::table::lines(&header, &cells, &[3, 4, 5, 6, 7, 8]);
        out.push_str(&head);
        out.push('\n');
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "{} quotas with usage in {primary} compared with {standby}: {} short, {} carried, {} not in {standby}'s data{}\n",
        rows.len(),
        count(Verdict::Short),
        count(Verdict::Carries),
        count(Verdict::NotInStandby),
        if all || count(Verdict::Carries) == 0 { "" } else { " (--all lists every quota)" }
    ));
    let without_peak = rows.iter().filter(|r| r.primary_peak_7d.is_none()).count();
    if without_peak > 0 {
        out.push_str(&format!(
            "{without_peak} of them without a 7-day peak (a /metrics text has none; a rate quota's daily history \
             has means, not peaks) compared with the usage now\n"
        ));
    }
    out
}

/// What `--request` did for one gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requested {
    pub account: String,
    pub region: String,
    pub service_code: String,
    pub quota_code: String,
    pub outcome: crate::increase::receiver::AlertOutcome,
}

fn requests_table(requests: &[Requested], dry_run: bool) -> String {
    let mut out = format!(
        "\nIncrease requests through the increase path{}:\n",
        if dry_run { " (dry run: QUOTA_EXPORTER_INCREASE_DRY_RUN=false files them)" } else { "" }
    );
    for r in requests {
        let o = &r.outcome;
        out.push_str(&format!(
            "  {}/{} in {} {}: {}{}{} - {}\n",
            r.service_code,
            r.quota_code,
            r.account,
            r.region,
            o.outcome.as_str(),
            o.reason.map(|x| format!(" ({})", x.as_str())).unwrap_or_default(),
            o.entry_id.as_ref().map(|id| format!(", entry {id}")).unwrap_or_default(),
            crate::increase::escape_controls(&o.detail)
        ));
    }
    out
}

/// What the `failover` subcommand is asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub primary: String,
    pub standby: String,
    pub account: Option<String>,
    pub from: Option<String>,
    pub coverage: f64,
    pub all: bool,
    pub request: bool,
    pub output: Output,
}

/// The `failover` subcommand: prints the comparison (and the requests); true when the
/// standby carries every quota.
pub async fn run(mut config: crate::config::Config, o: &Options) -> Result<bool, CannotAssess> {
    if o.request && o.from.is_some() {
        return Err(CannotAssess(
            "--request acts only on the exporter's own reading of AWS: leave out --from (the quotas are read from \
             AWS, and the receiver checks them again before filing)"
                .into(),
        ));
    }
    let mut kept = None;
    // What could not be read: a gap found elsewhere is still a gap, but "the standby
    // carries everything" cannot be said without it.
    let mut failures = Vec::new();
    let inventory = match &o.from {
        Some(url) => crate::check::from_exposition(&crate::check::fetch(url).await?),
        None => {
            config.regions = vec![o.primary.clone(), o.standby.clone()];
            config.bedrock = false;
            config.forecast = true;
            let fail = |e: &dyn std::fmt::Display| CannotAssess(format!("cannot read the quotas from AWS: {e:#}"));
            let (snapshot, k) =
                crate::startup::collect_for_command_with(config, o.request).await.map_err(|e| fail(&e))?;
            failures = snapshot.failures();
            kept = Some(k);
            crate::check::from_snapshot(&snapshot)
        }
    };
    assessable(&inventory, &o.primary, &o.standby, o.account.as_deref())?;
    let rows = compare(&inventory, &o.primary, &o.standby, o.account.as_deref(), o.coverage);
    let mut requests = Vec::new();
    let mut dry_run = true;
    if let Some(receiver) = kept.as_ref().and_then(|k| k.handle.receiver.clone()) {
        dry_run = receiver.config().dry_run;
        let failover =
            crate::increase::receiver::decision::Failover { primary_region: o.primary.clone(), coverage: o.coverage };
        for r in rows.iter().filter(|r| r.verdict == Verdict::Short) {
            let key = crate::increase::ledger::QuotaKey {
                account: r.account.clone(),
                region: o.standby.clone(),
                service_code: r.service_code.clone(),
                quota_code: r.quota_code.clone(),
            };
            let outcome = receiver.propose_failover(key.clone(), &failover).await;
            requests.push(Requested {
                account: key.account,
                region: key.region,
                service_code: key.service_code,
                quota_code: key.quota_code,
                outcome,
            });
        }
    }
    match o.output {
        Output::Json => {
            let value = serde_json::json!({
                "primary": o.primary,
                "standby": o.standby,
                "coverage": o.coverage,
                "carries": rows.iter().all(|r| r.verdict != Verdict::Short),
                "quotas": rows,
                "requests": requests,
            });
            println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        }
        Output::Table | Output::Junit => {
            print!("{}", table(&rows, &o.primary, &o.standby, o.all));
            if o.request {
                print!("{}", requests_table(&requests, dry_run));
            }
        }
    }
    let carries = rows.iter().all(|r| r.verdict != Verdict::Short);
    if !failures.is_empty() {
        let list = failures.join("\n  ");
        if carries {
            return Err(CannotAssess(format!(
                "no gap among the quotas read, but some of the data could not be read:\n  {list}"
            )));
        }
        eprintln!(
            "Warning: some of the data could not be read; the gaps above stand, others may be missing:\n  {list}"
        );
    }
    Ok(carries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Known;

    fn inventory() -> Inventory {
        let mut i = Inventory::new();
        let mut put = |region: &str, code: &str, k: Known| {
            i.insert(("1".into(), region.into(), "ec2".into(), code.into()), k);
        };
        let with = |name: &str, limit: f64, usage: Option<f64>, peak: Option<f64>, global: bool| Known {
            adjustable: true,
            global,
            peak_7d: peak,
            ..Known::new(name, Some(limit), usage)
        };
        put("us-east-1", "L-G", with("G", 64.0, Some(30.0), Some(48.0), false));
        put("eu-west-1", "L-G", with("G", 32.0, Some(24.0), None, false));
        put("us-east-1", "L-S", with("Standard", 640.0, Some(544.0), None, false));
        put("eu-west-1", "L-S", with("Standard", 544.0, Some(10.0), None, false));
        put("us-east-1", "L-IAM", with("Roles", 1000.0, Some(900.0), None, true));
        put("eu-west-1", "L-IAM", with("Roles", 500.0, None, None, true));
        put("us-east-1", "L-ONLY", with("Only here", 10.0, Some(5.0), None, false));
        put("us-east-1", "L-NONE", with("No usage", 10.0, None, None, false));
        i
    }

    #[test]
    fn the_standby_must_carry_the_primarys_seven_day_peak_not_only_its_usage_now() {
        let rows = compare(&inventory(), "us-east-1", "eu-west-1", None, 1.0);
        let codes: Vec<(&str, Verdict)> = rows.iter().map(|r| (r.quota_code.as_str(), r.verdict)).collect();
        assert_eq!(
            codes,
            [("L-G", Verdict::Short), ("L-ONLY", Verdict::NotInStandby), ("L-S", Verdict::Carries)],
            "the global quota and the quota without usage are left out"
        );
        let g = &rows[0];
        assert_eq!(
            (g.primary_usage, g.primary_peak_7d, g.need, g.standby_limit, g.shortfall),
            (30.0, Some(48.0), 48.0, Some(32.0), Some(16.0))
        );
        assert_eq!(rows[2].need, 544.0, "without a peak, the usage now; at the limit exactly, it carries");
        let rows = compare(&inventory(), "us-east-1", "eu-west-1", None, 1.2);
        assert_eq!(rows.iter().filter(|r| r.verdict == Verdict::Short).count(), 2, "a fifth more for growth");
        assert!(compare(&inventory(), "us-east-1", "eu-west-1", Some("2"), 1.0).is_empty());
    }

    #[test]
    fn a_region_without_quotas_in_the_data_cannot_be_assessed() {
        assert!(assessable(&inventory(), "us-east-1", "eu-west-1", None).is_ok());
        let e = assessable(&inventory(), "us-east-1", "ap-south-1", Some("1")).expect_err("no standby data");
        assert_eq!(e.0, "no quotas of account 1 in ap-south-1 in the data (is the region collected?)");
    }

    #[test]
    fn the_table_shows_the_gaps_and_counts_the_rest() {
        let rows = compare(&inventory(), "us-east-1", "eu-west-1", None, 1.0);
        let t = table(&rows, "us-east-1", "eu-west-1", false);
        assert!(
            t.lines().next().is_some_and(|h| h.contains("us-east-1 7-DAY PEAK") && h.contains("eu-west-1 LIMIT")),
            "{t}"
        );
        assert!(t.lines().any(|l| l.starts_with("ec2/L-G ") && l.ends_with("SHORT")), "{t}");
        assert!(!t.contains("ec2/L-S "), "a quota the standby carries is listed only with --all: {t}");
        assert!(t.contains("3 quotas with usage in us-east-1 compared with eu-west-1: 1 short, 1 carried, 1 not in eu-west-1's data (--all lists every quota)"), "{t}");
        assert!(table(&rows, "us-east-1", "eu-west-1", true).contains("ec2/L-S "));
    }
}
