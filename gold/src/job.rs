//! The Gold job of one table: touched days from the Silver increments, recomputed in full.

use std::collections::BTreeSet;
use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::datafusion::common::{ScalarValue, TableReference};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::prelude::{Expr, SessionConfig, SessionContext, col, lit};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use strata_pipelines::{Lake, SessionBuilder, TableName, increment};
use strata_quality::Expectation;
use strata_quality::results::{Enforced, enforce};
use tracing::info;

use crate::{Error, Result};
use strata_project::GoldModel;

/// Whether a write replaces its days or the whole table (a rebuild's first write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whole {
    Days,
    Replace,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoldReport {
    pub job: String,
    /// Days recomputed (YYYY-MM-DD).
    pub days: Vec<String>,
    pub rows_out: usize,
    /// `(input table, version consumed)`.
    pub inputs: Vec<(String, u64)>,
    pub output_version: Option<u64>,
}

/// Builds one Gold table from its Silver inputs.
#[derive(Debug, Clone)]
pub struct GoldJob {
    table: GoldModel,
    expectations: Vec<Expectation>,
}

/// Strings read back through DataFusion are views; Delta tables store plain UTF-8.
fn plain_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                let t = match f.data_type() {
                    DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                    // Delta stores microseconds; feature times are UTC instants.
                    DataType::Timestamp(_, _) => {
                        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                    }
                    t => t.clone(),
                };
                Field::new(f.name(), t, f.is_nullable() || f.name() != "event_date")
            })
            .collect::<Vec<_>>(),
    ))
}

/// Each day and the `n` days after it (`forward`) or before it (dates as YYYY-MM-DD).
pub(crate) fn expand(days: &BTreeSet<String>, n: u32, forward: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in days {
        match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) => {
                for i in 0..=u64::from(n) {
                    let step = chrono::Days::new(i);
                    let x = if forward {
                        date.checked_add_days(step)
                    } else {
                        date.checked_sub_days(step)
                    };
                    if let Some(x) = x {
                        out.insert(x.format("%Y-%m-%d").to_string());
                    }
                }
            }
            Err(_) => {
                out.insert(d.clone());
            }
        }
    }
    out
}

impl GoldJob {
    /// A job with the model's declared expectations.
    pub fn new(table: GoldModel) -> Self {
        let expectations = table.expectations.clone();
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

    pub fn name(&self) -> String {
        self.table.job_name()
    }

    /// A change on day D changes days D ..= D + lookback (rolling windows).
    pub fn lookahead_days(&self) -> u32 {
        self.table.lookback_days
    }

    pub fn model(&self) -> &GoldModel {
        &self.table
    }

    /// Declared inputs and output (lineage comes from here).
    pub fn spec(&self) -> strata_pipelines::JobSpec {
        strata_pipelines::JobSpec {
            name: self.name(),
            inputs: self.table.inputs.clone(),
            output: self.table.table_name(),
            // Expectations that check references run after the referenced table's job.
            after: self
                .expectations
                .iter()
                .filter_map(|e| e.referenced_table()?.parse().ok())
                .collect(),
        }
    }

    fn delta(&self, e: DeltaTableError) -> Error {
        Error::Delta {
            job: self.name(),
            source: Box::new(e),
        }
    }

    fn query(&self, e: DataFusionError) -> Error {
        Error::Query {
            job: self.name(),
            source: Box::new(e),
        }
    }

    pub async fn run(&self, lake: &Lake) -> Result<GoldReport> {
        let mut report = GoldReport {
            job: self.name(),
            ..GoldReport::default()
        };
        let mut inputs = Vec::new();
        for name in self.table.inputs.clone() {
            let Some(t) = lake.open(&name).await? else {
                return Ok(report);
            };
            inputs.push((name, t));
        }
        let out = lake.open(&self.table.table_name()).await?;
        if let Some(o) = &out
            && let Some(stored) = self
                .declaration()
                .stored(o, &self.table.table_name())
                .await?
            && stored != self.declaration().version
        {
            return self.rebuild(lake, &inputs, o.clone(), report).await;
        }
        let mut days = BTreeSet::new();
        let mut advanced = false;
        let mut consumed = Vec::new();
        for (name, table) in &inputs {
            let Some(version) = table.version() else {
                continue;
            };
            report.inputs.push((name.to_string(), version));
            consumed.push((name.clone(), version));
            let since = match &out {
                Some(o) => self.spec().checkpoint(o, name).await?,
                None => None,
            };
            if since == Some(version) {
                continue;
            }
            advanced = true;
            let inc = increment(table, &name.to_string(), since).await?;
            days.extend(inc.partition_values("event_date"));
        }
        if !advanced && out.is_some() {
            return Ok(report);
        }
        if self.table.lookback_days > 0 {
            days = expand(&days, self.table.lookback_days, true);
        }
        report.days = days.iter().cloned().collect();
        let props = self.commit_properties(&consumed);
        let (rows, version) = self
            .write_chunked(lake, &inputs, out, &days, props, Whole::Days)
            .await?;
        report.rows_out = rows;
        report.output_version = version;
        info!(job = %self.name(), days = report.days.len(), first = ?report.days.first(),
              last = ?report.days.last(), rows = report.rows_out, "gold days recomputed");
        Ok(report)
    }

    /// Recompute the given days from the inputs' latest versions in one commit carrying
    /// `props` (a backfill's progress marker). The job's checkpoints are untouched.
    pub async fn recompute(
        &self,
        lake: &Lake,
        days: &BTreeSet<String>,
        props: CommitProperties,
    ) -> Result<(usize, Option<u64>)> {
        let mut inputs = Vec::new();
        for name in self.table.inputs.clone() {
            let Some(t) = lake.open(&name).await? else {
                return Ok((0, None));
            };
            inputs.push((name, t));
        }
        let out = lake.open(&self.table.table_name()).await?;
        self.write_days(lake, &inputs, out, days, props, Whole::Days)
            .await
    }

    /// A session where each input is the version whose increment was read, restricted to
    /// the days being computed and the model's lookback before them: the model's SQL is
    /// written over all history and never names the days.
    async fn session(
        &self,
        lake: &Lake,
        inputs: &[(TableName, DeltaTable)],
        days: &BTreeSet<String>,
    ) -> Result<SessionContext> {
        let state = SessionStateBuilder::new().with_default_features();
        let ctx = SessionBuilder::refine_context(lake, SessionConfig::new(), state)?;
        let read = date_literals(&expand(days, self.table.lookback_days, false));
        for (name, table) in inputs {
            SessionBuilder::register(&ctx, name, table).await?;
            let reference = TableReference::partial(name.layer.as_str(), name.table.as_str());
            let view = ctx
                .table(reference.clone())
                .await
                .and_then(|df| df.filter(col("event_date").in_list(read.clone(), false)))
                .map_err(|e| self.query(e))?
                .into_view();
            ctx.deregister_table(reference.clone())
                .and_then(|_| ctx.register_table(reference, view))
                .map_err(|e| self.query(e))?;
        }
        Ok(ctx)
    }

    /// Query the days from `inputs` and replace them in the output, in one commit.
    pub(crate) async fn write_days(
        &self,
        lake: &Lake,
        inputs: &[(TableName, DeltaTable)],
        out: Option<DeltaTable>,
        days: &BTreeSet<String>,
        props: CommitProperties,
        whole: Whole,
    ) -> Result<(usize, Option<u64>)> {
        let list = strata_silver::day_list(days);
        let ctx = self.session(lake, inputs, days).await?;
        let df = ctx
            .sql(&self.table.sql)
            .await
            .map_err(|e| self.query(e))?
            .filter(col("event_date").in_list(date_literals(days), false))
            .map_err(|e| self.query(e))?;
        let schema = plain_schema(df.schema().as_arrow());
        let batches: Vec<RecordBatch> = df
            .collect()
            .await
            .map_err(|e| self.query(e))?
            .into_iter()
            .map(|b| {
                let columns = b
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(c, f)| cast(c, f.data_type()))
                    .collect::<Result<Vec<_>, _>>()?;
                RecordBatch::try_new(schema.clone(), columns)
            })
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Arrow {
                job: self.name(),
                source: Box::new(e),
            })?;
        let batches = match enforce(
            lake,
            &ctx,
            &self.table.table_name(),
            schema.clone(),
            batches,
            &self.expectations,
            Vec::new(),
        )
        .await
        .map_err(|source| Error::Quality {
            job: self.name(),
            source,
        })? {
            Enforced::Write(kept) => kept,
            Enforced::Stop(failure) => {
                return Err(Error::Expectations {
                    job: self.name(),
                    failure,
                });
            }
        };
        let rows = batches.iter().map(RecordBatch::num_rows).sum();

        let out = match out {
            Some(o) => o,
            None => {
                lake.ensure_table(&self.table.table_name(), schema.clone(), &["event_date"])
                    .await?
            }
        };
        let write = if whole == Whole::Replace {
            // A rebuild's first write: the table becomes these days, in the model's schema.
            let batches = match batches.first() {
                Some(_) => batches,
                None => vec![RecordBatch::new_empty(schema)],
            };
            out.write(batches)
                .with_save_mode(SaveMode::Overwrite)
                .with_schema_mode(SchemaMode::Overwrite)
        } else if days.is_empty() {
            out.write(vec![RecordBatch::new_empty(schema)])
                .with_save_mode(SaveMode::Append)
        } else {
            // No rows for these days: the overwrite still removes what they held.
            let batches = if batches.is_empty() {
                vec![RecordBatch::new_empty(schema)]
            } else {
                batches
            };
            out.write(batches)
                .with_save_mode(SaveMode::Overwrite)
                .with_replace_where(format!("event_date IN ({list})"))
        };
        let written = write
            .with_partition_columns(["event_date"])
            .with_commit_properties(props)
            .await;
        match written {
            Ok(t) => Ok((rows, t.version())),
            Err(DeltaTableError::Transaction { .. }) => Err(Error::Concurrent { job: self.name() }),
            Err(e) => Err(self.delta(e)),
        }
    }
}

/// `YYYY-MM-DD` days as DATE literals (days that do not parse are skipped).
fn date_literals(days: &BTreeSet<String>) -> Vec<Expr> {
    let epoch = chrono::NaiveDate::default();
    days.iter()
        .filter_map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .filter_map(|d| i32::try_from((d - epoch).num_days()).ok())
        .map(|n| lit(ScalarValue::Date32(Some(n))))
        .collect()
}
