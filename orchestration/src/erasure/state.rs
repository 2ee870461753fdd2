//! An erasure's plan, kept at `_strata/erasures/<id>.json` in the lake from before its first
//! delete until it finished: once Bronze and Silver no longer hold the entity, the plan is
//! the only record of which events and days it touched, so a run cut short resumes with it.
//! It holds no value of the entity: the id is the SHA-256 of `key=value`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use deltalake::logstore::object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use strata_pipelines::Lake;

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasurePlan {
    pub id: String,
    pub key: String,
    pub started_at: DateTime<Utc>,
    /// Ids of the erased events (Silver rows refined from them leave too).
    pub event_ids: BTreeSet<String>,
    /// Silver table -> the days (`YYYY-MM-DD`) where it held rows about the entity.
    pub silver_days: BTreeMap<String, BTreeSet<String>>,
}

fn path(id: &str) -> deltalake::Path {
    deltalake::Path::from(format!("_strata/erasures/{id}.json"))
}

fn store_error(what: &str, id: &str, e: deltalake::ObjectStoreError) -> Error {
    Error::Erasure(format!(
        "cannot {what} the plan _strata/erasures/{id}.json: {e}"
    ))
}

/// The plan an earlier run left, if any.
pub async fn load(lake: &Lake, id: &str) -> Result<Option<ErasurePlan>> {
    let store = lake.store()?;
    let bytes = match store.get(&path(id)).await {
        Ok(r) => r.bytes().await.map_err(|e| store_error("read", id, e))?,
        Err(deltalake::ObjectStoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(store_error("read", id, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Erasure(format!("_strata/erasures/{id}.json is not a plan: {e}")))
}

pub async fn save(lake: &Lake, plan: &ErasurePlan) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(plan)
        .map_err(|e| Error::Erasure(format!("cannot encode the plan: {e}")))?;
    lake.store()?
        .put(&path(&plan.id), bytes.into())
        .await
        .map_err(|e| store_error("write", &plan.id, e))?;
    Ok(())
}

pub async fn remove(lake: &Lake, id: &str) -> Result<()> {
    match lake.store()?.delete(&path(id)).await {
        Ok(()) | Err(deltalake::ObjectStoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(store_error("remove", id, e)),
    }
}
