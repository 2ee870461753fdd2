//! Silver: typed, deduplicated tables, one per event family, refined from `bronze.events`.
//!
//! ```text
//!   bronze.events (new files since the job's checkpoint, valid rows of the family's types)
//!        |  decode: JSON payload -> typed columns (tables.rs)
//!        v
//!   dedup within the batch (first by Kafka position) -> MERGE on the key into silver.<table>
//!        one Delta commit = rows + txn(job:silver.<table>, bronze version consumed)
//! ```

pub mod days;
pub mod decode;
pub mod error;
pub mod job;
pub mod tables;

pub use days::{conform, day_list};
pub use decode::{Untyped, UntypedColumn};
pub use error::{Error, Result};
pub use job::{Recomputed, RunReport, SilverJob};
pub use tables::{SilverTable, all_tables};
