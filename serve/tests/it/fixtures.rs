use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use deltalake::protocol::SaveMode;
use serde_json::Value;
use strata_pipelines::Lake;
use strata_serve::OnlineStore;
use strata_serve::http::{AppState, HttpSettings, router};
use strata_serve::metrics::ServeMetrics;
use strata_serve::training::TrainingSets;

pub const HOUR: i64 = 3_600_000_000;

/// The built-in project's feature views.
pub fn feature_views() -> Vec<strata_serve::FeatureView> {
    strata_project::builtin().unwrap().views.clone()
}

/// (player, feature_ts us, sessions_7d); the other features are derived from sessions_7d.
pub async fn write_player_features(lake: &Lake, rows: &[(&str, i64, i64)]) {
    write_features(lake, rows, None).await
}

/// Replace the rows matching `predicate` (a partition filter such as
/// `event_date = '2026-01-01'`) with `rows`, as a Gold day recompute does.
pub async fn rewrite_player_features(lake: &Lake, rows: &[(&str, i64, i64)], predicate: &str) {
    write_features(lake, rows, Some(predicate)).await
}

async fn write_features(lake: &Lake, rows: &[(&str, i64, i64)], replace: Option<&str>) {
    let view = feature_views()
        .into_iter()
        .find(|v| v.name == "player_features")
        .unwrap();
    let mut fields = vec![
        Field::new("event_date", DataType::Date32, false),
        Field::new("player_id", DataType::Utf8, true),
        Field::new(
            "feature_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| (r.1 / (24 * HOUR)) as i32),
        )),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                .with_timezone("UTC"),
        ),
    ];
    for (i, f) in view.features.iter().enumerate() {
        fields.push(Field::new(f.as_str(), DataType::Int64, true));
        columns.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.2 * 100 + i as i64),
        )));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let table = lake
        .ensure_table(
            &"gold.player_features".parse().unwrap(),
            schema,
            &["event_date"],
        )
        .await
        .unwrap();
    let write = table.write(vec![batch]);
    match replace {
        Some(p) => write
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(p.to_string()),
        None => write.with_save_mode(SaveMode::Append),
    }
    .await
    .unwrap();
}

pub fn lake(dir: &std::path::Path) -> Lake {
    let lake = Lake::new(dir.to_str().unwrap()).unwrap();
    lake.ensure_root().unwrap();
    lake
}

pub async fn serve(store: Arc<OnlineStore>, lake: &Lake, settings: HttpSettings) -> String {
    serve_project(store, lake, settings, strata_project::builtin().unwrap()).await
}

/// `serve` with another project (its roles and PII columns).
pub async fn serve_project(
    store: Arc<OnlineStore>,
    lake: &Lake,
    settings: HttpSettings,
    project: Arc<strata_project::Project>,
) -> String {
    let state = Arc::new(AppState {
        lake: lake.clone(),
        project,
        store,
        training: Arc::new(TrainingSets::new(lake.clone())),
        settings,
        metrics: Arc::new(ServeMetrics::default()),
        audit: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
    addr
}

/// Plain HTTP/1.0; returns status, content type and body.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, ctype, out[split + 4..].to_vec())
}

pub async fn post_json(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    v: &Value,
) -> (u16, Value) {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    let (st, _, body) = http(addr, "POST", path, &h, v.to_string().as_bytes()).await;
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}
