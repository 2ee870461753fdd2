//! Silver table declarations: the event types that feed a table, its typed columns, and how
//! rows are keyed (one per event, or stitched per key from several events).

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use strata_pipelines::TableName;
use strata_quality::{Action, Check, Expectation};

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

impl Kind {
    /// The names a project file uses.
    pub const NAMES: [&'static str; 4] = ["string", "int", "float", "bool"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "string" => Some(Kind::Str),
            "int" => Some(Kind::Int),
            "float" => Some(Kind::Float),
            "bool" => Some(Kind::Bool),
            _ => None,
        }
    }

    pub fn data_type(self) -> DataType {
        match self {
            Kind::Str => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Bool => DataType::Boolean,
        }
    }
}

/// A typed column extracted from the event document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// Path inside the event document, e.g. `["payload", "latency_ms"]`.
    pub path: Vec<String>,
}

/// One output column of a stitched table: the smallest non-null value of `source` among the
/// key's events (of type `event` only, when given). Deterministic whatever the arrival order,
/// so an incremental run and a replay agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StitchColumn {
    pub name: String,
    pub source: String,
    pub event: Option<String>,
}

/// Several event types stitched into one row per key (e.g. a session's start and end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stitch {
    pub key: String,
    /// The output column whose day is the row's `event_date` (the earliest event's day when
    /// it is null).
    pub date: String,
    pub columns: Vec<StitchColumn>,
}

/// One Silver table.
#[derive(Debug, Clone)]
pub struct SilverTable {
    pub name: String,
    /// Where it was declared.
    pub file: String,
    pub event_types: Vec<String>,
    pub columns: Vec<Column>,
    pub stitch: Option<Stitch>,
    /// Declared expectations (the key's uniqueness is added by [`SilverTable::expectations`]).
    pub declared: Vec<Expectation>,
    /// Columns holding personal data (`[pii]`), masked for roles without clear access.
    pub pii: crate::PiiColumns,
    /// Hex SHA-256 of the declaration: a change means the table is rebuilt from Bronze.
    pub hash: String,
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Envelope columns every event row starts with: the fields every event carries.
pub const ENVELOPE: [&str; 6] = [
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "source",
    "tenant_id",
];

/// Where each row came from in Bronze, after the declared columns.
pub const LINEAGE: [&str; 3] = ["bronze_topic", "bronze_partition", "bronze_offset"];

impl SilverTable {
    pub fn table_name(&self) -> TableName {
        TableName::new("silver", &self.name)
    }

    pub fn job_name(&self) -> String {
        format!("silver.{}", self.name)
    }

    /// The decoded batch's schema: envelope, declared columns, Bronze position, event_date.
    pub fn event_schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("schema_version", DataType::Int32, false),
            Field::new("occurred_at", ts(), false),
            Field::new("source", DataType::Utf8, true),
            Field::new("tenant_id", DataType::Utf8, true),
        ];
        for c in &self.columns {
            fields.push(Field::new(&c.name, c.kind.data_type(), true));
        }
        fields.push(Field::new("bronze_topic", DataType::Utf8, false));
        fields.push(Field::new("bronze_partition", DataType::Int32, false));
        fields.push(Field::new("bronze_offset", DataType::Int64, false));
        fields.push(Field::new("event_date", DataType::Date32, false));
        Arc::new(Schema::new(fields))
    }

    /// The stored table's schema.
    pub fn schema(&self) -> SchemaRef {
        let events = self.event_schema();
        let Some(stitch) = &self.stitch else {
            return events;
        };
        let mut fields = vec![Field::new(&stitch.key, DataType::Utf8, false)];
        for c in &stitch.columns {
            let t = events
                .field_with_name(&c.source)
                .map_or(DataType::Utf8, |f| f.data_type().clone());
            fields.push(Field::new(&c.name, t, true));
        }
        fields.push(Field::new("event_date", DataType::Date32, false));
        Arc::new(Schema::new(fields))
    }

    /// The column rows are unique on.
    pub fn key(&self) -> &str {
        self.stitch.as_ref().map_or("event_id", |s| s.key.as_str())
    }

    /// The table's expectations, checked on every batch before it is merged: the declared
    /// ones, after uniqueness of the event id for event-keyed tables. Schema rules are
    /// enforced at ingest already.
    pub fn expectations(&self) -> Vec<Expectation> {
        let mut out = Vec::new();
        if self.stitch.is_none() {
            out.push(Expectation::new(
                "event_id_unique",
                Check::Unique {
                    column: "event_id".into(),
                },
                Action::Fail,
            ));
        }
        out.extend(self.declared.iter().cloned());
        out
    }

    /// For a stitched table, SQL over the decoded rows (`src`) giving one row per key (each
    /// column from the events that carry it). Tables of single events keep the first copy of
    /// each event by Kafka position, which Silver computes without SQL.
    pub fn stitch_sql(&self) -> Option<String> {
        let s = self.stitch.as_ref()?;
        let value = |c: &StitchColumn| match &c.event {
            Some(e) => format!(
                "min(CASE WHEN event_type = '{}' THEN \"{}\" END)",
                e.replace('\'', "''"),
                c.source
            ),
            None => format!("min(\"{}\")", c.source),
        };
        let mut select = vec![format!("\"{}\"", s.key)];
        for c in &s.columns {
            select.push(format!("{} AS \"{}\"", value(c), c.name));
        }
        let date = s.columns.iter().find(|c| c.name == s.date).map_or_else(
            || "min(occurred_at)".to_string(),
            |c| format!("coalesce({}, min(occurred_at))", value(c)),
        );
        select.push(format!("CAST({date} AS DATE) AS event_date"));
        Some(format!(
            "SELECT {} FROM src WHERE \"{key}\" IS NOT NULL GROUP BY \"{key}\"",
            select.join(", "),
            key = s.key
        ))
    }
}
