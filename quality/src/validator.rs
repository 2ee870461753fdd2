use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;
use strata_schemas::SchemaCatalog;

use crate::{Error, Result};

/// Why a JSON document does not satisfy its event type's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub event_type: String,
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
    validators: HashMap<(String, u32), jsonschema::Validator>,
    types: HashSet<String>,
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
        let mut types = HashSet::new();
        for ((event_type, version), schema) in catalog.iter() {
            types.insert(event_type.to_string());
            let validator =
                jsonschema::validator_for(schema).map_err(|e| Error::SchemaCompile {
                    event_type: event_type.to_string(),
                    version,
                    message: e.to_string(),
                })?;
            validators.insert((event_type.to_string(), version), validator);
        }
        Ok(Self { validators, types })
    }

    pub fn knows(&self, event_type: &str, version: u32) -> bool {
        self.validators
            .contains_key(&(event_type.to_string(), version))
    }

    /// Whether any version of `event_type` is known.
    pub fn knows_type(&self, event_type: &str) -> bool {
        self.types.contains(event_type)
    }

    /// `Ok(None)` when valid, `Ok(Some(violation))` naming the first failure otherwise, `None`
    /// as the outer option when the (type, version) pair is unknown.
    pub fn validate(
        &self,
        event_type: &str,
        version: u32,
        doc: &Value,
    ) -> Option<Result<(), Violation>> {
        let validator = self.validators.get(&(event_type.to_string(), version))?;
        // The fast path: `is_valid` does not build error values.
        if validator.is_valid(doc) {
            return Some(Ok(()));
        }
        let violation = match validator.validate(doc) {
            Ok(()) => return Some(Ok(())),
            Err(e) => Violation {
                event_type: event_type.to_string(),
                version,
                instance_path: e.instance_path().to_string(),
                rule: e.kind().keyword().to_string(),
                message: e.to_string(),
            },
        };
        Some(Err(violation))
    }
}

/// The built-in project's event schemas, read from its folder (tests of this crate cannot use
/// the project crate, which depends on it).
#[cfg(test)]
pub(crate) fn builtin_catalog() -> SchemaCatalog {
    // The directory cargo runs the test from, not the one it was built in: a test binary
    // built in another checkout of the same commit is reused as fresh.
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    let dir = root.join("../project/builtin/events");
    let mut catalog = SchemaCatalog::default();
    for entry in std::fs::read_dir(&dir).expect("project/builtin/events") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let stem = name.strip_suffix(".json").expect("a .json file");
        let (event_type, version) = stem.rsplit_once(".v").expect("<type>.v<N>");
        let schema =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        catalog.insert(event_type, version.parse().expect("version"), schema);
    }
    catalog
}
