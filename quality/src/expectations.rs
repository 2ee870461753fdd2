//! Expectations: declarative data-quality rules checked on every batch a refinement job is
//! about to write, evaluated by DataFusion.
//!
//! Row rules (`not_null`, `unique`, `accepted_values`, `range`, `regex`, `references`, `sql`)
//! compile to one SQL boolean per row; batch rules (`row_count`, `freshness`) to one per batch.
//! `warn` counts, `drop` moves failing rows to `_strata.rejects`, `fail` stops the job before
//! it commits. A threshold (`max_failure_fraction`) makes `fail` tolerate that fraction, and
//! makes `drop` fail the job when more rows than that would be dropped.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What happens to rows (or a batch) failing an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Warn,
    Drop,
    Fail,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Warn => "warn",
            Action::Drop => "drop",
            Action::Fail => "fail",
        }
    }
}

/// The rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    NotNull {
        column: String,
    },
    /// Unique within the batch (a job's MERGE key makes its key unique table-wide).
    Unique {
        column: String,
    },
    AcceptedValues {
        column: String,
        values: Vec<String>,
    },
    Range {
        column: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    Regex {
        column: String,
        pattern: String,
    },
    /// Every non-null value exists in `table.key`.
    References {
        column: String,
        table: String,
        key: String,
    },
    /// Any SQL boolean over the row; NULL counts as a failure.
    Sql {
        expr: String,
    },
    /// Rows in the batch.
    RowCount {
        min: Option<u64>,
        max: Option<u64>,
    },
    /// The newest value of a timestamp column is at most this old.
    Freshness {
        column: String,
        max_age_s: u64,
    },
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::NotNull { .. } => "not_null",
            Check::Unique { .. } => "unique",
            Check::AcceptedValues { .. } => "accepted_values",
            Check::Range { .. } => "range",
            Check::Regex { .. } => "regex",
            Check::References { .. } => "references",
            Check::Sql { .. } => "sql",
            Check::RowCount { .. } => "row_count",
            Check::Freshness { .. } => "freshness",
        }
    }

    fn is_batch_level(&self) -> bool {
        matches!(self, Check::RowCount { .. } | Check::Freshness { .. })
    }
}

/// One named expectation on a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub name: String,
    pub check: Check,
    pub action: Action,
    /// Fraction of rows allowed to fail before the job fails (fail and drop); 0 when unset.
    #[serde(default)]
    pub max_failure_fraction: Option<f64>,
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Expectation {
    /// The table this expectation reads besides the batch (`references`), as written.
    pub fn referenced_table(&self) -> Option<&str> {
        match &self.check {
            Check::References { table, .. } => Some(table),
            _ => None,
        }
    }

    pub fn new(name: impl Into<String>, check: Check, action: Action) -> Self {
        Self {
            name: name.into(),
            check,
            action,
            max_failure_fraction: None,
        }
    }

    pub fn with_threshold(mut self, fraction: f64) -> Self {
        self.max_failure_fraction = Some(fraction);
        self
    }

    /// Refuse what cannot be evaluated, naming the expectation.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| {
            Err(Error::Expectation {
                name: self.name.clone(),
                message: m,
            })
        };
        if self.name.trim().is_empty() {
            return bad("the name is empty".into());
        }
        if let Some(f) = self.max_failure_fraction
            && !(0.0..=1.0).contains(&f)
        {
            return bad(format!("max_failure_fraction {f} is not within 0..1"));
        }
        if self.check.is_batch_level() && self.action == Action::Drop {
            return bad(format!(
                "{} applies to a whole batch: its action is warn or fail, not drop",
                self.check.kind()
            ));
        }
        match &self.check {
            Check::AcceptedValues { values, .. } if values.is_empty() => {
                bad("accepted_values needs at least one value".into())
            }
            Check::Range {
                min: None,
                max: None,
                ..
            } => bad("range needs min, max or both".into()),
            Check::References { table, .. }
                if table.parse::<strata_pipelines::TableName>().is_err() =>
            {
                bad(format!("references table '{table}' is not layer.table"))
            }
            _ => Ok(()),
        }
    }

    /// The row predicate, true when the row passes (never NULL).
    fn row_sql(&self) -> String {
        match &self.check {
            Check::NotNull { column } => format!("{} IS NOT NULL", quote_ident(column)),
            // Evaluated from their offending values, not per row.
            Check::Unique { .. } | Check::References { .. } => "true".into(),
            Check::AcceptedValues { column, values } => {
                let c = quote_ident(column);
                let list: Vec<String> = values.iter().map(|v| quote_lit(v)).collect();
                format!(
                    "({c} IS NULL OR CAST({c} AS VARCHAR) IN ({}))",
                    list.join(", ")
                )
            }
            Check::Range { column, min, max } => {
                let c = quote_ident(column);
                let mut parts = Vec::new();
                if let Some(m) = min {
                    parts.push(format!("CAST({c} AS DOUBLE) >= {m:?}"));
                }
                if let Some(m) = max {
                    parts.push(format!("CAST({c} AS DOUBLE) <= {m:?}"));
                }
                format!("({c} IS NULL OR ({}))", parts.join(" AND "))
            }
            Check::Regex { column, pattern } => {
                let c = quote_ident(column);
                format!(
                    "({c} IS NULL OR regexp_like(CAST({c} AS VARCHAR), {}))",
                    quote_lit(pattern)
                )
            }
            Check::Sql { expr } => format!("coalesce(({expr}), false)"),
            Check::RowCount { .. } | Check::Freshness { .. } => "true".into(),
        }
    }
}

/// How one expectation fared on one batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectationResult {
    pub name: String,
    pub kind: &'static str,
    pub action: Action,
    pub rows_checked: u64,
    pub rows_failed: u64,
    pub threshold: f64,
    /// `passed`, `warned`, `dropped` or `failed`.
    pub outcome: &'static str,
    /// Up to five failing rows as JSON (or the batch figure for batch rules).
    pub samples: Vec<String>,
}

impl ExpectationResult {
    pub fn failure_fraction(&self) -> f64 {
        if self.rows_checked == 0 {
            0.0
        } else {
            self.rows_failed as f64 / self.rows_checked as f64
        }
    }
}

/// A batch after its expectations.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Rows to write.
    pub kept: Vec<RecordBatch>,
    /// Rows dropped, as JSON objects, with the names of the expectations they failed.
    pub rejected: Vec<(String, String)>,
    pub results: Vec<ExpectationResult>,
}

impl Checked {
    /// The expectations that stop the job.
    pub fn failures(&self) -> Vec<&ExpectationResult> {
        self.results
            .iter()
            .filter(|r| r.outcome == "failed")
            .collect()
    }
}

/// A failed `fail` expectation, as the job reports it.
#[derive(Debug, Clone)]
pub struct QualityFailure {
    pub table: String,
    pub results: Vec<ExpectationResult>,
}

impl fmt::Display for QualityFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.table)?;
        for (i, r) in self.results.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(
                f,
                "expectation '{}' ({}) failed on {} of {} rows ({:.2}%, allowed {:.2}%)",
                r.name,
                r.kind,
                r.rows_failed,
                r.rows_checked,
                r.failure_fraction() * 100.0,
                r.threshold * 100.0
            )?;
            if !r.samples.is_empty() {
                write!(f, "; samples: {}", r.samples.join(" "))?;
            }
        }
        Ok(())
    }
}

fn rows_as_json(batch: &RecordBatch) -> Result<Vec<String>> {
    let mut buf = Vec::new();
    {
        let mut w = deltalake::arrow::json::LineDelimitedWriter::new(&mut buf);
        w.write(batch)?;
        w.finish()?;
    }
    Ok(String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Evaluate `expectations` on `batches`. `ctx` resolves the tables `references` rules name
/// (register them as `layer.table`). Batches with no rows still get batch-level checks.
pub async fn check(
    ctx: &SessionContext,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    expectations: &[Expectation],
) -> Result<Checked> {
    if expectations.is_empty() {
        return Ok(Checked {
            kept: batches,
            rejected: Vec::new(),
            results: Vec::new(),
        });
    }
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut results = Vec::new();
    let row_rules: Vec<&Expectation> = expectations
        .iter()
        .filter(|e| !e.check.is_batch_level())
        .collect();

    // Batch rules.
    for e in expectations.iter().filter(|e| e.check.is_batch_level()) {
        let (ok, sample) = match &e.check {
            Check::RowCount { min, max } => (
                min.is_none_or(|m| rows >= m) && max.is_none_or(|m| rows <= m),
                format!("{{\"rows\":{rows}}}"),
            ),
            Check::Freshness { column, max_age_s } => {
                let table = Arc::new(MemTable::try_new(schema.clone(), vec![batches.clone()])?);
                let tmp = SessionContext::new();
                tmp.register_table("__batch", table)?;
                let out = tmp
                    .sql(&format!(
                        "SELECT CAST(max({c}) AS VARCHAR) AS newest, \
                         coalesce(max({c}) >= now() - INTERVAL '{max_age_s} seconds', false) AS fresh \
                         FROM __batch",
                        c = quote_ident(column)
                    ))
                    .await?
                    .collect()
                    .await?;
                let b = out.first();
                let fresh = b
                    .and_then(|b| {
                        b.column(1)
                            .as_boolean_opt()
                            .map(|a| a.is_valid(0) && a.value(0))
                    })
                    .unwrap_or(false);
                let newest = b
                    .and_then(|b| {
                        let a = b.column(0).as_string_opt::<i32>()?;
                        a.is_valid(0).then(|| a.value(0).to_string())
                    })
                    .unwrap_or_else(|| "none".into());
                (
                    fresh,
                    format!("{{\"newest\":\"{newest}\",\"max_age_s\":{max_age_s}}}"),
                )
            }
            _ => (true, String::new()),
        };
        let failed = u64::from(!ok);
        let threshold = e.max_failure_fraction.unwrap_or(0.0);
        results.push(ExpectationResult {
            name: e.name.clone(),
            kind: e.check.kind(),
            action: e.action,
            rows_checked: 1,
            rows_failed: failed,
            threshold,
            outcome: match (ok, e.action) {
                (true, _) => "passed",
                (false, Action::Fail) => "failed",
                (false, _) => "warned",
            },
            samples: if ok { Vec::new() } else { vec![sample] },
        });
    }

    if row_rules.is_empty() || rows == 0 {
        for e in &row_rules {
            results.push(ExpectationResult {
                name: e.name.clone(),
                kind: e.check.kind(),
                action: e.action,
                rows_checked: 0,
                rows_failed: 0,
                threshold: e.max_failure_fraction.unwrap_or(0.0),
                outcome: "passed",
                samples: Vec::new(),
            });
        }
        return Ok(Checked {
            kept: batches,
            rejected: Vec::new(),
            results,
        });
    }

    // Row rules: one projection with a pass/fail column per rule.
    let table = Arc::new(MemTable::try_new(schema.clone(), vec![batches])?);
    ctx.deregister_table("__batch")?;
    ctx.register_table("__batch", table)?;
    // `unique` and `references` first find their offending values with one aggregate (or
    // anti join) each; usually none, so the rows need no further look.
    let mut offending: Vec<Option<std::collections::HashSet<String>>> = Vec::new();
    let mut flags = Vec::new();
    for (i, e) in row_rules.iter().enumerate() {
        let set_sql = match &e.check {
            Check::Unique { column } => Some(format!(
                "SELECT CAST({c} AS VARCHAR) FROM __batch WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1",
                c = quote_ident(column)
            )),
            Check::References { column, table, key } => {
                let (layer, name) = table.split_once('.').unwrap_or(("", table.as_str()));
                Some(format!(
                    "SELECT DISTINCT CAST(b.{c} AS VARCHAR) FROM __batch b LEFT ANTI JOIN \
                     (SELECT {k} AS __ref FROM {l}.{n}) r ON b.{c} = r.__ref WHERE b.{c} IS NOT NULL",
                    c = quote_ident(column),
                    k = quote_ident(key),
                    l = quote_ident(layer),
                    n = quote_ident(name),
                ))
            }
            _ => None,
        };
        match set_sql {
            Some(q) => {
                let mut set = std::collections::HashSet::new();
                for b in ctx.sql(&q).await?.collect().await? {
                    let c = deltalake::arrow::compute::cast(
                        b.column(0),
                        &deltalake::arrow::datatypes::DataType::Utf8,
                    )?;
                    let c = c.as_string::<i32>();
                    for r in 0..c.len() {
                        if c.is_valid(r) {
                            set.insert(c.value(r).to_string());
                        }
                    }
                }
                offending.push(Some(set));
                flags.push(format!("true AS __ok{i}"));
            }
            None => {
                offending.push(None);
                flags.push(format!("{} AS __ok{i}", e.row_sql()));
            }
        }
    }
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("b.{}", quote_ident(f.name())))
        .collect();
    let sql = format!(
        "SELECT {}, {} FROM __batch b",
        columns.join(", "),
        flags.join(", ")
    );
    let evaluated = ctx.sql(&sql).await?.collect().await?;
    ctx.deregister_table("__batch")?;

    let n_cols = schema.fields().len();
    let mut failed = vec![0u64; row_rules.len()];
    let mut samples: Vec<Vec<String>> = vec![Vec::new(); row_rules.len()];
    let mut kept = Vec::new();
    let mut rejected = Vec::new();
    for b in &evaluated {
        let data = RecordBatch::try_new(schema.clone(), b.columns()[..n_cols].to_vec())?;
        let oks: Vec<&BooleanArray> = (0..row_rules.len())
            .map(|i| b.column(n_cols + i).as_boolean())
            .collect();
        // The checked column as text, for rules with offending values.
        let mut texts: Vec<Option<deltalake::arrow::array::ArrayRef>> = Vec::new();
        for (i, e) in row_rules.iter().enumerate() {
            let column = match &e.check {
                Check::Unique { column } | Check::References { column, .. } => Some(column),
                _ => None,
            };
            texts.push(match (column, &offending[i]) {
                (Some(c), Some(set)) if !set.is_empty() => {
                    let col = data.column_by_name(c).ok_or_else(|| Error::Expectation {
                        name: e.name.clone(),
                        message: format!("no column '{c}'"),
                    })?;
                    Some(deltalake::arrow::compute::cast(
                        col,
                        &deltalake::arrow::datatypes::DataType::Utf8,
                    )?)
                }
                _ => None,
            });
        }
        let mut keep = Vec::with_capacity(b.num_rows());
        let mut drop_reasons: Vec<Option<BTreeSet<&str>>> = vec![None; b.num_rows()];
        for (r, reason) in drop_reasons.iter_mut().enumerate() {
            let mut keep_row = true;
            for (i, e) in row_rules.iter().enumerate() {
                let ok = match (&texts[i], &offending[i]) {
                    (Some(t), Some(set)) => {
                        let t = t.as_string::<i32>();
                        t.is_null(r) || !set.contains(t.value(r))
                    }
                    _ => oks[i].is_valid(r) && oks[i].value(r),
                };
                if ok {
                    continue;
                }
                failed[i] += 1;
                if samples[i].len() < 5 {
                    let one = data.slice(r, 1);
                    samples[i].extend(rows_as_json(&one)?);
                }
                if e.action == Action::Drop {
                    keep_row = false;
                    reason
                        .get_or_insert_with(BTreeSet::new)
                        .insert(e.name.as_str());
                }
            }
            keep.push(keep_row);
        }
        let mask = BooleanArray::from(keep.clone());
        kept.push(filter_record_batch(&data, &mask)?);
        if keep.iter().any(|k| !k) {
            let dropped = filter_record_batch(&data, &deltalake::arrow::compute::not(&mask)?)?;
            let json = rows_as_json(&dropped)?;
            let reasons = drop_reasons.into_iter().flatten();
            for (row, names) in json.into_iter().zip(reasons) {
                rejected.push((names.into_iter().collect::<Vec<_>>().join(","), row));
            }
        }
    }
    for (i, e) in row_rules.iter().enumerate() {
        let threshold = e.max_failure_fraction.unwrap_or(0.0);
        let fraction = failed[i] as f64 / rows as f64;
        let outcome = match (failed[i], e.action) {
            (0, _) => "passed",
            (_, Action::Warn) => "warned",
            (_, Action::Drop) if e.max_failure_fraction.is_none_or(|t| fraction <= t) => "dropped",
            (_, Action::Fail) if fraction <= threshold => "warned",
            _ => "failed",
        };
        results.push(ExpectationResult {
            name: e.name.clone(),
            kind: e.check.kind(),
            action: e.action,
            rows_checked: rows,
            rows_failed: failed[i],
            threshold,
            outcome,
            samples: std::mem::take(&mut samples[i]),
        });
    }
    Ok(Checked {
        kept,
        rejected,
        results,
    })
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::array::{Float64Array, Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("amount", DataType::Int64, true),
            Field::new("currency", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a-1"),
                    Some("a-2"),
                    Some("a-2"),
                    None,
                    Some("bad id"),
                ])),
                Arc::new(Int64Array::from(vec![
                    Some(5),
                    Some(-1),
                    Some(3),
                    Some(7),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    Some("GEMS"),
                    Some("GEMS"),
                    Some("GOLD"),
                    Some("SCRAP"),
                    Some("GEMS"),
                ])),
                Arc::new(Float64Array::from(vec![0.1, 0.5, 0.9, 1.5, 0.2])),
            ],
        )
        .unwrap();
        (schema, vec![b])
    }

    async fn run(expectations: Vec<Expectation>) -> Checked {
        let (schema, batches) = batch();
        for e in &expectations {
            e.validate().unwrap();
        }
        check(&SessionContext::new(), schema, batches, &expectations)
            .await
            .unwrap()
    }

    fn col(s: &str) -> String {
        s.to_string()
    }

    #[tokio::test]
    async fn each_rule_counts_its_failures() {
        let c = run(vec![
            Expectation::new(
                "id_present",
                Check::NotNull { column: col("id") },
                Action::Warn,
            ),
            Expectation::new(
                "id_unique",
                Check::Unique { column: col("id") },
                Action::Warn,
            ),
            Expectation::new(
                "currency",
                Check::AcceptedValues {
                    column: col("currency"),
                    values: vec![col("GEMS"), col("SCRAP")],
                },
                Action::Warn,
            ),
            Expectation::new(
                "amount_positive",
                Check::Range {
                    column: col("amount"),
                    min: Some(0.0),
                    max: None,
                },
                Action::Warn,
            ),
            Expectation::new(
                "id_format",
                Check::Regex {
                    column: col("id"),
                    pattern: col("^a-[0-9]+$"),
                },
                Action::Warn,
            ),
            Expectation::new(
                "score_le_1",
                Check::Sql {
                    expr: col("score <= 1.0"),
                },
                Action::Warn,
            ),
            Expectation::new(
                "rows",
                Check::RowCount {
                    min: Some(10),
                    max: None,
                },
                Action::Warn,
            ),
        ])
        .await;
        let failed: Vec<(&str, u64, &str)> = c
            .results
            .iter()
            .map(|r| (r.name.as_str(), r.rows_failed, r.outcome))
            .collect();
        assert!(failed.contains(&("id_present", 1, "warned")), "{failed:?}");
        assert!(failed.contains(&("id_unique", 2, "warned")), "{failed:?}");
        assert!(failed.contains(&("currency", 1, "warned")), "{failed:?}");
        assert!(
            failed.contains(&("amount_positive", 1, "warned")),
            "{failed:?}"
        );
        assert!(failed.contains(&("id_format", 1, "warned")), "{failed:?}");
        assert!(failed.contains(&("score_le_1", 1, "warned")), "{failed:?}");
        assert!(failed.contains(&("rows", 1, "warned")), "{failed:?}");
        // Warn keeps every row.
        assert_eq!(c.kept.iter().map(RecordBatch::num_rows).sum::<usize>(), 5);
        assert!(c.rejected.is_empty());
        let sample = &c
            .results
            .iter()
            .find(|r| r.name == "currency")
            .unwrap()
            .samples;
        assert!(sample[0].contains("\"GOLD\""), "{sample:?}");
    }

    #[tokio::test]
    async fn drop_moves_rows_to_rejects_with_their_expectations() {
        let c = run(vec![
            Expectation::new(
                "amount_positive",
                Check::Range {
                    column: col("amount"),
                    min: Some(0.0),
                    max: None,
                },
                Action::Drop,
            ),
            Expectation::new(
                "currency",
                Check::AcceptedValues {
                    column: col("currency"),
                    values: vec![col("GEMS"), col("SCRAP")],
                },
                Action::Drop,
            ),
        ])
        .await;
        assert_eq!(c.kept.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
        assert_eq!(c.rejected.len(), 2);
        assert!(
            c.rejected
                .iter()
                .any(|(e, row)| e == "amount_positive" && row.contains("-1"))
        );
        assert!(
            c.rejected
                .iter()
                .any(|(e, row)| e == "currency" && row.contains("GOLD"))
        );
        assert!(c.failures().is_empty());
    }

    #[tokio::test]
    async fn fail_and_thresholds() {
        let fail = |t: Option<f64>| {
            let e = Expectation::new(
                "amount_positive",
                Check::Range {
                    column: col("amount"),
                    min: Some(0.0),
                    max: None,
                },
                Action::Fail,
            );
            match t {
                Some(t) => e.with_threshold(t),
                None => e,
            }
        };
        // 1 of 5 rows fails: 20 %.
        assert_eq!(run(vec![fail(None)]).await.failures().len(), 1);
        assert_eq!(run(vec![fail(Some(0.1))]).await.failures().len(), 1);
        let tolerated = run(vec![fail(Some(0.25))]).await;
        assert!(tolerated.failures().is_empty());
        assert_eq!(tolerated.results[0].outcome, "warned");
        // A drop over its threshold fails the job.
        let drop = Expectation::new(
            "amount_positive",
            Check::Range {
                column: col("amount"),
                min: Some(0.0),
                max: None,
            },
            Action::Drop,
        )
        .with_threshold(0.1);
        assert_eq!(run(vec![drop]).await.failures().len(), 1);
        let failure = QualityFailure {
            table: col("silver.x"),
            results: run(vec![fail(None)]).await.results,
        };
        let text = failure.to_string();
        assert!(
            text.contains("expectation 'amount_positive' (range) failed on 1 of 5 rows (20.00%, allowed 0.00%)"),
            "{text}"
        );
        assert!(text.contains("\"amount\":-1"), "{text}");
    }

    #[test]
    fn bad_declarations_are_refused_by_name() {
        let e = Expectation::new(
            "r",
            Check::RowCount {
                min: Some(1),
                max: None,
            },
            Action::Drop,
        )
        .validate()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("expectation 'r'") && e.contains("not drop"),
            "{e}"
        );
        let e = Expectation::new("t", Check::NotNull { column: col("x") }, Action::Fail)
            .with_threshold(2.0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_failure_fraction 2"), "{e}");
    }
}
