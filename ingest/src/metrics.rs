//! Ingest telemetry (the `prometheus` crate), rendered on `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::routing::get;
use strata_pipelines::telemetry::{self, IntCounter, IntGauge, IntGaugeVec, Registry};

use crate::{Error, Result};

/// Counters shared by the consumer loop and the HTTP endpoint.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub records_consumed: IntCounter,
    pub rows_valid: IntCounter,
    pub rows_invalid: IntCounter,
    pub records_already_committed: IntCounter,
    pub commits: IntCounter,
    pub commit_conflicts: IntCounter,
    pub commit_errors: IntCounter,
    pub rebalances: IntCounter,
    pub commit_duration_us_total: IntCounter,
    pub last_commit_unix_ms: IntGauge,
    lag: IntGaugeVec,
    /// Unix ms of the consumer loop's last turn (readiness: the member is alive).
    pub last_loop_unix_ms: AtomicU64,
    /// Whether the last Bronze commit attempt failed (readiness: it can write).
    pub last_commit_failed: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::new();
        let c = |name: &str, help: &str| telemetry::counter(&r, name, help);
        Self {
            records_consumed: c(
                "strata_ingest_records_consumed_total",
                "Kafka records received from the broker.",
            ),
            rows_valid: c(
                "strata_ingest_rows_valid_total",
                "Valid rows committed to bronze.events.",
            ),
            rows_invalid: c(
                "strata_ingest_rows_invalid_total",
                "Invalid rows committed to bronze.events (the quarantine).",
            ),
            records_already_committed: c(
                "strata_ingest_records_already_committed_total",
                "Records skipped because bronze.events already held them.",
            ),
            commits: c(
                "strata_ingest_commits_total",
                "Delta commits to bronze.events.",
            ),
            commit_conflicts: c(
                "strata_ingest_commit_conflicts_total",
                "Commits lost to another writer of the same partitions and re-planned.",
            ),
            commit_errors: c(
                "strata_ingest_commit_errors_total",
                "Failed commit attempts.",
            ),
            rebalances: c(
                "strata_ingest_rebalances_total",
                "Partition assignments and revocations.",
            ),
            commit_duration_us_total: c(
                "strata_ingest_commit_duration_microseconds_total",
                "Time spent committing batches.",
            ),
            last_commit_unix_ms: telemetry::gauge(
                &r,
                "strata_ingest_last_commit_timestamp_ms",
                "Unix time of the last Bronze commit.",
            ),
            lag: telemetry::gauge_vec(
                &r,
                "strata_ingest_consumer_lag",
                "Records in the partition not yet in bronze.events.",
                &["topic", "partition"],
            ),
            registry: r,
            last_loop_unix_ms: AtomicU64::new(0),
            last_commit_failed: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag);
    }
    /// The consumer loop turned (it does at least every half second while it runs).
    pub fn alive(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        self.last_loop_unix_ms
            .store(u64::try_from(now).unwrap_or(0), Ordering::Relaxed);
    }

    /// Why this member is not ready, if it is not: its loop has not turned for 30 s (stuck,
    /// or not started), or its last Bronze commit failed.
    pub fn not_ready(&self) -> Option<String> {
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let last = self.last_loop_unix_ms.load(Ordering::Relaxed);
        if last == 0 {
            return Some("the consumer has not started".into());
        }
        if now.saturating_sub(last) > 30_000 {
            return Some(format!(
                "the consumer loop has not turned for {} s",
                now.saturating_sub(last) / 1000
            ));
        }
        self.last_commit_failed
            .load(Ordering::Relaxed)
            .then(|| "the last commit to bronze.events failed; retrying".into())
    }

    pub fn clear_lag(&self) {
        self.lag.reset();
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        telemetry::render(&self.registry)
    }
}

/// Serve `/metrics` and `/healthz` until the process ends. Returns the bound address.
pub async fn serve(
    metrics: Arc<Metrics>,
    addr: &str,
    limits: strata_pipelines::http::HttpServerLimits,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Metrics {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Metrics {
        addr: addr.to_string(),
        source,
    })?;
    let ready = metrics.clone();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let m = ready.clone();
                async move { strata_pipelines::http::readiness(m.not_ready()) }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { m.render() }
            }),
        );
    tokio::spawn(strata_pipelines::http::serve(listener, app, limits));
    Ok(local)
}
