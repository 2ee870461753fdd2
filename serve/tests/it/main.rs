//! The feature service over a hand-made Gold feature table: Feast-shaped online reads (known,
//! unknown, expired), refresh on a new Delta version, auth and bad requests, the Redis
//! backend, and training sets against a brute-force as-of join.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod fixtures;
mod online;
mod training;
