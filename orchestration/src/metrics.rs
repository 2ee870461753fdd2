//! Orchestrator telemetry (the `prometheus` crate), rendered next to the ingest metrics.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use strata_pipelines::telemetry::{
    self, GaugeVec, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Registry,
};

use crate::runs::{RunRecord, RunStatus};
use crate::{Error, Result};

/// When the running pass started and the last one ended (readiness).
#[derive(Debug, Default)]
struct Passes {
    started: Option<Instant>,
    ended: Option<Instant>,
}

/// Counters shared by the runner and the HTTP endpoint.
#[derive(Debug)]
pub struct RunMetrics {
    registry: Registry,
    passes: IntCounter,
    runs: IntCounterVec,
    retries: IntCounterVec,
    duration_ms: HistogramVec,
    last_duration_ms: IntGaugeVec,
    failing: IntGaugeVec,
    rows_written: IntCounterVec,
    freshness_s: GaugeVec,
    maintenance: IntCounterVec,
    untyped: IntCounterVec,
    pass_times: Mutex<Passes>,
}

impl Default for RunMetrics {
    fn default() -> Self {
        let r = Registry::new();
        let job = &["job"];
        let table = &["table"];
        Self {
            passes: telemetry::counter(
                &r,
                "strata_run_passes_total",
                "Scheduler passes over the job graph.",
            ),
            runs: telemetry::counter_vec(
                &r,
                "strata_job_runs_total",
                "Job runs by outcome (succeeded, failed, blocked).",
                &["job", "status"],
            ),
            retries: telemetry::counter_vec(
                &r,
                "strata_job_retries_total",
                "Retried attempts after a retryable failure.",
                job,
            ),
            duration_ms: telemetry::histogram_vec(
                &r,
                "strata_job_duration_milliseconds",
                "Job run durations.",
                job,
                vec![
                    10.0, 50.0, 100.0, 250.0, 500.0, 1e3, 2.5e3, 5e3, 1e4, 3e4, 6e4, 3e5, 9e5,
                ],
            ),
            last_duration_ms: telemetry::gauge_vec(
                &r,
                "strata_job_last_duration_milliseconds",
                "Duration of each job's last run.",
                job,
            ),
            failing: telemetry::gauge_vec(
                &r,
                "strata_job_failing",
                "1 while a job's last run failed or was blocked.",
                job,
            ),
            rows_written: telemetry::counter_vec(
                &r,
                "strata_table_rows_written_total",
                "Rows written by jobs, per output table.",
                table,
            ),
            freshness_s: telemetry::float_gauge_vec(
                &r,
                "strata_table_freshness_seconds",
                "How long a table has been behind its inputs (0: caught up).",
                table,
            ),
            maintenance: telemetry::counter_vec(
                &r,
                "strata_maintenance_total",
                "Maintenance actions per table (compact, checkpoint, vacuum).",
                &["table", "action"],
            ),
            untyped: telemetry::counter_vec(
                &r,
                "strata_untyped_values_total",
                "Event values stored as NULL because the column's type cannot hold them.",
                &["table", "column"],
            ),
            registry: r,
            pass_times: Mutex::new(Passes::default()),
        }
    }
}

impl RunMetrics {
    fn times(&self) -> std::sync::MutexGuard<'_, Passes> {
        self.pass_times
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn pass(&self) {
        self.passes.inc();
        self.times().ended = Some(Instant::now());
    }

    pub fn pass_started(&self) {
        self.times().started = Some(Instant::now());
    }

    /// Why the scheduler is not ready, if it is not: no pass has finished yet, or none has
    /// started or ended for `stale` (a stuck scheduler).
    pub fn not_ready(&self, stale: Duration) -> Option<String> {
        let t = self.times();
        let Some(ended) = t.ended else {
            return Some("the first scheduler pass has not finished".into());
        };
        let last = t.started.map_or(ended, |st| st.max(ended));
        (last.elapsed() > stale).then(|| {
            format!(
                "no scheduler pass started or ended for {} s",
                last.elapsed().as_secs()
            )
        })
    }

    pub fn retry(&self, job: &str) {
        self.retries.with_label_values(&[job]).inc();
    }

    pub fn record(&self, r: &RunRecord, output: &str) {
        let job = r.job.as_str();
        self.runs.with_label_values(&[job, r.status.as_str()]).inc();
        self.failing
            .with_label_values(&[job])
            .set(i64::from(r.status != RunStatus::Succeeded));
        if r.status == RunStatus::Blocked {
            return;
        }
        let ms = r.duration_ms().max(0);
        self.duration_ms
            .with_label_values(&[job])
            .observe(ms as f64);
        self.last_duration_ms.with_label_values(&[job]).set(ms);
        if r.output_version.is_some() {
            self.rows_written
                .with_label_values(&[output])
                .inc_by(r.rows_out);
        }
    }

    /// Values a job stored as NULL because its column type cannot hold them.
    pub fn untyped(&self, table: &str, values: &[(String, u64)]) {
        for (column, n) in values {
            self.untyped.with_label_values(&[table, column]).inc_by(*n);
        }
    }

    pub fn set_freshness(&self, table: &str, seconds: f64) {
        self.freshness_s.with_label_values(&[table]).set(seconds);
    }

    pub fn maintenance(&self, table: &str, action: &'static str) {
        self.maintenance.with_label_values(&[table, action]).inc();
    }

    pub fn render(&self) -> String {
        telemetry::render(&self.registry)
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
