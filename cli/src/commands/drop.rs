//! `strata drop`: remove tables the project no longer declares (a removed Gold model or
//! Silver table). Tables stay in the lake until this is run, so removing a model's file never
//! deletes data by itself.

use anyhow::{Result, bail};
use clap::Args;
use strata_pipelines::TableName;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct DropArgs {
    /// Tables to remove, as layer.table (Silver or Gold).
    #[arg(required = true)]
    tables: Vec<String>,
    /// Remove them. Without it, drop only says what it would remove.
    #[arg(long)]
    yes: bool,
}

pub async fn run(args: DropArgs, config: Config) -> Result<()> {
    let lake = super::lake(&config)?;
    lake.require_exists()?;
    let project = super::project(&config)?;
    let existing = lake.discover().await?;
    let mut doomed = Vec::new();
    for t in &args.tables {
        let name: TableName = t.parse()?;
        if name.layer != "silver" && name.layer != "gold" {
            bail!(
                "{name}: only Silver and Gold tables can be dropped (Bronze is the event log, \
                 _strata.* the platform's own tables)"
            );
        }
        if project.tables().contains(&name) {
            bail!(
                "{name} is declared by project {} ({}): remove its file from the project \
                 first, or its job would create it again",
                project.name,
                project.source
            );
        }
        if !existing.contains(&name) {
            bail!("{name} does not exist in the lake");
        }
        doomed.push(name);
    }
    let list: Vec<String> = doomed.iter().map(ToString::to_string).collect();
    if !args.yes {
        bail!(
            "drop deletes {} (files and history); run again with --yes to do so",
            list.join(", ")
        );
    }
    for name in &doomed {
        lake.drop_table(name).await?;
        tracing::info!(table = %name, "table dropped");
    }
    println!("dropped {}", list.join(", "));
    Ok(())
}
