//! Checks across files: names that must exist, cycles, and SQL that must plan.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::arrow::datatypes::{DataType, SchemaRef};
use strata_pipelines::TableName;
use strata_quality::Expectation;

use crate::files::line_of;
use crate::load::{Files, valid_event_type, valid_identifier};
use crate::silver::{ENVELOPE, LINEAGE};
use crate::{Problem, Project};

/// Run every check, ordering the Gold models by dependency; problems are appended.
pub fn check(project: &mut Project, files: &Files, problems: &mut Vec<Problem>) {
    let text = |file: &str| {
        files
            .iter()
            .find(|(p, _)| p == file)
            .map_or("", |(_, t)| t.as_str())
    };
    let mut at = |file: &str, needle: &str, message: String| {
        let line = if needle.is_empty() {
            None
        } else {
            line_of(text(file), needle)
        };
        problems.push(Problem::new(file, line, message));
    };
    let types: BTreeSet<&str> = project
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    let mut versions = BTreeSet::new();
    for e in &project.events {
        if !versions.insert((e.event_type.as_str(), e.version)) {
            at(
                &e.file,
                "",
                format!("{} v{} is declared twice", e.event_type, e.version),
            );
        }
    }
    for t in &project.silver {
        check_silver(t, &types, &mut at);
    }
    order_models(project, &mut at);
    let schemas = crate::plan::plan_models(project, &mut at);
    for t in &project.silver {
        check_expectations(&t.file, &t.expectations(), &t.schema(), &schemas, &mut at);
    }
    for m in &project.gold {
        if let Some(schema) = schemas.get(&m.table_name()) {
            for g in &m.grain {
                if schema.field_with_name(g).is_err() {
                    at(
                        &m.file,
                        g,
                        format!("grain column '{g}' is not in the model's output"),
                    );
                }
            }
            check_expectations(&m.file, &m.expectations, schema, &schemas, &mut at);
            check_pii(&m.file, &m.pii, schema, &mut at);
        }
    }
    for t in &project.silver {
        check_pii(&t.file, &t.pii, &t.schema(), &mut at);
    }
    check_views(project, &schemas, &mut at);
    crate::access::check_roles(project, &mut |needle, message| {
        at("access.toml", needle, message);
    });
}

/// Declared PII columns must be columns of the table.
fn check_pii(
    file: &str,
    pii: &crate::PiiColumns,
    schema: &SchemaRef,
    at: &mut impl FnMut(&str, &str, String),
) {
    for column in pii.keys() {
        if schema.field_with_name(column).is_err() {
            at(
                file,
                column,
                format!("pii column '{column}' is not a column of the table"),
            );
        }
    }
}

fn check_silver(
    t: &crate::SilverTable,
    types: &BTreeSet<&str>,
    at: &mut impl FnMut(&str, &str, String),
) {
    if t.event_types.is_empty() {
        at(
            &t.file,
            "events",
            "events is empty: name the event types that feed this table".into(),
        );
    }
    for e in &t.event_types {
        if !types.contains(e.as_str()) {
            let hint = if valid_event_type(e) {
                "add events/<type>.v1.json or fix the name"
            } else {
                "event types are lowercase dotted names"
            };
            at(
                &t.file,
                e,
                format!("event type '{e}' is not declared in events/ ({hint})"),
            );
        }
    }
    let mut seen: BTreeSet<&str> = ENVELOPE.iter().chain(LINEAGE.iter()).copied().collect();
    seen.insert("event_date");
    for c in &t.columns {
        if !valid_identifier(&c.name) {
            at(
                &t.file,
                &c.name,
                format!("column '{}': use lowercase letters, digits and _", c.name),
            );
        } else if !seen.insert(&c.name) {
            at(
                &t.file,
                &format!("\n{} ", c.name),
                format!(
                    "column '{}' is declared twice or is an envelope column (every row has {}, {} and event_date)",
                    c.name,
                    ENVELOPE.join(", "),
                    LINEAGE.join(", ")
                ),
            );
        }
    }
    if let Some(s) = &t.stitch {
        check_stitch(t, s, at);
    }
}

/// A stitched table: its key, date and columns exist, and its events feed the table.
fn check_stitch(
    t: &crate::SilverTable,
    s: &crate::Stitch,
    at: &mut impl FnMut(&str, &str, String),
) {
    let events = t.event_schema();
    match events.field_with_name(&s.key) {
        Ok(f) if f.data_type() == &DataType::Utf8 => {}
        _ => at(
            &t.file,
            "key",
            format!(
                "stitch key '{}' must be a string column of the table",
                s.key
            ),
        ),
    }
    if !s.columns.iter().any(|c| c.name == s.date) {
        at(
            &t.file,
            "date",
            format!("stitch date '{}' is not one of the stitch columns", s.date),
        );
    }
    for c in &s.columns {
        if !valid_identifier(&c.name) || c.name == s.key || c.name == "event_date" {
            at(
                &t.file,
                &c.name,
                format!(
                    "stitch column '{}': a new lowercase name other than the key and event_date",
                    c.name
                ),
            );
        }
        if events.field_with_name(&c.source).is_err() {
            at(
                &t.file,
                &c.source,
                format!(
                    "stitch column '{}' reads '{}', which is not a column of the table",
                    c.name, c.source
                ),
            );
        }
        if let Some(e) = &c.event
            && !t.event_types.contains(e)
        {
            at(
                &t.file,
                e,
                format!(
                    "stitch column '{}' takes event '{e}', which does not feed this table",
                    c.name
                ),
            );
        }
    }
}

/// Order Gold models so each comes after the models it reads; report unknown inputs and
/// cycles.
fn order_models(project: &mut Project, at: &mut impl FnMut(&str, &str, String)) {
    let silver: BTreeSet<TableName> = project.silver.iter().map(|t| t.table_name()).collect();
    let gold: BTreeMap<TableName, usize> = project
        .gold
        .iter()
        .enumerate()
        .map(|(i, m)| (m.table_name(), i))
        .collect();
    for m in &project.gold {
        for i in &m.inputs {
            if !silver.contains(i) && !gold.contains_key(i) {
                let hint = match i.layer.as_str() {
                    "silver" => "declare silver/<table>.toml",
                    "gold" => "add gold/<model>.sql",
                    _ => "models read silver.* and gold.* tables",
                };
                at(
                    &m.file,
                    &i.table,
                    format!("reads {i}, which no file of the project produces ({hint})"),
                );
            }
        }
    }
    let mut order = Vec::new();
    let mut state = vec![0u8; project.gold.len()];
    fn visit(
        i: usize,
        p: &Project,
        g: &BTreeMap<TableName, usize>,
        s: &mut [u8],
        out: &mut Vec<usize>,
        cycle: &mut Option<usize>,
    ) {
        if s[i] == 2 {
            return;
        }
        if s[i] == 1 {
            cycle.get_or_insert(i);
            return;
        }
        s[i] = 1;
        for input in &p.gold[i].inputs {
            if let Some(&j) = g.get(input) {
                visit(j, p, g, s, out, cycle);
            }
        }
        s[i] = 2;
        out.push(i);
    }
    let mut cycle = None;
    for i in 0..project.gold.len() {
        visit(i, project, &gold, &mut state, &mut order, &mut cycle);
    }
    if let Some(i) = cycle {
        let m = &project.gold[i];
        at(
            &m.file,
            "",
            format!(
                "model {} depends on itself through its inputs (a cycle); a model may only read tables built before it",
                m.table_name()
            ),
        );
        return;
    }
    let mut models: Vec<Option<crate::GoldModel>> = project.gold.drain(..).map(Some).collect();
    project.gold = order.into_iter().filter_map(|i| models[i].take()).collect();
}

fn check_expectations(
    file: &str,
    expectations: &[Expectation],
    schema: &SchemaRef,
    tables: &BTreeMap<TableName, SchemaRef>,
    at: &mut impl FnMut(&str, &str, String),
) {
    let mut names = BTreeSet::new();
    for e in expectations {
        if !names.insert(e.name.as_str()) {
            at(
                file,
                &e.name,
                format!("expectation '{}' is declared twice", e.name),
            );
        }
        if let Err(err) = e.validate() {
            at(file, &e.name, err.to_string());
        }
        if let Some(c) = checked_column(&e.check)
            && schema.field_with_name(c).is_err()
        {
            at(
                file,
                &e.name,
                format!(
                    "expectation '{}' checks column '{c}', which the table does not have",
                    e.name
                ),
            );
        }
        if let strata_quality::Check::References { table, key, .. } = &e.check {
            match table.parse::<TableName>().ok().and_then(|t| tables.get(&t)) {
                None => at(
                    file,
                    table,
                    format!(
                        "expectation '{}' references {table}, which the project does not produce",
                        e.name
                    ),
                ),
                Some(s) if s.field_with_name(key).is_err() => at(
                    file,
                    key,
                    format!("expectation '{}': {table} has no column '{key}'", e.name),
                ),
                Some(_) => {}
            }
        }
    }
}

fn check_views(
    project: &Project,
    schemas: &BTreeMap<TableName, SchemaRef>,
    at: &mut impl FnMut(&str, &str, String),
) {
    for v in &project.views {
        let Some(schema) = schemas.get(&v.source) else {
            at(
                &v.file,
                "source",
                format!("source {} is not a table of the project", v.source),
            );
            continue;
        };
        for (what, c) in [("entity", &v.entity), ("timestamp", &v.timestamp)] {
            if schema.field_with_name(c).is_err() {
                at(
                    &v.file,
                    what,
                    format!("{what} column '{c}' is not in {}", v.source),
                );
            }
        }
        if let Ok(f) = schema.field_with_name(&v.timestamp)
            && !matches!(f.data_type(), DataType::Timestamp(..) | DataType::Date32)
        {
            at(
                &v.file,
                "timestamp",
                format!(
                    "timestamp column '{}' is {}, not a timestamp",
                    v.timestamp,
                    f.data_type()
                ),
            );
        }
        if v.features.is_empty() {
            at(&v.file, "features", "features is empty".into());
        }
        let mut seen = BTreeSet::new();
        for f in &v.features {
            if schema.field_with_name(f).is_err() {
                at(
                    &v.file,
                    f,
                    format!("feature '{f}' is not a column of {}", v.source),
                );
            } else if !seen.insert(f) {
                at(&v.file, f, format!("feature '{f}' is listed twice"));
            }
        }
    }
    check_services(project, at);
}

/// Feature services name existing views and features.
fn check_services(project: &Project, at: &mut impl FnMut(&str, &str, String)) {
    for s in &project.services {
        let mut unknown_views = BTreeSet::new();
        for r in &s.features {
            let Some((view, feature)) = r.split_once(':') else {
                at(
                    "strata_project.toml",
                    r,
                    format!("feature service {}: '{r}' is not view:feature", s.name),
                );
                continue;
            };
            match project.views.iter().find(|v| v.name == view) {
                None if !unknown_views.insert(view) => {}
                None => at(
                    "strata_project.toml",
                    r,
                    format!(
                        "feature service {}: no feature view '{view}' (features/{view}.toml)",
                        s.name
                    ),
                ),
                Some(v) if feature != "*" && !v.features.iter().any(|f| f == feature) => at(
                    "strata_project.toml",
                    r,
                    format!(
                        "feature service {}: view {view} has no feature '{feature}'",
                        s.name
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

/// The column a check reads, if it reads one.
fn checked_column(check: &strata_quality::Check) -> Option<&str> {
    use strata_quality::Check::*;
    match check {
        NotNull { column }
        | Unique { column }
        | AcceptedValues { column, .. }
        | Range { column, .. }
        | Regex { column, .. }
        | References { column, .. }
        | Freshness { column, .. } => Some(column),
        Sql { .. } | RowCount { .. } => None,
    }
}
