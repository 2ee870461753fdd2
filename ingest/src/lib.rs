//! Ingest: Kafka consumer-group members that land every record in `bronze.events` exactly
//! once, plus the event simulator that feeds them.
//!
//! ```text
//!   topics --> consumer (rebalance: seek to Delta offsets + 1) --> batch (count/bytes/time)
//!          --> BronzeWriter::commit (data + txn offsets, one Delta commit)
//!          --> Kafka offset commit (for lag only)
//! ```

pub mod admin;
pub mod client;
pub mod config;
pub mod consumer;
pub mod embedded;
pub mod error;
pub mod metrics;
pub mod produce;
pub mod simulate;
pub mod start;

pub use client::{Reporting, SecretSource};
pub use config::{BatchConfig, IngestConfig, KafkaConfig, SimulateConfig};
pub use consumer::{IngestSummary, Ingestor};
pub use error::{Error, Result};
pub use metrics::Metrics;
pub use start::StartFrom;
