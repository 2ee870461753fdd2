use thiserror::Error;

/// Errors of ingest and the simulator.
#[derive(Debug, Error)]
pub enum Error {
    #[error(
        "cannot reach Kafka brokers at {brokers}: {source}{reason} (check kafka.brokers / \
         --brokers, and kafka.properties and kafka.secrets for TLS and SASL)"
    )]
    Unreachable {
        brokers: Box<str>,
        source: Box<rdkafka::error::KafkaError>,
        /// What librdkafka said about the connection (TLS handshake, SASL login), if anything.
        reason: Box<str>,
    },
    #[error(
        "topic '{topic}' does not exist on {brokers} (create it first, e.g. `strata simulate --partitions N` creates missing topics)"
    )]
    MissingTopic { topic: String, brokers: String },
    #[error("kafka client setup failed: {0}")]
    Client(#[source] rdkafka::error::KafkaError),
    #[error("creating topic '{topic}' failed: {message}")]
    CreateTopic { topic: String, message: String },
    #[error("producing to topic '{topic}' failed: {message}")]
    Produce { topic: String, message: String },
    #[error("{failed} of {total} records were not acknowledged by the broker: {first_error}")]
    Undelivered {
        failed: u64,
        total: u64,
        first_error: String,
    },
    #[error("rebalance: loading stored offsets from bronze.events failed: {0}")]
    Rebalance(String),
    #[error(
        "consumer group '{group}' has never written {partitions}, which bronze.events already \
         holds from another group (a renamed group?); start after what Bronze holds with \
         --start-from bronze, read them again with --start-from beginning, or only new records \
         with --start-from latest (ingest.start_from)"
    )]
    NewGroup { group: String, partitions: String },
    #[error(
        "not caught up after {waited_s} s (ingest.caught_up_timeout_s): {detail}; Bronze holds \
         what was committed, run again to go on"
    )]
    NotCaughtUp { waited_s: u64, detail: String },
    #[error("the Bronze commit task failed: {0}")]
    CommitTask(String),
    #[error(transparent)]
    Bronze(#[from] strata_bronze::Error),
    #[error(transparent)]
    Lake(#[from] strata_pipelines::Error),
    #[error(transparent)]
    Quality(#[from] strata_quality::Error),
    #[error("invalid setting {key}: {message}")]
    Config { key: String, message: String },
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
}

impl Error {
    /// Whether a retry of the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Rebalance(_) => true,
            Error::Bronze(e) => e.is_retryable(),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
