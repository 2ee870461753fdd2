use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructType, normalize_for_delta};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use crate::{Error, Result};

/// The lake's layers, in data-flow order; `_strata` holds the platform's own tables.
pub const LAYERS: [&str; 4] = ["bronze", "silver", "gold", "_strata"];

/// A table's name, `layer.table`; stored at `LAKE/layer/table`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub layer: String,
    pub table: String,
}

impl TableName {
    pub fn new(layer: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            layer: layer.into(),
            table: table.into(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.layer, self.table)
    }
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl FromStr for TableName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('.') {
            Some((layer, table)) if valid_ident(layer) && valid_ident(table) => {
                Ok(Self::new(layer, table))
            }
            _ => Err(Error::InvalidTableName(s.to_string())),
        }
    }
}

/// The lake: one root URI under which every table lives. A local directory by default;
/// an S3-compatible bucket (`s3://bucket/prefix`) otherwise.
#[derive(Debug, Clone)]
pub struct Lake {
    root: Url,
    /// delta-rs storage options (`aws_endpoint`, `aws_region`, ...). Credentials are not kept
    /// here: they come from the environment or the instance, as for every AWS client.
    options: HashMap<String, String>,
    /// Memory each refinement query may hold before its operators spill to disk; `None`
    /// leaves it unbounded.
    memory_limit: Option<usize>,
    /// Input rows a job refines per commit (a chunk); `None`: a whole increment at once.
    chunk_rows: Option<u64>,
}

impl Lake {
    /// Parse a local path or a URI. Local paths are made absolute; nothing is created.
    pub fn new(location: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidLake {
            uri: location.to_string(),
            reason,
        };
        if location.trim().is_empty() {
            return Err(invalid("empty location".into()));
        }
        let root = if location.contains("://") {
            let mut url = Url::parse(location).map_err(|e| invalid(e.to_string()))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            url
        } else {
            let path = PathBuf::from(location);
            let abs = if path.is_absolute() {
                path
            } else {
                std::env::current_dir()
                    .map_err(|e| invalid(e.to_string()))?
                    .join(path)
            };
            Url::from_directory_path(&abs).map_err(|()| invalid("not an absolute path".into()))?
        };
        Ok(Self {
            root,
            options: HashMap::new(),
            memory_limit: None,
            chunk_rows: None,
        })
    }

    /// Storage options for an object-store lake, in delta-rs' keys.
    pub fn with_storage_options(mut self, options: HashMap<String, String>) -> Self {
        self.options = options;
        self
    }

    /// Bound the memory of the queries that refine this lake (see [`crate::SessionBuilder::refine_context`]).
    pub fn with_memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.memory_limit = bytes;
        self
    }

    pub fn memory_limit(&self) -> Option<usize> {
        self.memory_limit
    }

    /// Refine at most about `rows` input rows per commit, so a replay or a long catch-up
    /// holds one chunk at a time and resumes after the last one committed.
    pub fn with_chunk_rows(mut self, rows: Option<u64>) -> Self {
        self.chunk_rows = rows.filter(|&r| r > 0);
        self
    }

    pub fn chunk_rows(&self) -> Option<u64> {
        self.chunk_rows
    }

    /// parse_table_uri fails fast, with InvalidTableLocation, on a missing local table.
    fn builder(&self, url: Url) -> Result<DeltaTableBuilder, DeltaTableError> {
        deltalake::table::builder::parse_table_uri(url)
            .and_then(DeltaTableBuilder::from_url)
            .map(|b| b.with_storage_options(self.options.clone()))
    }

    pub fn root(&self) -> &Url {
        &self.root
    }

    /// The local directory, when the lake is on the local filesystem.
    pub fn local_path(&self) -> Option<PathBuf> {
        (self.root.scheme() == "file")
            .then(|| self.root.to_file_path().ok())
            .flatten()
    }

    /// Readers call this: a missing local lake is an operator mistake worth naming.
    pub fn require_exists(&self) -> Result<()> {
        match self.local_path() {
            Some(p) if !p.is_dir() => Err(Error::MissingLake {
                path: p.display().to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Writers call this: create the local root if needed.
    pub fn ensure_root(&self) -> Result<()> {
        if let Some(p) = self.local_path() {
            std::fs::create_dir_all(&p).map_err(|source| Error::CreateLake {
                path: p.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    pub fn table_url(&self, name: &TableName) -> Result<Url> {
        self.root
            .join(&format!("{}/{}/", name.layer, name.table))
            .map_err(|e| Error::InvalidLake {
                uri: self.root.to_string(),
                reason: e.to_string(),
            })
    }

    /// Open a table at its latest version; `None` when it does not exist yet.
    pub async fn open(&self, name: &TableName) -> Result<Option<DeltaTable>> {
        let url = self.table_url(name)?;
        let loaded = match self.builder(url) {
            Ok(b) => b.load().await,
            Err(e) => Err(e),
        };
        match loaded {
            Ok(t) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) | Err(DeltaTableError::InvalidTableLocation(_)) => {
                Ok(None)
            }
            Err(e) => Err(Error::delta(name, e)),
        }
    }

    /// A table as of an earlier version (time travel).
    pub async fn open_at(&self, name: &TableName, version: u64) -> Result<DeltaTable> {
        let loaded = self
            .builder(self.table_url(name)?)
            .map_err(|e| Error::delta(name, e))?
            .with_version(version)
            .load()
            .await;
        let e = match loaded {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        // A version before the log's first (an erasure purged it) deserves its own words.
        if let Ok(Some(latest)) = self.open(name).await
            && let Ok(Some(first)) = crate::changes::first_version(&latest, &name.to_string()).await
            && version < first
        {
            return Err(Error::VersionPurged {
                table: name.to_string(),
                version,
                first,
            });
        }
        Err(Error::delta(format!("{name}@v{version}"), e))
    }

    /// Open a table, failing with a clear message when it does not exist.
    pub async fn open_existing(&self, name: &TableName) -> Result<DeltaTable> {
        self.open(name).await?.ok_or_else(|| Error::NoSuchTable {
            table: name.to_string(),
            lake: self.root.to_string(),
        })
    }

    /// Open a table, creating it empty (version 0) with the given schema when missing. Safe
    /// when several writers race to create it: the loser opens the winner's table. The create
    /// commit gets no retries, because delta-rs re-commits a create that lost version 0 as a
    /// later version carrying a second metadata action, which then fails every append that
    /// had read version 0.
    pub async fn ensure_table(
        &self,
        name: &TableName,
        schema: SchemaRef,
        partition_columns: &[&str],
    ) -> Result<DeltaTable> {
        if let Some(t) = self.open(name).await? {
            return Ok(t);
        }
        self.ensure_root()?;
        if let Some(p) = self.local_path() {
            let dir = p.join(&name.layer).join(&name.table);
            std::fs::create_dir_all(&dir).map_err(|source| Error::CreateLake {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let table = self
            .builder(self.table_url(name)?)
            .and_then(DeltaTableBuilder::build)
            .map_err(|e| Error::delta(name, e))?;
        // The schema as a write of it would record (normalized, then in Delta's types). A
        // create commits protocol and metadata alone, where a write of an empty batch ran a
        // DataFusion plan, whose code then stayed paged into every process (ingest).
        let columns: StructType = normalize_for_delta(&schema)
            .as_ref()
            .try_into_kernel()
            .map_err(|e| Error::delta(name, e.into()))?;
        let created = table
            .create()
            .with_columns(columns.fields().cloned())
            .with_table_name(name.to_string())
            .with_partition_columns(partition_columns.iter().map(|c| c.to_string()))
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .await;
        match created {
            Ok(t) => Ok(t),
            // Another process created it first.
            Err(e) => match self.open(name).await? {
                Some(t) => Ok(t),
                None => Err(Error::delta(name, e)),
            },
        }
    }

    /// Remove every table of a layer (files and logs). Only for projections that a replay
    /// rebuilds; Bronze is refused.
    pub async fn drop_layer(&self, layer: &str) -> Result<()> {
        self.remove_prefix(layer, layer).await
    }

    /// Remove one table (files and log), e.g. a Gold model the project no longer declares.
    /// Bronze is refused.
    pub async fn drop_table(&self, name: &TableName) -> Result<()> {
        self.remove_prefix(&name.layer, &format!("{}/{}", name.layer, name.table))
            .await
    }

    async fn remove_prefix(&self, layer: &str, prefix: &str) -> Result<()> {
        if layer == "bronze" {
            return Err(Error::RemoveLayer {
                layer: prefix.to_string(),
                reason: "Bronze is the event log every other table is rebuilt from".into(),
            });
        }
        if let Some(root) = self.local_path() {
            let dir = root.join(prefix);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| Error::RemoveLayer {
                    layer: prefix.to_string(),
                    reason: source.to_string(),
                })?;
            }
            return Ok(());
        }
        let failed = |e: deltalake::ObjectStoreError| Error::RemoveLayer {
            layer: prefix.to_string(),
            reason: e.to_string(),
        };
        let store = self.store()?;
        // The trailing slash keeps `gold/a` from matching `gold/ab`.
        let prefix = deltalake::Path::from(format!("{prefix}/"));
        let paths = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
        store
            .delete_stream(paths)
            .try_collect::<Vec<_>>()
            .await
            .map_err(failed)?;
        Ok(())
    }

    /// The object store rooted at the lake.
    pub fn store(&self) -> Result<Arc<dyn deltalake::ObjectStore>> {
        Ok(self
            .builder(self.root.clone())
            .and_then(|b| b.build_storage())
            .map_err(|e| Error::delta(self.root(), e))?
            .object_store(None))
    }

    /// Every table in the lake (`layer/table/_delta_log`), sorted. Lists the store, so it
    /// works the same on a local directory and on a bucket.
    pub async fn discover(&self) -> Result<Vec<TableName>> {
        if self.local_path().is_some_and(|p| !p.is_dir()) {
            return Ok(Vec::new());
        }
        let lake_err = |e: deltalake::ObjectStoreError| Error::delta(self.root(), e.into());
        let store = self.store()?;
        let dirs = |listing: deltalake::logstore::object_store::ListResult| {
            listing
                .common_prefixes
                .into_iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        for layer in dirs(store.list_with_delimiter(None).await.map_err(lake_err)?) {
            if !valid_ident(&layer) {
                continue;
            }
            let layer_path = deltalake::Path::from(layer.as_str());
            let tables = store
                .list_with_delimiter(Some(&layer_path))
                .await
                .map_err(lake_err)?;
            for table in dirs(tables) {
                if !valid_ident(&table) {
                    continue;
                }
                let table_path = layer_path.clone().join(table.as_str());
                let inside = store
                    .list_with_delimiter(Some(&table_path))
                    .await
                    .map_err(lake_err)?;
                if dirs(inside).iter().any(|d| d == "_delta_log") {
                    out.push(TableName::new(layer.clone(), table));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Latest versions of tables, cheaply: a table is opened once (when it exists), then each
/// check is one log listing rather than a snapshot replay. For pollers (the scheduler, the
/// online store, the SQL endpoint) that look every second.
#[derive(Debug)]
pub struct TableVersions {
    lake: Lake,
    tables: std::collections::BTreeMap<TableName, DeltaTable>,
}

impl TableVersions {
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            tables: std::collections::BTreeMap::new(),
        }
    }

    /// The handle `latest` keeps for a table (its log store reads any commit).
    pub fn table(&self, name: &TableName) -> Option<&DeltaTable> {
        self.tables.get(name)
    }

    /// The newest committed version; `None` while the table does not exist.
    pub async fn latest(&mut self, name: &TableName) -> Result<Option<u64>> {
        if !self.tables.contains_key(name) {
            match self.lake.open(name).await? {
                Some(t) => {
                    self.tables.insert(name.clone(), t);
                }
                None => return Ok(None),
            }
        }
        let Some(t) = self.tables.get(name) else {
            return Ok(None);
        };
        match t.get_latest_version().await {
            Ok(v) => Ok(Some(v)),
            // The commit this handle was opened at may have been cleaned up from the log
            // (after a checkpoint): open the table afresh.
            Err(_) => match self.lake.open(name).await? {
                Some(t) => {
                    let v = t.version();
                    self.tables.insert(name.clone(), t);
                    Ok(v)
                }
                None => {
                    self.tables.remove(name);
                    Ok(None)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_parse_and_map_to_paths() {
        let name: TableName = "bronze.events".parse().unwrap();
        assert_eq!(name.to_string(), "bronze.events");
        assert!("events".parse::<TableName>().is_err());
        assert!("Bronze.events".parse::<TableName>().is_err());
        let lake = Lake::new("/tmp/lake").unwrap();
        assert_eq!(
            lake.table_url(&name).unwrap().as_str(),
            "file:///tmp/lake/bronze/events/"
        );
        let s3 = Lake::new("s3://bucket/lake").unwrap();
        assert_eq!(
            s3.table_url(&name).unwrap().as_str(),
            "s3://bucket/lake/bronze/events/"
        );
    }

    #[test]
    fn readers_name_a_missing_lake() {
        let lake = Lake::new("/nonexistent/strata-lake").unwrap();
        let err = lake.require_exists().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/strata-lake"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_creators_leave_one_table_that_every_writer_can_append_to() {
        use deltalake::arrow::array::{Int64Array, RecordBatch};
        use deltalake::arrow::datatypes::{DataType, Field, Schema};
        use deltalake::protocol::SaveMode;

        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
        let name: TableName = "_strata.race".parse().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let writers = (0..8i64).map(|n| {
            let (lake, name, schema) = (lake.clone(), name.clone(), schema.clone());
            tokio::spawn(async move {
                let table = lake.ensure_table(&name, schema.clone(), &[]).await?;
                let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![n]))])
                    .unwrap();
                table
                    .write(vec![batch])
                    .with_save_mode(SaveMode::Append)
                    .await
                    .map_err(|e| Error::delta(&name, e))
            })
        });
        for w in futures::future::join_all(writers).await {
            w.unwrap().unwrap();
        }
        let log = dir.path().join("_strata/race/_delta_log");
        let mut metadata_commits = 0;
        let mut appended = 0;
        for entry in std::fs::read_dir(log).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            metadata_commits += usize::from(text.contains("\"metaData\""));
            appended += text.matches("\"add\"").count();
        }
        assert_eq!(metadata_commits, 1);
        assert_eq!(appended, 8);
    }
}
