//! Gold: daily aggregates over Silver, recomputed only for the days new Silver data touches.
//!
//! ```text
//!   silver.* (files added since the job's checkpoint) --> touched event_date values
//!        |  the table's SQL over those days, from the full Silver tables
//!        v
//!   gold.<table>: replace those days' rows in one Delta commit
//!        + txn(job:gold.<table>@<input>, input version) for every input
//! ```

pub mod error;
pub mod job;
pub mod tables;

pub use error::{Error, Result};
pub use job::{GoldJob, GoldReport};
pub use tables::{GoldTable, all_tables};
