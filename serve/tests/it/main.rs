//! The feature service over a hand-made Gold feature table: Feast-shaped online reads (known,
//! unknown, expired), refresh on a new Delta version, auth and bad requests, the Redis
//! backend, training sets against a brute-force as-of join, and the dashboard's ingest chart
//! from the Bronze commit log.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod dashboard;
mod fixtures;
mod online;
mod training;
