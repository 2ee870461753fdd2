//! Bronze rows -> typed Silver columns. The envelope comes from Bronze's columns; the payload is
//! decoded from the raw JSON value with the table's column paths.

use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Date32Builder, Float64Builder, Int64Builder,
    RecordBatch, StringArray, StringBuilder,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use deltalake::arrow::error::ArrowError;
use serde_json::Value;

use crate::tables::{Kind, SilverTable};

const DAY_US: i64 = 86_400_000_000;

/// The Bronze columns a Silver job reads.
pub const BRONZE_COLUMNS: [&str; 13] = [
    "topic",
    "partition",
    "offset",
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "source",
    "tenant_id",
    "player_id",
    "agent_id",
    "session_id",
    "value",
];

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, ArrowError> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("bronze column {name} missing")))?;
    cast(c, to)
}

enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
}

/// An integer column's value: JSON integers, and floats with no fraction (`-0.0`, `3.0`,
/// which JSON Schema's `integer` admits) within range.
fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        // 2^63 is the first float past i64::MAX; -2^63 is i64::MIN.
        let limit = 2f64.powi(63);
        (f.fract() == 0.0 && (-limit..limit).contains(&f)).then_some(f as i64)
    })
}

fn lookup<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, k| v.get(k))
}

/// Decode one Bronze batch (already filtered to the table's valid events) into the table's
/// event schema.
pub fn decode(table: &SilverTable, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let utf8 = |n: &str| -> Result<StringArray, ArrowError> {
        Ok(column(batch, n, &DataType::Utf8)?
            .as_string::<i32>()
            .clone())
    };
    let topic = utf8("topic")?;
    let partition = column(batch, "partition", &DataType::Int32)?;
    let offset = column(batch, "offset", &DataType::Int64)?;
    let event_id = utf8("event_id")?;
    let event_type = utf8("event_type")?;
    let schema_version = column(batch, "schema_version", &DataType::Int32)?;
    let occurred_at = column(batch, "occurred_at", &ts)?;
    let value = column(batch, "value", &DataType::Binary)?;
    let value: &BinaryArray = value.as_binary::<i32>();
    let occurred = occurred_at.as_primitive::<TimestampMicrosecondType>();

    let n = batch.num_rows();
    let mut builders: Vec<Builder> = table
        .payload
        .iter()
        .map(|c| match c.kind {
            Kind::Str => Builder::Str(StringBuilder::with_capacity(n, n * 8)),
            Kind::Int => Builder::Int(Int64Builder::with_capacity(n)),
            Kind::Float => Builder::Float(Float64Builder::with_capacity(n)),
        })
        .collect();
    let mut date = Date32Builder::with_capacity(n);
    for i in 0..n {
        let doc: Value = if value.is_null(i) {
            Value::Null
        } else {
            // Confluent-framed values carry a 5-byte header before the JSON.
            let raw = value.value(i);
            let json = strata_quality::framed::split(raw).map_or(raw, |(_, payload)| payload);
            serde_json::from_slice(json).unwrap_or(Value::Null)
        };
        for (c, b) in table.payload.iter().zip(builders.iter_mut()) {
            let v = lookup(&doc, c.path);
            match b {
                Builder::Str(b) => b.append_option(v.and_then(Value::as_str)),
                Builder::Int(b) => b.append_option(v.and_then(as_int)),
                Builder::Float(b) => b.append_option(v.and_then(Value::as_f64)),
            }
        }
        let d = occurred.value(i).div_euclid(DAY_US);
        date.append_value(i32::try_from(d).unwrap_or(i32::MAX));
    }

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(event_id),
        Arc::new(event_type),
        schema_version,
        occurred_at.clone(),
        Arc::new(utf8("source")?),
        Arc::new(utf8("tenant_id")?),
        Arc::new(utf8("player_id")?),
        Arc::new(utf8("agent_id")?),
        Arc::new(utf8("session_id")?),
    ];
    for b in builders {
        columns.push(match b {
            Builder::Str(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Float(mut b) => Arc::new(b.finish()),
        });
    }
    columns.push(Arc::new(topic));
    columns.push(partition);
    columns.push(offset);
    columns.push(Arc::new(date.finish()));
    RecordBatch::try_new(table.event_schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_fill_integer_columns() {
        assert_eq!(as_int(&serde_json::json!(-0.0)), Some(0));
        assert_eq!(as_int(&serde_json::json!(3.0)), Some(3));
        assert_eq!(as_int(&serde_json::json!(-0)), Some(0));
        assert_eq!(as_int(&serde_json::json!(3.5)), None);
        assert_eq!(as_int(&serde_json::json!(18446744073709551615u64)), None);
        assert_eq!(as_int(&serde_json::json!(1.8446744073709552e19)), None);
    }
}
