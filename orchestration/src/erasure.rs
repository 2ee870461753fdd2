//! Erasure (`strata forget KEY=VALUE`): every row about one entity leaves the lake, and so
//! does every file and log entry that still holds it.
//!
//! 1. Plan: the ids of the Bronze events about the entity and the Silver days holding it,
//!    saved in the lake (`state`) before anything is deleted.
//! 2. Delete the rows that mention the value (`matcher`) from Bronze (raw bytes included),
//!    `bronze.replayed`, Silver (and the rows refined from the erased events) and
//!    `_strata.rejects`; redact it in the other `_strata` tables (quality samples, the run and
//!    audit logs), whose rows record what happened rather than data.
//! 3. Recompute the Gold days downstream of those Silver days (rolling windows included), then
//!    delete whatever Gold row still mentions the value.
//! 4. Purge (`purge`): old files and log entries.
//!
//! Each step is idempotent (a delete that matches nothing commits nothing; a recompute
//! writes the same rows), so running the same erasure again after a crash finishes it. Every
//! commit carries `strata.erasure` in its commit info; the value itself is never written.

mod matcher;
mod purge;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::prelude::{DataFrame, Expr, SessionContext, col, ident, lit, when};
use strata_pipelines::{Lake, SessionBuilder, TableName, audit::sha256_hex};
use tracing::info;

pub use matcher::{ErasedEntity, mentions};
pub use purge::Purged;
pub use state::ErasurePlan;

use crate::job::Job;
use crate::{Error, Result};

/// What to erase: `key=value`, the key one of the project's entity keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub key: String,
    pub value: String,
}

impl Request {
    /// Parse `KEY=VALUE`, refusing a key that names no entity.
    pub fn parse(text: &str, entity_keys: &[String]) -> Result<Self> {
        let (key, value) = text
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| Error::Erasure(format!("'{text}' is not KEY=VALUE")))?;
        if !entity_keys.iter().any(|k| k == key) {
            return Err(Error::Erasure(format!(
                "'{key}' is not an entity key of the project (entity keys: {})",
                entity_keys.join(", ")
            )));
        }
        Ok(Self {
            key: key.to_string(),
            value: value.to_string(),
        })
    }

    /// The SHA-256 of `key=value`: the erasure's id, and what the audit log records.
    pub fn id(&self) -> String {
        sha256_hex(&format!("{}={}", self.key, self.value))
    }
}

/// What happened to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableErasure {
    pub table: String,
    /// `deleted` or `redacted`.
    pub action: &'static str,
    pub rows: u64,
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErasureReport {
    pub id: String,
    pub key: String,
    /// An earlier run of the same erasure had begun.
    pub resumed: bool,
    pub tables: Vec<TableErasure>,
    /// Gold job -> days recomputed.
    pub recomputed: BTreeMap<String, usize>,
    pub purged: Vec<Purged>,
    /// Nothing of the entity is left (no job was behind on a table it reads).
    pub complete: bool,
}

/// Erase the entity in `request` from the lake. `jobs` are the project's (Gold days are
/// recomputed with them); `progress` hears about each step.
pub async fn forget(
    lake: &Lake,
    jobs: &[Arc<dyn Job>],
    request: &Request,
    mut progress: impl FnMut(&str),
) -> Result<ErasureReport> {
    let tables = lake.discover().await?;
    let (plan, resumed) = plan(lake, &tables, request).await?;
    let matcher = Arc::new(ErasedEntity::new(&request.value, plan.event_ids.clone()));
    let mut report = ErasureReport {
        id: plan.id.clone(),
        key: request.key.clone(),
        resumed,
        ..ErasureReport::default()
    };
    for name in tables.iter().filter(|t| t.layer != "gold") {
        if let Some(done) = erase_table(lake, name, &matcher, &plan.id).await? {
            progress(&format!(
                "{} {} rows of {}",
                done.action, done.rows, done.table
            ));
            report.tables.push(done);
        }
    }
    report.recomputed = recompute_gold(lake, jobs, &plan, &mut progress).await?;
    for name in tables.iter().filter(|t| t.layer == "gold") {
        if let Some(done) = erase_table(lake, name, &matcher, &plan.id).await? {
            progress(&format!(
                "{} {} rows of {}",
                done.action, done.rows, done.table
            ));
            report.tables.push(done);
        }
    }
    let mut vacuumed = Vec::new();
    for name in &tables {
        vacuumed.push(purge::vacuum(lake, name, plan.started_at).await?);
    }
    purge::advance_checkpoints(lake, jobs, &plan.id).await?;
    let readers = purge::readers(lake, jobs).await?;
    for (name, files) in tables.iter().zip(vacuumed) {
        let purged = purge::trim_log(lake, &readers, name, files).await?;
        progress(&format!("purged {name}"));
        report.purged.push(purged);
    }
    report.complete = report.purged.iter().all(|p| p.waiting_for.is_empty());
    if report.complete {
        state::remove(lake, &plan.id).await?;
    }
    Ok(report)
}

/// The plan an earlier run saved, or a new one saved now; with whether it was resumed.
async fn plan(lake: &Lake, tables: &[TableName], request: &Request) -> Result<(ErasurePlan, bool)> {
    let id = request.id();
    let earlier = state::load(lake, &id).await?;
    let resumed = earlier.is_some();
    let mut plan = earlier.unwrap_or_else(|| ErasurePlan {
        id: id.clone(),
        key: request.key.clone(),
        started_at: Utc::now(),
        event_ids: BTreeSet::new(),
        silver_days: BTreeMap::new(),
    });
    // A resumed run finds what the first one had not deleted yet, and keeps what it found.
    let only_value = Arc::new(ErasedEntity::new(&request.value, BTreeSet::new()));
    for name in tables.iter().filter(|t| t.layer == "bronze") {
        if let Some(found) = matching(lake, name, &only_value).await? {
            let ids = found.rows.filter(col("event_id").is_not_null())?;
            plan.event_ids.extend(strings(ids, "event_id").await?);
        }
    }
    let matcher = Arc::new(ErasedEntity::new(&request.value, plan.event_ids.clone()));
    for name in tables.iter().filter(|t| t.layer == "silver") {
        if let Some(found) = matching(lake, name, &matcher).await?
            && found
                .rows
                .schema()
                .has_column_with_unqualified_name("event_date")
        {
            let days = found.rows.select(vec![
                deltalake::datafusion::prelude::cast(col("event_date"), DataType::Utf8)
                    .alias("day"),
            ])?;
            let found = strings(days, "day").await?;
            if !found.is_empty() {
                plan.silver_days
                    .entry(name.to_string())
                    .or_default()
                    .extend(found);
            }
        }
    }
    state::save(lake, &plan).await?;
    info!(id = %plan.id, events = plan.event_ids.len(), resumed, "erasure planned");
    Ok((plan, resumed))
}

/// The text and binary columns of a table (those that can hold the value).
fn text_columns(table: &DeltaTable, name: &TableName) -> Result<Vec<(String, DataType)>> {
    let schema = table
        .snapshot()
        .map_err(|e| Error::delta(name, e))?
        .snapshot()
        .arrow_schema();
    Ok(schema
        .fields()
        .iter()
        .filter(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
            )
        })
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect())
}

/// A table with the text and binary columns that can hold the value, and the rows the
/// matcher finds there (lazily).
struct Matching {
    table: DeltaTable,
    columns: Vec<(String, DataType)>,
    rows: DataFrame,
}

impl Matching {
    fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(c, _)| c.clone()).collect()
    }
}

/// The rows of `name` the matcher finds; `None` for a missing table or one without text
/// columns.
async fn matching(
    lake: &Lake,
    name: &TableName,
    matcher: &Arc<ErasedEntity>,
) -> Result<Option<Matching>> {
    let Some(table) = lake.open(name).await? else {
        return Ok(None);
    };
    let columns = text_columns(&table, name)?;
    if columns.is_empty() {
        return Ok(None);
    }
    let ctx = SessionContext::new();
    SessionBuilder::register(&ctx, name, &table).await?;
    let names: Vec<String> = columns.iter().map(|(c, _)| c.clone()).collect();
    let rows = ctx
        .table(TableReference::partial(
            name.layer.as_str(),
            name.table.as_str(),
        ))
        .await?
        .filter(matcher.predicate(&names))?;
    Ok(Some(Matching {
        table,
        columns,
        rows,
    }))
}

/// The distinct values of one text column of `df`.
async fn strings(df: DataFrame, column: &str) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for batch in df.select(vec![col(column)])?.distinct()?.collect().await? {
        let text = cast(batch.column(0), &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        out.extend(
            (0..text.len())
                .filter(|&i| text.is_valid(i))
                .map(|i| text.value(i).to_string()),
        );
    }
    Ok(out)
}

/// `_strata` tables other than `rejects` record what happened; they keep their rows with
/// the value redacted.
fn redacts(name: &TableName) -> bool {
    name.layer == "_strata" && name.table != "rejects"
}

/// Delete (or redact) the rows of one table that the matcher finds; `None` when none.
async fn erase_table(
    lake: &Lake,
    name: &TableName,
    matcher: &Arc<ErasedEntity>,
    id: &str,
) -> Result<Option<TableErasure>> {
    let Some(found) = matching(lake, name, matcher).await? else {
        return Ok(None);
    };
    let rows = u64::try_from(found.rows.clone().count().await?).unwrap_or(u64::MAX);
    if rows == 0 {
        return Ok(None);
    }
    let predicate = matcher.predicate(&found.names());
    let (table, columns) = (found.table, found.columns);
    let props = purge::mark(id, "erase");
    let action = if redacts(name) {
        let mut update = table
            .update()
            .with_predicate(predicate)
            .with_commit_properties(props);
        for (c, t) in &columns {
            update = update.with_update(c.as_str(), redacted(matcher, c, t)?);
        }
        update.await.map_err(|e| Error::delta(name, e))?;
        "redacted"
    } else {
        table
            .delete()
            .with_predicate(predicate)
            .with_commit_properties(props)
            .await
            .map_err(|e| Error::delta(name, e))?;
        "deleted"
    };
    info!(table = %name, rows, action, "erased");
    Ok(Some(TableErasure {
        table: name.to_string(),
        action,
        rows,
    }))
}

/// A column's value with the entity redacted: `[erased]` for text, null for bytes.
fn redacted(matcher: &Arc<ErasedEntity>, column: &str, kind: &DataType) -> Result<Expr> {
    let replacement = match kind {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            lit(deltalake::datafusion::common::ScalarValue::Binary(None))
        }
        _ => lit("[erased]"),
    };
    Ok(when(matcher.predicate(&[column.to_string()]), replacement).otherwise(ident(column))?)
}

/// Step 3's recompute: every Gold day downstream of the Silver days the plan holds.
async fn recompute_gold(
    lake: &Lake,
    jobs: &[Arc<dyn Job>],
    plan: &ErasurePlan,
    progress: &mut impl FnMut(&str),
) -> Result<BTreeMap<String, usize>> {
    let mut changed: BTreeMap<TableName, BTreeSet<NaiveDate>> = BTreeMap::new();
    for (table, days) in &plan.silver_days {
        let parsed = days
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        changed.entry(table.parse()?).or_default().extend(parsed);
    }
    let by_name: BTreeMap<String, &Arc<dyn Job>> =
        jobs.iter().map(|j| (j.spec().name, j)).collect();
    let mut done = BTreeMap::new();
    for step in crate::backfill::downstream(jobs, &changed)? {
        let Some(job) = by_name.get(&step.job) else {
            continue;
        };
        let days: BTreeSet<String> = step.days.iter().cloned().collect();
        job.recompute(lake, &days, purge::mark(&plan.id, "recompute"))
            .await
            .map_err(|failure| Error::Job {
                job: step.job.clone(),
                failure,
            })?;
        progress(&format!("recomputed {} day(s) of {}", days.len(), step.job));
        done.insert(step.job.clone(), days.len());
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_an_entity_key_and_a_value() {
        let keys = vec!["agent_id".to_string(), "player_id".to_string()];
        let r = Request::parse("player_id=player-000042", &keys).unwrap();
        assert_eq!(
            (r.key.as_str(), r.value.as_str()),
            ("player_id", "player-000042")
        );
        assert_eq!(r.id(), sha256_hex("player_id=player-000042"));
        let e = Request::parse("event_id=e-1", &keys)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'event_id' is not an entity key") && e.contains("agent_id, player_id"),
            "{e}"
        );
        for bad in ["player_id", "player_id=", "=x", ""] {
            assert!(Request::parse(bad, &keys).is_err(), "{bad}");
        }
    }
}
