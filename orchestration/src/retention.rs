//! Retention: rows older than a table's retention leave it, by the table's date. A table
//! partitioned by a date (`event_date`, Bronze's `ingest_date`) loses whole partitions, a
//! metadata-only delete; any other table is filtered on its first date or timestamp column.
//! The files stay until vacuum removes them (after `vacuum_retention_hours`), so time travel
//! to versions before the delete works until then.

use chrono::NaiveDate;
use deltalake::DeltaTable;
use deltalake::arrow::datatypes::DataType;
use strata_pipelines::{Lake, TableName};
use tracing::info;

use crate::{Error, Result};

/// Retention per table: `*`, `<layer>.*` or `<layer>.<table>` with days; the most specific
/// entry for a table wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention(Vec<(String, u32)>);

impl Retention {
    /// Check every pattern and day count.
    pub fn new(entries: impl IntoIterator<Item = (String, u32)>) -> Result<Self> {
        let mut out = Vec::new();
        for (pattern, days) in entries {
            let ok = pattern == "*"
                || pattern
                    .split_once('.')
                    .is_some_and(|(l, t)| !l.is_empty() && !t.is_empty() && !t.contains('.'));
            if !ok || days == 0 {
                return Err(Error::Retention(format!(
                    "maintenance.retention_days: '{pattern}' = {days}: keys are *, <layer>.* or <layer>.<table>, days at least 1"
                )));
            }
            out.push((pattern, days));
        }
        Ok(Self(out))
    }

    /// The days `table` keeps, if any entry covers it.
    pub fn days_for(&self, table: &TableName) -> Option<u32> {
        let exact = table.to_string();
        let layer = format!("{}.*", table.layer);
        [exact.as_str(), layer.as_str(), "*"]
            .iter()
            .find_map(|p| self.0.iter().find(|(k, _)| k == p).map(|(_, d)| *d))
    }
}

/// What retention removed from one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    /// The date column retention went by.
    pub column: String,
    /// Rows dated before this day left the table.
    pub cutoff: String,
    pub files_removed: usize,
    pub rows_deleted: Option<u64>,
}

/// The column dates are read from: a date partition column, else the first date or timestamp
/// column. `(name, is a date)`.
fn date_column(table: &DeltaTable, name: &TableName) -> Result<(String, bool)> {
    let snapshot = table.snapshot().map_err(|e| Error::delta(name, e))?;
    let partitions = snapshot.metadata().partition_columns().to_vec();
    let schema = snapshot.snapshot().arrow_schema();
    let fields: Vec<_> = schema.fields().iter().collect();
    let is_date = |t: &DataType| matches!(t, DataType::Date32 | DataType::Date64);
    let found = fields
        .iter()
        .find(|f| partitions.contains(f.name()) && is_date(f.data_type()))
        .or_else(|| {
            fields.iter().find(|f| {
                is_date(f.data_type()) || matches!(f.data_type(), DataType::Timestamp(..))
            })
        });
    found
        .map(|f| (f.name().clone(), is_date(f.data_type())))
        .ok_or_else(|| {
            Error::Retention(format!(
                "{name} has no date or timestamp column to apply maintenance.retention_days by"
            ))
        })
}

/// Delete the rows of `table` dated before `today - days`. No commit when nothing is older.
pub async fn apply(
    lake: &Lake,
    name: &TableName,
    days: u32,
    today: NaiveDate,
) -> Result<Option<RetentionReport>> {
    let table = lake.open_existing(name).await?;
    let (column, is_date) = date_column(&table, name)?;
    let cutoff = (today - chrono::Days::new(u64::from(days))).to_string();
    // A date-partitioned table: the partitions' row counts say what is older, without a read.
    let partitions = strata_pipelines::rows_by_partition(&table, &column)?;
    let old: Vec<u64> = partitions
        .iter()
        .filter(|(d, _)| **d < cutoff)
        .map(|(_, n)| *n)
        .collect();
    if !partitions.is_empty() && old.is_empty() {
        return Ok(None);
    }
    let predicate = if is_date {
        format!("\"{column}\" < CAST('{cutoff}' AS DATE)")
    } else {
        format!("\"{column}\" < CAST('{cutoff}T00:00:00Z' AS TIMESTAMP)")
    };
    let (_, metrics) = table
        .delete()
        .with_predicate(predicate)
        .await
        .map_err(|e| Error::delta(name, e))?;
    if metrics.num_removed_files == 0 {
        return Ok(None);
    }
    let from_partitions = (!partitions.is_empty()).then(|| old.iter().sum::<u64>());
    let report = RetentionReport {
        column,
        cutoff,
        files_removed: metrics.num_removed_files,
        rows_deleted: metrics
            .num_deleted_rows
            .map(|n| n as u64)
            .or(from_partitions),
    };
    info!(table = %name, cutoff = %report.cutoff, files = report.files_removed, "retention applied");
    let event = strata_pipelines::AuditEvent::new("maintenance", "operator", "retention", "admin")
        .objects([name.to_string()])
        .outcome(
            "ok",
            format!("rows dated before {} deleted ({days} days)", report.cutoff),
        );
    strata_pipelines::audit::append(lake, &[event]).await?;
    Ok(Some(report))
}
