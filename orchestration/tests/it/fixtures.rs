use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{TimeZone, Utc};
use deltalake::kernel::transaction::CommitProperties;
use futures::future::BoxFuture;
use strata_bronze::BronzeWriter;
use strata_ingest::SimulateConfig;
use strata_ingest::simulate::Generator;
use strata_orchestration::{ErrorDomain, Job, JobFailure, JobOutput, platform_jobs};
use strata_pipelines::{JobSpec, Lake};
use strata_testkit::{dump, inspector, records};

/// `n` simulated events spread over about `days` days, written to Bronze in `commits` commits.
pub async fn bronze(lake: &Lake, n: usize, days: u32, commits: usize, seed: u64) {
    let config = SimulateConfig {
        seed,
        players: 60,
        agents: 8,
        rate: Some(n as f64 / (f64::from(days) * 86_400.0)),
        duplicate_fraction: 0.03,
        late_fraction: 0.03,
        ..SimulateConfig::default()
    };
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut generator = Generator::new(config, start);
    let values: Vec<Vec<u8>> = (0..n)
        .filter_map(|_| generator.next_record().value)
        .collect();
    let mut writer = BronzeWriter::open(lake, inspector(), "g").await.unwrap();
    let mut offset = writer
        .stored_offset(&strata_bronze::PartitionKey::new("events", 0))
        .await
        .unwrap()
        .map_or(0, |o| o + 1);
    let per = values.len().div_ceil(commits);
    for chunk in values.chunks(per) {
        writer
            .commit(&records(chunk.to_vec(), offset))
            .await
            .unwrap();
        offset += chunk.len() as i64;
    }
}

pub fn lake(dir: &Path) -> Lake {
    Lake::new(dir.to_str().unwrap()).unwrap()
}

/// Every platform table, dumped in a stable order.
pub async fn snapshot(lake: &Lake) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for job in platform_jobs(&strata_testkit::project()) {
        let t = job.spec().output;
        // Rows in a stable order: the printed lines, sorted.
        let d = dump(lake, &format!("SELECT * FROM {t}")).await;
        let mut lines: Vec<&str> = d.lines().collect();
        lines.sort_unstable();
        out.push((t.to_string(), lines.join("\n")));
    }
    out
}

/// A job that fails its first `failures` calls (run or recompute), then delegates.
#[derive(Debug)]
pub struct Flaky {
    pub inner: Arc<dyn Job>,
    pub failures: AtomicU32,
    pub retryable: bool,
    /// Fail only recomputes after this many succeeded (for interrupting backfills).
    pub recompute_ok_first: Option<AtomicU32>,
}

impl Flaky {
    pub fn new(inner: Arc<dyn Job>, failures: u32, retryable: bool) -> Arc<Self> {
        Arc::new(Self {
            inner,
            failures: AtomicU32::new(failures),
            retryable,
            recompute_ok_first: None,
        })
    }

    fn fail(&self) -> Option<JobFailure> {
        let left = self.failures.load(Ordering::SeqCst);
        if left == 0 {
            return None;
        }
        self.failures.store(left - 1, Ordering::SeqCst);
        let domain = if self.retryable {
            ErrorDomain::External
        } else {
            ErrorDomain::User
        };
        Some(JobFailure::new(domain, self.retryable, "injected failure"))
    }
}

impl Job for Flaky {
    fn spec(&self) -> JobSpec {
        self.inner.spec()
    }

    fn run<'a>(&'a self, lake: &'a Lake) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        Box::pin(async move {
            if let Some(f) = self.fail() {
                return Err(f);
            }
            self.inner.run(lake).await
        })
    }

    fn recompute<'a>(
        &'a self,
        lake: &'a Lake,
        days: &'a BTreeSet<String>,
        props: CommitProperties,
    ) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        Box::pin(async move {
            if let Some(ok) = &self.recompute_ok_first {
                if ok.load(Ordering::SeqCst) > 0 {
                    ok.fetch_sub(1, Ordering::SeqCst);
                } else if let Some(f) = self.fail() {
                    return Err(f);
                }
            }
            self.inner.recompute(lake, days, props).await
        })
    }

    fn lookahead_days(&self) -> u32 {
        self.inner.lookahead_days()
    }
}

/// The platform's jobs with one replaced.
pub fn jobs_with(
    name: &str,
    replace: impl FnOnce(Arc<dyn Job>) -> Arc<dyn Job>,
) -> Vec<Arc<dyn Job>> {
    let mut replace = Some(replace);
    platform_jobs(&strata_testkit::project())
        .into_iter()
        .map(|j| {
            if j.spec().name == name {
                (replace.take().unwrap())(j)
            } else {
                j
            }
        })
        .collect()
}

/// Counts how many jobs are inside `run` at once; wraps every job of a pass.
#[derive(Debug)]
pub struct Counted {
    pub inner: Arc<dyn Job>,
    pub now: Arc<AtomicU32>,
    pub most: Arc<AtomicU32>,
}

impl Job for Counted {
    fn spec(&self) -> JobSpec {
        self.inner.spec()
    }

    fn run<'a>(&'a self, lake: &'a Lake) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        Box::pin(async move {
            let inside = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(inside, Ordering::SeqCst);
            let out = self.inner.run(lake).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            out
        })
    }

    fn recompute<'a>(
        &'a self,
        lake: &'a Lake,
        days: &'a BTreeSet<String>,
        props: CommitProperties,
    ) -> BoxFuture<'a, Result<JobOutput, JobFailure>> {
        self.inner.recompute(lake, days, props)
    }

    fn lookahead_days(&self) -> u32 {
        self.inner.lookahead_days()
    }
}
