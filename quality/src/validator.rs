use std::collections::HashMap;
use std::fmt;

use serde_json::Value;
use strata_schemas::{EventType, SchemaCatalog};

use crate::{Error, Result};

/// Why a JSON document does not satisfy its event type's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub event_type: EventType,
    pub version: u32,
    /// JSON Pointer into the event, e.g. `/payload/rating`.
    pub instance_path: String,
    /// The JSON Schema keyword that failed, e.g. `maximum`.
    pub rule: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.instance_path.is_empty() {
            "/"
        } else {
            &self.instance_path
        };
        write!(
            f,
            "{} v{} at {}: {} (rule: {})",
            self.event_type, self.version, path, self.message, self.rule
        )
    }
}

/// Compiled JSON Schema validators, one per (event type, version), built once at start.
pub struct SchemaValidator {
    validators: HashMap<(EventType, u32), jsonschema::Validator>,
}

impl fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaValidator")
            .field("schemas", &self.validators.len())
            .finish()
    }
}

impl SchemaValidator {
    pub fn new(catalog: &SchemaCatalog) -> Result<Self> {
        let mut validators = HashMap::new();
        for ((event_type, version), schema) in catalog.iter() {
            let validator =
                jsonschema::validator_for(schema).map_err(|e| Error::SchemaCompile {
                    event_type: event_type.to_string(),
                    version,
                    message: e.to_string(),
                })?;
            validators.insert((event_type, version), validator);
        }
        Ok(Self { validators })
    }

    /// The builtin schemas of `schemas/events/`.
    pub fn builtin() -> Result<Self> {
        Self::new(&SchemaCatalog::builtin()?)
    }

    pub fn knows(&self, event_type: EventType, version: u32) -> bool {
        self.validators.contains_key(&(event_type, version))
    }

    /// `Ok(None)` when valid, `Ok(Some(violation))` naming the first failure otherwise, `None`
    /// as the outer option when the (type, version) pair is unknown.
    pub fn validate(
        &self,
        event_type: EventType,
        version: u32,
        doc: &Value,
    ) -> Option<Result<(), Violation>> {
        let validator = self.validators.get(&(event_type, version))?;
        // The fast path: `is_valid` does not build error values.
        if validator.is_valid(doc) {
            return Some(Ok(()));
        }
        let violation = match validator.validate(doc) {
            Ok(()) => return Some(Ok(())),
            Err(e) => Violation {
                event_type,
                version,
                instance_path: e.instance_path().to_string(),
                rule: e.kind().keyword().to_string(),
                message: e.to_string(),
            },
        };
        Some(Err(violation))
    }
}
