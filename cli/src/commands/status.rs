use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use strata_orchestration::{Dag, platform_jobs};

use crate::config::Config;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value = "table")]
    format: StatusFormat,
    /// Skip the broker (ingest lag) even when one is configured.
    #[arg(long)]
    no_broker: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LineageFormat {
    Text,
    Mermaid,
    Dot,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    #[arg(long, value_enum, default_value = "text")]
    format: LineageFormat,
}

pub fn lineage(args: LineageArgs, config: &Config) -> Result<()> {
    let dag = Dag::new(
        platform_jobs(&*super::project(config)?)
            .iter()
            .map(|j| j.spec())
            .collect(),
    )?;
    print!(
        "{}",
        match args.format {
            LineageFormat::Text => dag.text(),
            LineageFormat::Mermaid => dag.mermaid(),
            LineageFormat::Dot => dag.dot(),
        }
    );
    Ok(())
}

pub async fn status(args: StatusArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    let tables = strata_orchestration::status::status(
        &lake,
        &super::jobs(&config)?,
        &config.run.sla_s,
        config.run.default_sla_s,
    )
    .await?;
    // The broker is optional here: status must work when Kafka is down.
    let lag = if args.no_broker {
        Err("not asked".to_string())
    } else {
        let (kafka, lake2) = (config.kafka.clone(), lake.clone());
        match tokio::time::timeout(
            Duration::from_secs(15),
            strata_ingest::admin::partition_lag(&lake2, &kafka, &kafka.topics, &kafka.group),
        )
        .await
        {
            Ok(Ok(l)) => Ok(l),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer from {} within 15 s", kafka.brokers)),
        }
    };
    if let StatusFormat::Json = args.format {
        let v = serde_json::json!({
            "tables": tables,
            "ingest_lag": match &lag { Ok(l) => serde_json::json!(l), Err(e) => serde_json::json!({"error": e}) },
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<28} {:>7} {:>6} {:>10}  {:<20} {:>9} {:>6}  last run",
        "table", "version", "files", "rows", "last commit (UTC)", "behind", "SLA"
    );
    for t in &tables {
        let last_run = t.last_run.as_ref().map_or("-".to_string(), |r| {
            let mut s = format!(
                "{} at {}",
                r.status,
                r.ended_at.get(..19).unwrap_or(&r.ended_at)
            );
            if let Some(e) = &r.error {
                s.push_str(": ");
                s.push_str(e.get(..120).unwrap_or(e));
            }
            s
        });
        println!(
            "{:<28} {:>7} {:>6} {:>10}  {:<20} {:>9} {:>6}  {}",
            t.table,
            t.version,
            t.files,
            t.rows,
            t.last_commit
                .map_or("-".into(), |c| c.format("%Y-%m-%d %H:%M:%S").to_string()),
            t.behind_s.map_or("-".into(), |b| format!("{b:.1} s")),
            match (t.sla_s, t.within_sla) {
                (Some(s), Some(true)) => format!("{s} s"),
                (Some(s), Some(false)) => format!("{s} s !"),
                _ => "-".into(),
            },
            last_run
        );
    }
    println!();
    match lag {
        Ok(parts) => {
            println!("ingest lag (group {}):", config.kafka.group);
            for p in parts {
                println!(
                    "  {}/{}: end offset {}, in Bronze up to {}, lag {}",
                    p.topic,
                    p.partition,
                    p.end_offset,
                    p.stored_offset.map_or("-".into(), |o| o.to_string()),
                    p.lag
                );
            }
        }
        Err(e) => println!("ingest lag: unknown ({e})"),
    }
    Ok(())
}
