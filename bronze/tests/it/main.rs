//! Bronze writer guarantees, without Kafka: commits are exactly once per (topic, partition,
//! offset) whatever the interleaving of writers.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;

use strata_bronze::{BronzeWriter, PartitionKey, RawRecord};
use strata_pipelines::{Lake, SessionBuilder};
use strata_quality::{Inspector, SchemaValidator};

fn inspector() -> Arc<Inspector> {
    let catalog = strata_project::builtin().unwrap().schema_catalog();
    Arc::new(Inspector::new(
        SchemaValidator::new(&catalog).unwrap(),
        1 << 20,
    ))
}

fn records(topic: &str, partition: i32, offsets: std::ops::Range<i64>) -> Vec<RawRecord> {
    offsets
        .map(|o| RawRecord {
            topic: topic.into(),
            partition,
            offset: o,
            timestamp_ms: Some(1_700_000_000_000 + o),
            key: Some(b"k".to_vec()),
            headers: vec![("trace".into(), Some(b"abc".to_vec()))],
            value: Some(format!("{{\"n\": {o}}}").into_bytes()),
        })
        .collect()
}

async fn count(lake: &Lake, sql: &str) -> i64 {
    let ctx = SessionBuilder::new(lake.clone()).build().await.unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let col = batches[0].column(0);
    deltalake::arrow::array::cast::as_primitive_array::<deltalake::arrow::datatypes::Int64Type>(col)
        .value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_land_once_and_offsets_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(&dir.path().display().to_string()).unwrap();
    let mut w = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    let r1 = w.commit(&records("t", 0, 0..100)).await.unwrap();
    assert_eq!(r1.rows, 100);
    assert_eq!(r1.invalid, 100, "these values are not events");
    // A re-delivered overlap (e.g. after a crash before the Kafka commit).
    let r2 = w.commit(&records("t", 0, 50..150)).await.unwrap();
    assert_eq!((r2.rows, r2.already_committed), (50, 50));
    let r3 = w.commit(&records("t", 0, 0..150)).await.unwrap();
    assert_eq!((r3.rows, r3.version), (0, None));
    let key = PartitionKey::new("t", 0);
    assert_eq!(w.stored_offset(&key).await.unwrap(), Some(149));
    assert_eq!(
        count(&lake, "SELECT count(*) FROM bronze.events").await,
        150
    );
    assert_eq!(
        count(
            &lake,
            "SELECT count(DISTINCT \"offset\") FROM bronze.events"
        )
        .await,
        150
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_the_same_partition_never_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(&dir.path().display().to_string()).unwrap();
    // Both writers open the same table state, then race over the same records (as two
    // consumers do when a rebalance hands a partition over while the old owner still commits).
    let mut a = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    let mut b = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    let mut tasks = Vec::new();
    // Both start where Bronze says the partition ends, as consumers seeking to stored + 1 do.
    for round in 0..5i64 {
        let next = round * 120;
        let batch_a = records("t", 1, next..next + 120);
        let batch_b = records("t", 1, next..next + 80);
        let (ra, rb) = tokio::join!(a.commit(&batch_a), b.commit(&batch_b));
        tasks.push((ra.unwrap(), rb.unwrap()));
    }
    let total = count(&lake, "SELECT count(*) FROM bronze.events").await;
    let distinct = count(
        &lake,
        "SELECT count(DISTINCT \"offset\") FROM bronze.events",
    )
    .await;
    assert_eq!(total, distinct, "a record was committed twice");
    assert_eq!(total, 600);
    assert!(tasks.iter().all(|(ra, rb)| ra.rows + rb.rows == 120));
}

#[tokio::test]
async fn different_partitions_commit_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(&dir.path().display().to_string()).unwrap();
    let mut a = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    let mut b = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    let (p0, p1) = (records("t", 0, 0..10), records("t", 1, 0..10));
    let (ra, rb) = tokio::join!(a.commit(&p0), b.commit(&p1));
    assert_eq!(ra.unwrap().rows + rb.unwrap().rows, 20);
    assert_eq!(count(&lake, "SELECT count(*) FROM bronze.events").await, 20);
}

/// A prepared batch of several partitions is filtered per partition by what Bronze stores, and
/// committing it again (a retry after a lost answer) writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_batch_is_filtered_per_partition_and_retries_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(&dir.path().display().to_string()).unwrap();
    let mut w = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    w.commit(&records("t", 1, 0..30)).await.unwrap();
    let mut batch = records("t", 0, 0..20);
    batch.extend(records("t", 1, 20..40));
    let prepared = w.prepare(batch).unwrap();
    let first = w.commit_prepared(&prepared).await.unwrap();
    assert_eq!((first.rows, first.already_committed), (30, 10));
    assert_eq!(
        first.last_offsets,
        [
            (PartitionKey::new("t", 0), 19),
            (PartitionKey::new("t", 1), 39)
        ]
        .into()
    );
    let retry = w.commit_prepared(&prepared).await.unwrap();
    assert_eq!((retry.rows, retry.version), (0, None));
    assert_eq!(count(&lake, "SELECT count(*) FROM bronze.events").await, 60);
}

/// A batch's rows are grouped by event type, in Kafka order within a type, so that a reader of
/// some types skips the pages of the others; every row is still there.
#[test]
fn a_batch_groups_its_rows_by_event_type_in_kafka_order() {
    let types = ["b.t", "a.t", "b.t", "c.t", "a.t", "b.t"];
    let recs: Vec<RawRecord> = types
        .iter()
        .enumerate()
        .map(|(o, t)| RawRecord {
            value: Some(format!(r#"{{"event_type": "{t}"}}"#).into_bytes()),
            ..records("t", 0, o as i64..o as i64 + 1).remove(0)
        })
        .chain(records("t", 0, 6..7))
        .collect();
    let batch = strata_bronze::build_batch(&inspector(), recs.iter(), 0).unwrap();
    let column = |name: &str| batch.column_by_name(name).unwrap().clone();
    let types = column("event_type");
    let types = deltalake::arrow::array::cast::as_string_array(&types);
    let offsets = column("offset");
    let offsets = deltalake::arrow::array::cast::as_primitive_array::<
        deltalake::arrow::datatypes::Int64Type,
    >(&offsets);
    let rows: Vec<(Option<&str>, i64)> =
        types.iter().zip(offsets.values().iter().copied()).collect();
    assert_eq!(
        rows,
        [
            (Some("a.t"), 1),
            (Some("a.t"), 4),
            (Some("b.t"), 0),
            (Some("b.t"), 2),
            (Some("b.t"), 5),
            (Some("c.t"), 3),
            (None, 6),
        ]
    );
}
