//! Bronze rows -> typed Silver columns. The envelope comes from Bronze's columns; the declared
//! columns are decoded from the raw JSON value with their paths.

use std::sync::Arc;

use crate::scan::{Found, Paths, scan};
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanBuilder, Date32Builder, Float64Builder,
    Int64Builder, RecordBatch, StringArray, StringBuilder,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{
    DataType, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use deltalake::arrow::error::ArrowError;

use strata_project::{Kind, SilverTable};

const DAY_US: i64 = 86_400_000_000;

/// The Bronze columns a Silver job reads.
pub const BRONZE_COLUMNS: [&str; 10] = [
    "topic",
    "partition",
    "offset",
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "source",
    "tenant_id",
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
    Bool(BooleanBuilder),
}

/// An integer column's value: JSON integers, and floats with no fraction (`-0.0`, `3.0`,
/// which JSON Schema's `integer` admits) within range.
fn as_int(v: &Found) -> Option<i64> {
    match v {
        Found::Int(i) => Some(*i),
        Found::Float(f) => {
            // 2^63 is the first float past i64::MAX; -2^63 is i64::MIN.
            let limit = 2f64.powi(63);
            (f.fract() == 0.0 && (-limit..limit).contains(f)).then_some(*f as i64)
        }
        _ => None,
    }
}

fn as_str<'a>(v: &'a Found<'a>) -> Option<&'a str> {
    match v {
        Found::Str(s) => Some(s),
        _ => None,
    }
}

fn as_float(v: &Found) -> Option<f64> {
    match v {
        Found::Int(i) => Some(*i as f64),
        Found::UInt(u) => Some(*u as f64),
        Found::Float(f) => Some(*f),
        _ => None,
    }
}

fn as_bool(v: &Found) -> Option<bool> {
    match v {
        Found::Bool(b) => Some(*b),
        _ => None,
    }
}

/// A declared column's values that were present in the events but could not be typed (they
/// arrive in Silver as NULL). Counted so that no value turns into NULL unseen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UntypedColumn {
    pub column: String,
    /// Rows whose event holds a non-null value at the column's path.
    pub present: u64,
    /// Of those, the values the column's type cannot hold.
    pub untyped: u64,
    /// Up to [`SAMPLES`] of them, each naming its Bronze row.
    pub samples: Vec<String>,
}

/// How many offending values a column keeps as examples.
pub const SAMPLES: usize = 5;

/// Untyped counts of every declared column of a table, in the table's column order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Untyped(pub Vec<UntypedColumn>);

impl Untyped {
    fn new(table: &SilverTable) -> Self {
        Self(
            table
                .columns
                .iter()
                .map(|c| UntypedColumn {
                    column: c.name.clone(),
                    ..UntypedColumn::default()
                })
                .collect(),
        )
    }

    /// Add another batch's counts (same table).
    pub fn merge(&mut self, other: Untyped) {
        if self.0.is_empty() {
            *self = other;
            return;
        }
        for (a, b) in self.0.iter_mut().zip(other.0) {
            a.present += b.present;
            a.untyped += b.untyped;
            let room = SAMPLES.saturating_sub(a.samples.len());
            a.samples.extend(b.samples.into_iter().take(room));
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|c| c.untyped).sum()
    }
}

/// A sample of an untyped value: where it is in Bronze, and the value (shortened).
fn sample(topic: &str, partition: i32, offset: i64, v: &Found) -> String {
    let mut text = v.to_json();
    if text.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("...");
    }
    serde_json::json!({"bronze": format!("{topic}/{partition}/{offset}"), "value": text})
        .to_string()
}

/// Decode one Bronze batch (already filtered to the table's valid events) into the table's
/// event schema, with the values that could not be typed.
pub fn decode(
    table: &SilverTable,
    batch: &RecordBatch,
) -> Result<(RecordBatch, Untyped), ArrowError> {
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
    let partitions = partition.as_primitive::<Int32Type>();
    let offsets = offset.as_primitive::<Int64Type>();
    let mut untyped = Untyped::new(table);

    let n = batch.num_rows();
    let mut builders: Vec<Builder> = table
        .columns
        .iter()
        .map(|c| match c.kind {
            Kind::Str => Builder::Str(StringBuilder::with_capacity(n, n * 8)),
            Kind::Int => Builder::Int(Int64Builder::with_capacity(n)),
            Kind::Float => Builder::Float(Float64Builder::with_capacity(n)),
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(n)),
        })
        .collect();
    let mut date = Date32Builder::with_capacity(n);
    let paths = Paths::new(table.columns.iter().map(|c| c.path.as_slice()));
    let mut slots = vec![None; table.columns.len()];
    for i in 0..n {
        if value.is_null(i) {
            slots.iter_mut().for_each(|s| *s = None);
        } else {
            // Confluent-framed values carry a 5-byte header before the JSON.
            let raw = value.value(i);
            let json = strata_quality::framed::split(raw).map_or(raw, |(_, payload)| payload);
            scan(json, &paths, &mut slots);
        }
        for ((b, u), v) in builders
            .iter_mut()
            .zip(untyped.0.iter_mut())
            .zip(slots.iter())
        {
            let v = v.as_ref();
            let typed = match b {
                Builder::Str(b) => append(b, v, as_str),
                Builder::Int(b) => append(b, v, as_int),
                Builder::Float(b) => append(b, v, as_float),
                Builder::Bool(b) => append(b, v, as_bool),
            };
            if let Some(v) = v {
                u.present += 1;
                if !typed {
                    u.untyped += 1;
                    if u.samples.len() < SAMPLES {
                        let at = (topic.value(i), partitions.value(i), offsets.value(i));
                        u.samples.push(sample(at.0, at.1, at.2, v));
                    }
                }
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
    ];
    for b in builders {
        columns.push(match b {
            Builder::Str(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Float(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
        });
    }
    columns.push(Arc::new(topic));
    columns.push(partition);
    columns.push(offset);
    columns.push(Arc::new(date.finish()));
    Ok((
        RecordBatch::try_new(table.event_schema(), columns)?,
        untyped,
    ))
}

/// Append the typed value (or NULL); false when a present value could not be typed.
fn append<'a, T, B>(
    b: &mut B,
    v: Option<&'a Found<'a>>,
    typed: impl Fn(&'a Found<'a>) -> Option<T>,
) -> bool
where
    B: AppendOption<T>,
{
    let t = v.and_then(typed);
    let ok = v.is_none() || t.is_some();
    b.append_opt(t);
    ok
}

/// The builders' shared "append a value or NULL".
trait AppendOption<T> {
    fn append_opt(&mut self, v: Option<T>);
}

impl<'a> AppendOption<&'a str> for StringBuilder {
    fn append_opt(&mut self, v: Option<&'a str>) {
        self.append_option(v);
    }
}

impl AppendOption<i64> for Int64Builder {
    fn append_opt(&mut self, v: Option<i64>) {
        self.append_option(v);
    }
}

impl AppendOption<f64> for Float64Builder {
    fn append_opt(&mut self, v: Option<f64>) {
        self.append_option(v);
    }
}

impl AppendOption<bool> for BooleanBuilder {
    fn append_opt(&mut self, v: Option<bool>) {
        self.append_option(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_fill_integer_columns() {
        assert_eq!(as_int(&Found::Float(-0.0)), Some(0));
        assert_eq!(as_int(&Found::Float(3.0)), Some(3));
        assert_eq!(as_int(&Found::Int(0)), Some(0));
        assert_eq!(as_int(&Found::Float(3.5)), None);
        assert_eq!(as_int(&Found::UInt(u64::MAX)), None);
        assert_eq!(as_int(&Found::Float(1.8446744073709552e19)), None);
    }

    #[test]
    fn present_values_that_cannot_be_typed_are_counted_with_their_row() {
        use deltalake::arrow::array::{
            BinaryArray, Int32Array, Int64Array, TimestampMicrosecondArray,
        };
        use deltalake::arrow::datatypes::{Field, Schema};
        let project = strata_project::builtin().expect("built-in project");
        let table = project.silver_table("missions").expect("missions").clone();
        let docs = [
            r#"{"payload":{"mission_id":"m1","duration_s":18446744073709551615}}"#,
            r#"{"payload":{"mission_id":"m2","duration_s":-0.0}}"#,
            r#"{"payload":{"mission_id":7,"duration_s":null}}"#,
            r#"{"payload":{"mission_id":"m4"}}"#,
        ];
        let n = docs.len();
        let strs = |v: &str| Arc::new(StringArray::from(vec![v; n])) as ArrayRef;
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for name in BRONZE_COLUMNS {
            let (dt, c): (DataType, ArrayRef) = match name {
                "partition" | "schema_version" => {
                    (DataType::Int32, Arc::new(Int32Array::from(vec![1; n])))
                }
                "offset" => (
                    DataType::Int64,
                    Arc::new(Int64Array::from_iter_values(40..44)),
                ),
                "occurred_at" => (
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    Arc::new(TimestampMicrosecondArray::from(vec![0; n]).with_timezone("UTC")),
                ),
                "value" => (
                    DataType::Binary,
                    Arc::new(BinaryArray::from_iter_values(
                        docs.iter().map(|d| d.as_bytes()),
                    )),
                ),
                _ => (DataType::Utf8, strs("x")),
            };
            fields.push(Field::new(name, dt, true));
            cols.push(c);
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("batch");
        let (out, untyped) = decode(&table, &batch).expect("decode");
        let duration = out.column_by_name("duration_s").expect("duration_s");
        assert_eq!(
            duration.null_count(),
            3,
            "2^64-1, null and missing are NULL"
        );
        let by = |c: &str| untyped.0.iter().find(|u| u.column == c).expect(c).clone();
        let d = by("duration_s");
        assert_eq!(
            (d.present, d.untyped),
            (2, 1),
            "JSON null and missing are not present"
        );
        assert!(d.samples[0].contains("x/1/40"), "{:?}", d.samples);
        assert!(
            d.samples[0].contains("18446744073709551615"),
            "{:?}",
            d.samples
        );
        let m = by("mission_id");
        assert_eq!(
            (m.present, m.untyped),
            (4, 1),
            "a number is no mission_id string"
        );
        assert_eq!(untyped.total(), 2);
    }
}
