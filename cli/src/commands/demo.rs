use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::Args;
use strata_ingest::embedded::EmbeddedBroker;
use strata_ingest::simulate;
use strata_ingest::{Ingestor, Metrics};

use super::sql::{OutputFormat, print, query};
use crate::config::Config;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Events simulated before the first summary.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Then keep producing this many events per second, ingesting and refining continuously.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Stop after this many seconds of the live phase (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Feature service address (a free port if taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// SQL endpoint (Postgres protocol) address (a free port if taken).
    #[arg(long, default_value = "127.0.0.1:5433")]
    pg: String,
}

/// `addr`, or the same host with any free port when it is taken.
fn available(addr: &str) -> String {
    if std::net::TcpListener::bind(addr).is_ok() {
        return addr.to_string();
    }
    let host = addr.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    format!("{host}:0")
}

/// `brokers_given`: --brokers, STRATA_BROKERS or the config file named a real cluster;
/// otherwise an embedded one is started.
pub async fn run(args: DemoArgs, mut config: Config, brokers_given: bool) -> Result<()> {
    let _embedded = if brokers_given {
        strata_ingest::admin::ensure_topics(&config.kafka, &config.kafka.topics, 4).await?;
        None
    } else {
        let broker = EmbeddedBroker::start(&config.kafka.topics, 4)?;
        config.kafka.brokers = broker.bootstrap_servers();
        eprintln!(
            "embedded Kafka (librdkafka mock cluster) at {}",
            config.kafka.brokers
        );
        Some(broker)
    };
    let sim = strata_ingest::SimulateConfig {
        count: Some(args.count),
        duplicate_fraction: 0.02,
        late_fraction: 0.02,
        malformed_fraction: 0.01,
        // Yesterday's history, so complete days (and so online features) exist at once.
        backdate_days: 1.0,
        ..config.simulate.clone()
    };
    let dest = super::simulate::destination(&config);
    eprintln!("simulating {} events ...", args.count);
    let produced = tokio::task::spawn_blocking(move || {
        simulate::produce(&dest, &sim, &AtomicBool::new(false), &|_| {})
    })
    .await
    .context("simulator thread failed")??;

    eprintln!("ingesting into {} ...", config.lake.uri);
    let ingest = Ingestor::new(
        super::lake(&config)?,
        config.kafka.clone(),
        config.ingest.clone(),
        super::inspector(&config).await?,
        Arc::new(Metrics::default()),
    )?
    .until_caught_up(true);
    let summary = ingest.run(super::shutdown_signal()).await?;

    println!(
        "produced {} events ({} expected valid, {} invalid); ingested {} rows in {} commits",
        produced.produced,
        produced.expected_valid,
        produced.expected_invalid,
        summary.rows_written,
        summary.commits
    );
    println!("\nrows per event type:");
    let by_type = query(
        &config,
        "SELECT coalesce(event_type, '(unparsed)') AS event_type, \
         sum(CASE WHEN valid THEN 1 ELSE 0 END) AS valid, \
         sum(CASE WHEN valid THEN 0 ELSE 1 END) AS invalid \
         FROM bronze.events GROUP BY 1 ORDER BY 1",
    )
    .await?;
    print(&by_type, OutputFormat::Table)?;
    println!("\noffsets per partition:");
    let offsets = query(
        &config,
        "SELECT topic, \"partition\", min(\"offset\") AS first_offset, max(\"offset\") AS last_offset, count(*) AS records \
         FROM bronze.events GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .await?;
    print(&offsets, OutputFormat::Table)?;
    println!("\nrefining Bronze into Silver and Gold:");
    let lake = super::lake(&config)?;
    super::run::print(&super::run::pass(&lake, &config).await?);
    println!("\ngold.agent_daily (top agents by invocations):");
    let agents = query(
        &config,
        "SELECT event_date, agent_id, invocations, round(success_rate, 3) AS success_rate, \
         latency_p50_ms, latency_p95_ms, cost_usd, avg_rating FROM gold.agent_daily \
         ORDER BY invocations DESC, agent_id LIMIT 5",
    )
    .await?;
    print(&agents, OutputFormat::Table)?;
    println!("\ngold.economy_daily:");
    let economy = query(
        &config,
        "SELECT * FROM gold.economy_daily ORDER BY event_date, currency",
    )
    .await?;
    print(&economy, OutputFormat::Table)?;

    // Live: keep producing, ingesting and refining; serve features and SQL meanwhile.
    config.serve.http_addr = available(&args.http);
    config.serve.pg_addr = available(&args.pg);
    let running =
        super::serve::start(lake.clone(), super::project(&config)?, &config.serve).await?;
    let http = running.http;
    let player = query(
        &config,
        "SELECT min(player_id) AS p FROM gold.player_features",
    )
    .await?
    .first()
    .and_then(|b| {
        let c = strata_pipelines::deltalake::arrow::compute::cast(
            b.column(0),
            &strata_pipelines::deltalake::arrow::datatypes::DataType::Utf8,
        )
        .ok()?;
        let c = strata_pipelines::deltalake::arrow::array::AsArray::as_string::<i32>(&c);
        strata_pipelines::deltalake::arrow::array::Array::is_valid(c, 0)
            .then(|| c.value(0).to_string())
    })
    .unwrap_or_else(|| "player-000001".into());
    println!("\nthe platform is running (Ctrl-C stops it):");
    println!("  features: http://{http}  (OpenAPI: http://{http}/openapi.json)");
    println!(
        "  curl -s http://{http}/get-online-features -d '{{\"features\": [\"player_features:sessions_7d\", \"player_features:credits_earned_28d\"], \"entities\": {{\"player_id\": [\"{player}\"]}}}}'"
    );
    if let Some((host, port)) = &running.pg {
        println!(
            "  psql -h {host} -p {port} -c \"SELECT event_date, agent_id, invocations, latency_p95_ms FROM gold.agent_daily ORDER BY invocations DESC LIMIT 5\""
        );
    }
    println!(
        "  strata sql --lake {} \"SELECT * FROM gold.player_features LIMIT 5\"",
        config.lake.uri
    );

    let stop = Arc::new(AtomicBool::new(false));
    let live_sim = strata_ingest::SimulateConfig {
        count: None,
        rate: Some(args.rate.max(1.0)),
        seed: config.simulate.seed + 1,
        duplicate_fraction: 0.02,
        late_fraction: 0.02,
        malformed_fraction: 0.01,
        // Yesterday's history, so complete days (and so online features) exist at once.
        backdate_days: 1.0,
        ..config.simulate.clone()
    };
    let dest = super::simulate::destination(&config);
    let producing = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || simulate::produce(&dest, &live_sim, &stop, &|_| {}))
    };
    let ingest_metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (inspector, _following) = super::following_inspector(&config).await?;
    let ingesting = {
        let ingestor = Ingestor::new(
            lake.clone(),
            config.kafka.clone(),
            config.ingest.clone(),
            inspector,
            ingest_metrics.clone(),
        )?;
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            ingestor
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
        })
    };
    let run_metrics = Arc::new(strata_orchestration::RunMetrics::default());
    let mut runner = super::run::runner(&lake, &config, run_metrics)?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let deadline = args
        .duration
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    let shutdown = super::shutdown_signal();
    tokio::pin!(shutdown);
    let (mut passes, mut job_runs, mut failed) = (0u64, 0usize, 0usize);
    loop {
        let report = runner.pass().await?;
        passes += 1;
        job_runs += report.runs.len();
        failed += report.failed().len();
        let rows = ingest_metrics.rows_valid.get() + ingest_metrics.rows_invalid.get();
        bar.set_message(format!(
            "{rows} live events in Bronze, {passes} passes, {job_runs} job runs, {failed} failed; features on http://{http}"
        ));
        bar.tick();
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
    }
    bar.finish_and_clear();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let live = producing.await.context("simulator thread failed")??;
    let ingested = ingesting.await.context("ingest task failed")??;
    println!(
        "stopped: {} live events produced, {} rows ingested, {passes} passes, {job_runs} job runs, {failed} failed",
        live.produced, ingested.rows_written
    );
    Ok(())
}
