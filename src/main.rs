//! The `aws-quota-exporter` binary: parse arguments, read configuration, start.

use std::sync::Arc;

use anyhow::Context;
use aws_quota_exporter::{aws, clock::SystemClock, config, demo, startup};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut demo_flag = false;
    for arg in &args {
        match arg.as_str() {
            "--help" | "-h" => {
                print!("{}", config::help_text());
                return Ok(());
            }
            "--version" | "-V" => {
                println!("aws-quota-exporter {}", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            "--demo" => demo_flag = true,
            other => anyhow::bail!("unknown argument {other:?}; see --help"),
        }
    }
    let mut config = config::from_env()?;
    config.demo |= demo_flag;
    init_logging(&config.log_level)?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(config))
}

async fn run(mut config: config::Config) -> anyhow::Result<()> {
    // In demo mode the simulator lives as long as this function.
    let (_sim, sdk_config) = if config.demo {
        let (sim, sdk) = demo::start(&mut config).await.context("starting the simulated AWS estate")?;
        tracing::info!(endpoint = %sim.endpoint_url(), "demo mode: serving the simulated AWS estate, not AWS");
        (Some(sim), sdk)
    } else {
        (None, aws::load_sdk_config().await)
    };
    let settings = startup::Settings { config, sdk_config, clock: Arc::new(SystemClock), schedule: true };
    let app = startup::build(settings).await?;
    tracing::info!(address = %app.local_addr(), "serving /metrics");
    app.run_until(shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).with_context(|| {
        format!("invalid QUOTA_EXPORTER_LOG_LEVEL={filter:?}; expected a level such as info or debug")
    })?;
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}
