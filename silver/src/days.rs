//! Helpers of the Silver jobs: event days as SQL and time ranges, and batches shaped to the
//! stored table.

use std::collections::BTreeSet;

use deltalake::arrow::array::RecordBatch;

/// `DATE 'd1', DATE 'd2', ...` (or `NULL`, matching nothing).
pub fn day_list(days: &BTreeSet<String>) -> String {
    if days.is_empty() {
        return "NULL".into();
    }
    days.iter()
        .map(|d| format!("DATE '{d}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[first day 00:00, last day + 1 00:00)` in UTC microseconds.
pub(crate) fn day_range(days: &BTreeSet<String>) -> Option<(i64, i64)> {
    let parse = |d: &String| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let first = parse(days.first()?)?;
    let last = parse(days.last()?)?.succ_opt()?;
    let us = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
    };
    Some((us(first)?, us(last)?))
}

/// The schema with string views as plain strings (what Delta stores).
pub(crate) fn plain(
    schema: &deltalake::arrow::datatypes::SchemaRef,
) -> deltalake::arrow::datatypes::SchemaRef {
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    std::sync::Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => {
                    Field::new(f.name(), DataType::Utf8, f.is_nullable())
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Cast query output to the stored table's column types (DataFusion hands strings back as
/// views) and order, filling columns the query lacks with nulls.
pub fn conform(
    batches: &[RecordBatch],
    schema: &deltalake::arrow::datatypes::SchemaRef,
) -> Result<Vec<RecordBatch>, deltalake::arrow::error::ArrowError> {
    use deltalake::arrow::array::new_null_array;
    use deltalake::arrow::compute::cast;
    let schema = plain(schema);
    batches
        .iter()
        .map(|b| {
            let columns = schema
                .fields()
                .iter()
                .map(|f| match b.column_by_name(f.name()) {
                    Some(c) => cast(c, f.data_type()),
                    None => Ok(new_null_array(f.data_type(), b.num_rows())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect()
}
