//! Incremental reads by Delta version: what a table gained since a job last looked.
//!
//! The commit log is the source of truth: every `add` action with `dataChange = true` in the
//! commits after the checkpoint version is new data. Files rewritten by compaction carry
//! `dataChange = false` and are not new, so compaction never makes a job see data twice.

use std::collections::BTreeMap;

use deltalake::DeltaTable;
use serde_json::Value;

use crate::{Error, Result};

/// A data file added to a table, with its partition values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedFile {
    /// Path relative to the table root, as written in the log (URL-encoded).
    pub path: String,
    pub partition_values: BTreeMap<String, Option<String>>,
    pub rows: Option<u64>,
}

/// The data a table gained in versions `(since, to]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    pub since: Option<u64>,
    pub to: u64,
    pub added: Vec<AddedFile>,
}

impl Increment {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
    }

    /// Distinct values of one partition column among the added files.
    pub fn partition_values(&self, column: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .added
            .iter()
            .filter_map(|f| f.partition_values.get(column).cloned().flatten())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Read the commit log of `table` (at its loaded version) after version `since`.
pub async fn increment(table: &DeltaTable, name: &str, since: Option<u64>) -> Result<Increment> {
    let to = table.version().ok_or_else(|| Error::NoSuchTable {
        table: name.to_string(),
        lake: table.table_url().to_string(),
    })?;
    let first = since.map_or(0, |v| v + 1);
    let log_store = table.log_store();
    let mut added = Vec::new();
    for version in first..=to {
        let bytes = log_store
            .read_commit_entry(version)
            .await
            .map_err(|e| Error::delta(name, e))?
            .ok_or_else(|| Error::MissingCommit {
                table: name.to_string(),
                version,
            })?;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let action: Value = serde_json::from_slice(line).map_err(|e| Error::BadCommit {
                table: name.to_string(),
                version,
                message: e.to_string(),
            })?;
            let Some(add) = action.get("add") else {
                continue;
            };
            if add.get("dataChange").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let path = add
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::BadCommit {
                    table: name.to_string(),
                    version,
                    message: "add action without a path".into(),
                })?
                .to_string();
            let partition_values = add
                .get("partitionValues")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
                        .collect()
                })
                .unwrap_or_default();
            let rows = add
                .get("stats")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|s| s.get("numRecords").and_then(Value::as_u64));
            added.push(AddedFile {
                path,
                partition_values,
                rows,
            });
        }
    }
    Ok(Increment { since, to, added })
}
