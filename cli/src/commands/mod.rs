pub mod alerting;
pub mod bench;
pub mod bench_freshness;
pub mod bench_refine;
pub mod bench_registry;
pub mod bench_replay;
pub mod bench_serve;
pub mod demo;
pub mod drop;
pub mod features;
pub mod forget;
pub mod ingest;
pub mod maintain;
pub mod produce;
pub mod project;
pub mod quality;
pub mod quarantine;
pub mod registry;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod sql;
pub mod status;

use std::sync::Arc;

use anyhow::{Context, Result};
use strata_pipelines::Lake;
use strata_quality::{Inspector, SchemaValidator};

use crate::config::Config;

/// The configured pipeline project (`project.dir`), or the built-in one; loaded once.
/// How often serving processes write their queued audit records (`_strata.audit`).
pub const AUDIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Record a command's administrative action (replay, backfill, ...) in `_strata.audit`, as
/// the OS user running it. A failure to record is reported, never hidden.
pub async fn audit_admin(
    lake: &strata_pipelines::Lake,
    endpoint: &str,
    objects: &[String],
    detail: String,
) -> Result<()> {
    let event = admin_event(endpoint).objects(objects).outcome("ok", detail);
    strata_pipelines::audit::append(lake, &[event])
        .await
        .context("cannot record the action in _strata.audit")
}

/// An administrative action of `endpoint` by the OS user running the command.
pub fn admin_event(endpoint: &str) -> strata_pipelines::AuditEvent {
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".to_string());
    strata_pipelines::AuditEvent::new(&user, "operator", endpoint, "admin")
}

pub fn project(config: &Config) -> Result<Arc<strata_project::Project>> {
    load_project(config.project.dir.as_deref().map(std::path::Path::new))
}

/// The project in `dir`, or the built-in one; each folder is loaded and checked once.
pub fn load_project(dir: Option<&std::path::Path>) -> Result<Arc<strata_project::Project>> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static LOADED: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<strata_project::Project>>>> =
        OnceLock::new();
    let Some(dir) = dir else {
        return Ok(strata_project::builtin()?);
    };
    let cache = LOADED.get_or_init(Mutex::default);
    if let Some(p) = cache.lock().ok().and_then(|c| c.get(dir).cloned()) {
        return Ok(p);
    }
    let project = Arc::new(strata_project::Project::load(dir)?);
    if let Ok(mut c) = cache.lock() {
        c.insert(dir.to_path_buf(), project.clone());
    }
    Ok(project)
}

/// The project's jobs with the configured extra expectations.
pub fn jobs(config: &Config) -> Result<Vec<Arc<dyn strata_orchestration::Job>>> {
    Ok(strata_orchestration::platform_jobs_with(
        &*project(config)?,
        &config.quality.expectations()?,
    ))
}

pub fn lake(config: &Config) -> Result<Lake> {
    let memory = Some(config.run.memory_limit_mb.saturating_mul(1 << 20)).filter(|&b| b > 0);
    Ok(Lake::new(&config.lake.uri)?
        .with_storage_options(config.lake.storage_options())
        .with_memory_limit(memory)
        .with_chunk_rows(Some(config.run.chunk_rows)))
}

/// The configured project's event schemas alone, without its models: what ingest validates
/// against (a model being worked on does not stop ingest, and ingest never plans SQL).
pub fn event_catalog(config: &Config) -> Result<strata_schemas::SchemaCatalog> {
    let dir = config.project.dir.as_deref().map(std::path::Path::new);
    Ok(strata_project::schema_catalog(&strata_project::events(
        dir,
    )?))
}

/// The ingest inspector: the project's schemas plus the versions registered in the lake's
/// registry, and the Confluent registry for framed values when configured.
pub async fn inspector(config: &Config) -> Result<Arc<Inspector>> {
    inspector_with(config, event_catalog(config)?).await
}

async fn inspector_with(
    config: &Config,
    declared: strata_schemas::SchemaCatalog,
) -> Result<Arc<Inspector>> {
    let lake = lake(config)?;
    let catalog = if lake.local_path().is_none_or(|p| p.is_dir()) {
        strata_registry::Registry::open(lake, declared)
            .await?
            .catalog()
            .await?
    } else {
        declared
    };
    let day = std::time::Duration::from_secs(86_400);
    let mut inspector = Inspector::new(
        SchemaValidator::new(&catalog)?,
        config.ingest.max_value_bytes,
    )
    .with_event_time_window(
        day * u32::try_from(config.ingest.event_time_past_days).unwrap_or(u32::MAX),
        day * u32::try_from(config.ingest.event_time_future_days).unwrap_or(u32::MAX),
    );
    if let Some(url) = &config.kafka.schema_registry_url {
        inspector =
            inspector.with_registry(Arc::new(strata_quality::framed::RegistrySchemas::new(url)));
    }
    Ok(Arc::new(inspector))
}

/// How often long-running ingest looks for newly registered schema versions.
const SCHEMA_FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// `inspector`, kept in step with the lake's registry while the returned guard lives, so a
/// version registered while ingest is up is accepted without a restart.
pub async fn following_inspector(config: &Config) -> Result<(Arc<Inspector>, Following)> {
    let declared = event_catalog(config)?;
    let inspector = inspector_with(config, declared.clone()).await?;
    let task = tokio::spawn(strata_registry::follow(
        lake(config)?,
        declared,
        inspector.clone(),
        SCHEMA_FOLLOW_EVERY,
    ));
    Ok((inspector, Following(task)))
}

/// Stops following the registry when dropped, before the runtime shuts down under it.
pub struct Following(tokio::task::JoinHandle<()>);

impl Drop for Following {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
