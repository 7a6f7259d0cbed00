//! The integration tests: one binary, the real exporter and server on loopback, the
//! real AWS SDK over HTTP, a simulated AWS that speaks the wire protocols.

#[cfg(not(all(feature = "demo", feature = "test-hooks")))]
compile_error!(
    "the integration tests run the binary with --demo and its test hooks: build them with \
     --features demo,test-hooks (make unit does)"
);

mod bedrock;
mod cadence;
mod calls;
mod check;
mod cli;
mod dynamodb;
mod estate;
mod failover;
mod faults;
mod forecast;
mod golden;
mod helpers;
mod http;
mod increase;
mod ledger;
mod organizations;
mod otlp;
mod overrides;
#[path = "../common/otlp_points.rs"]
mod otlp_points;
mod quotas;
mod relay;
mod report;
mod resilience;
mod server;
mod trust;
mod usage;
