//! End-to-end tests of the `strata` binary against a real Kafka-protocol broker.
//!
//! `scripts/test` starts the broker and sets `STRATA_TEST_BROKERS` (and `STRATA_TEST_PYTHON`
//! for the cross-checks with Python readers, `STRATA_TEST_REDIS` and `STRATA_TEST_S3` for the
//! online store's Redis and the S3-compatible lake). Each test uses its own topics, group and lake.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod access;
mod alerts;
mod cli_errors;
mod dashboard;
mod deploy;
mod examples;
mod forget;
mod harness;
mod hostile;
mod http_limits;
mod ingest;
mod kafka_security;
mod orchestrate;
mod project_check;
mod projects;
mod refine;
mod registry;
mod serve;
mod skew;
mod sql_endpoint;
mod storage;
