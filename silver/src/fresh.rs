//! The events a table of single events lacks. A re-sent event carries its original
//! occurred_at, so a copy already written sits in the same event_date partition under the same
//! key. Only keys that may be there are looked up: those a run's filter of seen keys flags
//! (every key when a run has no filter), in the row groups whose bloom filter admits them.

use std::collections::{HashMap, HashSet};

use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, BooleanArray, Date32Array, RecordBatch, StringArray};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::Date32Type;
use deltalake::arrow::error::ArrowError;
use strata_pipelines::keys::{SeenKeys, Wanted, present_keys};
use strata_pipelines::typed_column;

use crate::Result;
use crate::job::SilverJob;

impl SilverJob {
    /// The rows of `rows` whose (event_date, key) `out` does not hold. Rows without a key or
    /// date are always new (no stored row can equal them). `seen` (a run of several chunks)
    /// holds every key the table may hold; without it every key is looked up.
    pub(crate) async fn absent(
        &self,
        out: &DeltaTable,
        rows: &[RecordBatch],
        seen: Option<&SeenKeys>,
    ) -> Result<Vec<RecordBatch>> {
        let key = self.table().key();
        let arrow = |e| self.arrow(e);
        let mut by_day: HashMap<i32, HashSet<&str>> = HashMap::new();
        for batch in rows {
            let (keys, days) = key_and_date(batch, key).map_err(arrow)?;
            for r in 0..batch.num_rows() {
                if keys.is_valid(r)
                    && days.is_valid(r)
                    && seen.is_none_or(|s| s.may_contain(keys.value(r)))
                {
                    by_day
                        .entry(days.value(r))
                        .or_default()
                        .insert(keys.value(r));
                }
            }
        }
        if by_day.is_empty() {
            return Ok(rows.to_vec());
        }
        let names: HashMap<i32, String> = by_day.keys().map(|d| (*d, date_name(*d))).collect();
        let wanted: Wanted = by_day
            .into_iter()
            .filter_map(|(d, keys)| Some((names.get(&d)?.clone(), keys)))
            .collect();
        let mut present = present_keys(out, key, "event_date", &wanted).await?;
        tracing::debug!(job = %self.name(), looked_up = wanted.values().map(HashSet::len).sum::<usize>(),
                        row_groups = present.row_groups, read = present.row_groups_read,
                        "keys looked up in the table");
        let held: HashMap<i32, HashSet<String>> = names
            .into_iter()
            .filter_map(|(d, name)| Some((d, present.keys.remove(&name)?)))
            .filter(|(_, keys)| !keys.is_empty())
            .collect();
        if held.is_empty() {
            return Ok(rows.to_vec());
        }
        rows.iter()
            .map(|batch| {
                let (keys, days) = key_and_date(batch, key)?;
                let keep: BooleanArray = (0..batch.num_rows())
                    .map(|r| {
                        let stored = keys.is_valid(r)
                            && days.is_valid(r)
                            && held
                                .get(&days.value(r))
                                .is_some_and(|p| p.contains(keys.value(r)));
                        Some(!stored)
                    })
                    .collect();
                filter_record_batch(batch, &keep)
            })
            .collect::<Result<_, _>>()
            .map_err(arrow)
    }
}

/// Remember the keys of rows written.
pub(crate) fn remember(
    seen: &mut SeenKeys,
    rows: &[RecordBatch],
    key: &str,
) -> Result<(), ArrowError> {
    for batch in rows {
        let keys: &StringArray = typed_column(batch, key)?;
        keys.iter().flatten().for_each(|k| seen.insert(k));
    }
    Ok(())
}

/// The most rows one event_date holds in `rows`: the rows per file of a partitioned write.
pub(crate) fn most_rows_per_date(rows: &[RecordBatch]) -> Result<usize, ArrowError> {
    let mut per_date: HashMap<Option<i32>, usize> = HashMap::new();
    for batch in rows {
        let days: &Date32Array = typed_column(batch, "event_date")?;
        for d in days {
            *per_date.entry(d).or_default() += 1;
        }
    }
    Ok(per_date.into_values().max().unwrap_or(0))
}

fn key_and_date<'a>(
    batch: &'a RecordBatch,
    key: &str,
) -> Result<(&'a StringArray, &'a Date32Array), ArrowError> {
    Ok((
        typed_column(batch, key)?,
        typed_column(batch, "event_date")?,
    ))
}

/// A Date32 as Delta stores it in a partition value (`YYYY-MM-DD`).
fn date_name(day: i32) -> String {
    Date32Type::to_naive_date_opt(day)
        .map_or_else(|| day.to_string(), |d| d.format("%Y-%m-%d").to_string())
}
