//! `strata`: one binary for the whole platform.

#[cfg(not(target_env = "msvc"))]
mod alloc;
mod commands;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Event-sourced streaming data platform: Kafka -> Delta (Bronze, Silver, Gold) -> features and SQL"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

/// Settings every command accepts; each also from an environment variable.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Config file (TOML); see strata.example.toml.
    #[arg(long, global = true, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers, host:port[,host:port].
    #[arg(long, global = true, env = "STRATA_BROKERS")]
    brokers: Option<String>,
    /// Pipeline project folder (`project.dir`); default: the built-in project.
    #[arg(long, global = true, env = "STRATA_PROJECT")]
    project: Option<PathBuf>,
    /// Lake root: a local directory or an object-store URI.
    #[arg(long, global = true, env = "STRATA_LAKE")]
    lake: Option<String>,
    /// Topic to consume or produce to (repeatable; env: comma-separated).
    #[arg(
        long = "topic",
        global = true,
        env = "STRATA_TOPICS",
        value_delimiter = ','
    )]
    topics: Vec<String>,
    /// Consumer group id.
    #[arg(long, global = true, env = "STRATA_GROUP")]
    group: Option<String>,
    /// Confluent-compatible schema registry for framed values (`kafka.schema_registry_url`).
    #[arg(long, global = true, env = "STRATA_SCHEMA_REGISTRY_URL")]
    schema_registry_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, env = "STRATA_LOG_FORMAT")]
    log_format: Option<LogFormat>,
}

impl CommonArgs {
    /// The effective configuration: file, then env/flags on top.
    pub fn resolve(&self) -> Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(b) = &self.brokers {
            config.kafka.brokers = b.clone();
        }
        if let Some(l) = &self.lake {
            config.lake.uri = l.clone();
        }
        if let Some(p) = &self.project {
            config.project.dir = Some(p.display().to_string());
        }
        if !self.topics.is_empty() {
            config.kafka.topics = self.topics.clone();
        }
        if let Some(g) = &self.group {
            config.kafka.group = g.clone();
        }
        if let Some(u) = &self.schema_registry_url {
            config.kafka.schema_registry_url = Some(u.clone());
        }
        if let Some(f) = self.log_format {
            config.log.format = f;
        }
        config.lake.validate()?;
        config.run.validate()?;
        config.quality.expectations()?;
        config.maintenance.validate()?;
        config.alerts.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume Kafka topics into bronze.events, exactly once.
    Ingest(commands::ingest::IngestArgs),
    /// Publish a file of events (one JSON document per line) to a topic.
    Produce(commands::produce::ProduceArgs),
    /// Produce realistic agent and gameplay events (the built-in project's).
    Simulate(commands::simulate::SimulateArgs),
    /// Run SQL over every lake table (layer.table).
    Sql(commands::sql::SqlArgs),
    /// Feature views and point-in-time training sets.
    #[command(subcommand)]
    Features(commands::features::FeaturesCommand),
    /// Serve online features, training sets (HTTP) and SQL (Postgres protocol).
    Serve(commands::serve::ServeArgs),
    /// Serve the Confluent-compatible schema registry backed by the lake.
    Registry(commands::registry::RegistryArgs),
    /// Expectation pass rates per table and expectation over time.
    Quality(commands::quality::QualityArgs),
    /// List invalid Bronze records by reason.
    Quarantine(commands::quarantine::QuarantineArgs),
    /// Run the refinement jobs (Bronze -> Silver -> Gold), once or continuously.
    Run(commands::run::RunArgs),
    /// Rebuild every table above Bronze from Bronze, from scratch.
    Replay(commands::run::ReplayArgs),
    /// Every table's version, size, freshness against its SLA, last run; ingest lag.
    Status(commands::status::StatusArgs),
    /// The job graph as text, Mermaid or DOT.
    Lineage(commands::status::LineageArgs),
    /// Remove Silver or Gold tables the project no longer declares.
    Drop(commands::drop::DropArgs),
    /// Recompute a job's days and everything downstream (resumable).
    Backfill(commands::maintain::BackfillArgs),
    /// Compact small files, write checkpoints, vacuum old files.
    Maintain(commands::maintain::MaintainArgs),
    /// Erase every row, file and log entry about one entity (KEY=VALUE), resumable.
    Forget(commands::forget::ForgetArgs),
    /// Zero-setup demo: embedded broker, simulated events, ingest, Silver and Gold, summary.
    Demo(commands::demo::DemoArgs),
    /// Check or show a pipeline project (events, tables, models, feature views).
    #[command(subcommand)]
    Project(commands::project::ProjectCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

fn init_logging(config: &Config) {
    let (text, mut filter) = match std::env::var("RUST_LOG") {
        Ok(v) if EnvFilter::try_new(&v).is_ok() => (v.clone(), EnvFilter::new(v)),
        _ => (
            config.log.level.clone(),
            EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info")),
        ),
    };
    // The Delta libraries log every log-segment read at info, an error when a table does not
    // exist yet (expected before the first write), and a warning for the binary key/value
    // columns they keep no statistics for. Quiet unless the filter names them.
    if !text.contains("buoyant_kernel") && !text.contains("deltalake") {
        for quiet in [
            "buoyant_kernel=warn",
            "buoyant_kernel_engine=warn",
            "buoyant_kernel::snapshot=off",
            "deltalake_core=warn",
            "deltalake_core::writer::stats=error",
            "deltalake_core::operations::merge=error",
        ] {
            if let Ok(d) = quiet.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    // Colour only for a person at a terminal, never in files or log pipelines.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli
        .common
        .resolve()
        .and_then(|c| check_project(&cli.command, c))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let brokers_given = cli.common.brokers.is_some()
        || config.kafka.brokers != strata_ingest::KafkaConfig::default().brokers;
    let result = runtime.block_on(run(cli.command, config, brokers_given));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// A broken project is refused before any command starts, every problem listed. Ingest
/// checks only the project's events (it validates against nothing else), so a model being
/// worked on never stops events from landing.
fn check_project(command: &Command, config: Config) -> Result<Config> {
    match command {
        Command::Ingest(_) => commands::event_catalog(&config).map(|_| ()),
        _ => commands::project(&config).map(|_| ()),
    }?;
    Ok(config)
}

/// The error and its causes, skipping causes whose text the message already includes.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

async fn run(command: Command, config: Config, brokers_given: bool) -> Result<()> {
    match command {
        Command::Ingest(args) => commands::ingest::run(args, config).await,
        Command::Simulate(args) => commands::simulate::run(args, config).await,
        Command::Produce(args) => commands::produce::run(args, config).await,
        Command::Sql(args) => commands::sql::run(args, config).await,
        Command::Features(cmd) => commands::features::run(cmd, config).await,
        Command::Serve(args) => commands::serve::run(args, config).await,
        Command::Registry(args) => commands::registry::run(args, config).await,
        Command::Quality(args) => commands::quality::run(args, config).await,
        Command::Quarantine(args) => commands::quarantine::run(args, config).await,
        Command::Run(args) => commands::run::run(args, config).await,
        Command::Replay(args) => commands::run::replay(args, config).await,
        Command::Status(args) => commands::status::status(args, config).await,
        Command::Lineage(args) => commands::status::lineage(args, &config),
        Command::Drop(args) => commands::drop::run(args, config).await,
        Command::Backfill(args) => commands::maintain::backfill(args, config).await,
        Command::Maintain(args) => commands::maintain::maintain(args, config).await,
        Command::Forget(args) => commands::forget::run(args, config).await,
        Command::Demo(args) => commands::demo::run(args, config, brokers_given).await,
        Command::Bench(cmd) => commands::bench::run(cmd, config).await,
        Command::Project(cmd) => commands::project::run(cmd, &config),
    }
}
