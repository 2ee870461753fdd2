use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use strata_ingest::{Ingestor, Metrics, metrics};
use tracing::info;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Exit once every assigned partition is written up to its end offset.
    #[arg(long)]
    until_caught_up: bool,
    /// Address for /metrics and /healthz (port 0: any free port).
    #[arg(long, env = "STRATA_METRICS_ADDR")]
    metrics_addr: Option<String>,
    /// Records per Delta commit.
    #[arg(long, env = "STRATA_BATCH_MAX_RECORDS")]
    batch_max_records: Option<usize>,
    /// Longest a record waits before its batch is committed (ms).
    #[arg(long, env = "STRATA_BATCH_MAX_WAIT_MS")]
    batch_max_wait_ms: Option<u64>,
    /// Values larger than this are kept as invalid `oversize` rows.
    #[arg(long, env = "STRATA_MAX_VALUE_BYTES")]
    max_value_bytes: Option<usize>,
    /// A group new to partitions Bronze already holds: refuse, bronze, beginning or latest.
    #[arg(long, env = "STRATA_START_FROM")]
    start_from: Option<strata_ingest::StartFrom>,
}

pub async fn run(args: IngestArgs, mut config: Config) -> Result<()> {
    if let Some(a) = args.metrics_addr {
        config.ingest.metrics_addr = a;
    }
    if let Some(n) = args.batch_max_records {
        config.ingest.batch.max_records = n;
    }
    if let Some(n) = args.batch_max_wait_ms {
        config.ingest.batch.max_wait_ms = n;
    }
    if let Some(n) = args.max_value_bytes {
        config.ingest.max_value_bytes = n;
    }
    if let Some(s) = args.start_from {
        config.ingest.start_from = s;
    }
    let lake = super::lake(&config)?;
    let metrics = Arc::new(Metrics::default());
    let (inspector, following) = super::following_inspector(&config).await?;
    let ingestor = Ingestor::new(
        lake,
        config.kafka.clone(),
        config.ingest.clone(),
        inspector,
        metrics.clone(),
    )?
    .until_caught_up(args.until_caught_up);
    let addr = metrics::serve(
        metrics,
        &config.ingest.metrics_addr,
        config.serve.http_limits(),
    )
    .await?;
    info!(%addr, "metrics on http://{addr}/metrics");
    let summary = ingestor.run(super::shutdown_signal()).await?;
    drop(following);
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
