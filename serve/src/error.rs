use thiserror::Error;

/// Serving errors. Request errors map to 4xx with their message; the rest are 5xx.
#[derive(Debug, Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Authenticated, but the principal's role does not grant this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error("query failed: {0}")]
    Query(String),
    #[error("Arrow: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("Parquet: {0}")]
    Parquet(#[from] deltalake::parquet::errors::ParquetError),
    #[error("Redis at {url}: {message}")]
    Redis { url: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("SQL endpoint TLS (serve.pg_tls_cert, serve.pg_tls_key): {0}")]
    Tls(String),
}

impl From<deltalake::datafusion::error::DataFusionError> for Error {
    fn from(e: deltalake::datafusion::error::DataFusionError) -> Self {
        Error::Query(e.to_string())
    }
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthorized => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::TooLarge(_) => 413,
            _ => 500,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
