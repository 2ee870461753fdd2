//! The whole refinement measured both ways on the same Bronze in the same run: `strata replay`
//! (every Silver table and Gold model rebuilt, outputs written) in a child process, and DuckDB
//! doing the same work from the same Bronze Parquet and project files
//! (`scripts/bench_refine_duckdb.py`). Wall time, CPU seconds and peak RSS of each.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::config::Config;

/// Wall seconds, CPU seconds and peak RSS (MiB) of one side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
}

impl Cost {
    fn json(self) -> Value {
        json!({"wall_s": self.wall_s, "cpu_s": self.cpu_s, "peak_rss_mib": self.peak_rss_mib})
    }
}

/// `strata replay --yes` on `lake` in a child process (with this process' configuration and
/// project); CPU seconds and peak RSS as the replay reports them on its last line.
pub async fn strata_replay(config: &Config, lake: &Path) -> Result<Cost> {
    let t0 = Instant::now();
    let out = tokio::process::Command::new(std::env::current_exe()?)
        .args(config.project.dir.iter().flat_map(|d| ["--project", d]))
        .arg("--lake")
        .arg(lake)
        .args(["replay", "--yes"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .await?;
    let wall_s = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("strata replay failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let usage = text
        .lines()
        .rev()
        .find_map(super::run::parse_usage_line)
        .context("strata replay did not report its CPU time and peak RSS")?;
    Ok(Cost {
        wall_s,
        cpu_s: usage.0,
        peak_rss_mib: usage.1,
    })
}

/// The DuckDB side: its own figures, and the rows of each table it built.
pub async fn duckdb(python: &Path, config: &Config, lake: &Path) -> Result<(Cost, Value)> {
    let project =
        config.project.dir.clone().unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../project/builtin").to_string()
        });
    let out_dir = tempfile::tempdir()?;
    let out = tokio::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/bench_refine_duckdb.py"
        ))
        .arg(&project)
        .arg(lake)
        .arg(out_dir.path())
        .output()
        .await
        .context("running the DuckDB refinement")?;
    if !out.status.success() {
        bail!(
            "DuckDB refinement failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("DuckDB refinement output")?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let cost = Cost {
        wall_s: f("seconds"),
        cpu_s: f("cpu_s"),
        peak_rss_mib: f("peak_rss_mib"),
    };
    Ok((cost, v["rows"].clone()))
}

/// Both sides, printed with their ratios; the figures as JSON.
pub async fn compare(python: Option<&Path>, config: &Config, lake: &Path) -> Result<Value> {
    eprintln!("whole refinement: strata replay in a child process ...");
    let ours = strata_replay(config, lake).await?;
    println!(
        "strata replay (Bronze -> every Silver and Gold table): {:.1} s wall, {:.1} CPU-s, peak RSS {:.0} MiB",
        ours.wall_s, ours.cpu_s, ours.peak_rss_mib
    );
    let Some(python) = python else {
        return Ok(json!({"strata_replay": ours.json()}));
    };
    eprintln!("whole refinement: DuckDB on the same Bronze Parquet ...");
    let (duck, rows) = duckdb(python, config, lake).await?;
    println!(
        "DuckDB, same work from the same Bronze Parquet:      {:.1} s wall, {:.1} CPU-s, peak RSS {:.0} MiB",
        duck.wall_s, duck.cpu_s, duck.peak_rss_mib
    );
    println!(
        "strata / DuckDB: wall {:.2}x, CPU {:.2}x, peak RSS {:.2}x",
        ours.wall_s / duck.wall_s,
        ours.cpu_s / duck.cpu_s,
        ours.peak_rss_mib / duck.peak_rss_mib
    );
    Ok(json!({
        "strata_replay": ours.json(), "duckdb": duck.json(), "duckdb_rows": rows,
        "wall_ratio": ours.wall_s / duck.wall_s, "cpu_ratio": ours.cpu_s / duck.cpu_s,
    }))
}
