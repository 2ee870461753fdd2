use anyhow::Result;
use clap::Args;

use super::sql::{OutputFormat, print, query};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// Sample rows to show per reason.
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

pub async fn run(args: QuarantineArgs, config: Config) -> Result<()> {
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
