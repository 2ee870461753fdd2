//! The orchestrator over a real lake: retries, failure isolation, trigger-on-new-version,
//! compaction under a concurrent reader, and resumable backfills.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod backfill;
mod fixtures;
mod maintain;
mod quality;
mod runner;
