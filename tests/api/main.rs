//! The integration tests: one binary, the real exporter and server on loopback, the
//! real AWS SDK over HTTP, a simulated AWS that speaks the wire protocols.

mod bedrock;
mod calls;
mod cli;
mod dynamodb;
mod estate;
mod faults;
mod forecast;
mod golden;
mod helpers;
mod http;
mod increase;
mod ledger;
mod otlp;
#[path = "../common/otlp_points.rs"]
mod otlp_points;
mod quotas;
mod report;
mod usage;
