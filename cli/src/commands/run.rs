use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use strata_ingest::{Ingestor, Metrics};
use strata_orchestration::maintain::maintain_table;
use strata_orchestration::metrics::Render;
use strata_orchestration::{PassReport, RunMetrics, RunStatus, Runner};
use strata_pipelines::Lake;
use tracing::{info, warn};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// One pass: ingest until caught up, run every job whose inputs advanced, exit.
    #[arg(long)]
    once: bool,
    /// Pause between passes in continuous mode (ms).
    #[arg(long, env = "STRATA_RUN_INTERVAL_MS")]
    interval_ms: Option<u64>,
    /// Refinement only: do not consume Kafka in this process.
    #[arg(long)]
    no_ingest: bool,
    /// Address for /metrics and /healthz (port 0: any free port).
    #[arg(long, env = "STRATA_RUN_METRICS_ADDR")]
    metrics_addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Delete every Silver and Gold table and rebuild them from Bronze. Without it, replay
    /// only says what it would delete.
    #[arg(long)]
    yes: bool,
}

pub fn runner(lake: &Lake, config: &Config, metrics: Arc<RunMetrics>) -> Result<Runner> {
    Ok(Runner::new(
        lake.clone(),
        super::jobs(config)?,
        config.run.settings(),
        metrics,
    )?)
}

/// One line per job run, for people.
pub fn print(report: &PassReport) {
    for r in &report.runs {
        let outcome = match (r.status, r.output_version) {
            (RunStatus::Succeeded, Some(v)) => format!("-> v{v}"),
            (RunStatus::Succeeded, None) => "up to date".into(),
            (RunStatus::Failed, _) => format!(
                "FAILED after {} attempt(s): {}",
                r.attempts,
                r.error.as_ref().map_or(String::new(), ToString::to_string)
            ),
            (RunStatus::Blocked, _) => "blocked (an upstream job failed)".into(),
        };
        let inputs: Vec<String> = r
            .input_versions
            .iter()
            .map(|(t, v)| format!("{t}@v{v}"))
            .collect();
        println!(
            "{:<28} {:<10} {:>8} in {:>8} out  {:<6} {}",
            r.job,
            format!("{} ms", r.duration_ms()),
            r.rows_in,
            r.rows_out,
            outcome,
            if inputs.is_empty() {
                String::new()
            } else {
                format!("[{}]", inputs.join(", "))
            }
        );
    }
}

/// An error naming the jobs of `report` that failed or were blocked, if any.
pub fn fail_on_errors(report: &PassReport) -> Result<()> {
    let failed = report.failed();
    if failed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = failed.iter().map(|r| r.job.as_str()).collect();
    bail!(
        "{} job(s) failed or were blocked: {}",
        failed.len(),
        names.join(", ")
    )
}

/// Every job once (whatever has new input), for `replay` and the demo.
pub async fn pass(lake: &Lake, config: &Config) -> Result<PassReport> {
    let mut runner = runner(lake, config, Arc::new(RunMetrics::default()))?;
    Ok(runner.pass().await?)
}

pub async fn run(args: RunArgs, mut config: Config) -> Result<()> {
    if let Some(ms) = args.interval_ms {
        config.run.interval_ms = ms;
    }
    if let Some(a) = args.metrics_addr {
        config.run.metrics_addr = a;
    }
    let lake = super::lake(&config)?;
    let ingest = !args.no_ingest;
    if !ingest {
        lake.require_exists()?;
    }
    let ingest_metrics = Arc::new(Metrics::default());
    let run_metrics = Arc::new(RunMetrics::default());
    // Held to the end: ingest follows the registry while this command runs.
    let mut _following = None;
    let ingestor = if ingest {
        let (inspector, following) = super::following_inspector(&config).await?;
        _following = Some(following);
        Some(
            Ingestor::new(
                lake.clone(),
                config.kafka.clone(),
                config.ingest.clone(),
                inspector,
                ingest_metrics.clone(),
            )?
            .until_caught_up(args.once),
        )
    } else {
        None
    };

    if args.once {
        if let Some(ingestor) = ingestor {
            let summary = ingestor.run(super::shutdown_signal()).await?;
            info!(rows = summary.rows_written, "ingest caught up");
        }
        let mut runner = runner(&lake, &config, run_metrics)?;
        let report = runner.pass().await?;
        print(&report);
        super::alerting::Alerts::new(&config)
            .after_pass(&lake, &config, &report)
            .await;
        return fail_on_errors(&report);
    }

    let renderers: Vec<Render> = {
        let (i, r) = (ingest_metrics.clone(), run_metrics.clone());
        vec![Arc::new(move || i.render()), Arc::new(move || r.render())]
    };
    let project = super::project(&config)?;
    let tokens = config.serve.http_tokens(&project)?;
    let addr =
        strata_orchestration::metrics::serve_with(
            &config.run.metrics_addr,
            config.serve.http_limits(),
            renderers,
            strata_serve::dashboard::protected_routes(
                lake.clone(),
                project,
                tokens,
                Some(strata_pipelines::AuditLog::start(
                    lake.clone(),
                    super::AUDIT_FLUSH,
                )),
            )
            .route("/readyz", {
                // Ready once a pass has finished, until none starts or ends for 15 minutes.
                let m = run_metrics.clone();
                axum::routing::get(move || {
                    let m = m.clone();
                    async move {
                        strata_pipelines::http::readiness(m.not_ready(Duration::from_secs(900)))
                    }
                })
            }),
        )
        .await?;
    info!(%addr, "metrics on http://{addr}/metrics, dashboard on http://{addr}/dashboard");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ingest_task = ingestor.map(|ingestor| {
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            ingestor
                .run(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await
        })
    });

    let mut runner = runner(&lake, &config, run_metrics.clone())?;
    let mut alerts = super::alerting::Alerts::new(&config);
    let interval = Duration::from_millis(config.run.interval_ms.max(10));
    let maintenance = config.maintenance.settings();
    let maintain_every = Duration::from_secs(config.maintenance.interval_s);
    let mut last_maintenance = Instant::now();
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    let result: Result<()> = loop {
        if ingest_task.as_ref().is_some_and(|t| t.is_finished()) {
            break Err(anyhow::anyhow!("ingest stopped unexpectedly"));
        }
        match runner.pass().await {
            Ok(report) => alerts.after_pass(&lake, &config, &report).await,
            // The lake itself is unreadable: say so and keep trying.
            Err(e) => warn!(error = %e, "scheduler pass failed"),
        }
        if !maintain_every.is_zero() && last_maintenance.elapsed() >= maintain_every {
            last_maintenance = Instant::now();
            let tables = match lake.discover().await {
                Ok(t) => t,
                Err(e) => {
                    warn!(error = %e, "cannot list the lake's tables for maintenance");
                    Vec::new()
                }
            };
            for table in tables {
                match maintain_table(&lake, &table, &maintenance).await {
                    Ok(r) => {
                        if r.files_compacted > 0 {
                            run_metrics.maintenance(&r.table, "compact");
                        }
                        if r.checkpoint_version.is_some() {
                            run_metrics.maintenance(&r.table, "checkpoint");
                        }
                        if r.files_vacuumed > 0 {
                            run_metrics.maintenance(&r.table, "vacuum");
                        }
                    }
                    Err(e) => warn!(table = %table, error = %e, "maintenance failed"),
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    };
    let _ = stop_tx.send(true);
    if let Some(task) = ingest_task {
        match task.await {
            Ok(Ok(summary)) => info!(rows = summary.rows_written, "ingest stopped"),
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => bail!("ingest task ended abnormally: {e}"),
        }
    }
    result
}

/// Rebuild every table above Bronze from scratch: remove them, then run every job.
pub async fn replay(args: ReplayArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    let doomed: Vec<String> = lake
        .discover()
        .await?
        .into_iter()
        .filter(|t| t.layer == "silver" || t.layer == "gold")
        .map(|t| t.to_string())
        .collect();
    if !args.yes {
        bail!(
            "replay deletes {} and rebuilds them from Bronze; run again with --yes to do so",
            if doomed.is_empty() {
                "every Silver and Gold table (none exist yet)".to_string()
            } else {
                doomed.join(", ")
            }
        );
    }
    super::audit_admin(
        &lake,
        "replay",
        &doomed,
        "Silver and Gold dropped and rebuilt from Bronze".into(),
    )
    .await?;
    for layer in ["silver", "gold"] {
        lake.drop_layer(layer).await?;
    }
    let report = pass(&lake, &config).await?;
    print(&report);
    if let Some((cpu_s, rss_mib)) = process_usage() {
        println!("replay used {cpu_s:.1} CPU-s, peak RSS {rss_mib:.0} MiB");
    }
    fail_on_errors(&report)
}

/// This process' CPU seconds (user + system) and peak RSS in MiB, from /proc (Linux; the
/// kernel reports CPU in USER_HZ ticks, 100 per second).
fn process_usage() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    let cpu_s = (ticks(14)? + ticks(15)?) / 100.0;
    let rss_kib = strata_ingest::consumer::peak_rss_kib()? as f64;
    Some((cpu_s, rss_kib / 1024.0))
}

/// The figures of `replay`'s usage line.
pub fn parse_usage_line(line: &str) -> Option<(f64, f64)> {
    let rest = line.strip_prefix("replay used ")?;
    let (cpu, rest) = rest.split_once(" CPU-s, peak RSS ")?;
    let rss = rest.strip_suffix(" MiB")?;
    Some((cpu.parse().ok()?, rss.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_line_reads_back() {
        let (cpu, rss) = process_usage().expect("/proc is readable");
        assert!(cpu >= 0.0 && rss > 1.0, "cpu {cpu}, rss {rss}");
        let line = format!("replay used {cpu:.1} CPU-s, peak RSS {rss:.0} MiB");
        let (c, r) = parse_usage_line(&line).unwrap();
        assert!((c - cpu).abs() < 0.1 && (r - rss).abs() < 1.0, "{line}");
        assert_eq!(parse_usage_line("silver.missions 12 ms"), None);
    }
}
