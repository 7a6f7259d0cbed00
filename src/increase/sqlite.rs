//! The SQLite ledger: one file, WAL journal, for one receiver (the `requests`
//! subcommand may read and approve alongside it).
//!
//! One open entry per quota is a partial unique index, and every step that reads
//! before it writes runs in a `BEGIN IMMEDIATE` transaction, so concurrent deliveries
//! (and a second process on the same file) serialise on SQLite's write lock.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::ledger::{Entry, LedgerError, Listing, QuotaKey, Refusal, State};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    service_code TEXT NOT NULL,
    quota_code TEXT NOT NULL,
    state TEXT NOT NULL,
    open INTEGER NOT NULL,
    reason TEXT,
    detail TEXT NOT NULL,
    current_value REAL,
    desired_value REAL,
    request_id TEXT,
    aws_status TEXT,
    case_id TEXT,
    alertname TEXT,
    fingerprint TEXT,
    starts_at TEXT,
    counted_day TEXT,
    cooldown_until REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    closed_at REAL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    decided_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_entry_per_quota
    ON entries (account, region, service_code, quota_code) WHERE open = 1;
CREATE INDEX IF NOT EXISTS entries_by_quota ON entries (account, region, service_code, quota_code, cooldown_until);
CREATE INDEX IF NOT EXISTS entries_by_day ON entries (counted_day);
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (created_at);
CREATE INDEX IF NOT EXISTS closed_entries_by_update ON entries (updated_at) WHERE open = 0;
";

/// Columns added after the first schema, with their definitions: a ledger file written
/// by an earlier version gains them when it is opened.
const ADDED_COLUMNS: &[(&str, &str)] = &[("dry_run", "INTEGER NOT NULL DEFAULT 0"), ("decided_by", "TEXT")];

const COLUMNS: &str = "id, account, region, service_code, quota_code, state, open, reason, detail, current_value, \
                       desired_value, request_id, aws_status, case_id, alertname, fingerprint, starts_at, counted_day, \
                       cooldown_until, created_at, updated_at, closed_at, dry_run, decided_by";

/// A ledger in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    conn: Arc<Mutex<Connection>>,
}

fn err(e: impl std::fmt::Display) -> LedgerError {
    LedgerError(format!("SQLite: {e}"))
}

impl SqliteLedger {
    /// Opens (creating if needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<SqliteLedger, LedgerError> {
        let mut conn =
            Connection::open(path).map_err(|e| LedgerError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        let existing = columns(&conn)?;
        if !existing.is_empty() && ADDED_COLUMNS.iter().any(|(c, _)| !existing.iter().any(|e| e == c)) {
            // One writer at a time (the receiver and the requests command may open the
            // file together), and looked at again under the lock.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            let existing = columns(&tx)?;
            for (column, definition) in ADDED_COLUMNS {
                if !existing.iter().any(|c| c == column) {
                    tx.execute_batch(&format!("ALTER TABLE entries ADD COLUMN {column} {definition}")).map_err(err)?;
                    if *column == "dry_run" {
                        // Dry runs of the first version: they keep their own cooldowns.
                        tx.execute("UPDATE entries SET dry_run = 1 WHERE state = 'dry_run'", []).map_err(err)?;
                    }
                }
            }
            tx.commit().map_err(err)?;
        }
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(SqliteLedger { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` on the connection off the async threads.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| LedgerError(format!("the ledger task failed: {e}")))?
    }

    pub async fn claim(&self, entry: &Entry, now: f64) -> Result<Result<(), Refusal>, LedgerError> {
        let entry = entry.clone();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            let k = &entry.key;
            let holder: Option<(String, String)> = tx
                .query_row(
                    "SELECT id, state FROM entries WHERE account = ?1 AND region = ?2 AND service_code = ?3 \
                     AND quota_code = ?4 AND open = 1",
                    params![k.account, k.region, k.service_code, k.quota_code],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(err)?;
            if let Some((id, state)) = holder {
                return Ok(Err(Refusal::Busy { id, state: State::parse(&state).unwrap_or(State::Filing) }));
            }
            let until: Option<f64> = tx
                .query_row(
                    "SELECT MAX(cooldown_until) FROM entries WHERE account = ?1 AND region = ?2 \
                     AND service_code = ?3 AND quota_code = ?4 AND dry_run = ?5",
                    params![k.account, k.region, k.service_code, k.quota_code, entry.dry_run],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if let Some(until) = until.filter(|u| *u > now) {
                return Ok(Err(Refusal::Cooldown { until }));
            }
            insert(&tx, &entry)?;
            tx.commit().map_err(err)?;
            Ok(Ok(()))
        })
        .await
    }

    pub async fn begin_filing(
        &self,
        entry: &Entry,
        from: &[State],
        daily_max: u32,
    ) -> Result<Result<(), Refusal>, LedgerError> {
        let (entry, from) = (entry.clone(), from.to_vec());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            let counted: u32 = tx
                .query_row(
                    "SELECT COUNT(*) FROM entries WHERE counted_day = ?1 AND id != ?2 AND dry_run = ?3 AND account = ?4",
                    params![entry.counted_day, entry.id, entry.dry_run, entry.key.account],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if counted >= daily_max {
                return Ok(Err(Refusal::DailyMax { max: daily_max }));
            }
            if !replace(&tx, &entry, &from)? {
                return Ok(Err(Refusal::Moved));
            }
            tx.commit().map_err(err)?;
            Ok(Ok(()))
        })
        .await
    }

    pub async fn update(&self, entry: &Entry, from: &[State]) -> Result<Result<(), Refusal>, LedgerError> {
        let (entry, from) = (entry.clone(), from.to_vec());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            if !replace(&tx, &entry, &from)? {
                return Ok(Err(Refusal::Moved));
            }
            tx.commit().map_err(err)?;
            Ok(Ok(()))
        })
        .await
    }

    pub async fn record(&self, entry: &Entry) -> Result<(), LedgerError> {
        let entry = entry.clone();
        self.with(move |conn| insert(conn, &entry)).await
    }

    pub async fn get(&self, id: &str) -> Result<Option<Entry>, LedgerError> {
        let id = id.to_owned();
        self.with(move |conn| {
            conn.query_row(&format!("SELECT {COLUMNS} FROM entries WHERE id = ?1"), params![id], row)
                .optional()
                .map_err(err)
        })
        .await
    }

    pub async fn purge(&self, now: f64, retention: std::time::Duration) -> Result<u64, LedgerError> {
        let before = now - retention.as_secs_f64();
        self.with(move |conn| {
            let n = conn
                .execute(
                    "DELETE FROM entries WHERE open = 0 AND updated_at < ?1 \
                     AND (cooldown_until IS NULL OR cooldown_until <= ?2)",
                    params![before, now],
                )
                .map_err(err)?;
            Ok(n as u64)
        })
        .await
    }

    pub async fn list(&self, which: Listing, limit: usize) -> Result<Vec<Entry>, LedgerError> {
        self.with(move |conn| {
            let filter = match which {
                Listing::All => "",
                Listing::Open => "WHERE open = 1",
            };
            let mut stmt = conn
                .prepare(&format!("SELECT {COLUMNS} FROM entries {filter} ORDER BY created_at DESC, id DESC LIMIT ?1"))
                .map_err(err)?;
            let rows = stmt.query_map(params![limit as i64], row).map_err(err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(err)
        })
        .await
    }
}

/// The columns of the entries table (none before it exists).
fn columns(conn: &Connection) -> Result<Vec<String>, LedgerError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('entries')").map_err(err)?;
    stmt.query_map([], |r| r.get(0)).map_err(err)?.collect::<Result<_, _>>().map_err(err)
}

fn insert(conn: &Connection, e: &Entry) -> Result<(), LedgerError> {
    conn.execute(
        &format!(
            "INSERT INTO entries ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
             ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
        ),
        params![
            e.id,
            e.key.account,
            e.key.region,
            e.key.service_code,
            e.key.quota_code,
            e.state.as_str(),
            e.state.is_open(),
            e.reason,
            e.detail,
            e.current_value,
            e.desired_value,
            e.request_id,
            e.aws_status,
            e.case_id,
            e.alertname,
            e.fingerprint,
            e.starts_at,
            e.counted_day,
            e.cooldown_until,
            e.created_at,
            e.updated_at,
            e.closed_at,
            e.dry_run,
            e.decided_by,
        ],
    )
    .map_err(err)?;
    Ok(())
}

/// Rewrites an entry if it is in one of `from`; returns whether it was.
fn replace(conn: &Connection, e: &Entry, from: &[State]) -> Result<bool, LedgerError> {
    let current: Option<String> = conn
        .query_row("SELECT state FROM entries WHERE id = ?1", params![e.id], |r| r.get(0))
        .optional()
        .map_err(err)?;
    if !current.and_then(|s| State::parse(&s)).is_some_and(|s| from.contains(&s)) {
        return Ok(false);
    }
    conn.execute(
        "UPDATE entries SET state = ?2, open = ?3, reason = ?4, detail = ?5, current_value = ?6, desired_value = ?7, \
         request_id = ?8, aws_status = ?9, case_id = ?10, counted_day = ?11, cooldown_until = ?12, updated_at = ?13, \
         closed_at = ?14, decided_by = ?15 WHERE id = ?1",
        params![
            e.id,
            e.state.as_str(),
            e.state.is_open(),
            e.reason,
            e.detail,
            e.current_value,
            e.desired_value,
            e.request_id,
            e.aws_status,
            e.case_id,
            e.counted_day,
            e.cooldown_until,
            e.updated_at,
            e.closed_at,
            e.decided_by,
        ],
    )
    .map_err(err)?;
    Ok(true)
}

fn row(r: &Row<'_>) -> rusqlite::Result<Entry> {
    let state: String = r.get(5)?;
    Ok(Entry {
        id: r.get(0)?,
        key: QuotaKey { account: r.get(1)?, region: r.get(2)?, service_code: r.get(3)?, quota_code: r.get(4)? },
        state: State::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, format!("state {state}").into())
        })?,
        reason: r.get(7)?,
        detail: r.get(8)?,
        current_value: r.get(9)?,
        desired_value: r.get(10)?,
        request_id: r.get(11)?,
        aws_status: r.get(12)?,
        case_id: r.get(13)?,
        alertname: r.get(14)?,
        fingerprint: r.get(15)?,
        starts_at: r.get(16)?,
        counted_day: r.get(17)?,
        cooldown_until: r.get(18)?,
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
        closed_at: r.get(21)?,
        dry_run: r.get(22)?,
        decided_by: r.get(23)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(quota: &str) -> QuotaKey {
        QuotaKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            service_code: "ec2".into(),
            quota_code: quota.into(),
        }
    }

    // The ledger's contract, shared with DynamoDB, is in tests/api/ledger.rs.

    /// A file path removed when dropped.
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new() -> TempPath {
                let id = crate::increase::ledger::new_id(0.0);
                TempPath(std::env::temp_dir().join(format!("aqe-ledger-{id}.db")))
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
                }
            }
        }
    }

    #[tokio::test]
    async fn entries_survive_reopening_the_file() {
        let path = tempfile_path::TempPath::new();
        let mut e = Entry::new(key("L-1"), State::Checking, 1000.0);
        e.detail = "a \"quoted\" detail".into();
        e.desired_value = Some(1280.0);
        SqliteLedger::open(&path.0).expect("opens").claim(&e, 1000.0).await.expect("ok").expect("claimed");
        let reopened = SqliteLedger::open(&path.0).expect("opens again");
        assert_eq!(reopened.get(&e.id).await.expect("ok"), Some(e));
    }
}
