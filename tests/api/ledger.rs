//! The ledger's contract, one suite for both backends: SQLite here, DynamoDB (against
//! moto) in `dynamodb.rs`. At most one open entry per quota, the cooldown after it
//! closes, the daily maximum counted with the move to filing, moves that happen once,
//! and every field surviving the round trip.

use aws_quota_exporter::increase::ledger::{Entry, Ledger, Listing, QuotaKey, Refusal, State};
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
