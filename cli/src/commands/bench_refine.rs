//! `strata bench refine`: Bronze -> Silver -> Gold throughput, incremental and as a replay,
//! with DuckDB doing the same work (the whole refinement, and the Gold daily SQL alone).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strata_bronze::{BronzeWriter, RawRecord};
use strata_gold::GoldJob;
use strata_ingest::SimulateConfig;
use strata_ingest::simulate::Generator;
use strata_pipelines::Lake;
use strata_silver::SilverJob;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct RefineBenchArgs {
    /// Simulated events.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Events per Bronze commit.
    #[arg(long, default_value_t = 50_000)]
    batch: usize,
    /// Run the Silver jobs after this many events (the micro-batch of refinement).
    #[arg(long, default_value_t = 1_000_000)]
    silver_every: u64,
    /// Python with duckdb and deltalake for the comparison (skipped when absent).
    #[arg(long, env = "STRATA_BENCH_PYTHON")]
    python: Option<PathBuf>,
    /// Run the jobs without their expectations (run once with, once without, to measure the
    /// expectations' cost on the same data).
    #[arg(long)]
    without_expectations: bool,
    /// Keep the lake here instead of a temporary directory.
    #[arg(long)]
    keep: Option<PathBuf>,
}

pub async fn run(args: RefineBenchArgs, config: Config) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let lake = Lake::new(&dir.display().to_string())?;
    let inspector = super::inspector(&config).await?;
    let mut writer = BronzeWriter::open(&lake, inspector, "bench").await?;
    // Late and duplicate events spread the data over many days, as production data does.
    let sim = SimulateConfig {
        players: 20_000,
        agents: 200,
        duplicate_fraction: 0.02,
        late_fraction: 0.05,
        ..SimulateConfig::default()
    };
    let mut generator = Generator::new(sim, chrono::Utc::now() - chrono::Duration::days(30));
    let bar = ProgressBar::new(args.events);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} events {per_sec} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut bronze_t, mut silver_t) = (Duration::ZERO, Duration::ZERO);
    let mut produced = 0u64;
    let mut since_silver = 0u64;
    let strip = args.without_expectations;
    let project = super::project(&config)?;
    let silver_jobs: Vec<SilverJob> = project
        .silver
        .iter()
        .map(|t| {
            let job = SilverJob::new(t.clone());
            if strip {
                job.set_expectations(Vec::new())
            } else {
                job
            }
        })
        .collect();
    let gold_job = |t: &strata_gold::GoldModel| {
        let job = GoldJob::new(t.clone());
        if strip {
            job.set_expectations(Vec::new())
        } else {
            job
        }
    };
    while produced < args.events {
        let n = (args.events - produced).min(args.batch as u64);
        let records: Vec<RawRecord> = (0..n)
            .map(|i| {
                let r = generator.next_record();
                let offset = (produced + i) as i64;
                RawRecord {
                    topic: "bench".into(),
                    partition: 0,
                    offset,
                    timestamp_ms: None,
                    key: Some(r.key.into_bytes()),
                    headers: Vec::new(),
                    value: r.value,
                }
            })
            .collect();
        let t0 = Instant::now();
        writer.commit(&records).await?;
        bronze_t += t0.elapsed();
        produced += n;
        since_silver += n;
        bar.set_position(produced);
        if since_silver >= args.silver_every || produced == args.events {
            bar.set_message("silver");
            let t0 = Instant::now();
            for job in &silver_jobs {
                job.run(&lake).await?;
            }
            silver_t += t0.elapsed();
            since_silver = 0;
            bar.set_message("");
        }
    }
    bar.finish_and_clear();

    let gold_daily: Vec<GoldJob> = project
        .gold
        .iter()
        .filter(|t| t.lookback_days == 0)
        .map(gold_job)
        .collect();
    let t0 = Instant::now();
    let mut gold_rows = 0;
    for job in &gold_daily {
        gold_rows += job.run(&lake).await?.rows_out;
    }
    let gold_daily_t = t0.elapsed();
    let t0 = Instant::now();
    for t in project.gold.iter().filter(|t| t.lookback_days > 0) {
        gold_rows += gold_job(t).run(&lake).await?.rows_out;
    }
    let features_t = t0.elapsed();

    let silver_rows = super::sql::query(
        &Config {
            lake: crate::config::LakeConfig {
                uri: dir.display().to_string(),
                ..config.lake.clone()
            },
            ..config.clone()
        },
        "SELECT (SELECT count(*) FROM silver.agent_invocations) + (SELECT count(*) FROM silver.agent_feedback) \
         + (SELECT count(*) FROM silver.player_sessions) + (SELECT count(*) FROM silver.missions) \
         + (SELECT count(*) FROM silver.economy_transactions) AS n",
    )
    .await?;
    let silver_rows = silver_rows
        .first()
        .and_then(|b| {
            strata_pipelines::deltalake::arrow::array::cast::as_primitive_array::<
                strata_pipelines::deltalake::arrow::datatypes::Int64Type,
            >(b.column(0))
            .values()
            .first()
            .copied()
        })
        .unwrap_or(0);

    let rate = |n: f64, d: Duration| n / d.as_secs_f64().max(1e-9);
    println!(
        "events: {produced}, Silver rows: {silver_rows}, Gold rows: {gold_rows}, expectations: {}",
        if strip { "off" } else { "on" }
    );
    println!(
        "Bronze  (parse, validate, write): {:>10.0} rows/s  ({:.1} s)",
        rate(produced as f64, bronze_t),
        bronze_t.as_secs_f64()
    );
    println!(
        "Silver  (decode, dedup, merge):   {:>10.0} rows/s  ({:.1} s)",
        rate(produced as f64, silver_t),
        silver_t.as_secs_f64()
    );
    println!(
        "Gold daily (3 tables, all days):  {:>10.0} rows/s  ({:.2} s)",
        rate(silver_rows as f64, gold_daily_t),
        gold_daily_t.as_secs_f64()
    );
    println!(
        "Gold features (7/28-day windows):              ({:.2} s)",
        features_t.as_secs_f64()
    );
    let whole = super::bench_replay::compare(args.python.as_deref(), &config, &dir).await?;
    if let Some(rows) = whole["duckdb_rows"].as_object() {
        let sum = |layer: &str| -> u64 {
            rows.iter()
                .filter(|(t, _)| t.starts_with(layer))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        };
        let (s, g) = (sum("silver."), sum("gold."));
        println!(
            "rows: Silver {silver_rows} ours / {s} DuckDB, Gold {gold_rows} ours / {g} DuckDB{}",
            if s == silver_rows as u64 && g == gold_rows as u64 {
                ""
            } else {
                "  (DIFFER)"
            }
        );
    }
    let mut duck = serde_json::Value::Null;
    if let Some(python) = &args.python {
        let out = tokio::process::Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/bench_gold_duckdb.py"
            ))
            .arg(&dir)
            .output()
            .await
            .context("running the DuckDB comparison")?;
        if !out.status.success() {
            bail!(
                "DuckDB comparison failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        duck = serde_json::from_slice(&out.stdout).context("DuckDB comparison output")?;
        let secs = duck["seconds"].as_f64().unwrap_or(f64::NAN);
        println!(
            "DuckDB, same Gold daily SQL on the same Silver Parquet: {secs:.2} s -> ours / DuckDB = {:.2}x",
            gold_daily_t.as_secs_f64() / secs
        );
    } else {
        println!(
            "(pass --python PATH with duckdb and deltalake installed for the DuckDB comparison)"
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "events": produced, "silver_rows": silver_rows, "gold_rows": gold_rows,
            "expectations": !strip,
            "bronze_rows_per_s": rate(produced as f64, bronze_t),
            "silver_rows_per_s": rate(produced as f64, silver_t),
            "gold_daily_s": gold_daily_t.as_secs_f64(), "gold_features_s": features_t.as_secs_f64(),
            "duckdb": duck, "whole_refinement": whole,
        })
    );
    Ok(())
}
