//! Silver extraction as a DataFusion function, so that a refinement is one plan: Bronze files
//! -> filter -> `silver_decode(<bronze columns>)` -> dedup or stitch -> rows to merge. Bronze
//! batches stream through the decoder; no raw event value is held after its batch is decoded.
//!
//! The function returns the table's event row as a struct and decodes each event's JSON once,
//! for all declared paths together (`scan.rs`), rather than once per column: a table declares
//! several paths under the same object, and one guided pass that skips the rest is cheaper than
//! one per path. What the values could not be typed as is counted on the side ([`Extraction`]),
//! as the per-row decoder did.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use deltalake::arrow::array::{RecordBatch, StructArray};
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use deltalake::datafusion::error::{DataFusionError, Result as DfResult};
use deltalake::datafusion::execution::session_state::SessionStateBuilder;
use deltalake::datafusion::functions::core::expr_fn::get_field;
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use deltalake::datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col};

use strata_pipelines::{Lake, SessionBuilder};
use strata_project::SilverTable;

use crate::Result;
use crate::decode::{BRONZE_COLUMNS, Untyped, decode};

/// What a plan's extraction saw, complete once the plan has run.
#[derive(Debug, Clone, Default)]
pub struct Extraction(Arc<Mutex<Seen>>);

#[derive(Debug, Default)]
struct Seen {
    rows: usize,
    untyped: Untyped,
}

impl Extraction {
    /// Bronze rows decoded.
    pub fn rows(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).rows
    }

    /// Values present in the events that their column's type cannot hold.
    pub fn untyped(&self) -> Untyped {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .untyped
            .clone()
    }
}

/// A session for plans that decode. Two DataFusion 55 rewrites would move `silver_decode`
/// below the Bronze filter (so it would see invalid rows) and copy it once per use, although it
/// is volatile: leaf-expression pushdown turns `get_field(__row, 'x')` into
/// `get_field(silver_decode(..), 'x')`, and the physical filter pushdown substitutes a
/// projection's expressions into the filters it pushes through it. Both are off here; Bronze
/// predicates still reach the Parquet scan through the logical plan (file and row-group
/// pruning).
pub(crate) fn session(lake: &Lake) -> Result<SessionContext> {
    let mut config = SessionConfig::new();
    let options = config.options_mut();
    options.optimizer.enable_leaf_expression_pushdown = false;
    // The Bronze predicate (valid, event type) is evaluated while the Parquet pages are
    // decoded, so only the rows of this table's events have their raw value read: each of
    // the Silver tables would otherwise decode every value of the chunk.
    options.execution.parquet.pushdown_filters = true;
    options.execution.parquet.reorder_filters = true;
    let rules = PhysicalOptimizer::new()
        .rules
        .into_iter()
        .filter(|r| r.name() != "FilterPushdown")
        .collect();
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_physical_optimizer_rules(rules);
    Ok(SessionBuilder::refine_context(lake, config, state)?)
}

/// `source` (Bronze rows, already filtered to the table's events) decoded into the table's
/// event schema, lazily.
pub fn decoded(
    table: &SilverTable,
    source: DataFrame,
) -> Result<(DataFrame, Extraction), DataFusionError> {
    let seen = Extraction::default();
    let udf = ScalarUDF::new_from_impl(DecodeUdf {
        table: table.clone(),
        row: Arc::new(Field::new(
            "silver_decode",
            DataType::Struct(table.event_schema().fields().clone()),
            false,
        )),
        signature: Signature::variadic_any(Volatility::Volatile),
        seen: seen.clone(),
    });
    let args = BRONZE_COLUMNS.iter().map(|c| col(*c)).collect();
    let rows = source.select(vec![udf.call(args).alias("__row")])?;
    let fields = table
        .event_schema()
        .fields()
        .iter()
        .map(|f| get_field(col("__row"), f.name().as_str()).alias(f.name()))
        .collect::<Vec<_>>();
    Ok((rows.select(fields)?, seen))
}

/// `silver_decode(topic, partition, offset, event_id, ..., value)`: one Bronze row -> the
/// table's event row. Volatile: it counts what it decodes, so the plan must run it once.
#[derive(Debug)]
struct DecodeUdf {
    table: SilverTable,
    row: FieldRef,
    signature: Signature,
    seen: Extraction,
}

impl PartialEq for DecodeUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.seen.0, &other.seen.0)
    }
}

impl Eq for DecodeUdf {}

impl Hash for DecodeUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.seen.0).hash(state);
    }
}

impl ScalarUDFImpl for DecodeUdf {
    fn name(&self) -> &str {
        "silver_decode"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(self.row.data_type().clone())
    }

    fn return_field_from_args(&self, _: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(self.row.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let fields: Vec<Field> = BRONZE_COLUMNS
            .iter()
            .zip(&arrays)
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        let (rows, untyped) = decode(&self.table, &batch)?;
        let mut seen = self.seen.0.lock().unwrap_or_else(PoisonError::into_inner);
        seen.rows += rows.num_rows();
        seen.untyped.merge(untyped);
        Ok(ColumnarValue::Array(Arc::new(StructArray::from(rows))))
    }
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::{
        ArrayRef, BinaryArray, BooleanArray, Int32Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };

    use super::*;
    use crate::SilverJob;

    /// Bronze rows: (event_id, event_type, valid, value).
    fn bronze(rows: &[(Option<&str>, &str, bool, &str)]) -> RecordBatch {
        let n = rows.len();
        let text = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("topic", text(vec![Some("t"); n])),
            ("partition", Arc::new(Int32Array::from(vec![0; n]))),
            (
                "offset",
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
            ),
            ("event_id", text(rows.iter().map(|r| r.0).collect())),
            ("event_type", text(rows.iter().map(|r| Some(r.1)).collect())),
            ("schema_version", Arc::new(Int32Array::from(vec![1; n]))),
            (
                "occurred_at",
                Arc::new(TimestampMicrosecondArray::from(vec![0; n]).with_timezone("UTC")),
            ),
            ("source", text(vec![Some("s"); n])),
            ("tenant_id", text(vec![None; n])),
            (
                "value",
                Arc::new(BinaryArray::from_iter_values(rows.iter().map(|r| r.3))),
            ),
            (
                "valid",
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let arrays = columns.into_iter().map(|(_, a)| a).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("bronze batch")
    }

    /// The plan decodes each valid event of the table's types once: the filter runs first
    /// (an invalid row without an event_id never reaches the decoder), and the stitch's
    /// filters and the dedup's window do not copy the decoder.
    #[tokio::test]
    async fn each_valid_event_is_decoded_once_whatever_the_refinement() {
        let project = strata_project::builtin().expect("built-in project");
        let started = r#"{"player_id":"p","session_id":"s1","payload":{"platform":7}}"#;
        let ended = r#"{"player_id":"p","session_id":"s1","payload":{"duration_s":30}}"#;
        let rows = [
            (Some("e1"), "player.session.started", true, started),
            (Some("e2"), "player.session.ended", true, ended),
            (Some("e2"), "player.session.ended", true, ended),
            (None, "player.session.started", false, "not json"),
            (Some("e4"), "mission.started", true, "{}"),
        ];
        for name in ["player_sessions", "missions"] {
            let table = project.silver_table(name).expect("table").clone();
            let job = SilverJob::new(table);
            let ctx = session(&Lake::new("unused-lake").expect("lake")).expect("session");
            let source = ctx.read_batch(bronze(&rows)).expect("source");
            let refined = job
                .refine_bronze(&ctx, source, None, None)
                .await
                .expect("refined");
            let out: usize = refined.batches.iter().map(RecordBatch::num_rows).sum();
            match name {
                "player_sessions" => {
                    assert_eq!((refined.rows_in, out), (3, 1), "three events, one session");
                    let platform = refined.untyped.0.iter().find(|c| c.column == "platform");
                    let platform = platform.expect("platform column");
                    assert_eq!((platform.present, platform.untyped), (1, 1));
                }
                _ => assert_eq!((refined.rows_in, out), (1, 1)),
            }
        }
    }
}
