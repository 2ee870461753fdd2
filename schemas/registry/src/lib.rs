//! A Confluent-compatible schema registry backed by the lake.
//!
//! Subjects, versions and globally unique schema ids live in `_strata.schemas`; compatibility
//! levels in `_strata.schema_config`. Strata's own event schemas are subjects named after
//! their event type (`mission.completed`), version = `schema_version`; versions registered
//! there at runtime extend what ingest accepts. [`http::router`] serves the REST API that
//! Confluent clients and `schema_registry_converter` speak.

pub mod error;
pub mod follow;
pub mod http;
pub mod store;
mod table;

pub use error::{Error, Result};
pub use follow::follow;
pub use store::{Registry, SchemaEntry};
