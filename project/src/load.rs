//! Reading a project: files -> declarations, collecting every problem with its file and line.

use std::path::Path;

use strata_pipelines::audit::sha256_hex;

use crate::files::{self, ModelSettings, ProjectFile, SilverFile, StitchFile, ViewFile};
use crate::silver::{Column, Kind, SilverTable, Stitch, StitchColumn};
use crate::views::{FeatureService, FeatureView, parse_ttl};
use crate::{Error, EventSchema, GoldModel, Problem, Project, Result};

/// The project's files: (path relative to its folder with `/` separators, text).
pub type Files = Vec<(String, String)>;

/// The declaration folders and the extension each holds.
const FOLDERS: [(&str, &str); 4] = [
    ("events", ".json"),
    ("silver", ".toml"),
    ("gold", ".sql"),
    ("features", ".toml"),
];

pub fn from_dir(dir: &Path) -> Result<Project> {
    let files = read_dir_files(dir, &FOLDERS)?;
    parse(&dir.display().to_string(), &files)
}

/// The event schemas alone of the project in `dir` (see [`events_only`]).
pub fn events_from_dir(dir: &Path) -> Result<Vec<EventSchema>> {
    let files = read_dir_files(dir, &FOLDERS[..1])?;
    events_only(&dir.display().to_string(), &files)
}

/// The files of `dir`'s manifest, access file and the given declaration folders.
fn read_dir_files(dir: &Path, folders: &[(&str, &str)]) -> Result<Files> {
    let read_err = |path: &Path, source| Error::Read {
        path: path.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    let manifest = dir.join("strata_project.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| read_err(&manifest, e))?;
    files.push(("strata_project.toml".to_string(), text));
    let access = dir.join("access.toml");
    if access.is_file() {
        let text = std::fs::read_to_string(&access).map_err(|e| read_err(&access, e))?;
        files.push(("access.toml".to_string(), text));
    }
    for (folder, _) in folders {
        let sub = dir.join(folder);
        if !sub.is_dir() {
            continue;
        }
        let mut entries: Vec<_> = std::fs::read_dir(&sub)
            .map_err(|e| read_err(&sub, e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| read_err(&sub, e))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
            files.push((format!("{folder}/{name}"), text));
        }
    }
    Ok(files)
}

/// The event schemas of a project's files, checked as [`parse`] checks them; nothing else is
/// read. Ingest needs only these: a Silver table or Gold model being worked on does not stop
/// events from landing, and checking models (which plans their SQL) stays out of ingest.
pub fn events_only(source: &str, files: &Files) -> Result<Vec<EventSchema>> {
    let mut problems = Vec::new();
    let mut events: Vec<EventSchema> = Vec::new();
    for (path, text) in files {
        let Some(stem) = path.strip_prefix("events/") else {
            continue;
        };
        let Some(stem) = stem.strip_suffix(".json") else {
            problems.push(Problem::new(
                path,
                None,
                "events/ holds only .json files; rename or move it",
            ));
            continue;
        };
        match event(stem, text) {
            Ok(e)
                if events
                    .iter()
                    .any(|o| (&o.event_type, o.version) == (&e.event_type, e.version)) =>
            {
                problems.push(Problem::new(
                    &e.file,
                    None,
                    format!("{} v{} is declared twice", e.event_type, e.version),
                ));
            }
            Ok(e) => events.push(e),
            Err((line, message)) => problems.push(Problem::new(path, line, message)),
        }
    }
    finish(source, problems, events)
}

/// `value` when no problem was found, else every problem at once.
fn finish<T>(source: &str, problems: Vec<Problem>, value: T) -> Result<T> {
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(Error::Invalid {
            source_dir: source.to_string(),
            problems,
        })
    }
}

/// Build and check a project from its files.
pub fn parse(source: &str, files: &Files) -> Result<Project> {
    let mut problems = Vec::new();
    let mut project = Project {
        name: String::new(),
        description: String::new(),
        source: source.to_string(),
        events: Vec::new(),
        silver: Vec::new(),
        gold: Vec::new(),
        views: Vec::new(),
        services: Vec::new(),
        roles: Vec::new(),
    };
    let mut manifest = None;
    let mut access = crate::access::AccessFile::default();
    for (path, text) in files {
        let mut problem = |line, message: String| problems.push(Problem::new(path, line, message));
        let Some((folder, file)) = path.split_once('/') else {
            if path == "strata_project.toml" {
                match files::parse_toml::<ProjectFile>(text, 1) {
                    Ok(m) => manifest = Some((m, text)),
                    Err((line, m)) => problem(line, m),
                }
            } else if path == "access.toml" {
                match files::parse_toml(text, 1) {
                    Ok(a) => access = a,
                    Err((line, m)) => problem(line, m),
                }
            }
            continue;
        };
        let Some((_, ext)) = FOLDERS.iter().find(|(f, _)| *f == folder) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(ext) else {
            problem(
                None,
                format!("{folder}/ holds only {ext} files; rename or move it"),
            );
            continue;
        };
        let parsed = match folder {
            "events" => event(stem, text).map(|e| project.events.push(e)),
            "silver" => silver(stem, path, text).map(|t| project.silver.push(t)),
            "gold" => model(stem, path, text).map(|m| project.gold.push(m)),
            _ => view(stem, path, text).map(|v| project.views.push(v)),
        };
        if let Err((line, message)) = parsed {
            problem(line, message);
        }
    }
    manifest_into(&mut project, manifest, &mut problems);
    project.roles = crate::access::roles(access);
    crate::check::check(&mut project, files, &mut problems);
    finish(source, problems, project)
}

/// The manifest's name, description and feature services; a missing manifest is a problem
/// unless the files already had some (then it may be one of them).
fn manifest_into(
    project: &mut Project,
    manifest: Option<(ProjectFile, &String)>,
    problems: &mut Vec<Problem>,
) {
    match manifest {
        Some((m, text)) => {
            project.name = m.name;
            project.description = m.description;
            for (name, refs) in m.feature_services {
                let strings: Option<Option<Vec<&str>>> = refs
                    .as_array()
                    .map(|a| a.iter().map(toml::Value::as_str).collect());
                match strings {
                    Some(Some(features)) => project.services.push(FeatureService {
                        name,
                        features: features.into_iter().map(str::to_string).collect(),
                    }),
                    _ => problems.push(Problem::new(
                        "strata_project.toml",
                        files::line_of(text, &name),
                        format!(
                            "feature_services.{name} must be a list of \"view:feature\" strings"
                        ),
                    )),
                }
            }
        }
        None if problems.is_empty() => problems.push(Problem::new(
            "strata_project.toml",
            None,
            "missing: every project has one, with at least `name = \"...\"`",
        )),
        None => {}
    }
}

type Parsed<T> = std::result::Result<T, (Option<usize>, String)>;

/// `events/<type>.v<N>.json`.
fn event(stem: &str, text: &str) -> Parsed<EventSchema> {
    let bad_name = || {
        (
            None,
            "event schema files are named <event_type>.v<N>.json (e.g. order.placed.v1.json)"
                .to_string(),
        )
    };
    let (event_type, version) = stem.rsplit_once(".v").ok_or_else(bad_name)?;
    let version: u32 = version.parse().map_err(|_| bad_name())?;
    if version == 0 || !valid_event_type(event_type) {
        return Err(bad_name());
    }
    let schema: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (Some(e.line()), format!("not JSON: {e}")))?;
    if !schema.is_object() {
        return Err((Some(1), "a JSON Schema is a JSON object".into()));
    }
    let declared = &schema["properties"]["event_type"]["const"];
    if !declared.is_null() && declared != event_type {
        return Err((
            files::line_of(text, "\"const\""),
            format!(
                "properties.event_type.const is {declared}, but the file name says '{event_type}'"
            ),
        ));
    }
    Ok(EventSchema {
        event_type: event_type.to_string(),
        version,
        file: format!("events/{stem}.json"),
        schema,
    })
}

/// Event type names: lowercase words joined by dots, dashes or underscores.
pub fn valid_event_type(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && name.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Table, column and view names: usable unquoted in SQL.
pub fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn identifier(stem: &str, what: &str) -> Parsed<()> {
    if valid_identifier(stem) {
        Ok(())
    } else {
        Err((
            None,
            format!(
                "'{stem}' is no {what} name: use lowercase letters, digits and _ (the file name is the name)"
            ),
        ))
    }
}

fn silver(stem: &str, path: &str, text: &str) -> Parsed<SilverTable> {
    identifier(stem, "table")?;
    let f: SilverFile = files::parse_toml(text, 1)?;
    let mut columns = Vec::new();
    for (name, spec) in &f.columns {
        let line = files::line_of(text, &format!("\n{name} ")).map(|l| l + 1);
        let (kind, path) = match spec {
            toml::Value::String(k) => (k.as_str(), format!("payload.{name}")),
            toml::Value::Table(t) => {
                if let Some(k) = t.keys().find(|k| *k != "type" && *k != "path") {
                    return Err((
                        line,
                        format!("column {name}: unknown key '{k}' (expected type, path)"),
                    ));
                }
                let kind = t.get("type").and_then(|v| v.as_str()).unwrap_or("");
                let path = t.get("path").and_then(|v| v.as_str()).unwrap_or("");
                (kind, path.to_string())
            }
            _ => {
                return Err((
                    line,
                    format!(
                        "column {name}: expected \"<type>\" or {{ type = \"...\", path = \"...\" }}"
                    ),
                ));
            }
        };
        let kind = Kind::parse(kind).ok_or_else(|| {
            (
                line,
                format!(
                    "column {name}: unknown type '{kind}' (types: {})",
                    Kind::NAMES.join(", ")
                ),
            )
        })?;
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err((
                line,
                format!("column {name}: path must be dotted keys, e.g. payload.{name}"),
            ));
        }
        columns.push(Column {
            name: name.clone(),
            kind,
            path: path.split('.').map(str::to_string).collect(),
        });
    }
    let stitch = f.stitch.map(|s| stitch(s, text)).transpose()?;
    Ok(SilverTable {
        name: stem.to_string(),
        file: path.to_string(),
        event_types: f.events,
        columns,
        stitch,
        declared: f
            .expect
            .iter()
            .map(files::ExpectFile::expectation)
            .collect(),
        pii: f.pii,
        hash: sha256_hex(text),
    })
}

fn stitch(s: StitchFile, text: &str) -> Parsed<Stitch> {
    let mut columns = Vec::new();
    for (name, spec) in &s.columns {
        let line = files::line_of(text, &format!("\n{name} ")).map(|l| l + 1);
        let (source, event) = match spec {
            toml::Value::String(c) => (c.clone(), None),
            toml::Value::Table(t) if t.keys().all(|k| k == "column" || k == "event") => (
                t.get("column")
                    .and_then(|v| v.as_str())
                    .unwrap_or(name)
                    .to_string(),
                t.get("event").and_then(|v| v.as_str()).map(str::to_string),
            ),
            _ => {
                return Err((
                    line,
                    format!(
                        "stitch column {name}: expected a column name or {{ column = \"...\", event = \"...\" }}"
                    ),
                ));
            }
        };
        columns.push(StitchColumn {
            name: name.clone(),
            source,
            event,
        });
    }
    Ok(Stitch {
        key: s.key,
        date: s.date,
        columns,
    })
}

/// `gold/<model>.sql`: an optional leading `/* ... */` block of TOML settings, then the SELECT.
fn model(stem: &str, path: &str, text: &str) -> Parsed<GoldModel> {
    identifier(stem, "model")?;
    let trimmed = text.trim_start();
    let (settings, sql) = match trimmed.strip_prefix("/*") {
        Some(rest) => {
            let end = rest.find("*/").ok_or((
                Some(1),
                "the settings block /* ... */ is not closed".to_string(),
            ))?;
            let first_line = files::line_at(text, text.len() - trimmed.len());
            let s: ModelSettings = files::parse_toml(&rest[..end], first_line)?;
            (s, &rest[end + 2..])
        }
        None => (ModelSettings::default(), trimmed),
    };
    let sql = sql.trim().trim_end_matches(';').trim().to_string();
    if sql.is_empty() {
        return Err((None, "no SQL after the settings block".into()));
    }
    let inputs = crate::lineage::table_references(&sql).map_err(|m| (None, m))?;
    let hash = sha256_hex(text);
    Ok(GoldModel {
        name: stem.to_string(),
        file: path.to_string(),
        sql,
        grain: settings.grain,
        lookback_days: settings.lookback_days,
        inputs,
        expectations: settings
            .expect
            .iter()
            .map(files::ExpectFile::expectation)
            .collect(),
        pii: settings.pii,
        hash,
    })
}

fn view(stem: &str, path: &str, text: &str) -> Parsed<FeatureView> {
    identifier(stem, "feature view")?;
    let f: ViewFile = files::parse_toml(text, 1)?;
    let ttl = parse_ttl(&f.ttl).ok_or_else(|| {
        (
            files::line_of(text, "ttl"),
            format!(
                "ttl '{}' is not a duration: write e.g. \"2d\", \"12h\", \"90m\" or \"1w\"",
                f.ttl
            ),
        )
    })?;
    let source = f.source.parse().map_err(|_| {
        (
            files::line_of(text, "source"),
            format!(
                "source '{}' must be layer.table (e.g. gold.{stem})",
                f.source
            ),
        )
    })?;
    Ok(FeatureView {
        name: stem.to_string(),
        file: path.to_string(),
        source,
        entity: f.entity,
        timestamp: f.timestamp,
        features: f.features,
        ttl,
    })
}
