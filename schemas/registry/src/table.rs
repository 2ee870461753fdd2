//! The registry's two Delta tables: their schemas, reading them whole, and keeping the
//! schemas table's log short.

use std::sync::Arc;

use chrono::Utc;
use deltalake::arrow::array::{AsArray, Int32Array, RecordBatch, StringArray};
use deltalake::arrow::compute::{
    SortColumn, cast, concat_batches, lexsort_to_indices, take_record_batch,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use strata_pipelines::{Lake, TableName};

use crate::{Error, Result};

pub fn schemas_table() -> TableName {
    TableName::new("_strata", "schemas")
}

pub fn config_table() -> TableName {
    TableName::new("_strata", "schema_config")
}

/// Every this many registrations, compact the table's files and checkpoint, dropping the
/// commits before it: one file per registration and a log that only grows would make
/// opening, listing and committing cost more with every subject.
pub(crate) const COMPACT_EVERY: u64 = 20;

/// Rewrite the table's small files into one, checkpoint, and delete the commit files before
/// the checkpoint. The registry's history is in its rows (every version of every subject is
/// one), not in time travel, so its log keeps only what the latest state needs; a reader
/// racing the deletion opens the table afresh on its next look.
pub(crate) async fn compact(table: deltalake::DeltaTable) -> Result<deltalake::DeltaTable> {
    let (table, _) = table.optimize().await.map_err(delta(schemas_table()))?;
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .map_err(delta(schemas_table()))?;
    if let Some(version) = table.version() {
        deltalake::checkpoints::cleanup_expired_logs_for(
            version,
            table.log_store().as_ref(),
            Utc::now().timestamp_millis(),
            None,
        )
        .await
        .map_err(delta(schemas_table()))?;
    }
    Ok(table)
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub(crate) fn schemas_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("subject", DataType::Utf8, false),
        Field::new("version", DataType::Int32, false),
        Field::new("id", DataType::Int32, false),
        Field::new("schema_type", DataType::Utf8, false),
        Field::new("schema", DataType::Utf8, false),
        Field::new("registered_at", ts(), false),
    ]))
}

pub(crate) fn config_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("subject", DataType::Utf8, false),
        Field::new("compatibility", DataType::Utf8, false),
        Field::new("updated_at", ts(), false),
    ]))
}

pub(crate) fn delta(table: TableName) -> impl Fn(deltalake::DeltaTableError) -> Error {
    move |e| Error::Delta {
        table: table.to_string(),
        source: Box::new(e),
    }
}

/// Every row of a registry table, sorted by the `order` columns, with the version read.
/// The files are read straight from Parquet: the tables are small and unpartitioned, and a
/// query engine here would be paged into every process that follows the registry (ingest).
pub(crate) async fn read_all(
    lake: &Lake,
    name: &TableName,
    order: &[&str],
) -> Result<(Option<u64>, Vec<RecordBatch>)> {
    let Some(table) = lake.open(name).await? else {
        return Ok((None, Vec::new()));
    };
    let storage = |e: &dyn std::fmt::Display| Error::Storage(format!("reading {name}: {e}"));
    let mut batches = Vec::new();
    strata_pipelines::files::for_each_batch(&table, None, |b| {
        batches.push(b);
        Ok::<_, Error>(())
    })
    .await?;
    let Some(first) = batches.first() else {
        return Ok((table.version(), batches));
    };
    let all = concat_batches(&first.schema(), &batches).map_err(|e| storage(&e))?;
    let keys = order
        .iter()
        .map(|c| {
            all.column_by_name(c)
                .map(|values| SortColumn {
                    values: values.clone(),
                    options: None,
                })
                .ok_or_else(|| Error::Storage(format!("{name} has no column {c}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let sorted = lexsort_to_indices(&keys, None)
        .and_then(|idx| take_record_batch(&all, &idx))
        .map_err(|e| storage(&e))?;
    Ok((table.version(), vec![sorted]))
}

pub(crate) fn strings(b: &RecordBatch, col: &str) -> Result<StringArray> {
    let c = b
        .column_by_name(col)
        .ok_or_else(|| Error::Storage(format!("column {col} missing")))?;
    let c = cast(c, &DataType::Utf8).map_err(|e| Error::Storage(e.to_string()))?;
    Ok(c.as_string::<i32>().clone())
}

pub(crate) fn ints(b: &RecordBatch, col: &str) -> Result<Int32Array> {
    let c = b
        .column_by_name(col)
        .ok_or_else(|| Error::Storage(format!("column {col} missing")))?;
    let c = cast(c, &DataType::Int32).map_err(|e| Error::Storage(e.to_string()))?;
    Ok(c.as_primitive::<deltalake::arrow::datatypes::Int32Type>()
        .clone())
}
