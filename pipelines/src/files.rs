//! A table's current files read straight from Parquet, without a query engine: for the small
//! reads of processes that must not page one in (ingest, and the registry it follows).

// parquet 59 deprecates ParquetObjectReader for a hand-written `AsyncFileReader`; delta-rs
// 1.1 reads its own data files through it, and so do we until both move.
#![allow(deprecated)]

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::async_reader::{
    ParquetObjectReader, ParquetRecordBatchStreamBuilder,
};
use deltalake::parquet::errors::ParquetError;
use futures::TryStreamExt;

use crate::{Error, Result};

type Files = Vec<(deltalake::Path, Option<u64>)>;

/// Calls `each` with every batch of the table's current data files, reading only `columns`
/// (every column when `None`; partition columns are not in the files). One file is read at a
/// time, fetching only the projected column chunks, so memory holds one file's columns.
pub async fn for_each_batch<E: From<Error>>(
    table: &DeltaTable,
    columns: Option<&[&str]>,
    mut each: impl FnMut(RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let name = table.table_url().to_string();
    for (path, size) in data_files(table, &name)? {
        let read = |e: &dyn std::fmt::Display| read_error(&name, &path, e);
        let mut builder = open(table, &path, size).await.map_err(|e| read(&e))?;
        if let Some(columns) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        let mut batches = builder.build().map_err(|e| read(&e))?;
        while let Some(batch) = batches.try_next().await.map_err(|e| read(&e))? {
            each(batch)?;
        }
    }
    Ok(())
}

/// A reader of one of the table's data files (`size` spares a HEAD request).
pub(crate) async fn open(
    table: &DeltaTable,
    path: &deltalake::Path,
    size: Option<u64>,
) -> Result<Builder, ParquetError> {
    let mut reader = ParquetObjectReader::new(table.object_store(), path.clone());
    if let Some(size) = size {
        reader = reader.with_file_size(size);
    }
    ParquetRecordBatchStreamBuilder::new(reader).await
}

pub(crate) type Builder = ParquetRecordBatchStreamBuilder<ParquetObjectReader>;

pub(crate) fn read_error(table: &str, path: &deltalake::Path, e: &dyn std::fmt::Display) -> Error {
    Error::ReadFile {
        table: table.to_string(),
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// The current version's data files and their sizes (which spare a HEAD request per file).
fn data_files(table: &DeltaTable, name: &str) -> Result<Files> {
    Ok(table
        .snapshot()
        .map_err(|e| Error::delta(name, e))?
        .log_data()
        .into_iter()
        .map(|f| (f.object_store_path(), u64::try_from(f.size()).ok()))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::protocol::SaveMode;

    use super::*;

    /// Two appends into two partitions: every row comes back once, with only the columns asked
    /// for.
    #[tokio::test]
    async fn every_file_is_read_with_only_the_projected_columns() {
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::Lake::new(dir.path().to_str().unwrap()).unwrap();
        let name: crate::TableName = "bronze.t".parse().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
            Field::new("note", DataType::Utf8, false),
        ]));
        let mut table = lake
            .ensure_table(&name, schema.clone(), &["day"])
            .await
            .unwrap();
        for (day, range) in [("2026-01-01", 0..3), ("2026-01-02", 3..8)] {
            let rows = range.end - range.start;
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(vec![day; rows as usize])),
                    Arc::new(Int64Array::from_iter_values(range)),
                    Arc::new(StringArray::from(vec!["x"; rows as usize])),
                ],
            )
            .unwrap();
            table = table
                .write(vec![batch])
                .with_save_mode(SaveMode::Append)
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        for_each_batch(&table, Some(&["n"]), |b| {
            assert_eq!(b.num_columns(), 1, "{:?}", b.schema());
            let n = crate::typed_column::<Int64Array>(&b, "n").unwrap();
            seen.extend(n.values().iter().copied());
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
    }
}
