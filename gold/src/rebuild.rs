//! A model whose SQL or settings changed is rebuilt from its inputs' whole history: the
//! model's hash is kept in its table (a Delta `txn` action, `model:gold.<name>`) and compared
//! at every run (a table written before hashes were kept adopts the current one). The
//! rebuild writes chunks of days (see `chunks`), logging progress; only its last commit
//! records the new hash and the inputs' checkpoints, so a rebuild cut short starts again.

use std::collections::BTreeSet;

use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use strata_pipelines::{Declaration, Lake, TableName, increment};
use tracing::info;

use crate::Result;
use crate::job::{GoldJob, GoldReport, Whole, expand};

impl GoldJob {
    /// The model's hash, as kept in its table.
    pub fn declaration(&self) -> Declaration {
        Declaration::new("model", &self.name(), &self.model().hash)
    }

    /// The job's checkpoints for `consumed`, and the model's hash.
    pub(crate) fn commit_properties(&self, consumed: &[(TableName, u64)]) -> CommitProperties {
        self.declaration().commit_properties(&self.spec(), consumed)
    }

    /// Recompute every day of the inputs' history into a table that takes the model's
    /// (possibly new) schema; other tables are untouched.
    pub(crate) async fn rebuild(
        &self,
        lake: &Lake,
        inputs: &[(TableName, DeltaTable)],
        out: DeltaTable,
        mut report: GoldReport,
    ) -> Result<GoldReport> {
        let mut days = BTreeSet::new();
        let mut consumed = Vec::new();
        for (name, table) in inputs {
            if let Some(v) = table.version() {
                consumed.push((name.clone(), v));
                report.inputs.push((name.to_string(), v));
            }
            let all = increment(table, &name.to_string(), None).await?;
            days.extend(all.partition_values("event_date"));
        }
        let days = expand(&days, self.model().lookback_days, true);
        let list: Vec<String> = days.iter().cloned().collect();
        info!(job = %self.name(), days = list.len(),
              "the model's SQL or settings changed; rebuilding its table from the inputs' history");
        let (rows, version) = self
            .write_chunked(
                lake,
                inputs,
                Some(out),
                &days,
                self.commit_properties(&consumed),
                Whole::Replace,
            )
            .await?;
        report.rows_out = rows;
        report.output_version = version;
        report.days = list;
        Ok(report)
    }
}
