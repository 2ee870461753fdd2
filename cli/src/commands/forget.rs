use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strata_orchestration::erasure::{self, ErasureReport, Request};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The entity to erase, KEY=VALUE: KEY is player_id, agent_id, tenant_id or another
    /// feature view's entity key (e.g. player_id=player-000042).
    entity: String,
    /// Skip the job pass that first brings every table up to date (a job still behind on a
    /// table keeps that table's log from its checkpoint on, and the erasure must run again).
    #[arg(long)]
    no_catch_up: bool,
}

pub async fn run(args: ForgetArgs, config: Config) -> Result<()> {
    let project = super::project(&config)?;
    let request = Request::parse(&args.entity, &project.entity_keys())?;
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    if !args.no_catch_up {
        let report = super::run::pass(&lake, &config).await?;
        super::run::fail_on_errors(&report).context(
            "the jobs could not catch up before the erasure; fix them or pass --no-catch-up",
        )?;
    }
    let jobs = super::jobs(&config)?;
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let report = erasure::forget(&lake, &jobs, &request, |step| {
        tracing::info!(step, "erasure progress");
        bar.set_message(step.to_string());
    })
    .await?;
    bar.finish_and_clear();
    let mut evicted = 0;
    if let Some(url) = &config.serve.redis_url {
        evicted = strata_serve::online::evict_redis(
            url,
            &config.serve.redis_namespace,
            &project.views,
            &request.key,
            &request.value,
        )
        .await?;
    }
    audit(&lake, &request, &report).await?;
    println!(
        "{}",
        serde_json::json!({"erasure": report, "redis_views_evicted": evicted})
    );
    if !report.complete {
        let waiting: Vec<String> = report
            .purged
            .iter()
            .flat_map(|p| {
                p.waiting_for
                    .iter()
                    .map(move |j| format!("{j} ({})", p.table))
            })
            .collect();
        bail!(
            "rows erased, but the log of some tables is kept for jobs that have not read it yet: {}; run `strata forget {}` again once they caught up",
            waiting.join(", "),
            args.entity
        );
    }
    Ok(())
}

/// The audit record: the hash of `key=value` (never the value), the tables and rows.
async fn audit(
    lake: &strata_pipelines::Lake,
    request: &Request,
    report: &ErasureReport,
) -> Result<()> {
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    let event = super::admin_event("forget")
        .objects(report.tables.iter().map(|t| t.table.as_str()))
        .rows(rows)
        .query(&format!("{}={}", request.key, request.value))
        .outcome(
            if report.complete { "ok" } else { "partial" },
            format!(
                "{} erased{}: {} rows in {} tables, {} Gold jobs recomputed, {} tables purged",
                request.key,
                if report.resumed { " (resumed)" } else { "" },
                rows,
                report.tables.len(),
                report.recomputed.len(),
                report.purged.len()
            ),
        );
    strata_pipelines::audit::append(lake, &[event]).await?;
    Ok(())
}
