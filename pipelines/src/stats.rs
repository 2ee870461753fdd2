//! What a table holds, from its Delta log alone (file statistics), without reading data.

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::Int64Type;

use crate::{Error, Result};

/// Data files, rows, and files smaller than `small_below` bytes in the table's current
/// version (one read of its add actions).
pub fn file_stats(table: &DeltaTable, small_below: u64) -> Result<(usize, u64, usize)> {
    let adds = table
        .snapshot()
        .and_then(|s| s.add_actions_table(true))
        .map_err(|e| Error::delta(table.table_url(), e))?;
    let int = |c: &str| {
        adds.column_by_name(c)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .cloned()
    };
    let rows = int("num_records").map_or(0, |a| {
        (0..a.len())
            .filter(|&i| a.is_valid(i))
            .map(|i| u64::try_from(a.value(i)).unwrap_or(0))
            .sum()
    });
    let small = int("size_bytes").map_or(adds.num_rows(), |a| {
        (0..a.len())
            .filter(|&i| u64::try_from(a.value(i)).unwrap_or(0) < small_below)
            .count()
    });
    Ok((adds.num_rows(), rows, small))
}

/// Data files and rows in the table's current version.
pub fn files_and_rows(table: &DeltaTable) -> Result<(usize, u64)> {
    file_stats(table, 0).map(|(files, rows, _)| (files, rows))
}
