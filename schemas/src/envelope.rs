use serde::{Deserialize, Serialize};

/// The JSON envelope every producer sends. `event_id` is the deduplication key; the
/// type-specific fields live in `payload`, described by the event type's JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
    /// RFC 3339 event time, as the producer saw it.
    pub occurred_at: String,
    pub source: String,
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub payload: serde_json::Value,
}
