use thiserror::Error;

/// Errors of the event model.
#[derive(Debug, Error)]
pub enum Error {
    #[error("unknown event_type '{0}'")]
    UnknownEventType(String),
    #[error("embedded JSON Schema {file} is not valid JSON: {source}")]
    BadSchemaFile {
        file: &'static str,
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
