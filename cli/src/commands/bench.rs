//! `strata bench ...`: throughput and memory figures, measured in one run.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rdkafka::consumer::{Consumer, StreamConsumer};
use strata_bronze::{BronzeWriter, RawRecord};
use strata_ingest::simulate::{self, Destination, Generator};
use strata_ingest::{KafkaConfig, SimulateConfig, admin};
use strata_pipelines::Lake;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Ingest: writer ceiling, end-to-end vs a consume-only baseline, peak RSS.
    Ingest(IngestBenchArgs),
    /// Refinement: simulated events through Bronze -> Silver -> Gold, rows/s per stage; then
    /// `strata replay` and DuckDB each doing the whole refinement from the same Bronze (wall,
    /// CPU-seconds, peak RSS), and the Gold daily SQL alone on the same Silver.
    Refine(super::bench_refine::RefineBenchArgs),
    /// Serving: online feature requests/s and latency, and a 1M-row training set.
    Serve(super::bench_serve::ServeBenchArgs),
    /// Freshness: event produced -> visible in every Gold table, with `strata run`'s loop.
    Freshness(super::bench_freshness::FreshnessBenchArgs),
    /// Schema registry: time per registration as the number of subjects grows.
    Registry(super::bench_registry::RegistryBenchArgs),
}

#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// Events for the in-memory writer ceiling (a).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events in the broker backlog for (b) and (c); needs --brokers.
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// Records per Bronze commit (the ingest default).
    #[arg(long, default_value_t = 50_000)]
    batch: usize,
    /// Skip the broker parts (b) and (c).
    #[arg(long)]
    no_broker: bool,
}

pub async fn run(cmd: BenchCommand, config: Config) -> Result<()> {
    match cmd {
        BenchCommand::Ingest(args) => ingest(args, config).await,
        BenchCommand::Refine(args) => super::bench_refine::run(args, config).await,
        BenchCommand::Serve(args) => super::bench_serve::run(args, config).await,
        BenchCommand::Freshness(args) => super::bench_freshness::run(args, config).await,
        BenchCommand::Registry(args) => super::bench_registry::run(args, config).await,
    }
}

fn records(n: u64, topic: &str) -> Vec<RawRecord> {
    let mut g = Generator::new(SimulateConfig::default(), chrono::Utc::now());
    (0..n)
        .map(|i| {
            let r = g.next_record();
            RawRecord {
                topic: topic.to_string(),
                partition: (i % 4) as i32,
                offset: (i / 4) as i64,
                timestamp_ms: Some(chrono::Utc::now().timestamp_millis()),
                key: Some(r.key.into_bytes()),
                headers: Vec::new(),
                value: r.value,
            }
        })
        .collect()
}

/// (a): parse + validate + Arrow + Parquet + Delta commit on one core.
fn writer_ceiling(
    events: u64,
    batch: usize,
    inspector: Arc<strata_quality::Inspector>,
) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let recs = records(events, "bench");
    let avg = recs
        .iter()
        .map(|r| r.value.as_ref().map_or(0, Vec::len))
        .sum::<usize>() as f64
        / recs.len().max(1) as f64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Where the time goes: JSON parsing alone, parsing + validation, + Arrow, then everything.
    let t0 = Instant::now();
    let parsed = recs
        .iter()
        .filter(|r| {
            r.value
                .as_deref()
                .is_some_and(|v| serde_json::from_slice::<serde_json::Value>(v).is_ok())
        })
        .count();
    let parse = t0.elapsed();
    let t0 = Instant::now();
    let valid = recs
        .iter()
        .filter(|r| inspector.inspect(r.value.as_deref()).is_valid())
        .count();
    let inspect = t0.elapsed();
    let t0 = Instant::now();
    let mut batches = Vec::new();
    for chunk in recs.chunks(batch) {
        batches.push(strata_bronze::build_batch(&inspector, chunk, 0)?);
    }
    let arrow = t0.elapsed();
    let t0 = Instant::now();
    for b in &batches {
        let mut w = strata_pipelines::deltalake::parquet::arrow::ArrowWriter::try_new(
            Vec::new(),
            b.schema(),
            None,
        )?;
        w.write(b)?;
        w.close()?;
    }
    let parquet = t0.elapsed();
    drop(batches);
    eprintln!(
        "    JSON parse alone: {:.0} events/s ({parsed} parsed); parse + validate: {:.0} events/s ({valid} valid); + Arrow batch: {:.0} events/s; Parquet encode alone: {:.0} events/s",
        events as f64 / parse.as_secs_f64(),
        events as f64 / inspect.as_secs_f64(),
        events as f64 / arrow.as_secs_f64(),
        events as f64 / parquet.as_secs_f64()
    );
    let elapsed = rt.block_on(async {
        let lake = Lake::new(&dir.path().display().to_string())?;
        let mut writer = BronzeWriter::open(&lake, inspector, "bench").await?;
        let t0 = Instant::now();
        for chunk in recs.chunks(batch) {
            writer.commit(chunk).await?;
        }
        anyhow::Ok(t0.elapsed())
    })?;
    Ok((events as f64 / elapsed.as_secs_f64(), avg))
}

/// Consume-only baseline: rdkafka reading every partition to its end, nothing else.
async fn consume_only(kafka: &KafkaConfig, topic: &str, expected: u64) -> Result<f64> {
    let consumer: StreamConsumer = kafka
        .client_config()?
        .set(
            "group.id",
            format!("bench-baseline-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    while n < expected {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .context("baseline consumer stalled for 30 s")??;
        bytes += rdkafka::Message::payload(&m).map_or(0, <[u8]>::len);
        n += 1;
    }
    let _ = bytes;
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

async fn ingest(args: IngestBenchArgs, config: Config) -> Result<()> {
    let inspector = super::inspector(&config).await?;
    eprintln!(
        "(a) writer ceiling: {} in-memory events -> bronze.events, one core ...",
        args.events
    );
    let (ceiling, avg) = tokio::task::spawn_blocking({
        let inspector = inspector.clone();
        move || writer_ceiling(args.events, args.batch, inspector)
    })
    .await??;
    println!(
        "(a) writer ceiling: {ceiling:.0} events/s (avg value {avg:.0} B, batch {})",
        args.batch
    );
    if args.no_broker {
        return Ok(());
    }

    let brokers = config.kafka.brokers.clone();
    let topic = format!("bench-{}", uuid::Uuid::new_v4().simple());
    admin::ensure_topics(&config.kafka, std::slice::from_ref(&topic), 4).await?;
    eprintln!(
        "producing a backlog of {} events to {topic} ...",
        args.backlog
    );
    let dest = Destination {
        kafka: config.kafka.clone(),
        agent_topic: topic.clone(),
        gameplay_topic: topic.clone(),
        registry_url: None,
    };
    let sim = SimulateConfig {
        count: Some(args.backlog),
        ..SimulateConfig::default()
    };
    tokio::task::spawn_blocking(move || {
        simulate::produce(&dest, &sim, &AtomicBool::new(false), &|_| {})
    })
    .await??;

    eprintln!("(b) consume-only baseline ...");
    let baseline = consume_only(&config.kafka, &topic, args.backlog).await?;

    let exe = std::env::current_exe()?;
    // What `strata ingest` runs as: the slim binary when it sits beside this one.
    let binary = match exe.with_file_name("strata-ingest").is_file() {
        true => "strata-ingest",
        false => "strata (no strata-ingest beside it)",
    };
    eprintln!("(b)+(c) strata ingest --until-caught-up in a child process, as {binary} ...");
    let lake = tempfile::tempdir()?;
    let t0 = Instant::now();
    let out = tokio::process::Command::new(exe)
        .args([
            "ingest",
            "--until-caught-up",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
        ])
        .args([
            "--group",
            &format!("bench-{}", uuid::Uuid::new_v4().simple()),
        ])
        .arg("--lake")
        .arg(lake.path())
        .arg("--batch-max-records")
        .arg(args.batch.to_string())
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .await?;
    let wall = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("ingest child failed: {}", out.status);
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("ingest child did not print its summary")?;
    let rows = summary["rows_written"].as_u64().unwrap_or(0);
    if rows != args.backlog {
        bail!("ingest wrote {rows} rows, expected {}", args.backlog);
    }
    let e2e = rows as f64 / wall;
    let rss_mib = summary["peak_rss_kib"].as_u64().unwrap_or(0) as f64 / 1024.0;
    println!(
        "(b) end-to-end: {e2e:.0} events/s vs consume-only {baseline:.0} events/s = {:.2}x",
        e2e / baseline
    );
    println!(
        "(c) peak RSS with a {} event backlog: {rss_mib:.0} MiB ({binary})",
        args.backlog
    );
    println!(
        "{}",
        serde_json::json!({"writer_ceiling_eps": ceiling, "end_to_end_eps": e2e,
            "consume_only_eps": baseline, "ratio": e2e / baseline, "peak_rss_mib": rss_mib,
            "ingest_binary": binary})
    );
    Ok(())
}
