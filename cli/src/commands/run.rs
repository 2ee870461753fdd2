use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use strata_pipelines::Lake;
use strata_silver::{RunReport, SilverJob, all_tables};
use tracing::info;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// One pass over every job, then exit.
    #[arg(long)]
    once: bool,
    /// Pause between passes in continuous mode (ms).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {}

/// Every job, in DAG order.
pub fn jobs() -> Vec<SilverJob> {
    all_tables().into_iter().map(SilverJob::new).collect()
}

pub async fn pass(lake: &Lake) -> Result<Vec<RunReport>> {
    let mut reports = Vec::new();
    for job in jobs() {
        let r = job.run(lake).await?;
        if r.output_version.is_some() {
            info!(job = %r.job, rows_in = r.rows_in, rows_out = r.rows_out, input_version = ?r.input_version, "job ran");
        }
        reports.push(r);
    }
    Ok(reports)
}

fn print(reports: &[RunReport]) {
    for r in reports {
        println!(
            "{:<32} bronze v{:<6} rows in {:>8}  rows out {:>8}  {}",
            r.job,
            r.input_version.map_or("-".into(), |v| v.to_string()),
            r.rows_in,
            r.rows_out,
            match r.output_version {
                Some(v) => format!("-> v{v}"),
                None => "up to date".into(),
            }
        );
    }
}

pub async fn run(args: RunArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    if args.once {
        print(&pass(&lake).await?);
        return Ok(());
    }
    let interval = Duration::from_millis(args.interval_ms.max(10));
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        pass(&lake).await?;
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Rebuild every table above Bronze from scratch: remove them, then run every job.
pub async fn replay(_args: ReplayArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    let Some(root) = lake.local_path() else {
        bail!(
            "replay needs a local lake for now; {} is remote",
            lake.root()
        );
    };
    for layer in ["silver", "gold"] {
        let dir = root.join(layer);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", dir.display()))?;
        }
    }
    print(&pass(&lake).await?);
    Ok(())
}
