//! The `requests` subcommand: the ledger as a table or JSON, and approving or
//! rejecting a request that awaits approval. It opens the ledger the receiver uses
//! (same variables); an approval here is filed by the running receiver at its next poll.

use super::ledger::Entry;

use crate::clock::utc_time;

/// The entries as an aligned table, newest first, one line each.
pub fn table(entries: &[Entry]) -> String {
    let header = ["CREATED (UTC)", "ID", "STATE", "ACCOUNT", "REGION", "QUOTA", "CURRENT", "DESIRED", "AWS", "WHY"];
    let number = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 10]> = entries
        .iter()
        .map(|e| {
            let why = match (&e.reason, &e.request_id) {
                (Some(reason), _) => reason.clone(),
                (None, Some(id)) => id.clone(),
                (None, None) => String::new(),
            };
            [
                utc_time(e.created_at),
                e.id.clone(),
                e.state.as_str().to_owned(),
                e.key.account.clone(),
                e.key.region.clone(),
                format!("{}/{}", e.key.service_code, e.key.quota_code),
                number(e.current_value),
                number(e.desired_value),
                e.aws_status.clone().unwrap_or_else(|| "-".into()),
                why,
            ]
        })
        .collect();
    // Cells come from alert labels: the table escapes their control characters.
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    let (header, lines) = crate::table::lines(&header, &rows, &[]);
    let mut out = header + "\n";
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no entries)\n");
    }
    out
}

/// What the `requests` subcommand does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requests {
    List { open: bool, limit: usize, json: bool },
    Approve(String),
    Reject(String),
}

/// Who decides from the command line: `--by NAME`, else the login name.
fn cli_decider(by: Option<String>) -> anyhow::Result<String> {
    let name = by
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    if !crate::config::increase::is_decider_name(&name) {
        anyhow::bail!("--by {name:?} is not a name of at most 64 letters, digits, '.', '_', '@' or '-'");
    }
    Ok(format!("cli:{name}"))
}

/// The `requests` subcommand: lists the ledger, or approves or rejects an entry.
pub async fn run(config: crate::config::Config, what: Requests, by: Option<String>) -> anyhow::Result<()> {
    use anyhow::Context;

    use crate::config::increase::LedgerConfig;
    use crate::increase::{ledger, receiver};
    let by = cli_decider(by)?;
    let sdk_config = match config.increase.ledger {
        LedgerConfig::DynamoDb { .. } => crate::aws::load_sdk_config().await,
        LedgerConfig::Sqlite { .. } => aws_config::SdkConfig::builder().build(),
    };
    if let LedgerConfig::Sqlite { path } = &config.increase.ledger
        && !path.exists()
    {
        anyhow::bail!(
            "no increase ledger at {}: set QUOTA_EXPORTER_INCREASE_LEDGER_PATH to the file the receiver writes",
            path.display()
        );
    }
    let ledger = crate::increase::open_ledger(&config.increase, &sdk_config)
        .await
        .context("opening the increase ledger (QUOTA_EXPORTER_INCREASE_LEDGER*)")?;
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    match what {
        Requests::List { open, limit, json } => {
            let which = if open { ledger::Listing::Open } else { ledger::Listing::All };
            let entries = ledger.list(which, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print!("{}", table(&entries));
            }
        }
        Requests::Approve(id) => {
            let e = receiver::mark_approved(&ledger, &id, now, &by).await?;
            println!(
                "approved {}: {}/{} in {} {}, asking for {}; the receiver files it at its next poll",
                e.id,
                e.key.service_code,
                e.key.quota_code,
                e.key.account,
                e.key.region,
                e.desired_value.map_or_else(|| "?".to_owned(), |v| v.to_string())
            );
        }
        Requests::Reject(id) => {
            let e = receiver::reject(&ledger, &id, now, config.increase.cooldown, &by).await?;
            println!(
                "rejected {}: {}/{} in {} {}",
                e.id, e.key.service_code, e.key.quota_code, e.key.account, e.key.region
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::increase::ledger::{QuotaKey, State};

    #[test]
    fn the_table_aligns_columns_and_says_why_or_which_request() {
        let key = QuotaKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            service_code: "ec2".into(),
            quota_code: "L-1216C47A".into(),
        };
        let mut filed = Entry::new(key.clone(), State::Filed, 1_795_000_000.0);
        filed.id = "1795000000000-aaaa".into();
        filed.current_value = Some(640.0);
        filed.desired_value = Some(960.0);
        filed.aws_status = Some("PENDING".into());
        filed.request_id = Some("req-1".into());
        let mut skipped = Entry::new(key.clone(), State::Skipped, 1_795_000_060.0);
        skipped.id = "1795000060000-bbbb".into();
        skipped.reason = Some("open_request".into());
        let t = table(&[skipped, filed]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("CREATED (UTC)        ID                  STATE"));
        assert!(lines[1].contains("skipped") && lines[1].ends_with("open_request"));
        assert!(lines[2].contains("960") && lines[2].contains("PENDING") && lines[2].ends_with("req-1"));
        assert_eq!(lines[1].find("us-east-1"), lines[2].find("us-east-1"), "aligned");
        let mut forged = Entry::new(
            QuotaKey { quota_code: "L-1\n1795000000 x filed".into(), ..key.clone() },
            State::Skipped,
            1_795_000_120.0,
        );
        forged.reason = Some("invalid_labels".into());
        let t = table(&[forged]);
        assert_eq!(t.lines().count(), 2, "one line per entry: {t}");
        assert!(t.contains("ec2/L-1\\n1795000000 x filed"), "{t}");
        let empty = table(&[]);
        assert_eq!(empty.lines().nth(1), Some("(no entries)"), "{empty}");
        assert!(empty.starts_with("CREATED (UTC)  ID  STATE"), "headers only as wide as themselves: {empty}");
    }
}
