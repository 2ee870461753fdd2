//! PII features masked for roles without clear access, as SQL masks the same columns: a
//! feature a view reads from a column its table declares PII is hashed (hex SHA-256 of its
//! text, equal to SQL's `encode(sha256(CAST(c AS VARCHAR)), 'hex')`) or redacted (`[redacted]`
//! for text, null otherwise) in online answers and training sets.

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, new_null_array};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;
use strata_pipelines::audit::sha256_hex;
use strata_project::{Mask, Project, Role};

use crate::Result;
use crate::views::FeatureView;

/// The masked features of `view` for `role`, as (feature index, mask).
pub fn view_masks(project: &Project, role: &Role, view: &FeatureView) -> Vec<(usize, Mask)> {
    if role.clear_pii {
        return Vec::new();
    }
    let pii = project.pii(&view.source);
    view.features
        .iter()
        .enumerate()
        .filter_map(|(i, f)| pii.get(f).map(|m| (i, *m)))
        .collect()
}

/// One online value, masked.
pub fn value(v: &Value, mask: Mask) -> Value {
    match (mask, v) {
        (_, Value::Null) => Value::Null,
        (Mask::Hash, Value::String(s)) => Value::String(sha256_hex(s)),
        (Mask::Hash, other) => Value::String(sha256_hex(&other.to_string())),
        (Mask::Redact, Value::String(_)) => Value::String("[redacted]".into()),
        (Mask::Redact, _) => Value::Null,
    }
}

/// The columns of a training set named in `masked`, masked.
pub fn batch(out: &RecordBatch, masked: &[(String, Mask)]) -> Result<RecordBatch> {
    if masked.is_empty() {
        return Ok(out.clone());
    }
    let schema = out.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(out.columns()) {
        match masked.iter().find(|(n, _)| n == field.name()) {
            None => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
            Some((_, mask)) => {
                let (f, c) = masked_column(field, column, *mask)?;
                fields.push(f);
                columns.push(c);
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn masked_column(field: &Field, column: &ArrayRef, mask: Mask) -> Result<(Field, ArrayRef)> {
    let text = field.data_type() == &DataType::Utf8;
    let out: ArrayRef = match mask {
        Mask::Hash => {
            let s = cast(column, &DataType::Utf8)?;
            let s = s.as_string::<i32>();
            Arc::new(
                (0..s.len())
                    .map(|i| s.is_valid(i).then(|| sha256_hex(s.value(i))))
                    .collect::<StringArray>(),
            )
        }
        Mask::Redact if text => Arc::new(
            (0..column.len())
                .map(|i| column.is_valid(i).then_some("[redacted]"))
                .collect::<StringArray>(),
        ),
        Mask::Redact => new_null_array(field.data_type(), column.len()),
    };
    let kind = out.data_type().clone();
    Ok((Field::new(field.name(), kind, true), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::Int64Array;
    use serde_json::json;

    #[test]
    fn values_are_masked_as_sql_masks_them() {
        // sha256("p1") and sha256("42") in hex (Python's hashlib).
        let p1 = "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a";
        let n42 = "73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049";
        assert_eq!(value(&json!("p1"), Mask::Hash), json!(p1));
        assert_eq!(value(&json!(42), Mask::Hash), json!(n42));
        assert_eq!(value(&json!("x"), Mask::Redact), json!("[redacted]"));
        assert_eq!(value(&json!(4.5), Mask::Redact), Value::Null);
        assert_eq!(value(&Value::Null, Mask::Hash), Value::Null);

        let schema = Arc::new(Schema::new(vec![
            Field::new("player_id", DataType::Utf8, true),
            Field::new("score", DataType::Int64, true),
            Field::new("age", DataType::Int64, true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("p1"), None])),
                Arc::new(Int64Array::from(vec![Some(42), Some(7)])),
                Arc::new(Int64Array::from(vec![Some(30), Some(31)])),
            ],
        )
        .unwrap();
        let m = batch(
            &b,
            &[("score".into(), Mask::Hash), ("age".into(), Mask::Redact)],
        )
        .unwrap();
        assert_eq!(m.column(0).as_string::<i32>().value(0), "p1");
        assert_eq!(m.column(1).as_string::<i32>().value(0), n42);
        assert_eq!(m.column(2).null_count(), 2);
        assert_eq!(m.schema().field(1).data_type(), &DataType::Utf8);
    }
}
