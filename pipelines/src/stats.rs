//! What a table holds, from its Delta log alone (file statistics), without reading data.

use std::collections::BTreeMap;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};

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

/// Rows per value of the partition column `column` in the table's current version (dates as
/// `YYYY-MM-DD`), from file statistics: what a job reading those partitions will hold.
/// Files without a row count add none.
pub fn rows_by_partition(table: &DeltaTable, column: &str) -> Result<BTreeMap<String, u64>> {
    let err = |e| Error::delta(table.table_url(), e);
    let adds = table
        .snapshot()
        .and_then(|s| s.add_actions_table(true))
        .map_err(err)?;
    let mut out = BTreeMap::new();
    let (Some(values), Some(rows)) = (
        adds.column_by_name(&format!("partition.{column}")),
        adds.column_by_name("num_records")
            .and_then(|c| c.as_primitive_opt::<Int64Type>()),
    ) else {
        return Ok(out);
    };
    let values = cast(values, &DataType::Utf8).map_err(|e| err(e.into()))?;
    let values = values.as_string::<i32>();
    for i in (0..adds.num_rows()).filter(|&i| values.is_valid(i) && rows.is_valid(i)) {
        *out.entry(values.value(i).to_string()).or_default() +=
            u64::try_from(rows.value(i)).unwrap_or(0);
    }
    Ok(out)
}
