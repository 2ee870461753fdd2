//! Writing a chunk's rows in one commit with the job's checkpoint: new events appended, or
//! stitched rows MERGEd on their key.

use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};

use strata_pipelines::keys::keyed_writer_properties;
use strata_project::Stitch;

use crate::job::{RunReport, SilverJob};

impl SilverJob {
    /// Commit the checkpoint alone (no rows).
    pub(crate) async fn checkpoint_only(
        &self,
        out: DeltaTable,
        txn: CommitProperties,
    ) -> Result<DeltaTable, DeltaTableError> {
        out.write(vec![RecordBatch::new_empty(self.table().schema())])
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(txn)
            .await
    }

    /// Write `rows` into `out` with the checkpoint in `txn`; the rows written go to `report`.
    /// Tables of single events append `rows` (the events they lack, see fresh.rs); stitched
    /// tables MERGE.
    pub(crate) async fn merge(
        &self,
        ctx: &SessionContext,
        out: DeltaTable,
        schema: SchemaRef,
        rows: Vec<RecordBatch>,
        txn: CommitProperties,
        report: &mut RunReport,
    ) -> Result<DeltaTable, DeltaTableError> {
        if rows.iter().all(|b| b.num_rows() == 0) {
            return self.checkpoint_only(out, txn).await;
        }
        match &self.table().stitch {
            None => self.append(out, rows, txn, report).await,
            Some(stitch) => {
                let source = ctx.read_table(Arc::new(MemTable::try_new(schema, vec![rows])?))?;
                self.merge_stitched(out, source, stitch, txn, report).await
            }
        }
    }

    /// MERGE stitched rows on their key: a stitched row keeps what it holds and gains what it
    /// lacked, and a late first event (its date column arriving) moves the row to that
    /// event's day. Sessions can move date, so they match on the key alone.
    async fn merge_stitched(
        &self,
        out: DeltaTable,
        source: DataFrame,
        stitch: &Stitch,
        txn: CommitProperties,
        report: &mut RunReport,
    ) -> Result<DeltaTable, DeltaTableError> {
        let before = out.version();
        let columns: Vec<String> = self
            .table()
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let key = &stitch.key;
        let (t, metrics) = out
            .merge(source, format!("t.{key} = s.{key}"))
            .with_source_alias("s")
            .with_target_alias("t")
            // New optional fields of a newer schema_version arrive as new nullable columns.
            .with_merge_schema(true)
            .with_commit_properties(txn.clone())
            .when_not_matched_insert(|mut i| {
                for c in &columns {
                    i = i.set(c.as_str(), format!("s.{c}"));
                }
                i
            })?
            .when_matched_update(|u| {
                let d = &stitch.date;
                let mut u = u.update(
                    "event_date",
                    format!(
                        "CASE WHEN t.{d} IS NULL AND s.{d} IS NOT NULL \
                         THEN s.event_date ELSE t.event_date END"
                    ),
                );
                for c in &columns {
                    if c != key && c != "event_date" {
                        u = u.update(c.as_str(), format!("coalesce(t.{c}, s.{c})"));
                    }
                }
                u
            })?
            .await?;
        report.rows_out += metrics.num_target_rows_inserted + metrics.num_target_rows_updated;
        if t.version() == before {
            // Every row was already there: the merge committed nothing, so commit the
            // checkpoint alone.
            self.checkpoint_only(t, txn).await
        } else {
            Ok(t)
        }
    }

    /// Append events the table lacks, with a bloom filter on the key column of each file so
    /// that later chunks look keys up without reading every file (fresh.rs).
    async fn append(
        &self,
        out: DeltaTable,
        fresh: Vec<RecordBatch>,
        txn: CommitProperties,
        report: &mut RunReport,
    ) -> Result<DeltaTable, DeltaTableError> {
        let inserted: usize = fresh.iter().map(RecordBatch::num_rows).sum();
        if inserted == 0 {
            return self.checkpoint_only(out, txn).await;
        }
        report.rows_out += inserted;
        let per_file = crate::fresh::most_rows_per_date(&fresh)?;
        out.write(fresh)
            .with_save_mode(SaveMode::Append)
            // New optional fields of a newer schema_version arrive as new nullable columns.
            .with_schema_mode(SchemaMode::Merge)
            .with_partition_columns(["event_date"])
            .with_writer_properties(keyed_writer_properties(self.table().key(), per_file))
            .with_commit_properties(txn)
            .await
    }
}
