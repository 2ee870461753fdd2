use thiserror::Error;

/// Errors of the Silver layer.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error("job {job}: {source}")]
    Delta {
        job: String,
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("job {job}: query failed: {source}")]
    Query {
        job: String,
        source: Box<deltalake::datafusion::error::DataFusionError>,
    },
    #[error("job {job}: building Arrow columns failed: {source}")]
    Arrow {
        job: String,
        source: Box<deltalake::arrow::error::ArrowError>,
    },
    #[error("job {job}: another run committed the same input first (retryable)")]
    Concurrent { job: String },
    #[error("job {job}: nothing committed: {failure}")]
    Expectations {
        job: String,
        failure: strata_quality::QualityFailure,
    },
    #[error("job {job}: {source}")]
    Quality {
        job: String,
        source: strata_quality::Error,
    },
}

impl Error {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Concurrent { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
