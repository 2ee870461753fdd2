use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use strata_orchestration::maintain::{MaintainSettings, maintain_table};
use strata_orchestration::{RunMetrics, RunSettings, Runner, platform_jobs};
use strata_pipelines::TableName;
use strata_pipelines::files_and_rows;
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
}
