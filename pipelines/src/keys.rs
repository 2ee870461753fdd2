//! Which keys a table already holds, without reading all its keys for every write: a run
//! remembers the keys it has seen in Bloom filters, and the table's files carry a Parquet
//! bloom filter on the key column, so checking a few keys reads only the row groups that may
//! hold them. Deduplicating against the whole table on every chunk of a replay read every key
//! written before the chunk: quadratic in the chunks.

// See files.rs: ParquetObjectReader is deprecated in parquet 59 and still what delta-rs uses.
#![allow(deprecated)]

use std::collections::{BTreeMap, HashMap, HashSet};

use deltalake::DeltaTable;
use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::error::ArrowError;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::bloom_filter::Sbbf;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use futures::TryStreamExt;

use crate::files::{for_each_batch, open, read_error};
use crate::{Error, Result};

/// False-positive rate of the key column's bloom filter in each row group.
const FILE_FPP: f64 = 0.01;
/// Bits per key of a run's filters: about one false positive in 10^5 keys (split-block
/// filters need more bits than classic ones for the same rate).
const RUN_BITS_PER_KEY: u64 = 32;
/// A run's filters stop growing here; past it the last one fills up and flags more keys,
/// which costs reads, never correctness.
const RUN_MAX_BYTES: usize = 64 << 20;

/// Parquet settings for a table deduplicated on `key`: Snappy, as delta-rs writes by
/// default, and a bloom filter on the key column sized for `rows` keys per file.
pub fn keyed_writer_properties(key: &str, rows: usize) -> WriterProperties {
    let column = ColumnPath::from(key);
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_column_bloom_filter_enabled(column.clone(), true)
        .set_column_bloom_filter_fpp(column.clone(), FILE_FPP)
        .set_column_bloom_filter_ndv(column, u64::try_from(rows.max(1)).unwrap_or(u64::MAX))
        .build()
}

/// The keys one run has seen (written, or held by the table when it started), as Bloom
/// filters: `may_contain` is never false for a key inserted, rarely true for another.
/// Filters are added as keys arrive, each twice the size of the last, so memory follows the
/// keys seen (about 4 bytes per key) up to `RUN_MAX_BYTES`.
#[derive(Debug, Default)]
pub struct SeenKeys {
    filters: Vec<(Sbbf, u64)>,
    /// Keys the last filter was sized for.
    capacity: u64,
    bytes: usize,
}

impl SeenKeys {
    /// Filters sized first for `expected` keys.
    pub fn new(expected: u64) -> Self {
        let mut seen = Self::default();
        seen.grow(expected.max(1 << 16));
        seen
    }

    fn grow(&mut self, capacity: u64) {
        let bytes = usize::try_from(capacity.saturating_mul(RUN_BITS_PER_KEY) / 8)
            .unwrap_or(usize::MAX)
            .min(RUN_MAX_BYTES);
        let filter = Sbbf::new_with_num_of_bytes(bytes);
        self.bytes += filter.num_blocks() * 32;
        self.filters.push((filter, 0));
        self.capacity = capacity;
    }

    pub fn insert(&mut self, key: &str) {
        let full = self.filters.last().is_none_or(|(_, n)| *n >= self.capacity);
        if full && self.bytes < RUN_MAX_BYTES {
            self.grow(self.capacity.saturating_mul(2).max(1 << 16));
        }
        if let Some((filter, n)) = self.filters.last_mut() {
            filter.insert(key);
            *n += 1;
        }
    }

    pub fn may_contain(&self, key: &str) -> bool {
        self.filters.iter().any(|(f, _)| f.check(key))
    }

    /// Memory the filters hold.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Add every key of string column `key` that `table` holds (one read of that column).
    pub async fn insert_table(&mut self, table: &DeltaTable, key: &str) -> Result<()> {
        let name = table.table_url().to_string();
        for_each_batch(table, Some(&[key]), |batch| {
            each_string(&batch, 0, |k| self.insert(k)).map_err(|e| Error::Column {
                table: name.clone(),
                column: key.to_string(),
                source: Box::new(e),
            })
        })
        .await
    }
}

/// Keys to look for, by value of the partition column they belong in.
pub type Wanted<'a> = BTreeMap<String, HashSet<&'a str>>;

/// What `present_keys` found, and what it read to find it.
#[derive(Debug, Default)]
pub struct Present {
    /// The keys wanted that the table holds, by partition value.
    pub keys: HashMap<String, HashSet<String>>,
    /// Row groups in the partitions looked at, and those whose key column was read.
    pub row_groups: usize,
    pub row_groups_read: usize,
}

/// Which of `wanted` (keys by value of the partition column `partition`) the table holds:
/// reads string column `key` of the files in those partitions, skipping row groups whose
/// bloom filter rules out every key wanted there (a file without one is read whole).
pub async fn present_keys(
    table: &DeltaTable,
    key: &str,
    partition: &str,
    wanted: &Wanted<'_>,
) -> Result<Present> {
    let name = table.table_url().to_string();
    let snapshot = table.snapshot().map_err(|e| Error::delta(&name, e))?;
    let mut present = Present::default();
    // Collected first: the log's file iterator cannot be held across the reads.
    let files: Vec<_> = snapshot
        .log_data()
        .into_iter()
        .filter_map(|file| {
            let value = file.partition_values_map().remove(partition)??;
            let keys = wanted.get(&value).filter(|k| !k.is_empty())?;
            let size = u64::try_from(file.size()).ok();
            Some((file.object_store_path(), size, value, keys))
        })
        .collect();
    for (path, size, value, keys) in files {
        let read = |e: &dyn std::fmt::Display| read_error(&name, &path, e);
        let mut builder = open(table, &path, size).await.map_err(|e| read(&e))?;
        let schema = builder.parquet_schema();
        let Some(column) = schema.columns().iter().position(|c| c.name() == key) else {
            continue;
        };
        let mask = ProjectionMask::leaves(schema, [column]);
        let mut groups = Vec::new();
        let count = builder.metadata().num_row_groups();
        present.row_groups += count;
        for group in 0..count {
            let bloom = builder
                .get_row_group_column_bloom_filter(group, column)
                .await
                .map_err(|e| read(&e))?;
            if bloom.is_none_or(|b| keys.iter().any(|k| b.check(*k))) {
                groups.push(group);
            }
        }
        if groups.is_empty() {
            continue;
        }
        present.row_groups_read += groups.len();
        let mut batches = builder
            .with_row_groups(groups)
            .with_projection(mask)
            .build()
            .map_err(|e| read(&e))?;
        let found = present.keys.entry(value).or_default();
        while let Some(batch) = batches.try_next().await.map_err(|e| read(&e))? {
            each_string(&batch, 0, |k| {
                if keys.contains(k) {
                    found.insert(k.to_string());
                }
            })
            .map_err(|e| read(&e))?;
        }
    }
    Ok(present)
}

/// Calls `each` with every non-null value of string column `index` (any string type).
fn each_string(
    batch: &RecordBatch,
    index: usize,
    mut each: impl FnMut(&str),
) -> Result<(), ArrowError> {
    let strings = cast(batch.column(index), &DataType::Utf8)?;
    strings
        .as_string::<i32>()
        .iter()
        .flatten()
        .for_each(&mut each);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::StringArray;
    use deltalake::arrow::datatypes::{Field, Schema};
    use deltalake::protocol::SaveMode;

    use super::*;

    /// Filters added as keys arrive never forget a key, and rarely flag one never inserted.
    #[test]
    fn seen_keys_grow_without_forgetting() {
        let mut seen = SeenKeys::new(1);
        let start = seen.bytes();
        for i in 0..300_000 {
            seen.insert(&format!("key-{i}"));
        }
        assert!(seen.bytes() > start, "grew past its first filter");
        assert!((0..300_000).all(|i| seen.may_contain(&format!("key-{i}"))));
        let flagged = (0..100_000)
            .filter(|i| seen.may_contain(&format!("other-{i}")))
            .count();
        assert!(flagged < 20, "{flagged} of 100,000 other keys flagged");
    }

    /// Three files in two partitions, written with the key's bloom filter: a lookup finds
    /// exactly the keys held, each in its own partition, and reads only the row groups that
    /// may hold a key wanted there.
    #[tokio::test]
    async fn present_keys_reads_only_row_groups_that_may_hold_them() {
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::new(dir.path().to_str().unwrap()).unwrap();
        let name: crate::TableName = "silver.t".parse().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Utf8, false),
            Field::new("id", DataType::Utf8, false),
        ]));
        let mut table = lake
            .ensure_table(&name, schema.clone(), &["day"])
            .await
            .unwrap();
        for (day, ids) in [("d1", 0..1000), ("d1", 1000..2000), ("d2", 2000..3000)] {
            let ids: Vec<String> = ids.map(|i| format!("id-{i}")).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(vec![day; ids.len()])),
                    Arc::new(StringArray::from(ids)),
                ],
            )
            .unwrap();
            table = table
                .write(vec![batch])
                .with_save_mode(SaveMode::Append)
                .with_writer_properties(keyed_writer_properties("id", 1000))
                .await
                .unwrap();
        }
        // id-5 is held in d1; id-2500 is held, but in d2, not d1; id-x nowhere.
        let wanted = BTreeMap::from([
            ("d1".to_string(), HashSet::from(["id-5", "id-2500", "id-x"])),
            ("d3".to_string(), HashSet::from(["id-6"])),
        ]);
        let found = present_keys(&table, "id", "day", &wanted).await.unwrap();
        assert_eq!(
            found.keys.get("d1"),
            Some(&HashSet::from(["id-5".to_string()]))
        );
        assert_eq!(found.keys.values().map(HashSet::len).sum::<usize>(), 1);
        assert_eq!(found.row_groups, 2, "d1's two files, one row group each");
        assert_eq!(
            found.row_groups_read, 1,
            "the file of id-1000..2000 is skipped"
        );

        let mut seen = SeenKeys::new(10);
        seen.insert_table(&table, "id").await.unwrap();
        assert!((0..3000).all(|i| seen.may_contain(&format!("id-{i}"))));
    }
}
