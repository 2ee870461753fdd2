use thiserror::Error;

/// Errors of the lake and the job runtime.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid lake location '{uri}': {reason}")]
    InvalidLake { uri: String, reason: String },
    #[error(
        "lake directory {path} does not exist (run `strata ingest` or `strata demo` first, or pass --lake)"
    )]
    MissingLake { path: String },
    #[error("cannot create lake directory {path}: {source}")]
    CreateLake {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot remove the {layer} layer: {reason}")]
    RemoveLayer { layer: String, reason: String },
    #[error("invalid table name '{0}': expected layer.table, e.g. bronze.events")]
    InvalidTableName(String),
    #[error("table {table} does not exist in the lake at {lake}")]
    NoSuchTable { table: String, lake: String },
    #[error("delta table {table}: {source}")]
    Delta {
        table: String,
        source: Box<deltalake::DeltaTableError>,
    },
    #[error(
        "delta table {table}: commit {version} is missing from the log (cleaned up? rebuild with `strata replay`)"
    )]
    MissingCommit { table: String, version: u64 },
    #[error(
        "{table}@v{version}: the log of {table} starts at version {first} (earlier versions were purged by an erasure)"
    )]
    VersionPurged {
        table: String,
        version: u64,
        first: u64,
    },
    #[error("delta table {table}: commit {version} is not readable: {message}")]
    BadCommit {
        table: String,
        version: u64,
        message: String,
    },
    #[error("{table}: cannot read data file {path}: {message}")]
    ReadFile {
        table: String,
        path: String,
        message: String,
    },
    #[error("{table}: column {column} is not text: {source}")]
    Column {
        table: String,
        column: String,
        source: Box<deltalake::arrow::error::ArrowError>,
    },
    #[error("query failed: {0}")]
    Query(#[from] Box<deltalake::datafusion::error::DataFusionError>),
}

impl Error {
    pub fn delta(table: impl ToString, source: deltalake::DeltaTableError) -> Self {
        Error::Delta {
            table: table.to_string(),
            source: Box::new(source),
        }
    }
}

impl From<deltalake::datafusion::error::DataFusionError> for Error {
    fn from(e: deltalake::datafusion::error::DataFusionError) -> Self {
        Error::Query(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
