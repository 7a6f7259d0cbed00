//! The ledger's contract, one suite for both backends: SQLite here, DynamoDB (against
//! moto) in `dynamodb.rs`. At most one open entry per quota, the cooldown after it
//! closes, the daily maximum counted with the move to filing, moves that happen once,
//! and every field surviving the round trip.

use aws_quota_exporter::increase::backend::Ledger;
use aws_quota_exporter::increase::ledger::{Entry, Listing, QuotaKey, Refusal, State};
use aws_quota_exporter::increase::sqlite::SqliteLedger;

use crate::estate::ACCOUNT;
use crate::increase::TempLedger;

fn key(quota: &str) -> QuotaKey {
    QuotaKey {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        service_code: "ec2".into(),
        quota_code: quota.into(),
    }
}

fn filing(e: &Entry, day: &str) -> Entry {
    let mut f = e.moved(State::Filing, e.created_at + 1.0);
    f.counted_day = Some(day.into());
    f
}

/// The contract, on an empty ledger.
pub async fn keeps_one_open_entry_per_quota_cooldowns_and_the_daily_maximum(l: &Ledger) {
    let a = Entry::new(key("L-1"), State::Checking, 1000.0);
    assert_eq!(l.claim(&a, 1000.0).await.expect("ok"), Ok(()));
    let b = Entry::new(key("L-1"), State::Checking, 1001.0);
    assert_eq!(l.claim(&b, 1001.0).await.expect("ok"), Err(Refusal::Busy { id: a.id.clone(), state: State::Checking }));
    // Other quotas are free.
    let other = Entry::new(key("L-2"), State::Checking, 1002.0);
    assert_eq!(l.claim(&other, 1002.0).await.expect("ok"), Ok(()));
    let third = Entry::new(key("L-3"), State::Checking, 1003.0);
    assert_eq!(l.claim(&third, 1003.0).await.expect("ok"), Ok(()));

    // Filing counts against its day, atomically with the move.
    let a_filing = filing(&a, "2026-11-22");
    assert_eq!(l.begin_filing(&a_filing, &[State::Checking], 2).await.expect("ok"), Ok(()));
    assert_eq!(l.begin_filing(&filing(&other, "2026-11-22"), &[State::Checking], 2).await.expect("ok"), Ok(()));
    assert_eq!(
        l.begin_filing(&filing(&third, "2026-11-22"), &[State::Checking], 2).await.expect("ok"),
        Err(Refusal::DailyMax { max: 2 })
    );
    assert_eq!(l.get(&third.id).await.expect("ok").map(|e| e.state), Some(State::Checking), "left as it was");
    assert_eq!(l.begin_filing(&filing(&third, "2026-11-23"), &[State::Checking], 2).await.expect("ok"), Ok(()));
    // Each account has a maximum of its own.
    let elsewhere = Entry::new(QuotaKey { account: "444455556666".into(), ..key("L-1") }, State::Checking, 1004.0);
    assert_eq!(l.claim(&elsewhere, 1004.0).await.expect("ok"), Ok(()));
    let elsewhere_filing = filing(&elsewhere, "2026-11-22");
    assert_eq!(l.begin_filing(&elsewhere_filing, &[State::Checking], 2).await.expect("ok"), Ok(()));
    let elsewhere_closed = elsewhere_filing.moved(State::Failed, 1005.0);
    assert_eq!(l.update(&elsewhere_closed, &[State::Filing]).await.expect("ok"), Ok(()));

    // Closing releases the quota with its cooldown, once.
    let mut closed = a_filing.moved(State::Closed, 2000.0);
    closed.cooldown_until = Some(2000.0 + 3600.0);
    assert_eq!(l.update(&closed, &[State::Filing]).await.expect("ok"), Ok(()));
    let stale = a_filing.moved(State::Failed, 2000.5);
    assert_eq!(l.update(&stale, &[State::Filing]).await.expect("ok"), Err(Refusal::Moved), "moved once only");
    assert_eq!(l.claim(&b, 2001.0).await.expect("ok"), Err(Refusal::Cooldown { until: 5600.0 }));
    assert_eq!(l.claim(&b, 5600.0).await.expect("ok"), Ok(()), "free again once the cooldown is over");

    let open = l.list(Listing::Open, 100).await.expect("ok");
    assert_eq!(
        open.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [third.id.as_str(), other.id.as_str(), b.id.as_str()],
        "newest first"
    );
    assert_eq!(l.get(&a.id).await.expect("ok"), Some(closed), "every field survives the round trip");
}

/// A hundred claims of one quota at once: exactly one wins, every other is told who holds it.
pub async fn a_hundred_concurrent_claims_succeed_once(l: &Ledger) {
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let l = l.clone();
            tokio::spawn(async move {
                l.claim(&Entry::new(key("L-1"), State::Checking, 1000.0 + f64::from(i)), 2000.0).await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.expect("joined").expect("ledger ok") {
            Ok(()) => won += 1,
            Err(Refusal::Busy { .. }) => {}
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(l.list(Listing::Open, 10).await.expect("ok").len(), 1);
}

/// Dry-run decisions keep their cooldowns and daily counts apart from filing ones: a
/// receiver that files on the same ledger is not held back by trials.
pub async fn keeps_dry_run_cooldowns_and_counts_apart(l: &Ledger) {
    let dry = |quota: &str, at: f64| {
        let mut e = Entry::new(key(quota), State::Checking, at);
        e.dry_run = true;
        e
    };
    let trial = dry("L-1", 1000.0);
    assert_eq!(l.claim(&trial, 1000.0).await.expect("ok"), Ok(()));
    let trial_filing = filing(&trial, "2026-11-22");
    assert_eq!(l.begin_filing(&trial_filing, &[State::Checking], 1).await.expect("ok"), Ok(()));
    let mut done = trial_filing.moved(State::DryRun, 1002.0);
    done.cooldown_until = Some(1002.0 + 86_400.0);
    assert_eq!(l.update(&done, &[State::Filing]).await.expect("ok"), Ok(()));

    // Another dry run is held back by the trial's cooldown and its day's count...
    assert_eq!(l.claim(&dry("L-1", 1003.0), 1003.0).await.expect("ok"), Err(Refusal::Cooldown { until: 87_402.0 }));
    let second = dry("L-2", 1004.0);
    assert_eq!(l.claim(&second, 1004.0).await.expect("ok"), Ok(()));
    assert_eq!(
        l.begin_filing(&filing(&second, "2026-11-22"), &[State::Checking], 1).await.expect("ok"),
        Err(Refusal::DailyMax { max: 1 })
    );
    // ...a filing receiver is not held back by either.
    let live = Entry::new(key("L-1"), State::Checking, 1005.0);
    assert_eq!(l.claim(&live, 1005.0).await.expect("ok"), Ok(()));
    assert_eq!(l.begin_filing(&filing(&live, "2026-11-22"), &[State::Checking], 1).await.expect("ok"), Ok(()));
}

fn sqlite(path: &TempLedger) -> Ledger {
    Ledger::Sqlite(SqliteLedger::open(&path.0).expect("opens"))
}

#[tokio::test]
async fn the_sqlite_ledger_keeps_one_open_entry_per_quota_cooldowns_and_the_daily_maximum() {
    let path = TempLedger::new();
    keeps_one_open_entry_per_quota_cooldowns_and_the_daily_maximum(&sqlite(&path)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_claims_on_sqlite_succeed_once() {
    let path = TempLedger::new();
    a_hundred_concurrent_claims_succeed_once(&sqlite(&path)).await;
}

#[tokio::test]
async fn the_sqlite_ledger_keeps_dry_run_cooldowns_and_counts_apart() {
    let path = TempLedger::new();
    keeps_dry_run_cooldowns_and_counts_apart(&sqlite(&path)).await;
}

#[tokio::test]
async fn the_sqlite_ledger_purges_closed_entries_past_the_retention_but_keeps_cooldowns_and_open_ones() {
    let path = TempLedger::new();
    let l = sqlite(&path);
    let day = std::time::Duration::from_secs(86_400);
    let mut old_skip = Entry::new(key("L-1"), State::Skipped, 1000.0);
    old_skip.closed_at = Some(1000.0);
    l.record(&old_skip).await.expect("ok");
    // Closed long ago, but with a cooldown that runs on: kept while it runs.
    let long = Entry::new(key("L-2"), State::Checking, 1000.0);
    l.claim(&long, 1000.0).await.expect("ok").expect("claimed");
    let mut long_closed = long.moved(State::Closed, 1001.0);
    long_closed.cooldown_until = Some(10.0 * 86_400.0);
    l.update(&long_closed, &[State::Checking]).await.expect("ok").expect("moved");
    let open = Entry::new(key("L-3"), State::Checking, 1000.0);
    l.claim(&open, 1000.0).await.expect("ok").expect("claimed");
    let recent = Entry::new(key("L-4"), State::Skipped, 3.0 * 86_400.0);
    l.record(&recent).await.expect("ok");

    assert_eq!(l.purge(3.5 * 86_400.0, day).await.expect("ok"), 1);
    let left: Vec<String> = l.list(Listing::All, 100).await.expect("ok").into_iter().map(|e| e.id).collect();
    assert_eq!(left.len(), 3);
    assert!(!left.contains(&old_skip.id));
    // Once the cooldown is over, the closed entry goes too; the open one never does.
    assert_eq!(l.purge(11.0 * 86_400.0, day).await.expect("ok"), 2);
    let left: Vec<String> = l.list(Listing::All, 100).await.expect("ok").into_iter().map(|e| e.id).collect();
    assert_eq!(left, [open.id]);
}

#[test]
fn a_ledger_file_of_the_first_version_gains_the_new_columns_and_keeps_its_entries() {
    let path = TempLedger::new();
    let conn = rusqlite::Connection::open(&path.0).expect("a file");
    conn.execute_batch(
        "CREATE TABLE entries (id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, \
         service_code TEXT NOT NULL, quota_code TEXT NOT NULL, state TEXT NOT NULL, open INTEGER NOT NULL, reason TEXT, \
         detail TEXT NOT NULL, current_value REAL, desired_value REAL, request_id TEXT, aws_status TEXT, case_id TEXT, \
         alertname TEXT, fingerprint TEXT, starts_at TEXT, counted_day TEXT, cooldown_until REAL, \
         created_at REAL NOT NULL, updated_at REAL NOT NULL, closed_at REAL);
         INSERT INTO entries VALUES ('0000000001000-old', '123456789012', 'us-east-1', 'ec2', 'L-1', 'closed', 0, NULL, \
         'filed earlier', 640, 960, 'req-1', 'APPROVED', NULL, NULL, NULL, NULL, '2026-11-22', 5000, 1000, 2000, 2000);
         INSERT INTO entries VALUES ('0000000001001-dry', '123456789012', 'us-east-1', 'ec2', 'L-2', 'dry_run', 0, NULL, \
         'a trial', 640, 960, NULL, NULL, NULL, NULL, NULL, NULL, '2026-11-22', 90000, 1001, 2001, 2001);",
    )
    .expect("the first schema");
    drop(conn);
    let l = SqliteLedger::open(&path.0).expect("opens and migrates");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let e = rt.block_on(l.get("0000000001000-old")).expect("ok").expect("kept");
    assert_eq!((e.state, e.dry_run, e.decided_by), (State::Closed, false, None));
    assert_eq!(e.request_id.as_deref(), Some("req-1"));
    let trial = rt.block_on(l.get("0000000001001-dry")).expect("ok").expect("kept");
    assert!(trial.dry_run, "a dry run of the first version is known as one");
    // Its cooldown holds back dry runs only.
    let ledger = Ledger::Sqlite(l);
    let live = Entry::new(key("L-2"), State::Checking, 3000.0);
    assert_eq!(rt.block_on(ledger.claim(&live, 3000.0)).expect("ok"), Ok(()));
}
