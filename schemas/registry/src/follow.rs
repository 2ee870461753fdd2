//! Ingest follows the registry: a version registered while `strata ingest` or `strata run`
//! is up is accepted from the next look on, without a restart. Records validated before
//! that stay where they landed (quarantined); `strata quarantine replay` brings them back.

use std::sync::Arc;
use std::time::Duration;

use strata_pipelines::Lake;
use strata_quality::{Inspector, SchemaValidator};
use tracing::{info, warn};

use crate::{Error, Registry, Result};

/// Rebuild the inspector's validators from the registry's catalog.
pub async fn reload(registry: &Registry, inspector: &Inspector) -> Result<()> {
    let catalog = registry.catalog().await?;
    let validator = SchemaValidator::new(&catalog).map_err(|e| Error::Validators(e.to_string()))?;
    inspector.set_validator(validator);
    Ok(())
}

/// Look at the lake's registry every `every` and reload the inspector when it changed. Runs
/// until the task is dropped; a lake or registry that cannot be read yet (ingest has not
/// created the lake) is looked at again.
pub async fn follow(
    lake: Lake,
    declared: strata_schemas::SchemaCatalog,
    inspector: Arc<Inspector>,
    every: Duration,
) {
    let mut registry: Option<Arc<Registry>> = None;
    let mut seen = None;
    loop {
        if registry.is_none() {
            registry = Registry::open(lake.clone(), declared.clone()).await.ok();
        }
        if let Some(r) = &registry {
            match r.revision().await {
                Ok(now) if seen != Some(now) => match reload(r, &inspector).await {
                    Ok(()) => {
                        if seen.is_some() {
                            info!(
                                schemas_version = ?now.0,
                                "schema registry changed; ingest validates with the new versions"
                            );
                        }
                        seen = Some(now);
                    }
                    Err(e) => warn!(error = %e, "cannot load the registered schemas"),
                },
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "cannot read the schema registry; keeping the current schemas");
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}
