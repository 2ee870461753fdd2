use std::sync::Arc;

use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::prelude::SessionContext;

use deltalake::DeltaTable;

use crate::{Error, Lake, Result, TableName};

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

    /// Register one table (at the version it is loaded at) as `layer.table`.
    pub async fn register(
        ctx: &SessionContext,
        name: &TableName,
        table: &DeltaTable,
    ) -> Result<()> {
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| Error::InvalidLake {
                uri: table.table_url().to_string(),
                reason: "datafusion default catalog missing".into(),
            })?;
        if catalog.schema(&name.layer).is_none() {
            catalog.register_schema(&name.layer, Arc::new(MemorySchemaProvider::new()))?;
        }
        table
            .update_datafusion_session(&ctx.state())
            .map_err(|e| Error::delta(name, e))?;
        let provider = table.table_provider().await?;
        // A partial reference, not a parsed string: versioned names contain '@'.
        ctx.register_table(
            deltalake::datafusion::common::TableReference::partial(
                name.layer.clone(),
                name.table.clone(),
            ),
            provider,
        )?;
        Ok(())
    }

    /// Build a session for one query, registering any `layer.table@vN` it reads (time travel).
    /// Returns the session and the query rewritten to use the registered names.
    pub async fn build_for(self, sql: &str) -> Result<(SessionContext, String)> {
        let lake = self.lake.clone();
        let ctx = self.build().await?;
        let (rewritten, refs) = crate::time_travel::rewrite(sql);
        for r in refs {
            let table = lake.open_at(&r.table, r.version).await?;
            let versioned = TableName::new(
                r.table.layer.clone(),
                format!("{}@v{}", r.table.table, r.version),
            );
            Self::register(&ctx, &versioned, &table).await?;
        }
        Ok((ctx, rewritten))
    }

    pub async fn build(self) -> Result<SessionContext> {
        self.lake.require_exists()?;
        let ctx = SessionContext::new();
        let tables = self.lake.discover().await?;
        for name in &tables {
            let table = self.lake.open_existing(name).await?;
            Self::register(&ctx, name, &table).await?;
        }
        if tables.iter().any(|t| t.to_string() == "bronze.events") {
            ctx.sql(QUARANTINE_VIEW).await?;
        }
        Ok(ctx)
    }
}
