use std::time::Duration;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strata_orchestration::backfill;
use strata_orchestration::maintain::maintain_table;
use strata_pipelines::TableName;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The job whose output to recompute (e.g. silver.missions, gold.player_daily).
    job: String,
    /// First day (YYYY-MM-DD, event date).
    #[arg(long)]
    from: String,
    /// Last day, inclusive.
    #[arg(long)]
    to: String,
    /// Redo every day even if an earlier run of this backfill completed some.
    #[arg(long)]
    restart: bool,
    /// Print the plan and exit.
    #[arg(long)]
    dry_run: bool,
}

pub async fn backfill(args: BackfillArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    let jobs = super::jobs(&config)?;
    let plan = backfill::plan(&jobs, &args.job, &args.from, &args.to)?;
    for s in &plan.steps {
        eprintln!(
            "{:<28} {} day(s) {} .. {}",
            s.job,
            s.days.len(),
            s.days.first().map_or("-", String::as_str),
            s.days.last().map_or("-", String::as_str)
        );
    }
    if args.dry_run {
        return Ok(());
    }
    let jobs_touched: Vec<String> = plan.steps.iter().map(|s| s.job.clone()).collect();
    let detail = format!(
        "{} .. {}{}",
        args.from,
        args.to,
        if args.restart { " (restart)" } else { "" }
    );
    super::audit_admin(&lake, "backfill", &jobs_touched, detail).await?;
    let bar = ProgressBar::new(u64::try_from(plan.total_days()).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} days  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let records = backfill::run(&lake, &jobs, &plan, args.restart, |p| {
        bar.set_position(u64::try_from(p.done).unwrap_or(0));
        bar.set_message(format!(
            "{} {}{}",
            p.job,
            p.day,
            if p.skipped { " (done earlier)" } else { "" }
        ));
    })
    .await?;
    bar.finish_and_clear();
    for r in records {
        println!(
            "{:<28} {:>8} rows  -> {}",
            r.job,
            r.rows_out,
            r.output_version
                .map_or("already complete".into(), |v| format!("v{v}"))
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// Tables to maintain (default: every table in the lake).
    #[arg(long = "table")]
    tables: Vec<String>,
    #[arg(long)]
    no_compact: bool,
    #[arg(long)]
    no_checkpoint: bool,
    #[arg(long)]
    no_vacuum: bool,
    /// Vacuum retention in hours (floor 168 unless --force).
    #[arg(long)]
    retention_hours: Option<u64>,
    /// Allow a vacuum retention below 168 hours.
    #[arg(long)]
    force: bool,
    /// Compaction target file size (MiB).
    #[arg(long)]
    target_file_mb: Option<u64>,
    /// Compact once a table has this many small files.
    #[arg(long)]
    min_small_files: Option<usize>,
    /// Checkpoint when this many commits passed since the last one.
    #[arg(long)]
    checkpoint_every: Option<u64>,
}

pub async fn maintain(args: MaintainArgs, mut config: Config) -> Result<()> {
    if let Some(h) = args.retention_hours {
        config.maintenance.vacuum_retention_hours = h;
    }
    if let Some(mb) = args.target_file_mb {
        config.maintenance.target_file_mb = mb;
    }
    if let Some(n) = args.min_small_files {
        config.maintenance.min_small_files = n;
    }
    if let Some(n) = args.checkpoint_every {
        config.maintenance.checkpoint_every = n;
    }
    config.maintenance.validate()?;
    let mut settings = config.maintenance.settings();
    settings.compact = !args.no_compact;
    settings.checkpoint = !args.no_checkpoint;
    settings.vacuum = !args.no_vacuum;
    settings.force = args.force;
    settings.vacuum_retention =
        Duration::from_secs(config.maintenance.vacuum_retention_hours * 3600);
    settings.validate()?;
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    let tables: Vec<TableName> = if args.tables.is_empty() {
        lake.discover().await?
    } else {
        args.tables
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_, _>>()?
    };
    for t in tables {
        let r = maintain_table(&lake, &t, &settings).await?;
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
