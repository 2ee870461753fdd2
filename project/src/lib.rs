//! Pipeline projects: a folder of plain files that declares everything domain-specific — event
//! types (JSON Schema), Silver tables (TOML), Gold models (SQL) and feature views (TOML). The
//! engine crates (silver, gold, serve) execute what a [`Project`] declares; none of them names
//! a domain table, column or event type.
//!
//! ```text
//! my-project/
//!   strata_project.toml        name, description, feature services
//!   events/<type>.v<N>.json    one JSON Schema per event type and version
//!   silver/<table>.toml        event types, typed columns, key or stitching, expectations
//!   gold/<model>.sql           one SELECT per model, its settings in a leading /* TOML */ block
//!   features/<view>.toml       entity, source table, timestamp, TTL, features
//!   access.toml                roles: tables, columns and feature views each may read
//! ```
//!
//! The format reference is docs/projects.md.

mod access;
mod builtin;
mod check;
mod error;
mod files;
mod gold;
mod lineage;
mod load;
mod plan;
mod silver;
mod views;

pub use access::{Mask, OPERATOR, PiiColumns, Role, base_name};
pub use builtin::builtin;
pub use error::{Error, Problem, Result};
pub use gold::GoldModel;
pub use lineage::table_references;
pub use silver::{Column, Kind, SilverTable, Stitch, StitchColumn};
pub use views::{FeatureService, FeatureView};

use std::path::Path;

use strata_pipelines::TableName;

/// One event type's JSON Schema, version `version`.
#[derive(Debug, Clone)]
pub struct EventSchema {
    pub event_type: String,
    pub version: u32,
    /// Where it was declared (`events/<type>.v<N>.json`).
    pub file: String,
    pub schema: serde_json::Value,
}

/// A loaded and checked project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub description: String,
    /// The folder it was loaded from, or `built-in`.
    pub source: String,
    pub events: Vec<EventSchema>,
    pub silver: Vec<SilverTable>,
    /// Gold models in dependency order (a model after every model it reads).
    pub gold: Vec<GoldModel>,
    pub views: Vec<FeatureView>,
    pub services: Vec<FeatureService>,
    /// Roles from `access.toml`; the operator role (everything) is always among them.
    pub roles: Vec<Role>,
}

/// The event schemas of the project in `dir`, or of the built-in project, read and checked
/// without the rest of the project: what ingest validates against.
pub fn events(dir: Option<&Path>) -> Result<Vec<EventSchema>> {
    match dir {
        Some(dir) => load::events_from_dir(dir),
        None => load::events_only("built-in", &builtin::builtin_files()),
    }
}

/// The schema catalog of these event types and versions.
pub fn schema_catalog(events: &[EventSchema]) -> strata_schemas::SchemaCatalog {
    let mut c = strata_schemas::SchemaCatalog::default();
    for e in events {
        c.insert(&e.event_type, e.version, e.schema.clone());
    }
    c
}

impl Project {
    /// Load and check the project in `dir`; every problem found is reported at once.
    pub fn load(dir: &Path) -> Result<Self> {
        load::from_dir(dir)
    }

    /// The event type names, sorted.
    pub fn event_types(&self) -> Vec<String> {
        let mut out: Vec<String> = self.events.iter().map(|e| e.event_type.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The schema catalog of every declared event type and version.
    pub fn schema_catalog(&self) -> strata_schemas::SchemaCatalog {
        schema_catalog(&self.events)
    }

    pub fn silver_table(&self, name: &str) -> Option<&SilverTable> {
        self.silver.iter().find(|t| t.name == name)
    }

    pub fn gold_model(&self, name: &str) -> Option<&GoldModel> {
        self.gold.iter().find(|m| m.name == name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The PII columns `table` declares (a time-travel name `t@vN` counts as `t`).
    pub fn pii(&self, table: &TableName) -> PiiColumns {
        let name = base_name(&table.table);
        match table.layer.as_str() {
            "silver" => self.silver_table(name).map(|t| t.pii.clone()),
            "gold" => self.gold_model(name).map(|m| m.pii.clone()),
            _ => None,
        }
        .unwrap_or_default()
    }

    /// The columns that name an entity, which `strata forget` erases by: the envelope's
    /// `player_id`, `agent_id` and `tenant_id`, and each feature view's entity key.
    pub fn entity_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = ["player_id", "agent_id", "tenant_id"]
            .into_iter()
            .map(str::to_owned)
            .chain(self.views.iter().map(|v| v.entity.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every table the project produces (Silver, then Gold).
    pub fn tables(&self) -> Vec<TableName> {
        self.silver
            .iter()
            .map(SilverTable::table_name)
            .chain(self.gold.iter().map(GoldModel::table_name))
            .collect()
    }
}
