use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, TimestampMicrosecondArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::protocol::SaveMode;
use serde_json::Value;
use strata_serve::OnlineStore;
use strata_serve::http::HttpSettings;

use crate::fixtures::*;

/// Append `n` records to a Bronze-shaped table, each ingested `lag_ms` after its Kafka time.
async fn append(lake: &strata_pipelines::Lake, n: i64, lag_ms: i64) {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("offset", DataType::Int64, false),
        Field::new("kafka_timestamp", ts(), true),
        Field::new("ingested_at", ts(), true),
    ]));
    let now = chrono::Utc::now().timestamp_micros();
    let kafka: Vec<i64> = (0..n).map(|i| now - lag_ms * 1000 - i).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..n)),
        Arc::new(TimestampMicrosecondArray::from(kafka).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from(vec![now; n as usize]).with_timezone("UTC")),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let table = lake
        .ensure_table(&"bronze.events".parse().unwrap(), schema, &[])
        .await
        .unwrap();
    table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();
}

/// The ingest chart comes from bronze.events' commit log (row counts and the newest record's
/// lag from file statistics), so it covers every commit without reading a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_chart_comes_from_the_commit_log() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let store = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    let addr = serve(store, &lake, HttpSettings::default()).await;
    let chart = || async {
        let (st, _, body) = http(&addr, "GET", "/api/ingest", &[], b"").await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    assert_eq!(chart().await, serde_json::json!([]), "no Bronze yet");
    append(&lake, 300, 1500).await;
    append(&lake, 200, 250).await;
    let first = chart().await;
    let points = first.as_array().unwrap();
    let events: u64 = points.iter().map(|p| p["events"].as_u64().unwrap()).sum();
    assert_eq!(events, 500, "{first}");
    let lags: Vec<f64> = points.iter().filter_map(|p| p["lag_s"].as_f64()).collect();
    assert!(
        lags.iter().any(|l| (*l - 1.5).abs() < 0.01),
        "the newest record's lag per second (max of both commits when they share one): {first}"
    );
    // A later poll adds the new commit to what it read before.
    append(&lake, 7, 0).await;
    let second = chart().await;
    let events: u64 = second
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["events"].as_u64().unwrap())
        .sum();
    assert_eq!(events, 507, "{second}");
    assert!(
        second
            .as_array()
            .unwrap()
            .windows(2)
            .all(|w| w[0]["t"].as_i64() < w[1]["t"].as_i64())
    );
}
