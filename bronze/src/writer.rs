use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use deltalake::arrow::array::{BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use strata_pipelines::{Lake, typed_column};
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
    // Chunk-level statistics are what Delta readers use for skipping; page indexes cost time,
    // except the event type's: rows are grouped by type (`build_batch`), and its page index
    // is what lets a reader of some types skip the other types' pages of every column.
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_column_statistics_enabled(ColumnPath::from(col::EVENT_TYPE), EnabledStatistics::Page);
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
        let batch = self.inspect(records)?;
        self.commit_batch(&batch).await
    }

    /// Inspect records into the Arrow batch a commit writes, releasing the records: a caller
    /// that retries holds one copy of its batch instead of two.
    pub fn prepare(&self, records: Vec<RawRecord>) -> Result<Prepared> {
        Ok(Prepared(self.inspect(&records)?))
    }

    /// The records as a `bronze.events` batch, stamped with the time of ingestion.
    fn inspect(&self, records: &[RawRecord]) -> Result<RecordBatch> {
        let now_us = chrono::Utc::now().timestamp_micros();
        build_batch(&self.inspector, records.iter(), now_us)
    }

    /// Commit a prepared batch exactly once (as [`BronzeWriter::commit`]).
    pub async fn commit_prepared(&mut self, prepared: &Prepared) -> Result<CommitReport> {
        self.commit_batch(&prepared.0).await
    }

    /// Commit the rows of `batch` (in the `bronze.events` schema) above the offsets Bronze
    /// stores, re-planned against the new table state when another writer wins.
    async fn commit_batch(&mut self, batch: &RecordBatch) -> Result<CommitReport> {
        let mut report = CommitReport::default();
        let positions = Positions::of(batch)?;
        loop {
            let stored = self.stored_offsets(positions.keys.iter().cloned()).await?;
            let floor: Vec<Option<i64>> = positions
                .keys
                .iter()
                .map(|k| stored.get(k).copied().flatten())
                .collect();
            let (fresh, last) = positions.above(batch, &floor)?;
            report.already_committed = batch.num_rows() - fresh.num_rows();
            if fresh.num_rows() == 0 {
                report.last_offsets = last;
                return Ok(report);
            }
            let txns: Vec<Transaction> = last
                .iter()
                .map(|(k, v)| Transaction::new(self.app_id(k), *v))
                .collect();
            let rows = fresh.num_rows();
            let valid = typed_column::<BooleanArray>(&fresh, col::VALID)?.true_count();
            let written = self.append(fresh, txns).await;
            match written {
                Ok(table) => {
                    self.table = table;
                    report.version = self.table.version();
                    report.rows = rows;
                    report.valid = valid;
                    report.invalid = rows - valid;
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

    /// Write `batch` as new files and commit them with `txns` (the partitions' new offsets)
    /// in one Delta version. Parquet is written straight from Arrow: an append needs no query
    /// plan, and building one per batch kept DataFusion's planning code resident in ingest.
    async fn append(
        &self,
        batch: RecordBatch,
        txns: Vec<Transaction>,
    ) -> std::result::Result<DeltaTable, DeltaTableError> {
        let mut writer = RecordBatchWriter::for_table(&self.table)?
            .with_writer_properties(writer_properties())
            .with_commit_properties(
                CommitProperties::default().with_application_transactions(txns),
            );
        writer.write(batch).await?;
        let mut table = self.table.clone();
        writer.flush_and_commit(&mut table).await?;
        Ok(table)
    }
}

/// Records inspected into the batch a commit writes (see [`BronzeWriter::prepare`]).
#[derive(Debug)]
pub struct Prepared(RecordBatch);

/// Where each row of a batch sits in Kafka: its partition (an index into `keys`) and offset.
struct Positions {
    keys: Vec<PartitionKey>,
    rows: Vec<(usize, i64)>,
}

impl Positions {
    fn of(batch: &RecordBatch) -> Result<Self> {
        let topics: &StringArray = typed_column(batch, col::TOPIC)?;
        let partitions: &Int32Array = typed_column(batch, col::PARTITION)?;
        let offsets: &Int64Array = typed_column(batch, col::OFFSET)?;
        let mut keys: Vec<PartitionKey> = Vec::new();
        let mut rows = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let (topic, partition) = (topics.value(i), partitions.value(i));
            let k = match keys
                .iter()
                .position(|k| k.partition == partition && k.topic == topic)
            {
                Some(k) => k,
                None => {
                    keys.push(PartitionKey::new(topic, partition));
                    keys.len() - 1
                }
            };
            rows.push((k, offsets.value(i)));
        }
        Ok(Self { keys, rows })
    }

    /// The rows above each partition's stored offset (`floor`), and the last offset per
    /// partition once they are written.
    fn above(
        &self,
        batch: &RecordBatch,
        floor: &[Option<i64>],
    ) -> Result<(RecordBatch, BTreeMap<PartitionKey, i64>)> {
        let mut last = floor.to_vec();
        let keep: BooleanArray = self
            .rows
            .iter()
            .map(|&(k, offset)| {
                let fresh = floor[k].is_none_or(|s| offset > s);
                if fresh {
                    last[k] = Some(last[k].map_or(offset, |o| o.max(offset)));
                }
                Some(fresh)
            })
            .collect();
        let fresh = if keep.true_count() == batch.num_rows() {
            batch.clone()
        } else {
            filter_record_batch(batch, &keep)?
        };
        let last = self
            .keys
            .iter()
            .zip(&last)
            .filter_map(|(k, o)| o.map(|o| (k.clone(), o)))
            .collect();
        Ok((fresh, last))
    }
}
