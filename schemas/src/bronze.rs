//! The Arrow schema of `bronze.events`: one row per Kafka record ever received.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Column names, so writers and readers never disagree on spelling.
pub mod col {
    pub const TOPIC: &str = "topic";
    pub const PARTITION: &str = "partition";
    pub const OFFSET: &str = "offset";
    pub const KAFKA_TIMESTAMP: &str = "kafka_timestamp";
    pub const KEY: &str = "key";
    pub const HEADERS: &str = "headers";
    pub const VALUE: &str = "value";
    pub const EVENT_ID: &str = "event_id";
    pub const EVENT_TYPE: &str = "event_type";
    pub const SCHEMA_VERSION: &str = "schema_version";
    pub const OCCURRED_AT: &str = "occurred_at";
    pub const SOURCE: &str = "source";
    pub const TENANT_ID: &str = "tenant_id";
    pub const PLAYER_ID: &str = "player_id";
    pub const AGENT_ID: &str = "agent_id";
    pub const SESSION_ID: &str = "session_id";
    pub const VALID: &str = "valid";
    pub const ERROR: &str = "error";
    pub const ERROR_KIND: &str = "error_kind";
    pub const INGESTED_AT: &str = "ingested_at";
    pub const INGEST_DATE: &str = "ingest_date";
}

/// The partition column of `bronze.events`.
pub const PARTITION_COLUMNS: [&str; 1] = [col::INGEST_DATE];

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The schema of `bronze.events`. Kafka coordinates and the raw bytes are always present;
/// the envelope columns are filled where the value parsed. `headers` is a JSON object text so
/// every Delta reader can use it.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::TOPIC, DataType::Utf8, false),
        Field::new(col::PARTITION, DataType::Int32, false),
        Field::new(col::OFFSET, DataType::Int64, false),
        Field::new(col::KAFKA_TIMESTAMP, ts(), true),
        Field::new(col::KEY, DataType::Binary, true),
        Field::new(col::HEADERS, DataType::Utf8, true),
        Field::new(col::VALUE, DataType::Binary, true),
        Field::new(col::EVENT_ID, DataType::Utf8, true),
        Field::new(col::EVENT_TYPE, DataType::Utf8, true),
        Field::new(col::SCHEMA_VERSION, DataType::Int32, true),
        Field::new(col::OCCURRED_AT, ts(), true),
        Field::new(col::SOURCE, DataType::Utf8, true),
        Field::new(col::TENANT_ID, DataType::Utf8, true),
        Field::new(col::PLAYER_ID, DataType::Utf8, true),
        Field::new(col::AGENT_ID, DataType::Utf8, true),
        Field::new(col::SESSION_ID, DataType::Utf8, true),
        Field::new(col::VALID, DataType::Boolean, false),
        Field::new(col::ERROR_KIND, DataType::Utf8, true),
        Field::new(col::ERROR, DataType::Utf8, true),
        Field::new(col::INGESTED_AT, ts(), false),
        Field::new(col::INGEST_DATE, DataType::Date32, false),
    ]))
}
