use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use strata_orchestration::{
    Job, RetryPolicy, RunMetrics, RunSettings, RunStatus, Runner, platform_jobs,
};
use strata_testkit::dump;

use crate::fixtures::{Counted, Flaky, bronze, jobs_with, lake};

fn settings() -> RunSettings {
    RunSettings {
        retry: RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        failed_cooldown: Duration::from_secs(3600),
        ..RunSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    bronze(&lake, 1500, 2, 3, 1).await;
    let jobs = jobs_with("silver.missions", |j| {
        Flaky::new(j, 2, true) as Arc<dyn Job>
    });
    let metrics = Arc::new(RunMetrics::default());
    let mut runner = Runner::new(lake.clone(), jobs, settings(), metrics.clone()).unwrap();
    let report = runner.pass().await.unwrap();
    assert!(report.failed().is_empty(), "{:?}", report.failed());
    let missions = report
        .runs
        .iter()
        .find(|r| r.job == "silver.missions")
        .unwrap();
    assert_eq!(missions.attempts, 3);
    assert!(missions.output_version.is_some());
    assert_eq!(
        report.runs.len(),
        platform_jobs(&strata_testkit::project()).len()
    );
    let text = metrics.render();
    assert!(
        text.contains("strata_job_retries_total{job=\"silver.missions\"} 2"),
        "{text}"
    );
    // The run log has it too.
    let runs = dump(
        &lake,
        "SELECT job, status, attempts FROM \"_strata\".runs WHERE job = 'silver.missions'",
    )
    .await;
    assert!(
        runs.contains("| silver.missions | succeeded | 3        |"),
        "{runs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_blocks_only_its_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    bronze(&lake, 1500, 2, 2, 2).await;
    let jobs = jobs_with("silver.agent_feedback", |j| {
        Flaky::new(j, u32::MAX, false) as Arc<dyn Job>
    });
    let mut runner = Runner::new(
        lake.clone(),
        jobs.clone(),
        settings(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    let report = runner.pass().await.unwrap();
    // Status shows each table's last run, from the newest runs.
    let tables = strata_orchestration::status::status(
        &lake,
        &jobs,
        &std::collections::BTreeMap::new(),
        3600,
    )
    .await
    .unwrap();
    let last = |t: &str| {
        tables
            .iter()
            .find(|s| s.table == t)
            .and_then(|s| s.last_run.clone())
            .map(|r| r.status)
    };
    assert_eq!(last("silver.missions").as_deref(), Some("succeeded"));
    assert_eq!(last("gold.player_daily").as_deref(), Some("succeeded"));
    let status = |job: &str| {
        report
            .runs
            .iter()
            .find(|r| r.job == job)
            .map(|r| (r.status, r.attempts))
    };
    // Not retryable: one attempt, then failed; its downstream is blocked, not run.
    assert_eq!(
        status("silver.agent_feedback"),
        Some((RunStatus::Failed, 1))
    );
    assert_eq!(status("gold.agent_daily"), Some((RunStatus::Blocked, 0)));
    assert_eq!(status("gold.agent_features"), Some((RunStatus::Blocked, 0)));
    assert!(
        lake.open(&"gold.agent_daily".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // Unrelated branches ran to the end.
    for job in [
        "silver.missions",
        "gold.player_daily",
        "gold.player_features",
        "gold.economy_daily",
    ] {
        assert_eq!(status(job), Some((RunStatus::Succeeded, 1)), "{job}");
    }
    let error = report
        .runs
        .iter()
        .find(|r| r.job == "silver.agent_feedback")
        .and_then(|r| r.error.clone())
        .unwrap();
    assert_eq!(error.to_string(), "user error: injected failure");
    let rows = dump(
        &lake,
        "SELECT job, status, error_domain, retryable FROM \"_strata\".runs \
         WHERE status <> 'succeeded' ORDER BY job",
    )
    .await;
    assert!(
        rows.contains("| gold.agent_daily      | blocked |"),
        "{rows}"
    );
    assert!(
        rows.contains("| silver.agent_feedback | failed  | user         | false     |"),
        "{rows}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_only_when_an_input_gains_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    bronze(&lake, 800, 1, 1, 3).await;
    let mut runner = Runner::new(
        lake.clone(),
        platform_jobs(&strata_testkit::project()),
        settings(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    assert_eq!(
        runner.pass().await.unwrap().runs.len(),
        platform_jobs(&strata_testkit::project()).len()
    );
    // Nothing new: nothing runs, nothing is written.
    let again = runner.pass().await.unwrap();
    assert!(again.runs.is_empty(), "{:?}", again.runs);
    // New Bronze data: every job runs once more, Silver first.
    bronze(&lake, 400, 1, 1, 4).await;
    let third = runner.pass().await.unwrap();
    assert_eq!(
        third.runs.len(),
        platform_jobs(&strata_testkit::project()).len()
    );
    // Each job finished after every job it reads from.
    let pos = |job: &str| third.runs.iter().position(|r| r.job == job).unwrap();
    for job in platform_jobs(&strata_testkit::project()) {
        let spec = job.spec();
        for input in &spec.inputs {
            if input.layer != "bronze" {
                assert!(
                    pos(&input.to_string()) < pos(&spec.name),
                    "{input} after {}",
                    spec.name
                );
            }
        }
    }
}

/// A pass runs at most `max_parallel_jobs` jobs at once (each holds a chunk of its input), and
/// uses that many when the graph has independent jobs ready (the four Silver tables that no
/// expectation ties together).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_runs_at_most_max_parallel_jobs_at_once() {
    for limit in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path());
        bronze(&lake, 600, 1, 1, 5).await;
        let (now, most) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let jobs: Vec<Arc<dyn Job>> = platform_jobs(&strata_testkit::project())
            .into_iter()
            .map(|inner| {
                Arc::new(Counted {
                    inner,
                    now: now.clone(),
                    most: most.clone(),
                }) as Arc<dyn Job>
            })
            .collect();
        let settings = RunSettings {
            max_parallel_jobs: limit as usize,
            ..settings()
        };
        let mut runner = Runner::new(
            lake.clone(),
            jobs,
            settings,
            Arc::new(RunMetrics::default()),
        )
        .unwrap();
        let report = runner.pass().await.unwrap();
        assert!(report.failed().is_empty(), "{:?}", report.failed());
        assert_eq!(
            report.runs.len(),
            platform_jobs(&strata_testkit::project()).len()
        );
        assert_eq!(
            most.load(Ordering::SeqCst),
            limit,
            "most jobs at once with max_parallel_jobs = {limit}"
        );
    }
}
