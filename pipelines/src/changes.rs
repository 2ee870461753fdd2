//! Incremental reads by Delta version: what a table gained since a job last looked.
//!
//! The commit log is the source of truth: every `add` action with `dataChange = true` in the
//! commits after the checkpoint version is new data. Files rewritten by compaction carry
//! `dataChange = false` and are not new, so compaction never makes a job see data twice. The
//! `remove` actions with `dataChange = true` are data that left the table (a day rewritten),
//! which readers holding derived state (the online store) need as well. A read from the
//! start (no checkpoint yet, a replay) takes the table's current files instead of its log,
//! whose early entries may name files compaction and vacuum, or an erasure, took away.

use std::collections::BTreeMap;

use deltalake::DeltaTable;
use serde_json::Value;

use crate::{Error, Result};

/// A data file added to (or removed from) a table, with its partition values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Path relative to the table root, as written in the log (URL-encoded).
    pub path: String,
    pub partition_values: BTreeMap<String, Option<String>>,
    /// The file's statistics (`numRecords`, `minValues`, `maxValues`, `nullCount`), when
    /// the writer recorded them.
    pub stats: Option<Value>,
    pub rows: Option<u64>,
}

/// The data a table gained in versions `(since, to]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    pub since: Option<u64>,
    pub to: u64,
    pub added: Vec<DataFile>,
    /// Files whose rows left the table (not compaction).
    pub removed: Vec<DataFile>,
    /// A commit in the range changed the table's schema or properties.
    pub metadata_changed: bool,
    /// Set on a part of a table's files at `to` read from the start with more parts to
    /// follow (a partial piece): how far through the files it gets. A reader committing it
    /// records this, not `to`, as consumed.
    pub progress: Option<SnapshotProgress>,
}

/// How far a read from the start got through a table's files: the version whose files it
/// reads and how many of them, in the order `increments` gives them, are done. A job keeps it
/// with each partial piece it commits, so a replay cut short resumes after its last piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotProgress {
    pub version: u64,
    pub files: u64,
}

impl Increment {
    fn empty(since: Option<u64>, to: u64) -> Self {
        Self {
            since,
            to,
            added: Vec::new(),
            removed: Vec::new(),
            metadata_changed: false,
            progress: None,
        }
    }

    /// Add one commit's files to this increment.
    fn absorb(&mut self, c: Commit) {
        self.added.extend(c.added);
        self.removed.extend(c.removed);
        self.metadata_changed |= c.metadata_changed;
    }

    /// More parts of a read from the start follow this one.
    pub fn is_partial(&self) -> bool {
        self.progress.is_some()
    }

    /// Rows added, from the files' statistics (files without them count as none).
    pub fn rows(&self) -> u64 {
        self.added.iter().filter_map(|f| f.rows).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
    }

    /// Distinct values of one partition column among the added files.
    pub fn partition_values(&self, column: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .added
            .iter()
            .filter_map(|f| f.partition_values.get(column).cloned().flatten())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Read the commit log of `table` (at its loaded version) after version `since`.
pub async fn increment(table: &DeltaTable, name: &str, since: Option<u64>) -> Result<Increment> {
    let to = loaded_version(table, name)?;
    let mut inc = Increment::empty(since, to);
    for c in net_commits(table, name, since, to).await? {
        inc.absorb(c);
    }
    Ok(inc)
}

/// The commits in `(since, to]`, without the files both added and removed in that range:
/// their rows are not in the table at `to` (retention or erasure deleted them), so a reader
/// never needs them, and after a vacuum it could not read them. A replay after retention
/// thus reads only what the table still holds.
async fn net_commits(
    table: &DeltaTable,
    name: &str,
    since: Option<u64>,
    to: u64,
) -> Result<Vec<Commit>> {
    use std::collections::HashSet;
    let Some(since) = since else {
        return Ok(vec![snapshot_commit(table, name, to)?]);
    };
    let mut commits = Vec::new();
    for version in since + 1..=to {
        commits.push(required_commit(table, name, version).await?);
    }
    let removed: HashSet<String> = commits
        .iter()
        .flat_map(|c| c.removed.iter().map(|f| f.path.clone()))
        .collect();
    let gone: HashSet<String> = commits
        .iter()
        .flat_map(|c| c.added.iter())
        .filter(|f| removed.contains(&f.path))
        .map(|f| f.path.clone())
        .collect();
    if !gone.is_empty() {
        for c in &mut commits {
            c.added.retain(|f| !gone.contains(&f.path));
            c.removed.retain(|f| !gone.contains(&f.path));
        }
    }
    Ok(commits)
}

/// A read from the start: the table's files at `to` (its loaded version), as one commit.
/// These are the rows the log's commits would add up to, without needing the log: compaction
/// and vacuum, or an erasure's purge, may have removed files and entries the early commits
/// name.
fn snapshot_commit(table: &DeltaTable, name: &str, to: u64) -> Result<Commit> {
    let snapshot = table.snapshot().map_err(|e| Error::delta(name, e))?;
    let mut added: Vec<DataFile> = snapshot
        .log_data()
        .iter()
        .map(|file| {
            let stats = file
                .stats()
                .and_then(|s| serde_json::from_str::<Value>(&s).ok());
            DataFile {
                path: file.object_store_path().to_string(),
                partition_values: file.partition_values_map().into_iter().collect(),
                rows: file.num_records().and_then(|n| u64::try_from(n).ok()),
                stats,
            }
        })
        .collect();
    // Oldest rows first (by their files' ingestion time), as the log would have given them:
    // a job keeping the first copy of a re-sent event then keeps the same one.
    added.sort_by_cached_key(|f| (min_stat(f, "ingested_at"), f.path.clone()));
    Ok(Commit {
        version: to,
        added,
        ..Commit::default()
    })
}

/// A file's minimum of `column`, as its statistics write it.
fn min_stat(file: &DataFile, column: &str) -> String {
    file.stats
        .as_ref()
        .and_then(|s| s.get("minValues")?.get(column)?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The first version the table's log can be read from: 0, or its oldest checkpoint once the
/// commits before it were purged.
pub(crate) async fn first_version(table: &DeltaTable, name: &str) -> Result<Option<u64>> {
    if table
        .log_store()
        .read_commit_entry(0)
        .await
        .map_err(|e| Error::delta(name, e))?
        .is_some()
    {
        return Ok(Some(0));
    }
    oldest_checkpoint(table, name).await
}

/// The versions of the checkpoints in the table's log.
pub async fn checkpoint_versions(table: &DeltaTable, name: &str) -> Result<Vec<u64>> {
    use futures::TryStreamExt;
    let log_store = table.log_store();
    let entries: Vec<_> = log_store
        .object_store(None)
        .list(Some(log_store.log_path()))
        .try_collect()
        .await
        .map_err(|e| Error::delta(name, e.into()))?;
    Ok(entries
        .iter()
        .filter_map(|m| {
            let file = m.location.filename()?;
            let (version, rest) = file.split_once('.')?;
            rest.starts_with("checkpoint")
                .then(|| version.parse::<u64>().ok())
                .flatten()
        })
        .collect())
}

/// The version of the oldest checkpoint in the table's log, if any.
async fn oldest_checkpoint(table: &DeltaTable, name: &str) -> Result<Option<u64>> {
    Ok(checkpoint_versions(table, name).await?.into_iter().min())
}

/// The version `table` is loaded at.
fn loaded_version(table: &DeltaTable, name: &str) -> Result<u64> {
    table.version().ok_or_else(|| Error::NoSuchTable {
        table: name.to_string(),
        lake: table.table_url().to_string(),
    })
}

/// Commit `version`, which the log must still hold.
async fn required_commit(table: &DeltaTable, name: &str, version: u64) -> Result<Commit> {
    commit(table, name, version)
        .await?
        .ok_or(Error::MissingCommit {
            table: name.to_string(),
            version,
        })
}

/// The increment after `since`, cut at version boundaries into pieces of at least
/// `max_rows` added rows each (the last may hold fewer); `None` keeps it whole. A version is
/// never split, since a job's checkpoint is a version: each piece can be committed with its
/// `to` as the checkpoint, so a long catch-up resumes after its last committed piece. A file
/// without a row count ends its piece. The one exception: a read from the start takes the
/// table's files (see `snapshot_commit`), in pieces that are partial but the last (a crash
/// in between reads them all again).
pub async fn increments(
    table: &DeltaTable,
    name: &str,
    since: Option<u64>,
    max_rows: Option<u64>,
) -> Result<Vec<Increment>> {
    increments_resuming(table, name, since, None, max_rows).await
}

/// `increments`, resuming a read from the start (`since` = `None`) after the files `resume`
/// counts as done: the rest of that version's files, then the commits after it. A version
/// no longer readable (vacuumed, purged) starts over from the current files.
pub async fn increments_resuming(
    table: &DeltaTable,
    name: &str,
    since: Option<u64>,
    resume: Option<SnapshotProgress>,
    max_rows: Option<u64>,
) -> Result<Vec<Increment>> {
    let Some(max_rows) = max_rows else {
        let whole = increment(table, name, since).await?;
        return Ok((whole.since != Some(whole.to))
            .then_some(whole)
            .into_iter()
            .collect());
    };
    let to = loaded_version(table, name)?;
    let mut pieces = Vec::new();
    let mut since = since;
    if since.is_none() {
        let (base, skip) = resumed_base(table, name, resume, to).await?;
        let version = base.version;
        pieces = split_snapshot(base, skip, max_rows);
        since = Some(version);
    }
    let mut piece: Option<(Increment, u64)> = None;
    for c in net_commits(table, name, since, to).await? {
        let version = c.version;
        let (inc, rows) = piece.get_or_insert_with(|| {
            let since = pieces.last().map_or(since, |p: &Increment| Some(p.to));
            (Increment::empty(since, version), 0)
        });
        inc.to = version;
        *rows += c
            .added
            .iter()
            .map(|f| f.rows.unwrap_or(max_rows))
            .sum::<u64>();
        inc.absorb(c);
        if *rows >= max_rows
            && let Some((done, _)) = piece.take()
        {
            pieces.push(done);
        }
    }
    pieces.extend(piece.map(|(inc, _)| inc));
    Ok(pieces)
}

/// The files a read from the start reads, and how many of them an earlier run did.
async fn resumed_base(
    table: &DeltaTable,
    name: &str,
    resume: Option<SnapshotProgress>,
    to: u64,
) -> Result<(Commit, u64)> {
    if let Some(p) = resume.filter(|p| p.version < to) {
        let mut at = table.clone();
        if at.load_version(p.version).await.is_ok() {
            return Ok((snapshot_commit(&at, name, p.version)?, p.files));
        }
    }
    let files = resume.filter(|p| p.version == to).map_or(0, |p| p.files);
    Ok((snapshot_commit(table, name, to)?, files))
}

/// A table's files at one version, after the first `skip`, cut into pieces of about
/// `max_rows` rows, each but the last partial; each knows the files done once it is.
fn split_snapshot(c: Commit, skip: u64, max_rows: u64) -> Vec<Increment> {
    let version = c.version;
    let mut pieces = vec![Increment::empty(None, version)];
    let (mut rows, mut done) = (0, skip);
    for f in c
        .added
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
    {
        if rows >= max_rows {
            pieces.push(Increment::empty(None, version));
            rows = 0;
        }
        rows += f.rows.unwrap_or(max_rows);
        done += 1;
        if let Some(p) = pieces.last_mut() {
            p.added.push(f);
            p.progress = Some(SnapshotProgress {
                version,
                files: done,
            });
        }
    }
    // The last piece ends the read: it records the version itself.
    if let Some(p) = pieces.last_mut() {
        p.progress = None;
    }
    pieces
}

/// One commit of a table's log, as readers of its data see it.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub version: u64,
    /// `commitInfo.timestamp`: when it was written, in ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Files added with new data (not compaction).
    pub added: Vec<DataFile>,
    /// Files whose rows left the table (not compaction).
    pub removed: Vec<DataFile>,
    /// It changed the table's schema or properties.
    pub metadata_changed: bool,
    /// An erasure wrote it (`strata.erasure` in its commit info): its files hold no new rows.
    pub erasure: bool,
}

/// The commit-info key an erasure's commits carry.
pub const ERASURE_MARK: &str = "strata.erasure";

/// Commit `version` of `table`; `None` when the log no longer holds it (cleaned up after a
/// checkpoint).
pub async fn commit(table: &DeltaTable, name: &str, version: u64) -> Result<Option<Commit>> {
    let Some(bytes) = table
        .log_store()
        .read_commit_entry(version)
        .await
        .map_err(|e| Error::delta(name, e))?
    else {
        return Ok(None);
    };
    let bad = |message: String| Error::BadCommit {
        table: name.to_string(),
        version,
        message,
    };
    let mut c = Commit {
        version,
        ..Commit::default()
    };
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let action: Value = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
        if action.get("metaData").is_some() {
            c.metadata_changed = true;
        }
        if let Some(info) = action.get("commitInfo") {
            c.timestamp_ms = info.get("timestamp").and_then(Value::as_i64);
            c.erasure = info.get(ERASURE_MARK).is_some();
        }
        let (list, file) = match (action.get("add"), action.get("remove")) {
            (Some(add), _) => (&mut c.added, add),
            (None, Some(remove)) => (&mut c.removed, remove),
            (None, None) => continue,
        };
        if file.get("dataChange").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        list.push(data_file(file).ok_or_else(|| bad("a file action without a path".into()))?);
    }
    Ok(Some(c))
}

/// An add or remove action's file. A remove written without its partition values (they are
/// optional there) takes them from the Hive-style path.
fn data_file(action: &Value) -> Option<DataFile> {
    let path = action.get("path")?.as_str()?.to_string();
    let partition_values = match action.get("partitionValues").and_then(Value::as_object) {
        Some(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
            .collect(),
        None => path
            .split('/')
            .filter_map(|part| part.split_once('='))
            .map(|(k, v)| {
                let v = unescape(v);
                (
                    unescape(k),
                    (v != "__HIVE_DEFAULT_PARTITION__").then_some(v),
                )
            })
            .collect(),
    };
    let stats = action
        .get("stats")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok());
    Some(DataFile {
        path,
        partition_values,
        rows: stats
            .as_ref()
            .and_then(|s| s.get("numRecords").and_then(Value::as_u64)),
        stats,
    })
}

/// A path segment with its `%XX` escapes decoded (Delta writes partition values escaped).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remove_without_partition_values_takes_them_from_its_path() {
        let remove = serde_json::json!({"path": "hour=2026-01-01%2010%3A00%3A00/k=__HIVE_DEFAULT_PARTITION__/part-1.parquet"});
        let f = data_file(&remove).unwrap();
        assert_eq!(
            f.partition_values.get("hour"),
            Some(&Some("2026-01-01 10:00:00".to_string()))
        );
        assert_eq!(f.partition_values.get("k"), Some(&None));
        let add = serde_json::json!({"path": "x.parquet", "partitionValues": {"d": "2026-01-01"},
                                     "stats": "{\"numRecords\": 7}"});
        let f = data_file(&add).unwrap();
        assert_eq!(f.rows, Some(7));
        assert_eq!(
            f.partition_values.get("d"),
            Some(&Some("2026-01-01".into()))
        );
    }

    /// A table of `sizes.len()` appends (version 0 creates it empty): append i adds
    /// `sizes[i]` rows.
    async fn appended(dir: &std::path::Path, sizes: &[i64]) -> DeltaTable {
        use deltalake::arrow::array::{Int64Array, RecordBatch};
        use deltalake::arrow::datatypes::{DataType, Field, Schema};
        use deltalake::protocol::SaveMode;
        use std::sync::Arc;

        let lake = crate::Lake::new(dir.to_str().unwrap()).unwrap();
        let name: crate::TableName = "bronze.t".parse().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let mut table = lake.ensure_table(&name, schema.clone(), &[]).await.unwrap();
        for &n in sizes {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(0..n))],
            )
            .unwrap();
            table = table
                .write(vec![batch])
                .with_save_mode(SaveMode::Append)
                .await
                .unwrap();
        }
        table
    }

    #[tokio::test]
    async fn a_read_from_the_start_of_a_purged_log_takes_the_checkpointed_files() {
        let dir = tempfile::tempdir().unwrap();
        let table = appended(dir.path(), &[3, 3, 5, 1, 1]).await;
        let mut at3 = table.clone();
        at3.load_version(3).await.unwrap();
        deltalake::checkpoints::create_checkpoint(&at3, None)
            .await
            .unwrap();
        let removed = deltalake::checkpoints::cleanup_expired_logs_for(
            3,
            table.log_store().as_ref(),
            chrono::Utc::now().timestamp_millis(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(removed, 3, "commits 0..=2 leave the log");
        let whole = increment(&table, "t", None).await.unwrap();
        assert_eq!((whole.since, whole.to, whole.rows()), (None, 5, 13));
        // The table's five files (3, 3, 5, 1, 1 rows, in the order of their paths) in pieces
        // of at least 4 rows, all at version 5, every one but the last partial.
        let pieces = increments(&table, "t", None, Some(4)).await.unwrap();
        assert!(pieces.len() >= 2, "{pieces:?}");
        assert!(pieces.iter().all(|p| p.to == 5 && p.since.is_none()));
        let partial: Vec<bool> = pieces.iter().map(Increment::is_partial).collect();
        assert!(partial[..partial.len() - 1].iter().all(|p| *p) && !partial[partial.len() - 1]);
        assert_eq!(pieces.iter().map(Increment::rows).sum::<u64>(), 13);
        // A reader past the checkpoint reads the log as before.
        assert_eq!(increment(&table, "t", Some(3)).await.unwrap().rows(), 2);
    }

    #[tokio::test]
    async fn a_read_from_the_start_resumes_after_the_files_done() {
        let dir = tempfile::tempdir().unwrap();
        let table = appended(dir.path(), &[3, 3, 5]).await;
        let paths = |p: &[Increment]| -> Vec<String> {
            p.iter()
                .flat_map(|i| i.added.iter().map(|f| f.path.clone()))
                .collect()
        };
        let all = increments(&table, "t", None, Some(1)).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[0].progress,
            Some(SnapshotProgress {
                version: 3,
                files: 1
            })
        );
        // Cut short after the first piece, while two more appends landed.
        let done = all[0].progress;
        let table = {
            let lake = crate::Lake::new(dir.path().to_str().unwrap()).unwrap();
            let t = lake
                .open(&"bronze.t".parse().unwrap())
                .await
                .unwrap()
                .unwrap();
            let batch = deltalake::arrow::array::RecordBatch::try_new(
                std::sync::Arc::new(deltalake::arrow::datatypes::Schema::new(vec![
                    deltalake::arrow::datatypes::Field::new(
                        "n",
                        deltalake::arrow::datatypes::DataType::Int64,
                        false,
                    ),
                ])),
                vec![std::sync::Arc::new(
                    deltalake::arrow::array::Int64Array::from_iter_values(0..2),
                )],
            )
            .unwrap();
            t.write(vec![batch])
                .with_save_mode(deltalake::protocol::SaveMode::Append)
                .await
                .unwrap()
        };
        let rest = increments_resuming(&table, "t", None, done, Some(1))
            .await
            .unwrap();
        // The other two files of version 3 (in the same order), then version 4 from the log.
        assert_eq!(paths(&rest[..2]), paths(&all[1..]));
        assert!(rest[0].is_partial() && !rest[1].is_partial() && rest[1].to == 3);
        assert_eq!((rest[2].since, rest[2].to, rest[2].rows()), (Some(3), 4, 2));
    }

    #[tokio::test]
    async fn a_read_from_the_start_after_compaction_and_vacuum_reads_the_compacted_files() {
        use deltalake::operations::vacuum::VacuumMode;
        let dir = tempfile::tempdir().unwrap();
        let table = appended(dir.path(), &[3, 3, 5]).await;
        let (table, _) = table.optimize().await.unwrap();
        let (table, vacuumed) = table
            .vacuum()
            .with_retention_period(chrono::Duration::zero())
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Lite)
            .await
            .unwrap();
        assert_eq!(
            vacuumed.files_deleted.len(),
            3,
            "the appended files are gone"
        );
        let whole = increment(&table, "t", None).await.unwrap();
        assert_eq!((whole.added.len(), whole.rows()), (1, 11));
    }

    #[tokio::test]
    async fn increments_end_at_versions_once_they_hold_enough_rows() {
        let dir = tempfile::tempdir().unwrap();
        let table = appended(dir.path(), &[3, 3, 5, 1, 1]).await;
        let cuts = |p: &[Increment]| -> Vec<(Option<u64>, u64, u64)> {
            p.iter().map(|i| (i.since, i.to, i.rows())).collect()
        };
        // From version 0 (the empty table's creation); a read from the start takes the
        // table's files instead (see the tests above).
        let pieces = increments(&table, "t", Some(0), Some(6)).await.unwrap();
        assert_eq!(
            cuts(&pieces),
            [(Some(0), 2, 6), (Some(2), 4, 6), (Some(4), 5, 1)]
        );
        let pieces = increments(&table, "t", Some(1), Some(4)).await.unwrap();
        assert_eq!(cuts(&pieces), [(Some(1), 3, 8), (Some(3), 5, 2)]);
        let whole = increments(&table, "t", Some(2), None).await.unwrap();
        assert_eq!(cuts(&whole), [(Some(2), 5, 7)]);
        assert!(
            increments(&table, "t", Some(5), Some(4))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            increments(&table, "t", Some(5), None)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
