//! Orchestrator telemetry, rendered as Prometheus text next to the ingest metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;

use crate::runs::{RunRecord, RunStatus};
use crate::{Error, Result};

#[derive(Debug, Default)]
struct State {
    passes: u64,
    /// When the running pass started and the last one ended.
    pass_started: Option<std::time::Instant>,
    pass_ended: Option<std::time::Instant>,
    runs: BTreeMap<(String, &'static str), u64>,
    retries: BTreeMap<String, u64>,
    duration_ms_sum: BTreeMap<String, u64>,
    duration_count: BTreeMap<String, u64>,
    last_duration_ms: BTreeMap<String, u64>,
    rows_written: BTreeMap<String, u64>,
    failing: BTreeMap<String, bool>,
    freshness_s: BTreeMap<String, f64>,
    maintenance: BTreeMap<(String, &'static str), u64>,
    untyped: BTreeMap<(String, String), u64>,
}

/// Counters shared by the runner and the HTTP endpoint.
#[derive(Debug, Default)]
pub struct RunMetrics {
    state: Mutex<State>,
}

impl RunMetrics {
    fn with(&self, f: impl FnOnce(&mut State)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }

    pub fn pass(&self) {
        self.with(|s| {
            s.passes += 1;
            s.pass_ended = Some(std::time::Instant::now());
        });
    }

    pub fn pass_started(&self) {
        self.with(|s| s.pass_started = Some(std::time::Instant::now()));
    }

    /// Why the scheduler is not ready, if it is not: no pass has finished yet, or none has
    /// started or ended for `stale` (a stuck scheduler).
    pub fn not_ready(&self, stale: std::time::Duration) -> Option<String> {
        let Ok(s) = self.state.lock() else {
            return Some("metrics unavailable".into());
        };
        let Some(ended) = s.pass_ended else {
            return Some("the first scheduler pass has not finished".into());
        };
        let last = s.pass_started.map_or(ended, |st| st.max(ended));
        (last.elapsed() > stale).then(|| {
            format!(
                "no scheduler pass started or ended for {} s",
                last.elapsed().as_secs()
            )
        })
    }

    pub fn retry(&self, job: &str) {
        self.with(|s| *s.retries.entry(job.to_string()).or_default() += 1);
    }

    pub fn record(&self, r: &RunRecord, output: &str) {
        self.with(|s| {
            *s.runs
                .entry((r.job.clone(), r.status.as_str()))
                .or_default() += 1;
            s.failing
                .insert(r.job.clone(), r.status != RunStatus::Succeeded);
            if r.status == RunStatus::Blocked {
                return;
            }
            let ms = u64::try_from(r.duration_ms()).unwrap_or(0);
            *s.duration_ms_sum.entry(r.job.clone()).or_default() += ms;
            *s.duration_count.entry(r.job.clone()).or_default() += 1;
            s.last_duration_ms.insert(r.job.clone(), ms);
            if r.output_version.is_some() {
                *s.rows_written.entry(output.to_string()).or_default() += r.rows_out;
            }
        });
    }

    /// Values a job stored as NULL because its column type cannot hold them.
    pub fn untyped(&self, table: &str, values: &[(String, u64)]) {
        self.with(|s| {
            for (column, n) in values {
                *s.untyped
                    .entry((table.to_string(), column.clone()))
                    .or_default() += n;
            }
        });
    }

    pub fn set_freshness(&self, table: &str, seconds: f64) {
        self.with(|s| {
            s.freshness_s.insert(table.to_string(), seconds);
        });
    }

    pub fn maintenance(&self, table: &str, action: &'static str) {
        self.with(|s| {
            *s.maintenance
                .entry((table.to_string(), action))
                .or_default() += 1
        });
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(s) = self.state.lock() else {
            return out;
        };
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "strata_run_passes_total",
            "counter",
            "Scheduler passes over the job graph.",
        );
        let _ = writeln!(out, "strata_run_passes_total {}", s.passes);
        head(
            &mut out,
            "strata_job_runs_total",
            "counter",
            "Job runs by outcome (succeeded, failed, blocked).",
        );
        for ((job, status), v) in &s.runs {
            let _ = writeln!(
                out,
                "strata_job_runs_total{{job=\"{job}\",status=\"{status}\"}} {v}"
            );
        }
        head(
            &mut out,
            "strata_job_retries_total",
            "counter",
            "Retried attempts after a retryable failure.",
        );
        for (job, v) in &s.retries {
            let _ = writeln!(out, "strata_job_retries_total{{job=\"{job}\"}} {v}");
        }
        head(
            &mut out,
            "strata_job_duration_milliseconds",
            "summary",
            "Job run durations.",
        );
        for (job, v) in &s.duration_ms_sum {
            let c = s.duration_count.get(job).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "strata_job_duration_milliseconds_sum{{job=\"{job}\"}} {v}"
            );
            let _ = writeln!(
                out,
                "strata_job_duration_milliseconds_count{{job=\"{job}\"}} {c}"
            );
        }
        head(
            &mut out,
            "strata_job_last_duration_milliseconds",
            "gauge",
            "Duration of each job's last run.",
        );
        for (job, v) in &s.last_duration_ms {
            let _ = writeln!(
                out,
                "strata_job_last_duration_milliseconds{{job=\"{job}\"}} {v}"
            );
        }
        head(
            &mut out,
            "strata_job_failing",
            "gauge",
            "1 while a job's last run failed or was blocked.",
        );
        for (job, v) in &s.failing {
            let _ = writeln!(out, "strata_job_failing{{job=\"{job}\"}} {}", u8::from(*v));
        }
        head(
            &mut out,
            "strata_table_rows_written_total",
            "counter",
            "Rows written by jobs, per output table.",
        );
        for (t, v) in &s.rows_written {
            let _ = writeln!(out, "strata_table_rows_written_total{{table=\"{t}\"}} {v}");
        }
        head(
            &mut out,
            "strata_table_freshness_seconds",
            "gauge",
            "How long a table has been behind its inputs (0: caught up).",
        );
        for (t, v) in &s.freshness_s {
            let _ = writeln!(
                out,
                "strata_table_freshness_seconds{{table=\"{t}\"}} {v:.3}"
            );
        }
        head(
            &mut out,
            "strata_maintenance_total",
            "counter",
            "Maintenance actions per table (compact, checkpoint, vacuum).",
        );
        for ((t, a), v) in &s.maintenance {
            let _ = writeln!(
                out,
                "strata_maintenance_total{{table=\"{t}\",action=\"{a}\"}} {v}"
            );
        }
        head(
            &mut out,
            "strata_untyped_values_total",
            "counter",
            "Event values stored as NULL because the column's type cannot hold them.",
        );
        for ((t, c), v) in &s.untyped {
            let _ = writeln!(
                out,
                "strata_untyped_values_total{{table=\"{t}\",column=\"{c}\"}} {v}"
            );
        }
        out
    }
}

/// Anything that renders Prometheus text.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// `/metrics` (every renderer, concatenated) and `/healthz`.
pub fn router(renderers: Vec<Render>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || {
                let r = renderers.clone();
                async move { r.iter().map(|f| f()).collect::<String>() }
            }),
        )
}

/// Serve `extra` routes beside `/metrics` and `/healthz` in the background.
pub async fn serve_with(
    addr: &str,
    limits: strata_pipelines::http::HttpServerLimits,
    renderers: Vec<Render>,
    extra: Router,
) -> Result<SocketAddr> {
    let err = |source| Error::Metrics {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    let app = router(renderers).merge(extra);
    tokio::spawn(strata_pipelines::http::serve(listener, app, limits));
    Ok(local)
}

/// Serve `/metrics` (every renderer, concatenated) and `/healthz` in the background.
pub async fn serve(addr: &str, renderers: Vec<Render>) -> Result<SocketAddr> {
    serve_with(addr, Default::default(), renderers, Router::new()).await
}
