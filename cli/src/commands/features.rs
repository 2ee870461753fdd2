use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use strata_serve::training::{InputFormat, OutputFormat, TrainingSets, encode, parse_rows};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// Point-in-time training set: features joined onto entity rows as of their timestamps.
    TrainingSet(TrainingSetArgs),
    /// The feature views and their features.
    List,
}

#[derive(Debug, Args)]
pub struct TrainingSetArgs {
    /// Entity rows: .json (array of objects), .csv or .parquet.
    #[arg(long)]
    rows: PathBuf,
    /// Features, view:feature (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    features: Vec<String>,
    /// Output: .arrow, .parquet or .json.
    #[arg(long)]
    out: PathBuf,
    /// The entity rows' timestamp column.
    #[arg(long, default_value = "event_timestamp")]
    timestamp_column: String,
    /// Name features view__feature.
    #[arg(long)]
    full_feature_names: bool,
}

fn ext(p: &std::path::Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

pub async fn run(cmd: FeaturesCommand, config: Config) -> Result<()> {
    match cmd {
        FeaturesCommand::List => {
            for v in &super::project(&config)?.views {
                println!(
                    "{} ({}, entity {}, TTL {} h): {}",
                    v.name,
                    v.source,
                    v.entity,
                    v.ttl.as_secs() / 3600,
                    v.features.join(", ")
                );
            }
            Ok(())
        }
        FeaturesCommand::TrainingSet(args) => {
            let input = match ext(&args.rows).as_str() {
                "json" => InputFormat::Json,
                "csv" => InputFormat::Csv,
                "parquet" => InputFormat::Parquet,
                other => bail!(
                    "--rows {}: unknown extension '{other}' (json, csv, parquet)",
                    args.rows.display()
                ),
            };
            let output = match ext(&args.out).as_str() {
                "arrow" | "ipc" => OutputFormat::Arrow,
                "parquet" => OutputFormat::Parquet,
                "json" => OutputFormat::Json,
                other => bail!(
                    "--out {}: unknown extension '{other}' (arrow, parquet, json)",
                    args.out.display()
                ),
            };
            let bytes = std::fs::read(&args.rows)
                .with_context(|| format!("cannot read {}", args.rows.display()))?;
            let rows = parse_rows(input, &bytes)?;
            let lake = super::lake(&config)?;
            lake.require_exists()?;
            let set = TrainingSets::new(lake)
                .build(
                    &super::project(&config)?.views,
                    &args.features,
                    &rows,
                    &args.timestamp_column,
                    args.full_feature_names,
                )
                .await?;
            std::fs::write(&args.out, encode(output, &set)?)
                .with_context(|| format!("cannot write {}", args.out.display()))?;
            eprintln!("{} rows -> {}", set.num_rows(), args.out.display());
            Ok(())
        }
    }
}
