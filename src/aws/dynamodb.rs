//! The DynamoDB ledger, for several receiver replicas sharing one table.
//!
//! One table, partition key `pk` (string), three kinds of items:
//! * `entry#<id>`: one ledger entry;
//! * `slot#<account>#<region>#<service>#<quota>`: the quota's `holder` (the open entry's
//!   id) and `cooldown_until`;
//! * `day#<YYYY-MM-DD>`: `n`, the requests counted against the day's maximum.
//!
//! Every step that must not race is one `TransactWriteItems` with condition
//! expressions: a claim sets the slot's holder only if there is none and no cooldown
//! runs, together with the entry; beginning to file increments the day's counter only
//! below the maximum, together with the entry's move; closing releases the slot only
//! if this entry holds it. A cancelled transaction is explained by reading the items
//! back, so callers get the same [`Refusal`]s as from SQLite.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ScalarAttributeType, TableStatus,
    TransactWriteItem, Update,
};

use crate::increase::ledger::{Entry, LedgerError, Listing, QuotaKey, Refusal, State};

/// A ledger in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn err<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> LedgerError {
    LedgerError(format!("DynamoDB {what}: {}", DisplayErrorContext(&e)))
}

fn is_cancelled<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("TransactionCanceledException")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: f64) -> AttributeValue {
    AttributeValue::N(format!("{v}"))
}

fn slot_pk(k: &QuotaKey) -> String {
    format!("slot#{}#{}#{}#{}", k.account, k.region, k.service_code, k.quota_code)
}

fn entry_pk(id: &str) -> String {
    format!("entry#{id}")
}

impl DynamoLedger {
    /// Opens the ledger in `table`, creating the table (on-demand capacity) if it does
    /// not exist. `endpoint` overrides the SDK's (AWS_ENDPOINT_URL_DYNAMODB, a local
    /// DynamoDB-compatible server).
    pub async fn open(
        sdk_config: &aws_config::SdkConfig,
        table: &str,
        endpoint: Option<&str>,
    ) -> Result<DynamoLedger, LedgerError> {
        let mut config = aws_sdk_dynamodb::config::Builder::from(sdk_config);
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        let ledger = DynamoLedger { client: Client::from_conf(config.build()), table: table.to_owned() };
        ledger.ensure_table().await?;
        Ok(ledger)
    }

    async fn ensure_table(&self) -> Result<(), LedgerError> {
        let described = self.client.describe_table().table_name(&self.table).send().await;
        match described {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                let created = self
                    .client
                    .create_table()
                    .table_name(&self.table)
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name("pk")
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .map_err(|e| LedgerError(e.to_string()))?,
                    )
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name("pk")
                            .key_type(KeyType::Hash)
                            .build()
                            .map_err(|e| LedgerError(e.to_string()))?,
                    )
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await;
                match created {
                    Ok(_) => {}
                    // Another replica created it first.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
                    Err(e) => return Err(err("CreateTable", e)),
                }
            }
            Err(e) => return Err(err("DescribeTable", e)),
        }
        for _ in 0..120 {
            let t = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| err("DescribeTable", e))?;
            if t.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(LedgerError(format!("table {} did not become ACTIVE within a minute", self.table)))
    }

    async fn item(&self, pk: &str) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| err("GetItem", e))?;
        Ok(out.item)
    }

    fn put_entry(&self, e: &Entry, from: Option<&[State]>) -> Result<TransactWriteItem, LedgerError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(to_item(e)));
        put = match from {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(states) => {
                let names: Vec<String> = (0..states.len()).map(|i| format!(":from{i}")).collect();
                let mut p = put
                    .condition_expression(format!("#state IN ({})", names.join(", ")))
                    .expression_attribute_names("#state", "state");
                for (name, state) in names.iter().zip(states) {
                    p = p.expression_attribute_values(name, s(state.as_str()));
                }
                p
            }
        };
        Ok(TransactWriteItem::builder().put(put.build().map_err(|e| LedgerError(e.to_string()))?).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, LedgerError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_cancelled(&e) => Ok(false),
            Err(e) => Err(err("TransactWriteItems", e)),
        }
    }

    pub async fn claim(&self, entry: &Entry, now: f64) -> Result<Result<(), Refusal>, LedgerError> {
        for _ in 0..3 {
            let slot = Update::builder()
                .table_name(&self.table)
                .key("pk", s(slot_pk(&entry.key)))
                .update_expression("SET holder = :id")
                .condition_expression(
                    "attribute_not_exists(holder) AND (attribute_not_exists(cooldown_until) OR cooldown_until <= :now)",
                )
                .expression_attribute_values(":id", s(&entry.id))
                .expression_attribute_values(":now", n(now))
                .build()
                .map_err(|e| LedgerError(e.to_string()))?;
            let items = vec![TransactWriteItem::builder().update(slot).build(), self.put_entry(entry, None)?];
            if self.transact(items).await? {
                return Ok(Ok(()));
            }
            // Why: the slot says.
            let slot = self.item(&slot_pk(&entry.key)).await?.unwrap_or_default();
            if let Some(AttributeValue::S(holder)) = slot.get("holder") {
                let state = self.get(holder).await?.map_or(State::Checking, |e| e.state);
                return Ok(Err(Refusal::Busy { id: holder.clone(), state }));
            }
            if let Some(until) = number(&slot, "cooldown_until").filter(|u| *u > now) {
                return Ok(Err(Refusal::Cooldown { until }));
            }
            // Released in between: try again.
        }
        Err(LedgerError("claiming the quota kept conflicting with other replicas".into()))
    }

    pub async fn begin_filing(
        &self,
        entry: &Entry,
        from: &[State],
        daily_max: u32,
    ) -> Result<Result<(), Refusal>, LedgerError> {
        let day = entry.counted_day.clone().unwrap_or_default();
        for _ in 0..3 {
            let counter = Update::builder()
                .table_name(&self.table)
                .key("pk", s(format!("day#{day}")))
                .update_expression("SET n = if_not_exists(n, :zero) + :one")
                .condition_expression("attribute_not_exists(n) OR n < :max")
                .expression_attribute_values(":zero", n(0.0))
                .expression_attribute_values(":one", n(1.0))
                .expression_attribute_values(":max", n(f64::from(daily_max)))
                .build()
                .map_err(|e| LedgerError(e.to_string()))?;
            let items = vec![TransactWriteItem::builder().update(counter).build(), self.put_entry(entry, Some(from))?];
            if self.transact(items).await? {
                return Ok(Ok(()));
            }
            let counted = self.item(&format!("day#{day}")).await?.and_then(|i| number(&i, "n")).unwrap_or(0.0);
            if counted >= f64::from(daily_max) {
                return Ok(Err(Refusal::DailyMax { max: daily_max }));
            }
            if !self.get(&entry.id).await?.is_some_and(|e| from.contains(&e.state)) {
                return Ok(Err(Refusal::Moved));
            }
        }
        Err(LedgerError("counting the filing kept conflicting with other replicas".into()))
    }

    pub async fn update(&self, entry: &Entry, from: &[State]) -> Result<Result<(), Refusal>, LedgerError> {
        let mut items = vec![self.put_entry(entry, Some(from))?];
        if !entry.state.is_open() {
            let mut release = Update::builder()
                .table_name(&self.table)
                .key("pk", s(slot_pk(&entry.key)))
                .condition_expression("holder = :id")
                .expression_attribute_values(":id", s(&entry.id));
            release = match entry.cooldown_until {
                Some(until) => release
                    .update_expression("REMOVE holder SET cooldown_until = :until")
                    .expression_attribute_values(":until", n(until)),
                None => release.update_expression("REMOVE holder"),
            };
            items.push(
                TransactWriteItem::builder().update(release.build().map_err(|e| LedgerError(e.to_string()))?).build(),
            );
        }
        if self.transact(items).await? { Ok(Ok(())) } else { Ok(Err(Refusal::Moved)) }
    }

    pub async fn record(&self, entry: &Entry) -> Result<(), LedgerError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(entry)))
            .send()
            .await
            .map_err(|e| err("PutItem", e))?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Entry>, LedgerError> {
        Ok(self.item(&entry_pk(id)).await?.and_then(|i| from_item(&i)))
    }

    pub async fn list(&self, which: Listing, limit: usize) -> Result<Vec<Entry>, LedgerError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression(match which {
                    Listing::All => "begins_with(pk, :entry)",
                    Listing::Open => "begins_with(pk, :entry) AND #open = :true",
                })
                .expression_attribute_values(":entry", s("entry#"))
                .set_exclusive_start_key(start.take());
            if which == Listing::Open {
                scan = scan
                    .expression_attribute_names("#open", "open")
                    .expression_attribute_values(":true", AttributeValue::Bool(true));
            }
            let page = scan.send().await.map_err(|e| err("Scan", e))?;
            out.extend(page.items().iter().filter_map(from_item));
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| b.created_at.total_cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        out.truncate(limit);
        Ok(out)
    }
}

fn number(item: &Item, key: &str) -> Option<f64> {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn text(item: &Item, key: &str) -> Option<String> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

/// An entry as a DynamoDB item: absent values are absent attributes.
pub fn to_item(e: &Entry) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(entry_pk(&e.id)));
    item.insert("id".into(), s(&e.id));
    item.insert("account".into(), s(&e.key.account));
    item.insert("region".into(), s(&e.key.region));
    item.insert("service_code".into(), s(&e.key.service_code));
    item.insert("quota_code".into(), s(&e.key.quota_code));
    item.insert("state".into(), s(e.state.as_str()));
    item.insert("open".into(), AttributeValue::Bool(e.state.is_open()));
    item.insert("detail".into(), s(&e.detail));
    item.insert("created_at".into(), n(e.created_at));
    item.insert("updated_at".into(), n(e.updated_at));
    let texts = [
        ("reason", &e.reason),
        ("request_id", &e.request_id),
        ("aws_status", &e.aws_status),
        ("case_id", &e.case_id),
        ("alertname", &e.alertname),
        ("fingerprint", &e.fingerprint),
        ("starts_at", &e.starts_at),
        ("counted_day", &e.counted_day),
    ];
    for (k, v) in texts {
        if let Some(v) = v {
            item.insert(k.into(), s(v));
        }
    }
    let numbers = [
        ("current_value", e.current_value),
        ("desired_value", e.desired_value),
        ("cooldown_until", e.cooldown_until),
        ("closed_at", e.closed_at),
    ];
    for (k, v) in numbers {
        if let Some(v) = v {
            item.insert(k.into(), n(v));
        }
    }
    item
}

/// The entry an item holds; `None` for an item that is not a well-formed entry.
pub fn from_item(item: &Item) -> Option<Entry> {
    Some(Entry {
        id: text(item, "id")?,
        key: QuotaKey {
            account: text(item, "account")?,
            region: text(item, "region")?,
            service_code: text(item, "service_code")?,
            quota_code: text(item, "quota_code")?,
        },
        state: State::parse(&text(item, "state")?)?,
        reason: text(item, "reason"),
        detail: text(item, "detail").unwrap_or_default(),
        current_value: number(item, "current_value"),
        desired_value: number(item, "desired_value"),
        request_id: text(item, "request_id"),
        aws_status: text(item, "aws_status"),
        case_id: text(item, "case_id"),
        alertname: text(item, "alertname"),
        fingerprint: text(item, "fingerprint"),
        starts_at: text(item, "starts_at"),
        counted_day: text(item, "counted_day"),
        cooldown_until: number(item, "cooldown_until"),
        created_at: number(item, "created_at")?,
        updated_at: number(item, "updated_at")?,
        closed_at: number(item, "closed_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_survives_the_round_trip_through_an_item() {
        let mut e = Entry::new(
            QuotaKey {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                service_code: "ec2".into(),
                quota_code: "L-1216C47A".into(),
            },
            State::Filed,
            1_795_000_000.125,
        );
        e.desired_value = Some(1280.0);
        e.request_id = Some("d187537d15254312a9609aa51ca3cb3cyjQbA7Bm".into());
        e.detail = "filed".into();
        let item = to_item(&e);
        assert_eq!(item["open"], AttributeValue::Bool(true));
        assert!(!item.contains_key("closed_at"), "absent values are absent attributes");
        assert_eq!(from_item(&item), Some(e));
    }
}
