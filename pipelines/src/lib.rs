//! The job runtime shared by every layer: where tables live (the [`Lake`]), how they are opened
//! and created, and the one place that builds a DataFusion session over them.
//!
//! ```text
//!   Lake (root URI) --> TableName "layer.table" --> LAKE/layer/table (Delta)
//!        |
//!        +--> SessionBuilder --> SessionContext with every table as layer.table
//! ```

pub mod audit;
pub mod auth;
pub mod changes;
pub mod columns;
pub mod error;
pub mod files;
pub mod http;
pub mod job;
pub mod keys;
pub mod lake;
pub mod session;
pub mod stats;
pub mod telemetry;
pub mod time_travel;

pub use audit::{AuditEvent, AuditLog};
pub use auth::{BearerTokens, Principal};
pub use changes::{
    Commit, DataFile, ERASURE_MARK, Increment, SnapshotProgress, checkpoint_versions, commit,
    increment, increments, increments_resuming,
};
pub use columns::typed_column;
pub use deltalake;
pub use error::{Error, Result};
pub use job::{Declaration, JobSpec, JobSpecBuilder, txn_version};
pub use lake::{LAYERS, Lake, TableName, TableVersions};
pub use session::SessionBuilder;
pub use stats::{file_stats, files_and_rows, rows_by_partition};
