use thiserror::Error;

/// Registry errors; each maps to a Confluent error code and an HTTP status.
#[derive(Debug, Error)]
pub enum Error {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {version} not found for subject '{subject}'.")]
    VersionNotFound { subject: String, version: String },
    #[error("Schema {0} not found")]
    SchemaNotFound(String),
    #[error("Schema being registered is incompatible with an earlier schema for subject '{subject}' ({level}): {}", messages.join("; "))]
    Incompatible {
        subject: String,
        level: String,
        messages: Vec<String>,
    },
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    #[error("Invalid compatibility level: {0}")]
    InvalidCompatibility(String),
    #[error("Unsupported schema type '{0}': this registry stores JSON schemas")]
    UnsupportedType(String),
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error("registry table {table}: {source}")]
    Delta {
        table: String,
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("registry storage: {0}")]
    Storage(String),
    #[error("registered schemas do not compile into validators: {0}")]
    Validators(String),
}

impl Error {
    /// Confluent's `error_code` and the HTTP status.
    pub fn codes(&self) -> (u32, u16) {
        match self {
            Error::SubjectNotFound(_) => (40401, 404),
            Error::VersionNotFound { .. } => (40402, 404),
            Error::SchemaNotFound(_) => (40403, 404),
            Error::Incompatible { .. } => (409, 409),
            Error::InvalidSchema(_) | Error::UnsupportedType(_) => (42201, 422),
            Error::InvalidCompatibility(_) => (42203, 422),
            Error::Lake(_) | Error::Delta { .. } | Error::Storage(_) | Error::Validators(_) => {
                (50001, 500)
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
