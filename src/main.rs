//! The `aws-quota-exporter` binary: parse arguments, read configuration, start.

use std::sync::Arc;

use anyhow::{Context, bail};
use aws_quota_exporter::{aws, clock::SystemClock, config, otlp, report, startup};

/// What the command line asks for.
enum Command {
    Serve,
    Quotas {
        service: String,
        regions: Vec<String>,
        json: bool,
    },
    /// With `--by`, who decides.
    Requests(Requests, Option<String>),
}

/// What the `requests` subcommand does.
enum Requests {
    List { open: bool, limit: usize, json: bool },
    Approve(String),
    Reject(String),
}

/// Who decides from the command line: `--by NAME`, else the login name.
fn cli_decider(by: Option<String>) -> anyhow::Result<String> {
    let name = by
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    if !aws_quota_exporter::config::increase::is_decider_name(&name) {
        bail!("--by {name:?} is not a name of at most 64 letters, digits, '.', '_', '@' or '-'");
    }
    Ok(format!("cli:{name}"))
}

fn main() -> std::process::ExitCode {
    // The error and its causes on one line, without the backtrace `RUST_BACKTRACE` would add:
    // a configuration mistake is not a crash.
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let mut demo_flag = false;
    let mut command = Command::Serve;
    if args.peek().map(String::as_str) == Some("quotas") {
        args.next();
        let (mut service, mut regions, mut json) = (None, Vec::new(), false);
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value; see --help"));
            match arg.as_str() {
                "--service" => service = Some(value("--service")?),
                "--region" => regions.push(value("--region")?),
                "--output" => match value("--output")?.as_str() {
                    "table" => json = false,
                    "json" => json = true,
                    other => bail!("--output must be table or json, got {other:?}"),
                },
                "--demo" => demo_flag = true,
                "--help" | "-h" => return print_help(),
                other => bail!("unknown argument {other:?} to quotas; see --help"),
            }
        }
        let service = service.context("quotas needs --service, e.g. quotas --service ec2")?;
        for r in &regions {
            if !config::is_region_code(r) {
                bail!("--region {r:?} is not a region code such as us-east-1");
            }
        }
        command = Command::Quotas { service, regions, json };
    } else if args.peek().map(String::as_str) == Some("requests") {
        args.next();
        let (mut open, mut limit, mut json) = (false, 50usize, false);
        let mut action = None;
        let mut by = None;
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value; see --help"));
            match arg.as_str() {
                "--open" => open = true,
                "--limit" => {
                    let v = value("--limit")?;
                    limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .with_context(|| format!("--limit {v:?} is not a whole number from 1 to 10000"))?;
                }
                "--output" => match value("--output")?.as_str() {
                    "table" => json = false,
                    "json" => json = true,
                    other => bail!("--output must be table or json, got {other:?}"),
                },
                "approve" => action = Some(Requests::Approve(value("approve")?)),
                "--by" => by = Some(value("--by")?),
                "reject" => action = Some(Requests::Reject(value("reject")?)),
                "--help" | "-h" => return print_help(),
                other => bail!("unknown argument {other:?} to requests; see --help"),
            }
        }
        command = Command::Requests(action.unwrap_or(Requests::List { open, limit, json }), by);
    } else {
        for arg in args {
            match arg.as_str() {
                "--help" | "-h" => return print_help(),
                "--version" | "-V" => {
                    println!("aws-quota-exporter {}", env!("CARGO_PKG_VERSION"));
                    return Ok(());
                }
                "--demo" => demo_flag = true,
                other => bail!("unknown argument {other:?}; see --help"),
            }
        }
    }
    let mut config = config::from_env()?;
    config.demo |= demo_flag;
    // Read before anything starts, so that a bad `OTEL_*` value stops start-up at once.
    let otlp = match command {
        Command::Serve => otlp::settings_from_env()?,
        Command::Quotas { .. } | Command::Requests(..) => None,
    };
    // A one-shot report keeps stdout for its output and logs only problems.
    let log_level = match command {
        Command::Serve => config.log_level.clone(),
        Command::Quotas { .. } | Command::Requests(..) if std::env::var_os("QUOTA_EXPORTER_LOG_LEVEL").is_none() => {
            "warn".to_owned()
        }
        Command::Quotas { .. } | Command::Requests(..) => config.log_level.clone(),
    };
    init_logging(&log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match command {
        Command::Serve => runtime.block_on(serve(config, otlp)),
        Command::Quotas { service, regions, json } => runtime.block_on(quotas(config, service, regions, json)),
        Command::Requests(what, by) => runtime.block_on(requests(config, what, by)),
    }
}

fn print_help() -> anyhow::Result<()> {
    print!("{}", config::help_text());
    Ok(())
}

/// What must live as long as the exporter: the simulated estate, in demo mode.
type Guard = Box<dyn std::any::Any + Send>;

/// The SDK configuration: the simulated estate in demo mode, the AWS chain otherwise.
async fn sdk_config(config: &mut config::Config) -> anyhow::Result<(Option<Guard>, aws_config::SdkConfig)> {
    if config.demo {
        #[cfg(feature = "demo")]
        {
            let (sim, sdk) =
                aws_quota_exporter::demo::start(config).await.context("starting the simulated AWS estate")?;
            tracing::info!(endpoint = %sim.endpoint_url(), "demo mode: serving the simulated AWS estate, not AWS");
            return Ok((Some(Box::new(sim)), sdk));
        }
        #[cfg(not(feature = "demo"))]
        bail!(
            "--demo (QUOTA_EXPORTER_DEMO=true) needs the simulated AWS estate, which this build leaves out: \
             build with the demo feature, e.g. cargo run --features demo -- --demo"
        );
    }
    Ok((None, aws::load_sdk_config().await))
}

async fn serve(mut config: config::Config, otlp: Option<otlp::OtlpSettings>) -> anyhow::Result<()> {
    let (_sim, sdk_config) = sdk_config(&mut config).await?;
    let settings = startup::Settings { config, sdk_config, clock: Arc::new(SystemClock), schedule: true, otlp };
    let app = startup::build(settings).await?;
    tracing::info!(address = %app.local_addr(), "serving /metrics");
    app.run_until(shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

async fn quotas(mut config: config::Config, service: String, regions: Vec<String>, json: bool) -> anyhow::Result<()> {
    if !regions.is_empty() {
        config.regions = regions;
    }
    config.services = Some(vec![service.clone()]);
    config.exclude_services.clear();
    // Bedrock's runtime metrics only serve the Bedrock report.
    config.bedrock = service == "bedrock";
    let asked_to_discover = config.accounts.organizations.is_some();
    let (_sim, sdk_config) = sdk_config(&mut config).await?;
    // The demo's report is the management account's, unless discovery was asked for.
    if config.demo && !asked_to_discover {
        config.accounts.organizations = None;
    }
    let settings = startup::Settings { config, sdk_config, clock: Arc::new(SystemClock), schedule: false, otlp: None };
    let snapshot = startup::collect_once(settings).await?;
    let rows = report::rows(&snapshot, &service);
    print!("{}", if json { report::json(&rows) } else { report::table(&rows) });
    let failures: Vec<String> = snapshot
        .targets
        .iter()
        .flat_map(|t| t.statuses.iter().map(move |(source, s)| (t, source, s)))
        .filter_map(|(t, source, s)| {
            let error = s.error.as_ref()?;
            Some(format!("{} {}: {error}", t.target.region, source.as_str()))
        })
        .collect();
    if !failures.is_empty() {
        bail!("some of the data could not be read:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// The `requests` subcommand: lists the ledger, or approves or rejects an entry.
async fn requests(config: config::Config, what: Requests, by: Option<String>) -> anyhow::Result<()> {
    let by = cli_decider(by)?;
    use aws_quota_exporter::increase::{cli, ledger, receiver};
    let sdk_config = match config.increase.ledger {
        aws_quota_exporter::config::increase::LedgerConfig::DynamoDb { .. } => aws::load_sdk_config().await,
        aws_quota_exporter::config::increase::LedgerConfig::Sqlite { .. } => aws_config::SdkConfig::builder().build(),
    };
    if let aws_quota_exporter::config::increase::LedgerConfig::Sqlite { path } = &config.increase.ledger
        && !path.exists()
    {
        anyhow::bail!(
            "no increase ledger at {}: set QUOTA_EXPORTER_INCREASE_LEDGER_PATH to the file the receiver writes",
            path.display()
        );
    }
    let ledger = aws_quota_exporter::increase::open_ledger(&config.increase, &sdk_config)
        .await
        .context("opening the increase ledger (QUOTA_EXPORTER_INCREASE_LEDGER*)")?;
    let now = aws_quota_exporter::clock::Clock::now(&SystemClock);
    match what {
        Requests::List { open, limit, json } => {
            let which = if open { ledger::Listing::Open } else { ledger::Listing::All };
            let entries = ledger.list(which, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print!("{}", cli::table(&entries));
            }
        }
        Requests::Approve(id) => {
            let e = receiver::mark_approved(&ledger, &id, now, &by).await?;
            println!(
                "approved {}: {}/{} in {} {}, asking for {}; the receiver files it at its next poll",
                e.id,
                e.key.service_code,
                e.key.quota_code,
                e.key.account,
                e.key.region,
                e.desired_value.map_or_else(|| "?".to_owned(), |v| v.to_string())
            );
        }
        Requests::Reject(id) => {
            let e = receiver::reject(&ledger, &id, now, config.increase.cooldown, &by).await?;
            println!(
                "rejected {}: {}/{} in {} {}",
                e.id, e.key.service_code, e.key.quota_code, e.key.account, e.key.region
            );
        }
    }
    Ok(())
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    // aws-config warns at every refused AssumeRole; the exporter logs an account's
    // failure once itself, so the SDK's line is kept for errors unless asked for.
    let directives =
        if filter.contains("aws_config") { filter.to_owned() } else { format!("{filter},aws_config::sts=error") };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).with_context(|| {
        format!("invalid QUOTA_EXPORTER_LOG_LEVEL={filter:?}; expected a level such as info or debug")
    })?;
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
