//! Silver: typed, deduplicated tables refined from `bronze.events`, as a pipeline project's
//! `silver/<table>.toml` declares them (event types, typed columns, key or stitching).
//!
//! ```text
//!   bronze.events (new files since the job's checkpoint, valid rows of the family's types)
//!        |  decode: JSON value -> typed columns (decode.rs)
//!        v
//!   dedup within the batch (first by Kafka position) -> MERGE on the key into silver.<table>
//!        one Delta commit = rows + txn(job:silver.<table>, bronze version consumed)
//! ```

pub mod days;
pub mod decode;
pub mod error;
pub mod job;
mod rebuild;
mod recompute;

pub use days::{conform, day_list};
pub use decode::{Untyped, UntypedColumn};
pub use error::{Error, Result};
pub use job::{Recomputed, RunReport, SilverJob};
pub use strata_project::SilverTable;
