//! Following a view's table by its Delta log: after version `since`, the rows of the files
//! added (data changes only; compaction rewrites nothing the store holds) and the entity and
//! timestamp of the rows in the files removed (a Gold day rewritten). Reading those files
//! alone keeps a refresh proportional to what changed, not to the table.

use std::collections::HashMap;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast as cast_array;
use deltalake::arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::prelude::{
    DataFrame, Expr, ParquetReadOptions, SessionContext, cast, ident, lit,
};
use strata_pipelines::{DataFile, Lake, SessionBuilder, increment};
use tracing::info;

use super::load::{online_rows, shape, table_id};
use super::{EntityRows, OnlineRow};
use crate::Result;
use crate::views::FeatureView;

/// What a table's versions `(since, version]` changed, per entity.
#[derive(Debug, Default)]
pub(super) struct Changes {
    pub version: Option<u64>,
    /// Rows of the added files, oldest first per entity.
    pub fresh: HashMap<String, Vec<OnlineRow>>,
    /// Timestamps of the rows that left (removed files).
    pub gone: HashMap<String, Vec<i64>>,
    pub rows_read: u64,
}

impl Changes {
    /// Every entity with a row added or removed, once.
    pub fn affected(&self) -> impl Iterator<Item = &String> {
        self.fresh
            .keys()
            .chain(self.gone.keys().filter(|k| !self.fresh.contains_key(*k)))
    }
}

/// The changes after version `since` of the table with id `table_id`; `None` when they
/// cannot be followed file by file (another table under the name, a schema change, a commit
/// no longer in the log, a removed file already vacuumed): load in full.
pub(super) async fn changes(
    lake: &Lake,
    view: &FeatureView,
    since: u64,
    held_id: &str,
) -> Result<Option<Changes>> {
    let name = view.table_name();
    let Some(table) = lake.open(&name).await? else {
        return Ok(None);
    };
    if table_id(&table).as_deref() != Some(held_id) || table.version() <= Some(since) {
        return Ok(None);
    }
    let inc = match increment(&table, &name.to_string(), Some(since)).await {
        Ok(inc) if !inc.metadata_changed => inc,
        Ok(_) => return Ok(None),
        Err(e) => {
            info!(view = %view.name, error = %e, "the log since the held version is not readable; loading in full");
            return Ok(None);
        }
    };
    let ctx = SessionContext::new();
    // Registering the table also registers its object store, which the file reads need.
    SessionBuilder::register(&ctx, &name, &table).await?;
    let schema = ctx
        .table_provider(TableReference::partial(
            name.layer.clone(),
            name.table.clone(),
        ))
        .await?
        .schema();
    let gone = format!(
        "CAST(\"{}\" AS VARCHAR) AS __entity, \"{}\" AS __ts",
        view.entity, view.timestamp
    );
    let read =
        |files: Vec<DataFile>, select: String| read_files(&ctx, &table, &schema, files, select);
    let (added, removed) = match (
        read(inc.added, shape(view)).await,
        read(inc.removed, gone).await,
    ) {
        (Ok(a), Ok(r)) => (a, r),
        (Err(e), _) | (_, Err(e)) => {
            info!(view = %view.name, error = %e, "a changed file is not readable; loading in full");
            return Ok(None);
        }
    };
    let count = |b: &[RecordBatch]| b.iter().map(|b| b.num_rows() as u64).sum::<u64>();
    let mut out = Changes {
        version: table.version(),
        rows_read: count(&added) + count(&removed),
        ..Changes::default()
    };
    for (entity, row) in online_rows(view, &added)? {
        out.fresh.entry(entity).or_default().push(row);
    }
    for (entity, ts) in entity_times(&removed)? {
        out.gone.entry(entity).or_default().push(ts);
    }
    for rows in out.fresh.values_mut() {
        rows.sort_by_key(|r| r.ts_us);
    }
    Ok(Some(out))
}

/// The rows of `files`, each read with its partition values as columns, through the SQL
/// `select` list.
async fn read_files(
    ctx: &SessionContext,
    table: &DeltaTable,
    schema: &SchemaRef,
    files: Vec<DataFile>,
    select: String,
) -> Result<Vec<RecordBatch>> {
    let mut all: Option<DataFrame> = None;
    for f in files {
        let url = table
            .table_url()
            .join(&f.path)
            .map_err(|e| crate::Error::Query(format!("file {}: {e}", f.path)))?;
        let df = ctx
            .read_parquet(url.to_string(), ParquetReadOptions::default())
            .await?;
        let columns: Vec<Expr> = schema
            .fields()
            .iter()
            .map(|field| match f.partition_values.get(field.name()) {
                Some(v) => cast(lit(ScalarValue::Utf8(v.clone())), field.data_type().clone())
                    .alias(field.name()),
                None => ident(field.name()),
            })
            .collect();
        let df = df.select(columns)?;
        all = Some(match all {
            Some(a) => a.union(df)?,
            None => df,
        });
    }
    let Some(all) = all else {
        return Ok(Vec::new());
    };
    ctx.register_table("__changed", all.into_view())?;
    let batches = ctx
        .sql(&format!("SELECT {select} FROM __changed"))
        .await?
        .collect()
        .await?;
    ctx.deregister_table("__changed")?;
    Ok(batches)
}

/// (entity, timestamp in µs) of batches shaped `__entity, __ts`; rows without an entity are
/// skipped, as loading does.
fn entity_times(batches: &[RecordBatch]) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for b in batches {
        let entity = cast_array(b.column(0), &DataType::Utf8)?;
        let entity = entity.as_string::<i32>();
        let ts = cast_array(
            b.column(1),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let ts = cast_array(&ts, &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            if entity.is_valid(i) {
                let t = if ts.is_valid(i) { ts.value(i) } else { 0 };
                out.push((entity.value(i).to_string(), t));
            }
        }
    }
    Ok(out)
}

/// Fold a view's changes into one entity's held rows, as of `now`. `None`: the row the
/// entity served left the table and nothing held replaces it, so its newest row lies in
/// files this refresh did not read; the entity is read again.
pub(super) fn apply(
    held: Option<&EntityRows>,
    fresh: &[OnlineRow],
    gone: &[i64],
    now: i64,
) -> Option<EntityRows> {
    let held = held.map(|h| h.0.as_slice()).unwrap_or_default();
    let mut rows: Vec<OnlineRow> = held
        .iter()
        .filter(|r| !gone.contains(&r.ts_us) && !fresh.iter().any(|f| f.ts_us == r.ts_us))
        .cloned()
        .collect();
    let lost = held
        .iter()
        .filter(|r| r.ts_us <= now && gone.contains(&r.ts_us))
        .map(|r| r.ts_us)
        .max();
    rows.extend(fresh.iter().cloned());
    rows.sort_by_key(|r| r.ts_us);
    let known = rows.iter().rposition(|r| r.ts_us <= now);
    if let Some(lost) = lost
        && known.is_none_or(|k| rows[k].ts_us < lost)
    {
        return None;
    }
    // The newest row known now and every row stamped later, as a full load keeps.
    Some(EntityRows(rows.split_off(known.unwrap_or(0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts_us: i64, v: i64) -> OnlineRow {
        OnlineRow {
            ts_us,
            values: vec![v.into()],
        }
    }

    #[test]
    fn a_newer_row_replaces_the_served_one_and_an_older_one_is_dropped() {
        let held = EntityRows(vec![row(10, 1), row(50, 5)]);
        let got = apply(Some(&held), &[row(20, 2)], &[], 30).unwrap();
        assert_eq!(got.0, vec![row(20, 2), row(50, 5)]);
        let got = apply(Some(&held), &[row(5, 0)], &[], 30).unwrap();
        assert_eq!(got.0, vec![row(10, 1), row(50, 5)]);
    }

    #[test]
    fn a_rewritten_row_takes_the_new_values() {
        let held = EntityRows(vec![row(10, 1)]);
        let got = apply(Some(&held), &[row(10, 9)], &[10], 30).unwrap();
        assert_eq!(got.0, vec![row(10, 9)]);
    }

    #[test]
    fn losing_the_served_row_without_a_replacement_asks_for_a_reload() {
        let held = EntityRows(vec![row(10, 1), row(50, 5)]);
        assert_eq!(apply(Some(&held), &[], &[10], 30), None);
        assert_eq!(apply(Some(&held), &[row(5, 0)], &[10], 30), None);
        // A later row becoming known replaces the lost one.
        assert_eq!(
            apply(Some(&held), &[], &[10], 60).unwrap().0,
            vec![row(50, 5)]
        );
        // Only future rows lost: nothing is served now either way.
        assert_eq!(
            apply(Some(&held), &[], &[50], 30).unwrap().0,
            vec![row(10, 1)]
        );
    }

    #[test]
    fn a_new_entity_keeps_its_known_row_and_the_future_ones() {
        let got = apply(None, &[row(1, 1), row(2, 2), row(40, 4)], &[], 30).unwrap();
        assert_eq!(got.0, vec![row(2, 2), row(40, 4)]);
        let got = apply(None, &[row(40, 4)], &[], 30).unwrap();
        assert_eq!(got.0, vec![row(40, 4)]);
    }
}
