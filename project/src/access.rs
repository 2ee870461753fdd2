//! Who may read what: roles (`access.toml`) and the PII columns tables declare (`[pii]` in a
//! Silver table, `pii = { ... }` in a Gold model's settings). Principals — SQL users and HTTP
//! tokens — are given a role by the deployment's configuration, never here: the project says
//! what a role means, the deployment who holds it.

use std::collections::BTreeMap;

use serde::Deserialize;
use strata_pipelines::{LAYERS, TableName};

/// How a PII column is shown to a role without clear access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mask {
    /// Hex SHA-256 of the value: equal values still join and count alike.
    Hash,
    /// The value replaced by `[redacted]` (strings) or null (anything else).
    Redact,
}

/// Per column of one table, how it is masked.
pub type PiiColumns = BTreeMap<String, Mask>;

/// A role: the tables, columns and feature views its principals may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// `*`, `layer.*` or `layer.table`.
    pub tables: Vec<String>,
    /// `layer.table.column`: columns of readable tables the role may not read at all.
    pub deny_columns: Vec<String>,
    /// Feature view names, or `*`.
    pub features: Vec<String>,
    pub training_sets: bool,
    /// PII columns in clear; otherwise masked as declared.
    pub clear_pii: bool,
    /// Operator surfaces: the dashboard, status, registry changes.
    pub admin: bool,
}

/// The role every deployment has unless the project redefines it: everything, in clear.
pub const OPERATOR: &str = "operator";

impl Role {
    pub fn operator() -> Self {
        Self {
            name: OPERATOR.to_string(),
            tables: vec!["*".into()],
            deny_columns: Vec::new(),
            features: vec!["*".into()],
            training_sets: true,
            clear_pii: true,
            admin: true,
        }
    }

    /// Whether the role may read `table` (a time-travel name `t@vN` counts as `t`).
    pub fn can_read(&self, table: &TableName) -> bool {
        let name = base_name(&table.table);
        self.tables.iter().any(|p| {
            p == "*"
                || p.split_once('.')
                    .is_some_and(|(layer, t)| layer == table.layer && (t == "*" || t == name))
        })
    }

    /// The columns of `table` the role may not read.
    pub fn denied_columns(&self, table: &TableName) -> Vec<String> {
        let prefix = format!("{}.{}.", table.layer, base_name(&table.table));
        self.deny_columns
            .iter()
            .filter_map(|c| c.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    pub fn can_read_view(&self, view: &str) -> bool {
        self.features.iter().any(|v| v == "*" || v == view)
    }
}

/// `t@v3` -> `t`.
pub fn base_name(table: &str) -> &str {
    table.split_once('@').map_or(table, |(t, _)| t)
}

/// `access.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccessFile {
    #[serde(default)]
    pub roles: BTreeMap<String, RoleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleFile {
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub deny_columns: Vec<String>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub training_sets: bool,
    #[serde(default)]
    pub pii: PiiAccess,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PiiAccess {
    #[default]
    Masked,
    Clear,
}

/// Roles from `access.toml`, plus the operator role when the file does not define one.
pub(crate) fn roles(file: AccessFile) -> Vec<Role> {
    let mut out: Vec<Role> = file
        .roles
        .into_iter()
        .map(|(name, r)| Role {
            name,
            tables: r.tables,
            deny_columns: r.deny_columns,
            features: r.features,
            training_sets: r.training_sets,
            clear_pii: r.pii == PiiAccess::Clear,
            admin: r.admin,
        })
        .collect();
    if !out.iter().any(|r| r.name == OPERATOR) {
        out.push(Role::operator());
    }
    out
}

/// Problems with the roles' references: layers, tables, columns and views that do not exist.
pub(crate) fn check_roles(project: &crate::Project, at: &mut dyn FnMut(&str, String)) {
    let produced = project.tables();
    let declared = |layer: &str, table: &str| {
        !matches!(layer, "silver" | "gold")
            || produced
                .iter()
                .any(|t| t.layer == layer && t.table == table)
    };
    for role in &project.roles {
        for p in &role.tables {
            let ok = p == "*"
                || p.split_once('.').is_some_and(|(layer, t)| {
                    LAYERS.contains(&layer) && (t == "*" || declared(layer, t))
                });
            if !ok {
                at(
                    p,
                    format!(
                        "role {}: '{p}' names no table (use *, <layer>.* or <layer>.<table>; layers: {})",
                        role.name,
                        LAYERS.join(", ")
                    ),
                );
            }
        }
        for c in &role.deny_columns {
            let parts: Vec<&str> = c.split('.').collect();
            if parts.len() != 3 || !LAYERS.contains(&parts[0]) || !declared(parts[0], parts[1]) {
                at(
                    c,
                    format!(
                        "role {}: deny_columns entry '{c}' must be <layer>.<table>.<column> of a table the project has",
                        role.name
                    ),
                );
            }
        }
        for v in &role.features {
            if v != "*" && !project.views.iter().any(|fv| &fv.name == v) {
                at(
                    v,
                    format!("role {}: no feature view named '{v}'", role.name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(tables: &[&str], deny: &[&str]) -> Role {
        Role {
            name: "r".into(),
            tables: tables.iter().map(|s| s.to_string()).collect(),
            deny_columns: deny.iter().map(|s| s.to_string()).collect(),
            features: vec!["player_features".into()],
            training_sets: false,
            clear_pii: false,
            admin: false,
        }
    }

    #[test]
    fn grants_match_layers_tables_and_time_travel_names() {
        let r = role(
            &["silver.*", "gold.player_daily"],
            &["silver.missions.reward"],
        );
        assert!(r.can_read(&TableName::new("silver", "missions")));
        assert!(r.can_read(&TableName::new("silver", "missions@v3")));
        assert!(r.can_read(&TableName::new("gold", "player_daily@v0")));
        assert!(!r.can_read(&TableName::new("gold", "agent_daily")));
        assert!(!r.can_read(&TableName::new("bronze", "events")));
        assert!(!r.can_read(&TableName::new("_strata", "runs")));
        assert_eq!(
            r.denied_columns(&TableName::new("silver", "missions@v2")),
            vec!["reward".to_string()]
        );
        assert!(
            r.denied_columns(&TableName::new("silver", "sessions"))
                .is_empty()
        );
        assert!(r.can_read_view("player_features") && !r.can_read_view("agent_features"));
        let all = Role::operator();
        assert!(all.can_read(&TableName::new("_strata", "audit")) && all.can_read_view("x"));
    }
}
