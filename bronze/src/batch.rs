use std::sync::Arc;

use deltalake::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use strata_quality::{Inspection, Inspector};
use strata_schemas::bronze::events_schema;

use crate::{RawRecord, Result};

const DAY_US: i64 = 86_400_000_000;

fn headers_json(headers: &[(String, Option<Vec<u8>>)]) -> Option<String> {
    if headers.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Some(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
                None => serde_json::Value::Null,
            };
            (k.clone(), v)
        })
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

/// Inspect every record and build one Arrow batch in the `bronze.events` schema.
/// `ingested_at_us` stamps the batch (and decides its `ingest_date` partition).
pub fn build_batch<'a, I>(
    inspector: &Inspector,
    records: I,
    ingested_at_us: i64,
) -> Result<RecordBatch>
where
    I: IntoIterator<Item = &'a RawRecord>,
    I::IntoIter: ExactSizeIterator + Clone,
{
    let records = records.into_iter();
    let n = records.len();
    let ts = || TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut topic = StringBuilder::with_capacity(n, n * 16);
    let mut partition = Int32Builder::with_capacity(n);
    let mut offset = Int64Builder::with_capacity(n);
    let mut kafka_ts = ts();
    let mut key = BinaryBuilder::with_capacity(n, n * 16);
    let mut headers = StringBuilder::new();
    let value_bytes: usize = records
        .clone()
        .map(|r| r.value.as_ref().map_or(0, Vec::len))
        .sum();
    let mut value = BinaryBuilder::with_capacity(n, value_bytes);
    let mut event_id = StringBuilder::with_capacity(n, n * 26);
    let mut event_type = StringBuilder::with_capacity(n, n * 20);
    let mut schema_version = Int32Builder::with_capacity(n);
    let mut occurred_at = ts();
    let mut source = StringBuilder::with_capacity(n, n * 16);
    let mut tenant = StringBuilder::with_capacity(n, n * 8);
    let mut player = StringBuilder::with_capacity(n, n * 8);
    let mut agent = StringBuilder::with_capacity(n, n * 8);
    let mut session = StringBuilder::with_capacity(n, n * 8);
    let mut valid = BooleanBuilder::with_capacity(n);
    let mut error_kind = StringBuilder::new();
    let mut error = StringBuilder::new();
    let mut ingested_at = ts();
    let mut ingest_date = Date32Builder::with_capacity(n);
    let date = i32::try_from(ingested_at_us.div_euclid(DAY_US)).unwrap_or(i32::MAX);

    for (r, inspection) in grouped_by_event_type(inspector, records) {
        let e = &inspection.event;
        topic.append_value(&r.topic);
        partition.append_value(r.partition);
        offset.append_value(r.offset);
        kafka_ts.append_option(r.timestamp_ms.map(|ms| ms.saturating_mul(1000)));
        key.append_option(r.key.as_deref());
        headers.append_option(headers_json(&r.headers));
        value.append_option(r.value.as_deref());
        event_id.append_option(e.event_id.as_deref());
        event_type.append_option(e.event_type.as_deref());
        schema_version.append_option(e.schema_version);
        occurred_at.append_option(e.occurred_at_us);
        source.append_option(e.source.as_deref());
        tenant.append_option(e.tenant_id.as_deref());
        player.append_option(e.player_id.as_deref());
        agent.append_option(e.agent_id.as_deref());
        session.append_option(e.session_id.as_deref());
        valid.append_value(inspection.invalid.is_none());
        error_kind.append_option(inspection.invalid.as_ref().map(|i| i.kind.as_str()));
        error.append_option(inspection.invalid.as_ref().map(|i| i.message.as_str()));
        ingested_at.append_value(ingested_at_us);
        ingest_date.append_value(date);
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(topic.finish()),
        Arc::new(partition.finish()),
        Arc::new(offset.finish()),
        Arc::new(kafka_ts.finish()),
        Arc::new(key.finish()),
        Arc::new(headers.finish()),
        Arc::new(value.finish()),
        Arc::new(event_id.finish()),
        Arc::new(event_type.finish()),
        Arc::new(schema_version.finish()),
        Arc::new(occurred_at.finish()),
        Arc::new(source.finish()),
        Arc::new(tenant.finish()),
        Arc::new(player.finish()),
        Arc::new(agent.finish()),
        Arc::new(session.finish()),
        Arc::new(valid.finish()),
        Arc::new(error_kind.finish()),
        Arc::new(error.finish()),
        Arc::new(ingested_at.finish()),
        Arc::new(ingest_date.finish()),
    ];
    Ok(RecordBatch::try_new(events_schema(), columns)?)
}

/// The records with their inspections, grouped by event type (types in byte order, records
/// without one last), in Kafka order within a type. Each Silver table reads the events of its
/// own types: grouped, they fill whole Parquet pages, and a reader whose filter selects none of
/// a page's rows skips it without decompressing it (interleaved, every table decompressed every
/// page of the raw values). Positions are stored with each row, so nothing relies on row order.
fn grouped_by_event_type<'a>(
    inspector: &Inspector,
    records: impl Iterator<Item = &'a RawRecord>,
) -> Vec<(&'a RawRecord, Inspection)> {
    let mut rows: Vec<_> = records
        .map(|r| (r, inspector.inspect(r.value.as_deref())))
        .collect();
    fn key(i: &Inspection) -> (bool, Option<&str>) {
        let t = i.event.event_type.as_deref();
        (t.is_none(), t)
    }
    // Stable: records of one type keep their order.
    rows.sort_by(|(_, a), (_, b)| key(a).cmp(&key(b)));
    rows
}
