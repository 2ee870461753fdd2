//! The Silver refinement job of one table: Bronze increment -> typed rows -> MERGE.

use std::sync::Arc;

use deltalake::DeltaTableError;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, col, lit};
use strata_bronze::{events_table, replayed_table};
use strata_pipelines::Lake;
use strata_quality::results::{Enforced, enforce};
use strata_quality::{Action, Expectation, ExpectationResult};

use crate::decode::Untyped;
use crate::extract::decoded;
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
        schema: SchemaRef,
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

    /// The job's output table, created in its declared schema when missing.
    pub(crate) async fn output(&self, lake: &Lake) -> Result<deltalake::DeltaTable> {
        Ok(lake
            .ensure_table(
                &self.table.table_name(),
                self.table.schema(),
                &["event_date"],
            )
            .await?)
    }

    pub(crate) fn delta(&self, e: DeltaTableError) -> Error {
        Error::Delta {
            job: self.name(),
            source: Box::new(e),
        }
    }

    pub(crate) fn arrow(&self, e: ArrowError) -> Error {
        Error::Arrow {
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

    /// Decoded rows registered as `src` -> the table's rows: one stitched row per key, or
    /// (for tables of single events) the rows themselves, whose first copies are kept once
    /// collected (`dedup`).
    pub(crate) async fn refine(&self, ctx: &SessionContext) -> Result<DataFrame> {
        match self.table.stitch_sql() {
            Some(sql) => ctx.sql(&sql).await,
            None => ctx.table("src").await,
        }
        .map_err(|e| self.query(e))
    }

    /// Valid Bronze rows of this table's event types matching `filter`, decoded (lazily; what
    /// the decoding saw is complete once the plan has run).
    pub(crate) fn read_bronze(
        &self,
        source: DataFrame,
        filter: Option<Expr>,
    ) -> Result<(DataFrame, crate::extract::Extraction)> {
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
        let source = source.filter(predicate).map_err(|e| self.query(e))?;
        decoded(&self.table, source).map_err(|e| self.query(e))
    }

    /// Valid Bronze rows of this table's events in `source` matching `filter`, decoded and
    /// collected, with what the decoding saw.
    pub(crate) async fn decode_bronze(
        &self,
        source: DataFrame,
        filter: Option<Expr>,
    ) -> Result<Decoded> {
        let (src, seen) = self.read_bronze(source, filter)?;
        let schema = Arc::new(src.schema().as_arrow().clone());
        let batches = src.collect().await.map_err(|e| self.query(e))?;
        Ok(Decoded {
            rows_in: seen.rows(),
            schema,
            batches,
            untyped: seen.untyped(),
        })
    }

    /// Decoded rows -> the table's rows (stitched, or first copies), kept for `days` when
    /// given.
    pub(crate) async fn refine_decoded(
        &self,
        ctx: &SessionContext,
        decoded: Decoded,
        days: Option<&str>,
    ) -> Result<Refined> {
        let (schema, mut batches) = match (&self.table.stitch, days) {
            // Single events are the decoded rows themselves.
            (None, None) => (decoded.schema, decoded.batches),
            _ => {
                let src = MemTable::try_new(decoded.schema, vec![decoded.batches])
                    .map_err(|e| self.query(e))?;
                ctx.register_table("src", Arc::new(src))
                    .map_err(|e| self.query(e))?;
                let mut refined = self.refine(ctx).await?;
                if let Some(list) = days {
                    // Stitched rows are refined from all their events and kept for the days
                    // asked.
                    ctx.register_table("refined", refined.into_view())
                        .map_err(|e| self.query(e))?;
                    refined = ctx
                        .sql(&format!(
                            "SELECT * FROM refined WHERE event_date IN ({list})"
                        ))
                        .await
                        .map_err(|e| self.query(e))?;
                }
                let schema = Arc::new(refined.schema().as_arrow().clone());
                (schema, refined.collect().await.map_err(|e| self.query(e))?)
            }
        };
        if self.table.stitch.is_none() {
            batches = crate::dedup::first_copies(&batches).map_err(|e| self.arrow(e))?;
        }
        if decoded.untyped.total() > 0 {
            tracing::warn!(job = %self.name(), values = decoded.untyped.total(),
                           "event values that the Silver column types cannot hold are NULL");
        }
        Ok(Refined {
            rows_in: decoded.rows_in,
            schema,
            batches,
            untyped: decoded.untyped,
        })
    }

    /// Refine `source` (Bronze rows) into the table's rows, collected; with the Bronze rows
    /// read and the values that could not be typed.
    pub(crate) async fn refine_bronze(
        &self,
        ctx: &SessionContext,
        source: DataFrame,
        filter: Option<Expr>,
        days: Option<&str>,
    ) -> Result<Refined> {
        let decoded = self.decode_bronze(source, filter).await?;
        self.refine_decoded(ctx, decoded, days).await
    }
}

/// Decoded Bronze rows of a table's events, before refinement.
pub(crate) struct Decoded {
    /// Bronze rows decoded.
    pub rows_in: usize,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub untyped: Untyped,
}

impl Decoded {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Add the rows decoded from a later piece of the same increment.
    pub fn absorb(&mut self, later: Decoded) {
        self.rows_in += later.rows_in;
        self.batches.extend(later.batches);
        self.untyped.merge(later.untyped);
    }
}

/// A refinement's rows, before expectations and the write.
pub(crate) struct Refined {
    pub rows_in: usize,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub untyped: Untyped,
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
