//! Days recomputed in chunks: a replay or a catch-up touches every day of the history, and a
//! model computed over all of them at once holds all of their input rows. Days are grouped
//! so that each group's input rows (its days and the lookback before them, counted from the
//! inputs' file statistics) stay near the lake's `chunk_rows`; each group is one commit, and
//! only the last carries the job's checkpoints, so a run cut short recomputes its days again.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use strata_pipelines::{Lake, TableName, rows_by_partition};
use tracing::info;

use crate::Result;
use crate::job::{GoldJob, Whole, expand};

impl GoldJob {
    /// Recompute `days` group by group; the last commit carries `props`. `first` is how the
    /// first group is written (a rebuild replaces the table). Returns rows written and the
    /// last version.
    pub(crate) async fn write_chunked(
        &self,
        lake: &Lake,
        inputs: &[(TableName, DeltaTable)],
        out: Option<DeltaTable>,
        days: &BTreeSet<String>,
        props: CommitProperties,
        first: Whole,
    ) -> Result<(usize, Option<u64>)> {
        let groups = self.day_groups(inputs, days, lake.chunk_rows())?;
        let (count, mut out, mut props) = (groups.len(), out, Some(props));
        let (mut rows, mut version) = (0, None);
        for (i, group) in groups.iter().enumerate() {
            let last = i + 1 == count;
            let commit = match last {
                true => props.take().unwrap_or_default(),
                false => CommitProperties::default(),
            };
            let whole = if i == 0 { first } else { Whole::Days };
            let (n, v) = self
                .write_days(lake, inputs, out.take(), group, commit, whole)
                .await?;
            (rows, version) = (rows + n, v);
            if !last {
                out = lake.open(&self.model().table_name()).await?;
                info!(job = %self.name(), chunk = i + 1, of = count, days = group.len(), rows = n,
                      "gold chunk committed");
            }
        }
        Ok((rows, version))
    }

    /// `days` split into groups whose input rows stay near `max_rows` (a group holds at least
    /// one day); one group, possibly empty, when there is no bound.
    fn day_groups(
        &self,
        inputs: &[(TableName, DeltaTable)],
        days: &BTreeSet<String>,
        max_rows: Option<u64>,
    ) -> Result<Vec<BTreeSet<String>>> {
        let Some(max_rows) = max_rows.filter(|_| days.len() > 1) else {
            return Ok(vec![days.clone()]);
        };
        let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
        for (_, table) in inputs {
            for (day, rows) in rows_by_partition(table, "event_date")? {
                *per_day.entry(day).or_default() += rows;
            }
        }
        Ok(group_days(days, self.lookahead_days(), &per_day, max_rows))
    }
}

/// Greedy grouping in date order: a day joins the current group unless the rows the group
/// would read (its days and `lookback` days before each) exceed `max_rows`.
fn group_days(
    days: &BTreeSet<String>,
    lookback: u32,
    per_day: &BTreeMap<String, u64>,
    max_rows: u64,
) -> Vec<BTreeSet<String>> {
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    let (mut group, mut read) = (BTreeSet::new(), BTreeSet::new());
    for day in days {
        let window = expand(&BTreeSet::from([day.clone()]), lookback, false);
        let grown: BTreeSet<String> = read.union(&window).cloned().collect();
        let rows: u64 = grown.iter().filter_map(|d| per_day.get(d)).sum();
        if rows > max_rows && !group.is_empty() {
            groups.push(std::mem::take(&mut group));
            read = window;
        } else {
            read = grown;
        }
        group.insert(day.clone());
    }
    groups.push(group);
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(days: &[&str]) -> BTreeSet<String> {
        days.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn days_group_by_the_rows_they_read_lookback_included() {
        let days = set(&["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]);
        let per_day: BTreeMap<String, u64> = days.iter().map(|d| (d.clone(), 10)).collect();
        let groups = group_days(&days, 0, &per_day, 20);
        assert_eq!(
            groups,
            [
                set(&["2026-01-01", "2026-01-02"]),
                set(&["2026-01-03", "2026-01-04"])
            ]
        );
        // A one-day lookback reads the day before as well: 01-02 alone reads 20 rows.
        let groups = group_days(&days, 1, &per_day, 25);
        assert_eq!(
            groups,
            [
                set(&["2026-01-01", "2026-01-02"]),
                set(&["2026-01-03"]),
                set(&["2026-01-04"])
            ]
        );
        // A day larger than the bound still makes a group of its own.
        let groups = group_days(&days, 0, &per_day, 5);
        assert_eq!(groups.len(), 4);
        assert_eq!(group_days(&days, 0, &per_day, 1000), vec![days.clone()]);
        assert_eq!(group_days(&BTreeSet::new(), 0, &per_day, 5), [set(&[])]);
    }
}
