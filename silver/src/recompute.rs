//! Rewriting a Silver table's days (a backfill) from all of Bronze, in one commit.

use std::collections::BTreeSet;

use deltalake::DeltaTableError;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::prelude::{col, lit};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use strata_bronze::{events_table, replayed_table};
use strata_pipelines::Lake;
use strata_pipelines::keys::keyed_writer_properties;

use crate::days::{conform, day_list, day_range, plain};
use crate::fresh::most_rows_per_date;
use crate::job::{Recomputed, SilverJob};
use crate::{Error, Result};

impl SilverJob {
    /// Rebuild the given days (`YYYY-MM-DD`) from all of Bronze, replacing those partitions in
    /// one commit carrying `props` (a backfill's progress marker). The job's own checkpoint is
    /// untouched: its next increment merges into the rebuilt rows as into any others.
    pub async fn recompute(
        &self,
        lake: &Lake,
        days: &BTreeSet<String>,
        props: CommitProperties,
    ) -> Result<Recomputed> {
        let mut done = Recomputed::default();
        let Some(bronze) = lake.open(&events_table()).await? else {
            return Ok(done);
        };
        let out = self.output(lake).await?;
        let ctx = crate::extract::session(lake)?;
        let provider = bronze.table_provider().await.map_err(|e| self.query(e))?;
        bronze
            .update_datafusion_session(&ctx.state())
            .map_err(|e| self.delta(e))?;
        let mut source = ctx.read_table(provider).map_err(|e| self.query(e))?;
        if let Some(replayed) = lake.open(&replayed_table()).await? {
            let more = ctx
                .read_table(replayed.table_provider().await.map_err(|e| self.query(e))?)
                .map_err(|e| self.query(e))?;
            source = source.union(more).map_err(|e| self.query(e))?;
        }
        let list = day_list(days);
        // Sessions are stitched from all their events, which may lie on other days; events
        // are read from the days' time range only (file statistics prune the rest).
        let filter = match (&self.table().stitch, day_range(days)) {
            (None, Some((from, to))) => {
                let at = |us| {
                    lit(ScalarValue::TimestampMicrosecond(
                        Some(us),
                        Some("UTC".into()),
                    ))
                };
                Some(
                    col("occurred_at")
                        .gt_eq(at(from))
                        .and(col("occurred_at").lt(at(to))),
                )
            }
            _ => None,
        };
        let refined = self
            .refine_bronze(&ctx, source, filter, Some(&list))
            .await?;
        done.rows_in = refined.rows_in;
        let untyped = refined.untyped;
        // The stored schema, including columns added by newer event versions.
        let schema = out
            .table_provider()
            .await
            .map_err(|e| self.query(e))?
            .schema();
        let batches = refined.batches;
        let batches = conform(&batches, &schema).map_err(|e| self.arrow(e))?;
        let batches = self
            .enforce(lake, &ctx, plain(&schema), batches, &untyped)
            .await?;
        done.untyped = untyped;
        done.rows_out = batches.iter().map(RecordBatch::num_rows).sum();
        // No rows for these days: the overwrite still removes what they held.
        let batches = match batches.first() {
            Some(_) => batches,
            None => vec![RecordBatch::new_empty(plain(&schema))],
        };
        let per_file = most_rows_per_date(&batches).map_err(|e| self.arrow(e))?;
        let mut write = out.write(batches);
        if self.table().stitch.is_none() {
            // As appended rows: increments look keys up through the key's bloom filter.
            write =
                write.with_writer_properties(keyed_writer_properties(self.table().key(), per_file));
        }
        let written = write
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(format!("event_date IN ({list})"))
            .with_partition_columns(["event_date"])
            .with_commit_properties(props)
            .await;
        match written {
            Ok(t) => {
                done.output_version = t.version();
                Ok(done)
            }
            Err(DeltaTableError::Transaction { .. }) => Err(Error::Concurrent { job: self.name() }),
            Err(e) => Err(self.delta(e)),
        }
    }
}
