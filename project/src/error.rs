use std::fmt;

use thiserror::Error;

/// One problem in a project file: where it is and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path relative to the project folder, e.g. `silver/missions.toml`.
    pub file: String,
    /// 1-based line, when the problem is on one.
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Errors of the project crate.
#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot read project {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("project {source_dir} is not valid ({} problem{}):\n{}", problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        source_dir: String,
        problems: Vec<Problem>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
