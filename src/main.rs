//! The `aws-quota-exporter` binary: the command line (clap), the configuration, the
//! logs, then the library does the work.

use anyhow::bail;
use std::process::ExitCode;

use aws_quota_exporter::{check, config, failover, increase, otlp, report, startup};
use clap::Parser;

/// The command line. `--help` prints the configuration table too, so clap's own help
/// and version flags are replaced by ours.
#[derive(Debug, Parser)]
#[command(name = "aws-quota-exporter", disable_help_flag = true, disable_version_flag = true)]
struct Cli {
    /// Run against the built-in simulated AWS estate.
    #[arg(long, global = true)]
    demo: bool,
    #[arg(long, short = 'h', global = true)]
    help: bool,
    #[arg(long, short = 'V')]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
#[command(disable_help_subcommand = true)]
enum Command {
    /// One service's quotas, once.
    #[command(disable_help_flag = true)]
    Quotas {
        #[arg(long)]
        service: Option<String>,
        #[arg(long = "region")]
        regions: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Whether a change fits the quotas: exit 0 fits, 1 exceeds, 2 cannot assess.
    #[command(disable_help_flag = true)]
    Check {
        #[arg(long)]
        needs: Option<std::path::PathBuf>,
        /// A Terraform plan in JSON (terraform show -json plan.out).
        #[arg(long)]
        plan: Option<std::path::PathBuf>,
        /// The region of plan resources whose region the plan does not say.
        #[arg(long)]
        region: Option<String>,
        /// The account the plan is for.
        #[arg(long)]
        account: Option<String>,
        /// A running exporter's /metrics instead of AWS.
        #[arg(long)]
        from: Option<String>,
        /// The share of the limit a quota must stay below, from 0.01 to 1.
        #[arg(long, default_value_t = 0.9)]
        threshold: f64,
        #[arg(long, value_enum, default_value_t = check::Output::Table)]
        output: check::Output,
    },
    /// Whether a standby region can carry its primary's load: exit 0 carries, 1 short, 2 cannot assess.
    #[command(disable_help_flag = true)]
    Failover {
        #[arg(long)]
        primary: String,
        #[arg(long)]
        standby: String,
        #[arg(long)]
        account: Option<String>,
        /// A running exporter's /metrics instead of AWS (no 7-day peak).
        #[arg(long)]
        from: Option<String>,
        /// The share of the primary's peak the standby must carry, from 0.1 to 10.
        #[arg(long, default_value_t = 1.0)]
        coverage: f64,
        /// List every quota compared, not only the gaps.
        #[arg(long)]
        all: bool,
        /// Propose the increases that close the gaps through the increase path.
        #[arg(long)]
        request: bool,
        #[arg(long, value_enum, default_value_t = check::Output::Table)]
        output: check::Output,
    },
    /// The automatic increase ledger.
    #[command(disable_help_flag = true)]
    Requests {
        #[arg(long)]
        open: bool,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Who decides (default: the login name).
        #[arg(long, global = true)]
        by: Option<String>,
        #[command(subcommand)]
        action: Option<Action>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    #[command(disable_help_flag = true)]
    Approve { id: String },
    #[command(disable_help_flag = true)]
    Reject { id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

fn main() -> ExitCode {
    // The error and its causes on one line, without the backtrace `RUST_BACKTRACE` would add:
    // a configuration mistake is not a crash.
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Clap's error as one line in this program's words.
fn usage_error(e: &clap::Error) -> anyhow::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    match e.kind() {
        ErrorKind::UnknownArgument | ErrorKind::InvalidSubcommand => {
            let arg = context(ContextKind::InvalidArg).or_else(|| context(ContextKind::InvalidSubcommand));
            anyhow::anyhow!("unknown argument {:?}; see --help", arg.unwrap_or_default())
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ");
            anyhow::anyhow!("{first}; see --help")
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::try_parse().map_err(|e| usage_error(&e))?;
    if cli.help {
        print!("{}", config::help_text());
        return Ok(ExitCode::SUCCESS);
    }
    if cli.version {
        println!("aws-quota-exporter {}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    // A gate's bad arguments exit 2, as a change it cannot assess does.
    let problem = match &cli.command {
        Some(Command::Check { threshold, region, account, .. }) => {
            if !(0.01..=1.0).contains(threshold) {
                Some(format!("--threshold {threshold} is not a share of the limit from 0.01 to 1, e.g. 0.9"))
            } else if let Some(r) = region.as_ref().filter(|r| !config::is_region_code(r)) {
                Some(format!("--region {r:?} is not a region code such as us-east-1"))
            } else {
                account_problem(account.as_deref())
            }
        }
        Some(Command::Failover { primary, standby, account, coverage, output, .. }) => {
            if let Some(r) = [primary, standby].into_iter().find(|r| !config::is_region_code(r)) {
                Some(format!("--primary and --standby are region codes such as us-east-1, not {r:?}"))
            } else if primary == standby {
                Some(format!("--primary and --standby are both {primary}: a standby is another region"))
            } else if !(0.1..=10.0).contains(coverage) {
                Some(format!("--coverage {coverage} is not a share of the primary's peak from 0.1 to 10, e.g. 1.2"))
            } else if *output == check::Output::Junit {
                Some("failover prints --output table or json".to_owned())
            } else {
                account_problem(account.as_deref())
            }
        }
        _ => None,
    };
    if let Some(problem) = problem {
        eprintln!("Error: {problem}");
        return Ok(ExitCode::from(2));
    }
    let service = match &cli.command {
        Some(Command::Quotas { service: None, .. }) => bail!("quotas needs --service, e.g. quotas --service ec2"),
        Some(Command::Quotas { service: Some(s), .. }) => Some(s.clone()),
        _ => None,
    };
    if let Some(Command::Quotas { regions, .. }) = &cli.command
        && let Some(r) = regions.iter().find(|r| !config::is_region_code(r))
    {
        bail!("--region {r:?} is not a region code such as us-east-1");
    }
    let mut config = config::from_env()?;
    config.demo |= cli.demo;
    // Read before anything starts, so that a bad `OTEL_*` value stops start-up at once.
    let otlp = if cli.command.is_none() { otlp::settings_from_env()? } else { None };
    // A one-shot command keeps stdout for its output and logs only problems.
    let log_level = if cli.command.is_some() && std::env::var_os("QUOTA_EXPORTER_LOG_LEVEL").is_none() {
        "warn".to_owned()
    } else {
        config.log_level.clone()
    };
    init_logging(&log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        None => done(runtime.block_on(startup::serve(config, otlp, shutdown_signal()))),
        Some(Command::Quotas { regions, output, .. }) => {
            let service = service.unwrap_or_default();
            done(runtime.block_on(report::run(config, &service, regions, output == Output::Json)))
        }
        Some(Command::Check { needs, plan, region, account, from, threshold, output }) => {
            let inputs = check::Inputs { needs, plan, region, account };
            Ok(gate(runtime.block_on(check::run(config, &inputs, from.as_deref(), threshold, output)), "the change"))
        }
        Some(Command::Failover { primary, standby, account, from, coverage, all, request, output }) => {
            let options = failover::Options { primary, standby, account, from, coverage, all, request, output };
            Ok(gate(runtime.block_on(failover::run(config, &options)), "the failover pair"))
        }
        Some(Command::Requests { open, limit, output, by, action }) => {
            let what = match action {
                None => increase::cli::Requests::List { open, limit: limit as usize, json: output == Output::Json },
                Some(Action::Approve { id }) => increase::cli::Requests::Approve(id),
                Some(Action::Reject { id }) => increase::cli::Requests::Reject(id),
            };
            done(runtime.block_on(increase::cli::run(config, what, by)))
        }
    }
}

/// `--account`, if given, is a 12-digit account id.
fn account_problem(account: Option<&str>) -> Option<String> {
    account.filter(|a| !config::is_account_id(a)).map(|a| format!("--account {a:?} is not a 12-digit account id"))
}

/// A gate's exit code: 0 fits (or carries), 1 does not, 2 cannot assess `what` (never 1:
/// what cannot be assessed is not a pass, nor a verdict).
fn gate(result: Result<bool, check::CannotAssess>, what: &str) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("Error: cannot assess {what}: {e}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    use anyhow::Context;
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
