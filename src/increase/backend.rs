//! The ledger's backends: SQLite ([`crate::increase::sqlite`], one receiver) and
//! DynamoDB ([`crate::aws::dynamodb`], several replicas, conditional writes), behind one
//! type. The domain's types live in [`crate::increase::ledger`], below both backends.

use crate::aws::dynamodb::DynamoLedger;
use crate::increase::ledger::{Entry, LedgerError, Listing, Refusal, State};
use crate::increase::sqlite::SqliteLedger;

/// A ledger backend.
#[derive(Debug, Clone)]
pub enum Ledger {
    Sqlite(SqliteLedger),
    DynamoDb(DynamoLedger),
}

impl Ledger {
    /// Records a new open entry (state [`State::Checking`]) if no open entry holds its
    /// quota and no cooldown of the entry's mode (dry-run or filing) runs for it at `now`.
    pub async fn claim(&self, entry: &Entry, now: f64) -> Result<Result<(), Refusal>, LedgerError> {
        debug_assert!(entry.state.is_open());
        match self {
            Ledger::Sqlite(l) => l.claim(entry, now).await,
            Ledger::DynamoDb(l) => l.claim(entry, now).await,
        }
    }

    /// Moves an open entry to [`State::Filing`] and counts it against the day's
    /// maximum of its mode, both or neither. `entry` is the new version (with
    /// `counted_day` set).
    pub async fn begin_filing(
        &self,
        entry: &Entry,
        from: &[State],
        daily_max: u32,
    ) -> Result<Result<(), Refusal>, LedgerError> {
        debug_assert_eq!(entry.state, State::Filing);
        match self {
            Ledger::Sqlite(l) => l.begin_filing(entry, from, daily_max).await,
            Ledger::DynamoDb(l) => l.begin_filing(entry, from, daily_max).await,
        }
    }

    /// Replaces an entry if it is still in one of the `from` states. An entry that
    /// leaves the open states releases its quota (with its cooldown, if any).
    pub async fn update(&self, entry: &Entry, from: &[State]) -> Result<Result<(), Refusal>, LedgerError> {
        match self {
            Ledger::Sqlite(l) => l.update(entry, from).await,
            Ledger::DynamoDb(l) => l.update(entry, from).await,
        }
    }

    /// Records an entry that never held its quota (skipped, resolved).
    pub async fn record(&self, entry: &Entry) -> Result<(), LedgerError> {
        debug_assert!(!entry.state.is_open());
        match self {
            Ledger::Sqlite(l) => l.record(entry).await,
            Ledger::DynamoDb(l) => l.record(entry).await,
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Entry>, LedgerError> {
        match self {
            Ledger::Sqlite(l) => l.get(id).await,
            Ledger::DynamoDb(l) => l.get(id).await,
        }
    }

    /// Entries, newest first.
    pub async fn list(&self, which: Listing, limit: usize) -> Result<Vec<Entry>, LedgerError> {
        match self {
            Ledger::Sqlite(l) => l.list(which, limit).await,
            Ledger::DynamoDb(l) => l.list(which, limit).await,
        }
    }

    /// Deletes closed entries last changed before `now - retention` whose cooldown is
    /// over; returns how many. DynamoDB deletes them itself (a TTL attribute set when
    /// they close), so there this does nothing.
    pub async fn purge(&self, now: f64, retention: std::time::Duration) -> Result<u64, LedgerError> {
        match self {
            Ledger::Sqlite(l) => l.purge(now, retention).await,
            Ledger::DynamoDb(_) => Ok(0),
        }
    }

    /// Whether a second receiver may share this ledger (then the crash recovery waits
    /// a grace period before it touches another's entries).
    pub fn is_shared(&self) -> bool {
        matches!(self, Ledger::DynamoDb(_))
    }
}
