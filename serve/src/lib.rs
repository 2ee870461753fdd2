//! Serving: what ML jobs and analysts read.
//!
//! ```text
//!   gold.*_features --> FeatureView --> online store (memory or Redis, refreshed on new
//!                                        Delta versions) --> POST /get-online-features
//!                                   \--> point-in-time as-of join  --> POST /training-set
//!   every lake table --> DataFusion --> Postgres wire protocol (read-only) --> psql, drivers
//! ```

pub mod dashboard;
pub mod error;
pub mod http;
pub mod metrics;
pub mod online;
pub mod openapi;
pub mod pg;
pub mod training;
pub mod views;

pub use error::{Error, Result};
pub use online::{OnlineStore, Refresh, RefreshMode};
pub use views::{FeatureService, FeatureView};
