//! Reading a view's rows: the whole table (a first load), or only some entities of it.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type, Schema, TimeUnit};
use deltalake::datafusion::prelude::SessionContext;
use serde_json::Value;
use strata_pipelines::{Lake, SessionBuilder, files_and_rows};

use super::{EntityRows, OnlineRow};
use crate::views::FeatureView;
use crate::{Error, Result};

/// A view's rows as read, with what reading them cost.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    pub version: Option<u64>,
    /// The table's Delta id: a table dropped and created again has a new one.
    pub table_id: Option<String>,
    pub rows: HashMap<String, EntityRows>,
    /// Table rows scanned.
    pub rows_read: u64,
}

/// `SELECT` list shaping a view's table into `__entity, __ts, <features>`.
pub(super) fn shape(view: &FeatureView) -> String {
    let features: Vec<String> = view.features.iter().map(|f| format!("\"{f}\"")).collect();
    format!(
        "CAST(\"{e}\" AS VARCHAR) AS __entity, \"{ts}\" AS __ts, {f}",
        e = view.entity,
        ts = view.timestamp,
        f = features.join(", ")
    )
}

/// Per entity of a view's table (`only`: of these entities), the newest row stamped at or
/// before now, and every row stamped after now.
pub(super) async fn load(
    lake: &Lake,
    view: &FeatureView,
    only: Option<&[String]>,
) -> Result<Loaded> {
    let name = view.table_name();
    let Some(table) = lake.open(&name).await? else {
        return Ok(Loaded::default());
    };
    let ctx = SessionContext::new();
    SessionBuilder::register(&ctx, &name, &table).await?;
    let now = chrono::Utc::now().timestamp_micros();
    let e = format!("CAST(\"{}\" AS VARCHAR)", view.entity);
    let filter = match only {
        Some(ids) => {
            let list: Vec<String> = ids
                .iter()
                .map(|i| format!("'{}'", i.replace('\'', "''")))
                .collect();
            format!("{e} IN ({}) AND ", list.join(", "))
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT {shape} FROM \
         (SELECT *, row_number() OVER (PARTITION BY {e} ORDER BY \"{ts}\" DESC) AS __rn FROM {t} \
          WHERE {filter}\"{ts}\" <= to_timestamp_micros({now})) WHERE __rn = 1 \
         UNION ALL SELECT {shape} FROM {t} \
         WHERE {filter}\"{ts}\" > to_timestamp_micros({now}) ORDER BY __entity, __ts",
        shape = shape(view),
        ts = view.timestamp,
        t = name
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut rows: HashMap<String, EntityRows> = HashMap::new();
    // Rows arrive ordered by entity and time, so each entity's list stays sorted.
    for (entity, row) in online_rows(view, &batches)? {
        rows.entry(entity).or_default().0.push(row);
    }
    let rows_read = files_and_rows(&table)?.1;
    Ok(Loaded {
        version: table.version(),
        table_id: table_id(&table),
        rows,
        rows_read,
    })
}

/// A table's Delta id (`metaData.id`).
pub(super) fn table_id(table: &deltalake::DeltaTable) -> Option<String> {
    Some(table.snapshot().ok()?.metadata().id().to_string())
}

/// Batches of `__entity, __ts, <features>` -> (entity, row), in batch order; rows without an
/// entity are skipped.
pub(super) fn online_rows(
    view: &FeatureView,
    batches: &[RecordBatch],
) -> Result<Vec<(String, OnlineRow)>> {
    let mut out = Vec::new();
    for b in batches {
        let entity = cast(b.column(0), &DataType::Utf8)?;
        let entity = entity.as_string::<i32>();
        let ts = cast(
            b.column(1),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let ts = cast(&ts, &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        let values = RecordBatch::try_new(
            Arc::new(Schema::new(b.schema().fields()[2..].to_vec())),
            b.columns()[2..].to_vec(),
        )?;
        let mut buf = Vec::new();
        {
            let mut w = deltalake::arrow::json::writer::ArrayWriter::new(&mut buf);
            w.write(&values)?;
            w.finish()?;
        }
        let objects: Vec<serde_json::Map<String, Value>> = if buf.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&buf).map_err(|e| Error::Query(e.to_string()))?
        };
        for (i, obj) in objects.into_iter().enumerate() {
            if entity.is_null(i) {
                continue;
            }
            let values = view
                .features
                .iter()
                .map(|f| obj.get(f).cloned().unwrap_or(Value::Null))
                .collect();
            out.push((
                entity.value(i).to_string(),
                OnlineRow {
                    ts_us: if ts.is_valid(i) { ts.value(i) } else { 0 },
                    values,
                },
            ));
        }
    }
    Ok(out)
}
