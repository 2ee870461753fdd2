use std::fmt;

use thiserror::Error;

/// Where a failure comes from, which decides who acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorDomain {
    /// Bad data, bad config, a missing table: an operator or producer must act.
    User,
    /// The object store, the network, another writer: may pass on its own.
    External,
    /// A defect in Strata.
    Internal,
}

impl fmt::Display for ErrorDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorDomain::User => "user",
            ErrorDomain::External => "external",
            ErrorDomain::Internal => "internal",
        })
    }
}

/// A job's failure, classified.
#[derive(Debug, Clone, Error, serde::Serialize)]
#[error("{domain} error{}: {message}", if *retryable { " (retryable)" } else { "" })]
pub struct JobFailure {
    pub domain: ErrorDomain,
    pub retryable: bool,
    pub message: String,
    /// The expectations that stopped the job, when that is what failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<FailedExpectation>,
}

/// An expectation that stopped a job: where, which, and on how many rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedExpectation {
    pub table: String,
    pub rule: String,
    pub rows_failed: u64,
    pub rows_checked: u64,
}

impl FailedExpectation {
    /// The failed results of a quality failure.
    pub fn all(failure: &strata_quality::QualityFailure) -> Vec<Self> {
        failure
            .results
            .iter()
            .filter(|r| r.outcome == "failed")
            .map(|r| Self {
                table: failure.table.clone(),
                rule: r.name.clone(),
                rows_failed: r.rows_failed,
                rows_checked: r.rows_checked,
            })
            .collect()
    }
}

impl JobFailure {
    pub fn new(domain: ErrorDomain, retryable: bool, message: impl Into<String>) -> Self {
        Self {
            domain,
            retryable,
            message: message.into(),
            expectations: Vec::new(),
        }
    }
}

/// Errors of the orchestrator itself.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error("table {table}: {source}")]
    Delta {
        table: String,
        source: Box<deltalake::DeltaTableError>,
    },
    #[error("the job graph is invalid: {0}")]
    Dag(String),
    #[error("no job named '{name}' (jobs: {known})")]
    UnknownJob { name: String, known: String },
    #[error("invalid date range: {0}")]
    Range(String),
    #[error("job {job} failed: {failure}")]
    Job { job: String, failure: JobFailure },
    #[error(
        "vacuum retention {hours} h is below the floor of {floor} h: readers of older versions would lose their files (pass --force to do it anyway)"
    )]
    RetentionTooShort { hours: u64, floor: u64 },
    #[error("retention: {0}")]
    Retention(String),
    #[error("erasure: {0}")]
    Erasure(String),
    #[error("query failed: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("building Arrow columns failed: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
}

impl Error {
    pub fn delta(table: impl ToString, source: deltalake::DeltaTableError) -> Self {
        Error::Delta {
            table: table.to_string(),
            source: Box::new(source),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
