//! Demo mode: the simulated AWS estate (a small organization) started in-process on
//! loopback, and an AWS SDK configuration that points at it with the management
//! account's static credentials; accounts are discovered from Organizations.
//!
//! This is the only product module that knows about the simulator, and it is used
//! only when `--demo` (or `QUOTA_EXPORTER_DEMO=true`) asks for it. The demo includes
//! the simulator's deliberate faults (`simaws::demo::faults`), so that the exporter's
//! own health has something to show.

use simaws::SimAws;

use crate::aws::{RetryPolicy, static_sdk_config};
use crate::config::Config;

/// Starts the demo estate and returns it with the SDK configuration that reaches it.
pub async fn start(config: &mut Config) -> std::io::Result<(SimAws, aws_config::SdkConfig)> {
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let sim = SimAws::start(simaws::demo::estate(now)).await?;
    for fault in simaws::demo::faults() {
        sim.inject(fault);
    }
    if config.regions.is_empty() {
        config.regions = simaws::demo::REGIONS.iter().map(|r| (*r).to_owned()).collect();
    }
    // us-east-1 fails over to eu-west-1, whose G and VT vCPU limit is short of
    // us-east-1's peak: the failover report and alert have a gap to show.
    let both = simaws::demo::REGIONS.iter().all(|r| config.regions.iter().any(|c| c == r));
    if config.failover_pairs.is_empty() && both {
        config.failover_pairs = vec![crate::config::FailoverPair {
            account: None,
            primary: simaws::demo::REGIONS[0].to_owned(),
            standby: simaws::demo::REGIONS[1].to_owned(),
        }];
    }
    // The demo estate is an organization: discover it, unless told otherwise.
    if config.accounts.organizations.is_none() && config.accounts.roles.is_empty() {
        config.accounts.organizations = Some(crate::config::OrganizationsConfig {
            role_name: simaws::demo::READ_ROLE_NAME.to_owned(),
            external_id: None,
            units: Vec::new(),
        });
    }
    let sdk = static_sdk_config(
        &sim.endpoint_url(),
        simaws::demo::ACCESS_KEY_ID,
        simaws::demo::SECRET_ACCESS_KEY,
        RetryPolicy::default(),
    )
    .await;
    Ok((sim, sdk))
}
