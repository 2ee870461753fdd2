//! `strata-ingest`: the `strata ingest` command alone. It takes the same arguments as
//! `strata` (`strata-ingest ingest --until-caught-up ...`), and `strata ingest` hands over to
//! it when the two sit side by side. Linking only ingest's code (no query engine execution,
//! serving or SQL endpoint) keeps far less code resident: ingest runs for months, and its
//! memory is mostly the code it has ever touched. It uses glibc's allocator, tuned, which
//! kept ingest's peak RSS lower than jemalloc did.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata_cli::commands::ingest::{self, IngestArgs};
use strata_cli::start::{self, Cli};

/// `strata`'s commands that this binary runs.
#[derive(Debug, Subcommand)]
enum Command {
    /// Consume Kafka topics into bronze.events, exactly once.
    Ingest(IngestArgs),
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    start::tune_glibc_malloc();
    if let Some(refused) = start::check_handover() {
        return refused;
    }
    let Cli { common, command } = Cli::<Command>::parse();
    let Command::Ingest(args) = command;
    start::run(&common, start::events_check, |config| {
        ingest::run(args, config)
    })
}
