//! The ingest chart from bronze.events' Delta log, never its rows: each commit's time, the
//! rows its files added (their `numRecords`) and the lag of its newest record (the files'
//! largest `ingested_at` minus their largest `kafka_timestamp`). Commits never change, so each
//! is read once and kept; a poll reads only the commits since the last one.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strata_pipelines::{DataFile, Lake, TableName, TableVersions, commit};
use strata_schemas::bronze::col::{INGESTED_AT, KAFKA_TIMESTAMP};

use crate::Result;

/// How many of the newest commits the chart covers.
const COMMITS: u64 = 900;

/// What one Bronze commit wrote.
#[derive(Debug, Clone, Copy)]
struct Point {
    second: i64,
    rows: u64,
    lag_s: Option<f64>,
}

/// The commits read so far, by version.
#[derive(Debug)]
pub(super) struct IngestHistory {
    versions: TableVersions,
    points: BTreeMap<u64, Option<Point>>,
}

impl IngestHistory {
    pub fn new(lake: Lake) -> Self {
        Self {
            versions: TableVersions::new(lake),
            points: BTreeMap::new(),
        }
    }

    /// Rows written and the newest record's lag per second of commit time, oldest first:
    /// `[{t, events, lag_s}]`.
    pub async fn chart(&mut self) -> Result<Value> {
        let name = TableName::new("bronze", "events");
        let Some(latest) = self.versions.latest(&name).await? else {
            return Ok(json!([]));
        };
        let first = latest.saturating_sub(COMMITS - 1);
        self.points.retain(|v, _| *v >= first && *v <= latest);
        let Some(table) = self.versions.table(&name) else {
            return Ok(json!([]));
        };
        // Newest first, so a log cleaned up before `first` ends the walk early.
        for version in (first..=latest).rev() {
            if self.points.contains_key(&version) {
                continue;
            }
            match commit(table, &name.to_string(), version).await? {
                Some(c) => {
                    let point = c.timestamp_ms.map(|ms| point(ms, &c.added));
                    self.points.insert(version, point);
                }
                None => break,
            }
        }
        let mut seconds: BTreeMap<i64, (u64, Option<f64>)> = BTreeMap::new();
        for p in self.points.values().flatten() {
            let s = seconds.entry(p.second).or_default();
            s.0 += p.rows;
            s.1 = match (s.1, p.lag_s) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        let rows: Vec<Value> = seconds
            .into_iter()
            .filter(|(_, (rows, _))| *rows > 0)
            .map(|(t, (events, lag))| {
                json!({"t": t, "events": events, "lag_s": lag.map(|l| (l * 1000.0).round() / 1000.0)})
            })
            .collect();
        Ok(Value::Array(rows))
    }
}

fn point(ms: i64, added: &[DataFile]) -> Point {
    let max = |f: &DataFile, column: &str| {
        let v = f.stats.as_ref()?.get("maxValues")?.get(column)?.as_str()?;
        // With a zone for timestamps, without one for timestamp_ntz.
        match chrono::DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.naive_utc()),
            Err(_) => chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").ok(),
        }
    };
    let lag_s = added
        .iter()
        .filter_map(|f| {
            let lag = max(f, INGESTED_AT)? - max(f, KAFKA_TIMESTAMP)?;
            Some(lag.num_milliseconds() as f64 / 1000.0)
        })
        .reduce(f64::max);
    Point {
        second: ms.div_euclid(1000),
        rows: added.iter().filter_map(|f| f.rows).sum(),
        lag_s,
    }
}
