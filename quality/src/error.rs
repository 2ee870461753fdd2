use thiserror::Error;

/// Errors of the quality crate. Validation failures are not errors: they are data
/// ([`crate::Invalid`]); these are failures to set the validators up.
#[derive(Debug, Error)]
pub enum Error {
    #[error("JSON Schema for {event_type} v{version} does not compile: {message}")]
    SchemaCompile {
        event_type: String,
        version: u32,
        message: String,
    },
    #[error(transparent)]
    Schemas(#[from] strata_schemas::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
