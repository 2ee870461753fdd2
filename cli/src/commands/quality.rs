use anyhow::Result;
use clap::{Args, ValueEnum};

use super::sql::{OutputFormat, print, query};
use crate::config::Config;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Period {
    Hour,
    Day,
}

#[derive(Debug, Args)]
pub struct QualityArgs {
    /// Group pass rates by this period.
    #[arg(long, value_enum, default_value = "day")]
    by: Period,
    /// Only this table (layer.table).
    #[arg(long)]
    table: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

/// Pass rates per table and expectation over time, from `_strata.quality_results`.
pub async fn run(args: QualityArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    if lake
        .open(&strata_quality::results::results_table())
        .await?
        .is_none()
    {
        println!("no expectation results yet: they are written by every refinement job run");
        return Ok(());
    }
    let filter = match &args.table {
        Some(t) => {
            let name: strata_pipelines::TableName = t.parse()?;
            format!("WHERE \"table\" = '{name}'")
        }
        None => String::new(),
    };
    let period = match args.by {
        Period::Hour => "hour",
        Period::Day => "day",
    };
    let rates = query(
        &config,
        &format!(
            "SELECT \"table\", expectation, action, \
               CAST(date_trunc('{period}', checked_at) AS VARCHAR) AS {period}, \
               count(*) AS runs, sum(rows_checked) AS rows_checked, sum(rows_failed) AS rows_failed, \
               round(100.0 * (1.0 - CAST(sum(rows_failed) AS DOUBLE) / \
                 CAST(greatest(sum(rows_checked), 1) AS DOUBLE)), 3) AS pass_pct, \
               sum(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed_runs \
             FROM _strata.quality_results {filter} \
             GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4"
        ),
    )
    .await?;
    print(&rates, args.format)
}
