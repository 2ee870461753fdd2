//! `strata project check|show`: validate a pipeline project without a lake, and print what
//! it declares.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use strata_project::Project;

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Validate a project (files, names, types, SQL, DAG) without touching a lake.
    Check(ProjectArgs),
    /// Print the project's event types, tables, models, feature views and DAG.
    Show(ProjectArgs),
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project folder (default: `--project` / `STRATA_PROJECT` / `project.dir`, else the
    /// built-in project).
    dir: Option<PathBuf>,
}

pub fn run(cmd: ProjectCommand, config: &crate::config::Config) -> Result<()> {
    let configured = config.project.dir.as_ref().map(PathBuf::from);
    let (args, show) = match cmd {
        ProjectCommand::Check(a) => (a, false),
        ProjectCommand::Show(a) => (a, true),
    };
    let project = super::load_project(args.dir.or(configured).as_deref())?;
    if show {
        print!("{}", describe(&project));
        // The job graph the scheduler runs: Bronze -> Silver -> Gold, with `after` edges.
        let jobs = strata_orchestration::platform_jobs(&project);
        let dag = strata_orchestration::Dag::new(jobs.iter().map(|j| j.spec()).collect())?;
        print!("\njob graph:\n{}", dag.text());
    } else {
        println!(
            "project {} ({}) is valid: {} event types, {} Silver tables, {} Gold models, {} feature views",
            project.name,
            project.source,
            project.event_types().len(),
            project.silver.len(),
            project.gold.len(),
            project.views.len()
        );
    }
    Ok(())
}

/// The project as text: what each file declares, and the DAG.
pub fn describe(p: &Project) -> String {
    let mut out = format!("project {} ({})\n", p.name, p.source);
    if !p.description.is_empty() {
        out.push_str(&format!("  {}\n", p.description));
    }
    out.push_str("\nevent types:\n");
    for t in p.event_types() {
        let versions: Vec<String> = p
            .events
            .iter()
            .filter(|e| e.event_type == t)
            .map(|e| format!("v{}", e.version))
            .collect();
        out.push_str(&format!("  {t} ({})\n", versions.join(", ")));
    }
    out.push_str("\nsilver tables:\n");
    for t in &p.silver {
        let keyed = t
            .stitch
            .as_ref()
            .map_or("one row per event".to_string(), |s| {
                format!("stitched on {}", s.key)
            });
        out.push_str(&format!(
            "  {} <- {} ({keyed}; {} columns, {} expectations)\n",
            t.table_name(),
            t.event_types.join(", "),
            t.schema().fields().len(),
            t.expectations().len()
        ));
    }
    out.push_str("\ngold models (in build order):\n");
    for m in &p.gold {
        let inputs: Vec<String> = m.inputs.iter().map(ToString::to_string).collect();
        let mut line = format!("  {} <- {}", m.table_name(), inputs.join(", "));
        if !m.grain.is_empty() {
            line.push_str(&format!(" (grain {}", m.grain.join(", ")));
            if m.lookback_days > 0 {
                line.push_str(&format!("; reads {} days back", m.lookback_days));
            }
            line.push(')');
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\nfeature views:\n");
    for v in &p.views {
        out.push_str(&format!(
            "  {} on {} from {} (ttl {} s): {}\n",
            v.name,
            v.entity,
            v.source,
            v.ttl.as_secs(),
            v.features.join(", ")
        ));
    }
    if !p.services.is_empty() {
        out.push_str("\nfeature services:\n");
        for s in &p.services {
            out.push_str(&format!("  {}: {}\n", s.name, s.features.join(", ")));
        }
    }
    out
}
