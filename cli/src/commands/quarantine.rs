use anyhow::Result;
use clap::{Args, Subcommand};

use super::sql::{OutputFormat, print, query};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Re-validate invalid Bronze records with the current schemas (built-in and registered)
    /// and feed the ones that now pass into Silver (through bronze.replayed), exactly once.
    Replay,
}

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    command: Option<QuarantineCommand>,
    /// Sample rows to show per reason.
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

pub async fn run(args: QuarantineArgs, config: Config) -> Result<()> {
    if let Some(QuarantineCommand::Replay) = args.command {
        let lake = super::lake(&config)?;
        lake.require_exists()?;
        let report =
            strata_bronze::replay_quarantine(&lake, super::inspector(&config).await?).await?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let by_reason = query(
        &config,
        "SELECT error_kind AS reason, count(*) AS records, min(ingest_date) AS first_seen, \
         max(ingest_date) AS last_seen FROM bronze.quarantine GROUP BY error_kind ORDER BY records DESC",
    )
    .await?;
    print(&by_reason, args.format)?;
    if args.samples > 0 {
        let samples = query(
            &config,
            &format!(
                "SELECT error_kind AS reason, topic, \"partition\", \"offset\", error FROM ( \
                   SELECT *, row_number() OVER (PARTITION BY error_kind ORDER BY topic, \"partition\", \"offset\") AS n \
                   FROM bronze.quarantine) WHERE n <= {} ORDER BY reason, topic, \"partition\", \"offset\"",
                args.samples
            ),
        )
        .await?;
        print(&samples, args.format)?;
    }
    Ok(())
}
