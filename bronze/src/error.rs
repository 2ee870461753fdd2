use thiserror::Error;

/// Errors of the Bronze layer.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error("building the Arrow batch for bronze.events failed: {0}")]
    Arrow(#[from] Box<deltalake::arrow::error::ArrowError>),
    #[error("commit to bronze.events failed: {source} (retryable: another attempt may succeed)")]
    Commit {
        source: Box<deltalake::DeltaTableError>,
    },
    #[error(
        "commit to bronze.events kept conflicting with other writers of the same partitions after {attempts} attempts"
    )]
    TooManyConflicts { attempts: u32 },
}

impl From<deltalake::DeltaTableError> for Error {
    fn from(source: deltalake::DeltaTableError) -> Self {
        Error::Commit {
            source: Box::new(source),
        }
    }
}

impl From<deltalake::arrow::error::ArrowError> for Error {
    fn from(e: deltalake::arrow::error::ArrowError) -> Self {
        Error::Arrow(Box::new(e))
    }
}

impl Error {
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Commit { .. } | Error::TooManyConflicts { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
