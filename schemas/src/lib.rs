//! The event model: the envelope every producer sends, the catalog of event types' JSON
//! Schemas (declared by a pipeline project), and the Arrow schemas of Strata's tables.
//!
//! This crate does no I/O. Every other crate speaks its types.

pub mod bronze;
pub mod catalog;
pub mod compat;
pub mod envelope;
pub mod error;

pub use catalog::SchemaCatalog;
pub use compat::Compatibility;
pub use envelope::Envelope;
pub use error::{Error, Result};
