//! `strata bench registry`: how registering a schema costs as the registry grows. Subjects
//! are registered one after another into a fresh lake; the time of each is reported at
//! checkpoints (10th, 100th, ... subject), so a registry whose cost grows with its size shows
//! it at once.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use strata_pipelines::Lake;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct RegistryBenchArgs {
    /// Subjects to register.
    #[arg(long, default_value_t = 1000)]
    subjects: usize,
}

pub async fn run(args: RegistryBenchArgs, _config: Config) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = Lake::new(&dir.path().join("lake").display().to_string())?;
    lake.ensure_root()?;
    let registry =
        strata_registry::Registry::open(lake, strata_schemas::SchemaCatalog::default()).await?;
    let schema = json!({"type": "object", "properties": {"id": {"type": "string"}}}).to_string();
    let marks = [1, 10, 100, 250, 500, 750, 1000, 2000, 5000];
    let mut window = Vec::new();
    let started = Instant::now();
    for i in 1..=args.subjects {
        let t0 = Instant::now();
        registry
            .register(&format!("bench-{i:05}-value"), &schema, "JSON")
            .await?;
        window.push(t0.elapsed().as_secs_f64() * 1000.0);
        if marks.contains(&i) || i == args.subjects {
            // The mean of the last 10 registrations up to this subject.
            let recent = &window[window.len().saturating_sub(10)..];
            let mean = recent.iter().sum::<f64>() / recent.len() as f64;
            println!(
                "subject {i:>5}: {mean:>7.1} ms per registration (mean of the last {})",
                recent.len()
            );
        }
    }
    println!(
        "{} subjects in {:.1} s",
        args.subjects,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
