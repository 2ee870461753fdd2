//! Table maintenance: compaction of small files, Delta checkpoints, vacuum. Each is a Delta
//! operation with its own conflict checks, so it is safe while readers and writers run:
//! compaction rewrites files with `dataChange=false` (increments skip them) and readers keep
//! the files of the versions they are reading until vacuum's retention has passed.

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::operations::vacuum::VacuumMode;
use futures::TryStreamExt;
use strata_pipelines::keys::keyed_writer_properties;
use strata_pipelines::{Lake, TableName, file_stats, files_and_rows};
use tracing::info;

use crate::{Error, Result};

/// Vacuum never removes files younger than this unless forced: a reader of an older version,
/// or time travel within a week, must keep working.
pub const RETENTION_FLOOR: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintainSettings {
    pub compact: bool,
    /// Compaction's target file size.
    pub target_file_bytes: u64,
    /// Compact a partition only when it has at least this many files smaller than the target.
    pub min_small_files: usize,
    pub checkpoint: bool,
    /// Write a checkpoint when this many commits have passed since the last one.
    pub checkpoint_every: u64,
    pub vacuum: bool,
    pub vacuum_retention: Duration,
    /// Allow a retention below [`RETENTION_FLOOR`].
    pub force: bool,
    /// Days each table keeps (`maintenance.retention_days`); older rows are deleted first.
    pub retention: crate::retention::Retention,
}

impl Default for MaintainSettings {
    fn default() -> Self {
        Self {
            compact: true,
            target_file_bytes: 128 * 1024 * 1024,
            min_small_files: 8,
            checkpoint: true,
            checkpoint_every: 50,
            vacuum: true,
            vacuum_retention: RETENTION_FLOOR,
            force: false,
            retention: crate::retention::Retention::default(),
        }
    }
}

impl MaintainSettings {
    /// Refuse a retention below the floor unless forced.
    pub fn validate(&self) -> Result<()> {
        if self.vacuum && !self.force && self.vacuum_retention < RETENTION_FLOOR {
            return Err(Error::RetentionTooShort {
                hours: self.vacuum_retention.as_secs() / 3600,
                floor: RETENTION_FLOOR.as_secs() / 3600,
            });
        }
        Ok(())
    }
}

/// What maintenance did to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MaintainReport {
    pub table: String,
    pub version: u64,
    pub files_before: usize,
    pub files_after: usize,
    pub files_compacted: u64,
    pub files_written: u64,
    pub checkpoint_version: Option<u64>,
    pub files_vacuumed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::retention::RetentionReport>,
}

/// The files of the table's `_delta_log` (commits, checkpoints) with their metadata.
pub async fn log_files(table: &DeltaTable) -> Result<Vec<deltalake::ObjectMeta>> {
    let store = table.log_store().object_store(None);
    let prefix = deltalake::Path::from("_delta_log");
    store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::delta(table.table_url(), e.into()))
}

/// The version of the newest checkpoint in the table's log, if any.
pub async fn last_checkpoint(table: &DeltaTable) -> Result<Option<u64>> {
    let name = table.table_url().to_string();
    let versions = strata_pipelines::checkpoint_versions(table, &name).await?;
    Ok(versions.into_iter().max())
}

/// The key whose bloom filter compaction keeps, and the rows it sizes it for (a compacted
/// file holds more rows than that only when its rows are very small).
const KEY_COLUMN: &str = "event_id";
const COMPACTED_ROWS: usize = 1 << 20;

fn has_column(table: &DeltaTable, column: &str) -> bool {
    table
        .snapshot()
        .is_ok_and(|s| s.schema().field(column).is_some())
}

/// Maintain one table.
pub async fn maintain_table(
    lake: &Lake,
    name: &TableName,
    settings: &MaintainSettings,
) -> Result<MaintainReport> {
    settings.validate()?;
    let retention = match settings.retention.days_for(name) {
        Some(days) => {
            crate::retention::apply(lake, name, days, chrono::Utc::now().date_naive()).await?
        }
        None => None,
    };
    let mut table = lake.open_existing(name).await?;
    let (files_before, _, small) = file_stats(&table, settings.target_file_bytes)?;
    let mut report = MaintainReport {
        table: name.to_string(),
        files_before,
        retention,
        ..MaintainReport::default()
    };
    if settings.compact {
        // Only worth a commit when enough small files have gathered.
        if small >= settings.min_small_files {
            let target =
                NonZeroU64::new(settings.target_file_bytes.max(1)).unwrap_or(NonZeroU64::MIN);
            let keyed = name.layer == "silver" && has_column(&table, KEY_COLUMN);
            let mut optimize = table.optimize().with_target_size(target);
            if keyed {
                // Silver's appends look event ids up through this bloom filter (keys.rs);
                // compacted files keep it.
                optimize = optimize
                    .with_writer_properties(keyed_writer_properties(KEY_COLUMN, COMPACTED_ROWS));
            }
            let (t, metrics) = optimize.await.map_err(|e| Error::delta(name, e))?;
            report.files_compacted = metrics.num_files_removed;
            report.files_written = metrics.num_files_added;
            table = t;
        }
    }
    let version = table.version().unwrap_or(0);
    report.version = version;
    if settings.checkpoint {
        let last = last_checkpoint(&table).await?;
        let since = version.saturating_sub(last.unwrap_or(0));
        if version > 0 && since >= settings.checkpoint_every && last != Some(version) {
            deltalake::checkpoints::create_checkpoint(&table, None)
                .await
                .map_err(|e| Error::delta(name, e))?;
            report.checkpoint_version = Some(version);
        }
    }
    if settings.vacuum {
        let retention = chrono::Duration::from_std(settings.vacuum_retention)
            .unwrap_or(chrono::Duration::days(7));
        let (t, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(!settings.force)
            // Full: also removes files of jobs that died before their commit.
            .with_mode(VacuumMode::Full)
            .await
            .map_err(|e| Error::delta(name, e))?;
        report.files_vacuumed = metrics.files_deleted.len();
        table = t;
    }
    report.files_after = files_and_rows(&table)?.0;
    info!(table = %name, compacted = report.files_compacted, written = report.files_written,
          checkpoint = ?report.checkpoint_version, vacuumed = report.files_vacuumed, "maintained");
    Ok(report)
}
