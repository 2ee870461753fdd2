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
    #[error("expectation '{name}': {message}")]
    Expectation { name: String, message: String },
    #[error("evaluating expectations failed: {0}")]
    Query(#[from] Box<deltalake::datafusion::error::DataFusionError>),
    #[error("evaluating expectations failed: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error("delta table {table}: {source}")]
    Delta {
        table: String,
        source: Box<deltalake::DeltaTableError>,
    },
}

impl From<deltalake::datafusion::error::DataFusionError> for Error {
    fn from(e: deltalake::datafusion::error::DataFusionError) -> Self {
        Error::Query(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
