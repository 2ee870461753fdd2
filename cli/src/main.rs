//! `strata`: one binary for the whole platform.

#[cfg(not(target_env = "msvc"))]
mod alloc;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use strata_cli::commands;
use strata_cli::config::Config;
use strata_cli::start::{self, Cli, ProjectCheck};

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

fn main() -> ExitCode {
    let Cli { common, command } = Cli::<Command>::parse();
    let check = match command {
        Command::Ingest(_) => {
            exec_ingest();
            start::events_check as ProjectCheck
        }
        _ => start::whole_check,
    };
    start::run(&common, check, |config| {
        let brokers_given = common.brokers_given(&config);
        run(command, config, brokers_given)
    })
}

/// `strata ingest` runs as `strata-ingest` when that binary sits beside this one: the same
/// command and arguments in a binary that links only ingest's code, so far less code stays
/// resident for the life of the process. Returns only when there is no such binary (a
/// lone copied `strata`), and ingest then runs here, the same way.
#[cfg(unix)]
fn exec_ingest() {
    use std::os::unix::process::CommandExt;
    let Some(slim) = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("strata-ingest"))
        .filter(|p| p.is_file())
    else {
        return;
    };
    let mut args = std::env::args_os();
    let name = args.next().unwrap_or_else(|| "strata".into());
    let err = std::process::Command::new(&slim)
        .arg0(name)
        .args(args)
        .env(start::HANDOVER_SOURCE_ID, env!("CLI_SOURCE_ID"))
        .exec();
    eprintln!(
        "warning: cannot run {}: {err}; ingesting in this process",
        slim.display()
    );
}

#[cfg(not(unix))]
fn exec_ingest() {}

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
