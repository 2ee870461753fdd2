//! The event model: the envelope every producer sends, the event types and their JSON Schemas,
//! and the Arrow schemas of Strata's tables.
//!
//! This crate does no I/O. Every other crate speaks its types.

pub mod bronze;
pub mod catalog;
pub mod compat;
pub mod envelope;
pub mod error;
pub mod event_type;

pub use catalog::{SchemaCatalog, SchemaFile};
pub use compat::Compatibility;
pub use envelope::Envelope;
pub use error::{Error, Result};
pub use event_type::{EventFamily, EventType};
