use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Error, EventType, Result};

/// One versioned JSON Schema file shipped with Strata (`schemas/events/<type>.v<N>.json`).
#[derive(Debug, Clone)]
pub struct SchemaFile {
    pub event_type: EventType,
    pub version: u32,
    pub file: &'static str,
    pub text: &'static str,
}

macro_rules! schema_file {
    ($t:expr, $v:expr, $file:literal) => {
        SchemaFile {
            event_type: $t,
            version: $v,
            file: $file,
            text: include_str!(concat!("../events/", $file)),
        }
    };
}

/// The schema files compiled into the binary, so a deployment needs nothing beside it.
pub fn builtin_schema_files() -> Vec<SchemaFile> {
    use EventType::*;
    vec![
        schema_file!(
            AgentInvocationStarted,
            1,
            "agent.invocation.started.v1.json"
        ),
        schema_file!(
            AgentInvocationCompleted,
            1,
            "agent.invocation.completed.v1.json"
        ),
        schema_file!(
            AgentInvocationCompleted,
            2,
            "agent.invocation.completed.v2.json"
        ),
        schema_file!(AgentFeedbackGiven, 1, "agent.feedback.given.v1.json"),
        schema_file!(PlayerSessionStarted, 1, "player.session.started.v1.json"),
        schema_file!(PlayerSessionEnded, 1, "player.session.ended.v1.json"),
        schema_file!(MissionStarted, 1, "mission.started.v1.json"),
        schema_file!(MissionCompleted, 1, "mission.completed.v1.json"),
        schema_file!(MissionFailed, 1, "mission.failed.v1.json"),
        schema_file!(EconomyTransaction, 1, "economy.transaction.v1.json"),
    ]
}

/// Every known (event type, schema version) and its parsed JSON Schema.
#[derive(Debug, Clone)]
pub struct SchemaCatalog {
    schemas: BTreeMap<(EventType, u32), Value>,
}

impl SchemaCatalog {
    /// The schemas shipped in `schemas/events/`.
    pub fn builtin() -> Result<Self> {
        let mut schemas = BTreeMap::new();
        for f in builtin_schema_files() {
            let value: Value =
                serde_json::from_str(f.text).map_err(|source| Error::BadSchemaFile {
                    file: f.file,
                    source,
                })?;
            schemas.insert((f.event_type, f.version), value);
        }
        Ok(Self { schemas })
    }

    /// Add (or replace) a version, e.g. one registered at runtime.
    pub fn insert(&mut self, event_type: EventType, version: u32, schema: Value) {
        self.schemas.insert((event_type, version), schema);
    }

    pub fn get(&self, event_type: EventType, version: u32) -> Option<&Value> {
        self.schemas.get(&(event_type, version))
    }

    pub fn iter(&self) -> impl Iterator<Item = ((EventType, u32), &Value)> {
        self.schemas.iter().map(|(k, v)| (*k, v))
    }

    /// Versions known for one type, ascending.
    pub fn versions(&self, event_type: EventType) -> Vec<u32> {
        self.schemas
            .keys()
            .filter(|(t, _)| *t == event_type)
            .map(|(_, v)| *v)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_schema() {
        let catalog = SchemaCatalog::builtin().unwrap();
        for t in EventType::ALL {
            let schema = catalog.get(t, 1).expect("schema v1");
            assert_eq!(schema["properties"]["event_type"]["const"], t.as_str());
        }
        assert_eq!(
            catalog.versions(EventType::AgentInvocationCompleted),
            [1, 2]
        );
    }
}
