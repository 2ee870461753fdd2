//! The Silver refinement job of one table: Bronze increment -> typed rows -> MERGE.

use deltalake::DeltaTableError;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::error::DataFusionError;

use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{
    DataFrame, Expr, ParquetReadOptions, SessionContext, col, lit,
};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use strata_bronze::{events_table, replayed_table};
use strata_pipelines::{Lake, increment};
use strata_quality::results::{Enforced, enforce};
use strata_quality::{Action, Expectation, ExpectationResult};
use tracing::info;

use crate::decode::{BRONZE_COLUMNS, Untyped, decode};
use crate::{Error, Result};
use strata_project::SilverTable;

/// What one run of a job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub job: String,
    /// Bronze version consumed before this run (the checkpoint).
    pub checkpoint: Option<u64>,
    /// Bronze version consumed by this run.
    pub input_version: Option<u64>,
    pub rows_in: usize,
    pub rows_out: usize,
    /// Output table version written; `None` when there was nothing new.
    pub output_version: Option<u64>,
    /// Event values present but not representable in their column (stored as NULL).
    pub untyped: Untyped,
}

/// Refines `bronze.events` into one Silver table, exactly once per Bronze version.
#[derive(Debug, Clone)]
pub struct SilverJob {
    table: SilverTable,
    expectations: Vec<Expectation>,
}

impl SilverJob {
    /// A job with the table's declared expectations.
    pub fn new(table: SilverTable) -> Self {
        let expectations = table.expectations();
        Self {
            table,
            expectations,
        }
    }

    /// Add expectations (from configuration) to the declared ones.
    pub fn with_expectations(mut self, extra: impl IntoIterator<Item = Expectation>) -> Self {
        self.expectations.extend(extra);
        self
    }

    /// Replace every expectation (benchmarks compare with and without).
    pub fn set_expectations(mut self, all: Vec<Expectation>) -> Self {
        self.expectations = all;
        self
    }

    pub fn expectations(&self) -> &[Expectation] {
        &self.expectations
    }

    pub fn table(&self) -> &SilverTable {
        &self.table
    }

    /// Check rows about to be written; `None` when an expectation stops the job.
    pub(crate) async fn enforce(
        &self,
        lake: &Lake,
        ctx: &SessionContext,
        schema: deltalake::arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
        untyped: &Untyped,
    ) -> Result<Vec<RecordBatch>> {
        let quality = |source| Error::Quality {
            job: self.name(),
            source,
        };
        match enforce(
            lake,
            ctx,
            &self.table.table_name(),
            schema,
            batches,
            &self.expectations,
            typed_results(untyped),
        )
        .await
        .map_err(quality)?
        {
            Enforced::Write(kept) => Ok(kept),
            Enforced::Stop(failure) => Err(Error::Expectations {
                job: self.name(),
                failure,
            }),
        }
    }

    pub fn name(&self) -> String {
        self.table.job_name()
    }

    /// Declared input and output (lineage comes from here).
    pub fn spec(&self) -> strata_pipelines::JobSpec {
        strata_pipelines::JobSpec {
            name: self.name(),
            inputs: vec![events_table(), replayed_table()],
            output: self.table.table_name(),
            // Expectations that check references run after the referenced table's job.
            after: self
                .expectations
                .iter()
                .filter_map(|e| e.referenced_table()?.parse().ok())
                .collect(),
        }
    }

    pub(crate) fn delta(&self, e: DeltaTableError) -> Error {
        Error::Delta {
            job: self.name(),
            source: Box::new(e),
        }
    }

    pub(crate) fn query(&self, e: DataFusionError) -> Error {
        Error::Query {
            job: self.name(),
            source: Box::new(e),
        }
    }

    /// Decoded rows registered as `src` -> the table's rows: first copy of each event, or one
    /// stitched row per session.
    pub(crate) async fn refine(&self, ctx: &SessionContext) -> Result<DataFrame> {
        ctx.sql(&self.table.refine_sql())
            .await
            .map_err(|e| self.query(e))
    }

    /// Read valid Bronze rows of this table's event types matching `filter`, decoded.
    pub(crate) async fn read_bronze(
        &self,
        source: DataFrame,
        filter: Option<Expr>,
    ) -> Result<(usize, Vec<RecordBatch>, Untyped)> {
        let types: Vec<_> = self
            .table
            .event_types
            .iter()
            .map(|t| lit(t.as_str()))
            .collect();
        let mut predicate = col("valid").and(col("event_type").in_list(types, false));
        if let Some(f) = filter {
            predicate = predicate.and(f);
        }
        let batches = source
            .filter(predicate)
            .map_err(|e| self.query(e))?
            .select_columns(&BRONZE_COLUMNS)
            .map_err(|e| self.query(e))?
            .collect()
            .await
            .map_err(|e| self.query(e))?;
        let mut rows = 0;
        let mut decoded = Vec::new();
        let mut untyped = Untyped::default();
        for b in &batches {
            rows += b.num_rows();
            if b.num_rows() > 0 {
                let (batch, u) = decode(&self.table, b).map_err(|e| Error::Arrow {
                    job: self.name(),
                    source: Box::new(e),
                })?;
                decoded.push(batch);
                untyped.merge(u);
            }
        }
        if untyped.total() > 0 {
            tracing::warn!(job = %self.name(), values = untyped.total(),
                           "event values that the Silver column types cannot hold are NULL");
        }
        Ok((rows, decoded, untyped))
    }

    /// Run one increment: everything Bronze gained since this job's checkpoint.
    pub async fn run(&self, lake: &Lake) -> Result<RunReport> {
        let mut report = RunReport {
            job: self.name(),
            ..RunReport::default()
        };
        let Some(bronze) = lake.open(&events_table()).await? else {
            return Ok(report);
        };
        let out = lake
            .ensure_table(
                &self.table.table_name(),
                self.table.schema(),
                &["event_date"],
            )
            .await?;
        let spec = self.spec();
        report.checkpoint = spec.checkpoint(&out, &events_table()).await?;
        if report.checkpoint.is_some()
            && let Some(stored) = self
                .declaration()
                .stored(&out, &self.table.table_name())
                .await?
            && stored != self.declaration().version
        {
            return self.rebuild(lake, &bronze, report).await;
        }
        report.input_version = bronze.version();
        // Both Bronze tables: the log as received, and quarantined records replayed later.
        let replayed = lake.open(&replayed_table()).await?;
        let mut consumed = Vec::new();
        let mut urls: Vec<String> = Vec::new();
        let mut advanced = false;
        for (name, table) in [
            (events_table(), Some(&bronze)),
            (replayed_table(), replayed.as_ref()),
        ] {
            let Some(table) = table else { continue };
            let Some(version) = table.version() else {
                continue;
            };
            consumed.push((name.clone(), version));
            let checkpoint = spec.checkpoint(&out, &name).await?;
            if checkpoint == Some(version) {
                continue;
            }
            advanced = true;
            let inc = increment(table, &name.to_string(), checkpoint).await?;
            let root = table.table_url().clone();
            urls.extend(
                inc.added
                    .iter()
                    .filter_map(|f| root.join(&f.path).ok().map(|u| u.to_string())),
            );
        }
        if !advanced {
            return Ok(report);
        }

        let ctx = SessionContext::new();
        bronze
            .update_datafusion_session(&ctx.state())
            .map_err(|e| self.delta(e))?;
        let mut decoded: Vec<RecordBatch> = Vec::new();
        if !urls.is_empty() {
            let source = ctx
                .read_parquet(urls, ParquetReadOptions::default())
                .await
                .map_err(|e| self.query(e))?;
            let (rows, batches, untyped) = self.read_bronze(source, None).await?;
            report.rows_in = rows;
            report.untyped = untyped;
            decoded = batches;
        }

        let txn = self.commit_properties(&consumed);

        let before = out.version();
        let checkpoint_only = |out: deltalake::DeltaTable, txn: CommitProperties| {
            out.write(vec![RecordBatch::new_empty(self.table.schema())])
                .with_save_mode(SaveMode::Append)
                .with_commit_properties(txn)
        };
        let written = if decoded.is_empty() {
            // Nothing for this table: still record the checkpoint so the increment is not
            // scanned again.
            checkpoint_only(out, txn.clone()).await
        } else {
            let src = ctx.read_batches(decoded).map_err(|e| self.query(e))?;
            ctx.register_table("src", src.into_view())
                .map_err(|e| self.query(e))?;
            let refined = self.refine(&ctx).await?;
            let schema = std::sync::Arc::new(refined.schema().as_arrow().clone());
            let rows = refined.collect().await.map_err(|e| self.query(e))?;
            let kept = self
                .enforce(lake, &ctx, schema.clone(), rows, &report.untyped)
                .await?;
            let source = ctx
                .read_table(std::sync::Arc::new(
                    MemTable::try_new(schema, vec![kept]).map_err(|e| self.query(e))?,
                ))
                .map_err(|e| self.query(e))?;
            let columns: Vec<String> = self
                .table
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let key = self.table.key();
            // A re-sent event carries its original occurred_at, so it lands in the same
            // event_date partition: matching on the date as well lets the merge read only the
            // partitions the increment touches. Sessions can move date (a late start), so
            // they match on the key alone.
            let predicate = match &self.table.stitch {
                None => format!("t.event_date = s.event_date AND t.{key} = s.{key}"),
                Some(_) => format!("t.{key} = s.{key}"),
            };
            let merge = out
                .merge(source, predicate)
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
                })
                .map_err(|e| self.delta(e))?;
            let merge = match &self.table.stitch {
                None => merge,
                // A stitched row keeps what it holds and gains what it lacked; a late first
                // event (its date column arriving) moves the row to that event's day.
                Some(stitch) => merge
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
                            if *c != stitch.key && c != "event_date" {
                                u = u.update(c.as_str(), format!("coalesce(t.{c}, s.{c})"));
                            }
                        }
                        u
                    })
                    .map_err(|e| self.delta(e))?,
            };
            match merge.await {
                Ok((t, metrics)) => {
                    report.rows_out =
                        metrics.num_target_rows_inserted + metrics.num_target_rows_updated;
                    if t.version() == before {
                        // Every row was already there: the merge committed nothing, so commit
                        // the checkpoint alone.
                        checkpoint_only(t, txn).await
                    } else {
                        Ok(t)
                    }
                }
                Err(e) => Err(e),
            }
        };
        match written {
            Ok(t) => {
                report.output_version = t.version();
                info!(job = %self.name(), bronze_version = ?report.input_version, rows_in = report.rows_in,
                      rows_out = report.rows_out, "silver increment committed");
                Ok(report)
            }
            Err(DeltaTableError::Transaction { .. }) => Err(Error::Concurrent { job: self.name() }),
            Err(e) => Err(self.delta(e)),
        }
    }
}

/// What a recompute wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recomputed {
    pub rows_in: usize,
    pub rows_out: usize,
    pub output_version: Option<u64>,
    pub untyped: Untyped,
}

/// One `typed:<column>` quality result per payload column that held values in this run:
/// how many were present and how many could not be typed (and so are NULL in Silver).
fn typed_results(untyped: &Untyped) -> Vec<ExpectationResult> {
    untyped
        .0
        .iter()
        .filter(|c| c.present > 0)
        .map(|c| ExpectationResult {
            name: format!("typed:{}", c.column),
            kind: "typed",
            action: Action::Warn,
            rows_checked: c.present,
            rows_failed: c.untyped,
            threshold: 0.0,
            outcome: if c.untyped == 0 { "passed" } else { "warned" },
            samples: c.samples.clone(),
        })
        .collect()
}
