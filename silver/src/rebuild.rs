//! A Silver table whose declaration changed (columns, paths, events, stitching, expectations)
//! is rebuilt from all of Bronze in its new schema: the declaration's hash is kept in the
//! table (a Delta `txn` action, `table:silver.<name>`) and compared at every run. Gold models
//! reading it see every day change and recompute them. A table written before hashes were
//! kept adopts the current one.

use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use strata_bronze::{events_table, replayed_table};
use strata_pipelines::{Declaration, Lake, TableName};
use tracing::info;

use crate::Result;
use crate::job::{RunReport, SilverJob};

impl SilverJob {
    /// The table's declaration hash, as kept in the table.
    pub fn declaration(&self) -> Declaration {
        Declaration::new("table", &self.name(), &self.table().hash)
    }

    /// The job's checkpoints for `consumed`, and the declaration's hash.
    pub(crate) fn commit_properties(&self, consumed: &[(TableName, u64)]) -> CommitProperties {
        self.declaration().commit_properties(&self.spec(), consumed)
    }

    /// Rewrite the whole table from both Bronze tables at their current versions.
    pub(crate) async fn rebuild(
        &self,
        lake: &Lake,
        bronze: &DeltaTable,
        mut report: RunReport,
    ) -> Result<RunReport> {
        info!(job = %self.name(), "the table's declaration changed; rebuilding it from Bronze");
        let mut consumed = Vec::new();
        if let Some(v) = bronze.version() {
            consumed.push((events_table(), v));
        }
        if let Some(v) = lake
            .open(&replayed_table())
            .await?
            .and_then(|t| t.version())
        {
            consumed.push((replayed_table(), v));
        }
        let done = self
            .rewrite(lake, None, self.commit_properties(&consumed))
            .await?;
        report.rows_in = done.rows_in;
        report.rows_out = done.rows_out;
        report.output_version = done.output_version;
        report.untyped = done.untyped;
        info!(job = %self.name(), rows = done.rows_out, "table rebuilt");
        Ok(report)
    }
}
