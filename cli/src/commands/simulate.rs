use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strata_ingest::SimulateConfig;
use strata_ingest::admin;
use strata_ingest::simulate::{self, Destination};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Events to produce, then exit (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Events per second (default: as fast as the broker takes them).
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long)]
    players: Option<u32>,
    #[arg(long)]
    agents: Option<u32>,
    #[arg(long)]
    seed: Option<u64>,
    /// Fraction of events re-sent with the same event_id.
    #[arg(long)]
    duplicates: Option<f64>,
    /// Fraction of events with an event time hours in the past.
    #[arg(long)]
    late: Option<f64>,
    /// Fraction of invalid records of every kind.
    #[arg(long)]
    malformed: Option<f64>,
    /// Also produce oversize records of this many bytes among the malformed ones.
    #[arg(long)]
    oversize_bytes: Option<usize>,
    /// Partitions for topics that have to be created.
    #[arg(long)]
    partitions: Option<i32>,
    /// Start the event clock this many days ago (history to back-fill).
    #[arg(long)]
    backdate_days: Option<f64>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn merge(args: &SimulateArgs, base: &SimulateConfig) -> SimulateConfig {
    let mut c = base.clone();
    c.count = args.count.or(c.count);
    c.rate = args.rate.or(c.rate);
    c.players = args.players.unwrap_or(c.players);
    c.agents = args.agents.unwrap_or(c.agents);
    c.seed = args.seed.unwrap_or(c.seed);
    c.duplicate_fraction = args.duplicates.unwrap_or(c.duplicate_fraction);
    c.late_fraction = args.late.unwrap_or(c.late_fraction);
    c.malformed_fraction = args.malformed.unwrap_or(c.malformed_fraction);
    c.oversize_bytes = args.oversize_bytes.or(c.oversize_bytes);
    c.partitions = args.partitions.unwrap_or(c.partitions);
    c.backdate_days = args.backdate_days.unwrap_or(c.backdate_days);
    c
}

/// Agent events go to the first topic, gameplay events to the second (or the same one).
pub fn destination(config: &Config) -> Destination {
    let topics = &config.kafka.topics;
    let agent = topics
        .first()
        .cloned()
        .unwrap_or_else(|| "agent-events".into());
    let gameplay = topics.get(1).cloned().unwrap_or_else(|| agent.clone());
    Destination {
        kafka: config.kafka.clone(),
        agent_topic: agent,
        gameplay_topic: gameplay,
        registry_url: config.kafka.schema_registry_url.clone(),
    }
}

pub async fn run(args: SimulateArgs, config: Config) -> Result<()> {
    let sim = merge(&args, &config.simulate);
    sim.validate()?;
    config.kafka.validate()?;
    let dest = destination(&config);
    admin::ensure_topics(&dest.kafka, &config.kafka.topics, sim.partitions).await?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = match sim.count {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} events {per_sec} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stop_signal = stop.clone();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        stop_signal.store(true, Ordering::Relaxed);
    });
    let bar2 = bar.clone();
    let summary = tokio::task::spawn_blocking(move || {
        simulate::produce(&dest, &sim, &stop, &|n| bar2.set_position(n))
    })
    .await
    .context("simulator thread failed")??;
    bar.finish_and_clear();
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
