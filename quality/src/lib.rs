//! Data quality: JSON Schema validation of raw events at ingest.
//!
//! [`Inspector`] turns the raw bytes of one Kafka record into either the envelope fields of a
//! valid event or a precise reason why it is invalid. It never fails: bad input is data.

pub mod error;
pub mod inspect;
pub mod validator;

pub use error::{Error, Result};
pub use inspect::{InspectedEvent, Inspection, Inspector, Invalid, InvalidKind};
pub use validator::{SchemaValidator, Violation};
