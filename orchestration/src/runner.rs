//! The scheduler: each pass runs every job whose inputs gained a Delta version since it last
//! ran, in DAG order, independent branches concurrently. Retryable failures are retried with
//! exponential backoff; a job that keeps failing is marked failed, its downstream waits, and
//! unrelated branches keep running.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use strata_pipelines::{Lake, TableName, TableVersions};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::Result;
use crate::dag::Dag;
use crate::error::JobFailure;
use crate::job::{Job, JobOutput};
use crate::metrics::RunMetrics;
use crate::runs::{self, RunRecord, RunStatus};

/// Exponential backoff for retryable failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per run, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempts count from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[derive(Debug, Clone)]
pub struct RunSettings {
    pub retry: RetryPolicy,
    /// A job runs at most this often, however often its inputs change (micro-batching).
    pub min_interval: Duration,
    /// After a job has exhausted its retries, wait this long before trying it again.
    pub failed_cooldown: Duration,
    /// Write every run to `_strata.runs`.
    pub record_runs: bool,
    /// Jobs running at once. Each holds a chunk of its input, so this (not the number of
    /// tables a project declares) bounds a pass's memory.
    pub max_parallel_jobs: usize,
}

/// One job per core: more only adds chunks held at once, not throughput.
pub fn default_parallel_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            min_interval: Duration::ZERO,
            failed_cooldown: Duration::from_secs(60),
            record_runs: true,
            max_parallel_jobs: default_parallel_jobs(),
        }
    }
}

#[derive(Debug, Default)]
struct JobState {
    /// Input versions the last successful run read.
    seen: Option<BTreeMap<TableName, Option<u64>>>,
    last_start: Option<Instant>,
    failed_at: Option<Instant>,
    /// Since when the inputs have had versions this job has not consumed.
    behind_since: Option<Instant>,
}

/// What happened to each job in one pass.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    pub run_id: String,
    /// Jobs that ran (or were blocked), in completion order.
    pub runs: Vec<RunRecord>,
}

impl PassReport {
    pub fn failed(&self) -> Vec<&RunRecord> {
        self.runs
            .iter()
            .filter(|r| r.status != RunStatus::Succeeded)
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Ran and succeeded, or had nothing to do.
    Ok,
    Failed,
    Blocked,
}

pub struct Runner {
    lake: Lake,
    jobs: Vec<Arc<dyn Job>>,
    dag: Dag,
    settings: RunSettings,
    metrics: Arc<RunMetrics>,
    state: Vec<JobState>,
    versions: TableVersions,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

async fn run_with_retry(
    job: Arc<dyn Job>,
    lake: Lake,
    policy: RetryPolicy,
    metrics: Arc<RunMetrics>,
) -> (u32, Result<JobOutput, JobFailure>) {
    let name = job.spec().name;
    let mut attempt = 1;
    loop {
        match job.run(&lake).await {
            Ok(out) => return (attempt, Ok(out)),
            Err(f) if f.retryable && attempt < policy.max_attempts => {
                let wait = policy.backoff(attempt);
                warn!(job = %name, attempt, wait_ms = wait.as_millis() as u64, error = %f,
                      "job failed, retrying");
                metrics.retry(&name);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(f) => return (attempt, Err(f)),
        }
    }
}

impl Runner {
    pub fn new(
        lake: Lake,
        jobs: Vec<Arc<dyn Job>>,
        settings: RunSettings,
        metrics: Arc<RunMetrics>,
    ) -> Result<Self> {
        let dag = Dag::new(jobs.iter().map(|j| j.spec()).collect())?;
        let state = jobs.iter().map(|_| JobState::default()).collect();
        Ok(Self {
            versions: TableVersions::new(lake.clone()),
            lake,
            jobs,
            dag,
            settings,
            metrics,
            state,
        })
    }

    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    pub fn metrics(&self) -> Arc<RunMetrics> {
        self.metrics.clone()
    }

    async fn input_versions(&mut self, i: usize) -> Result<BTreeMap<TableName, Option<u64>>> {
        let mut out = BTreeMap::new();
        for input in self.dag.spec(i).inputs.clone() {
            let v = self.versions.latest(&input).await?;
            out.insert(input, v);
        }
        Ok(out)
    }

    /// One pass over the graph. Errors here are the orchestrator's own (cannot read the lake);
    /// job failures are in the report.
    pub async fn pass(&mut self) -> Result<PassReport> {
        self.metrics.pass_started();
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let mut report = PassReport {
            run_id: run_id.clone(),
            runs: Vec::new(),
        };
        let n = self.dag.len();
        let mut outcome: Vec<Option<Outcome>> = vec![None; n];
        let mut pending: BTreeSet<usize> = self.dag.order().iter().copied().collect();
        let mut running = FuturesUnordered::new();
        let slots = Arc::new(Semaphore::new(self.settings.max_parallel_jobs.max(1)));
        loop {
            // Launch (or settle) every job whose upstream has settled.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for i in self.dag.order().to_vec() {
                    if !pending.contains(&i) {
                        continue;
                    }
                    let ups: Vec<Option<Outcome>> =
                        self.dag.upstream(i).iter().map(|&u| outcome[u]).collect();
                    if ups.iter().any(Option::is_none) {
                        continue;
                    }
                    pending.remove(&i);
                    progressed = true;
                    let spec = self.dag.spec(i).clone();
                    if ups.iter().any(|o| *o != Some(Outcome::Ok)) {
                        outcome[i] = Some(Outcome::Blocked);
                        let now = Utc::now();
                        let record = RunRecord {
                            run_id: run_id.clone(),
                            job: spec.name.clone(),
                            started_at: now,
                            ended_at: now,
                            status: RunStatus::Blocked,
                            attempts: 0,
                            input_versions: Vec::new(),
                            output_version: None,
                            rows_in: 0,
                            rows_out: 0,
                            error: None,
                        };
                        self.metrics.record(&record, &spec.output.to_string());
                        report.runs.push(record);
                        continue;
                    }
                    let versions = self.input_versions(i).await?;
                    let st = &mut self.state[i];
                    let changed = st.seen.as_ref() != Some(&versions);
                    if changed && st.behind_since.is_none() {
                        st.behind_since = Some(Instant::now());
                    }
                    if let Some(at) = st.failed_at
                        && at.elapsed() < self.settings.failed_cooldown
                    {
                        // Still failed: its downstream keeps waiting.
                        outcome[i] = Some(Outcome::Failed);
                        continue;
                    }
                    let too_soon = st
                        .last_start
                        .is_some_and(|t| t.elapsed() < self.settings.min_interval);
                    if !changed || too_soon {
                        outcome[i] = Some(Outcome::Ok);
                        continue;
                    }
                    st.last_start = Some(Instant::now());
                    let job = self.jobs[i].clone();
                    let lake = self.lake.clone();
                    let policy = self.settings.retry.clone();
                    let metrics = self.metrics.clone();
                    let slots = slots.clone();
                    running.push(async move {
                        // The semaphore is never closed; without a permit the job runs anyway.
                        let _slot = slots.acquire_owned().await.ok();
                        let started = Utc::now();
                        let handle = tokio::spawn(run_with_retry(job, lake, policy, metrics));
                        let (attempts, result) = match handle.await {
                            Ok(r) => r,
                            Err(e) => (
                                1,
                                Err(JobFailure::new(
                                    crate::ErrorDomain::Internal,
                                    false,
                                    format!("job task ended abnormally: {e}"),
                                )),
                            ),
                        };
                        (i, versions, started, attempts, result)
                    });
                }
            }
            let Some((i, versions, started, attempts, result)) = running.next().await else {
                break;
            };
            let spec = self.dag.spec(i).clone();
            let mut record = RunRecord {
                run_id: run_id.clone(),
                job: spec.name.clone(),
                started_at: started,
                ended_at: Utc::now(),
                status: RunStatus::Succeeded,
                attempts,
                input_versions: Vec::new(),
                output_version: None,
                rows_in: 0,
                rows_out: 0,
                error: None,
            };
            let st = &mut self.state[i];
            match result {
                Ok(out) => {
                    outcome[i] = Some(Outcome::Ok);
                    st.failed_at = None;
                    st.seen = Some(versions);
                    st.behind_since = None;
                    record.input_versions = out.input_versions;
                    record.output_version = out.output_version;
                    record.rows_in = out.rows_in;
                    record.rows_out = out.rows_out;
                    self.metrics.untyped(&spec.output.to_string(), &out.untyped);
                }
                Err(f) => {
                    outcome[i] = Some(Outcome::Failed);
                    st.failed_at = Some(Instant::now());
                    warn!(job = %spec.name, attempts, domain = %f.domain, retryable = f.retryable,
                          error = %f.message, "job failed; its downstream waits");
                    record.status = RunStatus::Failed;
                    record.error = Some(f);
                }
            }
            self.metrics.record(&record, &spec.output.to_string());
            report.runs.push(record);
        }
        for i in 0..n {
            let secs = self.state[i]
                .behind_since
                .map_or(0.0, |t| t.elapsed().as_secs_f64());
            self.metrics
                .set_freshness(&self.dag.spec(i).output.to_string(), secs);
        }
        self.metrics.pass();
        if self.settings.record_runs
            && !report.runs.is_empty()
            && let Err(e) = runs::append(&self.lake, &report.runs).await
        {
            warn!(error = %e, "could not record runs in _strata.runs");
        }
        let changed = report
            .runs
            .iter()
            .filter(|r| r.output_version.is_some())
            .count();
        if changed > 0 {
            info!(run_id = %report.run_id, jobs = report.runs.len(), changed, "pass done");
        }
        Ok(report)
    }
}
