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
        let reference = deltalake::datafusion::common::TableReference::partial(
            name.layer.clone(),
            name.table.clone(),
        );
        // Registering again replaces the table (a newer version), never fails on its name.
        ctx.deregister_table(reference.clone())?;
        ctx.register_table(reference, provider)?;
        if name.layer == "bronze" && name.table == "events" {
            Self::register_views(ctx).await?;
        }
        Ok(())
    }

    /// (Re)create the platform's views over the tables registered now: a view's plan holds
    /// the table version it was created over.
    pub async fn register_views(ctx: &SessionContext) -> Result<()> {
        ctx.deregister_table("bronze.quarantine")?;
        ctx.sql(QUARANTINE_VIEW).await?;
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
        Ok(ctx)
    }
}
