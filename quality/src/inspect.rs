use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::SchemaValidator;

/// Machine-readable class of an invalid record; the quarantine groups by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidKind {
    /// A null value (a Kafka tombstone).
    Tombstone,
    /// Larger than the configured limit; the bytes are still kept.
    Oversize,
    InvalidUtf8,
    MalformedJson,
    /// Well-formed JSON nested deeper than the parser's limit (128 levels).
    TooDeep,
    /// An object holds the same key twice (which value counts is reader-dependent).
    DuplicateKey,
    NotAnObject,
    MissingEventId,
    MissingEventType,
    UnknownEventType,
    UnknownSchemaVersion,
    BadTimestamp,
    /// A valid time outside the plausible window around ingest time (year 9999, year 1).
    ImplausibleTime,
    SchemaViolation,
    /// Confluent-framed, but its schema id is unknown, the registry is unreachable or not
    /// configured, or the payload violates the registered schema.
    SchemaRegistry,
}

impl InvalidKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidKind::Tombstone => "tombstone",
            InvalidKind::Oversize => "oversize",
            InvalidKind::InvalidUtf8 => "invalid_utf8",
            InvalidKind::MalformedJson => "malformed_json",
            InvalidKind::TooDeep => "too_deep",
            InvalidKind::DuplicateKey => "duplicate_key",
            InvalidKind::NotAnObject => "not_an_object",
            InvalidKind::MissingEventId => "missing_event_id",
            InvalidKind::MissingEventType => "missing_event_type",
            InvalidKind::UnknownEventType => "unknown_event_type",
            InvalidKind::UnknownSchemaVersion => "unknown_schema_version",
            InvalidKind::BadTimestamp => "bad_timestamp",
            InvalidKind::ImplausibleTime => "implausible_time",
            InvalidKind::SchemaViolation => "schema_violation",
            InvalidKind::SchemaRegistry => "schema_registry",
        }
    }
}

impl fmt::Display for InvalidKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record is invalid: a class and an operator-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub kind: InvalidKind,
    pub message: String,
}

/// Longest error message kept; a value quoted in a message (a 100k-character event type)
/// must not make the error as large as the record.
pub const MAX_MESSAGE_CHARS: usize = 1024;

impl Invalid {
    fn new(kind: InvalidKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: cap_message(message.into()),
        }
    }
}

/// The message cut at [`MAX_MESSAGE_CHARS`], saying how much was left out.
pub fn cap_message(message: String) -> String {
    let total = message.chars().count();
    if total <= MAX_MESSAGE_CHARS {
        return message;
    }
    let kept: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    format!(
        "{kept}... ({} more characters, {total} in all)",
        total - MAX_MESSAGE_CHARS
    )
}

/// The envelope fields of a record, as far as they could be read. Filled even for invalid
/// records where possible, so the quarantine can be searched by type or entity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InspectedEvent {
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub schema_version: Option<i32>,
    /// Microseconds since the Unix epoch.
    pub occurred_at_us: Option<i64>,
    pub source: Option<String>,
    pub tenant_id: Option<String>,
    pub player_id: Option<String>,
    pub agent_id: Option<String>,
    pub session_id: Option<String>,
}

/// The outcome of inspecting one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub event: InspectedEvent,
    pub invalid: Option<Invalid>,
}

impl Inspection {
    pub fn is_valid(&self) -> bool {
        self.invalid.is_none()
    }

    fn invalid(event: InspectedEvent, kind: InvalidKind, message: impl Into<String>) -> Self {
        Self {
            event,
            invalid: Some(Invalid::new(kind, message)),
        }
    }
}

/// Parses and validates raw record values. Cheap to share: validators are compiled once.
#[derive(Debug)]
pub struct Inspector {
    /// Swapped whole when the registry gains versions (`set_validator`); readers clone the Arc.
    validator: std::sync::RwLock<std::sync::Arc<SchemaValidator>>,
    max_value_bytes: usize,
    registry: Option<std::sync::Arc<crate::framed::RegistrySchemas>>,
    /// Accepted event times: ingest time minus the first, plus the second. Every layer's
    /// date arithmetic is safe inside it; a year-9999 event cannot block a job.
    event_time_window: (Duration, Duration),
}

/// Event times accepted by default: 20 years back, 7 days ahead of ingest time.
pub const DEFAULT_EVENT_TIME_WINDOW: (Duration, Duration) = (
    Duration::from_secs(20 * 365 * 86_400),
    Duration::from_secs(7 * 86_400),
);

fn str_field(doc: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    doc.get(name).and_then(Value::as_str).map(str::to_owned)
}

impl Inspector {
    pub fn new(validator: SchemaValidator, max_value_bytes: usize) -> Self {
        Self {
            validator: std::sync::RwLock::new(std::sync::Arc::new(validator)),
            max_value_bytes,
            registry: None,
            event_time_window: DEFAULT_EVENT_TIME_WINDOW,
        }
    }

    /// Accept event times from `past` before to `future` after ingest time.
    pub fn with_event_time_window(mut self, past: Duration, future: Duration) -> Self {
        self.event_time_window = (past, future);
        self
    }

    /// Validate with these schemas from now on (a registry gained versions). Records being
    /// inspected concurrently finish with the schemas they started with.
    pub fn set_validator(&self, validator: SchemaValidator) {
        *self
            .validator
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(validator);
    }

    /// Accept Confluent-framed values, validated against schemas from this registry.
    pub fn with_registry(
        mut self,
        registry: std::sync::Arc<crate::framed::RegistrySchemas>,
    ) -> Self {
        self.registry = Some(registry);
        self
    }

    pub fn registry(&self) -> Option<&std::sync::Arc<crate::framed::RegistrySchemas>> {
        self.registry.as_ref()
    }

    pub fn max_value_bytes(&self) -> usize {
        self.max_value_bytes
    }

    /// Inspect one record value. `None` is a tombstone.
    pub fn inspect(&self, value: Option<&[u8]>) -> Inspection {
        let Some(bytes) = value else {
            return Inspection::invalid(
                InspectedEvent::default(),
                InvalidKind::Tombstone,
                "null value (tombstone): nothing to parse",
            );
        };
        if bytes.len() > self.max_value_bytes {
            return Inspection::invalid(
                InspectedEvent::default(),
                InvalidKind::Oversize,
                format!(
                    "value is {} bytes, over the limit of {} bytes (ingest.max_value_bytes)",
                    bytes.len(),
                    self.max_value_bytes
                ),
            );
        }
        // Confluent wire format: check the payload against its registered schema, then
        // inspect the payload like any other event.
        let (bytes, schema_id) = match crate::framed::split(bytes) {
            Some((id, payload)) => (payload, Some(id)),
            None => (bytes, None),
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                return Inspection::invalid(
                    InspectedEvent::default(),
                    InvalidKind::InvalidUtf8,
                    format!("value is not UTF-8: {e}"),
                );
            }
        };
        if text.starts_with('\u{feff}') {
            return Inspection::invalid(
                InspectedEvent::default(),
                InvalidKind::MalformedJson,
                "value starts with a byte-order mark (U+FEFF), which JSON does not allow; send the JSON without it",
            );
        }
        let doc: Value = match crate::strict::from_str(text) {
            Ok(v) => v,
            Err(e) if e.to_string().starts_with(crate::strict::DUPLICATE_KEY) => {
                return Inspection::invalid(
                    InspectedEvent::default(),
                    InvalidKind::DuplicateKey,
                    format!(
                        "value has an object with a {e}; readers disagree on which value counts, so send each key once"
                    ),
                );
            }
            Err(e) if e.to_string().contains("recursion limit exceeded") => {
                return Inspection::invalid(
                    InspectedEvent::default(),
                    InvalidKind::TooDeep,
                    format!(
                        "value nests objects or arrays more than 128 levels deep ({e}); flatten the payload"
                    ),
                );
            }
            Err(e) => {
                return Inspection::invalid(
                    InspectedEvent::default(),
                    InvalidKind::MalformedJson,
                    format!("value is not JSON: {e}"),
                );
            }
        };
        if let Some(id) = schema_id {
            let checked = match &self.registry {
                Some(r) => r.check(id, &doc),
                None => Err(format!(
                    "Confluent-framed value (schema id {id}) but no schema registry is configured (kafka.schema_registry_url)"
                )),
            };
            if let Err(message) = checked {
                let mut inspection = self.inspect_json(&doc);
                inspection.invalid = Some(Invalid::new(InvalidKind::SchemaRegistry, message));
                return inspection;
            }
        }
        self.inspect_json(&doc)
    }

    /// Inspect an already parsed document.
    pub fn inspect_json(&self, doc: &Value) -> Inspection {
        let Some(obj) = doc.as_object() else {
            return Inspection::invalid(
                InspectedEvent::default(),
                InvalidKind::NotAnObject,
                format!("value is a JSON {}, not an object", json_kind(doc)),
            );
        };
        let mut event = InspectedEvent {
            event_id: str_field(obj, "event_id"),
            event_type: str_field(obj, "event_type"),
            schema_version: obj
                .get("schema_version")
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok()),
            occurred_at_us: None,
            source: str_field(obj, "source"),
            tenant_id: str_field(obj, "tenant_id"),
            player_id: str_field(obj, "player_id"),
            agent_id: str_field(obj, "agent_id"),
            session_id: str_field(obj, "session_id"),
        };
        let occurred_at = obj.get("occurred_at").and_then(Value::as_str);
        event.occurred_at_us = occurred_at.and_then(parse_rfc3339_us);

        if event.event_id.as_deref().is_none_or(str::is_empty) {
            return Inspection::invalid(
                event,
                InvalidKind::MissingEventId,
                "missing event_id: every event needs a string event_id (the dedup key)",
            );
        }
        let Some(type_name) = event.event_type.clone() else {
            return Inspection::invalid(
                event,
                InvalidKind::MissingEventType,
                "missing event_type: expected a string such as \"mission.completed\"",
            );
        };
        let validator = self
            .validator
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let event_type = type_name.as_str();
        if !validator.knows_type(event_type) {
            return Inspection::invalid(
                event,
                InvalidKind::UnknownEventType,
                format!("unknown event_type '{type_name}'"),
            );
        }
        let Some(version) = event.schema_version.and_then(|v| u32::try_from(v).ok()) else {
            return Inspection::invalid(
                event,
                InvalidKind::UnknownSchemaVersion,
                format!("{event_type}: schema_version missing or not a positive integer"),
            );
        };
        match validator.validate(event_type, version, doc) {
            None => Inspection::invalid(
                event,
                InvalidKind::UnknownSchemaVersion,
                format!("{event_type}: unknown schema_version {version}"),
            ),
            Some(Err(violation)) => {
                Inspection::invalid(event, InvalidKind::SchemaViolation, violation.to_string())
            }
            Some(Ok(())) => {
                let Some(at) = event.occurred_at_us else {
                    let shown = occurred_at.unwrap_or_default().to_string();
                    return Inspection::invalid(
                        event,
                        InvalidKind::BadTimestamp,
                        format!("{event_type}: occurred_at '{shown}' is not an RFC 3339 time"),
                    );
                };
                if let Some(why) = self.implausible(at) {
                    let shown = occurred_at.unwrap_or_default().to_string();
                    return Inspection::invalid(
                        event,
                        InvalidKind::ImplausibleTime,
                        format!("{event_type}: occurred_at '{shown}' {why}"),
                    );
                }
                Inspection {
                    event,
                    invalid: None,
                }
            }
        }
    }
}

impl Inspector {
    /// Why an event time lies outside the accepted window, if it does.
    fn implausible(&self, at_us: i64) -> Option<String> {
        let now = chrono::Utc::now().timestamp_micros();
        let (past, future) = self.event_time_window;
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let days = |d: Duration| d.as_secs() / 86_400;
        if at_us < now.saturating_sub(micros(past)) {
            return Some(format!(
                "is more than {} days before ingest time (ingest.event_time_past_days)",
                days(past)
            ));
        }
        if at_us > now.saturating_add(micros(future)) {
            return Some(format!(
                "is more than {} days after ingest time (ingest.event_time_future_days)",
                days(future)
            ));
        }
        None
    }
}

fn parse_rfc3339_us(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inspector() -> Inspector {
        Inspector::new(
            SchemaValidator::new(&crate::validator::builtin_catalog()).unwrap(),
            1024,
        )
    }

    fn completed() -> Value {
        json!({
            "event_id": "01J9ZQ4T6M3K8Y2B7C5D",
            "event_type": "mission.completed",
            "schema_version": 1,
            "occurred_at": "2026-11-20T10:00:00Z",
            "source": "game-server/eu-1",
            "tenant_id": "org-1",
            "player_id": "p-1",
            "session_id": "s-1",
            "payload": {"mission_id": "m-1", "mission_type": "escort", "duration_s": 300, "reward_credits": 50}
        })
    }

    fn kind_of(bytes: Option<&[u8]>) -> Option<InvalidKind> {
        inspector().inspect(bytes).invalid.map(|i| i.kind)
    }

    #[test]
    fn valid_event_passes_with_envelope_fields() {
        let bytes = serde_json::to_vec(&completed()).unwrap();
        let i = inspector().inspect(Some(&bytes));
        assert!(i.is_valid(), "{:?}", i.invalid);
        assert_eq!(i.event.event_type.as_deref(), Some("mission.completed"));
        assert_eq!(i.event.player_id.as_deref(), Some("p-1"));
        assert_eq!(i.event.occurred_at_us, Some(1_795_168_800_000_000));
    }

    #[test]
    fn every_kind_of_bad_input_is_classified() {
        assert_eq!(kind_of(None), Some(InvalidKind::Tombstone));
        assert_eq!(kind_of(Some(&[b'x'; 2000])), Some(InvalidKind::Oversize));
        assert_eq!(kind_of(Some(&[0xff, 0xfe])), Some(InvalidKind::InvalidUtf8));
        assert_eq!(
            kind_of(Some(b"{\"event_id\":")),
            Some(InvalidKind::MalformedJson)
        );
        assert_eq!(kind_of(Some(b"[1,2]")), Some(InvalidKind::NotAnObject));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(kind_of(Some(deep.as_bytes())), Some(InvalidKind::TooDeep));
        let twice = br#"{"event_id":"aaaaaaaa","event_id":"bbbbbbbb"}"#;
        assert_eq!(kind_of(Some(twice)), Some(InvalidKind::DuplicateKey));
        let bom = [
            b"\xef\xbb\xbf".as_slice(),
            &serde_json::to_vec(&completed()).unwrap(),
        ]
        .concat();
        let i = inspector().inspect(Some(&bom)).invalid.unwrap();
        assert_eq!(i.kind, InvalidKind::MalformedJson);
        assert!(i.message.contains("byte-order mark"), "{}", i.message);

        let mut doc = completed();
        doc.as_object_mut().unwrap().remove("event_id");
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert_eq!(kind_of(Some(&bytes)), Some(InvalidKind::MissingEventId));

        let mut doc = completed();
        doc["event_type"] = json!("mission.abandoned");
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert_eq!(kind_of(Some(&bytes)), Some(InvalidKind::UnknownEventType));

        let mut doc = completed();
        doc["schema_version"] = json!(7);
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert_eq!(
            kind_of(Some(&bytes)),
            Some(InvalidKind::UnknownSchemaVersion)
        );

        let mut doc = completed();
        doc["occurred_at"] = json!("yesterday");
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert_eq!(kind_of(Some(&bytes)), Some(InvalidKind::BadTimestamp));
    }

    #[test]
    fn schema_violation_names_type_path_and_rule() {
        let mut doc = completed();
        doc["payload"]["duration_s"] = json!(-5);
        let bytes = serde_json::to_vec(&doc).unwrap();
        let invalid = inspector().inspect(Some(&bytes)).invalid.unwrap();
        assert_eq!(invalid.kind, InvalidKind::SchemaViolation);
        assert!(
            invalid.message.contains("mission.completed v1"),
            "{}",
            invalid.message
        );
        assert!(
            invalid.message.contains("/payload/duration_s"),
            "{}",
            invalid.message
        );
        assert!(
            invalid.message.contains("rule: minimum"),
            "{}",
            invalid.message
        );
        // The envelope is still read, so the quarantine can be searched by entity.
        assert_eq!(
            inspector().inspect(Some(&bytes)).event.player_id.as_deref(),
            Some("p-1")
        );
    }

    #[test]
    fn long_messages_are_capped_saying_how_much_was_left_out() {
        let long = "x".repeat(100_000);
        let capped = cap_message(format!("unknown event_type '{long}'"));
        assert!(
            capped.chars().count() < MAX_MESSAGE_CHARS + 80,
            "{}",
            capped.len()
        );
        assert!(
            capped.ends_with("(98997 more characters, 100021 in all)"),
            "{}",
            &capped[capped.len() - 60..]
        );
        assert_eq!(cap_message("short".into()), "short");
    }

    #[test]
    fn far_dated_events_are_invalid_with_their_own_kind() {
        let i = inspector();
        for when in [
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "1600-01-01T00:00:00Z",
            "2300-01-01T00:00:00Z",
        ] {
            let mut doc = completed();
            doc["occurred_at"] = serde_json::json!(when);
            let bytes = serde_json::to_vec(&doc).unwrap();
            let got = i.inspect(Some(&bytes)).invalid.expect(when);
            assert_eq!(
                got.kind,
                InvalidKind::ImplausibleTime,
                "{when}: {}",
                got.message
            );
            assert!(
                got.message.contains("ingest.event_time_"),
                "{}",
                got.message
            );
        }
        let mut doc = completed();
        doc["occurred_at"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
        assert!(
            i.inspect(Some(&serde_json::to_vec(&doc).unwrap()))
                .is_valid()
        );
    }

    /// What the JSON Schema admits fits the Silver column, or is refused here with the
    /// reason: 2^63 and 2^64 are over the schema's cap (which keeps Gold's sums in 64 bits);
    /// -0, -0.0 and 6e1 are integers.
    #[test]
    fn integers_past_their_cap_are_refused_at_ingest() {
        let i = inspector();
        for (raw, valid) in [
            ("9223372036854775808", false),
            ("18446744073709551616", false),
            ("9223372036854775807", false),
            ("1000000001", false),
            ("-0", true),
            ("-0.0", true),
            ("6e1", true),
            ("1000000000", true),
        ] {
            let text = serde_json::to_string(&completed())
                .unwrap()
                .replace("\"duration_s\":300", &format!("\"duration_s\":{raw}"));
            let got = i.inspect(Some(text.as_bytes()));
            assert_eq!(got.is_valid(), valid, "{raw}: {:?}", got.invalid);
            if let Some(invalid) = got.invalid {
                assert_eq!(invalid.kind, InvalidKind::SchemaViolation);
                assert!(
                    invalid.message.contains("/payload/duration_s")
                        && invalid.message.contains("maximum"),
                    "{}",
                    invalid.message
                );
            }
        }
    }
}
