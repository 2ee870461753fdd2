//! Ingest telemetry: counters rendered as Prometheus text on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::get;

use crate::{Error, Result};

/// Counters shared by the consumer loop and the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    pub records_consumed: AtomicU64,
    pub rows_valid: AtomicU64,
    pub rows_invalid: AtomicU64,
    pub records_already_committed: AtomicU64,
    pub commits: AtomicU64,
    pub commit_conflicts: AtomicU64,
    pub commit_errors: AtomicU64,
    pub batches_dropped_on_rebalance: AtomicU64,
    pub rebalances: AtomicU64,
    pub last_commit_unix_ms: AtomicU64,
    pub commit_duration_us_total: AtomicU64,
    /// Unix ms of the consumer loop's last turn (readiness: the member is alive).
    pub last_loop_unix_ms: AtomicU64,
    /// Whether the last Bronze commit attempt failed (readiness: it can write).
    pub last_commit_failed: std::sync::atomic::AtomicBool,
    lag: Mutex<BTreeMap<(String, i32), i64>>,
}

impl Metrics {
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        if let Ok(mut m) = self.lag.lock() {
            m.insert((topic.to_string(), partition), lag);
        }
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
        if let Ok(mut m) = self.lag.lock() {
            m.clear();
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            "strata_ingest_records_consumed_total",
            "Kafka records received from the broker.",
            g(&self.records_consumed),
        );
        counter(
            "strata_ingest_rows_valid_total",
            "Valid rows committed to bronze.events.",
            g(&self.rows_valid),
        );
        counter(
            "strata_ingest_rows_invalid_total",
            "Invalid rows committed to bronze.events (the quarantine).",
            g(&self.rows_invalid),
        );
        counter(
            "strata_ingest_records_already_committed_total",
            "Records skipped because bronze.events already held them.",
            g(&self.records_already_committed),
        );
        counter(
            "strata_ingest_commits_total",
            "Delta commits to bronze.events.",
            g(&self.commits),
        );
        counter(
            "strata_ingest_commit_conflicts_total",
            "Commits lost to another writer of the same partitions and re-planned.",
            g(&self.commit_conflicts),
        );
        counter(
            "strata_ingest_commit_errors_total",
            "Failed commit attempts.",
            g(&self.commit_errors),
        );
        counter(
            "strata_ingest_rebalances_total",
            "Partition assignments and revocations.",
            g(&self.rebalances),
        );
        counter(
            "strata_ingest_commit_duration_microseconds_total",
            "Time spent committing batches.",
            g(&self.commit_duration_us_total),
        );
        let _ = writeln!(
            out,
            "# HELP strata_ingest_last_commit_timestamp_ms Unix time of the last Bronze commit.\n# TYPE strata_ingest_last_commit_timestamp_ms gauge\nstrata_ingest_last_commit_timestamp_ms {}",
            g(&self.last_commit_unix_ms)
        );
        let _ = writeln!(
            out,
            "# HELP strata_ingest_consumer_lag Records in the partition not yet in bronze.events.\n# TYPE strata_ingest_consumer_lag gauge"
        );
        if let Ok(lag) = self.lag.lock() {
            for ((topic, partition), v) in lag.iter() {
                let _ = writeln!(
                    out,
                    "strata_ingest_consumer_lag{{topic=\"{topic}\",partition=\"{partition}\"}} {v}"
                );
            }
        }
        out
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
