//! The `strata` command line as a library, shared by its two binaries: `strata` (every
//! command) and `strata-ingest` (ingest alone, linking only the code ingest runs).

pub mod commands;
pub mod config;
pub mod start;
