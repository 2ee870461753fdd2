//! Silver: typed, deduplicated tables refined from `bronze.events`, as a pipeline project's
//! `silver/<table>.toml` declares them (event types, typed columns, key or stitching).
//!
//! ```text
//!   bronze.events (new files since the job's checkpoint, valid rows of the family's types,
//!   decoded piece by piece until a chunk holds `chunk_rows` of them: run.rs)
//!        |  silver_decode(...): JSON value -> typed columns, one guided pass per event
//!        |  (extract.rs, scan.rs, decode.rs), inside the DataFusion plan
//!        v
//!   first copy of each event by Kafka position (dedup.rs), or one stitched row per key
//!        |
//!        v
//!   append the events the table lacks (fresh.rs: look up only keys a run may repeat), or MERGE
//!   stitched rows on their key into silver.<table> (merge.rs)
//!        one Delta commit = rows + txn(job:silver.<table>, bronze version consumed)
//! ```

pub mod days;
pub mod decode;
mod dedup;
pub mod error;
mod extract;
mod fresh;
pub mod job;
mod merge;
mod rebuild;
mod recompute;
mod run;
mod scan;

pub use days::{conform, day_list};
pub use decode::{Untyped, UntypedColumn};
pub use error::{Error, Result};
pub use job::{Recomputed, RunReport, SilverJob};
pub use strata_project::SilverTable;
