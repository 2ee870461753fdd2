use anyhow::Result;
use clap::{Args, ValueEnum};
use strata_pipelines::SessionBuilder;
use strata_pipelines::deltalake::arrow::array::RecordBatch;
use strata_pipelines::deltalake::arrow::util::pretty::pretty_format_batches;

use crate::config::Config;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT event_type, count(*) FROM bronze.events GROUP BY 1".
    /// `layer.table@vN` reads version N of a table (time travel).
    query: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

pub async fn query(config: &Config, sql: &str) -> Result<Vec<RecordBatch>> {
    let lake = super::lake(config)?;
    let (ctx, sql) = SessionBuilder::new(lake).build_for(sql).await?;
    let df = ctx
        .sql(&sql)
        .await
        .map_err(|e| anyhow::anyhow!("query failed: {e}"))?;
    df.collect()
        .await
        .map_err(|e| anyhow::anyhow!("query failed: {e}"))
}

pub fn print(batches: &[RecordBatch], format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Table => println!("{}", pretty_format_batches(batches)?),
        OutputFormat::Json => {
            let mut writer = strata_pipelines::deltalake::arrow::json::LineDelimitedWriter::new(
                std::io::stdout().lock(),
            );
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

pub async fn run(args: SqlArgs, config: Config) -> Result<()> {
    let batches = query(&config, &args.query).await?;
    print(&batches, args.format)
}
