use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use strata_orchestration::backfill::{plan, run};
use strata_orchestration::{Job, RunMetrics, RunSettings, Runner, platform_jobs};

use crate::fixtures::{Flaky, bronze, jobs_with, lake, snapshot};

async fn refined_lake(dir: &std::path::Path) -> strata_pipelines::Lake {
    let lake = lake(dir);
    bronze(&lake, 3000, 4, 4, 9).await;
    Runner::new(
        lake.clone(),
        platform_jobs(&strata_testkit::project()),
        RunSettings::default(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap()
    .pass()
    .await
    .unwrap();
    lake
}

#[test]
fn the_plan_widens_rolling_tables_by_their_window() {
    let p = plan(
        &platform_jobs(&strata_testkit::project()),
        "silver.missions",
        "2026-11-01",
        "2026-11-03",
    )
    .unwrap();
    let days = |job: &str| p.steps.iter().find(|s| s.job == job).map(|s| s.days.len());
    assert_eq!(days("silver.missions"), Some(3));
    assert_eq!(days("gold.player_daily"), Some(3));
    assert_eq!(days("gold.player_features"), Some(3 + 27));
    assert_eq!(days("gold.agent_daily"), None);
    let e = plan(
        &platform_jobs(&strata_testkit::project()),
        "silver.nope",
        "2026-11-01",
        "2026-11-03",
    )
    .unwrap_err();
    assert!(e.to_string().contains("no job named 'silver.nope'"), "{e}");
    let e = plan(
        &platform_jobs(&strata_testkit::project()),
        "silver.missions",
        "2026-11-03",
        "2026-11-01",
    )
    .unwrap_err();
    assert!(e.to_string().contains("before --from"), "{e}");
}

/// An erasure's deletes change Silver days directly: only the jobs reading those tables (and
/// theirs) recompute, widened by their windows; a job that merely runs after one (its
/// expectations check references to it) does not.
#[test]
fn downstream_days_follow_inputs_only() {
    use std::collections::{BTreeMap, BTreeSet};
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    let changed = BTreeMap::from([(
        "silver.agent_invocations".parse().unwrap(),
        BTreeSet::from([day("2026-11-01"), day("2026-11-05")]),
    )]);
    let steps = strata_orchestration::backfill::downstream(
        &platform_jobs(&strata_testkit::project()),
        &changed,
    )
    .unwrap();
    let days = |job: &str| steps.iter().find(|s| s.job == job).map(|s| s.days.clone());
    assert_eq!(
        days("gold.agent_daily"),
        Some(vec!["2026-11-01".to_string(), "2026-11-05".to_string()])
    );
    assert_eq!(days("gold.player_daily").map(|d| d.len()), Some(2));
    // 2026-11-01 ..= 11-05 + 27 days, once each.
    assert_eq!(days("gold.player_features").map(|d| d.len()), Some(32));
    for untouched in [
        "silver.agent_invocations",
        "silver.agent_feedback",
        "gold.economy_daily",
    ] {
        assert_eq!(days(untouched), None, "{untouched}: {steps:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backfill_resumes_to_the_uninterrupted_result() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (lake_a, lake_b) = (refined_lake(a.path()).await, refined_lake(b.path()).await);
    let before = snapshot(&lake_a).await;
    assert_eq!(before, snapshot(&lake_b).await);
    let p = plan(
        &platform_jobs(&strata_testkit::project()),
        "silver.missions",
        "2026-11-01",
        "2026-11-04",
    )
    .unwrap();

    // Uninterrupted.
    run(
        &lake_a,
        &platform_jobs(&strata_testkit::project()),
        &p,
        false,
        |_| {},
    )
    .await
    .unwrap();
    // A recompute of unchanged inputs reproduces the incremental result exactly.
    assert_eq!(snapshot(&lake_a).await, before);

    // Interrupted on gold.player_daily's third day, then resumed.
    let flaky = Arc::new(Flaky {
        inner: platform_jobs(&strata_testkit::project())
            .into_iter()
            .find(|j| j.spec().name == "gold.player_daily")
            .unwrap(),
        failures: AtomicU32::new(1),
        retryable: false,
        recompute_ok_first: Some(AtomicU32::new(2)),
    });
    let jobs = jobs_with("gold.player_daily", |_| flaky as Arc<dyn Job>);
    let err = run(&lake_b, &jobs, &p, false, |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("gold.player_daily"), "{err}");
    let mut skipped = 0;
    run(
        &lake_b,
        &platform_jobs(&strata_testkit::project()),
        &p,
        false,
        |pr| skipped += usize::from(pr.skipped),
    )
    .await
    .unwrap();
    // silver.missions' 4 days and player_daily's first 2 were not redone.
    assert_eq!(skipped, 6);
    assert_eq!(snapshot(&lake_b).await, snapshot(&lake_a).await);

    // Run again: everything is already done.
    let mut all_skipped = true;
    run(
        &lake_b,
        &platform_jobs(&strata_testkit::project()),
        &p,
        false,
        |pr| all_skipped &= pr.skipped,
    )
    .await
    .unwrap();
    assert!(all_skipped);
}
