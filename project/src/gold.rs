//! Gold model declarations: one SQL file per table.

use strata_pipelines::TableName;
use strata_quality::Expectation;

/// One Gold model: a SELECT over Silver and Gold tables, recomputed per day.
///
/// The engine hands the SQL its inputs restricted to the days being recomputed (and the
/// `lookback_days` before them) and keeps the output rows of those days, so a model is
/// written as if over all history and never names the days itself.
#[derive(Debug, Clone)]
pub struct GoldModel {
    pub name: String,
    /// Where it was declared (`gold/<name>.sql`).
    pub file: String,
    /// The SELECT, without the settings block.
    pub sql: String,
    /// The columns one row is unique on (documentation and `project show`).
    pub grain: Vec<String>,
    /// Days before each computed day the model reads: a change on day D changes days
    /// D ..= D + lookback_days.
    pub lookback_days: u32,
    /// The tables the SQL reads, from its table references.
    pub inputs: Vec<TableName>,
    pub expectations: Vec<Expectation>,
    /// Columns holding personal data (`pii = { ... }`), masked for roles without clear access.
    pub pii: crate::PiiColumns,
    /// Hex SHA-256 of the SQL and settings: a change means the table is rebuilt.
    pub hash: String,
}

impl GoldModel {
    pub fn table_name(&self) -> TableName {
        TableName::new("gold", &self.name)
    }

    pub fn job_name(&self) -> String {
        format!("gold.{}", self.name)
    }
}
