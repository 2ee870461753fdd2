//! Registry state, stored in two Delta tables and cached in memory; reloaded when either
//! table's version moves, so several processes can share one lake.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use deltalake::arrow::array::{Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use serde_json::Value;
use strata_pipelines::{Lake, TableName, TableVersions};
use strata_schemas::{Compatibility, SchemaCatalog};
use tokio::sync::Mutex;

use crate::table::{
    COMPACT_EVERY, compact, config_schema, delta, ints, read_all, schemas_schema, strings,
};
pub use crate::table::{config_table, schemas_table};
use crate::{Error, Result};

/// The default level when neither the subject nor the registry sets one (Confluent's).
pub const DEFAULT_COMPATIBILITY: Compatibility = Compatibility::Backward;

/// One registered version of a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaEntry {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema_type: String,
    pub schema: String,
    pub parsed: Value,
}

#[derive(Debug, Default)]
struct State {
    versions: (Option<u64>, Option<u64>),
    entries: Vec<SchemaEntry>,
    /// "" is the registry-wide level.
    config: BTreeMap<String, Compatibility>,
    /// The schemas table, kept open: a registration brings it up to date incrementally
    /// instead of replaying the whole log, so registering stays as fast at 1,000 subjects
    /// as at 10.
    schemas: Option<deltalake::DeltaTable>,
}

#[derive(Debug)]
pub struct Registry {
    lake: Lake,
    /// The project's declared event schemas, beneath every registered version.
    declared: SchemaCatalog,
    state: Mutex<State>,
    /// Every request and every follower look checks both tables' versions: a log listing.
    versions: Mutex<TableVersions>,
}

/// An event type's subject: its schema pins `properties.event_type.const` to the subject's
/// name. Its versions validate that event type's `schema_version`s at ingest, whether the
/// project declares the type or not.
pub fn is_event_subject(subject: &str, schema: &Value) -> bool {
    schema["properties"]["event_type"]["const"].as_str() == Some(subject)
}

/// What the compatibility rules compare. Strata's event subjects pin `schema_version` to a
/// const per version: that names the version, it is not a change in the data a reader accepts.
fn comparable(subject: &str, schema: &Value) -> Value {
    let mut s = schema.clone();
    if is_event_subject(subject, schema)
        && let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut)
    {
        props.remove("schema_version");
    }
    s
}

fn parse_schema(text: &str, schema_type: &str) -> Result<Value> {
    if !schema_type.eq_ignore_ascii_case("JSON") {
        return Err(Error::UnsupportedType(schema_type.to_string()));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| Error::InvalidSchema(format!("not JSON: {e}")))?;
    jsonschema::validator_for(&value)
        .map_err(|e| Error::InvalidSchema(format!("not a valid JSON Schema: {e}")))?;
    Ok(value)
}

impl Registry {
    /// Open the registry of a lake (its tables are created on the first write).
    /// The registry of `lake`, over the project's declared schemas `declared`.
    pub async fn open(lake: Lake, declared: SchemaCatalog) -> Result<Arc<Self>> {
        let r = Arc::new(Self {
            versions: Mutex::new(TableVersions::new(lake.clone())),
            lake,
            declared,
            state: Mutex::new(State::default()),
        });
        r.refresh().await?;
        Ok(r)
    }

    async fn latest(&self, name: &TableName) -> Result<Option<u64>> {
        Ok(self.versions.lock().await.latest(name).await?)
    }

    /// The versions of the registry's tables, after a refresh: it changes exactly when a
    /// schema, a version or a compatibility level was written by anyone.
    pub async fn revision(&self) -> Result<(Option<u64>, Option<u64>)> {
        let mut st = self.state.lock().await;
        self.refresh_locked(&mut st).await?;
        Ok(st.versions)
    }

    /// Reload when another writer moved either table.
    pub async fn refresh(&self) -> Result<()> {
        let mut st = self.state.lock().await;
        self.refresh_locked(&mut st).await
    }

    async fn refresh_locked(&self, st: &mut State) -> Result<()> {
        let now = (
            self.latest(&schemas_table()).await?,
            self.latest(&config_table()).await?,
        );
        if now == st.versions && (now.0.is_some() || !st.entries.is_empty()) {
            return Ok(());
        }
        let (_, batches) =
            read_all(&self.lake, &schemas_table(), &["id", "subject", "version"]).await?;
        let mut entries = Vec::new();
        for b in &batches {
            let (subject, version, id, st_, schema) = (
                strings(b, "subject")?,
                ints(b, "version")?,
                ints(b, "id")?,
                strings(b, "schema_type")?,
                strings(b, "schema")?,
            );
            for i in 0..b.num_rows() {
                let text = schema.value(i).to_string();
                entries.push(SchemaEntry {
                    subject: subject.value(i).to_string(),
                    version: u32::try_from(version.value(i)).unwrap_or(0),
                    id: u32::try_from(id.value(i)).unwrap_or(0),
                    schema_type: st_.value(i).to_string(),
                    parsed: serde_json::from_str(&text).unwrap_or(Value::Null),
                    schema: text,
                });
            }
        }
        let (_, batches) = read_all(&self.lake, &config_table(), &["updated_at"]).await?;
        let mut config = BTreeMap::new();
        for b in &batches {
            let (subject, level) = (strings(b, "subject")?, strings(b, "compatibility")?);
            for i in 0..b.num_rows() {
                if let Ok(l) = level.value(i).parse() {
                    config.insert(subject.value(i).to_string(), l);
                }
            }
        }
        st.entries = entries;
        st.config = config;
        st.versions = now;
        Ok(())
    }

    pub async fn subjects(&self) -> Result<Vec<String>> {
        self.refresh().await?;
        let st = self.state.lock().await;
        let mut s: Vec<String> = st.entries.iter().map(|e| e.subject.clone()).collect();
        s.sort();
        s.dedup();
        Ok(s)
    }

    pub async fn versions(&self, subject: &str) -> Result<Vec<u32>> {
        self.refresh().await?;
        let st = self.state.lock().await;
        let v: Vec<u32> = st
            .entries
            .iter()
            .filter(|e| e.subject == subject)
            .map(|e| e.version)
            .collect();
        if v.is_empty() {
            return Err(Error::SubjectNotFound(subject.to_string()));
        }
        Ok(v)
    }

    /// `version`: a number or `latest` (also `-1`).
    pub async fn get(&self, subject: &str, version: &str) -> Result<SchemaEntry> {
        self.refresh().await?;
        let st = self.state.lock().await;
        let of_subject: Vec<&SchemaEntry> =
            st.entries.iter().filter(|e| e.subject == subject).collect();
        if of_subject.is_empty() {
            return Err(Error::SubjectNotFound(subject.to_string()));
        }
        let found = if version == "latest" || version == "-1" {
            of_subject.iter().max_by_key(|e| e.version)
        } else {
            let n: u32 = version.parse().map_err(|_| Error::VersionNotFound {
                subject: subject.to_string(),
                version: version.to_string(),
            })?;
            of_subject.iter().find(|e| e.version == n)
        };
        found
            .map(|e| (*e).clone())
            .ok_or_else(|| Error::VersionNotFound {
                subject: subject.to_string(),
                version: version.to_string(),
            })
    }

    pub async fn by_id(&self, id: u32) -> Result<SchemaEntry> {
        self.refresh().await?;
        let st = self.state.lock().await;
        st.entries
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or_else(|| Error::SchemaNotFound(id.to_string()))
    }

    /// The version of `subject` holding this schema, if registered.
    pub async fn lookup(
        &self,
        subject: &str,
        schema: &str,
        schema_type: &str,
    ) -> Result<SchemaEntry> {
        let parsed = parse_schema(schema, schema_type)?;
        self.refresh().await?;
        let st = self.state.lock().await;
        if !st.entries.iter().any(|e| e.subject == subject) {
            return Err(Error::SubjectNotFound(subject.to_string()));
        }
        st.entries
            .iter()
            .find(|e| e.subject == subject && e.parsed == parsed)
            .cloned()
            .ok_or_else(|| Error::SchemaNotFound(format!("for subject '{subject}'")))
    }

    pub async fn compatibility(&self, subject: Option<&str>) -> Result<Compatibility> {
        self.refresh().await?;
        let st = self.state.lock().await;
        Ok(Self::level(&st, subject))
    }

    fn level(st: &State, subject: Option<&str>) -> Compatibility {
        subject
            .and_then(|s| st.config.get(s))
            .or_else(|| st.config.get(""))
            .copied()
            .unwrap_or(DEFAULT_COMPATIBILITY)
    }

    /// Why `schema` cannot be the next version of `subject`; empty when it can. `version`
    /// limits the check to that one version.
    pub async fn check(
        &self,
        subject: &str,
        schema: &str,
        schema_type: &str,
        version: Option<&str>,
    ) -> Result<Vec<String>> {
        let parsed = parse_schema(schema, schema_type)?;
        self.refresh().await?;
        let st = self.state.lock().await;
        let level = Self::level(&st, Some(subject));
        let mut earlier: Vec<&SchemaEntry> =
            st.entries.iter().filter(|e| e.subject == subject).collect();
        earlier.sort_by_key(|e| e.version);
        let against: Vec<&SchemaEntry> = match version {
            Some(v) if v != "latest" && v != "-1" => {
                let n: u32 = v.parse().map_err(|_| Error::VersionNotFound {
                    subject: subject.to_string(),
                    version: v.to_string(),
                })?;
                earlier.into_iter().filter(|e| e.version == n).collect()
            }
            _ if level.transitive() => earlier,
            _ => earlier.last().copied().into_iter().collect(),
        };
        let new = comparable(subject, &parsed);
        Ok(against
            .iter()
            .flat_map(|e| {
                level
                    .check(&comparable(subject, &e.parsed), &new)
                    .into_iter()
                    .map(move |m| format!("against version {}: {m}", e.version))
            })
            .collect())
    }

    /// Register `schema` under `subject`; returns its id (an existing one when the subject
    /// already holds it). Refuses an incompatible schema with the reasons.
    pub async fn register(&self, subject: &str, schema: &str, schema_type: &str) -> Result<u32> {
        if subject.trim().is_empty() || subject.len() > 255 {
            return Err(Error::InvalidSchema(
                "the subject name is empty or too long".into(),
            ));
        }
        let parsed = parse_schema(schema, schema_type)?;
        // Another process registering at the same time makes the commit conflict on the
        // registry's appId; re-read and try again.
        for _ in 0..5 {
            let mut st = self.state.lock().await;
            self.refresh_locked(&mut st).await?;
            if let Some(e) = st
                .entries
                .iter()
                .find(|e| e.subject == subject && e.parsed == parsed)
            {
                return Ok(e.id);
            }
            let level = Self::level(&st, Some(subject));
            let mut earlier: Vec<&SchemaEntry> =
                st.entries.iter().filter(|e| e.subject == subject).collect();
            earlier.sort_by_key(|e| e.version);
            let against: Vec<&SchemaEntry> = if level.transitive() {
                earlier.clone()
            } else {
                earlier.last().copied().into_iter().collect()
            };
            let new = comparable(subject, &parsed);
            let messages: Vec<String> = against
                .iter()
                .flat_map(|e| {
                    level
                        .check(&comparable(subject, &e.parsed), &new)
                        .into_iter()
                        .map(move |m| format!("against version {}: {m}", e.version))
                })
                .collect();
            if !messages.is_empty() {
                return Err(Error::Incompatible {
                    subject: subject.to_string(),
                    level: level.to_string(),
                    messages,
                });
            }
            let id = st
                .entries
                .iter()
                .find(|e| e.parsed == parsed)
                .map(|e| e.id)
                .unwrap_or_else(|| st.entries.iter().map(|e| e.id).max().unwrap_or(0) + 1);
            let version = earlier.last().map_or(1, |e| e.version + 1);
            let rows = st.entries.len() as i64 + 1;
            let batch = RecordBatch::try_new(
                schemas_schema(),
                vec![
                    Arc::new(StringArray::from(vec![subject])),
                    Arc::new(Int32Array::from(vec![
                        i32::try_from(version).unwrap_or(i32::MAX),
                    ])),
                    Arc::new(Int32Array::from(vec![
                        i32::try_from(id).unwrap_or(i32::MAX),
                    ])),
                    Arc::new(StringArray::from(vec!["JSON"])),
                    Arc::new(StringArray::from(vec![schema])),
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![Utc::now().timestamp_micros()])
                            .with_timezone("UTC"),
                    ),
                ],
            )
            .map_err(|e| Error::Storage(e.to_string()))?;
            let table = self.schemas_table(&mut st).await?;
            let props = CommitProperties::default()
                .with_application_transactions(vec![Transaction::new("schema-registry", rows)]);
            match table
                .write(vec![batch])
                .with_save_mode(SaveMode::Append)
                .with_commit_properties(props)
                .await
            {
                Ok(written) => {
                    // What this write added is known: keep it in memory rather than re-reading
                    // the whole table (a refresh still catches other writers' versions).
                    let written_version = written.version();
                    st.entries.push(SchemaEntry {
                        subject: subject.to_string(),
                        version,
                        id,
                        schema_type: "JSON".into(),
                        schema: schema.to_string(),
                        parsed: parsed.clone(),
                    });
                    let in_sequence = st
                        .versions
                        .0
                        .is_some_and(|v| Some(v + 1) == written_version);
                    let written = match written_version {
                        Some(v) if v % COMPACT_EVERY == 0 => compact(written).await?,
                        _ => written,
                    };
                    st.versions = if in_sequence {
                        (written.version(), st.versions.1)
                    } else {
                        (None, None)
                    };
                    st.schemas = Some(written);
                    self.refresh_locked(&mut st).await?;
                    tracing::info!(subject, version, id, "schema registered");
                    return Ok(id);
                }
                Err(deltalake::DeltaTableError::Transaction { .. }) => {
                    st.schemas = None;
                    continue;
                }
                Err(e) => return Err(delta(schemas_table())(e)),
            }
        }
        Err(Error::Storage(
            "gave up after 5 concurrent registrations".into(),
        ))
    }

    /// The schemas table, opened once and then brought up to date with the commits since.
    async fn schemas_table(&self, st: &mut State) -> Result<deltalake::DeltaTable> {
        if let Some(t) = &mut st.schemas {
            t.update_incremental(None)
                .await
                .map_err(delta(schemas_table()))?;
            return Ok(t.clone());
        }
        let table = self
            .lake
            .ensure_table(&schemas_table(), schemas_schema(), &[])
            .await?;
        st.schemas = Some(table.clone());
        Ok(table)
    }

    /// Set the level of a subject, or of the registry (`None`).
    pub async fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: &str,
    ) -> Result<Compatibility> {
        let level: Compatibility = level.parse().map_err(Error::InvalidCompatibility)?;
        let batch = RecordBatch::try_new(
            config_schema(),
            vec![
                Arc::new(StringArray::from(vec![subject.unwrap_or("")])),
                Arc::new(StringArray::from(vec![level.as_str()])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Utc::now().timestamp_micros()])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .map_err(|e| Error::Storage(e.to_string()))?;
        let table = self
            .lake
            .ensure_table(&config_table(), config_schema(), &[])
            .await?;
        table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .await
            .map_err(delta(config_table()))?;
        let mut st = self.state.lock().await;
        st.versions = (None, None);
        self.refresh_locked(&mut st).await?;
        Ok(level)
    }

    /// Register the project's declared event schemas (subject = event type, in version order)
    /// that are not there yet.
    pub async fn ensure_declared(&self) -> Result<()> {
        for ((subject, _version), schema) in self.declared.iter() {
            let text = schema.to_string();
            if self.lookup(subject, &text, "JSON").await.is_err() {
                self.register(subject, &text, "JSON").await?;
            }
        }
        Ok(())
    }

    /// The declared catalog plus every version registered under an event type's subject (its
    /// version number is the `schema_version` it validates), new event types included.
    pub async fn catalog(&self) -> Result<SchemaCatalog> {
        let mut catalog = self.declared.clone();
        self.refresh().await?;
        let st = self.state.lock().await;
        for e in &st.entries {
            if is_event_subject(&e.subject, &e.parsed)
                && catalog.get(&e.subject, e.version).is_none()
            {
                catalog.insert(&e.subject, e.version, e.parsed.clone());
            }
        }
        Ok(catalog)
    }
}
