//! Where expectations report: `_strata.quality_results` (one row per expectation per job run)
//! and `_strata.rejects` (every dropped row, as JSON, with the expectations it failed).

use std::sync::Arc;

use chrono::Utc;
use deltalake::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::protocol::SaveMode;
use strata_pipelines::{Lake, TableName};

use crate::expectations::Checked;
use crate::{Error, Result};

pub fn results_table() -> TableName {
    TableName::new("_strata", "quality_results")
}

pub fn rejects_table() -> TableName {
    TableName::new("_strata", "rejects")
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub fn results_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("expectation", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("checked_at", ts(), false),
        Field::new("rows_checked", DataType::Int64, false),
        Field::new("rows_failed", DataType::Int64, false),
        Field::new("failure_fraction", DataType::Float64, false),
        Field::new("threshold", DataType::Float64, false),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("samples", DataType::Utf8, false),
    ]))
}

pub fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("expectations", DataType::Utf8, false),
        Field::new("rejected_at", ts(), false),
        Field::new("row", DataType::Utf8, false),
    ]))
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

async fn append(
    lake: &Lake,
    name: &TableName,
    schema: SchemaRef,
    batch: RecordBatch,
) -> Result<()> {
    let table = lake.ensure_table(name, schema, &[]).await?;
    table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .await
        .map_err(|e| Error::Delta {
            table: name.to_string(),
            source: Box::new(e),
        })?;
    Ok(())
}

/// Record a job run's expectation results and rejected rows. Called before the job commits
/// its output, so a crash in between repeats them (same `run_id` prefix, new run) rather
/// than losing dropped rows.
pub async fn record(lake: &Lake, run_id: &str, table: &str, checked: &Checked) -> Result<()> {
    if !checked.results.is_empty() {
        let r = &checked.results;
        let now = Utc::now().timestamp_micros();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(r.iter().map(|_| run_id))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|_| table))),
            Arc::new(StringArray::from_iter_values(
                r.iter().map(|x| x.name.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(r.iter().map(|x| x.kind))),
            Arc::new(StringArray::from_iter_values(
                r.iter().map(|x| x.action.as_str()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(r.iter().map(|_| now))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(
                r.iter().map(|x| n(x.rows_checked)),
            )),
            Arc::new(Int64Array::from_iter_values(
                r.iter().map(|x| n(x.rows_failed)),
            )),
            Arc::new(Float64Array::from_iter_values(
                r.iter().map(|x| x.failure_fraction()),
            )),
            Arc::new(Float64Array::from_iter_values(
                r.iter().map(|x| x.threshold),
            )),
            Arc::new(StringArray::from_iter_values(r.iter().map(|x| x.outcome))),
            Arc::new(StringArray::from_iter_values(
                r.iter().map(|x| format!("[{}]", x.samples.join(","))),
            )),
        ];
        let batch = RecordBatch::try_new(results_schema(), columns)?;
        append(lake, &results_table(), results_schema(), batch).await?;
    }
    if !checked.rejected.is_empty() {
        let r = &checked.rejected;
        let now = Utc::now().timestamp_micros();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(r.iter().map(|_| run_id))),
            Arc::new(StringArray::from_iter_values(r.iter().map(|_| table))),
            Arc::new(StringArray::from_iter_values(
                r.iter().map(|(e, _)| e.as_str()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(r.iter().map(|_| now))
                    .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from_iter_values(
                r.iter().map(|(_, row)| row.as_str()),
            )),
        ];
        let batch = RecordBatch::try_new(rejects_schema(), columns)?;
        append(lake, &rejects_table(), rejects_schema(), batch).await?;
    }
    Ok(())
}

/// What a job writes after its expectations, or why it must not write.
#[derive(Debug)]
pub enum Enforced {
    Write(Vec<deltalake::arrow::array::RecordBatch>),
    Stop(crate::QualityFailure),
}

/// Check `batches` for `table`, record the results (with `typed`, results the job computed
/// itself) and rejects, and say what to write. Tables
/// named by `references` rules are registered in `ctx` from the lake (empty when missing).
pub async fn enforce(
    lake: &Lake,
    ctx: &deltalake::datafusion::prelude::SessionContext,
    table: &TableName,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    expectations: &[crate::Expectation],
    typed: Vec<crate::ExpectationResult>,
) -> Result<Enforced> {
    if expectations.is_empty() && typed.is_empty() {
        return Ok(Enforced::Write(batches));
    }
    for e in expectations {
        if let crate::Check::References {
            table: other, key, ..
        } = &e.check
        {
            let name: TableName = other.parse()?;
            if ctx.table_exist(other.as_str()).unwrap_or(false) {
                continue;
            }
            match lake.open(&name).await? {
                Some(t) => strata_pipelines::SessionBuilder::register(ctx, &name, &t).await?,
                None => {
                    // Nothing to reference yet: every non-null value fails, as it should.
                    let empty = Arc::new(Schema::new(vec![Field::new(key, DataType::Utf8, true)]));
                    let mem =
                        deltalake::datafusion::datasource::MemTable::try_new(empty, vec![vec![]])?;
                    let catalog = ctx
                        .catalog("datafusion")
                        .ok_or_else(|| Error::Expectation {
                            name: e.name.clone(),
                            message: "no default catalog".into(),
                        })?;
                    if catalog.schema(&name.layer).is_none() {
                        catalog.register_schema(
                            &name.layer,
                            Arc::new(deltalake::datafusion::catalog::MemorySchemaProvider::new()),
                        )?;
                    }
                    ctx.register_table(other.as_str(), Arc::new(mem))?;
                }
            }
        }
    }
    let mut checked = if expectations.is_empty() {
        crate::Checked {
            kept: batches,
            rejected: Vec::new(),
            results: Vec::new(),
        }
    } else {
        crate::check(ctx, schema, batches, expectations).await?
    };
    // The job's own typing results (values that could not be typed) go with its expectations.
    checked.results.splice(0..0, typed);
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    record(lake, &run_id, &table.to_string(), &checked).await?;
    let failed: Vec<crate::ExpectationResult> = checked.failures().into_iter().cloned().collect();
    if !failed.is_empty() {
        return Ok(Enforced::Stop(crate::QualityFailure {
            table: table.to_string(),
            results: failed,
        }));
    }
    Ok(Enforced::Write(checked.kept))
}
