use std::sync::Arc;

use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::prelude::SessionContext;

use crate::{Error, Lake, Result};

/// Builds the DataFusion session over the lake: every table registered as `layer.table`,
/// plus the views the platform defines (`bronze.quarantine`). The only place that does so.
#[derive(Debug, Clone)]
pub struct SessionBuilder {
    lake: Lake,
}

/// The quarantine: every invalid Bronze record, with its reason.
const QUARANTINE_VIEW: &str = "CREATE VIEW bronze.quarantine AS \
    SELECT topic, \"partition\", \"offset\", kafka_timestamp, error_kind, error, event_id, \
    event_type, value, ingest_date FROM bronze.events WHERE NOT valid";

impl SessionBuilder {
    pub fn new(lake: Lake) -> Self {
        Self { lake }
    }

    pub async fn build(self) -> Result<SessionContext> {
        self.lake.require_exists()?;
        let ctx = SessionContext::new();
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| Error::InvalidLake {
                uri: self.lake.root().to_string(),
                reason: "datafusion default catalog missing".into(),
            })?;
        let tables = self.lake.discover();
        for name in &tables {
            if catalog.schema(&name.layer).is_none() {
                catalog.register_schema(&name.layer, Arc::new(MemorySchemaProvider::new()))?;
            }
            let table = self.lake.open_existing(name).await?;
            table
                .update_datafusion_session(&ctx.state())
                .map_err(|e| Error::delta(name, e))?;
            let provider = table.table_provider().await?;
            ctx.register_table(name.to_string(), provider)?;
        }
        if tables.iter().any(|t| t.to_string() == "bronze.events") {
            ctx.sql(QUARANTINE_VIEW).await?;
        }
        Ok(ctx)
    }
}
