//! Fixtures shared by the layer crates' integration tests: raw records, an inspector, and
//! table dumps for golden comparisons.

#![allow(clippy::unwrap_used)] // fixtures fail loudly by design

use std::sync::Arc;

use deltalake::arrow::util::pretty::pretty_format_batches;
use strata_bronze::RawRecord;
use strata_pipelines::{Lake, SessionBuilder};
use strata_quality::{Inspector, SchemaValidator};

/// Values as consecutive records of one partition, starting at `first_offset`.
pub fn records(values: Vec<Vec<u8>>, first_offset: i64) -> Vec<RawRecord> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| RawRecord {
            topic: "events".into(),
            partition: 0,
            offset: first_offset + i as i64,
            timestamp_ms: None,
            key: None,
            headers: vec![],
            value: Some(v),
        })
        .collect()
}

/// The built-in project.
pub fn project() -> Arc<strata_project::Project> {
    strata_project::builtin().unwrap()
}

/// The built-in project's schemas with a 1 MiB value limit.
pub fn inspector() -> Arc<Inspector> {
    Arc::new(Inspector::new(
        SchemaValidator::new(&project().schema_catalog()).unwrap(),
        1 << 20,
    ))
}

/// A mission.completed event at `version`; v2 producers add an optional `stars`.
pub fn mission(id: &str, version: u32, stars: Option<u32>) -> Vec<u8> {
    let mut payload = serde_json::json!({"mission_id": format!("m-{id}"), "mission_type": "escort",
        "duration_s": 60, "reward_credits": 10});
    if let Some(s) = stars {
        payload["stars"] = serde_json::json!(s);
    }
    serde_json::json!({"event_id": format!("evt-{id}"), "event_type": "mission.completed",
        "schema_version": version, "occurred_at": "2026-11-20T10:00:00Z", "source": "test",
        "tenant_id": "org-1", "player_id": "p-1", "session_id": "s-1", "payload": payload})
    .to_string()
    .into_bytes()
}

/// Version 2 of mission.completed: v1 plus an optional `stars` of at least 1 (compatible).
pub fn mission_v2_schema() -> serde_json::Value {
    let mut v2 = project()
        .schema_catalog()
        .get("mission.completed", 1)
        .unwrap()
        .clone();
    v2["properties"]["schema_version"] = serde_json::json!({"const": 2});
    v2["properties"]["payload"]["properties"]["stars"] =
        serde_json::json!({"type": "integer", "minimum": 1});
    v2
}

/// A query's result as a pretty-printed table, for exact comparisons.
pub async fn dump(lake: &Lake, sql: &str) -> String {
    let ctx = SessionBuilder::new(lake.clone()).build().await.unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}
