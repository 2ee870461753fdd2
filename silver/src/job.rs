//! The Silver refinement job of one table: Bronze increment -> typed rows -> MERGE.

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::prelude::{
    DataFrame, Expr, ParquetReadOptions, SessionContext, col, lit,
};
use deltalake::{DeltaTable, DeltaTableError};
use strata_bronze::{events_table, replayed_table};
use strata_pipelines::keys::SeenKeys;
use strata_pipelines::{Lake, SnapshotProgress, TableName, files_and_rows, increments_resuming};
use strata_quality::results::{Enforced, enforce};
use strata_quality::{Action, Expectation, ExpectationResult};
use tracing::info;

use crate::decode::Untyped;
use crate::extract::{Extraction, decoded};
use crate::fresh::remember;
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
    ) -> Result<(DataFrame, Extraction)> {
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

    /// Refine `source` (Bronze rows) into the table's rows, collected; with the Bronze rows
    /// read and the values that could not be typed.
    pub(crate) async fn refine_bronze(
        &self,
        ctx: &SessionContext,
        source: DataFrame,
        filter: Option<Expr>,
        days: Option<&str>,
    ) -> Result<Refined> {
        let (src, seen) = self.read_bronze(source, filter)?;
        ctx.register_table("src", src.into_view())
            .map_err(|e| self.query(e))?;
        let mut refined = self.refine(ctx).await?;
        if let Some(list) = days {
            // Stitched rows are refined from all their events and kept for the days asked.
            ctx.register_table("refined", refined.into_view())
                .map_err(|e| self.query(e))?;
            refined = ctx
                .sql(&format!(
                    "SELECT * FROM refined WHERE event_date IN ({list})"
                ))
                .await
                .map_err(|e| self.query(e))?;
        }
        let schema = std::sync::Arc::new(refined.schema().as_arrow().clone());
        let mut batches = refined.collect().await.map_err(|e| self.query(e))?;
        if self.table.stitch.is_none() {
            batches = crate::dedup::first_copies(&batches).map_err(|e| self.arrow(e))?;
        }
        let untyped = seen.untyped();
        if untyped.total() > 0 {
            tracing::warn!(job = %self.name(), values = untyped.total(),
                           "event values that the Silver column types cannot hold are NULL");
        }
        Ok(Refined {
            rows_in: seen.rows(),
            schema,
            batches,
            untyped,
        })
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
        report.checkpoint = self.spec().checkpoint(&out, &events_table()).await?;
        if report.checkpoint.is_some()
            && let Some(stored) = self
                .declaration()
                .stored(&out, &self.table.table_name())
                .await?
            && stored != self.declaration().version
        {
            self.rebuild(out).await?;
            return Box::pin(self.run(lake)).await;
        }
        report.input_version = bronze.version();
        let chunks = self.chunks(lake, &bronze, &out).await?;
        let mut seen = self.seen_keys(lake, &out, chunks.len()).await?;
        let (count, mut out) = (chunks.len(), out);
        for (i, chunk) in chunks.into_iter().enumerate() {
            out = self
                .run_chunk(lake, &bronze, out, chunk, seen.as_mut(), &mut report)
                .await?;
            if count > 1 {
                info!(job = %self.name(), chunk = i + 1, of = count, rows_out = report.rows_out,
                      "silver chunk committed");
            }
            report.output_version = out.version();
        }
        if count > 0 {
            info!(job = %self.name(), bronze_version = ?report.input_version, rows_in = report.rows_in,
                  rows_out = report.rows_out, "silver increment committed");
        }
        Ok(report)
    }

    /// A run of several chunks into a table of single events remembers the keys the table
    /// held and those it writes, so that each chunk looks up only the keys it may repeat
    /// (fresh.rs) instead of every key written before it.
    async fn seen_keys(
        &self,
        lake: &Lake,
        out: &DeltaTable,
        chunks: usize,
    ) -> Result<Option<SeenKeys>> {
        if chunks < 2 || self.table.stitch.is_some() {
            return Ok(None);
        }
        let (_, rows) = files_and_rows(out)?;
        let mut seen = SeenKeys::new(rows.max(lake.chunk_rows().unwrap_or(0)));
        if rows > 0 {
            seen.insert_table(out, self.table.key()).await?;
        }
        Ok(Some(seen))
    }

    /// Refine one chunk and commit it with its checkpoint; `seen` as `seen_keys` made it.
    async fn run_chunk(
        &self,
        lake: &Lake,
        bronze: &DeltaTable,
        out: DeltaTable,
        chunk: Chunk,
        seen: Option<&mut SeenKeys>,
        report: &mut RunReport,
    ) -> Result<DeltaTable> {
        let mut txn = self.commit_properties(&chunk.consumed);
        if let Some((input, p)) = &chunk.progress {
            for t in self.spec().progress_transactions(input, *p) {
                txn = txn.with_application_transaction(t);
            }
        }
        let written = if chunk.urls.is_empty() {
            // Nothing for this table: still record the checkpoint so the increment is not
            // scanned again.
            self.checkpoint_only(out, txn).await
        } else {
            let ctx = crate::extract::session(lake)?;
            bronze
                .update_datafusion_session(&ctx.state())
                .map_err(|e| self.delta(e))?;
            let source = ctx
                .read_parquet(chunk.urls, ParquetReadOptions::default())
                .await
                .map_err(|e| self.query(e))?;
            let refined = self.refine_bronze(&ctx, source, None, None).await?;
            report.rows_in += refined.rows_in;
            let kept = self
                .enforce(
                    lake,
                    &ctx,
                    refined.schema.clone(),
                    refined.batches,
                    &refined.untyped,
                )
                .await?;
            report.untyped.merge(refined.untyped);
            let kept = match self.table.stitch {
                None => self.absent(&out, &kept, seen.as_deref()).await?,
                Some(_) => kept,
            };
            if let Some(seen) = seen {
                remember(seen, &kept, self.table.key()).map_err(|e| self.arrow(e))?;
            }
            self.merge(&ctx, out, refined.schema, kept, txn, report)
                .await
        };
        match written {
            Ok(t) => Ok(t),
            Err(DeltaTableError::Transaction { .. }) => Err(Error::Concurrent { job: self.name() }),
            Err(e) => Err(self.delta(e)),
        }
    }

    /// What this run consumes from both Bronze tables (the log as received, and quarantined
    /// records replayed later), in chunks of about the lake's `chunk_rows` Bronze rows: each
    /// chunk's files and the checkpoints that committing it records. Empty when neither
    /// table moved.
    async fn chunks(
        &self,
        lake: &Lake,
        bronze: &DeltaTable,
        out: &DeltaTable,
    ) -> Result<Vec<Chunk>> {
        let replayed = lake.open(&replayed_table()).await?;
        let mut at: Vec<(TableName, Option<u64>)> = Vec::new();
        let mut moved = Vec::new();
        for (name, table) in [
            (events_table(), Some(bronze)),
            (replayed_table(), replayed.as_ref()),
        ] {
            let Some(version) = table.and_then(DeltaTable::version) else {
                continue;
            };
            let checkpoint = self.spec().checkpoint(out, &name).await?;
            if checkpoint != Some(version) {
                moved.push((at.len(), table));
            }
            at.push((name, checkpoint));
        }
        let mut chunks = Vec::new();
        for (i, table) in moved.into_iter().filter_map(|(i, t)| Some((i, t?))) {
            let name = at[i].0.to_string();
            // A read from the start cut short resumes after its last committed piece.
            let resume = match at[i].1 {
                None => self.spec().snapshot_progress(out, &at[i].0).await?,
                Some(_) => None,
            };
            let pieces =
                increments_resuming(table, &name, at[i].1, resume, lake.chunk_rows()).await?;
            for piece in pieces {
                // A partial piece records its progress, not the checkpoint.
                if !piece.is_partial() {
                    at[i].1 = Some(piece.to);
                }
                let root = table.table_url().clone();
                chunks.push(Chunk {
                    consumed: at
                        .iter()
                        .filter_map(|(n, v)| v.map(|v| (n.clone(), v)))
                        .collect(),
                    progress: piece.progress.map(|p| (at[i].0.clone(), p)),
                    urls: piece
                        .added
                        .iter()
                        .filter_map(|f| root.join(&f.path).ok().map(|u| u.to_string()))
                        .collect(),
                });
            }
        }
        Ok(chunks)
    }
}

/// Part of an increment refined and committed at once.
struct Chunk {
    /// Each input's version once this chunk is committed (its checkpoints).
    consumed: Vec<(TableName, u64)>,
    /// For a partial piece of a read from the start: how far through the input it gets.
    progress: Option<(TableName, SnapshotProgress)>,
    /// The data files the chunk adds.
    urls: Vec<String>,
}

/// A refinement's rows, before expectations and the write.
pub(crate) struct Refined {
    pub rows_in: usize,
    pub schema: deltalake::arrow::datatypes::SchemaRef,
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
