//! aws-quota-exporter: every AWS service quota's limit, usage and utilisation as
//! Prometheus metrics.
//!
//! Modules in reading order: configuration and domain types; the AWS boundary; the
//! collectors and the per-target refresh cycle; the snapshot and its exposition; the
//! HTTP server; start-up and the demo. `ARCHITECTURE.md` has the bird's-eye view and
//! the invariants.

pub mod config;
pub mod model;
pub mod clock;
pub mod errors;
pub mod ratelimit;
pub mod supervise;
pub mod aws;
pub mod selfmetrics;
pub mod forecast;
pub mod cadence;
pub mod bedrock;
pub mod collector;
pub mod identity;
pub mod accounts;
pub mod target;
pub mod snapshot;
pub mod metrics;
pub mod exposition;
pub mod otlp;
pub mod increase;
pub mod server;
pub mod startup;
pub mod check;
pub mod failover;
pub mod overrides;
pub mod report;
pub mod table;
#[cfg(feature = "demo")]
pub mod demo;
