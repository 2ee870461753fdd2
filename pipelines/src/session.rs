use std::sync::Arc;

use deltalake::datafusion::catalog::MemorySchemaProvider;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};

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

    /// The runtime for the lake's refinement queries: with a memory limit, a fair pool that
    /// makes sorts, aggregations and joins spill to the OS temp directory once their share is
    /// used, so a query's memory stays bounded however large its input is.
    fn runtime(lake: &Lake) -> Result<Arc<RuntimeEnv>> {
        let builder = RuntimeEnvBuilder::new();
        let builder = match lake.memory_limit() {
            Some(bytes) => builder.with_memory_pool(Arc::new(FairSpillPool::new(bytes))),
            None => builder,
        };
        Ok(builder.build_arc()?)
    }

    /// A refinement session: `config` and `state` on the lake's runtime. Under a memory limit
    /// a sort sets aside an eighth of it (not DataFusion's fixed 10 MiB) to merge what it
    /// spilled, so small limits work.
    pub fn refine_context(
        lake: &Lake,
        mut config: SessionConfig,
        state: SessionStateBuilder,
    ) -> Result<SessionContext> {
        if let Some(bytes) = lake.memory_limit() {
            let execution = &mut config.options_mut().execution;
            execution.sort_spill_reservation_bytes =
                execution.sort_spill_reservation_bytes.min(bytes / 8);
        }
        let state = state
            .with_config(config)
            .with_runtime_env(Self::runtime(lake)?)
            .build();
        Ok(SessionContext::new_with_state(state))
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
