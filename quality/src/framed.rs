//! Records in Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the
//! JSON payload. Schemas are fetched by id from a Confluent-compatible registry with
//! `schema_registry_converter` (ahead of each batch, asynchronously) and cached; each record's
//! payload is then validated against its registered schema synchronously, inside
//! [`crate::Inspector`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use schema_registry_converter::async_impl::json::{JsonDecoder, JsonSchema};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use serde_json::Value;

/// Split a framed value into (schema id, payload); `None` when it is not framed.
pub fn split(bytes: &[u8]) -> Option<(u32, &[u8])> {
    match bytes {
        [0, a, b, c, d, rest @ ..] => Some((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => None,
    }
}

/// Registered schemas by id, fetched through `schema_registry_converter`.
pub struct RegistrySchemas {
    url: String,
    decoder: JsonDecoder,
    schemas: RwLock<HashMap<u32, Result<Arc<JsonSchema>, String>>>,
}

impl std::fmt::Debug for RegistrySchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySchemas")
            .field("url", &self.url)
            .finish()
    }
}

impl RegistrySchemas {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            decoder: JsonDecoder::new(SrSettings::new(url.trim_end_matches('/').to_string())),
            schemas: RwLock::new(HashMap::new()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetch the schemas of framed values not seen yet. An unknown id is remembered as such;
    /// an unreachable registry is not (the next batch asks again).
    pub async fn prefetch<'a>(&self, values: impl IntoIterator<Item = Option<&'a [u8]>>) {
        let mut wanted: Vec<u32> = values
            .into_iter()
            .flatten()
            .filter_map(|v| split(v).map(|(id, _)| id))
            .filter(|id| {
                self.schemas
                    .read()
                    .map(|m| !m.contains_key(id))
                    .unwrap_or(true)
            })
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        for id in wanted {
            let result = self.decoder.get_schema(id).await;
            let entry = match result {
                Ok(s) => Ok(s),
                Err(e) if e.retriable => {
                    tracing::warn!(id, registry = %self.url, error = %e, "schema registry unavailable");
                    continue;
                }
                Err(e) => Err(format!(
                    "schema id {id} is not in the registry at {}: {e}",
                    self.url
                )),
            };
            if let Ok(mut m) = self.schemas.write() {
                m.insert(id, entry);
            }
        }
    }

    /// Validate a payload against its registered schema.
    pub fn check(&self, id: u32, value: &Value) -> Result<(), String> {
        let schema = match self.schemas.read().ok().and_then(|m| m.get(&id).cloned()) {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(format!(
                    "schema id {id}: the registry at {} did not answer",
                    self.url
                ));
            }
        };
        self.decoder
            .validate(&schema, value)
            .map_err(|e| format!("schema id {id}: {e}"))
    }
}
