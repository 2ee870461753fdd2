//! `strata status`: for every table its version, size, last commit, how long it has been
//! behind its inputs against its SLA, and the last run of the job that writes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use strata_pipelines::{Lake, SessionBuilder, TableName};

use crate::Result;
use crate::job::Job;
use crate::maintain::log_files;
use crate::runs::runs_table;
use strata_pipelines::files_and_rows;

/// The last run of a job, from `_strata.runs`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastRun {
    pub status: String,
    pub ended_at: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    pub version: u64,
    pub files: usize,
    pub rows: u64,
    pub last_commit: Option<DateTime<Utc>>,
    /// Seconds the table has had input versions it has not consumed (0: caught up). `None`
    /// for tables no job writes.
    pub behind_s: Option<f64>,
    pub sla_s: Option<u64>,
    pub within_sla: Option<bool>,
    pub last_run: Option<LastRun>,
}

/// Commit files of a table and when each was written, by version.
async fn commit_times(table: &DeltaTable) -> Result<BTreeMap<u64, DateTime<Utc>>> {
    Ok(log_files(table)
        .await?
        .into_iter()
        .filter_map(|m| {
            let name = m.location.filename()?;
            let v = name.strip_suffix(".json")?.parse::<u64>().ok()?;
            Some((v, m.last_modified))
        })
        .collect())
}

/// The last run of each of `jobs`. `_strata.runs` grows with every pass, so the newest day
/// is read first (the files' `ended_at` statistics skip the rest) and the window widens only
/// for jobs not found in it; the whole table is read only for a job that has not run for 30
/// days.
async fn last_runs(lake: &Lake, jobs: &[String]) -> Result<BTreeMap<String, LastRun>> {
    let Some(runs) = lake.open(&runs_table()).await? else {
        return Ok(BTreeMap::new());
    };
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    SessionBuilder::register(&ctx, &runs_table(), &runs).await?;
    let mut out = BTreeMap::new();
    for days in [Some(1), Some(7), Some(30), None] {
        let window = days.map_or(String::new(), |d: i64| {
            let since = Utc::now() - chrono::Duration::days(d);
            format!(
                "WHERE ended_at > CAST('{}' AS TIMESTAMP)",
                since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            )
        });
        out = last_runs_in(&ctx, &window).await?;
        if jobs.iter().all(|j| out.contains_key(j)) {
            break;
        }
    }
    Ok(out)
}

/// The last run per job among the runs `window` (a WHERE clause, or empty) selects.
async fn last_runs_in(
    ctx: &deltalake::datafusion::prelude::SessionContext,
    window: &str,
) -> Result<BTreeMap<String, LastRun>> {
    let mut out = BTreeMap::new();
    let batches: Vec<RecordBatch> = ctx
        .sql(&format!(
            "SELECT job, status, CAST(ended_at AS VARCHAR) AS ended_at, error FROM \
             (SELECT *, row_number() OVER (PARTITION BY job ORDER BY ended_at DESC) AS rn \
              FROM \"_strata\".runs {window}) WHERE rn = 1"
        ))
        .await
        .map_err(strata_pipelines::Error::from)?
        .collect()
        .await
        .map_err(strata_pipelines::Error::from)?;
    for b in batches {
        let col = |i: usize| cast(b.column(i), &DataType::Utf8);
        let (job, status, ended, error) = (col(0)?, col(1)?, col(2)?, col(3)?);
        let (job, status, ended, error) = (
            job.as_string::<i32>(),
            status.as_string::<i32>(),
            ended.as_string::<i32>(),
            error.as_string::<i32>(),
        );
        for r in 0..b.num_rows() {
            out.insert(
                job.value(r).to_string(),
                LastRun {
                    status: status.value(r).to_string(),
                    ended_at: ended.value(r).to_string(),
                    error: error.is_valid(r).then(|| error.value(r).to_string()),
                },
            );
        }
    }
    Ok(out)
}

/// Status of every table in the lake; `slas` maps `layer.table` to seconds, `default_sla`
/// applies to other job outputs.
pub async fn status(
    lake: &Lake,
    jobs: &[Arc<dyn Job>],
    slas: &BTreeMap<String, u64>,
    default_sla: u64,
) -> Result<Vec<TableStatus>> {
    let specs: BTreeMap<TableName, _> = jobs.iter().map(|j| (j.spec().output, j.spec())).collect();
    let names: Vec<String> = jobs.iter().map(|j| j.spec().name).collect();
    let runs = last_runs(lake, &names).await?;
    let now = Utc::now();
    let mut out = Vec::new();
    let mut times: BTreeMap<TableName, BTreeMap<u64, DateTime<Utc>>> = BTreeMap::new();
    let mut tables: BTreeMap<TableName, DeltaTable> = BTreeMap::new();
    for name in lake.discover().await? {
        if let Some(t) = lake.open(&name).await? {
            times.insert(name.clone(), commit_times(&t).await?);
            tables.insert(name, t);
        }
    }
    for (name, table) in &tables {
        let version = table.version().unwrap_or(0);
        let (files, rows) = files_and_rows(table)?;
        let last_commit = times.get(name).and_then(|m| m.values().max().copied());
        let mut status = TableStatus {
            table: name.to_string(),
            version,
            files,
            rows,
            last_commit,
            behind_s: None,
            sla_s: None,
            within_sla: None,
            last_run: None,
        };
        if let Some(spec) = specs.get(name) {
            // Behind since the oldest input commit the job has not consumed.
            let mut since: Option<DateTime<Utc>> = None;
            for input in &spec.inputs {
                let Some(input_table) = tables.get(input) else {
                    continue;
                };
                let latest = input_table.version().unwrap_or(0);
                let consumed = spec.checkpoint(table, input).await?;
                let first_unconsumed = consumed.map_or(0, |v| v + 1);
                if first_unconsumed <= latest
                    && let Some(t) = times.get(input).and_then(|m| m.get(&first_unconsumed))
                {
                    since = Some(since.map_or(*t, |s: DateTime<Utc>| s.min(*t)));
                }
            }
            let behind = since.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
            let sla = slas.get(&name.to_string()).copied().unwrap_or(default_sla);
            status.behind_s = Some(behind);
            status.sla_s = Some(sla);
            status.within_sla = Some(behind <= sla as f64);
            status.last_run = runs.get(&spec.name).cloned();
        }
        out.push(status);
    }
    Ok(out)
}
