use std::collections::BTreeMap;

use serde_json::Value;

/// Every known (event type, schema version) and its parsed JSON Schema: a project's declared
/// versions plus those registered at runtime.
#[derive(Debug, Clone, Default)]
pub struct SchemaCatalog {
    schemas: BTreeMap<(String, u32), Value>,
}

impl SchemaCatalog {
    /// Add (or replace) a version, e.g. one registered at runtime.
    pub fn insert(&mut self, event_type: &str, version: u32, schema: Value) {
        self.schemas
            .insert((event_type.to_string(), version), schema);
    }

    pub fn get(&self, event_type: &str, version: u32) -> Option<&Value> {
        self.schemas.get(&(event_type.to_string(), version))
    }

    pub fn iter(&self) -> impl Iterator<Item = ((&str, u32), &Value)> {
        self.schemas.iter().map(|((t, v), s)| ((t.as_str(), *v), s))
    }

    /// Versions known for one type, ascending.
    pub fn versions(&self, event_type: &str) -> Vec<u32> {
        self.schemas
            .keys()
            .filter(|(t, _)| t == event_type)
            .map(|(_, v)| *v)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_kept_per_type() {
        let mut c = SchemaCatalog::default();
        c.insert("a.b", 2, Value::Null);
        c.insert("a.b", 1, Value::Null);
        c.insert("a.c", 1, Value::Null);
        assert_eq!(c.versions("a.b"), [1, 2]);
        assert_eq!(c.versions("a.c"), [1]);
        assert!(c.versions("a").is_empty());
    }
}
