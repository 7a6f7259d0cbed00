//! The DynamoDB ledger against a real DynamoDB-compatible server on loopback: moto's
//! server from PyPI (installed by `make deps` into `.venv`), taking one request at a
//! time as DynamoDB applies each write atomically (`moto_dynamodb.py` says why). The
//! same contract as the SQLite ledger (`ledger.rs`), then two receiver replicas sharing
//! one table.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_quota_exporter::aws::{RetryPolicy, static_sdk_config};
use aws_quota_exporter::config::increase::{Credentials, IncreaseConfig, LedgerConfig, Secret};
use aws_quota_exporter::increase::backend::Ledger;
use serde_json::Value;

use crate::estate::{ACCESS_KEY, test_estate};
use crate::helpers::{TestApp, spawn_app_sharing, spawn_app_with};
use crate::increase::{AUTH, TOKEN, alert, payload};

/// A moto server on a free loopback port, stopped when dropped.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
        assert!(
            std::path::Path::new(python).exists(),
            "{python} not found: run `make deps` (make test does) to install moto into .venv"
        );
        let port = TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("bound").port();
        let moto = Moto {
            child: Command::new(python)
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/moto_dynamodb.py"))
                .arg(port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto's server starts"),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto's server did not listen on {port} within 15 seconds");
    }

    async fn ledger(&self, table: &str) -> Ledger {
        ledger_at(&self.endpoint, table).await
    }
}

/// The DynamoDB ledger in `table` at `endpoint`, with a day's retention.
async fn ledger_at(endpoint: &str, table: &str) -> Ledger {
    let retries = RetryPolicy { max_attempts: 3, initial_backoff: Duration::from_millis(10), ..RetryPolicy::default() };
    let sdk = static_sdk_config(endpoint, "AKIDMOTO", "moto-secret", retries).await;
    Ledger::DynamoDb(
        aws_quota_exporter::aws::dynamodb::DynamoLedger::open(&sdk, table, Some(endpoint), Duration::from_secs(86_400))
            .await
            .expect("the table is created"),
    )
}

/// A DynamoDB client of moto's, for looking at the table directly.
async fn dynamodb(moto: &Moto) -> aws_sdk_dynamodb::Client {
    let sdk = static_sdk_config(&moto.endpoint, "AKIDMOTO", "moto-secret", RetryPolicy::default()).await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_ledger_keeps_one_open_entry_per_quota_cooldowns_and_the_daily_maximum() {
    let moto = Moto::start();
    crate::ledger::keeps_one_open_entry_per_quota_cooldowns_and_the_daily_maximum(
        &moto.ledger("ledger-contract").await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_ledger_keeps_dry_run_cooldowns_and_counts_apart() {
    let moto = Moto::start();
    crate::ledger::keeps_dry_run_cooldowns_and_counts_apart(&moto.ledger("ledger-modes").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_claims_on_dynamodb_succeed_once() {
    let moto = Moto::start();
    crate::ledger::a_hundred_concurrent_claims_succeed_once(&moto.ledger("ledger-race").await).await;
}

async fn replica(first: Option<&TestApp>, moto: &Moto) -> TestApp {
    let endpoint = moto.endpoint.clone();
    let configure = move |c: &mut aws_quota_exporter::config::Config| {
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::DynamoDb { table: "replicas".into(), endpoint: Some(endpoint) },
            ..IncreaseConfig::default()
        };
    };
    let app = match first {
        None => spawn_app_with(test_estate(), ACCESS_KEY, configure).await,
        Some(first) => spawn_app_sharing(first, ACCESS_KEY, configure).await,
    };
    app.handle.refresh_all().await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_sharing_the_dynamodb_ledger_file_exactly_one_request() {
    let moto = Moto::start();
    let one = Arc::new(replica(None, &moto).await);
    let two = Arc::new(replica(Some(&one), &moto).await);
    let body = payload(vec![alert("ec2", "L-1216C47A", "us-east-1")]);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let app = if i % 2 == 0 { one.clone() } else { two.clone() };
            let body = body.clone();
            tokio::spawn(async move {
                app.post("/alertmanager/webhook", &[AUTH, ("content-type", "application/json")], body).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        let reply = t.await.expect("joined");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body: Value = serde_json::from_slice(&reply.body).expect("JSON");
        outcomes.push(body["outcomes"][0]["outcome"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(outcomes.iter().filter(|o| *o == "filed").count(), 1, "{outcomes:?}");
    assert_eq!(one.sim.increase_requests().len(), 1, "exactly one request in AWS");
    // Both replicas see the same ledger.
    let seen = |app: &TestApp| {
        let app = app.address.clone();
        async move {
            let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
            let req = http::Request::get(format!("{app}/increase-requests?open=true"))
                .header(AUTH.0, AUTH.1)
                .body(http_body_util::Empty::new())
                .expect("valid");
            let res = client.request(req).await.expect("answered");
            use http_body_util::BodyExt;
            let body: Value =
                serde_json::from_slice(&res.into_body().collect().await.expect("body").to_bytes()).expect("JSON");
            body["entries"].as_array().map(Vec::len).unwrap_or_default()
        }
    };
    assert_eq!((seen(&one).await, seen(&two).await), (1, 1));
    let two = Arc::try_unwrap(two).ok().expect("the only reference");
    two.stop().await;
    Arc::try_unwrap(one).ok().expect("the only reference").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_answer_was_lost_is_recognised_when_its_retry_is_cancelled() {
    use aws_quota_exporter::increase::ledger::{Entry, QuotaKey, State};
    let moto = Moto::start();
    let relay = crate::relay::Relay::start(&moto.endpoint).await;
    let l = ledger_at(&relay.endpoint, "lost-answers").await;
    let key = QuotaKey {
        account: crate::estate::ACCOUNT.into(),
        region: "us-east-1".into(),
        service_code: "ec2".into(),
        quota_code: "L-1216C47A".into(),
    };
    let transactions = || relay.operations().iter().filter(|o| *o == "TransactWriteItems").count();

    // The claim goes through, its answer is lost, the SDK sends it again (same token):
    // the slot is taken, by this very entry, which is what the claim wanted.
    let entry = Entry::new(key, State::Checking, 1000.0);
    relay.lose_next_answer("TransactWriteItems");
    assert_eq!(l.claim(&entry, 1000.0).await.expect("ledger ok"), Ok(()));
    assert_eq!(transactions(), 2, "sent, then retried");

    // The same for counting against the day and for closing.
    let mut filing = entry.moved(State::Filing, 1001.0);
    filing.counted_day = Some("2026-11-22".into());
    relay.lose_next_answer("TransactWriteItems");
    assert_eq!(l.begin_filing(&filing, &[State::Checking], 5).await.expect("ledger ok"), Ok(()));
    let closed = filing.moved(State::Failed, 1002.0);
    relay.lose_next_answer("TransactWriteItems");
    assert_eq!(l.update(&closed, &[State::Filing]).await.expect("ledger ok"), Ok(()));
    assert_eq!(transactions(), 6);
    assert_eq!(l.get(&entry.id).await.expect("ok"), Some(closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_entries_are_found_by_a_query_on_the_sparse_index_never_by_a_scan() {
    let moto = Moto::start();
    let relay = crate::relay::Relay::start(&moto.endpoint).await;
    let endpoint = relay.endpoint.clone();
    let app = spawn_app_with(test_estate(), ACCESS_KEY, move |c| {
        c.increase = IncreaseConfig {
            receiver: true,
            dry_run: false,
            credentials: Some(Credentials::Bearer(Secret(TOKEN.into()))),
            ledger: LedgerConfig::DynamoDb { table: "no-scans".into(), endpoint: Some(endpoint) },
            ..IncreaseConfig::default()
        };
    })
    .await;
    app.handle.refresh_all().await;
    let json = ("content-type", "application/json");
    for _ in 0..3 {
        let body = payload(vec![alert("ec2", "L-1216C47A", "us-east-1")]);
        let r = app.post("/alertmanager/webhook", &[AUTH, json], body).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    app.handle.receiver.clone().expect("on").tick(Duration::from_secs(120)).await.expect("ledger ok");
    let ops = relay.operations();
    assert!(ops.iter().any(|o| o == "Query"), "{ops:?}");
    assert!(!ops.iter().any(|o| o == "Scan"), "no webhook and no tracker pass scans the table: {ops:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_expires_closed_entries_by_ttl_and_keeps_open_ones() {
    use aws_quota_exporter::increase::ledger::{Entry, QuotaKey, State};
    use aws_sdk_dynamodb::types::AttributeValue;
    let moto = Moto::start();
    let l = moto.ledger("expiring").await;
    let client = dynamodb(&moto).await;
    let ttl = client.describe_time_to_live().table_name("expiring").send().await.expect("described");
    let description = ttl.time_to_live_description().expect("a TTL description");
    assert_eq!(description.attribute_name(), Some("expires_at"));
    assert_eq!(description.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));

    let key = QuotaKey {
        account: crate::estate::ACCOUNT.into(),
        region: "us-east-1".into(),
        service_code: "ec2".into(),
        quota_code: "L-1216C47A".into(),
    };
    let open = Entry::new(key, State::Checking, 1000.0);
    l.claim(&open, 1000.0).await.expect("ok").expect("claimed");
    let pk = AttributeValue::S(format!("entry#{}", open.id));
    let item = || async {
        let got = client.get_item().table_name("expiring").key("pk", pk.clone()).send().await.expect("read");
        got.item.expect("the item")
    };
    assert!(!item().await.contains_key("expires_at"), "an open entry never expires");
    let closed = open.moved(State::Failed, 2000.0);
    l.update(&closed, &[State::Checking]).await.expect("ok").expect("moved");
    assert_eq!(
        item().await.get("expires_at"),
        Some(&AttributeValue::N(format!("{}", 2000 + 86_400))),
        "a day's retention after its last change"
    );

    // A filed request's cooldown runs for a day; a dry run claims and releases the same
    // quota meanwhile: the slot must outlive the filed request's cooldown.
    let slot_key = format!("slot#{}#us-east-1#ec2#L-1216C47A", crate::estate::ACCOUNT);
    let slot = || async {
        let got = client.get_item().table_name("expiring").key("pk", AttributeValue::S(slot_key.clone())).send().await;
        got.expect("read").item.expect("the slot")
    };
    let live = Entry::new(closed.key.clone(), State::Checking, 3000.0);
    l.claim(&live, 3000.0).await.expect("ok").expect("claimed");
    let mut live_closed = live.moved(State::Closed, 3001.0);
    live_closed.cooldown_until = Some(3001.0 + 86_400.0);
    l.update(&live_closed, &[State::Checking]).await.expect("ok").expect("moved");
    let mut trial = Entry::new(closed.key.clone(), State::Checking, 4000.0);
    trial.dry_run = true;
    l.claim(&trial, 4000.0).await.expect("ok").expect("a dry run ignores the filing cooldown");
    l.update(&trial.moved(State::Skipped, 4001.0), &[State::Checking]).await.expect("ok").expect("moved");
    assert_eq!(
        slot().await.get("expires_at"),
        Some(&AttributeValue::N(format!("{}", 3001 + 86_400))),
        "the slot lives as long as the longest cooldown"
    );
}
