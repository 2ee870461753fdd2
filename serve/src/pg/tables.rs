//! The tables every SQL connection sees. One DataFusion catalog is shared by all connections
//! (each has its own session state on top of it); a background task re-registers a table when
//! its Delta version moves, so a commit is visible within one refresh interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deltalake::datafusion::prelude::SessionContext;
use strata_pipelines::time_travel::VersionRef;
use strata_pipelines::{Lake, SessionBuilder, TableName, TableVersions};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::Result;

/// The lake's tables, registered in the catalog of `base` (shared with every connection).
pub(super) struct Tables {
    lake: Lake,
    base: Arc<SessionContext>,
    state: Mutex<Refresh>,
}

struct Refresh {
    versions: TableVersions,
    seen: HashMap<TableName, u64>,
}

impl Tables {
    pub(super) fn new(lake: Lake, base: Arc<SessionContext>) -> Self {
        let versions = TableVersions::new(lake.clone());
        Self {
            lake,
            base,
            state: Mutex::new(Refresh {
                versions,
                seen: HashMap::new(),
            }),
        }
    }

    /// Register new tables and new versions. A table that fails to load is logged and
    /// skipped (tried again next time); it never holds back the others.
    pub(super) async fn refresh(&self) -> Result<()> {
        let names = self.lake.discover().await?;
        let mut state = self.state.lock().await;
        for name in names {
            if let Err(e) = self.refresh_one(&mut state, &name).await {
                warn!(table = %name, error = %e, "SQL endpoint: cannot load this table; serving the others");
            }
        }
        Ok(())
    }

    async fn refresh_one(&self, state: &mut Refresh, name: &TableName) -> Result<()> {
        // A log listing per table; a table is opened only when its version moved.
        let Some(latest) = state.versions.latest(name).await? else {
            return Ok(());
        };
        if state.seen.get(name) == Some(&latest) {
            return Ok(());
        }
        let Some(table) = self.lake.open(name).await? else {
            return Ok(());
        };
        SessionBuilder::register(&self.base, name, &table).await?;
        let version = table.version().unwrap_or(latest);
        debug!(table = %name, version, "SQL endpoint: registered");
        state.seen.insert(name.clone(), version);
        Ok(())
    }

    /// Register the table versions a query reads by time travel (`layer.table@vN`).
    /// Versions are immutable, so one registration serves every later query.
    pub(super) async fn register_versions(&self, refs: &[VersionRef]) -> Result<()> {
        for r in refs {
            let versioned = TableName::new(
                r.table.layer.clone(),
                format!("{}@v{}", r.table.table, r.version),
            );
            let schema = self
                .base
                .catalog("datafusion")
                .and_then(|c| c.schema(&versioned.layer));
            if schema.is_some_and(|s| s.table_exist(&versioned.table)) {
                continue;
            }
            let table = self.lake.open_at(&r.table, r.version).await?;
            SessionBuilder::register(&self.base, &versioned, &table).await?;
        }
        Ok(())
    }

    /// Refresh every `every` until the process ends.
    pub(super) fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        let tables = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = tables.refresh().await {
                    warn!(error = %e, "SQL endpoint: listing the lake's tables failed");
                }
            }
        });
    }
}
