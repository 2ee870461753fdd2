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
    /// Events to simulate.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
}

/// `brokers_given`: --brokers, STRATA_BROKERS or the config file named a real cluster;
/// otherwise an embedded one is started.
pub async fn run(args: DemoArgs, mut config: Config, brokers_given: bool) -> Result<()> {
    let _embedded = if brokers_given {
        strata_ingest::admin::ensure_topics(&config.kafka.brokers, &config.kafka.topics, 4).await?;
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
    println!(
        "\nnext: strata sql --lake {} \"SELECT * FROM gold.player_features LIMIT 5\"",
        config.lake.uri
    );
    Ok(())
}
