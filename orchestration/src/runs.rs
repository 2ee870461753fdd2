//! `_strata.runs`: one row per job run (or job blocked by a failed upstream).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::protocol::SaveMode;
use strata_pipelines::{Lake, TableName};

use crate::error::JobFailure;
use crate::{Error, Result};

pub fn runs_table() -> TableName {
    TableName::new("_strata", "runs")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Not run: an upstream job failed.
    Blocked,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Blocked => "blocked",
        }
    }
}

/// One job run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    /// The pass (or backfill) this run belongs to.
    pub run_id: String,
    pub job: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub status: RunStatus,
    pub attempts: u32,
    pub input_versions: Vec<(String, u64)>,
    pub output_version: Option<u64>,
    pub rows_in: u64,
    pub rows_out: u64,
    pub error: Option<JobFailure>,
}

impl RunRecord {
    pub fn duration_ms(&self) -> i64 {
        (self.ended_at - self.started_at).num_milliseconds()
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

pub fn runs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("job", DataType::Utf8, false),
        Field::new("started_at", ts(), false),
        Field::new("ended_at", ts(), false),
        Field::new("duration_ms", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("attempts", DataType::Int32, false),
        Field::new("input_versions", DataType::Utf8, false),
        Field::new("output_version", DataType::Int64, true),
        Field::new("rows_in", DataType::Int64, false),
        Field::new("rows_out", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("error_domain", DataType::Utf8, true),
        Field::new("retryable", DataType::Boolean, true),
    ]))
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn batch(records: &[RunRecord]) -> Result<RecordBatch> {
    let us = |t: &DateTime<Utc>| t.timestamp_micros();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|r| r.run_id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|r| r.job.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(records.iter().map(|r| us(&r.started_at)))
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(records.iter().map(|r| us(&r.ended_at)))
                .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(RunRecord::duration_ms),
        )),
        Arc::new(StringArray::from_iter_values(
            records.iter().map(|r| r.status.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(
            records
                .iter()
                .map(|r| i32::try_from(r.attempts).unwrap_or(i32::MAX)),
        )),
        Arc::new(StringArray::from_iter_values(records.iter().map(|r| {
            let m: serde_json::Map<String, serde_json::Value> = r
                .input_versions
                .iter()
                .map(|(t, v)| (t.clone(), serde_json::json!(v)))
                .collect();
            serde_json::Value::Object(m).to_string()
        }))),
        Arc::new(Int64Array::from_iter(
            records.iter().map(|r| r.output_version.map(i64_of)),
        )),
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| i64_of(r.rows_in)),
        )),
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| i64_of(r.rows_out)),
        )),
        Arc::new(StringArray::from_iter(
            records
                .iter()
                .map(|r| r.error.as_ref().map(|e| e.message.clone())),
        )),
        Arc::new(StringArray::from_iter(
            records
                .iter()
                .map(|r| r.error.as_ref().map(|e| e.domain.to_string())),
        )),
        Arc::new(BooleanArray::from_iter(
            records
                .iter()
                .map(|r| r.error.as_ref().map(|e| e.retryable)),
        )),
    ];
    Ok(RecordBatch::try_new(runs_schema(), columns)?)
}

/// Append run records in one commit.
pub async fn append(lake: &Lake, records: &[RunRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let table = lake.ensure_table(&runs_table(), runs_schema(), &[]).await?;
    table
        .write(vec![batch(records)?])
        .with_save_mode(SaveMode::Append)
        .await
        .map_err(|e| Error::delta(runs_table(), e))?;
    Ok(())
}
