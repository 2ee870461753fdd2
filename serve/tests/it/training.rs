use std::collections::HashMap;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use serde_json::{Value, json};
use strata_serve::OnlineStore;
use strata_serve::http::HttpSettings;
use strata_serve::training::{TrainingSets, rows_from_json};

use crate::fixtures::*;

const DAY: i64 = 24 * HOUR;

/// Tiny deterministic generator (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Bytes of every Parquet file under `dir`.
fn parquet_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| match e.file_type().unwrap().is_dir() {
            true => parquet_bytes(&e.path()),
            false if e.path().extension().is_some_and(|x| x == "parquet") => {
                e.metadata().unwrap().len()
            }
            false => 0,
        })
        .sum()
}

fn rfc(us: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_sets_match_a_brute_force_as_of_join() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let base = 1_790_000_000_000_000i64; // 2026-09
    let mut rng = Lcg(7);
    // 40 players, each with rows at distinct days over 20 days.
    let mut features: Vec<(String, i64, i64)> = Vec::new();
    for p in 0..40 {
        let mut days: Vec<i64> = (0..20).filter(|_| rng.next(3) == 0).collect();
        days.dedup();
        for d in days {
            features.push((format!("p-{p}"), base + d * DAY, p * 1000 + d));
        }
    }
    let refs: Vec<(&str, i64, i64)> = features
        .iter()
        .map(|(p, t, v)| (p.as_str(), *t, *v))
        .collect();
    write_player_features(&lake, &refs).await;

    // Entity rows: random players (some unknown), random times; some exactly at a feature
    // timestamp (a tie: that row is already known), some duplicated.
    let mut rows: Vec<(String, i64)> = Vec::new();
    for i in 0..3000 {
        let p = format!("p-{}", rng.next(45));
        let t = if i % 7 == 0 {
            features[rng.next(features.len() as u64) as usize].1
        } else {
            base + rng.next(25 * 24) as i64 * HOUR + rng.next(3600) as i64 * 1_000_000
        };
        rows.push((p, t));
    }
    rows.push(rows[0].clone());
    let ttl = 2 * DAY;
    let expect: Vec<Option<i64>> = rows
        .iter()
        .map(|(p, t)| {
            features
                .iter()
                .filter(|(fp, ft, _)| fp == p && ft <= t && t - ft <= ttl)
                .max_by_key(|(_, ft, _)| *ft)
                .map(|(_, _, v)| v * 100)
        })
        .collect();
    assert!(expect.iter().any(Option::is_none) && expect.iter().any(Option::is_some));

    let json_rows: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (p, t))| json!({"player_id": p, "event_timestamp": rfc(*t), "label": i}))
        .collect();
    let batch = rows_from_json(&json_rows).unwrap();
    let sets = TrainingSets::new(lake.clone());
    let out = sets
        .build(
            &feature_views(),
            &["player_features:sessions_7d".into()],
            &batch,
            "event_timestamp",
            false,
        )
        .await
        .unwrap();
    let got = |b: &RecordBatch| -> Vec<Option<i64>> {
        let c = b
            .column_by_name("sessions_7d")
            .unwrap()
            .as_primitive::<Int64Type>();
        (0..c.len())
            .map(|i| c.is_valid(i).then(|| c.value(i)))
            .collect()
    };
    assert_eq!(out.num_rows(), rows.len(), "no entity row dropped");
    assert_eq!(got(&out), expect);
    // Entity rows keep their own columns and order.
    let labels = out
        .column_by_name("label")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(labels.value(5), 5);

    // A request for two players at one moment reads only the files of the days within its
    // TTL (one file per day, 2-3 of 20), not the view's history.
    let total = parquet_bytes(&dir.path().join("gold/player_features"));
    let at = features
        .iter()
        .find(|(p, t, _)| p == "p-3" && *t >= base + 3 * DAY)
        .map(|f| f.1 + 6 * HOUR)
        .unwrap();
    let few: Vec<Value> = ["p-3", "p-17"]
        .iter()
        .map(|p| json!({"player_id": p, "event_timestamp": rfc(at)}))
        .collect();
    let before = sets.bytes_read();
    let out = sets
        .build(
            &feature_views(),
            &["player_features:sessions_7d".into()],
            &rows_from_json(&few).unwrap(),
            "event_timestamp",
            false,
        )
        .await
        .unwrap();
    let read = sets.bytes_read() - before;
    assert!(
        read > 0 && read * 5 < total,
        "read {read} bytes of the view's {total} for 2 players over 2 days"
    );
    let want: Vec<Option<i64>> = ["p-3", "p-17"]
        .iter()
        .map(|p| {
            features
                .iter()
                .filter(|(fp, ft, _)| fp == p && *ft <= at && at - ft <= ttl)
                .max_by_key(|(_, ft, _)| *ft)
                .map(|(_, _, v)| v * 100)
        })
        .collect();
    assert!(want[0].is_some());
    assert_eq!(got(&out), want);

    // Over HTTP: JSON in, Arrow IPC / Parquet / JSON out, all the same rows.
    let store = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    let addr = serve(store, &lake, HttpSettings::default()).await;
    let req = json!({"features": ["player_features:sessions_7d"], "entity_rows": json_rows, "format": "arrow"});
    let (st, ctype, body) = http(
        &addr,
        "POST",
        "/training-set",
        &[("Content-Type", "application/json")],
        req.to_string().as_bytes(),
    )
    .await;
    assert_eq!(
        (st, ctype.as_str()),
        (200, "application/vnd.apache.arrow.stream")
    );
    let reader =
        deltalake::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
            .unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(got(&batches[0]), expect);

    let mut req2 = req.clone();
    req2["format"] = json!("json");
    let (st, _, body) = http(
        &addr,
        "POST",
        "/training-set",
        &[("Content-Type", "application/json")],
        req2.to_string().as_bytes(),
    )
    .await;
    let v: Vec<HashMap<String, Value>> = serde_json::from_slice(&body).unwrap();
    assert_eq!(st, 200);
    let from_json: Vec<Option<i64>> = v
        .iter()
        .map(|r| r.get("sessions_7d").and_then(Value::as_i64))
        .collect();
    assert_eq!(from_json, expect);

    // CSV in, Parquet out.
    let mut csv = String::from("player_id,event_timestamp\n");
    for (p, t) in &rows {
        csv.push_str(&format!("{p},{}\n", rfc(*t)));
    }
    let (st, ctype, body) = http(
        &addr,
        "POST",
        "/training-set?features=player_features:sessions_7d&format=parquet",
        &[("Content-Type", "text/csv")],
        csv.as_bytes(),
    )
    .await;
    assert_eq!(
        (st, ctype.as_str()),
        (200, "application/vnd.apache.parquet"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let reader = deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        axum::body::Bytes::from(body),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let all = deltalake::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(got(&all), expect);

    // Bad requests.
    for (body, needle) in [
        (
            json!({"features": ["player_features:sessions_7d"], "entity_rows": [{"player_id": "p-1"}]}),
            "no 'event_timestamp' column",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entity_rows": [{"event_timestamp": "2026-01-01T00:00:00Z"}]}),
            "no 'player_id' column",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entity_rows": []}),
            "no rows",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entity_rows": [{"player_id": "p", "event_timestamp": "2026-01-01T00:00:00Z"}], "format": "xml"}),
            "unknown format",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entity_rows": [
                {"player_id": "p", "event_timestamp": "2026-01-01T00:00:00Z"},
                {"player_id": "p", "event_timestamp": "yesterday"}]}),
            "entity row 1: event_timestamp 'yesterday' is not a timestamp",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entity_rows": [
                {"player_id": "p", "event_timestamp": "2026-01-01T00:00:00Z"},
                {"player_id": "p"}]}),
            "entity row 1 has no 'event_timestamp'",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entity_rows": [
                {"player_id": null, "event_timestamp": "2026-01-01T00:00:00Z"}]}),
            "entity row 0 has no 'player_id'",
        ),
    ] {
        let (st, r) = post_json(&addr, "/training-set", &[], &body).await;
        assert_eq!(st, 400, "{body}: {r}");
        assert!(r["error"].as_str().unwrap().contains(needle), "{body}: {r}");
    }
    let (st, _, _) = http(
        &addr,
        "POST",
        "/training-set",
        &[("Content-Type", "text/plain")],
        b"x",
    )
    .await;
    assert_eq!(st, 400);
}
