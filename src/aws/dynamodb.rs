//! The DynamoDB ledger, for several receiver replicas sharing one table.
//!
//! One table, partition key `pk` (string), three kinds of items:
//! * `entry#<id>`: one ledger entry;
//! * `slot#<account>#<region>#<service>#<quota>`: the quota's `holder` (the open entry's
//!   id), `cooldown_until` after a filed request and `dry_run_cooldown_until` after a
//!   dry run, so that a dry run never holds back a receiver that files;
//! * `day#<ACCOUNT>#<YYYY-MM-DD>` and `dry_run_day#<ACCOUNT>#<YYYY-MM-DD>`: `n`, the requests counted
//!   against the day's maximum by filing and by dry-run receivers.
//!
//! Every step that must not race is one `TransactWriteItems` with condition
//! expressions: a claim sets the slot's holder only if there is none and no cooldown
//! runs, together with the entry; beginning to file increments the day's counter only
//! below the maximum, together with the entry's move; closing releases the slot only
//! if this entry holds it. A cancelled transaction is explained by reading the items
//! back, so callers get the same [`Refusal`]s as from SQLite.
//!
//! Lost answers: every transaction carries a `ClientRequestToken` derived from the step
//! and the item it writes, so DynamoDB applies the SDK's retry of a write whose answer
//! was lost only once; and a transaction cancelled because its own first attempt
//! already went through is recognised by reading the entry back (DynamoDB-compatible
//! servers without tokens behave so).
//!
//! The table stays small: open entries carry `open_partition`, the key of the sparse
//! index `open-entries`, so following them is a `Query`, never a scan; closed entries,
//! released slots and day counters carry `expires_at`, the table's TTL attribute, and
//! DynamoDB deletes them after the retention (entries) or once nothing needs them.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, Put,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem, Update,
};

use crate::increase::ledger::{Entry, LedgerError, Listing, QuotaKey, Refusal, State};

/// The sparse index of open entries.
pub const OPEN_INDEX: &str = "open-entries";
/// Its partition key: present, with this value, only on open entries.
const OPEN_PARTITION: &str = "open_partition";
/// The table's TTL attribute.
pub const EXPIRES_AT: &str = "expires_at";

/// A ledger in a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    retention: Duration,
}

type Item = HashMap<String, AttributeValue>;

fn err<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> LedgerError {
    LedgerError(format!("DynamoDB {what}: {}", DisplayErrorContext(&e)))
}

/// A write refused by its conditions, or a retry of a token whose first use carried
/// other parameters: either way, what happened is read back.
fn is_cancelled<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(
        e.as_service_error().and_then(ProvideErrorMetadata::code),
        Some("TransactionCanceledException" | "IdempotentParameterMismatchException")
    )
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

/// The counter of an account's filings (or dry runs) on a UTC day.
fn day_pk(dry_run: bool, account: &str, day: &str) -> String {
    if dry_run { format!("dry_run_day#{account}#{day}") } else { format!("day#{account}#{day}") }
}

/// The slot attribute that holds the cooldown of the entry's mode.
fn cooldown_attribute(dry_run: bool) -> &'static str {
    if dry_run { "dry_run_cooldown_until" } else { "cooldown_until" }
}

/// A `ClientRequestToken` (at most 36 characters) for one step writing one version of
/// an entry: a retry of the same write reuses it, any other write gets another.
pub fn request_token(step: &str, entry: &Entry) -> String {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        step.hash(&mut h);
        format!("{entry:?}").hash(&mut h);
        h.finish()
    };
    let step: String = step.chars().take(3).collect();
    format!("{step}-{:016x}{:016x}", half(1), half(2))
}

/// How long a day counter is kept: long after the day, so its count is never lost
/// while the day lasts in any time zone.
const DAY_COUNTER_TTL: f64 = 3.0 * 86_400.0;

impl DynamoLedger {
    /// Opens the ledger in `table`, creating the table (on-demand capacity, the
    /// open-entries index, TTL on `expires_at`) if it does not exist, and adding what
    /// an older table lacks. `endpoint` overrides the SDK's (AWS_ENDPOINT_URL_DYNAMODB,
    /// a local DynamoDB-compatible server). Closed entries expire `retention` after
    /// their last change.
    pub async fn open(
        sdk_config: &aws_config::SdkConfig,
        table: &str,
        endpoint: Option<&str>,
        retention: Duration,
    ) -> Result<DynamoLedger, LedgerError> {
        let mut config = aws_sdk_dynamodb::config::Builder::from(sdk_config)
            .timeout_config(super::timeouts::DYNAMODB.with_sdk_retries());
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        let ledger = DynamoLedger { client: Client::from_conf(config.build()), table: table.to_owned(), retention };
        ledger.ensure_table().await?;
        Ok(ledger)
    }

    fn definition(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, LedgerError> {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(|e| LedgerError(e.to_string()))
    }

    fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, LedgerError> {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| LedgerError(e.to_string()))
    }

    fn open_index_keys() -> Result<Vec<KeySchemaElement>, LedgerError> {
        Ok(vec![Self::key(OPEN_PARTITION, KeyType::Hash)?, Self::key("created_at", KeyType::Range)?])
    }

    fn open_index_definitions() -> Result<Vec<AttributeDefinition>, LedgerError> {
        Ok(vec![
            Self::definition(OPEN_PARTITION, ScalarAttributeType::S)?,
            Self::definition("created_at", ScalarAttributeType::N)?,
        ])
    }

    async fn ensure_table(&self) -> Result<(), LedgerError> {
        let described = self.client.describe_table().table_name(&self.table).send().await;
        let mut has_index = true;
        match described {
            Ok(t) => {
                has_index = t
                    .table()
                    .is_some_and(|t| t.global_secondary_indexes().iter().any(|i| i.index_name() == Some(OPEN_INDEX)));
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                let mut definitions = vec![Self::definition("pk", ScalarAttributeType::S)?];
                definitions.extend(Self::open_index_definitions()?);
                let index = GlobalSecondaryIndex::builder()
                    .index_name(OPEN_INDEX)
                    .set_key_schema(Some(Self::open_index_keys()?))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(|e| LedgerError(e.to_string()))?;
                let created = self
                    .client
                    .create_table()
                    .table_name(&self.table)
                    .set_attribute_definitions(Some(definitions))
                    .key_schema(Self::key("pk", KeyType::Hash)?)
                    .global_secondary_indexes(index)
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
        self.wait_active().await?;
        if !has_index {
            self.add_open_index().await?;
        }
        self.ensure_ttl().await;
        Ok(())
    }

    /// Waits until the table and its indexes are ACTIVE.
    async fn wait_active(&self) -> Result<(), LedgerError> {
        for _ in 0..240 {
            let t = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| err("DescribeTable", e))?;
            let table = t.table();
            let indexes_active = table.is_none_or(|t| {
                t.global_secondary_indexes().iter().all(|i| i.index_status().is_none_or(|s| *s == IndexStatus::Active))
            });
            if table.and_then(|t| t.table_status()) == Some(&TableStatus::Active) && indexes_active {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(LedgerError(format!("table {} and its indexes did not become ACTIVE within two minutes", self.table)))
    }

    /// A table made by an earlier version: adds the open-entries index and gives the
    /// open entries already there its key.
    async fn add_open_index(&self) -> Result<(), LedgerError> {
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(OPEN_INDEX)
            .set_key_schema(Some(Self::open_index_keys()?))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| LedgerError(e.to_string()))?;
        let added = self
            .client
            .update_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(Self::open_index_definitions()?))
            .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
            .send()
            .await;
        match added {
            Ok(_) => {}
            // Another replica is adding it.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(err("UpdateTable", e)),
        }
        self.wait_active().await?;
        for entry in self.scan(true).await? {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&entry, self.retention)))
                .condition_expression("#state = :state")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", s(entry.state.as_str()))
                .send()
                .await
                .map_err(|e| err("PutItem", e))?;
        }
        tracing::info!(table = %self.table, "added the open-entries index to the increase ledger's table");
        Ok(())
    }

    /// Turns TTL on for `expires_at`. Without the permission the ledger still works;
    /// it only grows, and the warning says so.
    async fn ensure_ttl(&self) {
        let status = match self.client.describe_time_to_live().table_name(&self.table).send().await {
            Ok(out) => out.time_to_live_description().and_then(|d| d.time_to_live_status().cloned()),
            Err(e) => {
                tracing::warn!(table = %self.table, error = %DisplayErrorContext(&e), "cannot read the ledger table's TTL setting; closed entries are kept until it is turned on for expires_at");
                return;
            }
        };
        if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
            return;
        }
        let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name(EXPIRES_AT).build();
        let result = match spec {
            Ok(spec) => self
                .client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(spec)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| DisplayErrorContext(&e).to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(table = %self.table, error = %e, "cannot turn on TTL for the ledger table; closed entries are kept until it is turned on for expires_at");
        }
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
        let mut put = Put::builder().table_name(&self.table).set_item(Some(to_item(e, self.retention)));
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

    /// Runs one transaction that writes `entry` at `step`. `Ok(false)`: its conditions
    /// refused it, and the entry is not as this transaction would have left it.
    async fn transact(&self, step: &str, entry: &Entry, items: Vec<TransactWriteItem>) -> Result<bool, LedgerError> {
        let sent = self
            .client
            .transact_write_items()
            .client_request_token(request_token(step, entry))
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            // Cancelled, perhaps because our own first attempt went through and its
            // answer was lost: then the entry is already what we wrote.
            Err(e) if is_cancelled(&e) => Ok(self.get(&entry.id).await?.as_ref() == Some(entry)),
            Err(e) => Err(err("TransactWriteItems", e)),
        }
    }

    pub async fn claim(&self, entry: &Entry, now: f64) -> Result<Result<(), Refusal>, LedgerError> {
        let cooldown = cooldown_attribute(entry.dry_run);
        for _ in 0..3 {
            let slot = Update::builder()
                .table_name(&self.table)
                .key("pk", s(slot_pk(&entry.key)))
                .update_expression(format!("SET holder = :id REMOVE {EXPIRES_AT}"))
                .condition_expression("attribute_not_exists(holder) AND (attribute_not_exists(#cd) OR #cd <= :now)")
                .expression_attribute_names("#cd", cooldown)
                .expression_attribute_values(":id", s(&entry.id))
                .expression_attribute_values(":now", n(now))
                .build()
                .map_err(|e| LedgerError(e.to_string()))?;
            let items = vec![TransactWriteItem::builder().update(slot).build(), self.put_entry(entry, None)?];
            if self.transact("clm", entry, items).await? {
                return Ok(Ok(()));
            }
            // Why: the slot says.
            let slot = self.item(&slot_pk(&entry.key)).await?.unwrap_or_default();
            if let Some(AttributeValue::S(holder)) = slot.get("holder") {
                let state = self.get(holder).await?.map_or(State::Checking, |e| e.state);
                return Ok(Err(Refusal::Busy { id: holder.clone(), state }));
            }
            if let Some(until) = number(&slot, cooldown).filter(|u| *u > now) {
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
        let day = day_pk(entry.dry_run, &entry.key.account, entry.counted_day.as_deref().unwrap_or_default());
        for _ in 0..3 {
            let counter = Update::builder()
                .table_name(&self.table)
                .key("pk", s(&day))
                .update_expression(format!("SET n = if_not_exists(n, :zero) + :one, {EXPIRES_AT} = :expires"))
                .condition_expression("attribute_not_exists(n) OR n < :max")
                .expression_attribute_values(":zero", n(0.0))
                .expression_attribute_values(":one", n(1.0))
                .expression_attribute_values(":max", n(f64::from(daily_max)))
                .expression_attribute_values(":expires", n((entry.updated_at + DAY_COUNTER_TTL).floor()))
                .build()
                .map_err(|e| LedgerError(e.to_string()))?;
            let items = vec![TransactWriteItem::builder().update(counter).build(), self.put_entry(entry, Some(from))?];
            if self.transact("fil", entry, items).await? {
                return Ok(Ok(()));
            }
            let counted = self.item(&day).await?.and_then(|i| number(&i, "n")).unwrap_or(0.0);
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
            // A released slot expires once nothing needs it: when both modes' cooldowns
            // are over. The other mode's is read first; only this entry writes the slot
            // while it holds it, so it cannot change in between.
            let slot = self.item(&slot_pk(&entry.key)).await?.unwrap_or_default();
            let other = number(&slot, cooldown_attribute(!entry.dry_run)).unwrap_or(0.0);
            let expires = entry.cooldown_until.unwrap_or(0.0).max(other).max(entry.updated_at).ceil();
            let mut release = Update::builder()
                .table_name(&self.table)
                .key("pk", s(slot_pk(&entry.key)))
                .condition_expression("holder = :id")
                .expression_attribute_values(":id", s(&entry.id))
                .expression_attribute_values(":expires", n(expires));
            release = match entry.cooldown_until {
                Some(until) => release
                    .update_expression(format!("REMOVE holder SET #cd = :until, {EXPIRES_AT} = :expires"))
                    .expression_attribute_names("#cd", cooldown_attribute(entry.dry_run))
                    .expression_attribute_values(":until", n(until)),
                None => release.update_expression(format!("REMOVE holder SET {EXPIRES_AT} = :expires")),
            };
            items.push(
                TransactWriteItem::builder().update(release.build().map_err(|e| LedgerError(e.to_string()))?).build(),
            );
        }
        let step = format!("u{}", &entry.state.as_str()[..2]);
        if self.transact(&step, entry, items).await? { Ok(Ok(())) } else { Ok(Err(Refusal::Moved)) }
    }

    pub async fn record(&self, entry: &Entry) -> Result<(), LedgerError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(entry, self.retention)))
            .send()
            .await
            .map_err(|e| err("PutItem", e))?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Entry>, LedgerError> {
        Ok(self.item(&entry_pk(id)).await?.and_then(|i| from_item(&i)))
    }

    pub async fn list(&self, which: Listing, limit: usize) -> Result<Vec<Entry>, LedgerError> {
        let mut out = match which {
            Listing::Open => self.query_open().await?,
            Listing::All => self.scan(false).await?,
        };
        out.sort_by(|a, b| b.created_at.total_cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        out.truncate(limit);
        Ok(out)
    }

    /// The open entries, from the sparse index: as many items as entries are open,
    /// whatever the size of the table.
    async fn query_open(&self) -> Result<Vec<Entry>, LedgerError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OPEN_INDEX)
                .key_condition_expression("#open = :open")
                .expression_attribute_names("#open", OPEN_PARTITION)
                .expression_attribute_values(":open", s("open"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| err("Query", e))?;
            // The index is eventually consistent: an entry closed a moment ago may still
            // be in it, and its own state says so.
            out.extend(page.items().iter().filter_map(from_item).filter(|e| e.state.is_open()));
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Every entry (`open_only`: the open ones) by a scan of the table: for the
    /// `requests` listing and the one-time index backfill, never per webhook.
    async fn scan(&self, open_only: bool) -> Result<Vec<Entry>, LedgerError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression(if open_only {
                    "begins_with(pk, :entry) AND #open = :true"
                } else {
                    "begins_with(pk, :entry)"
                })
                .expression_attribute_values(":entry", s("entry#"))
                .set_exclusive_start_key(start.take());
            if open_only {
                scan = scan
                    .expression_attribute_names("#open", "open")
                    .expression_attribute_values(":true", AttributeValue::Bool(true));
            }
            let page = scan.send().await.map_err(|e| err("Scan", e))?;
            out.extend(page.items().iter().filter_map(from_item));
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
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

/// An entry as a DynamoDB item: absent values are absent attributes. An open entry
/// carries the open-entries index key; a closed one its expiry, `retention` after its
/// last change and never before its cooldown ends.
pub fn to_item(e: &Entry, retention: Duration) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(entry_pk(&e.id)));
    item.insert("id".into(), s(&e.id));
    item.insert("account".into(), s(&e.key.account));
    item.insert("region".into(), s(&e.key.region));
    item.insert("service_code".into(), s(&e.key.service_code));
    item.insert("quota_code".into(), s(&e.key.quota_code));
    item.insert("state".into(), s(e.state.as_str()));
    item.insert("open".into(), AttributeValue::Bool(e.state.is_open()));
    item.insert("dry_run".into(), AttributeValue::Bool(e.dry_run));
    item.insert("detail".into(), s(&e.detail));
    item.insert("created_at".into(), n(e.created_at));
    item.insert("updated_at".into(), n(e.updated_at));
    if e.state.is_open() {
        item.insert(OPEN_PARTITION.into(), s("open"));
    } else {
        let expires = (e.updated_at + retention.as_secs_f64()).max(e.cooldown_until.unwrap_or(0.0));
        item.insert(EXPIRES_AT.into(), n(expires.ceil()));
    }
    let texts = [
        ("reason", &e.reason),
        ("request_id", &e.request_id),
        ("aws_status", &e.aws_status),
        ("case_id", &e.case_id),
        ("alertname", &e.alertname),
        ("fingerprint", &e.fingerprint),
        ("starts_at", &e.starts_at),
        ("counted_day", &e.counted_day),
        ("decided_by", &e.decided_by),
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
        dry_run: matches!(item.get("dry_run"), Some(AttributeValue::Bool(true))),
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
        decided_by: text(item, "decided_by"),
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
        e.dry_run = true;
        e.decided_by = Some("alice".into());
        let retention = Duration::from_secs(86_400);
        let item = to_item(&e, retention);
        assert_eq!(item["open"], AttributeValue::Bool(true));
        assert_eq!(item[OPEN_PARTITION], s("open"), "open entries are in the sparse index");
        assert!(!item.contains_key(EXPIRES_AT), "an open entry never expires");
        assert!(!item.contains_key("closed_at"), "absent values are absent attributes");
        assert_eq!(from_item(&item), Some(e.clone()));

        let mut closed = e.moved(State::Closed, 1_795_000_100.0);
        let item = to_item(&closed, retention);
        assert!(!item.contains_key(OPEN_PARTITION), "a closed entry leaves the index");
        assert_eq!(item[EXPIRES_AT], n(1_795_086_500.0), "it expires a retention after its last change");
        closed.cooldown_until = Some(1_795_500_000.0);
        assert_eq!(to_item(&closed, retention)[EXPIRES_AT], n(1_795_500_000.0), "but never within its cooldown");
    }

    #[test]
    fn request_tokens_fit_dynamodb_and_differ_by_step_and_content() {
        let e = Entry::new(
            QuotaKey {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                service_code: "ec2".into(),
                quota_code: "L-1216C47A".into(),
            },
            State::Checking,
            1_795_000_000.0,
        );
        let token = request_token("clm", &e);
        assert!(token.len() <= 36 && token.starts_with("clm-"), "{token}");
        assert_eq!(request_token("clm", &e), token, "a retry of the same write reuses its token");
        assert_ne!(request_token("fil", &e), token, "another step");
        assert_ne!(request_token("clm", &e.moved(State::Filing, 1_795_000_001.0)), token, "another version");
    }
}
