//! Every account of an AWS Organization: discovery, one assumed-role provider per
//! account, isolation of an account whose role refuses, credentials that expire, and
//! shards of real processes that together publish what one process does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_quota_exporter::config::{Config, OrganizationsConfig, RoleTarget};
use simaws::demo::{self, ACCOUNT_ID as MANAGEMENT, PAYMENTS_ACCOUNT_ID as PAYMENTS, SANDBOX_ACCOUNT_ID as SANDBOX};
use simaws::{Fault, SimAws};

use crate::helpers::{Exposition, T0, spawn_app_on_sim, spawn_app_with, start_binary};

const SUSPENDED: &str = demo::SUSPENDED_ACCOUNT_ID;

fn discover(c: &mut Config) {
    c.accounts.organizations =
        Some(OrganizationsConfig { role_name: demo::READ_ROLE_NAME.into(), external_id: None, units: Vec::new() });
}

/// Calls that succeeded, of one operation, made as one account.
fn succeeded(calls: &simaws::Calls, operation: &str, account: &str) -> usize {
    calls.0.iter().filter(|c| c.operation == operation && c.account_id == account && !c.failed).count()
}

/// Every quota limit of an account: (region, service, quota, resource) → value.
fn limits(m: &Exposition, account: &str) -> BTreeMap<(String, String, String, String), f64> {
    m.find("aws_quota_limit", &[("cloud_account_id", account)])
        .into_iter()
        .map(|s| {
            let l = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
            ((l("cloud_region"), l("service_code"), l("quota_code"), l("resource")), s.value)
        })
        .collect()
}

#[tokio::test]
async fn every_active_account_is_collected_and_the_suspended_and_refusing_ones_have_no_quotas() {
    let app = spawn_app_with(demo::estate(T0), demo::ACCESS_KEY_ID, discover).await;
    let m = app.refresh().await;

    let management = limits(&m, MANAGEMENT);
    assert!(management.len() > 50, "the management account's quotas: {}", management.len());
    assert_eq!(limits(&m, PAYMENTS), management, "Payments has the same quotas and limits, in both regions");
    // Payments runs at 0.9 times the load: every usage value is 0.9 times Management's.
    let usage = |account: &str| -> BTreeMap<(String, String, String), f64> {
        m.find("aws_quota_usage", &[("cloud_account_id", account)])
            .into_iter()
            .filter(|s| !s.labels.contains_key("resource"))
            .map(|s| {
                (
                    (
                        s.labels["cloud_region"].clone(),
                        s.labels["service_code"].clone(),
                        s.labels["quota_code"].clone(),
                    ),
                    s.value,
                )
            })
            .collect()
    };
    let (ours, theirs) = (usage(MANAGEMENT), usage(PAYMENTS));
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>());
    for (key, v) in &ours {
        assert!((theirs[key] - 0.9 * v).abs() <= 1e-9 * v.abs().max(1.0), "{key:?}: {} against 0.9 × {v}", theirs[key]);
    }

    assert!(!m.raw.contains(SUSPENDED), "nothing of the suspended account is published");
    assert_eq!(m.count("aws_quota_info", &[("cloud_account_id", SANDBOX)]), 0, "the refusing account has no quotas");
    let sandbox_sources = m.find("aws_quota_exporter_refresh_success", &[("cloud_account_id", SANDBOX)]);
    assert!(!sandbox_sources.is_empty() && sandbox_sources.iter().all(|s| s.value == 0.0), "visible as failed");
    for (account, up, name, unit) in [
        (MANAGEMENT, 1.0, "Management", "Root"),
        (PAYMENTS, 1.0, "Payments", "Workloads"),
        (SANDBOX, 0.0, "Sandbox", "Sandbox"),
    ] {
        assert_eq!(m.value("aws_quota_exporter_account_up", &[("cloud_account_id", account)]), Some(up), "{account}");
        let info = [("cloud_account_id", account), ("account_name", name), ("organizational_unit", unit)];
        assert_eq!(m.value("aws_account_info", &info), Some(1.0), "{account}");
    }
    assert_eq!(m.count("aws_account_info", &[]), 3);
    let discovery = [("cloud_account_id", MANAGEMENT), ("cloud_region", "us-east-1"), ("source", "organizations")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &discovery), Some(1.0));

    // STS: one GetCallerIdentity per account (not per region), one AssumeRole per
    // assumed account for the credentials' lifetime, however many refreshes.
    app.handle.refresh_all().await;
    app.handle.refresh_usage().await;
    let calls = app.sim.calls();
    assert_eq!(succeeded(&calls, "GetCallerIdentity", MANAGEMENT), 1);
    assert_eq!(succeeded(&calls, "GetCallerIdentity", PAYMENTS), 1);
    assert_eq!(succeeded(&calls, "AssumeRole", MANAGEMENT), 1, "Payments' role, assumed once for both regions");
    let refused = calls.0.iter().filter(|c| c.operation == "AssumeRole" && c.failed).count();
    assert!((1..=2).contains(&refused), "Sandbox's role is tried once per refresh at most, not per region: {refused}");
    let payments_regions: BTreeSet<&str> =
        calls.0.iter().filter(|c| c.account_id == PAYMENTS && !c.failed).map(|c| c.region.as_str()).collect();
    assert_eq!(payments_regions, BTreeSet::from(["us-east-1", "eu-west-1"]));
}

#[tokio::test]
async fn a_new_account_appears_and_a_suspended_one_disappears_without_a_restart() {
    let app = spawn_app_with(demo::estate(T0), demo::ACCESS_KEY_ID, discover).await;
    let before = app.refresh().await;
    assert!(before.count("aws_quota_limit", &[("cloud_account_id", PAYMENTS)]) > 0);

    const DATA: &str = "555566667777";
    app.sim.with_estate(|estate| {
        let payments = estate.account_mut(PAYMENTS).expect("Payments exists");
        let mut data = payments.clone();
        data.id = DATA.into();
        data.access_key_id = "AKIASIMULATEDDATA001".into();
        data.roles =
            vec![simaws::estate::Role::new(&demo::role_arn(DATA, demo::READ_ROLE_NAME), None).trusting(MANAGEMENT)];
        estate.accounts.push(data);
        let org = estate.organization.as_mut().expect("an organization");
        org.members.iter_mut().filter(|m| m.id == PAYMENTS).for_each(|m| m.status = "SUSPENDED".into());
        org.members.push(simaws::estate::Member::new(DATA, "Data", "ACTIVE", demo::WORKLOADS_OU));
    });
    let after = app.refresh().await;
    assert!(before.count("aws_quota_exporter_aws_api_calls_total", &[("cloud_account_id", PAYMENTS)]) > 0);
    assert!(!after.raw.contains(PAYMENTS), "the suspended account's series are gone, its call counters too");
    assert_eq!(limits(&after, DATA), limits(&before, PAYMENTS), "the new account is collected in full");
    assert_eq!(after.value("aws_account_info", &[("cloud_account_id", DATA), ("account_name", "Data")]), Some(1.0));
    assert_eq!(after.value("aws_quota_exporter_account_up", &[("cloud_account_id", DATA)]), Some(1.0));
}

#[tokio::test]
async fn organizations_refused_keeps_the_last_known_accounts_and_says_so() {
    let app = spawn_app_with(demo::estate(T0), demo::ACCESS_KEY_ID, discover).await;
    let before = app.refresh().await;
    app.sim.inject(Fault::access_denied().operation("ListRoots"));
    let after = app.refresh().await;
    let discovery = [("cloud_account_id", MANAGEMENT), ("source", "organizations")];
    assert_eq!(after.value("aws_quota_exporter_refresh_success", &discovery), Some(0.0));
    assert_eq!(limits(&after, PAYMENTS), limits(&before, PAYMENTS), "Payments is still collected");
    assert_eq!(after.value("aws_account_info", &[("cloud_account_id", PAYMENTS)]), Some(1.0));
    assert!(
        after.value("aws_quota_exporter_last_success_timestamp_seconds", &discovery).is_some(),
        "the last success is kept"
    );
}

#[tokio::test]
async fn collection_goes_on_across_the_expiry_of_assumed_role_credentials() {
    // A real clock: the simulated STS hands out credentials that expire 15 seconds
    // later, and refuses them from then on.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
    let mut estate = demo::estate(now);
    let role = demo::role_arn(PAYMENTS, demo::READ_ROLE_NAME);
    for r in estate.accounts.iter_mut().flat_map(|a| a.roles.iter_mut()).filter(|r| r.arn == role) {
        r.max_session_seconds = 15;
    }
    let sim = Arc::new(SimAws::start(estate).await.expect("the simulator starts"));
    let app = spawn_app_on_sim(sim, demo::ACCESS_KEY_ID, |c| {
        c.accounts.own_account = false;
        c.accounts.roles = vec![RoleTarget { arn: role.clone(), external_id: None, name: Some("Payments".into()) }];
        c.bedrock = false;
        c.forecast = false;
    })
    .await;
    let first = app.refresh().await;
    assert_eq!(first.value("aws_quota_exporter_account_up", &[("cloud_account_id", PAYMENTS)]), Some(1.0));
    let assumed = succeeded(&app.sim.calls(), "AssumeRole", MANAGEMENT);

    tokio::time::sleep(Duration::from_secs(16)).await;
    app.sim.reset_calls();
    let second = app.refresh().await;
    let calls = app.sim.calls();
    assert!(succeeded(&calls, "AssumeRole", MANAGEMENT) >= 1, "new credentials after {assumed} before the expiry");
    assert!(calls.0.iter().all(|c| !c.failed), "no call was made with expired credentials");
    assert_eq!(second.value("aws_quota_exporter_account_up", &[("cloud_account_id", PAYMENTS)]), Some(1.0));
    assert_eq!(limits(&second, PAYMENTS), limits(&first, PAYMENTS));
    let sources = second.find("aws_quota_exporter_refresh_success", &[("cloud_account_id", PAYMENTS)]);
    assert!(sources.iter().all(|s| s.value == 1.0), "every source refreshed");
}

/// The series of the families that carry collected data (not the process's own
/// counters, timings and timestamps), with their values.
fn data_series(m: &Exposition) -> BTreeMap<String, f64> {
    let own = |name: &str| {
        name.starts_with("aws_quota_exporter_")
            && !matches!(name, "aws_quota_exporter_account_up" | "aws_quota_exporter_refresh_success")
    };
    m.samples
        .iter()
        .filter(|s| !own(&s.name))
        // Usage values move with the real clock between processes; identity is enough.
        .map(|s| {
            let v = if s.name.starts_with("aws_quota_limit") || s.name == "aws_quota_exporter_account_up" {
                s.value
            } else {
                0.0
            };
            (format!("{}{:?}", s.name, s.labels), v)
        })
        .collect()
}

#[test]
fn three_shards_of_real_processes_together_publish_exactly_what_one_process_does() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
    let sim = runtime.block_on(SimAws::start(demo::estate(now))).expect("the simulator starts");
    let endpoint = sim.endpoint_url();
    let scrape = |shard: &str| -> Exposition {
        let (mut child, address, _logs) = start_binary(
            std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"))
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("AWS_ACCESS_KEY_ID", demo::ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", "test-secret")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
                .env("QUOTA_EXPORTER_REGIONS", "us-east-1,eu-west-1")
                .env("QUOTA_EXPORTER_ORGANIZATIONS", "true")
                .env("QUOTA_EXPORTER_FORECAST", "false")
                .env("QUOTA_EXPORTER_SHARD", shard),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while get(&address, "/-/ready").0 != 200 {
            assert!(std::time::Instant::now() < deadline, "shard {shard} became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let body = get(&address, "/metrics").1;
        let _ = child.kill();
        let _ = child.wait();
        Exposition::parse(&body)
    };
    let whole = data_series(&scrape("0/1"));
    let shards: Vec<BTreeMap<String, f64>> =
        ["aws-quota-exporter-0/3", "aws-quota-exporter-1/3", "aws-quota-exporter-2/3"]
            .iter()
            .map(|s| data_series(&scrape(s)))
            .collect();
    let collecting = shards.iter().filter(|s| s.keys().any(|k| k.starts_with("aws_quota_limit"))).count();
    assert!(collecting >= 2, "the demo's accounts are spread over {collecting} shards");
    let mut union = BTreeMap::new();
    for shard in &shards {
        for (series, value) in shard {
            // Each process names its own account in the discovery status; that series is
            // the one every shard publishes.
            if series.contains("source\": \"organizations\"") {
                continue;
            }
            assert!(union.insert(series.clone(), *value).is_none(), "{series} is published by two shards");
        }
    }
    let whole: BTreeMap<String, f64> =
        whole.into_iter().filter(|(s, _)| !s.contains("source\": \"organizations\"")).collect();
    assert!(whole.len() > 500, "one process publishes {} series", whole.len());
    let missing: Vec<&String> = whole.keys().filter(|k| !union.contains_key(*k)).take(5).collect();
    let extra: Vec<&String> = union.keys().filter(|k| !whole.contains_key(*k)).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from the shards: {missing:?}; only in the shards: {extra:?}"
    );
    assert_eq!(union, whole, "the same limits and account states");
    drop(sim);
}

/// GET over HTTP/1.0, so that the body comes whole, without chunks.
fn get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("the exporter accepts connections");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn the_receiver_files_in_another_account_through_its_write_role_and_only_with_one() {
    use aws_quota_exporter::config::increase::{Credentials, IncreaseConfig, LedgerConfig, Secret};
    const LAMBDA: (&str, &str) = ("lambda", "L-B99A9384");
    let mut estate = demo::estate(T0);
    let write_role = demo::role_arn(PAYMENTS, "aws-quota-exporter-increase");
    if let Some(payments) = estate.account_mut(PAYMENTS) {
        payments.roles.push(simaws::estate::Role::new(&write_role, Some("increases")).trusting(MANAGEMENT));
    }
    let alert = |account: &str| {
        let mut a = crate::increase::alert(LAMBDA.0, LAMBDA.1, "us-east-1");
        a["labels"]["cloud_account_id"] = serde_json::json!(account);
        a
    };
    let spawn = |role_name: Option<&str>| {
        let ledger = crate::increase::TempLedger::new();
        let path = ledger.0.clone();
        let role_name = role_name.map(str::to_owned);
        let estate = estate.clone();
        async move {
            let app = spawn_app_with(estate, demo::ACCESS_KEY_ID, move |c| {
                discover(c);
                c.increase = IncreaseConfig {
                    receiver: true,
                    dry_run: false,
                    credentials: Some(Credentials::Bearer(Secret(crate::increase::TOKEN.into()))),
                    ledger: LedgerConfig::Sqlite { path },
                    role_name_external_id: role_name.as_ref().map(|_| "increases".to_owned()),
                    role_name,
                    ..IncreaseConfig::default()
                };
            })
            .await;
            app.handle.refresh_all().await;
            (app, ledger)
        }
    };

    // Without a write role for the other accounts: Payments' alert is not acted on.
    let (app, _ledger) = spawn(None).await;
    let (status, outcomes) = crate::increase::send(&app, vec![alert(PAYMENTS)]).await;
    assert_eq!((status, crate::increase::outcome(&outcomes[0])), (200, ("skipped", "other_account")), "{outcomes:?}");
    assert!(app.sim.increase_requests().is_empty());
    app.stop().await;

    // With one: filed in Payments, through the write role (not the read role), once.
    let (app, _ledger) = spawn(Some("aws-quota-exporter-increase")).await;
    let (status, outcomes) = crate::increase::send(&app, vec![alert(PAYMENTS)]).await;
    assert_eq!((status, crate::increase::outcome(&outcomes[0])), (200, ("filed", "")), "{outcomes:?}");
    let (_, again) = crate::increase::send(&app, vec![alert(PAYMENTS)]).await;
    assert_ne!(crate::increase::outcome(&again[0]).0, "filed", "{again:?}");
    let filed = app.sim.increase_requests();
    assert_eq!(filed.len(), 1);
    assert_eq!((filed[0].account_id.as_str(), filed[0].quota_code.as_str()), (PAYMENTS, LAMBDA.1));
    let principals: BTreeSet<Option<String>> = app
        .sim
        .calls()
        .0
        .iter()
        .filter(|c| c.operation == "RequestServiceQuotaIncrease")
        .map(|c| c.principal.clone())
        .collect();
    assert_eq!(principals, BTreeSet::from([Some(write_role.clone())]));
    // Sandbox's read role refuses: its quotas were never listed, so nothing backs its
    // alert yet, and Alertmanager is asked to send it again.
    let (status, outcomes) = crate::increase::send(&app, vec![alert(SANDBOX)]).await;
    assert_eq!((status, crate::increase::outcome(&outcomes[0])), (503, ("skipped", "not_ready")), "{outcomes:?}");
    // An account this exporter does not collect (another shard's) is left to it.
    let (status, outcomes) = crate::increase::send(&app, vec![alert("999988887777")]).await;
    assert_eq!((status, crate::increase::outcome(&outcomes[0])), (200, ("skipped", "not_collected")), "{outcomes:?}");
    assert_eq!(app.sim.increase_requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_role_into_the_own_account_replaces_the_base_credentials_and_lists_filter_the_own_account() {
    let role = demo::role_arn(MANAGEMENT, "self-reader");
    let mut estate = demo::estate(T0);
    if let Some(management) = estate.account_mut(MANAGEMENT) {
        management.roles.push(simaws::estate::Role::new(&role, None));
    }
    let plain = spawn_app_with(estate.clone(), demo::ACCESS_KEY_ID, |_| {}).await;
    let once = limits(&plain.refresh().await, MANAGEMENT);
    assert!(!once.is_empty());
    plain.stop().await;

    let r = role.clone();
    let app = spawn_app_with(estate.clone(), demo::ACCESS_KEY_ID, move |c| {
        c.accounts.roles = vec![RoleTarget { arn: r, external_id: None, name: Some("Management".into()) }];
    })
    .await;
    let m = app.refresh().await;
    // Published once (a duplicate would fail `limits`' map or the count), through the role.
    assert_eq!(limits(&m, MANAGEMENT), once);
    assert_eq!(m.count("aws_quota_limit", &[("cloud_account_id", MANAGEMENT)]), once.len());
    let listings: BTreeSet<Option<String>> =
        app.sim.calls().0.iter().filter(|c| c.operation == "ListServices").map(|c| c.principal.clone()).collect();
    assert_eq!(listings, BTreeSet::from([Some(role.clone())]));
    app.stop().await;

    let excluded = spawn_app_with(estate, demo::ACCESS_KEY_ID, |c| {
        c.accounts.roles =
            vec![RoleTarget { arn: demo::role_arn(PAYMENTS, demo::READ_ROLE_NAME), external_id: None, name: None }];
        c.accounts.exclude = vec![MANAGEMENT.into()];
    })
    .await;
    let m = excluded.refresh().await;
    assert_eq!(m.count("aws_quota_limit", &[("cloud_account_id", MANAGEMENT)]), 0, "the own account is excluded");
    assert!(m.count("aws_quota_limit", &[("cloud_account_id", PAYMENTS)]) > 0);
    excluded.stop().await;
}

#[tokio::test]
async fn seventy_accounts_assume_their_roles_once_each() {
    // More accounts than the SDK's shared identity cache holds (64): each account's
    // credentials must stay cached for their lifetime all the same.
    const ACCOUNTS: usize = 70;
    let size = simaws::generate::Size { accounts: ACCOUNTS, ..simaws::generate::Size::new(&["us-east-1"], 1, 3, 0.4) };
    let mut estate = simaws::generate::estate(&size);
    let management = simaws::generate::account_id(0);
    for account in estate.accounts.iter_mut().skip(1) {
        let arn = demo::role_arn(&account.id, demo::READ_ROLE_NAME);
        account.roles = vec![simaws::estate::Role::new(&arn, None).trusting(&management)];
    }
    estate.organization = Some(simaws::estate::Organization {
        id: "o-seventy00001".into(),
        management_account_id: management.clone(),
        root_id: "r-root".into(),
        units: Vec::new(),
        members: (0..ACCOUNTS)
            .map(|i| {
                simaws::estate::Member::new(
                    &simaws::generate::account_id(i),
                    &format!("Account {i}"),
                    "ACTIVE",
                    "r-root",
                )
            })
            .collect(),
    });
    let app = spawn_app_with(estate, &simaws::generate::access_key_id(0), |c| {
        discover(c);
        c.regions = vec!["us-east-1".into()];
        c.bedrock = false;
        c.forecast = false;
    })
    .await;
    app.handle.refresh_all().await;
    app.handle.refresh_all().await;
    app.handle.refresh_usage().await;
    let m = app.metrics().await;
    assert_eq!(m.find("aws_quota_exporter_account_up", &[]).iter().filter(|s| s.value == 1.0).count(), ACCOUNTS);
    let calls = app.sim.calls();
    assert_eq!(succeeded(&calls, "AssumeRole", &management), ACCOUNTS - 1, "one AssumeRole per member account");
    assert_eq!(calls.count("GetCallerIdentity"), ACCOUNTS, "one GetCallerIdentity per account");
}

#[tokio::test]
async fn an_independent_organizations_implementation_is_discovered_the_same_way() {
    // moto's Organizations and STS, not the project's simulator: an organization with a
    // unit, a member in it and a closed member.
    let moto = crate::dynamodb::Moto::start();
    let sdk = aws_quota_exporter::aws::static_sdk_config(
        &moto.endpoint,
        "AKIDMOTO",
        "moto-secret",
        aws_quota_exporter::aws::RetryPolicy::default(),
    )
    .await;
    let org = aws_sdk_organizations::Client::new(&sdk);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("an organization");
    let root = org.list_roots().send().await.expect("roots").roots()[0].id().expect("an id").to_owned();
    let unit = org.create_organizational_unit().parent_id(&root).name("Workloads").send().await.expect("a unit");
    let unit = unit.organizational_unit().and_then(|u| u.id()).expect("an id").to_owned();
    let mut members = Vec::new();
    for name in ["Payments", "Retired"] {
        let created = org
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .expect("an account");
        let id = created.create_account_status().and_then(|s| s.account_id()).expect("an id").to_owned();
        org.move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(&unit)
            .send()
            .await
            .expect("moved");
        members.push(id);
    }
    org.close_account().account_id(&members[1]).send().await.expect("closed");
    let own = aws_sdk_sts::Client::new(&sdk).get_caller_identity().send().await.expect("moto's account");
    let own = own.account().expect("an id").to_owned();

    let (mut child, address, _logs) = start_binary(
        std::process::Command::new(env!("CARGO_BIN_EXE_aws-quota-exporter"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKIDMOTO")
            .env("AWS_SECRET_ACCESS_KEY", "moto-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("QUOTA_EXPORTER_LISTEN_ADDRESS", "127.0.0.1:0")
            .env("QUOTA_EXPORTER_REGIONS", "us-east-1")
            .env("QUOTA_EXPORTER_BEDROCK", "false")
            .env("QUOTA_EXPORTER_FORECAST", "false")
            .env("QUOTA_EXPORTER_ORGANIZATIONS", "true"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while get(&address, "/-/ready").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the exporter became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let m = Exposition::parse(&get(&address, "/metrics").1);
    let _ = child.kill();
    let _ = child.wait();

    let discovery = [("cloud_account_id", own.as_str()), ("source", "organizations")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &discovery), Some(1.0), "moto's tree was listed");
    assert_eq!(m.value("aws_account_info", &[("cloud_account_id", &own), ("organizational_unit", "Root")]), Some(1.0));
    let payments =
        [("cloud_account_id", members[0].as_str()), ("account_name", "Payments"), ("organizational_unit", "Workloads")];
    assert_eq!(m.value("aws_account_info", &payments), Some(1.0), "the member in its unit, by name");
    assert!(!m.raw.contains(&members[1]), "nothing of the closed account");
    assert_eq!(m.count("aws_account_info", &[]), 2);
    // moto's STS hands out the member's credentials: its account is confirmed, so its
    // sources report under its id (moto has no Service Quotas listing to succeed with).
    assert!(m.count("aws_quota_exporter_refresh_success", &[("cloud_account_id", &members[0])]) > 0);
}

#[tokio::test]
async fn a_region_an_account_has_not_enabled_blanks_neither_its_other_region_nor_another_account() {
    let app = spawn_app_with(demo::estate(T0), demo::ACCESS_KEY_ID, discover).await;
    // As AWS answers in an opt-in region the account has not enabled.
    app.sim.inject(Fault::error(403, "UnrecognizedClientException").account(PAYMENTS).region("eu-west-1"));
    let m = app.refresh().await;
    let payments = limits(&m, PAYMENTS);
    let management = limits(&m, MANAGEMENT);
    assert!(payments.keys().all(|(region, ..)| region == "us-east-1") && !payments.is_empty());
    let management_east: BTreeMap<_, _> =
        management.iter().filter(|((region, ..), _)| region == "us-east-1").map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(payments, management_east, "Payments' us-east-1 in full");
    assert!(management.keys().any(|(region, ..)| region == "eu-west-1"), "Management's eu-west-1 untouched");
    let listing = [("cloud_account_id", PAYMENTS), ("cloud_region", "eu-west-1"), ("source", "service_quotas")];
    assert_eq!(m.value("aws_quota_exporter_refresh_success", &listing), Some(0.0), "the region shows as failing");
    assert_eq!(m.value("aws_quota_exporter_account_up", &[("cloud_account_id", PAYMENTS)]), Some(1.0));
}
