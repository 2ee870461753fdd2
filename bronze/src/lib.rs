//! Bronze: the immutable event log. One row per Kafka record ever received, valid or not,
//! written exactly once.
//!
//! ```text
//!   RawRecord (topic, partition, offset, bytes)
//!        |  Inspector: UTF-8, JSON, envelope, JSON Schema
//!        v
//!   BronzeBatch (Arrow) --> BronzeWriter::commit --> bronze.events
//!                            one Delta commit = data + txn(<group>-<topic>-<partition>, last offset)
//! ```

pub mod batch;
pub mod error;
pub mod record;
pub mod replay;
pub mod writer;

pub use batch::build_batch;
pub use error::{Error, Result};
pub use record::RawRecord;
pub use replay::{ReplayReport, replay_quarantine, replayed_table};
pub use writer::{BronzeWriter, CommitReport, PartitionKey, Prepared, offset_app_id};

use strata_pipelines::TableName;

/// `bronze.events`.
pub fn events_table() -> TableName {
    TableName::new("bronze", "events")
}
