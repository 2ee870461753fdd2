//! A Silver table whose declaration changed (columns, paths, events, stitching, expectations)
//! is rebuilt from all of Bronze in its new schema, chunk by chunk like a replay: the declaration's hash is kept in the
//! table (a Delta `txn` action, `table:silver.<name>`) and compared at every run. Gold models
//! reading it see every day change and recompute them. A table written before hashes were
//! kept adopts the current one.

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use strata_bronze::{events_table, replayed_table};
use strata_pipelines::{Declaration, TableName};
use tracing::info;

use crate::Result;
use crate::job::SilverJob;

impl SilverJob {
    /// The table's declaration hash, as kept in the table.
    pub fn declaration(&self) -> Declaration {
        Declaration::new("table", &self.name(), &self.table().hash)
    }

    /// The job's checkpoints for `consumed`, and the declaration's hash.
    pub(crate) fn commit_properties(&self, consumed: &[(TableName, u64)]) -> CommitProperties {
        self.declaration().commit_properties(&self.spec(), consumed)
    }

    /// Empty the table into its declared schema, forgetting its checkpoints, and run: the
    /// table is refined from the start of both Bronze tables chunk by chunk, like a replay
    /// (a rebuild cut short resumes after its last chunk).
    pub(crate) async fn rebuild(&self, out: DeltaTable) -> Result<()> {
        info!(job = %self.name(), "the table's declaration changed; rebuilding it from Bronze");
        let props = self
            .declaration()
            .reset_properties(&self.spec(), &[events_table(), replayed_table()]);
        out.write(vec![RecordBatch::new_empty(self.table().schema())])
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_partition_columns(["event_date"])
            .with_commit_properties(props)
            .await
            .map_err(|e| self.delta(e))?;
        Ok(())
    }
}
