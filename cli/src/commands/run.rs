use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use strata_gold::{GoldJob, GoldReport};
use strata_pipelines::Lake;
use strata_silver::{RunReport, SilverJob, all_tables};

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

/// One line per job run, for people.
#[derive(Debug)]
pub struct Line {
    job: String,
    input: String,
    rows: String,
    output: Option<u64>,
}

impl From<RunReport> for Line {
    fn from(r: RunReport) -> Self {
        Line {
            job: r.job,
            input: format!(
                "bronze v{}",
                r.input_version.map_or("-".into(), |v| v.to_string())
            ),
            rows: format!("{} in, {} out", r.rows_in, r.rows_out),
            output: r.output_version,
        }
    }
}

impl From<GoldReport> for Line {
    fn from(r: GoldReport) -> Self {
        Line {
            job: r.job,
            input: format!("{} day(s)", r.days.len()),
            rows: format!("{} rows", r.rows_out),
            output: r.output_version,
        }
    }
}

/// Every job once, Silver before Gold (the DAG order).
pub async fn pass(lake: &Lake) -> Result<Vec<Line>> {
    let mut lines = Vec::new();
    for job in jobs() {
        lines.push(job.run(lake).await?.into());
    }
    for t in strata_gold::all_tables() {
        lines.push(GoldJob::new(t).run(lake).await?.into());
    }
    Ok(lines)
}

pub fn print(lines: &[Line]) {
    for l in lines {
        println!(
            "{:<30} {:<14} {:<24} {}",
            l.job,
            l.input,
            l.rows,
            match l.output {
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
