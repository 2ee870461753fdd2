use thiserror::Error;

/// Errors of the Bronze layer.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error("building the Arrow batch for bronze.events failed: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("commit to bronze.events failed: {source} (retryable: another attempt may succeed)")]
    Commit { source: deltalake::DeltaTableError },
    #[error(
        "commit to bronze.events kept conflicting with other writers of the same partitions after {attempts} attempts"
    )]
    TooManyConflicts { attempts: u32 },
}

impl Error {
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Commit { .. } | Error::TooManyConflicts { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
