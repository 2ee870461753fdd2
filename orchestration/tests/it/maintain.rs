use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata_orchestration::maintain::{MaintainSettings, maintain_table};
use strata_orchestration::{RunMetrics, RunSettings, Runner, platform_jobs};
use strata_pipelines::TableName;
use strata_pipelines::files_and_rows;
use strata_pipelines::keys::present_keys;
use strata_testkit::dump;

use crate::fixtures::{bronze, lake, snapshot};

const ROWS: &str =
    "SELECT \"partition\", \"offset\", event_id, valid FROM bronze.events ORDER BY \"offset\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_data_and_a_concurrent_reader_never_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    bronze(&lake, 3000, 2, 30, 5).await;
    let mut runner = Runner::new(
        lake.clone(),
        platform_jobs(&strata_testkit::project()),
        RunSettings::default(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    runner.pass().await.unwrap();
    let refined = snapshot(&lake).await;
    let events: TableName = "bronze.events".parse().unwrap();
    let before = dump(&lake, ROWS).await;
    let (files_before, rows_before) =
        files_and_rows(&lake.open_existing(&events).await.unwrap()).unwrap();
    assert!(files_before >= 30, "{files_before} files");

    // A reader querying in a loop, from fresh snapshots, while maintenance runs.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (lake, done, expected) = (lake.clone(), done.clone(), before.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) || reads < 3 {
                let ctx = strata_pipelines::SessionBuilder::new(lake.clone())
                    .build()
                    .await
                    .expect("reader: session");
                let batches = ctx
                    .sql(ROWS)
                    .await
                    .expect("reader: plan")
                    .collect()
                    .await
                    .expect("reader: read");
                let text = deltalake::arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap()
                    .to_string();
                assert_eq!(text, expected, "reader saw different data");
                reads += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            reads
        })
    };
    let settings = MaintainSettings {
        target_file_bytes: 64 * 1024 * 1024,
        min_small_files: 2,
        checkpoint_every: 5,
        ..MaintainSettings::default()
    };
    let report = maintain_table(&lake, &events, &settings).await.unwrap();
    done.store(true, Ordering::SeqCst);
    let reads = reader.await.unwrap();
    assert!(reads >= 3);

    assert_eq!(report.files_compacted as usize, files_before);
    assert!(report.files_after <= 2, "{report:?}");
    assert_eq!(report.checkpoint_version, Some(report.version));
    // Within the 7-day floor nothing is vacuumed: readers of old versions keep their files.
    assert_eq!(report.files_vacuumed, 0);
    assert_eq!(dump(&lake, ROWS).await, before);
    let (_, rows_after) = files_and_rows(&lake.open_existing(&events).await.unwrap()).unwrap();
    assert_eq!(rows_after, rows_before);

    // Compaction is not new data: the jobs consume its commit and change nothing.
    runner.pass().await.unwrap();
    assert_eq!(snapshot(&lake).await, refined);

    // A retention below the floor is refused by name unless forced.
    let short = MaintainSettings {
        vacuum_retention: Duration::from_secs(3600),
        ..settings.clone()
    };
    let err = maintain_table(&lake, &events, &short)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 h is below the floor of 168 h"), "{err}");
    let forced = MaintainSettings {
        vacuum_retention: Duration::ZERO,
        force: true,
        compact: false,
        ..settings
    };
    let report = maintain_table(&lake, &events, &forced).await.unwrap();
    assert_eq!(report.files_vacuumed, files_before, "{report:?}");
    assert_eq!(dump(&lake, ROWS).await, before);

    // Compacting a Silver table keeps the bloom filter its appends look event ids up in: a
    // stored id is found, a missing one reads no row group.
    // More events on the same days: a second file in each of its partitions.
    bronze(&lake, 600, 2, 2, 6).await;
    runner.pass().await.unwrap();
    let missions: TableName = "silver.missions".parse().unwrap();
    let compact_only = MaintainSettings {
        compact: true,
        vacuum: false,
        ..forced
    };
    let report = maintain_table(&lake, &missions, &compact_only)
        .await
        .unwrap();
    assert!(report.files_compacted > 0, "{report:?}");
    let (id, day) = one_event(&lake).await;
    let wanted = std::collections::BTreeMap::from([(
        day.clone(),
        std::collections::HashSet::from([id.as_str(), "no-such-event"]),
    )]);
    let compacted = lake.open_existing(&missions).await.unwrap();
    let found = present_keys(&compacted, "event_id", "event_date", &wanted)
        .await
        .unwrap();
    assert_eq!(
        found.keys[&day],
        std::collections::HashSet::from([id.clone()])
    );
    let wanted = std::collections::BTreeMap::from([(
        day,
        std::collections::HashSet::from(["no-such-event"]),
    )]);
    let found = present_keys(&compacted, "event_id", "event_date", &wanted)
        .await
        .unwrap();
    assert!(
        found.row_groups > 0 && found.row_groups_read == 0,
        "{found:?}"
    );
}

/// An event id of silver.missions and its date.
async fn one_event(lake: &strata_pipelines::Lake) -> (String, String) {
    use deltalake::arrow::array::AsArray;
    let ctx = strata_pipelines::SessionBuilder::new(lake.clone())
        .build()
        .await
        .unwrap();
    let batches = ctx
        .sql("SELECT event_id, CAST(event_date AS VARCHAR) AS d FROM silver.missions LIMIT 1")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = |c: usize| {
        let column = deltalake::arrow::compute::cast(
            batches[0].column(c),
            &deltalake::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        column.as_string::<i32>().value(0).to_string()
    };
    (text(0), text(1))
}

/// Retention deletes the partitions past their age and nothing else, records itself in the
/// audit log, and a replay afterwards (the files vacuumed) equals the tables without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_partitions_past_their_age_and_nothing_else() {
    use strata_orchestration::retention;
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    // Event dates 2026-11-01 .. 2026-11-20.
    bronze(&lake, 2000, 20, 10, 9).await;
    let mut runner = Runner::new(
        lake.clone(),
        platform_jobs(&strata_testkit::project()),
        RunSettings::default(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    runner.pass().await.unwrap();
    let missions: TableName = "silver.missions".parse().unwrap();
    let days = |lake: &strata_pipelines::Lake| {
        let lake = lake.clone();
        let t = missions.clone();
        async move {
            let table = lake.open_existing(&t).await.unwrap();
            strata_pipelines::rows_by_partition(&table, "event_date").unwrap()
        }
    };
    let before = days(&lake).await;
    let sessions = dump(
        &lake,
        "SELECT * FROM silver.player_sessions ORDER BY session_id",
    )
    .await;
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let report = retention::apply(&lake, &missions, 14, today)
        .await
        .unwrap()
        .expect("days before 2026-11-11 to delete");
    assert_eq!(report.cutoff, "2026-11-11");
    assert_eq!(report.column, "event_date");
    let kept: std::collections::BTreeMap<String, u64> = before
        .iter()
        .filter(|(d, _)| d.as_str() >= "2026-11-11")
        .map(|(d, n)| (d.clone(), *n))
        .collect();
    let dropped: u64 = before.values().sum::<u64>() - kept.values().sum::<u64>();
    assert!(dropped > 0 && kept.len() < before.len(), "{before:?}");
    assert_eq!(days(&lake).await, kept, "only the days past their age left");
    assert_eq!(report.rows_deleted, Some(dropped));
    assert_eq!(
        dump(
            &lake,
            "SELECT * FROM silver.player_sessions ORDER BY session_id"
        )
        .await,
        sessions,
        "other tables are untouched"
    );
    // Nothing older is left: a second run changes nothing.
    let version = lake.open_existing(&missions).await.unwrap().version();
    assert_eq!(
        retention::apply(&lake, &missions, 14, today).await.unwrap(),
        None
    );
    assert_eq!(
        lake.open_existing(&missions).await.unwrap().version(),
        version
    );
    let audit = dump(
        &lake,
        "SELECT endpoint, action, objects FROM _strata.audit WHERE endpoint = 'retention'",
    )
    .await;
    assert!(audit.contains("silver.missions"), "{audit}");
    // Patterns: the most specific wins.
    let r = retention::Retention::new([
        ("*".to_string(), 730),
        ("silver.*".to_string(), 30),
        ("silver.missions".to_string(), 14),
    ])
    .unwrap();
    assert_eq!(r.days_for(&missions), Some(14));
    assert_eq!(r.days_for(&"silver.x".parse().unwrap()), Some(30));
    assert_eq!(r.days_for(&"_strata.audit".parse().unwrap()), Some(730));
    assert!(retention::Retention::new([("silver".to_string(), 3)]).is_err());
}

/// After retention deleted Bronze days and vacuum removed their files, a replay reads only
/// what Bronze still holds (the log still lists the deleted files' additions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_bronze_retention_and_vacuum_reads_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    bronze(&lake, 1500, 10, 6, 11).await;
    let events: TableName = "bronze.events".parse().unwrap();
    // Bronze is dated by ingestion (all today here): deleting the oldest offsets stands in
    // for retention, removing and rewriting files as it does.
    let table = lake.open_existing(&events).await.unwrap();
    let (_, _) = table
        .delete()
        .with_predicate("\"offset\" < 700")
        .await
        .unwrap();
    let settings = MaintainSettings {
        compact: false,
        vacuum_retention: Duration::ZERO,
        force: true,
        ..MaintainSettings::default()
    };
    let report = maintain_table(&lake, &events, &settings).await.unwrap();
    assert!(report.files_vacuumed > 0, "{report:?}");
    let mut runner = Runner::new(
        lake.clone(),
        platform_jobs(&strata_testkit::project()),
        RunSettings::default(),
        Arc::new(RunMetrics::default()),
    )
    .unwrap();
    runner.pass().await.unwrap();
    let missing = dump(
        &lake,
        "SELECT count(*) AS n FROM silver.missions WHERE bronze_offset < 700",
    )
    .await;
    assert!(missing.contains("| 0 "), "{missing}");
    let present = dump(&lake, "SELECT count(*) AS n FROM silver.missions").await;
    assert!(!present.contains("| 0 "), "{present}");
}

/// A replay in chunks cut short (its task aborted once a few chunks are committed) resumes
/// after its last committed chunk, not from the start, and ends with the rows of an
/// uninterrupted replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_cut_short_resumes_after_its_last_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path()).with_chunk_rows(Some(100));
    bronze(&lake, 1500, 2, 15, 17).await;
    let table = strata_testkit::project()
        .silver
        .iter()
        .find(|t| t.name == "missions")
        .unwrap()
        .clone();
    let job = Arc::new(strata_silver::SilverJob::new(table));
    let name: TableName = "silver.missions".parse().unwrap();
    let task = tokio::spawn({
        let (job, lake) = (job.clone(), lake.clone());
        async move { job.run(&lake).await }
    });
    // Three chunks committed (the table's creation is version 0), then the task dies.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let v = lake.open(&name).await.unwrap().and_then(|t| t.version());
        if v.is_some_and(|v| v >= 3) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline && !task.is_finished(),
            "no third chunk committed (version {v:?})"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    let resumed = job.run(&lake).await.unwrap();
    let cut_short = dump(&lake, "SELECT * FROM silver.missions ORDER BY event_id").await;

    lake.drop_table(&name).await.unwrap();
    let whole = job.run(&lake).await.unwrap();
    assert!(
        resumed.rows_in < whole.rows_in,
        "the resumed run read {} Bronze rows, a whole replay {}",
        resumed.rows_in,
        whole.rows_in
    );
    assert_eq!(
        cut_short,
        dump(&lake, "SELECT * FROM silver.missions ORDER BY event_id").await
    );
}
