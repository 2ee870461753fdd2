//! `strata bench serve`: online feature requests per second and latency at 16 concurrent
//! keep-alive connections on loopback (client in the same process), and a 1M-row training set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use strata_pipelines::Lake;
use strata_pipelines::deltalake::arrow::array::{
    ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use strata_pipelines::deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use strata_pipelines::deltalake::protocol::SaveMode;
use strata_serve::OnlineStore;
use strata_serve::http::{AppState, HttpSettings, router};
use strata_serve::metrics::ServeMetrics;
use strata_serve::training::TrainingSets;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ServeBenchArgs {
    /// Players in gold.player_features.
    #[arg(long, default_value_t = 100_000)]
    players: usize,
    /// Days of feature history per player (training-set lookups search these).
    #[arg(long, default_value_t = 10)]
    days: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds per online scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Entity rows in the training-set request.
    #[arg(long, default_value_t = 1_000_000)]
    training_rows: usize,
}

const HOUR: i64 = 3_600_000_000;

/// A player_features table: `players` x `days` rows, the last day an hour old.
async fn features(lake: &Lake, players: usize, days: usize) -> Result<()> {
    let view = strata_project::builtin()?
        .views
        .iter()
        .find(|v| v.name == "player_features")
        .cloned()
        .context("no player_features view")?;
    let now = chrono::Utc::now().timestamp_micros() - HOUR;
    let n = players * days;
    let ts = |i: usize| now - ((days - 1 - i % days) as i64) * 24 * HOUR;
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
            (0..n).map(|i| (ts(i) / (24 * HOUR)) as i32),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("player-{:06}", i / days)),
        )),
        Arc::new(TimestampMicrosecondArray::from_iter_values((0..n).map(ts)).with_timezone("UTC")),
    ];
    for (k, f) in view.features.iter().enumerate() {
        fields.push(Field::new(f.as_str(), DataType::Int64, true));
        columns.push(Arc::new(Int64Array::from_iter_values(
            (0..n).map(|i| (i * 7 + k) as i64 % 1000),
        )));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let table = lake
        .ensure_table(&view.table_name(), schema, &["event_date"])
        .await?;
    table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .await?;
    Ok(())
}

/// One keep-alive HTTP/1.1 request; returns the body length.
async fn request(
    stream: &mut tokio::net::TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> Result<usize> {
    stream.write_all(req).await?;
    buf.clear();
    let mut chunk = [0u8; 16384];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            if !head.starts_with("HTTP/1.1 200") {
                bail!("unexpected response: {}", head.lines().next().unwrap_or(""));
            }
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    bail!("connection closed mid-body");
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(len);
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

async fn scenario(
    addr: &str,
    args: &ServeBenchArgs,
    entities: usize,
) -> Result<(f64, f64, f64, usize)> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let addr = addr.to_string();
        let players = args.players;
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut k = c * 7919;
            while Instant::now() < deadline {
                let ids: Vec<String> = (0..entities)
                    .map(|j| format!("\"player-{:06}\"", (k + j * 104_729) % players))
                    .collect();
                k += 1;
                let body = format!(
                    "{{\"features\":[\"player_features:sessions_7d\",\"player_features:playtime_s_7d\",\"player_features:credits_earned_28d\"],\"entities\":{{\"player_id\":[{}]}}}}",
                    ids.join(",")
                );
                let req = format!(
                    "POST /get-online-features HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let t0 = Instant::now();
                request(&mut stream, req.as_bytes(), &mut buf).await?;
                latencies.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            anyhow::Ok(latencies)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    all.sort_unstable();
    Ok((
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.len(),
    ))
}

pub async fn run(args: ServeBenchArgs, _config: Config) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::new(dir.path().to_str().context("temp dir is not UTF-8")?)?;
    lake.ensure_root()?;
    eprintln!(
        "writing {} players x {} days of features",
        args.players, args.days
    );
    features(&lake, args.players, args.days).await?;
    let project = strata_project::builtin()?;
    let store = OnlineStore::memory(lake.clone(), project.views.clone()).await?;
    let state = Arc::new(AppState {
        lake: lake.clone(),
        project,
        store,
        training: Arc::new(TrainingSets::new(lake.clone())),
        settings: HttpSettings {
            max_training_rows: args.training_rows.max(1),
            max_body_bytes: 1 << 30,
            ..HttpSettings::default()
        },
        metrics: Arc::new(ServeMetrics::default()),
        audit: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let mut report = serde_json::Map::new();
    for entities in [1usize, 100] {
        let (rps, p50, p99, n) = scenario(&addr, &args, entities).await?;
        println!(
            "online, {entities:>3} entit{} per request, {} connections: {rps:>9.0} req/s  p50 {p50:.3} ms  p99 {p99:.3} ms  ({n} requests)",
            if entities == 1 { "y " } else { "ies" },
            args.connections
        );
        report.insert(
            format!("online_{entities}"),
            serde_json::json!({"req_per_s": rps, "p50_ms": p50, "p99_ms": p99, "requests": n}),
        );
    }

    // Training set: a Parquet body of entity rows, Arrow IPC back.
    let now = chrono::Utc::now().timestamp_micros();
    let rows = args.training_rows;
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("player_id", DataType::Utf8, false),
            Field::new(
                "event_timestamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values((0..rows).map(|i| {
                format!(
                    "player-{:06}",
                    (i * 7919) % (args.players + args.players / 10)
                )
            }))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    (0..rows).map(|i| now - ((i % (24 * args.days)) as i64) * HOUR),
                )
                .with_timezone("UTC"),
            ),
        ],
    )?;
    let mut body = Vec::new();
    {
        let mut w = strata_pipelines::deltalake::parquet::arrow::ArrowWriter::try_new(
            &mut body,
            batch.schema(),
            None,
        )?;
        w.write(&batch)?;
        w.close()?;
    }
    let mut stream = tokio::net::TcpStream::connect(&addr).await?;
    let features = "player_features:sessions_7d,player_features:playtime_s_7d,player_features:credits_earned_28d,player_features:active_days_28d";
    let mut req = format!(
        "POST /training-set?features={features}&format=arrow HTTP/1.1\r\nHost: bench\r\nContent-Type: application/vnd.apache.parquet\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut buf = Vec::new();
    // The first request also loads the view's history; both are reported.
    let t0 = Instant::now();
    let len = request(&mut stream, &req, &mut buf).await?;
    let cold = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    request(&mut stream, &req, &mut buf).await?;
    let warm = t0.elapsed().as_secs_f64();
    println!(
        "training set: {rows} entity rows x 4 features over {} feature rows: {warm:.2} s (first request, loading the history: {cold:.2} s), {} MiB of Arrow IPC",
        args.players * args.days,
        len / (1024 * 1024)
    );
    report.insert(
        "training_set".into(),
        serde_json::json!({"rows": rows, "seconds": warm, "first_request_seconds": cold, "bytes": len}),
    );
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}
