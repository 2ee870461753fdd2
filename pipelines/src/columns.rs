//! Typed access to a batch's columns by name, for the kernels that work on Arrow arrays
//! directly (Bronze's offset filter, Silver's deduplication).

use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::arrow::error::ArrowError;

/// Column `name` of `batch` as the array type `T`; an error naming the column when it is
/// missing or of another type.
pub fn typed_column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a T, ArrowError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("the batch has no column {name}")))?;
    column.as_any().downcast_ref::<T>().ok_or_else(|| {
        ArrowError::SchemaError(format!(
            "column {name} has type {}, not the one expected",
            column.data_type()
        ))
    })
}
