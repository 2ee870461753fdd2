use std::sync::Arc;

use strata_orchestration::{RunMetrics, RunSettings, RunStatus, Runner, platform_jobs_with};
use strata_pipelines::TableName;
use strata_quality::{Action, Check, Expectation};
use strata_testkit::dump;

use crate::fixtures::{bronze, lake};

fn t(s: &str) -> TableName {
    s.parse().unwrap()
}

fn sql(name: &str, expr: &str, action: Action) -> Expectation {
    Expectation::new(name, Check::Sql { expr: expr.into() }, action)
}

async fn version(lake: &strata_pipelines::Lake, table: &str) -> Option<u64> {
    lake.open(&t(table))
        .await
        .unwrap()
        .and_then(|t| t.version())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_expectation_leaves_its_table_and_downstream_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    bronze(&lake, 1500, 2, 1, 11).await;
    let mut plain = Runner::new(
        lake.clone(),
        platform_jobs_with(&strata_testkit::project(), &[]),
        RunSettings::default(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    plain.pass().await.unwrap();
    let watched = [
        "silver.missions",
        "gold.player_daily",
        "gold.player_features",
    ];
    let mut before = Vec::new();
    for w in watched {
        before.push((
            version(&lake, w).await,
            dump(&lake, &format!("SELECT count(*) FROM {w}")).await,
        ));
    }
    let economy_before = version(&lake, "silver.economy_transactions").await;

    // New data with heists, and an expectation refusing them.
    bronze(&lake, 1500, 2, 1, 12).await;
    let no_heists = sql("no_heists", "mission_type <> 'heist'", Action::Fail);
    let mut strict = Runner::new(
        lake.clone(),
        platform_jobs_with(
            &strata_testkit::project(),
            &[(t("silver.missions"), no_heists)],
        ),
        RunSettings::default(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    let report = strict.pass().await.unwrap();
    let run = |job: &str| report.runs.iter().find(|r| r.job == job).unwrap();
    assert_eq!(run("silver.missions").status, RunStatus::Failed);
    let error = run("silver.missions").error.clone().unwrap();
    assert!(!error.retryable);
    assert!(
        error
            .message
            .contains("expectation 'no_heists' (sql) failed on")
            && error.message.contains("\"mission_type\":\"heist\""),
        "{}",
        error.message
    );
    assert_eq!(run("gold.player_daily").status, RunStatus::Blocked);
    assert_eq!(run("gold.player_features").status, RunStatus::Blocked);
    for (w, b) in watched.iter().zip(&before) {
        let now = (
            version(&lake, w).await,
            dump(&lake, &format!("SELECT count(*) FROM {w}")).await,
        );
        assert_eq!(&now, b, "{w} changed");
    }
    // Unrelated branches went on.
    assert_eq!(run("gold.economy_daily").status, RunStatus::Succeeded);
    assert!(version(&lake, "silver.economy_transactions").await > economy_before);
    let results = dump(
        &lake,
        "SELECT \"table\", expectation, outcome FROM \"_strata\".quality_results \
         WHERE expectation = 'no_heists'",
    )
    .await;
    assert!(
        results.contains("| silver.missions | no_heists   | failed  |"),
        "{results}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_rejects_rows_and_warn_thresholds_only_count() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    bronze(&lake, 2000, 2, 1, 13).await;
    let extra = [
        (
            t("silver.economy_transactions"),
            sql("no_gems", "currency <> 'GEMS'", Action::Drop),
        ),
        // Nearly every row fails, but the threshold tolerates it: counted, not fatal.
        (
            t("silver.missions"),
            sql("rare", "mission_type = 'heist'", Action::Fail).with_threshold(0.99),
        ),
    ];
    let mut runner = Runner::new(
        lake.clone(),
        platform_jobs_with(&strata_testkit::project(), &extra),
        RunSettings::default(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    let report = runner.pass().await.unwrap();
    assert!(report.failed().is_empty(), "{:?}", report.failed());
    let gems_in_silver = dump(
        &lake,
        "SELECT count(*) AS n FROM silver.economy_transactions WHERE currency = 'GEMS'",
    )
    .await;
    assert!(gems_in_silver.contains("| 0 |"), "{gems_in_silver}");
    let rejects = dump(
        &lake,
        "SELECT \"table\", expectations, count(*) AS n FROM \"_strata\".rejects GROUP BY 1, 2",
    )
    .await;
    let results = dump(
        &lake,
        "SELECT expectation, outcome, rows_failed FROM \"_strata\".quality_results \
         WHERE expectation IN ('no_gems', 'rare') ORDER BY 1",
    )
    .await;
    // The rejects hold exactly the rows the results count as dropped.
    let dropped: Vec<&str> = results
        .lines()
        .filter(|l| l.contains("no_gems"))
        .flat_map(|l| l.split('|').map(str::trim).nth(3))
        .collect();
    assert_eq!(dropped.len(), 1, "{results}");
    assert!(
        rejects.contains(&format!("| {} |", dropped[0])),
        "{rejects}\n{results}"
    );
    assert!(
        rejects.contains("silver.economy_transactions | no_gems"),
        "{rejects}"
    );
    assert!(results.contains("| rare        | warned  |"), "{results}");
    assert!(results.contains("| no_gems     | dropped |"), "{results}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_records_replay_into_silver_exactly_once_after_a_schema_change() {
    use strata_bronze::{BronzeWriter, replay_quarantine};
    use strata_quality::{Inspector, SchemaValidator};
    use strata_registry::Registry;

    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    // Producers moved to a v2 (with an optional `stars`) before anyone registered it.
    let mut values: Vec<Vec<u8>> = (0..3)
        .map(|i| strata_testkit::mission(&format!("0000000{i}"), 1, None))
        .collect();
    values.extend((3..7).map(|i| strata_testkit::mission(&format!("0000000{i}"), 2, Some(i))));
    let mut writer = BronzeWriter::open(&lake, strata_testkit::inspector(), "g")
        .await
        .unwrap();
    writer
        .commit(&strata_testkit::records(values, 0))
        .await
        .unwrap();
    let runner = || {
        Runner::new(
            lake.clone(),
            platform_jobs_with(&strata_testkit::project(), &[]),
            RunSettings::default(),
            Arc::new(RunMetrics::default()),
        )
        .unwrap()
    };
    runner().pass().await.unwrap();
    let count = "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM silver.missions";
    assert!(dump(&lake, count).await.contains("| 3 | 3 |"));
    let reasons = dump(
        &lake,
        "SELECT error_kind, count(*) FROM bronze.events WHERE NOT valid GROUP BY 1",
    )
    .await;
    assert!(
        reasons.contains("| unknown_schema_version | 4 "),
        "{reasons}"
    );

    // Nothing to replay yet: the schema is still unknown.
    let before = replay_quarantine(&lake, strata_testkit::inspector())
        .await
        .unwrap();
    assert_eq!((before.candidates, before.replayed), (4, 0));

    // The fix: register v2 (compatible: an optional field) in the lake's registry.
    let registry = Registry::open(lake.clone(), strata_testkit::project().schema_catalog())
        .await
        .unwrap();
    registry.ensure_declared().await.unwrap();
    let v2 = strata_testkit::mission_v2_schema();
    registry
        .register("mission.completed", &v2.to_string(), "JSON")
        .await
        .unwrap();
    let inspector = Arc::new(Inspector::new(
        SchemaValidator::new(&registry.catalog().await.unwrap()).unwrap(),
        1 << 20,
    ));
    let replayed = replay_quarantine(&lake, inspector.clone()).await.unwrap();
    assert_eq!(
        (
            replayed.candidates,
            replayed.replayed,
            replayed.still_invalid
        ),
        (4, 4, 0)
    );
    runner().pass().await.unwrap();
    assert!(
        dump(&lake, count).await.contains("| 7 | 7 |"),
        "{}",
        dump(&lake, count).await
    );

    // Again: nothing left, nothing doubled.
    let again = replay_quarantine(&lake, inspector).await.unwrap();
    assert_eq!((again.candidates, again.replayed), (0, 0));
    runner().pass().await.unwrap();
    assert!(dump(&lake, count).await.contains("| 7 | 7 |"));
    // Bronze itself is untouched: the original rows keep their reason.
    let reasons = dump(
        &lake,
        "SELECT error_kind, count(*) FROM bronze.events WHERE NOT valid GROUP BY 1",
    )
    .await;
    assert!(
        reasons.contains("| unknown_schema_version | 4 "),
        "{reasons}"
    );
}
