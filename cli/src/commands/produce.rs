//! `strata produce`: publish a file of events (one JSON document per line) to a topic.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use strata_ingest::admin;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Newline-delimited JSON events; `-` reads standard input.
    file: PathBuf,
    /// Topic (default: the first of `kafka.topics`).
    #[arg(long = "to")]
    to: Option<String>,
    /// Key each record by this top-level field of the event (e.g. `vehicle_id`), so one
    /// entity's events keep their order in one partition.
    #[arg(long)]
    key: Option<String>,
    /// Partitions if the topic has to be created.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
}

pub async fn run(args: ProduceArgs, config: Config) -> Result<()> {
    config.kafka.validate()?;
    let topic = match args.to.or_else(|| config.kafka.topics.first().cloned()) {
        Some(t) => t,
        None => anyhow::bail!("no topic: give --to or set kafka.topics"),
    };
    admin::ensure_topics(&config.kafka, std::slice::from_ref(&topic), args.partitions).await?;
    let input: Box<dyn BufRead + Send> = if args.file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let kafka = config.kafka.clone();
    let t = topic.clone();
    let produced = tokio::task::spawn_blocking(move || {
        strata_ingest::produce::produce_lines(&kafka, &t, args.key.as_deref(), input, &|_| {})
    })
    .await
    .context("producer thread failed")??;
    println!(
        "{}",
        serde_json::json!({"produced": produced, "topic": topic})
    );
    Ok(())
}
