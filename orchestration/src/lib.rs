//! Keeps the platform fresh: the job graph derived from declared inputs and outputs, a
//! scheduler that runs each job when its inputs advance (retrying what may pass), the run log
//! (`_strata.runs`), status and lineage, backfills, table maintenance, retention and erasure.
//!
//! ```text
//!   JobSpec (inputs -> output) --> Dag --> Runner::pass --> Job::run --> Delta commit
//!                                               |
//!                                               +--> _strata.runs, /metrics
//! ```

pub mod alerts;
pub mod backfill;
pub mod dag;
pub mod erasure;
pub mod error;
pub mod job;
pub mod maintain;
pub mod metrics;
pub mod retention;
pub mod runner;
pub mod runs;
pub mod status;

pub use dag::Dag;
pub use error::{Error, ErrorDomain, FailedExpectation, JobFailure, Result};
pub use job::{Job, JobOutput, platform_jobs, platform_jobs_with};
pub use metrics::RunMetrics;
pub use runner::{PassReport, RetryPolicy, RunSettings, Runner, default_parallel_jobs};
pub use runs::{RunRecord, RunStatus, runs_table};
