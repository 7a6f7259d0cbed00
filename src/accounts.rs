//! The accounts the exporter collects: where they come from (its own credentials, a
//! list of roles, AWS Organizations), how each is reached (one assumed-role credential
//! provider per account, shared by all its regions and clients), which replica collects
//! which (rendezvous hashing), and the set of targets, kept in step with discovery.
//!
//! [`plan`] and [`owner`] are pure. [`Fleet`] holds the targets: it discovers again on
//! the limits cadence, adds the targets of a new account, and removes those of an
//! account that went away (its series go with them). An account that cannot be reached
//! is marked down and logged once; it never delays or blanks another.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::aws::organizations::Organizations;
use crate::aws::{AwsError, ClientParts, Session, TargetAws};
use crate::clock::Clock;
use crate::collector::TargetContext;
use crate::config::{AccountsConfig, Config};
use crate::identity::Identity;
use crate::model::{OrgAccount, Target};
use crate::snapshot::SourceStatus;
use crate::snapshot::{AccountView, DiscoveryView, Store};
use crate::target::{LimitPatches, TargetRunner};

/// The key of the own account before STS has named it.
const OWN_KEY: &str = "own";

/// How an account is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// The exporter's own credentials.
    Base,
    /// A role assumed from them.
    Role { arn: String, external_id: Option<String> },
}

/// An account to collect.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSpec {
    /// `None` only for the own account before STS has answered.
    pub id: Option<String>,
    pub name: Option<String>,
    pub unit: Option<String>,
    pub access: Access,
}

impl AccountSpec {
    fn key(&self) -> String {
        self.id.clone().unwrap_or_else(|| OWN_KEY.to_owned())
    }
}

/// The region of an account from which its global quotas are published: us-east-1,
/// where AWS keeps global quotas, when configured, otherwise the first region.
pub fn global_quota_region(regions: &[String]) -> Option<&str> {
    regions.iter().find(|r| *r == "us-east-1").or_else(|| regions.first()).map(String::as_str)
}

/// The partition of a region, for role ARNs: `aws`, `aws-cn` or `aws-us-gov`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The accounts to collect, before sharding: the own account (`own_id` when known), the
/// configured roles and the ACTIVE accounts Organizations listed under the configured
/// units, less the excluded ones. An explicit role wins over discovery for its account;
/// the own account keeps the base credentials and takes its name from Organizations.
pub fn plan(
    config: &AccountsConfig,
    own_id: Option<&str>,
    org: Option<&[OrgAccount]>,
    partition: &str,
) -> Vec<AccountSpec> {
    let mut out: BTreeMap<String, AccountSpec> = BTreeMap::new();
    if config.own_account {
        let own = AccountSpec { id: own_id.map(str::to_owned), name: None, unit: None, access: Access::Base };
        out.insert(own.key(), own);
    }
    if let (Some(org), Some(discovery)) = (org, &config.organizations) {
        let under_units =
            |a: &OrgAccount| discovery.units.is_empty() || a.ancestors.iter().any(|id| discovery.units.contains(id));
        for a in org.iter().filter(|a| a.active && under_units(a)) {
            let name = (!a.name.is_empty()).then(|| a.name.clone());
            let unit = Some(a.unit.clone());
            match out.get_mut(&a.id) {
                Some(own) => {
                    own.name = name;
                    own.unit = unit;
                }
                None => {
                    let arn = format!("arn:{partition}:iam::{}:role/{}", a.id, discovery.role_name);
                    let access = Access::Role { arn, external_id: discovery.external_id.clone() };
                    out.insert(a.id.clone(), AccountSpec { id: Some(a.id.clone()), name, unit, access });
                }
            }
        }
    }
    for role in &config.roles {
        let id = role.account_id().to_owned();
        let previous = out.remove(&id);
        let access = Access::Role { arn: role.arn.clone(), external_id: role.external_id.clone() };
        let (name, unit) = match previous {
            Some(p) => (role.name.clone().or(p.name), p.unit),
            None => (role.name.clone(), None),
        };
        out.insert(id.clone(), AccountSpec { id: Some(id), name, unit, access });
    }
    out.into_values().filter(|s| s.id.as_deref().is_none_or(|id| config.wants(id))).collect()
}

/// The shards in the order an account prefers them: by their score for it (rendezvous
/// hashing), so that a change of the count moves only the accounts the new or removed
/// shard wins or held.
fn preferences(account_id: &str, count: u32) -> Vec<u32> {
    let mut shards: Vec<u32> = (0..count.max(1)).collect();
    shards.sort_by_key(|shard| std::cmp::Reverse(score(*shard, account_id)));
    shards
}

/// The window first refreshes are spread over: 100 ms per target, at most a quarter of
/// the limits interval and never more than a minute.
pub fn start_window(targets: usize, limits_interval: Duration) -> Duration {
    (Duration::from_millis(100) * targets.min(600) as u32).min(limits_interval / 4).min(Duration::from_secs(60))
}

/// Which shard collects each account: rendezvous hashing with bounded loads. Taken in
/// an order fixed by their own hash, each account goes to the first shard it prefers
/// that holds fewer than ⌈accounts / shards⌉, so that shards differ by one account at
/// most (pure rendezvous hashing of 200 accounts over 4 shards leaves some a third
/// fuller than others). Every replica computes the same answer from the
/// same account list, and a change of `count` still moves few accounts.
pub fn assign<'a>(account_ids: impl IntoIterator<Item = &'a str>, count: u32) -> BTreeMap<&'a str, u32> {
    let mut ids: Vec<&str> = account_ids.into_iter().collect();
    ids.sort_by_key(|id| (score(u32::MAX, id), *id));
    ids.dedup();
    let count = count.max(1);
    let cap = ids.len().div_ceil(count as usize);
    let mut load = vec![0usize; count as usize];
    let mut out = BTreeMap::new();
    for id in ids {
        let shard = preferences(id, count).into_iter().find(|s| load[*s as usize] < cap).unwrap_or(0);
        load[shard as usize] += 1;
        out.insert(id, shard);
    }
    out
}

/// A stable 64-bit score of a shard and an account: FNV-1a, then a finaliser that
/// spreads close inputs apart. Stable across processes, builds and platforms.
fn score(shard: u32, account_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account_id.bytes().chain(shard.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One region of one account, collected.
#[derive(Debug)]
pub struct TargetHandle {
    pub region: String,
    pub identity: Arc<Identity>,
    pub runner: Arc<Mutex<TargetRunner>>,
    pub patches: Arc<LimitPatches>,
    slot: usize,
    task: Option<tokio::task::AbortHandle>,
}

#[derive(Debug)]
struct Member {
    spec: AccountSpec,
    targets: Vec<TargetHandle>,
}

/// Starts a target's refresh loop (when the exporter schedules refreshes); gets the
/// delay before its first refresh.
pub type Scheduler = Arc<dyn Fn(Arc<Mutex<TargetRunner>>, Duration) -> tokio::task::AbortHandle + Send + Sync>;

/// What the fleet builds targets from.
#[derive(Debug, Clone)]
pub struct FleetParts {
    pub base: aws_config::SdkConfig,
    pub parts: ClientParts,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub regions: Vec<String>,
    pub store: Arc<Store>,
    /// Each quota's lowest alert tier, from the alert overrides, for the usage cadence.
    pub lowest_tier: Option<crate::collector::LowestTier>,
}

/// Every target of every account this replica collects.
pub struct Fleet {
    p: FleetParts,
    own: Arc<Identity>,
    /// The own account's identity is asked through this target when discovery needs it.
    own_aws: TargetAws,
    organizations: Option<Organizations>,
    members: Mutex<BTreeMap<String, Member>>,
    /// Bedrock model names from every target's inventory.
    model_book: Arc<crate::bedrock::ModelBook>,
    /// The CloudWatch budget of the whole process, shared by every target.
    cloudwatch_budget: Arc<crate::cadence::BudgetBook>,
    last_org: StdMutex<Option<Vec<OrgAccount>>>,
    discovery: StdMutex<Option<SourceStatus>>,
    scheduler: StdMutex<Option<Scheduler>>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("regions", &self.p.regions).finish_non_exhaustive()
    }
}

impl Fleet {
    pub fn new(p: FleetParts) -> Fleet {
        let first = p.regions.first().map_or("us-east-1", String::as_str);
        let own_aws = TargetAws::new(&p.base, first, &p.parts);
        let organizations =
            p.config.accounts.organizations.as_ref().map(|_| Organizations::new(&p.base, &p.parts, partition(first)));
        Fleet {
            own: Arc::new(Identity::new(None, p.regions.len())),
            own_aws,
            organizations,
            members: Mutex::new(BTreeMap::new()),
            model_book: Arc::default(),
            cloudwatch_budget: Arc::new(crate::cadence::BudgetBook::new(p.config.cloudwatch_budget)),
            last_org: StdMutex::new(None),
            discovery: StdMutex::new(None),
            scheduler: StdMutex::new(None),
            p,
        }
    }

    /// Whether the accounts are planned from the own account's id (learned first) and
    /// can change while running: with Organizations, shards, roles (one may name the own
    /// account) or account lists (which may name it).
    pub fn discovers(&self) -> bool {
        let a = &self.p.config.accounts;
        self.organizations.is_some()
            || a.shard.count > 1
            || !a.roles.is_empty()
            || !a.include.is_empty()
            || !a.exclude.is_empty()
    }

    /// Runs refresh loops from now on: for every target now, and for each new one.
    /// First refreshes are spread over a short window so that many targets do not call
    /// STS and Service Quotas in the same second.
    pub async fn schedule(&self, scheduler: Scheduler) {
        *self.scheduler.lock().unwrap_or_else(|p| p.into_inner()) = Some(scheduler.clone());
        let mut members = self.members.lock().await;
        let count: usize = members.values().map(|m| m.targets.len()).sum();
        for t in members.values_mut().flat_map(|m| m.targets.iter_mut()) {
            if t.task.is_none() {
                t.task = Some(scheduler(t.runner.clone(), self.start_delay(count)));
            }
        }
    }

    /// A random delay within the start window: each target keeps its own offset from
    /// then on (its loop sleeps until its own next refresh), so targets do not wake in
    /// lock-step.
    fn start_delay(&self, targets: usize) -> Duration {
        start_window(targets, self.p.config.limits_refresh_interval).mul_f64(fastrand::f64())
    }

    /// Every target, for a refresh of all of them.
    pub async fn runners(&self) -> Vec<Arc<Mutex<TargetRunner>>> {
        self.members.lock().await.values().flat_map(|m| m.targets.iter().map(|t| t.runner.clone())).collect()
    }

    /// Where an approved limit reaches the targets of `account_id`: each region's patches.
    pub async fn patches(&self, account_id: &str) -> Vec<(String, Arc<LimitPatches>)> {
        self.members
            .lock()
            .await
            .values()
            .flat_map(|m| &m.targets)
            .filter(|t| t.identity.id().as_deref() == Some(account_id))
            .map(|t| (t.region.clone(), t.patches.clone()))
            .collect()
    }

    /// The own account's id, asking STS once if needed.
    pub async fn own_account_id(&self) -> Result<String, AwsError> {
        self.own.resolve(&self.own_aws).await
    }

    /// Discovers the accounts (when it discovers) and brings the targets in step: new
    /// accounts get targets, accounts gone lose theirs. A failed discovery keeps the
    /// last known accounts. Whether the discovery succeeded.
    pub async fn sync(&self) -> bool {
        let config = &self.p.config.accounts;
        let mut listed = true;
        let own_id = if self.discovers() {
            match self.own_account_id().await {
                Ok(id) => {
                    if let Some(org) = &self.organizations {
                        org.set_account(&id);
                    }
                    Some(id)
                }
                Err(e) => {
                    // The own account cannot be placed (which shard, which account it
                    // is) until STS answers; every other account goes on.
                    tracing::warn!(error = %e, "the exporter's own account is unknown; it is left out until STS answers");
                    listed = false;
                    None
                }
            }
        } else {
            self.own.id()
        };
        if let Some(org) = &self.organizations {
            let started = Instant::now();
            let result = org.accounts().await;
            let elapsed = started.elapsed().as_secs_f64();
            listed &= result.is_ok();
            match result {
                Ok(accounts) => {
                    *self.last_org.lock().unwrap_or_else(|p| p.into_inner()) = Some(accounts);
                    self.record_discovery(Ok(()), elapsed);
                }
                Err(e) => self.record_discovery(Err(format!("{e}; the last known accounts are kept")), elapsed),
            }
        }
        let org = self.last_org.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let first = self.p.regions.first().map_or("us-east-1", String::as_str);
        let planned = plan(config, own_id.as_deref(), org.as_deref(), partition(first));
        let shards = assign(planned.iter().filter_map(|s| s.id.as_deref()), config.shard.count);
        let wanted: Vec<AccountSpec> = planned
            .iter()
            .filter(|s| match &s.id {
                Some(id) => shards.get(id.as_str()) == Some(&config.shard.index),
                // Without discovery the own account is collected before STS names it.
                None => !self.discovers(),
            })
            .cloned()
            .collect();
        self.apply(wanted).await;
        self.publish_accounts(true).await;
        listed
    }

    fn record_discovery(&self, result: Result<(), String>, duration: f64) {
        let at = self.p.clock.now();
        let mut slot = self.discovery.lock().unwrap_or_else(|p| p.into_inner());
        let previous = slot.as_ref();
        match (&result, previous.and_then(|s| s.error.as_deref())) {
            (Err(e), Some(old)) if old == e => tracing::debug!(error = %e, "account discovery still failing"),
            (Err(e), _) => tracing::warn!(source = "organizations", error = %e, "account discovery failed"),
            (Ok(()), Some(_)) => tracing::info!(source = "organizations", "account discovery recovered"),
            (Ok(()), None) => tracing::debug!(duration, "accounts discovered"),
        }
        *slot = Some(SourceStatus {
            success: result.is_ok(),
            last_attempt: at,
            last_success: if result.is_ok() { Some(at) } else { previous.and_then(|s| s.last_success) },
            duration_seconds: duration,
            error: result.err(),
        });
    }

    async fn apply(&self, wanted: Vec<AccountSpec>) {
        let mut members = self.members.lock().await;
        let keys: Vec<String> = wanted.iter().map(AccountSpec::key).collect();
        let gone: Vec<String> = members.keys().filter(|k| !keys.contains(k)).cloned().collect();
        for key in gone {
            if let Some(member) = members.remove(&key) {
                tracing::info!(cloud.account.id = %key, "account no longer collected; its series are removed");
                self.remove(member);
            }
        }
        let scheduler = self.scheduler.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let new = wanted.iter().filter(|s| members.get(&s.key()).is_none_or(|m| m.spec.access != s.access)).count();
        for spec in wanted {
            let key = spec.key();
            match members.get_mut(&key) {
                Some(m) if m.spec.access == spec.access => m.spec = spec,
                _ => {
                    if let Some(old) = members.remove(&key) {
                        self.remove(old);
                    }
                    let mut member = self.member(spec).await;
                    if let Some(s) = &scheduler {
                        for t in &mut member.targets {
                            t.task = Some(s(t.runner.clone(), self.start_delay(new * self.p.regions.len())));
                        }
                    }
                    tracing::info!(cloud.account.id = %key, name = member.spec.name.as_deref().unwrap_or_default(), "account collected");
                    members.insert(key, member);
                }
            }
        }
    }

    /// Stops every refresh loop (at shutdown).
    pub async fn stop(&self) {
        for t in self.members.lock().await.values_mut().flat_map(|m| m.targets.iter_mut()) {
            if let Some(task) = t.task.take() {
                task.abort();
            }
        }
    }

    /// Stops an account's refreshes and removes its series, its call counters included.
    fn remove(&self, member: Member) {
        for t in member.targets {
            if let Some(task) = t.task {
                task.abort();
            }
            self.p.store.unregister(t.slot);
            self.cloudwatch_budget.forget(t.slot);
        }
        if let Some(id) = member.spec.id.as_deref() {
            self.p.parts.metrics.forget_account(id);
        }
    }

    /// The targets of a new account: its SDK configuration (one assumed-role provider
    /// for all its regions), its identity, one runner per region.
    async fn member(&self, spec: AccountSpec) -> Member {
        let accounts = &self.p.config.accounts;
        let (sdk, identity) = match &spec.access {
            Access::Base => (self.p.base.clone(), self.own.clone()),
            Access::Role { arn, external_id } => {
                let session = Session { name: accounts.session_name.clone(), duration: accounts.session_duration };
                let sdk = crate::aws::assume_role(&self.p.base, arn, external_id.as_deref(), &session).await;
                (sdk, Arc::new(Identity::new(spec.id.as_deref(), self.p.regions.len())))
            }
        };
        let global = global_quota_region(&self.p.regions).map(str::to_owned);
        let targets = self
            .p
            .regions
            .iter()
            .map(|region| {
                let slot = self.p.store.register();
                let ctx = TargetContext {
                    aws: TargetAws::of_account(&sdk, region, &self.p.parts, spec.id.as_deref()),
                    config: self.p.config.clone(),
                    clock: self.p.clock.clone(),
                    publishes_global_quotas: global.as_deref() == Some(region.as_str()),
                    model_book: self.model_book.clone(),
                    cloudwatch_budget: self.cloudwatch_budget.clone(),
                    lowest_tier: self.p.lowest_tier.clone(),
                    budget_key: slot,
                };
                let target = Target { region: region.clone() };
                let runner = TargetRunner::new(slot, target, ctx, self.p.store.clone(), identity.clone());
                let patches = runner.patches();
                TargetHandle {
                    region: region.clone(),
                    identity: identity.clone(),
                    runner: Arc::new(Mutex::new(runner)),
                    patches,
                    slot,
                    task: None,
                }
            })
            .collect();
        Member { spec, targets }
    }

    /// Tells the store which accounts are covered, with their names, and whether they
    /// are known.
    async fn publish_accounts(&self, settled: bool) {
        let members = self.members.lock().await;
        let accounts = members
            .values()
            .filter_map(|m| {
                let id = m.spec.id.clone().or_else(|| m.targets.first().and_then(|t| t.identity.id()))?;
                Some(AccountView { id, name: m.spec.name.clone(), unit: m.spec.unit.clone() })
            })
            .collect();
        drop(members);
        let discovery = self.discovery.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let own = self.own.id().unwrap_or_default();
        let discovery = self.organizations.as_ref().zip(discovery).map(|(org, status)| DiscoveryView {
            account_id: own,
            region: org.region().to_owned(),
            status,
        });
        self.p.store.set_accounts(accounts, discovery, settled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{OrganizationsConfig, RoleTarget};

    fn org(id: &str, name: &str, active: bool, path: &[&str]) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            name: name.into(),
            active,
            unit: "Workloads".into(),
            ancestors: path.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn discovery(units: &[&str]) -> AccountsConfig {
        AccountsConfig {
            organizations: Some(OrganizationsConfig {
                role_name: "ops/reader".into(),
                external_id: Some("ext-1".into()),
                units: units.iter().map(|u| (*u).to_owned()).collect(),
            }),
            ..AccountsConfig::default()
        }
    }

    fn ids(specs: &[AccountSpec]) -> Vec<&str> {
        specs.iter().map(|s| s.id.as_deref().unwrap_or(OWN_KEY)).collect()
    }

    #[test]
    fn discovered_active_accounts_are_reached_through_the_named_role_and_the_own_account_with_base_credentials() {
        let listed = [
            org("111122223333", "Management", true, &["r-ab12"]),
            org("444455556666", "Payments", true, &["r-ab12", "ou-ab12-workload"]),
            org("222233334444", "Retired", false, &["r-ab12", "ou-ab12-workload"]),
        ];
        let specs = plan(&discovery(&[]), Some("111122223333"), Some(&listed), "aws");
        assert_eq!(ids(&specs), ["111122223333", "444455556666"], "the suspended account is not collected");
        assert_eq!(specs[0].access, Access::Base);
        assert_eq!(specs[0].name.as_deref(), Some("Management"));
        assert_eq!(
            specs[1].access,
            Access::Role { arn: "arn:aws:iam::444455556666:role/ops/reader".into(), external_id: Some("ext-1".into()) }
        );
        assert_eq!((specs[1].name.as_deref(), specs[1].unit.as_deref()), (Some("Payments"), Some("Workloads")));
    }

    #[test]
    fn units_include_every_account_below_them_and_lists_filter_every_source() {
        let listed = [
            org("111122223333", "Management", true, &["r-ab12"]),
            org("444455556666", "Payments", true, &["r-ab12", "ou-ab12-workload", "ou-ab12-payments"]),
            org("555566667777", "Data", true, &["r-ab12", "ou-ab12-data0000"]),
        ];
        let mut config = discovery(&["ou-ab12-workload"]);
        config.own_account = false;
        assert_eq!(ids(&plan(&config, Some("111122223333"), Some(&listed), "aws")), ["444455556666"]);
        let mut config = discovery(&[]);
        config.exclude = vec!["555566667777".into()];
        assert_eq!(ids(&plan(&config, Some("111122223333"), Some(&listed), "aws")), ["111122223333", "444455556666"]);
        config.include = vec!["555566667777".into()];
        config.exclude.clear();
        assert_eq!(ids(&plan(&config, Some("111122223333"), Some(&listed), "aws")), ["555566667777"]);
    }

    #[test]
    fn an_explicit_role_wins_over_discovery_and_keeps_the_organization_s_unit() {
        let listed = [org("444455556666", "Payments", true, &["r-ab12", "ou-ab12-workload"])];
        let mut config = discovery(&[]);
        config.roles =
            vec![RoleTarget { arn: "arn:aws:iam::444455556666:role/special".into(), external_id: None, name: None }];
        let specs = plan(&config, Some("111122223333"), Some(&listed), "aws-cn");
        let payments = specs.iter().find(|s| s.id.as_deref() == Some("444455556666")).expect("planned");
        assert_eq!(
            payments.access,
            Access::Role { arn: "arn:aws:iam::444455556666:role/special".into(), external_id: None }
        );
        assert_eq!((payments.name.as_deref(), payments.unit.as_deref()), (Some("Payments"), Some("Workloads")));
    }

    #[test]
    fn without_discovery_the_own_account_is_planned_before_its_id_is_known() {
        let specs = plan(&AccountsConfig::default(), None, None, "aws");
        assert_eq!(specs, [AccountSpec { id: None, name: None, unit: None, access: Access::Base }]);
        let none = AccountsConfig { own_account: false, ..AccountsConfig::default() };
        assert!(plan(&none, None, None, "aws").is_empty());
    }

    #[test]
    fn bounded_loads_split_accounts_evenly_whatever_their_order_and_a_new_shard_moves_few() {
        let accounts: Vec<String> = (0..200u64).map(|i| format!("{:012}", 200_000_000_000 + i)).collect();
        let four = assign(accounts.iter().map(String::as_str), 4);
        let mut load = [0usize; 4];
        for shard in four.values() {
            load[*shard as usize] += 1;
        }
        assert_eq!(load.iter().sum::<usize>(), 200, "every account has exactly one shard");
        assert_eq!(load, [50; 4]);
        let mut reversed = accounts.clone();
        reversed.reverse();
        assert_eq!(assign(reversed.iter().map(String::as_str), 4), four, "the same answer whatever the order");
        let five = assign(accounts.iter().map(String::as_str), 5);
        let moved = four.iter().filter(|(id, shard)| five[*id] != **shard).count();
        assert!(moved <= 60, "{moved} of 200 accounts moved from 4 shards to 5 (40 must)");
    }

    #[test]
    fn rendezvous_hashing_spreads_accounts_evenly_and_a_new_shard_moves_only_what_it_takes() {
        let owner = |account: &str, count| preferences(account, count)[0];
        let accounts: Vec<String> = (0..2000u64).map(|i| format!("{:012}", 100_000_000_000 + i * 7919)).collect();
        let mut counts = [0usize; 4];
        for a in &accounts {
            counts[owner(a, 4) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        assert!(max as f64 / min as f64 <= 1.15, "shards of 2,000 accounts: {counts:?}");
        let moved = accounts.iter().filter(|a| owner(a, 4) != owner(a, 5)).count();
        // Ideally a fifth move, all to the new shard.
        assert!(accounts.iter().filter(|a| owner(a, 4) != owner(a, 5)).all(|a| owner(a, 5) == 4));
        assert!((300..=500).contains(&moved), "{moved} of 2,000 moved");
        assert_eq!(owner("111122223333", 1), 0);
    }

    #[test]
    fn global_quotas_come_from_us_east_1_when_it_is_configured() {
        let regions = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(global_quota_region(&regions(&["eu-west-1", "us-east-1"])), Some("us-east-1"));
        assert_eq!(global_quota_region(&regions(&["eu-west-1", "eu-central-1"])), Some("eu-west-1"));
        assert_eq!(global_quota_region(&[]), None);
    }

    #[test]
    fn first_refreshes_are_spread_over_a_window_that_grows_with_the_targets_and_is_bounded() {
        let hour = Duration::from_secs(3600);
        assert_eq!(start_window(1, hour), Duration::from_millis(100));
        assert_eq!(start_window(40, hour), Duration::from_secs(4));
        assert_eq!(start_window(10_000, hour), Duration::from_secs(60), "never more than a minute");
        assert_eq!(start_window(400, Duration::from_secs(120)), Duration::from_secs(30), "a quarter of the interval");
        // Offsets drawn in the window differ from target to target.
        let window = start_window(200, hour);
        let offsets: std::collections::BTreeSet<u128> =
            (0..200).map(|_| window.mul_f64(fastrand::f64()).as_millis()).collect();
        assert!(offsets.len() > 150, "{} distinct offsets of 200", offsets.len());
        assert!(offsets.iter().all(|ms| *ms <= window.as_millis()));
    }

    #[test]
    fn role_arns_follow_the_region_s_partition() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }
}
