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

/// The builtin schemas with a 1 MiB value limit.
pub fn inspector() -> Arc<Inspector> {
    Arc::new(Inspector::new(SchemaValidator::builtin().unwrap(), 1 << 20))
}

/// A query's result as a pretty-printed table, for exact comparisons.
pub async fn dump(lake: &Lake, sql: &str) -> String {
    let ctx = SessionBuilder::new(lake.clone()).build().await.unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}
