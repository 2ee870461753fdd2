use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use strata_pipelines::Lake;
use strata_quality::Inspector;
use strata_schemas::bronze::{PARTITION_COLUMNS, col, events_schema};
use tracing::{debug, warn};

use crate::{Error, RawRecord, Result, build_batch, events_table};

/// How many times a commit is re-planned after other writers of the same partitions won.
const MAX_CONFLICT_ATTEMPTS: u32 = 16;

/// A Kafka topic-partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// What one commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// The Delta version written, `None` when every record was already in the table.
    pub version: Option<u64>,
    pub rows: usize,
    pub valid: usize,
    pub invalid: usize,
    /// Records skipped because another writer had already committed them.
    pub already_committed: usize,
    /// Last offset now stored per partition (covers skipped records too).
    pub last_offsets: BTreeMap<PartitionKey, i64>,
    /// Commits lost to concurrent writers of the same partitions and re-planned.
    pub conflicts: u32,
}

/// Writes Kafka records to `bronze.events` exactly once.
///
/// Each commit holds the data files and, for every topic-partition in the batch, a Delta `txn`
/// action with appId `<group>-<topic>-<partition>` and version = the last offset written. Before
/// committing, records at or below the stored version are dropped; Delta's conflict checker
/// refuses a commit when a concurrent commit advanced the same appId, and the batch is then
/// re-planned against the new table state. A record therefore lands once, whoever writes it.
pub struct BronzeWriter {
    table: DeltaTable,
    inspector: Arc<Inspector>,
    group: String,
}

impl fmt::Debug for BronzeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BronzeWriter")
            .field("table", &self.table.table_url().as_str())
            .field("version", &self.table.version())
            .field("group", &self.group)
            .finish()
    }
}

/// Parquet settings for Bronze. Raw values, ids and messages are nearly unique: dictionary
/// encoding them costs time and saves nothing, so only the low-cardinality columns use it.
fn writer_properties() -> WriterProperties {
    // Chunk-level statistics are what Delta readers use for skipping; page indexes cost time.
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for column in [
        col::VALUE,
        col::KEY,
        col::HEADERS,
        col::EVENT_ID,
        col::ERROR,
        col::OFFSET,
        col::KAFKA_TIMESTAMP,
        col::OCCURRED_AT,
    ] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    for column in [col::VALUE, col::KEY, col::HEADERS, col::ERROR] {
        b = b.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    b.build()
}

/// The Delta appId under which Bronze stores the last offset of a partition for a consumer
/// group: `<group>-<topic>-<partition>`.
pub fn offset_app_id(group: &str, key: &PartitionKey) -> String {
    format!("{group}-{}-{}", key.topic, key.partition)
}

fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_)
    )
}

impl BronzeWriter {
    /// Open (creating if needed) `bronze.events` in the lake, writing for consumer `group`.
    pub async fn open(lake: &Lake, inspector: Arc<Inspector>, group: &str) -> Result<Self> {
        let table = lake
            .ensure_table(&events_table(), events_schema(), &PARTITION_COLUMNS)
            .await?;
        Ok(Self {
            table,
            inspector,
            group: group.to_string(),
        })
    }

    /// The Delta appId that stores a partition's last committed offset.
    pub fn app_id(&self, key: &PartitionKey) -> String {
        offset_app_id(&self.group, key)
    }

    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// Load the latest table state (other writers may have committed).
    pub async fn refresh(&mut self) -> Result<()> {
        self.table.update_state().await.map_err(Error::from)
    }

    /// The last offset stored for a partition in the current table state.
    pub async fn stored_offset(&self, key: &PartitionKey) -> Result<Option<i64>> {
        let snapshot = self.table.snapshot().map_err(Error::from)?;
        snapshot
            .transaction_version(self.table.log_store().as_ref(), self.app_id(key))
            .await
            .map_err(Error::from)
    }

    /// Latest stored offsets for a set of partitions, after refreshing the table state.
    pub async fn stored_offsets(
        &mut self,
        keys: impl IntoIterator<Item = PartitionKey>,
    ) -> Result<BTreeMap<PartitionKey, Option<i64>>> {
        self.refresh().await?;
        let mut out = BTreeMap::new();
        for key in keys {
            let stored = self.stored_offset(&key).await?;
            out.insert(key, stored);
        }
        Ok(out)
    }

    /// Commit records (any mix of topics and partitions) exactly once.
    pub async fn commit(&mut self, records: &[RawRecord]) -> Result<CommitReport> {
        let mut report = CommitReport::default();
        // The batch's partitions, found without allocating per record (this is the hot path).
        let mut parts: Vec<(&str, i32)> = Vec::new();
        for r in records {
            if !parts.contains(&(r.topic.as_str(), r.partition)) {
                parts.push((r.topic.as_str(), r.partition));
            }
        }
        let keys: Vec<PartitionKey> = parts
            .iter()
            .map(|(t, p)| PartitionKey::new(*t, *p))
            .collect();
        let index = |r: &RawRecord| {
            parts
                .iter()
                .position(|(t, p)| *t == r.topic && *p == r.partition)
        };
        loop {
            let stored = self.stored_offsets(keys.iter().cloned()).await?;
            let floor: Vec<Option<i64>> = keys
                .iter()
                .map(|k| stored.get(k).copied().flatten())
                .collect();
            // Borrowed, not cloned: a batch holds tens of MB of values.
            let fresh: Vec<&RawRecord> = records
                .iter()
                .filter(|r| index(r).and_then(|i| floor[i]).is_none_or(|s| r.offset > s))
                .collect();
            report.already_committed = records.len() - fresh.len();
            let mut last = floor;
            for r in &fresh {
                if let Some(i) = index(r) {
                    last[i] = Some(last[i].map_or(r.offset, |o| o.max(r.offset)));
                }
            }
            let last: BTreeMap<PartitionKey, i64> = keys
                .iter()
                .zip(&last)
                .filter_map(|(k, o)| o.map(|o| (k.clone(), o)))
                .collect();
            if fresh.is_empty() {
                report.last_offsets = last;
                return Ok(report);
            }
            let txns: Vec<Transaction> = last
                .iter()
                .map(|(k, v)| Transaction::new(self.app_id(k), *v))
                .collect();
            let now_us = chrono::Utc::now().timestamp_micros();
            let batch = build_batch(&self.inspector, fresh.iter().copied(), now_us)?;
            let valid = batch
                .column_by_name(strata_schemas::bronze::col::VALID)
                .and_then(|c| {
                    c.as_any()
                        .downcast_ref::<deltalake::arrow::array::BooleanArray>()
                })
                .map_or(0, |b| b.true_count());
            let written = self
                .table
                .clone()
                .write(vec![batch])
                .with_save_mode(SaveMode::Append)
                .with_partition_columns(PARTITION_COLUMNS.iter().map(|c| c.to_string()))
                .with_writer_properties(writer_properties())
                .with_commit_properties(
                    CommitProperties::default().with_application_transactions(txns),
                )
                .await;
            match written {
                Ok(table) => {
                    self.table = table;
                    report.version = self.table.version();
                    report.rows = fresh.len();
                    report.valid = valid;
                    report.invalid = fresh.len() - valid;
                    report.last_offsets = last;
                    debug!(version = ?report.version, rows = report.rows, "bronze commit");
                    return Ok(report);
                }
                Err(e) if is_conflict(&e) => {
                    report.conflicts += 1;
                    warn!(error = %e, attempt = report.conflicts, "bronze commit conflicted with another writer; re-planning");
                    if report.conflicts >= MAX_CONFLICT_ATTEMPTS {
                        return Err(Error::TooManyConflicts {
                            attempts: report.conflicts,
                        });
                    }
                }
                Err(source) => return Err(Error::from(source)),
            }
        }
    }
}
