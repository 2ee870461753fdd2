//! Gold: the SQL models a pipeline project declares (`gold/<model>.sql`), recomputed only for
//! the days new Silver data touches.
//!
//! ```text
//!   silver.* (files added since the job's checkpoint) --> touched event_date values
//!        |  the model's SQL over its inputs restricted to those days (and its lookback)
//!        v
//!   gold.<table>: replace those days' rows in one Delta commit
//!        + txn(job:gold.<table>@<input>, input version) for every input
//! ```

mod chunks;
pub mod error;
pub mod job;
mod rebuild;

pub use error::{Error, Result};
pub use job::{GoldJob, GoldReport};
pub use strata_project::GoldModel;
