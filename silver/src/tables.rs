//! The Silver tables: their columns, keys and the event types that feed them.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use strata_pipelines::TableName;
use strata_quality::{Action, Check, Expectation};
use strata_schemas::EventType;

/// A typed payload column: where it comes from in the event JSON and its Arrow type.
#[derive(Debug, Clone, Copy)]
pub struct PayloadColumn {
    pub name: &'static str,
    pub kind: Kind,
    /// Path inside the event document, e.g. `["payload", "latency_ms"]`.
    pub path: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Float,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Str => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
        }
    }
}

/// How a Silver table keys its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keying {
    /// One row per event, unique on `event_id`.
    Event,
    /// One row per session: started and ended events stitched on `session_id`.
    Session,
}

/// One Silver table.
#[derive(Debug, Clone)]
pub struct SilverTable {
    pub name: &'static str,
    pub event_types: &'static [EventType],
    pub payload: &'static [PayloadColumn],
    pub keying: Keying,
}

const fn p(name: &'static str, kind: Kind, path: &'static [&'static str]) -> PayloadColumn {
    PayloadColumn { name, kind, path }
}

use Kind::{Float, Int, Str};

const AGENT_INVOCATIONS: &[PayloadColumn] = &[
    p("invocation_id", Str, &["payload", "invocation_id"]),
    p("model", Str, &["payload", "model"]),
    p("status", Str, &["payload", "status"]),
    p("latency_ms", Int, &["payload", "latency_ms"]),
    p("tokens_in", Int, &["payload", "tokens_in"]),
    p("tokens_out", Int, &["payload", "tokens_out"]),
    p("prompt_tokens", Int, &["payload", "prompt_tokens"]),
    p("cost_usd", Float, &["payload", "cost_usd"]),
    p("tool_calls", Int, &["payload", "tool_calls"]),
    p("error_code", Str, &["payload", "error_code"]),
    // Added by agent.invocation.completed v2; null for v1 events.
    p("reasoning_tokens", Int, &["payload", "reasoning_tokens"]),
];

const AGENT_FEEDBACK: &[PayloadColumn] = &[
    p("invocation_id", Str, &["payload", "invocation_id"]),
    p("rating", Int, &["payload", "rating"]),
    p("comment", Str, &["payload", "comment"]),
];

const PLAYER_SESSIONS: &[PayloadColumn] = &[
    p("platform", Str, &["payload", "platform"]),
    p("region", Str, &["payload", "region"]),
    p("client_version", Str, &["payload", "client_version"]),
    p("duration_s", Int, &["payload", "duration_s"]),
    p("end_reason", Str, &["payload", "reason"]),
];

const MISSIONS: &[PayloadColumn] = &[
    p("mission_id", Str, &["payload", "mission_id"]),
    p("mission_type", Str, &["payload", "mission_type"]),
    p("difficulty", Int, &["payload", "difficulty"]),
    p("duration_s", Int, &["payload", "duration_s"]),
    p("reward_credits", Int, &["payload", "reward_credits"]),
    p("failure_reason", Str, &["payload", "failure_reason"]),
];

const ECONOMY: &[PayloadColumn] = &[
    p("transaction_id", Str, &["payload", "transaction_id"]),
    p("currency", Str, &["payload", "currency"]),
    p("amount", Int, &["payload", "amount"]),
    p("direction", Str, &["payload", "direction"]),
    p("item_id", Str, &["payload", "item_id"]),
];

/// Every Silver table, in a stable order.
pub fn all_tables() -> Vec<SilverTable> {
    use EventType::*;
    vec![
        SilverTable {
            name: "agent_invocations",
            event_types: &[AgentInvocationStarted, AgentInvocationCompleted],
            payload: AGENT_INVOCATIONS,
            keying: Keying::Event,
        },
        SilverTable {
            name: "agent_feedback",
            event_types: &[AgentFeedbackGiven],
            payload: AGENT_FEEDBACK,
            keying: Keying::Event,
        },
        SilverTable {
            name: "player_sessions",
            event_types: &[PlayerSessionStarted, PlayerSessionEnded],
            payload: PLAYER_SESSIONS,
            keying: Keying::Session,
        },
        SilverTable {
            name: "missions",
            event_types: &[MissionStarted, MissionCompleted, MissionFailed],
            payload: MISSIONS,
            keying: Keying::Event,
        },
        SilverTable {
            name: "economy_transactions",
            event_types: &[EconomyTransaction],
            payload: ECONOMY,
            keying: Keying::Event,
        },
    ]
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Envelope columns every event-keyed table starts with.
pub const ENVELOPE: [(&str, bool); 8] = [
    ("event_id", false),
    ("event_type", false),
    ("schema_version", false),
    ("occurred_at", false),
    ("source", true),
    ("tenant_id", true),
    ("player_id", true),
    ("agent_id", true),
];

impl SilverTable {
    pub fn table_name(&self) -> TableName {
        TableName::new("silver", self.name)
    }

    pub fn job_name(&self) -> String {
        format!("silver.{}", self.name)
    }

    /// The decoded batch's schema (before session stitching).
    pub fn event_schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("schema_version", DataType::Int32, false),
            Field::new("occurred_at", ts(), false),
            Field::new("source", DataType::Utf8, true),
            Field::new("tenant_id", DataType::Utf8, true),
            Field::new("player_id", DataType::Utf8, true),
            Field::new("agent_id", DataType::Utf8, true),
            Field::new("session_id", DataType::Utf8, true),
        ];
        for c in self.payload {
            fields.push(Field::new(c.name, c.kind.data_type(), true));
        }
        fields.push(Field::new("bronze_topic", DataType::Utf8, false));
        fields.push(Field::new("bronze_partition", DataType::Int32, false));
        fields.push(Field::new("bronze_offset", DataType::Int64, false));
        fields.push(Field::new("event_date", DataType::Date32, false));
        Arc::new(Schema::new(fields))
    }

    /// The stored table's schema.
    pub fn schema(&self) -> SchemaRef {
        match self.keying {
            Keying::Event => self.event_schema(),
            Keying::Session => Arc::new(Schema::new(vec![
                Field::new("session_id", DataType::Utf8, false),
                Field::new("player_id", DataType::Utf8, true),
                Field::new("tenant_id", DataType::Utf8, true),
                Field::new("started_at", ts(), true),
                Field::new("ended_at", ts(), true),
                Field::new("platform", DataType::Utf8, true),
                Field::new("region", DataType::Utf8, true),
                Field::new("client_version", DataType::Utf8, true),
                Field::new("duration_s", DataType::Int64, true),
                Field::new("end_reason", DataType::Utf8, true),
                Field::new("start_event_id", DataType::Utf8, true),
                Field::new("end_event_id", DataType::Utf8, true),
                Field::new("event_date", DataType::Date32, false),
            ])),
        }
    }

    pub fn key(&self) -> &'static str {
        match self.keying {
            Keying::Event => "event_id",
            Keying::Session => "session_id",
        }
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_string()).collect()
}

impl SilverTable {
    /// The table's expectations, checked on every batch before it is merged. Schema rules
    /// (types, required fields, minimums) are already enforced at ingest; these are the
    /// semantic ones.
    pub fn expectations(&self) -> Vec<Expectation> {
        use Action::{Drop, Fail, Warn};
        let col = |c: &str| c.to_string();
        let mut out = match self.keying {
            Keying::Event => vec![Expectation::new(
                "event_id_unique",
                Check::Unique {
                    column: col("event_id"),
                },
                Fail,
            )],
            Keying::Session => vec![Expectation::new(
                "session_has_player",
                Check::NotNull {
                    column: col("player_id"),
                },
                Warn,
            )],
        };
        let range = |c: &str, min: Option<f64>, max: Option<f64>| Check::Range {
            column: col(c),
            min,
            max,
        };
        match self.name {
            "agent_invocations" => out.extend([
                Expectation::new(
                    "agent_id_present",
                    Check::NotNull {
                        column: col("agent_id"),
                    },
                    Fail,
                )
                .with_threshold(0.01),
                Expectation::new(
                    "latency_non_negative",
                    range("latency_ms", Some(0.0), None),
                    Drop,
                ),
                Expectation::new(
                    "cost_non_negative",
                    range("cost_usd", Some(0.0), None),
                    Drop,
                ),
                Expectation::new(
                    "known_status",
                    Check::AcceptedValues {
                        column: col("status"),
                        values: s(&["ok", "error", "timeout", "cancelled"]),
                    },
                    Warn,
                ),
            ]),
            "agent_feedback" => out.extend([
                Expectation::new("rating_1_to_5", range("rating", Some(1.0), Some(5.0)), Drop),
                Expectation::new(
                    "invocation_known",
                    Check::References {
                        column: col("invocation_id"),
                        table: col("silver.agent_invocations"),
                        key: col("invocation_id"),
                    },
                    Warn,
                ),
            ]),
            "player_sessions" => out.extend([Expectation::new(
                "duration_under_a_day",
                range("duration_s", Some(0.0), Some(86_400.0)),
                Warn,
            )]),
            "missions" => out.extend([
                Expectation::new(
                    "player_id_present",
                    Check::NotNull {
                        column: col("player_id"),
                    },
                    Fail,
                )
                .with_threshold(0.01),
                Expectation::new(
                    "mission_id_format",
                    Check::Regex {
                        column: col("mission_id"),
                        pattern: col("^[A-Za-z0-9_.:-]+$"),
                    },
                    Warn,
                ),
            ]),
            "economy_transactions" => out.extend([
                Expectation::new("amount_positive", range("amount", Some(1.0), None), Drop),
                Expectation::new(
                    "direction_known",
                    Check::AcceptedValues {
                        column: col("direction"),
                        values: s(&["earn", "spend"]),
                    },
                    Fail,
                ),
                Expectation::new(
                    "known_currency",
                    Check::AcceptedValues {
                        column: col("currency"),
                        values: s(&["CREDITS", "GEMS", "SCRAP"]),
                    },
                    Warn,
                ),
            ]),
            _ => {}
        }
        out
    }
}
