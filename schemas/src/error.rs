use thiserror::Error;

/// Errors of the event model.
#[derive(Debug, Error)]
pub enum Error {
    #[error("unknown event_type '{0}'")]
    UnknownEventType(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
