//! What every binary does around its command: the common flags, the effective config, the
//! project check, logging, the async runtime and the exit code.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// The command line of both binaries: the common settings, then one of `C`'s commands.
#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "Event-sourced streaming data platform: Kafka -> Delta (Bronze, Silver, Gold) -> features and SQL"
)]
pub struct Cli<C: Subcommand> {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: C,
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

    /// Whether the brokers were chosen (flag, env or file) rather than left at the default.
    pub fn brokers_given(&self, config: &Config) -> bool {
        self.brokers.is_some()
            || config.kafka.brokers != strata_ingest::KafkaConfig::default().brokers
    }
}

/// Set by `strata` when it hands `ingest` over to `strata-ingest`: the id of the sources it
/// was built from, which must be `strata-ingest`'s own.
pub const HANDOVER_SOURCE_ID: &str = "STRATA_HANDOVER_SOURCE_ID";

/// Refuses a hand-over from a `strata` built from other sources (exit 2), naming the fix: a
/// `cargo build --bin strata` leaves an older `strata-ingest` beside the new `strata`.
pub fn check_handover() -> Option<ExitCode> {
    let from = std::env::var(HANDOVER_SOURCE_ID).ok()?;
    if from == env!("CLI_SOURCE_ID") {
        return None;
    }
    eprintln!(
        "error: this strata-ingest was built from other sources than the strata that ran it \
         (source ids {} and {from}): build both, e.g. cargo build --bin strata --bin strata-ingest",
        env!("CLI_SOURCE_ID")
    );
    Some(ExitCode::from(2))
}

/// What a command needs of the project before it starts: a check that fails on a broken one.
pub type ProjectCheck = fn(&Config) -> Result<()>;

/// Only `events/`: ingest validates against nothing else, so a model being worked on never
/// stops events from landing (and ingest never links or pages in the SQL planner for it).
pub fn events_check(config: &Config) -> Result<()> {
    crate::commands::event_catalog(config).map(|_| ())
}

/// Events, tables, models and feature views: every other command.
pub fn whole_check(config: &Config) -> Result<()> {
    crate::commands::project(config).map(|_| ())
}

/// Resolve the config, refuse a broken project (exit 2, every problem listed), start logging
/// and the runtime, run `command` and turn its outcome into the exit code.
pub fn run<F, Fut>(common: &CommonArgs, check: ProjectCheck, command: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let config = match common.resolve().and_then(|c| check(&c).map(|()| c)) {
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
    match runtime.block_on(command(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
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

/// glibc's allocator as ingest wants it: two arenas, and a fixed 256 KiB mmap threshold (by
/// default it rises to the largest block freed, and each batch's MB-sized Arrow and Parquet
/// buffers then came from arenas that never shrink). Call before starting any thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune_glibc_malloc() {
    // SAFETY: mallopt only sets allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
