//! Backfill: recompute a range of days of one job's output and everything downstream of it.
//!
//! Each step replaces one day of one table in one commit that also carries the backfill's
//! progress marker (a `txn` action `backfill:<id>` whose version counts the days done for that
//! table). Interrupting at any point and running the same backfill again resumes after the
//! last committed step; the result equals an uninterrupted run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use serde_json::json;
use strata_pipelines::{Lake, TableName, txn_version};
use tracing::info;

use crate::dag::Dag;
use crate::job::Job;
use crate::runs::{self, RunRecord, RunStatus};
use crate::{Error, Result};

/// One table's share of a backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillStep {
    pub job: String,
    /// Days to recompute, in order (`YYYY-MM-DD`).
    pub days: Vec<String>,
}

/// A backfill, planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillPlan {
    /// Stable for the same job and range, so a second run resumes the first.
    pub id: String,
    pub steps: Vec<BackfillStep>,
}

impl BackfillPlan {
    pub fn total_days(&self) -> usize {
        self.steps.iter().map(|s| s.days.len()).sum()
    }

    fn app_id(&self) -> String {
        format!("backfill:{}", self.id)
    }
}

/// Progress after each committed (or skipped, already done) day.
#[derive(Debug, Clone)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub job: String,
    pub day: String,
    pub skipped: bool,
}

fn parse_day(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| Error::Range(format!("'{s}' is not a date (YYYY-MM-DD): {e}")))
}

fn expand(days: &BTreeSet<NaiveDate>, n: u32) -> BTreeSet<NaiveDate> {
    days.iter()
        .flat_map(|d| (0..=u64::from(n)).filter_map(|i| d.checked_add_days(chrono::Days::new(i))))
        .collect()
}

fn day_strings(days: &BTreeSet<NaiveDate>) -> Vec<String> {
    days.iter()
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect()
}

/// FNV-1a: a short stable id with no extra dependency.
fn stable_id(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The days each affected job recomputes: the range for `job`, and for each downstream job
/// the days its inputs changed, widened by its rolling window.
pub fn plan(jobs: &[Arc<dyn Job>], job: &str, from: &str, to: &str) -> Result<BackfillPlan> {
    let dag = Dag::new(jobs.iter().map(|j| j.spec()).collect())?;
    let root = dag.index(job).ok_or_else(|| Error::UnknownJob {
        name: job.to_string(),
        known: dag
            .order()
            .iter()
            .map(|&i| dag.spec(i).name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let (first, last) = (parse_day(from)?, parse_day(to)?);
    if last < first {
        return Err(Error::Range(format!("--to {to} is before --from {from}")));
    }
    if (last - first).num_days() > 3660 {
        return Err(Error::Range(format!(
            "{from} .. {to} spans more than ten years"
        )));
    }
    let range: BTreeSet<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let mut affected: BTreeMap<usize, BTreeSet<NaiveDate>> = BTreeMap::new();
    let mut steps = Vec::new();
    for i in dag.with_downstream(root) {
        let days = if i == root {
            range.clone()
        } else {
            let from_inputs: BTreeSet<NaiveDate> = dag
                .upstream(i)
                .iter()
                .filter_map(|u| affected.get(u))
                .flatten()
                .copied()
                .collect();
            expand(&from_inputs, jobs[i].lookahead_days())
        };
        steps.push(BackfillStep {
            job: dag.spec(i).name.clone(),
            days: day_strings(&days),
        });
        affected.insert(i, days);
    }
    Ok(BackfillPlan {
        id: stable_id(&format!("{job}|{from}|{to}")),
        steps,
    })
}

/// The days each job downstream of `changed` recomputes, in the job graph's order: for each
/// job whose inputs changed, those days widened by its rolling window. `changed` maps the
/// tables that changed by other means (an erasure's deletes) to the days they touched; their
/// jobs get no step themselves.
pub fn downstream(
    jobs: &[Arc<dyn Job>],
    changed: &BTreeMap<TableName, BTreeSet<NaiveDate>>,
) -> Result<Vec<BackfillStep>> {
    let dag = Dag::new(jobs.iter().map(|j| j.spec()).collect())?;
    let mut affected = changed.clone();
    let mut steps = Vec::new();
    for &i in dag.order() {
        let spec = dag.spec(i);
        if changed.contains_key(&spec.output) {
            continue;
        }
        let from_inputs: BTreeSet<NaiveDate> = spec
            .inputs
            .iter()
            .filter_map(|t| affected.get(t))
            .flatten()
            .copied()
            .collect();
        if from_inputs.is_empty() {
            continue;
        }
        let days = expand(&from_inputs, jobs[i].lookahead_days());
        steps.push(BackfillStep {
            job: spec.name.clone(),
            days: day_strings(&days),
        });
        affected.insert(spec.output.clone(), days);
    }
    Ok(steps)
}

/// Run (or resume) a backfill. `restart` ignores the progress of an earlier run.
pub async fn run(
    lake: &Lake,
    jobs: &[Arc<dyn Job>],
    plan: &BackfillPlan,
    restart: bool,
    mut progress: impl FnMut(&Progress),
) -> Result<Vec<RunRecord>> {
    let by_name: BTreeMap<String, &Arc<dyn Job>> =
        jobs.iter().map(|j| (j.spec().name, j)).collect();
    let app_id = plan.app_id();
    let total = plan.total_days();
    let mut done = 0;
    let mut records = Vec::new();
    for step in &plan.steps {
        let Some(job) = by_name.get(&step.job) else {
            continue;
        };
        let spec = job.spec();
        let stored = match lake.open(&spec.output).await? {
            Some(t) => txn_version(&t, &spec.output, &app_id).await?.unwrap_or(0),
            None => 0,
        };
        // The marker counts this table's days done; a complete backfill is skipped unless
        // restarted.
        let n = u64::try_from(step.days.len()).unwrap_or(u64::MAX);
        let skip = if restart { 0 } else { stored.min(n) };
        let started = Utc::now();
        let mut record = RunRecord {
            run_id: format!("backfill-{}", plan.id),
            job: step.job.clone(),
            started_at: started,
            ended_at: started,
            status: RunStatus::Succeeded,
            attempts: 1,
            input_versions: Vec::new(),
            output_version: None,
            rows_in: 0,
            rows_out: 0,
            error: None,
        };
        for (k, day) in step.days.iter().enumerate() {
            let index = u64::try_from(k).unwrap_or(u64::MAX) + 1;
            done += 1;
            if index <= skip {
                progress(&Progress {
                    done,
                    total,
                    job: step.job.clone(),
                    day: day.clone(),
                    skipped: true,
                });
                continue;
            }
            let marker = i64::try_from(index).unwrap_or(i64::MAX);
            let props = CommitProperties::default()
                .with_application_transactions(vec![Transaction::new(app_id.clone(), marker)])
                .with_metadata([(
                    "strata.backfill".to_string(),
                    json!({"id": plan.id, "job": step.job, "day": day}),
                )]);
            let days = BTreeSet::from([day.clone()]);
            let out = job
                .recompute(lake, &days, props)
                .await
                .map_err(|failure| Error::Job {
                    job: step.job.clone(),
                    failure,
                })?;
            record.rows_in += out.rows_in;
            record.rows_out += out.rows_out;
            record.output_version = out.output_version.or(record.output_version);
            progress(&Progress {
                done,
                total,
                job: step.job.clone(),
                day: day.clone(),
                skipped: false,
            });
        }
        record.ended_at = Utc::now();
        info!(job = %step.job, days = step.days.len(), rows = record.rows_out, "backfilled");
        records.push(record);
    }
    runs::append(lake, &records).await?;
    Ok(records)
}
