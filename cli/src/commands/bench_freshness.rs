//! `strata bench freshness`: from event produced to visible in Gold, in continuous mode.
//!
//! One process produces timed batches to a one-partition topic, ingests, and runs the job
//! graph continuously (as `strata run` does). A separate observer follows each Gold table's
//! checkpoints down to the Bronze version they include, and the Bronze offsets stored at that
//! version: a batch is visible in Gold when every Gold table includes its last offset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use futures::future::BoxFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};
use strata_bronze::{PartitionKey, events_table, offset_app_id};
use strata_ingest::simulate::Generator;
use strata_ingest::{Ingestor, Metrics, SimulateConfig};
use strata_orchestration::{RunMetrics, Runner, platform_jobs};
use strata_pipelines::{JobSpec, Lake, TableName, txn_version};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct FreshnessBenchArgs {
    /// Measured seconds of producing.
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Events per second.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Ingest batch linger (ms).
    #[arg(long, default_value_t = 100)]
    batch_wait_ms: u64,
    /// Scheduler pass interval (ms).
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// Use the brokers from --brokers instead of the embedded one.
    #[arg(long)]
    external_broker: bool,
}

/// Follows each Gold table's checkpoints down to Bronze. Table versions never change, so what
/// a (table, version) includes is computed once; only the Gold tables' latest versions are
/// read on every look, incrementally.
#[derive(Default)]
struct Observer {
    latest: HashMap<TableName, strata_pipelines::deltalake::DeltaTable>,
    includes: HashMap<(TableName, u64), Option<u64>>,
    offsets: HashMap<u64, Option<i64>>,
}

impl Observer {
    /// The Bronze version `table@version` includes (min over its inputs).
    fn bronze_version<'a>(
        &'a mut self,
        lake: &'a Lake,
        specs: &'a [JobSpec],
        table: &'a TableName,
        version: u64,
    ) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            if *table == events_table() {
                return Ok(Some(version));
            }
            if let Some(known) = self.includes.get(&(table.clone(), version)) {
                return Ok(*known);
            }
            let Some(spec) = specs.iter().find(|s| &s.output == table) else {
                return Ok(None);
            };
            let t = lake.open_at(table, version).await?;
            let mut min: Option<u64> = None;
            for input in &spec.inputs {
                if input.layer == "bronze" && *input != events_table() {
                    // bronze.replayed: replays are not part of this measurement.
                    continue;
                }
                let Some(v) = spec.checkpoint(&t, input).await? else {
                    min = None;
                    break;
                };
                let Some(b) = self.bronze_version(lake, specs, input, v).await? else {
                    min = None;
                    break;
                };
                min = Some(min.map_or(b, |m| m.min(b)));
            }
            self.includes.insert((table.clone(), version), min);
            Ok(min)
        })
    }

    /// The last Bronze offset of the partition that every Gold table includes.
    async fn visible_offset(
        &mut self,
        lake: &Lake,
        specs: &[JobSpec],
        group: &str,
        key: &PartitionKey,
    ) -> Result<Option<i64>> {
        let mut min: Option<u64> = None;
        for s in specs.iter().filter(|s| s.output.layer == "gold") {
            let version = match self.latest.get_mut(&s.output) {
                Some(t) => {
                    t.update_incremental(None).await?;
                    t.version()
                }
                None => match lake.open(&s.output).await? {
                    Some(t) => {
                        let v = t.version();
                        self.latest.insert(s.output.clone(), t);
                        v
                    }
                    None => return Ok(None),
                },
            };
            let Some(v) = version else {
                return Ok(None);
            };
            let Some(b) = self.bronze_version(lake, specs, &s.output, v).await? else {
                return Ok(None);
            };
            min = Some(min.map_or(b, |m| m.min(b)));
        }
        let Some(b) = min else {
            return Ok(None);
        };
        if let Some(o) = self.offsets.get(&b) {
            return Ok(*o);
        }
        let bronze = lake.open_at(&events_table(), b).await?;
        let o = txn_version(&bronze, &events_table(), &offset_app_id(group, key))
            .await?
            .and_then(|o| i64::try_from(o).ok());
        self.offsets.insert(b, o);
        Ok(o)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(args: FreshnessBenchArgs, mut config: Config) -> Result<()> {
    let topic = format!("bench-fresh-{}", uuid::Uuid::new_v4().simple());
    let _embedded;
    if args.external_broker {
        strata_ingest::admin::ensure_topics(&config.kafka, std::slice::from_ref(&topic), 1).await?;
    } else {
        let b = strata_ingest::embedded::EmbeddedBroker::start(std::slice::from_ref(&topic), 1)?;
        config.kafka.brokers = b.bootstrap_servers();
        _embedded = b;
    }
    config.kafka.topics = vec![topic.clone()];
    config.kafka.group = format!("bench-fresh-{}", uuid::Uuid::new_v4().simple());
    config.ingest.batch.max_wait_ms = args.batch_wait_ms;
    let dir = tempfile::tempdir()?;
    let lake = Lake::new(dir.path().to_str().context("temp dir is not UTF-8")?)?;
    lake.ensure_root()?;

    let ingestor = Ingestor::new(
        lake.clone(),
        config.kafka.clone(),
        config.ingest.clone(),
        super::inspector(&config).await?,
        Arc::new(Metrics::default()),
    )?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ingest = {
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            ingestor
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
        })
    };
    let mut runner = Runner::new(
        lake.clone(),
        platform_jobs(&*super::project(&config)?),
        config.run.settings(),
        Arc::new(RunMetrics::default()),
    )?;
    let interval = Duration::from_millis(args.interval_ms);
    let scheduler = {
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let mut passes = 0u64;
            while !*rx.borrow() {
                if let Err(e) = runner.pass().await {
                    tracing::warn!(error = %e, "pass failed");
                }
                passes += 1;
                tokio::select! {
                    _ = rx.changed() => {}
                    _ = tokio::time::sleep(interval) => {}
                }
            }
            passes
        })
    };

    // Batches: (last offset, produced at, events).
    let batches: Arc<Mutex<Vec<(i64, Instant, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let producer: FutureProducer = config
        .kafka
        .client_config()?
        .set("linger.ms", "5")
        .create()?;
    let mut generator = Generator::new(SimulateConfig::default(), chrono::Utc::now());
    let tick = Duration::from_millis(50);
    let per_tick = (args.rate * 50 / 1000).max(1);
    eprintln!(
        "producing {} events/s for {} s to an embedded={} broker; ingest linger {} ms, pass interval {} ms",
        args.rate, args.duration_s, !args.external_broker, args.batch_wait_ms, args.interval_ms
    );
    let duration = Duration::from_secs(args.duration_s);
    let producing = {
        let batches = batches.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < duration {
                let t0 = Instant::now();
                let records: Vec<(String, Vec<u8>)> = (0..per_tick)
                    .map(|_| {
                        let r = generator.next_record();
                        (r.key, r.value.unwrap_or_default())
                    })
                    .collect();
                let sends = records.iter().map(|(k, v)| {
                    producer.send(
                        FutureRecord::to(&topic)
                            .key(k.as_str())
                            .payload(v.as_slice()),
                        Duration::from_secs(5),
                    )
                });
                let mut last = -1i64;
                for r in futures::future::join_all(sends).await {
                    match r {
                        Ok(delivery) => last = last.max(delivery.offset),
                        Err((e, _)) => anyhow::bail!("produce failed: {e}"),
                    }
                }
                if let Ok(mut b) = batches.lock() {
                    b.push((last, t0, per_tick));
                }
                tokio::time::sleep(tick.saturating_sub(t0.elapsed())).await;
            }
            Ok(())
        })
    };

    // Observe while producing, then until every batch is visible (at most 60 s more).
    let specs: Vec<JobSpec> = platform_jobs(&*super::project(&config)?)
        .iter()
        .map(|j| j.spec())
        .collect();
    let key = PartitionKey::new(topic.clone(), 0);
    let mut latencies: Vec<(f64, u64)> = Vec::new();
    let mut observer = Observer::default();
    let mut next = 0usize;
    let mut deadline = None;
    loop {
        let done = producing.is_finished();
        let all: Vec<(i64, Instant, u64)> = batches.lock().map(|b| b.clone()).unwrap_or_default();
        if done && next >= all.len() {
            break;
        }
        let deadline =
            *deadline.get_or_insert_with(|| Instant::now() + duration + Duration::from_secs(60));
        if Instant::now() > deadline {
            eprintln!("gave up: {} of {} batches visible", next, all.len());
            break;
        }
        if let Some(off) = observer
            .visible_offset(&lake, &specs, &config.kafka.group, &key)
            .await?
        {
            let now = Instant::now();
            while next < all.len() && all[next].0 <= off {
                latencies.push(((now - all[next].1).as_secs_f64(), all[next].2));
                next += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    producing.await??;
    let _ = stop_tx.send(true);
    let passes = scheduler.await.unwrap_or(0);
    let _ = ingest.await;
    let mut weighted: Vec<f64> = Vec::new();
    for (l, n) in &latencies {
        weighted.extend(std::iter::repeat_n(*l, usize::try_from(*n).unwrap_or(0)));
    }
    weighted.sort_by(f64::total_cmp);
    println!(
        "freshness (produced -> visible in every Gold table): p50 {:.3} s, p99 {:.3} s, max {:.3} s over {} events; {} scheduler passes",
        percentile(&weighted, 0.5),
        percentile(&weighted, 0.99),
        weighted.last().copied().unwrap_or(f64::NAN),
        weighted.len(),
        passes
    );
    Ok(())
}
