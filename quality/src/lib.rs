//! Data quality, at both ends of refinement.
//!
//! At ingest, [`Inspector`] turns the raw bytes of one Kafka record into either the envelope
//! fields of a valid event or a precise reason why it is invalid. It never fails: bad input is
//! data. In every refinement job, [`expectations`] check the rows about to be written (warn,
//! drop or fail) and [`results`] records the outcome in `_strata.quality_results` and
//! `_strata.rejects`.

pub mod error;
pub mod expectations;
pub mod framed;
pub mod inspect;
pub mod results;
pub mod strict;
pub mod validator;

pub use error::{Error, Result};
pub use expectations::{
    Action, Check, Checked, Expectation, ExpectationResult, QualityFailure, check,
};
pub use inspect::{InspectedEvent, Inspection, Inspector, Invalid, InvalidKind};
pub use validator::{SchemaValidator, Violation};
