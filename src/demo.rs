//! Demo mode: the simulated AWS estate started in-process on loopback, and an AWS SDK
//! configuration that points at it with the demo account's static credentials.
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
    let sdk = static_sdk_config(
        &sim.endpoint_url(),
        simaws::demo::ACCESS_KEY_ID,
        simaws::demo::SECRET_ACCESS_KEY,
        RetryPolicy::default(),
    )
    .await;
    Ok((sim, sdk))
}
