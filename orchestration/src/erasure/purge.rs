//! After the deletes, what still holds the entity is history: the data files the deletes
//! replaced (until vacuum) and the log's earlier commits, whose file statistics may name it
//! as a column's minimum or maximum. Purging removes both:
//!
//! 1. Vacuum removes every file no version of the table references any more, and the files
//!    no commit ever referenced that are older than the erasure (a writer that died); a
//!    writer's files written since the erasure began are left for it to commit.
//! 2. Each job whose only unread commits of an input are the erasure's own (or commits that
//!    change no data, such as vacuum's) records the input's latest version as consumed, in a
//!    commit of its own output marked as the erasure's: those commits hold no new rows, and
//!    the jobs' reads must not need the log the next step removes.
//! 3. A checkpoint at the oldest version a job still has to read, and every log entry and
//!    checkpoint before it deleted. Time travel then reaches back to that version only; a
//!    replay reads Bronze from the checkpoint (see `strata_pipelines::increments`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::SaveMode;
use strata_pipelines::{Lake, TableName, commit};
use tracing::info;

use crate::job::Job;
use crate::{Error, Result};

/// What purging one table did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub table: String,
    pub files_vacuumed: usize,
    /// The version the log now starts at (its checkpoint).
    pub log_starts_at: u64,
    /// Jobs that have not read commits before the erasure: the log from their checkpoint on
    /// is kept, and may still name the entity until they catch up and the erasure runs again.
    pub waiting_for: Vec<String>,
}

/// Commit properties marking a commit as the erasure's.
pub fn mark(id: &str, step: &str) -> CommitProperties {
    CommitProperties::default().with_metadata([(
        strata_pipelines::ERASURE_MARK.to_string(),
        serde_json::json!({"id": id, "step": step}),
    )])
}

/// True when every commit of `table` in `(since, to]` is an erasure's or changes no data.
async fn only_erasures(table: &DeltaTable, name: &TableName, since: u64, to: u64) -> Result<bool> {
    for v in since + 1..=to {
        match commit(table, &name.to_string(), v).await? {
            Some(c) if c.erasure || (c.added.is_empty() && c.removed.is_empty()) => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// Step 2, for every job in the order given (upstream first).
pub async fn advance_checkpoints(lake: &Lake, jobs: &[Arc<dyn Job>], id: &str) -> Result<()> {
    for job in jobs {
        let spec = job.spec();
        let Some(out) = lake.open(&spec.output).await? else {
            continue;
        };
        let mut moved = Vec::new();
        for input in &spec.inputs {
            let Some(table) = lake.open(input).await? else {
                continue;
            };
            let (Some(latest), Some(since)) =
                (table.version(), spec.checkpoint(&out, input).await?)
            else {
                continue;
            };
            if since < latest && only_erasures(&table, input, since, latest).await? {
                let v = i64::try_from(latest).unwrap_or(i64::MAX);
                moved.push(Transaction::new(spec.app_id(input), v));
            }
        }
        if moved.is_empty() {
            continue;
        }
        let schema = out
            .snapshot()
            .map_err(|e| Error::delta(&spec.output, e))?
            .snapshot()
            .arrow_schema();
        out.write(vec![RecordBatch::new_empty(schema)])
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(mark(id, "checkpoint").with_application_transactions(moved))
            .await
            .map_err(|e| Error::delta(&spec.output, e))?;
    }
    Ok(())
}

/// A job's checkpoint of one of its inputs.
#[derive(Debug, Clone)]
pub struct Reader {
    pub job: String,
    pub input: TableName,
    pub since: u64,
}

/// Every job's checkpoint of each of its inputs, read once for all the tables to trim.
pub async fn readers(lake: &Lake, jobs: &[Arc<dyn Job>]) -> Result<Vec<Reader>> {
    let mut out = Vec::new();
    for job in jobs {
        let spec = job.spec();
        let Some(table) = lake.open(&spec.output).await? else {
            continue;
        };
        for input in &spec.inputs {
            if let Some(since) = spec.checkpoint(&table, input).await? {
                out.push(Reader {
                    job: spec.name.clone(),
                    input: input.clone(),
                    since,
                });
            }
        }
    }
    Ok(out)
}

/// The oldest version of `name` a job still has to read, and the jobs whose unread commits
/// hold data (not only the erasure's commits or vacuum's).
async fn oldest_needed(
    readers: &[Reader],
    name: &TableName,
    table: &DeltaTable,
    latest: u64,
) -> Result<(u64, Vec<String>)> {
    let (mut keep, mut waiting) = (latest, Vec::new());
    for r in readers
        .iter()
        .filter(|r| r.input == *name && r.since < latest)
    {
        keep = keep.min(r.since + 1);
        if !only_erasures(table, name, r.since, latest).await? {
            waiting.push(r.job.clone());
        }
    }
    Ok((keep, waiting))
}

/// Step 1 for one table: the number of files removed.
pub async fn vacuum(lake: &Lake, name: &TableName, started: DateTime<Utc>) -> Result<usize> {
    let table = lake.open_existing(name).await?;
    let delta = |e| Error::delta(name, e);
    // Tombstoned files first, whatever their age: no version that remains reads them.
    let (table, lite) = table
        .vacuum()
        .with_retention_period(chrono::Duration::zero())
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Lite)
        .await
        .map_err(delta)?;
    let age = (Utc::now() - started).max(chrono::Duration::zero());
    let (_, full) = table
        .vacuum()
        .with_retention_period(age)
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .await
        .map_err(delta)?;
    Ok(lite.files_deleted.len() + full.files_deleted.len())
}

/// Step 3 for one table.
pub async fn trim_log(
    lake: &Lake,
    readers: &[Reader],
    name: &TableName,
    files_vacuumed: usize,
) -> Result<Purged> {
    let delta = |e| Error::delta(name, e);
    let table = lake.open_existing(name).await?;
    let latest = table.version().unwrap_or(0);
    let (keep, waiting_for) = oldest_needed(readers, name, &table, latest).await?;
    let at = lake.open_at(name, keep).await?;
    deltalake::checkpoints::create_checkpoint(&at, None)
        .await
        .map_err(delta)?;
    let removed = deltalake::checkpoints::cleanup_expired_logs_for(
        keep,
        at.log_store().as_ref(),
        Utc::now().timestamp_millis(),
        None,
    )
    .await
    .map_err(delta)?;
    let purged = Purged {
        table: name.to_string(),
        files_vacuumed,
        log_starts_at: keep,
        waiting_for,
    };
    info!(table = %name, files = purged.files_vacuumed, log_entries = removed,
          log_starts_at = keep, waiting_for = ?purged.waiting_for, "purged");
    Ok(purged)
}
