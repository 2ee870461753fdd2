//! Bronze commits run beside consumption: while one batch is written (validated, encoded as
//! Parquet, committed), the next one is read from Kafka. At most one commit is in flight, so
//! memory holds two batches at most, and small batches keep the throughput of large ones.
//!
//! Exactly-once does not depend on the overlap: a commit re-reads the offsets Bronze stores
//! and drops what is already there, so a rebalance that re-reads records whose commit was still
//! in flight only skips them later.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use strata_bronze::{BronzeWriter, CommitReport, RawRecord};
use strata_quality::Inspector;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::{COMMIT_ATTEMPTS, IngestContext, IngestSummary};
use crate::{Error, Metrics, Result};

/// What a commit task hands back: the writer (with the table state after its commit) and how
/// the commit went.
struct Landed {
    writer: BronzeWriter,
    outcome: Result<CommitReport>,
    took: Duration,
}

/// Owns the Bronze writer; lends it to one commit task at a time.
pub(super) struct Committer {
    writer: Option<BronzeWriter>,
    in_flight: Option<JoinHandle<Landed>>,
    inspector: Arc<Inspector>,
    metrics: Arc<Metrics>,
}

impl Committer {
    pub(super) fn new(
        writer: BronzeWriter,
        inspector: Arc<Inspector>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            writer: Some(writer),
            in_flight: None,
            inspector,
            metrics,
        }
    }

    /// Start committing `records` once the commit before them has landed.
    pub(super) async fn start(
        &mut self,
        consumer: &StreamConsumer<IngestContext>,
        records: Vec<RawRecord>,
        summary: &mut IngestSummary,
    ) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.settle(consumer, summary).await?;
        let writer = self.writer.take().ok_or_else(lost_writer)?;
        let task = commit_with_retries(
            writer,
            records,
            self.inspector.clone(),
            self.metrics.clone(),
        );
        self.in_flight = Some(tokio::spawn(task));
        Ok(())
    }

    /// The writer, after the commit in flight (if any) has landed: lag and caught-up checks
    /// must see what was just written.
    pub(super) async fn writer(
        &mut self,
        consumer: &StreamConsumer<IngestContext>,
        summary: &mut IngestSummary,
    ) -> Result<&mut BronzeWriter> {
        self.settle(consumer, summary).await?;
        self.writer.as_mut().ok_or_else(lost_writer)
    }

    /// The table version of the last commit that landed.
    pub(super) fn version(&self) -> Option<u64> {
        self.writer.as_ref().and_then(BronzeWriter::version)
    }

    /// Wait for the commit in flight; account for it and report its offsets to Kafka.
    pub(super) async fn settle(
        &mut self,
        consumer: &StreamConsumer<IngestContext>,
        summary: &mut IngestSummary,
    ) -> Result<()> {
        let Some(task) = self.in_flight.take() else {
            return Ok(());
        };
        let landed = task.await.map_err(|e| Error::CommitTask(e.to_string()))?;
        self.writer = Some(landed.writer);
        let report = landed.outcome?;
        self.account(&report, landed.took, summary);
        // Kafka offsets only feed lag monitoring; Bronze's txn actions are the truth.
        let mut tpl = TopicPartitionList::new();
        for (key, offset) in &report.last_offsets {
            let _ = tpl.add_partition_offset(&key.topic, key.partition, Offset::Offset(offset + 1));
        }
        if tpl.count() > 0
            && let Err(e) = consumer.commit(&tpl, CommitMode::Async)
        {
            debug!(error = %e, "kafka offset commit failed (lag only)");
        }
        Ok(())
    }

    fn account(&self, report: &CommitReport, took: Duration, summary: &mut IngestSummary) {
        let m = &self.metrics;
        m.commit_duration_us_total.inc_by(took.as_micros() as u64);
        m.rows_valid.inc_by(report.valid as u64);
        m.rows_invalid.inc_by(report.invalid as u64);
        m.records_already_committed
            .inc_by(report.already_committed as u64);
        m.commit_conflicts.inc_by(u64::from(report.conflicts));
        summary.rows_written += report.rows as u64;
        summary.rows_valid += report.valid as u64;
        summary.rows_invalid += report.invalid as u64;
        summary.already_committed += report.already_committed as u64;
        summary.conflicts += u64::from(report.conflicts);
        if report.version.is_some() {
            m.commits.inc();
            summary.commits += 1;
            m.last_commit_unix_ms
                .set(chrono::Utc::now().timestamp_millis());
        }
        info!(version = ?report.version, rows = report.rows, valid = report.valid, invalid = report.invalid,
              skipped = report.already_committed, ms = took.as_millis() as u64, "bronze batch committed");
    }
}

/// The writer is gone only after a commit task panicked.
fn lost_writer() -> Error {
    Error::CommitTask("the Bronze writer was lost by a commit task that panicked".into())
}

/// The commit task: the batch into Bronze, handing the writer back however it went.
async fn commit_with_retries(
    mut writer: BronzeWriter,
    records: Vec<RawRecord>,
    inspector: Arc<Inspector>,
    metrics: Arc<Metrics>,
) -> Landed {
    let t0 = Instant::now();
    let outcome = commit(&mut writer, records, &inspector, &metrics).await;
    Landed {
        writer,
        outcome,
        took: t0.elapsed(),
    }
}

/// One batch into Bronze, retrying what may succeed on a second try (a lost connection to the
/// object store, a conflict storm).
async fn commit(
    writer: &mut BronzeWriter,
    records: Vec<RawRecord>,
    inspector: &Inspector,
    metrics: &Metrics,
) -> Result<CommitReport> {
    if let Some(registry) = inspector.registry() {
        registry
            .prefetch(records.iter().map(|r| r.value.as_deref()))
            .await;
    }
    let prepared = writer.prepare(records)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match writer.commit_prepared(&prepared).await {
            Ok(r) => {
                metrics.last_commit_failed.store(false, Ordering::Relaxed);
                return Ok(r);
            }
            Err(e) if e.is_retryable() && attempt < COMMIT_ATTEMPTS => {
                metrics.last_commit_failed.store(true, Ordering::Relaxed);
                metrics.commit_errors.inc();
                let backoff = Duration::from_millis(200 * 2u64.pow(attempt));
                warn!(error = %e, attempt, ?backoff, "bronze commit failed; retrying");
                tokio::time::sleep(backoff).await;
            }
            Err(e) => {
                metrics.commit_errors.inc();
                return Err(e.into());
            }
        }
    }
}
