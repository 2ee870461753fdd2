//! Quarantine replay: after a schema or producer fix, re-validate the invalid rows of
//! `bronze.events` and append the ones that now pass to `bronze.replayed`, which Silver reads
//! beside `bronze.events`.
//!
//! `bronze.events` stays immutable (the record as received, with the reason it was refused).
//! `bronze.replayed` holds each replayed record once: a replay reads only invalid rows not
//! already there, and every replay commit carries the `txn` appId `quarantine-replay`, so two
//! replays running at once conflict and the loser re-reads before writing.

use std::sync::Arc;

use deltalake::DeltaTableError;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int32Type, Int64Type, TimestampMicrosecondType};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use strata_pipelines::{Lake, SessionBuilder, TableName};
use strata_quality::Inspector;
use strata_schemas::bronze::{PARTITION_COLUMNS, events_schema};

use crate::{Error, RawRecord, Result, build_batch, events_table};

/// `bronze.replayed`: invalid records of `bronze.events` that passed a later re-validation.
pub fn replayed_table() -> TableName {
    TableName::new("bronze", "replayed")
}

const APP_ID: &str = "quarantine-replay";

/// What one replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayReport {
    /// Invalid rows not replayed before.
    pub candidates: usize,
    /// Of those, now valid and written to `bronze.replayed`.
    pub replayed: usize,
    /// Still invalid (kept in `bronze.events` with their reason).
    pub still_invalid: usize,
    pub output_version: Option<u64>,
}

fn query(e: deltalake::datafusion::error::DataFusionError) -> Error {
    Error::from(strata_pipelines::Error::from(e))
}

/// Invalid rows of `bronze.events` not yet in `bronze.replayed`, as raw records.
async fn candidates(lake: &Lake) -> Result<(u64, Vec<RawRecord>)> {
    let events = lake.open_existing(&events_table()).await?;
    let version = events.version().unwrap_or(0);
    let ctx = SessionContext::new();
    SessionBuilder::register(&ctx, &events_table(), &events).await?;
    let replayed = lake.open(&replayed_table()).await?;
    let sql = match &replayed {
        Some(r) => {
            SessionBuilder::register(&ctx, &replayed_table(), r).await?;
            "SELECT e.topic, e.\"partition\", e.\"offset\", e.kafka_timestamp, e.key, e.headers, e.value \
             FROM bronze.events e LEFT ANTI JOIN bronze.replayed r \
             ON e.topic = r.topic AND e.\"partition\" = r.\"partition\" AND e.\"offset\" = r.\"offset\" \
             WHERE NOT e.valid"
        }
        None => {
            "SELECT topic, \"partition\", \"offset\", kafka_timestamp, key, headers, value \
             FROM bronze.events WHERE NOT valid"
        }
    };
    let batches = ctx
        .sql(sql)
        .await
        .map_err(query)?
        .collect()
        .await
        .map_err(query)?;
    let mut out = Vec::new();
    for b in &batches {
        let c = |i: usize, t: &DataType| cast(b.column(i), t).map_err(Error::from);
        let topic = c(0, &DataType::Utf8)?;
        let partition = c(1, &DataType::Int32)?;
        let offset = c(2, &DataType::Int64)?;
        let ts = c(3, b.column(3).data_type())?;
        let key = c(4, &DataType::Binary)?;
        let headers = c(5, &DataType::Utf8)?;
        let value = c(6, &DataType::Binary)?;
        let (topic, partition, offset) = (
            topic.as_string::<i32>(),
            partition.as_primitive::<Int32Type>(),
            offset.as_primitive::<Int64Type>(),
        );
        let ts = ts.as_primitive_opt::<TimestampMicrosecondType>();
        let (key, headers, value) = (
            key.as_binary::<i32>(),
            headers.as_string::<i32>(),
            value.as_binary::<i32>(),
        );
        for i in 0..b.num_rows() {
            let headers: Vec<(String, Option<Vec<u8>>)> = if headers.is_null(i) {
                Vec::new()
            } else {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(headers.value(i))
                    .map(|m| {
                        m.into_iter()
                            .map(|(k, v)| (k, v.as_str().map(|s| s.as_bytes().to_vec())))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            out.push(RawRecord {
                topic: topic.value(i).to_string(),
                partition: partition.value(i),
                offset: offset.value(i),
                timestamp_ms: ts.and_then(|t| t.is_valid(i).then(|| t.value(i) / 1000)),
                key: key.is_valid(i).then(|| key.value(i).to_vec()),
                headers,
                value: value.is_valid(i).then(|| value.value(i).to_vec()),
            });
        }
    }
    Ok((version, out))
}

/// Re-validate the quarantine with `inspector` (which should know the fixed schemas) and
/// append what now passes to `bronze.replayed`, exactly once.
pub async fn replay_quarantine(lake: &Lake, inspector: Arc<Inspector>) -> Result<ReplayReport> {
    for _ in 0..5 {
        let (version, records) = candidates(lake).await?;
        if let Some(registry) = inspector.registry() {
            registry
                .prefetch(records.iter().map(|r| r.value.as_deref()))
                .await;
        }
        let passing: Vec<&RawRecord> = records
            .iter()
            .filter(|r| inspector.inspect(r.value.as_deref()).is_valid())
            .collect();
        let mut report = ReplayReport {
            candidates: records.len(),
            replayed: passing.len(),
            still_invalid: records.len() - passing.len(),
            output_version: None,
        };
        if passing.is_empty() {
            return Ok(report);
        }
        let now = chrono::Utc::now().timestamp_micros();
        let batch: RecordBatch = build_batch(&inspector, passing.iter().copied(), now)?;
        let table = lake
            .ensure_table(&replayed_table(), events_schema(), &PARTITION_COLUMNS)
            .await?;
        let props =
            CommitProperties::default().with_application_transactions(vec![Transaction::new(
                APP_ID,
                i64::try_from(version).unwrap_or(i64::MAX),
            )]);
        match table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(PARTITION_COLUMNS)
            .with_commit_properties(props)
            .await
        {
            Ok(t) => {
                report.output_version = t.version();
                tracing::info!(
                    replayed = report.replayed,
                    still_invalid = report.still_invalid,
                    "quarantine replayed"
                );
                return Ok(report);
            }
            // Another replay committed first: read again what is left.
            Err(DeltaTableError::Transaction { .. }) => continue,
            Err(e) => return Err(Error::from(e)),
        }
    }
    Err(Error::from(DeltaTableError::Generic(
        "quarantine replay: gave up after 5 concurrent replays".into(),
    )))
}
