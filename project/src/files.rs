//! The file formats, as serde reads them. Unknown keys are refused.

use serde::Deserialize;
use strata_quality::{Action, Check, Expectation};
use toml::Table;

/// `strata_project.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Service name -> `view:feature` references.
    #[serde(default)]
    pub feature_services: toml::map::Map<String, toml::Value>,
}

/// `[[expect]]` in a Silver table or Gold model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    pub name: String,
    pub check: Check,
    pub action: Action,
    #[serde(default)]
    pub max_failure_fraction: Option<f64>,
}

impl ExpectFile {
    pub fn expectation(&self) -> Expectation {
        Expectation {
            name: self.name.clone(),
            check: self.check.clone(),
            action: self.action,
            max_failure_fraction: self.max_failure_fraction,
        }
    }
}

/// `silver/<table>.toml`. Columns are read in file order: `name = "type"` (at
/// `payload.<name>`) or `name = { type, path }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilverFile {
    pub events: Vec<String>,
    #[serde(default)]
    pub columns: Table,
    #[serde(default)]
    pub stitch: Option<StitchFile>,
    #[serde(default)]
    pub expect: Vec<ExpectFile>,
    #[serde(default)]
    pub pii: crate::PiiColumns,
}

/// `[stitch]`: `columns` maps each output column to a source column name, or to
/// `{ column, event }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StitchFile {
    pub key: String,
    pub date: String,
    pub columns: Table,
}

/// The settings block at the top of `gold/<model>.sql`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    #[serde(default)]
    pub grain: Vec<String>,
    #[serde(default)]
    pub lookback_days: u32,
    #[serde(default)]
    pub expect: Vec<ExpectFile>,
    #[serde(default)]
    pub pii: crate::PiiColumns,
}

/// `features/<view>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewFile {
    pub source: String,
    pub entity: String,
    pub timestamp: String,
    pub ttl: String,
    pub features: Vec<String>,
}

/// 1-based line of a byte offset.
pub fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The first line holding `needle` (for problems found after parsing).
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.find(needle).map(|at| line_at(text, at))
}

/// Parse TOML, or a problem at the line where it failed. `first_line` is the line of the
/// text's start in its file (a model's settings block starts on line 1 or 2).
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    first_line: usize,
) -> Result<T, (Option<usize>, String)> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start) + first_line - 1);
        (line, e.message().to_string())
    })
}
