//! The consumer-group member that writes Bronze.
//!
//! Exactly once: Bronze's Delta log, not Kafka, holds the truth about what was written. On every
//! assignment the consumer positions each partition at the offset stored in `bronze.events` + 1;
//! on revocation it drops its unwritten batch (the next owner re-reads it from the same place);
//! every commit re-checks the stored offsets and Delta refuses concurrent commits of the same
//! partition. Kafka's committed offsets are written afterwards, for lag monitoring only.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;
use strata_bronze::{BronzeWriter, PartitionKey, RawRecord};
use strata_pipelines::Lake;
use strata_quality::Inspector;
use tracing::{debug, info, warn};

use crate::{Error, IngestConfig, KafkaConfig, Metrics, Result, admin};

mod commit;
mod lag;

use commit::Committer;

/// How often partition lag is refreshed from the broker's watermarks.
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// How long `--until-caught-up` waits with no partitions assigned before checking whether
/// other members have written every partition.
const EMPTY_GRACE: Duration = Duration::from_secs(10);
/// Commit attempts for retryable failures before giving up.
const COMMIT_ATTEMPTS: u32 = 5;

/// What one `strata ingest` run did; printed as JSON at exit.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub records_consumed: u64,
    pub rows_written: u64,
    pub rows_valid: u64,
    pub rows_invalid: u64,
    pub already_committed: u64,
    pub commits: u64,
    pub conflicts: u64,
    pub batches_dropped_on_rebalance: u64,
    pub table_version: Option<u64>,
    /// Peak resident memory of the process, KiB (Linux only).
    pub peak_rss_kib: Option<u64>,
    pub elapsed_s: f64,
}

/// Rebalance state shared between librdkafka's callback and the consumer loop.
struct IngestContext {
    lake: Lake,
    group: String,
    /// Where partitions this group never wrote start (see `start.rs`); others start at the
    /// beginning.
    start: BTreeMap<PartitionKey, Offset>,
    generation: AtomicU64,
    assignment: Mutex<Vec<PartitionKey>>,
    assigned_once: std::sync::atomic::AtomicBool,
    failure: Mutex<Option<String>>,
    metrics: Arc<Metrics>,
}

impl ClientContext for IngestContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        crate::client::log_to_tracing(level, fac, message);
    }

    // A TLS handshake or SASL login that fails shows up here, with librdkafka's reason.
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        warn!(%error, reason, "kafka client error");
    }
}

impl IngestContext {
    /// Read stored offsets from Delta. Runs on its own thread and runtime: the callback is
    /// synchronous and may be called from inside the caller's runtime.
    fn load_offsets(&self, keys: &[PartitionKey]) -> Result<BTreeMap<PartitionKey, Option<i64>>> {
        let lake = self.lake.clone();
        let group = self.group.clone();
        let keys = keys.to_vec();
        std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Rebalance(e.to_string()))?;
                rt.block_on(async move {
                    let table = lake
                        .open(&strata_bronze::events_table())
                        .await
                        .map_err(|e| Error::Rebalance(e.to_string()))?;
                    let mut out = BTreeMap::new();
                    let Some(table) = table else {
                        return Ok(keys.into_iter().map(|k| (k, None)).collect());
                    };
                    let snapshot = table
                        .snapshot()
                        .map_err(|e| Error::Rebalance(e.to_string()))?;
                    for key in keys {
                        let app_id = strata_bronze::offset_app_id(&group, &key);
                        let v = snapshot
                            .transaction_version(table.log_store().as_ref(), app_id)
                            .await
                            .map_err(|e| Error::Rebalance(e.to_string()))?;
                        out.insert(key, v);
                    }
                    Ok(out)
                })
            })
            .join()
            .map_err(|_| Error::Rebalance("offset loader thread panicked".into()))?
        })
    }
}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.metrics.rebalances.inc();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let keys: Vec<PartitionKey> = tpl
                    .elements()
                    .iter()
                    .map(|e| PartitionKey::new(e.topic(), e.partition()))
                    .collect();
                match self.load_offsets(&keys) {
                    Ok(stored) => {
                        for (key, offset) in &stored {
                            let position = match offset {
                                Some(o) => Offset::Offset(o + 1),
                                None => self.start.get(key).copied().unwrap_or(Offset::Beginning),
                            };
                            if let Err(e) =
                                tpl.set_partition_offset(&key.topic, key.partition, position)
                            {
                                warn!(partition = %key, error = %e, "cannot set start offset");
                            }
                        }
                        let positions: Vec<String> = stored
                            .iter()
                            .map(|(k, o)| match o {
                                Some(o) => format!("{k}@{}", o + 1),
                                None => format!("{k}@beginning"),
                            })
                            .collect();
                        info!(positions = %positions.join(" "), "partitions assigned; starting after the offsets stored in bronze.events");
                    }
                    Err(e) => {
                        if let Ok(mut f) = self.failure.lock() {
                            *f = Some(e.to_string());
                        }
                    }
                }
                if let Err(e) = base_consumer.assign(tpl)
                    && let Ok(mut f) = self.failure.lock()
                {
                    *f = Some(format!("assign failed: {e}"));
                }
                if let Ok(mut a) = self.assignment.lock() {
                    *a = keys;
                }
                self.assigned_once.store(true, Ordering::SeqCst);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!(
                    partitions = tpl.count(),
                    "partitions revoked; dropping the unwritten batch"
                );
                if let Err(e) = base_consumer.unassign() {
                    warn!(error = %e, "unassign failed");
                }
                if let Ok(mut a) = self.assignment.lock() {
                    a.clear();
                }
                self.metrics.clear_lag();
            }
            other => warn!(error = ?other, "rebalance error"),
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A configured ingest process: build with [`Ingestor::new`], run with [`Ingestor::run`].
pub struct Ingestor {
    lake: Lake,
    kafka: KafkaConfig,
    config: IngestConfig,
    inspector: Arc<Inspector>,
    metrics: Arc<Metrics>,
    until_caught_up: bool,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("lake", &self.lake.root().as_str())
            .field("kafka", &self.kafka)
            .finish()
    }
}

struct Batch {
    records: Vec<RawRecord>,
    bytes: usize,
    started: Option<Instant>,
}

impl Batch {
    fn clear(&mut self) {
        self.records.clear();
        self.bytes = 0;
        self.started = None;
    }

    /// The records, leaving an empty batch sized like the last one.
    fn take(&mut self) -> Vec<RawRecord> {
        let capacity = self.records.len();
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(capacity));
        self.clear();
        records
    }
}

fn to_raw<M: Message>(m: &M) -> RawRecord {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    RawRecord {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis(),
        key: m.key().map(<[u8]>::to_vec),
        headers,
        value: m.payload().map(<[u8]>::to_vec),
    }
}

/// Peak resident set size of this process in KiB, from /proc (Linux).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

impl Ingestor {
    pub fn new(
        lake: Lake,
        kafka: KafkaConfig,
        config: IngestConfig,
        inspector: Arc<Inspector>,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        kafka.validate()?;
        config.validate()?;
        Ok(Self {
            lake,
            kafka,
            config,
            inspector,
            metrics,
            until_caught_up: false,
        })
    }

    /// Exit once every assigned partition is written up to its end offset.
    pub fn until_caught_up(mut self, yes: bool) -> Self {
        self.until_caught_up = yes;
        self
    }

    /// The group member's settings: Strata's defaults under whatever `kafka.properties` and
    /// `kafka.secrets` set (TLS, SASL, tuning).
    fn client_config(&self) -> Result<ClientConfig> {
        let mut c = self.kafka.client_config()?;
        let defaults = [
            ("group.id", self.kafka.group.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("allow.auto.create.topics", "false"),
            // Eager assignors: a rebalance revokes everything, so dropping the whole batch
            // and re-seeking every partition from Delta is always correct.
            ("partition.assignment.strategy", "range,roundrobin"),
            // A dead member's partitions move after this long; Kafka's floor is 6 s.
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1000"),
            // Prefetch at most 8 MiB (a batch's worth), and fetch again 20 ms after the
            // queue was full instead of librdkafka's 1 s: with the 1 s back-off, a small
            // queue cost a third of the throughput from a 1M-record backlog; with 20 ms,
            // 8 MiB keeps the throughput of 32 MiB and ~30 MiB less memory.
            ("queued.max.messages.kbytes", "8192"),
            ("fetch.queue.backoff.ms", "20"),
        ];
        for (k, v) in defaults {
            if c.get(k).is_none() {
                c.set(k, v);
            }
        }
        // Exactly-once rests on these: offsets live in Bronze, never auto-committed.
        c.set("group.id", &self.kafka.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        Ok(c)
    }

    /// Consume until `shutdown` resolves (or, with `until_caught_up`, until caught up).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<IngestSummary> {
        let started = Instant::now();
        self.lake.ensure_root()?;
        admin::require_topics(&self.kafka, &self.kafka.topics)?;
        let mut writer =
            BronzeWriter::open(&self.lake, self.inspector.clone(), &self.kafka.group).await?;
        let partitions = admin::partitions_of(&self.kafka, &self.kafka.topics)?;
        let start = crate::start::new_group_positions(
            &self.lake,
            &mut writer,
            &self.kafka.group,
            &partitions,
            self.config.start_from,
        )
        .await?;
        if !start.is_empty() {
            info!(partitions = start.len(), policy = ?self.config.start_from, "a group new to these partitions: start positions set");
        }

        let context = IngestContext {
            lake: self.lake.clone(),
            group: self.kafka.group.clone(),
            start,
            generation: AtomicU64::new(0),
            assignment: Mutex::new(Vec::new()),
            assigned_once: std::sync::atomic::AtomicBool::new(false),
            failure: Mutex::new(None),
            metrics: self.metrics.clone(),
        };
        let consumer: StreamConsumer<IngestContext> = self
            .client_config()?
            .create_with_context(context)
            .map_err(Error::Client)?;
        let topics: Vec<&str> = self.kafka.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(Error::Client)?;
        info!(topics = ?self.kafka.topics, group = %self.kafka.group, lake = %self.lake.root(), "ingest started");

        let mut committer = Committer::new(writer, self.inspector.clone(), self.metrics.clone());
        let mut summary = IngestSummary::default();
        let mut batch = Batch {
            records: Vec::new(),
            bytes: 0,
            started: None,
        };
        let max_wait = Duration::from_millis(self.config.batch.max_wait_ms);
        let idle_poll = max_wait.min(Duration::from_millis(500));
        let mut seen_generation = 0u64;
        let mut last_lag = Instant::now() - LAG_INTERVAL;
        let mut empty_since: Option<Instant> = None;
        tokio::pin!(shutdown);

        loop {
            let wait = match batch.started {
                Some(s) => max_wait.saturating_sub(s.elapsed()),
                None => idle_poll,
            };
            let received = tokio::select! {
                _ = &mut shutdown => {
                    info!("shutdown requested; committing the current batch");
                    self.check_generation(&consumer, &mut seen_generation, &mut batch, &mut summary)?;
                    committer.start(&consumer, batch.take(), &mut summary).await?;
                    committer.settle(&consumer, &mut summary).await?;
                    break;
                }
                r = tokio::time::timeout(wait, consumer.recv()) => r,
            };
            self.check_generation(&consumer, &mut seen_generation, &mut batch, &mut summary)?;
            self.metrics.alive();
            let timed_out = received.is_err();
            match received {
                Ok(Ok(message)) => {
                    let record = to_raw(&message);
                    summary.records_consumed += 1;
                    self.metrics.records_consumed.inc();
                    batch.bytes += record.size_bytes();
                    batch.records.push(record);
                    batch.started.get_or_insert_with(Instant::now);
                }
                Ok(Err(e)) => warn!(error = %e, "kafka consumer error"),
                Err(_) => {}
            }
            let full = batch.records.len() >= self.config.batch.max_records
                || batch.bytes >= self.config.batch.max_bytes;
            let due = batch.started.is_some_and(|s| s.elapsed() >= max_wait);
            if full || due {
                committer
                    .start(&consumer, batch.take(), &mut summary)
                    .await?;
            }
            let idle = batch.records.is_empty() && timed_out;
            if (idle && self.until_caught_up) || last_lag.elapsed() >= LAG_INTERVAL {
                last_lag = Instant::now();
                let writer = committer.writer(&consumer, &mut summary).await?;
                let caught_up = match self.update_lag(&consumer, writer).await? {
                    Some(c) => {
                        empty_since = None;
                        c
                    }
                    // No partitions: a group with more members than partitions, or the
                    // broker took them away (a stalled session). Done only if Bronze holds
                    // every partition of the topics up to its high watermark.
                    None => {
                        empty_since.get_or_insert_with(Instant::now).elapsed() > EMPTY_GRACE
                            && self.topics_caught_up(&consumer, writer).await.is_ok()
                    }
                };
                if self.until_caught_up && caught_up && batch.records.is_empty() {
                    info!(
                        "every partition read is in bronze.events up to its high watermark; exiting"
                    );
                    break;
                }
                if self.until_caught_up
                    && started.elapsed().as_secs() >= self.config.caught_up_timeout_s
                {
                    let writer = committer.writer(&consumer, &mut summary).await?;
                    let detail = match self.topics_caught_up(&consumer, writer).await {
                        Ok(()) => "the last check found everything written".to_string(),
                        Err(e) => e,
                    };
                    return Err(Error::NotCaughtUp {
                        waited_s: started.elapsed().as_secs(),
                        detail,
                    });
                }
            }
        }
        committer.settle(&consumer, &mut summary).await?;
        summary.table_version = committer.version();
        summary.peak_rss_kib = peak_rss_kib();
        summary.elapsed_s = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    /// After a rebalance, records buffered from the old assignment are dropped: the new
    /// assignment started every partition from Bronze's stored offsets.
    fn check_generation(
        &self,
        consumer: &StreamConsumer<IngestContext>,
        seen: &mut u64,
        batch: &mut Batch,
        summary: &mut IngestSummary,
    ) -> Result<()> {
        let ctx = consumer.context();
        if let Some(failure) = ctx.failure.lock().ok().and_then(|f| f.clone()) {
            return Err(Error::Rebalance(failure));
        }
        let generation = ctx.generation.load(Ordering::SeqCst);
        if generation != *seen {
            *seen = generation;
            if !batch.records.is_empty() {
                debug!(
                    records = batch.records.len(),
                    "dropping batch after rebalance"
                );
                summary.batches_dropped_on_rebalance += 1;
                batch.clear();
            }
        }
        Ok(())
    }
}
