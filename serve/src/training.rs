//! Point-in-time training sets: for every entity row (entity key, timestamp) the latest
//! feature row of that entity known at that timestamp (`feature_ts <= timestamp`) and not older
//! than the view's TTL. Rows with no such feature row are kept, with nulls. Each request reads
//! only the requested entities' rows stamped between its earliest timestamp less the TTL and
//! its latest (file statistics skip the files outside that range); the join is a binary
//! search per row over each entity's rows sorted by time.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deltalake::DeltaTable;
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use deltalake::arrow::compute::{cast, concat_batches, take};
use deltalake::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use deltalake::datafusion::common::{ScalarValue, TableReference};
use deltalake::datafusion::physical_plan::{ExecutionPlan, collect};
use deltalake::datafusion::prelude::{JoinType, SessionContext, cast as cast_expr, ident, lit};
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata_pipelines::{Lake, SessionBuilder, TableVersions};
use tokio::sync::Mutex;

use crate::views::{FeatureView, resolve};
use crate::{Error, Result};

/// Formats of the entity rows sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Json,
    Csv,
    Parquet,
}

/// Formats of the training set sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Arrow,
    Parquet,
    Json,
}

impl OutputFormat {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "arrow" | "ipc" => Ok(OutputFormat::Arrow),
            "parquet" => Ok(OutputFormat::Parquet),
            "json" => Ok(OutputFormat::Json),
            other => Err(Error::BadRequest(format!(
                "unknown format '{other}' (arrow, parquet, json)"
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Arrow => "application/vnd.apache.arrow.stream",
            OutputFormat::Parquet => "application/vnd.apache.parquet",
            OutputFormat::Json => "application/json",
        }
    }
}

/// The rows of a view's history a request can use, sorted per entity.
#[derive(Debug)]
struct History {
    /// Feature columns, in the view's order.
    features: RecordBatch,
    /// Entity -> (timestamp us, row), ascending by timestamp.
    index: HashMap<String, Vec<(i64, u32)>>,
}

/// What a request needs of a view: these entities' rows stamped in `[from_us, to_us]`.
struct Wanted<'a> {
    entities: HashSet<&'a str>,
    from_us: i64,
    to_us: i64,
}

#[derive(Debug)]
pub struct TrainingSets {
    lake: Lake,
    versions: Mutex<TableVersions>,
    /// Each view's table as last opened; opened again when its version moves.
    tables: Mutex<HashMap<String, DeltaTable>>,
    bytes_read: AtomicU64,
}

fn ts_us(a: &ArrayRef) -> Result<ArrayRef> {
    let t = match a.data_type() {
        DataType::Timestamp(_, _) | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            cast(
                a,
                &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            )?
        }
        DataType::Date32 | DataType::Date64 => cast(
            a,
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )?,
        DataType::Int64 => return Ok(a.clone()),
        other => {
            return Err(Error::BadRequest(format!(
                "the timestamp column has type {other}; send RFC 3339 strings or timestamps"
            )));
        }
    };
    Ok(cast(&t, &DataType::Int64)?)
}

/// Every entity row has a timestamp that parsed: a value that did not (`"yesterday"`) is a
/// 400 naming the row, never a row of silent nulls.
fn check_timestamps(given: &ArrayRef, parsed: &Int64Array, column: &str) -> Result<()> {
    let Some(i) = (0..parsed.len()).find(|&i| parsed.is_null(i)) else {
        return Ok(());
    };
    if given.is_null(i) {
        return Err(Error::BadRequest(format!(
            "entity row {i} has no '{column}'"
        )));
    }
    let text = cast(given, &DataType::Utf8)
        .ok()
        .and_then(|t| t.as_string_opt::<i32>().map(|s| s.value(i).to_string()))
        .unwrap_or_default();
    let shown: String = text.chars().take(64).collect();
    Err(Error::BadRequest(format!(
        "entity row {i}: {column} '{shown}' is not a timestamp; send RFC 3339 (e.g. \
         2026-11-20T12:00:00Z), a date, or microseconds since the epoch"
    )))
}

impl TrainingSets {
    pub fn new(lake: Lake) -> Self {
        Self {
            versions: Mutex::new(TableVersions::new(lake.clone())),
            lake,
            tables: Mutex::new(HashMap::new()),
            bytes_read: AtomicU64::new(0),
        }
    }

    /// Bytes of the views' files read so far, over every request.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// The view's table at its latest version; `None` while it does not exist.
    async fn table(&self, view: &FeatureView) -> Result<Option<DeltaTable>> {
        let name = view.table_name();
        // A log listing per request; the table is opened only when its version moved.
        let version = self.versions.lock().await.latest(&name).await?;
        let mut tables = self.tables.lock().await;
        if let Some(t) = tables.get(&view.name)
            && t.version() == version
        {
            return Ok(Some(t.clone()));
        }
        let table = self.lake.open(&name).await?;
        match &table {
            Some(t) => tables.insert(view.name.clone(), t.clone()),
            None => tables.remove(&view.name),
        };
        Ok(table)
    }

    /// The rows of a view a request can use: its entities', stamped from the earliest
    /// timestamp asked for less the TTL to the latest. Filters on the timestamp let the
    /// table's file statistics skip files.
    async fn history(&self, view: &FeatureView, wanted: Wanted<'_>) -> Result<History> {
        let Some(table) = self.table(view).await? else {
            let schema = Schema::new(
                view.features
                    .iter()
                    .map(|f| Field::new(f.as_str(), DataType::Float64, true))
                    .collect::<Vec<_>>(),
            );
            return Ok(History {
                features: RecordBatch::new_empty(Arc::new(schema)),
                index: HashMap::new(),
            });
        };
        let name = view.table_name();
        let ctx = SessionContext::new();
        SessionBuilder::register(&ctx, &name, &table).await?;
        let reference = TableReference::partial(name.layer.clone(), name.table.clone());
        let at = |us: i64| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(us),
                Some("UTC".into()),
            ))
        };
        let ts = ident(&view.timestamp);
        let mut columns = vec![
            cast_expr(ident(&view.entity), DataType::Utf8).alias("__entity"),
            ts.clone().alias("__ts"),
        ];
        columns.extend(view.features.iter().map(ident));
        let rows = ctx
            .table(reference)
            .await?
            .filter(
                ts.clone()
                    .gt_eq(at(wanted.from_us))
                    .and(ts.lt_eq(at(wanted.to_us))),
            )?
            .select(columns)?;
        // A semi-join on the (small) set of requested entities, not an IN list: a training
        // set may ask for millions of entities.
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(wanted.entities));
        let df = ctx
            .read_batch(RecordBatch::try_from_iter([("__wanted", ids)])?)?
            .join(
                rows,
                JoinType::RightSemi,
                &["__wanted"],
                &["__entity"],
                None,
            )?;
        let plan = df.create_physical_plan().await?;
        let batches = collect(plan.clone(), ctx.task_ctx()).await?;
        let all = concat_batches(&plan.schema(), &batches)?;
        self.bytes_read
            .fetch_add(scanned_bytes(plan.as_ref()), Ordering::Relaxed);
        index(all)
    }

    /// Join `features` (`view:feature`) onto `rows`, as of each row's `timestamp_column`.
    pub async fn build(
        &self,
        views: &[FeatureView],
        features: &[String],
        rows: &RecordBatch,
        timestamp_column: &str,
        full_feature_names: bool,
    ) -> Result<RecordBatch> {
        let resolved = resolve(views, features)?;
        let ts_col = rows.column_by_name(timestamp_column).ok_or_else(|| {
            Error::BadRequest(format!(
                "entity rows have no '{timestamp_column}' column (the time each row is as of)"
            ))
        })?;
        let ts = ts_us(ts_col)
            .map_err(|e| Error::BadRequest(format!("column '{timestamp_column}': {e}")))?;
        let ts = ts.as_primitive::<Int64Type>();
        check_timestamps(ts_col, ts, timestamp_column)?;
        let mut fields: Vec<Field> = rows
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
        // One as-of index per view, shared by its features.
        let mut picked: HashMap<&str, UInt32Array> = HashMap::new();
        for (view, _) in &resolved {
            if picked.contains_key(view.name.as_str()) {
                continue;
            }
            let entity = rows.column_by_name(&view.entity).ok_or_else(|| {
                Error::BadRequest(format!(
                    "entity rows have no '{}' column (the entity of {})",
                    view.entity, view.name
                ))
            })?;
            let entity = cast(entity, &DataType::Utf8)?;
            let entity = entity.as_string::<i32>();
            if let Some(i) = (0..entity.len()).find(|&i| entity.is_null(i)) {
                return Err(Error::BadRequest(format!(
                    "entity row {i} has no '{}' (the entity of {})",
                    view.entity, view.name
                )));
            }
            let ttl = i64::try_from(view.ttl.as_micros()).unwrap_or(i64::MAX);
            let (min, max) = ts
                .iter()
                .flatten()
                .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
            let wanted = Wanted {
                entities: entity.iter().flatten().collect(),
                from_us: min.saturating_sub(ttl),
                to_us: max,
            };
            let history = self.history(view, wanted).await?;
            let idx: UInt32Array = (0..rows.num_rows())
                .map(|i| {
                    if entity.is_null(i) || ts.is_null(i) {
                        return None;
                    }
                    let at = ts.value(i);
                    let hist = history.index.get(entity.value(i))?;
                    let n = hist.partition_point(|(t, _)| *t <= at);
                    let (t, row) = *hist.get(n.checked_sub(1)?)?;
                    (at - t <= ttl).then_some(row)
                })
                .collect();
            let history_cols: Vec<ArrayRef> = history.features.columns().to_vec();
            for (v, f) in resolved.iter().filter(|(v, _)| v.name == view.name) {
                let name = v.features[*f].as_str();
                let col = history
                    .features
                    .schema()
                    .index_of(name)
                    .ok()
                    .and_then(|j| history_cols.get(j).cloned())
                    .ok_or_else(|| Error::Query(format!("{} lacks column {name}", v.source)))?;
                let out = take(col.as_ref(), &idx, None)?;
                let label = if full_feature_names {
                    format!("{}__{name}", v.name)
                } else {
                    name.to_string()
                };
                fields.push(Field::new(label, out.data_type().clone(), true));
                columns.push(out);
            }
            picked.insert(view.name.as_str(), idx);
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
}

/// Bytes the plan's Parquet scans read from the table's files, after file and row-group
/// pruning.
fn scanned_bytes(plan: &dyn ExecutionPlan) -> u64 {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name("bytes_scanned"))
        .map_or(0, |v| v.as_usize());
    let below: u64 = plan
        .children()
        .iter()
        .map(|c| scanned_bytes(c.as_ref()))
        .sum();
    below + u64::try_from(own).unwrap_or(u64::MAX)
}

/// Index rows shaped `__entity, __ts, <features>` by entity, each entity's rows by time.
fn index(all: RecordBatch) -> Result<History> {
    let entity = cast(all.column(0), &DataType::Utf8)?;
    let entity = entity.as_string::<i32>();
    let ts = ts_us(all.column(1))?;
    let ts = ts.as_primitive::<Int64Type>();
    let mut index: HashMap<String, Vec<(i64, u32)>> = HashMap::new();
    for i in 0..all.num_rows() {
        if entity.is_null(i) || ts.is_null(i) {
            continue;
        }
        index
            .entry(entity.value(i).to_string())
            .or_default()
            .push((ts.value(i), u32::try_from(i).unwrap_or(u32::MAX)));
    }
    for rows in index.values_mut() {
        rows.sort_unstable();
    }
    let feature_schema = Arc::new(Schema::new(all.schema().fields()[2..].to_vec()));
    Ok(History {
        features: RecordBatch::try_new(feature_schema, all.columns()[2..].to_vec())?,
        index,
    })
}

/// Entity rows from a request body.
pub fn parse_rows(format: InputFormat, body: &[u8]) -> Result<RecordBatch> {
    let bad = |m: String| Error::BadRequest(format!("entity rows: {m}"));
    let batches: Vec<RecordBatch> = match format {
        InputFormat::Json => {
            let rows: Vec<serde_json::Value> = serde_json::from_slice(body)
                .map_err(|e| bad(format!("not a JSON array of objects: {e}")))?;
            return rows_from_json(&rows);
        }
        InputFormat::Csv => {
            let (schema, _) = deltalake::arrow::csv::reader::Format::default()
                .with_header(true)
                .infer_schema(Cursor::new(body), Some(1000))
                .map_err(|e| bad(e.to_string()))?;
            let reader = deltalake::arrow::csv::ReaderBuilder::new(Arc::new(schema))
                .with_header(true)
                .with_batch_size(65_536)
                .build(Cursor::new(body))
                .map_err(|e| bad(e.to_string()))?;
            reader
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?
        }
        InputFormat::Parquet => {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(axum::body::Bytes::copy_from_slice(body))
                    .map_err(|e| bad(e.to_string()))?
                    .with_batch_size(65_536)
                    .build()
                    .map_err(|e| bad(e.to_string()))?;
            reader
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?
        }
    };
    match batches.first() {
        Some(b) => Ok(concat_batches(&b.schema(), &batches)?),
        None => Err(bad("no rows".into())),
    }
}

/// JSON objects -> a batch, inferring the schema.
pub fn rows_from_json(rows: &[serde_json::Value]) -> Result<RecordBatch> {
    if rows.is_empty() {
        return Err(Error::BadRequest("entity rows: no rows".into()));
    }
    if rows.iter().any(|r| !r.is_object()) {
        return Err(Error::BadRequest(
            "entity rows: every row must be a JSON object".into(),
        ));
    }
    let schema = deltalake::arrow::json::reader::infer_json_schema_from_iterator(
        rows.iter().take(1000).map(|r| Ok(r.clone())),
    )
    .map_err(|e| Error::BadRequest(format!("entity rows: {e}")))?;
    let mut decoder = deltalake::arrow::json::ReaderBuilder::new(Arc::new(schema))
        .build_decoder()
        .map_err(|e| Error::BadRequest(format!("entity rows: {e}")))?;
    decoder
        .serialize(rows)
        .map_err(|e| Error::BadRequest(format!("entity rows: {e}")))?;
    decoder
        .flush()
        .map_err(|e| Error::BadRequest(format!("entity rows: {e}")))?
        .ok_or_else(|| Error::BadRequest("entity rows: no rows".into()))
}

/// A training set in the asked format.
pub fn encode(format: OutputFormat, batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        OutputFormat::Arrow => {
            let mut w =
                deltalake::arrow::ipc::writer::StreamWriter::try_new(&mut buf, &batch.schema())?;
            w.write(batch)?;
            w.finish()?;
        }
        OutputFormat::Parquet => {
            let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), None)?;
            w.write(batch)?;
            w.close()?;
        }
        OutputFormat::Json => {
            let mut w = deltalake::arrow::json::writer::ArrayWriter::new(&mut buf);
            w.write(batch)?;
            w.finish()?;
            if buf.is_empty() {
                buf.extend_from_slice(b"[]");
            }
        }
    }
    Ok(buf)
}
