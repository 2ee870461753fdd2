//! One run of a Silver job: everything both Bronze tables gained since its checkpoint, in
//! chunks of about the lake's `chunk_rows` rows of the table's own events. The increment is
//! read in pieces of about `chunk_rows` Bronze rows; consecutive pieces are decoded until one
//! more would take them past `chunk_rows` of the table's events, which are then refined and
//! committed with the checkpoint of the last piece. A table that takes a tenth of the events commits a tenth as
//! often, so it MERGEs (stitched) and checks references a tenth as often, in the same memory.

use deltalake::datafusion::prelude::ParquetReadOptions;
use deltalake::{DeltaTable, DeltaTableError};
use strata_bronze::{events_table, replayed_table};
use strata_pipelines::keys::SeenKeys;
use strata_pipelines::{Lake, SnapshotProgress, TableName, files_and_rows, increments_resuming};
use tracing::info;

use crate::fresh::remember;
use crate::job::{Decoded, RunReport, SilverJob};
use crate::{Error, Result};

/// A piece of the increment, as read from Bronze.
struct Piece {
    /// Each input's version once this piece is committed (its checkpoints).
    consumed: Vec<(TableName, u64)>,
    /// For a partial piece of a read from the start: how far through the input it gets.
    progress: Option<(TableName, SnapshotProgress)>,
    /// The data files the piece adds.
    urls: Vec<String>,
}

/// Pieces decoded and not yet committed.
struct Chunk {
    /// Where the last piece taken leaves the inputs.
    last: Piece,
    /// `None` when no piece had files to read.
    decoded: Option<Decoded>,
}

impl Chunk {
    /// The chunk `piece` (and its rows) starts or joins.
    fn take(chunk: Option<Chunk>, piece: Piece, decoded: Option<Decoded>) -> Chunk {
        let Some(mut c) = chunk else {
            return Chunk {
                last: piece,
                decoded,
            };
        };
        c.last = piece;
        match (&mut c.decoded, decoded) {
            (Some(d), Some(more)) => d.absorb(more),
            (d @ None, more) => *d = more,
            (Some(_), None) => {}
        }
        c
    }

    fn rows(&self) -> usize {
        self.decoded.as_ref().map_or(0, Decoded::rows)
    }
}

impl SilverJob {
    /// Run one increment: everything Bronze gained since this job's checkpoint.
    pub async fn run(&self, lake: &Lake) -> Result<RunReport> {
        let mut report = RunReport {
            job: self.name(),
            ..RunReport::default()
        };
        let Some(bronze) = lake.open(&events_table()).await? else {
            return Ok(report);
        };
        let out = self.output(lake).await?;
        report.checkpoint = self.spec().checkpoint(&out, &events_table()).await?;
        if report.checkpoint.is_some()
            && let Some(stored) = self
                .declaration()
                .stored(&out, &self.table().table_name())
                .await?
            && stored != self.declaration().version
        {
            self.rebuild(out).await?;
            return Box::pin(self.run(lake)).await;
        }
        report.input_version = bronze.version();
        let pieces = self.pieces(lake, &bronze, &out).await?;
        self.run_pieces(lake, &bronze, out, pieces, &mut report)
            .await?;
        if report.output_version.is_some() {
            info!(job = %self.name(), bronze_version = ?report.input_version, rows_in = report.rows_in,
                  rows_out = report.rows_out, "silver increment committed");
        }
        Ok(report)
    }

    /// Decode the pieces in order, committing a chunk whenever one more piece would take its
    /// decoded rows past `chunk_rows`, and after the last piece.
    async fn run_pieces(
        &self,
        lake: &Lake,
        bronze: &DeltaTable,
        mut out: DeltaTable,
        pieces: Vec<Piece>,
        report: &mut RunReport,
    ) -> Result<()> {
        let limit = lake
            .chunk_rows()
            .map_or(usize::MAX, |r| usize::try_from(r).unwrap_or(usize::MAX));
        let (count, mut committed) = (pieces.len(), 0);
        let mut seen: Option<SeenKeys> = None;
        let mut chunk = None;
        for (i, piece) in pieces.into_iter().enumerate() {
            let decoded = self.decode_piece(lake, bronze, &piece.urls).await?;
            let rows = decoded.as_ref().map_or(0, Decoded::rows);
            let c = Chunk::take(chunk.take(), piece, decoded);
            // Commit before a next piece like this one would take the chunk past the bound.
            if c.rows().saturating_add(rows) <= limit && i + 1 < count {
                chunk = Some(c);
                continue;
            }
            // A run's second chunk on remembers the keys written so far (fresh.rs).
            if committed > 0 && seen.is_none() && self.table().stitch.is_none() {
                seen = Some(self.seen_keys(lake, &out).await?);
            }
            out = self
                .commit_chunk(lake, out, c, seen.as_mut(), report)
                .await?;
            committed += 1;
            report.output_version = out.version();
            if count > 1 {
                info!(job = %self.name(), pieces_read = i + 1, of = count, rows_out = report.rows_out,
                      "silver chunk committed");
            }
        }
        Ok(())
    }

    /// The keys `out` holds, in a filter to which each later chunk adds its own.
    async fn seen_keys(&self, lake: &Lake, out: &DeltaTable) -> Result<SeenKeys> {
        let (_, rows) = files_and_rows(out)?;
        let mut seen = SeenKeys::new(rows.max(lake.chunk_rows().unwrap_or(0)));
        if rows > 0 {
            seen.insert_table(out, self.table().key()).await?;
        }
        Ok(seen)
    }

    /// The valid rows of this table's events in `urls` (Bronze files), decoded.
    async fn decode_piece(
        &self,
        lake: &Lake,
        bronze: &DeltaTable,
        urls: &[String],
    ) -> Result<Option<Decoded>> {
        if urls.is_empty() {
            return Ok(None);
        }
        let ctx = crate::extract::session(lake)?;
        bronze
            .update_datafusion_session(&ctx.state())
            .map_err(|e| self.delta(e))?;
        let source = ctx
            .read_parquet(urls.to_vec(), ParquetReadOptions::default())
            .await
            .map_err(|e| self.query(e))?;
        Ok(Some(self.decode_bronze(source, None).await?))
    }

    /// Refine a chunk's rows and commit them with its checkpoint; `seen` as `seen_keys`
    /// made it, when the run already committed a chunk.
    async fn commit_chunk(
        &self,
        lake: &Lake,
        out: DeltaTable,
        chunk: Chunk,
        seen: Option<&mut SeenKeys>,
        report: &mut RunReport,
    ) -> Result<DeltaTable> {
        let mut txn = self.commit_properties(&chunk.last.consumed);
        if let Some((input, p)) = &chunk.last.progress {
            for t in self.spec().progress_transactions(input, *p) {
                txn = txn.with_application_transaction(t);
            }
        }
        let written = match chunk.decoded {
            // Nothing for this table: still record the checkpoint so the increment is not
            // scanned again.
            None => self.checkpoint_only(out, txn).await,
            Some(decoded) => {
                let ctx = crate::extract::session(lake)?;
                let refined = self.refine_decoded(&ctx, decoded, None).await?;
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
                let kept = match self.table().stitch {
                    None => self.absent(&out, &kept, seen.as_deref()).await?,
                    Some(_) => kept,
                };
                if let Some(seen) = seen {
                    remember(seen, &kept, self.table().key()).map_err(|e| self.arrow(e))?;
                }
                self.merge(&ctx, out, refined.schema, kept, txn, report)
                    .await
            }
        };
        match written {
            Ok(t) => Ok(t),
            Err(DeltaTableError::Transaction { .. }) => Err(Error::Concurrent { job: self.name() }),
            Err(e) => Err(self.delta(e)),
        }
    }

    /// What this run consumes from both Bronze tables (the log as received, and quarantined
    /// records replayed later), in pieces of about the lake's `chunk_rows` Bronze rows: each
    /// piece's files and the checkpoints that committing it records. Empty when neither
    /// table moved.
    async fn pieces(
        &self,
        lake: &Lake,
        bronze: &DeltaTable,
        out: &DeltaTable,
    ) -> Result<Vec<Piece>> {
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
                chunks.push(Piece {
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
