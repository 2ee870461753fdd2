//! The online store: per entity of every feature view, the row known now (the newest with
//! its timestamp at or before now) and any rows that become known later (today's partial
//! row, stamped at the end of its day), refreshed when the view's Gold table gets a new Delta
//! version: from the files the new versions added and removed (a Gold day recomputed
//! touches one partition's entities), or by reading the table again when the log cannot be
//! followed (another table under the name, a schema change). A request at time t is answered with the newest row stamped at or before t: the
//! same rule training sets apply, so online and offline values agree. In memory by default;
//! in Redis (one hash per view plus the Delta version it holds) so replicas serve the same.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_pipelines::{Lake, TableVersions};
use tracing::{info, warn};

mod changes;
mod evict;
mod load;

pub use evict::evict_redis;

use crate::views::FeatureView;
use crate::{Error, Result};

/// One entity's latest feature values (in the view's feature order) and their timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineRow {
    pub ts_us: i64,
    pub values: Vec<Value>,
}

/// An entity's rows, oldest first: the one known at load time and any stamped later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityRows(pub Vec<OnlineRow>);

impl EntityRows {
    /// The row known at `at_us`: the newest stamped at or before it.
    pub fn at(&self, at_us: i64) -> Option<&OnlineRow> {
        self.0.iter().rev().find(|r| r.ts_us <= at_us)
    }
}

#[derive(Debug, Default)]
struct ViewState {
    version: Option<u64>,
    table_id: Option<String>,
    rows: HashMap<String, Arc<EntityRows>>,
}

enum Backend {
    Memory,
    Redis {
        url: String,
        conn: redis::aio::MultiplexedConnection,
        /// Key prefix, so deployments (lakes) can share one Redis.
        namespace: String,
    },
}

pub struct OnlineStore {
    lake: Lake,
    versions: tokio::sync::Mutex<TableVersions>,
    views: Vec<FeatureView>,
    backend: Backend,
    state: RwLock<HashMap<String, Arc<ViewState>>>,
    last: RwLock<HashMap<String, Refresh>>,
}

/// How a view was brought up to a version, and what that cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refresh {
    pub mode: RefreshMode,
    pub version: Option<u64>,
    /// Table rows read: the whole table for a full load, the changed files' rows otherwise.
    pub rows_read: u64,
    /// Entities written.
    pub entities: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshMode {
    /// The table read again.
    Full,
    /// Only the files the new versions added and removed.
    Changes,
}

impl Refresh {
    fn full(version: Option<u64>, rows_read: u64, entities: usize) -> Self {
        Self {
            mode: RefreshMode::Full,
            version,
            rows_read,
            entities,
        }
    }

    fn changes(version: Option<u64>, rows_read: u64, entities: usize) -> Self {
        Self {
            mode: RefreshMode::Changes,
            version,
            rows_read,
            entities,
        }
    }
}

fn encode(rows: &EntityRows) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| Error::Query(format!("encoding online rows: {e}")))
}

impl std::fmt::Debug for OnlineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnlineStore")
            .field("backend", &self.backend_name())
            .finish()
    }
}

fn redis_err(url: &str) -> impl Fn(redis::RedisError) -> Error + '_ {
    move |e| Error::Redis {
        url: url.to_string(),
        message: e.to_string(),
    }
}

/// A connection to Redis at `url`, or why not within 5 s.
async fn connect(url: &str) -> Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url).map_err(redis_err(url))?;
    tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| Error::Redis {
        url: url.to_string(),
        message: "no answer within 5 s".into(),
    })?
    .map_err(redis_err(url))
}

fn key(namespace: &str, view: &str) -> String {
    format!("{namespace}:online:{view}")
}

fn version_key(namespace: &str, view: &str) -> String {
    format!("{namespace}:online:{view}:version")
}

impl OnlineStore {
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory => "memory",
            Backend::Redis { .. } => "redis",
        }
    }

    /// An in-memory store, loaded now.
    pub async fn memory(lake: Lake, views: Vec<FeatureView>) -> Result<Arc<Self>> {
        let s = Arc::new(Self {
            versions: tokio::sync::Mutex::new(TableVersions::new(lake.clone())),
            lake,
            views,
            backend: Backend::Memory,
            state: RwLock::new(HashMap::new()),
            last: RwLock::new(HashMap::new()),
        });
        s.refresh().await?;
        Ok(s)
    }

    /// A Redis-backed store (`redis://host:port`), loaded now if Redis is behind the lake.
    /// Its keys start with `namespace:online:`; replicas of one deployment share a namespace.
    pub async fn redis(
        lake: Lake,
        views: Vec<FeatureView>,
        url: &str,
        namespace: &str,
    ) -> Result<Arc<Self>> {
        let conn = connect(url).await?;
        let s = Arc::new(Self {
            versions: tokio::sync::Mutex::new(TableVersions::new(lake.clone())),
            lake,
            views,
            backend: Backend::Redis {
                url: url.to_string(),
                conn,
                namespace: namespace.to_string(),
            },
            state: RwLock::new(HashMap::new()),
            last: RwLock::new(HashMap::new()),
        });
        s.refresh().await?;
        Ok(s)
    }

    pub fn views(&self) -> &[FeatureView] {
        &self.views
    }

    /// The Delta version each view serves.
    pub fn versions(&self) -> Vec<(String, Option<u64>)> {
        let st = self.state.read().map(|m| {
            self.views
                .iter()
                .map(|v| (v.name.clone(), m.get(&v.name).and_then(|s| s.version)))
                .collect()
        });
        st.unwrap_or_default()
    }

    /// How each view's last refresh went (`None`: not refreshed since start).
    pub fn last_refresh(&self, view: &str) -> Option<Refresh> {
        self.last.read().ok().and_then(|m| m.get(view).copied())
    }

    /// Bring every view whose table moved up to its latest version: from the files the new
    /// versions added and removed where the log allows, else by reading the table again.
    /// True when something changed.
    pub async fn refresh(&self) -> Result<bool> {
        let mut changed = false;
        for view in &self.views {
            let latest = self
                .versions
                .lock()
                .await
                .latest(&view.table_name())
                .await?;
            let current = self
                .state
                .read()
                .ok()
                .and_then(|m| m.get(&view.name).cloned());
            if current.as_ref().map(|s| s.version) == Some(latest) {
                continue;
            }
            let done = match &self.backend {
                Backend::Memory => Some(self.refresh_memory(view, current).await?),
                Backend::Redis {
                    url,
                    conn,
                    namespace,
                } => {
                    let redis = (url.as_str(), conn.clone(), namespace.as_str());
                    let done = self.refresh_redis(view, latest, redis).await?;
                    if let Ok(mut m) = self.state.write() {
                        let state = ViewState {
                            version: latest,
                            ..ViewState::default()
                        };
                        m.insert(view.name.clone(), Arc::new(state));
                    }
                    done
                }
            };
            if let Some(done) = done {
                info!(
                    view = %view.name,
                    backend = self.backend_name(),
                    version = ?done.version,
                    mode = ?done.mode,
                    rows_read = done.rows_read,
                    entities = done.entities,
                    "online store refreshed"
                );
                if let Ok(mut m) = self.last.write() {
                    m.insert(view.name.clone(), done);
                }
            }
            changed = true;
        }
        Ok(changed)
    }

    async fn refresh_memory(
        &self,
        view: &FeatureView,
        current: Option<Arc<ViewState>>,
    ) -> Result<Refresh> {
        let since = current
            .as_ref()
            .and_then(|s| Some((s.version?, s.table_id.clone()?)));
        if let (Some(current), Some((since, id))) = (current, since)
            && let Some(ch) = changes::changes(&self.lake, view, since, &id).await?
        {
            let held: HashMap<String, EntityRows> = ch
                .affected()
                .filter_map(|id| Some((id.clone(), current.rows.get(id)?.as_ref().clone())))
                .collect();
            let (updates, rows_read) = self.fold(view, &ch, &held).await?;
            let mut rows = current.rows.clone();
            for (id, new) in &updates {
                match new {
                    Some(r) => rows.insert(id.clone(), Arc::new(r.clone())),
                    None => rows.remove(id),
                };
            }
            self.put(view, ch.version, Some(id), rows);
            return Ok(Refresh::changes(ch.version, rows_read, updates.len()));
        }
        let loaded = load::load(&self.lake, view, None).await?;
        let entities = loaded.rows.len();
        let rows = loaded.rows.into_iter().map(|(k, v)| (k, Arc::new(v)));
        self.put(view, loaded.version, loaded.table_id, rows.collect());
        Ok(Refresh::full(loaded.version, loaded.rows_read, entities))
    }

    fn put(
        &self,
        view: &FeatureView,
        version: Option<u64>,
        table_id: Option<String>,
        rows: HashMap<String, Arc<EntityRows>>,
    ) {
        let state = ViewState {
            version,
            table_id,
            rows,
        };
        if let Ok(mut m) = self.state.write() {
            m.insert(view.name.clone(), Arc::new(state));
        }
    }

    /// Write the view to Redis unless Redis already holds `latest` (another replica wrote
    /// it); `None` when nothing was written. One atomic pipeline moves the rows and the
    /// version together, so readers never see rows of one version under another.
    async fn refresh_redis(
        &self,
        view: &FeatureView,
        latest: Option<u64>,
        (url, mut conn, namespace): (&str, redis::aio::MultiplexedConnection, &str),
    ) -> Result<Option<Refresh>> {
        let vkey = version_key(namespace, &view.name);
        let hkey = key(namespace, &view.name);
        let ikey = format!("{hkey}:table");
        let (since, id): (Option<u64>, Option<String>) = redis::pipe()
            .cmd("GET")
            .arg(&vkey)
            .cmd("GET")
            .arg(&ikey)
            .query_async(&mut conn)
            .await
            .map_err(redis_err(url))?;
        if latest.is_some() && since >= latest {
            return Ok(None);
        }
        let ch = match (since, &id) {
            (Some(since), Some(id)) => changes::changes(&self.lake, view, since, id).await?,
            _ => None,
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        let done = match ch {
            Some(ch) => {
                let ids: Vec<&String> = ch.affected().collect();
                let raw: Vec<Option<String>> = if ids.is_empty() {
                    Vec::new()
                } else {
                    redis::cmd("HMGET")
                        .arg(&hkey)
                        .arg(&ids)
                        .query_async(&mut conn)
                        .await
                        .map_err(redis_err(url))?
                };
                let held: HashMap<String, EntityRows> = ids
                    .iter()
                    .zip(raw)
                    .filter_map(|(id, r)| Some(((*id).clone(), serde_json::from_str(&r?).ok()?)))
                    .collect();
                let (updates, rows_read) = self.fold(view, &ch, &held).await?;
                for (id, new) in &updates {
                    match new {
                        Some(r) => pipe.cmd("HSET").arg(&hkey).arg(id).arg(encode(r)?).ignore(),
                        None => pipe.cmd("HDEL").arg(&hkey).arg(id).ignore(),
                    };
                }
                Refresh::changes(ch.version, rows_read, updates.len())
            }
            None => {
                let loaded = load::load(&self.lake, view, None).await?;
                pipe.cmd("DEL").arg(&hkey).ignore();
                let encoded = loaded
                    .rows
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), encode(v)?)))
                    .collect::<Result<Vec<(String, String)>>>()?;
                for chunk in encoded.chunks(1000) {
                    pipe.cmd("HSET").arg(&hkey).arg(chunk).ignore();
                }
                match &loaded.table_id {
                    Some(id) => pipe.cmd("SET").arg(&ikey).arg(id).ignore(),
                    None => pipe.cmd("DEL").arg(&ikey).ignore(),
                };
                Refresh::full(loaded.version, loaded.rows_read, loaded.rows.len())
            }
        };
        if let Some(v) = done.version {
            pipe.cmd("SET").arg(&vkey).arg(v).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.map_err(redis_err(url))?;
        Ok(Some(done))
    }

    /// The rows every entity a change touched holds now (`None`: it left the view). An
    /// entity whose served row left the table without a replacement is read again.
    async fn fold(
        &self,
        view: &FeatureView,
        ch: &changes::Changes,
        held: &HashMap<String, EntityRows>,
    ) -> Result<(HashMap<String, Option<EntityRows>>, u64)> {
        let now = chrono::Utc::now().timestamp_micros();
        let mut out = HashMap::new();
        let mut lost = Vec::new();
        for id in ch.affected() {
            let fresh = ch.fresh.get(id).map(Vec::as_slice).unwrap_or_default();
            let gone = ch.gone.get(id).map(Vec::as_slice).unwrap_or_default();
            match changes::apply(held.get(id), fresh, gone, now) {
                Some(rows) => {
                    out.insert(id.clone(), (!rows.0.is_empty()).then_some(rows));
                }
                None => lost.push(id.clone()),
            }
        }
        let mut rows_read = ch.rows_read;
        if !lost.is_empty() {
            let mut again = load::load(&self.lake, view, Some(&lost)).await?;
            rows_read += again.rows_read;
            for id in lost {
                let rows = again.rows.remove(&id);
                out.insert(id, rows);
            }
        }
        Ok((out, rows_read))
    }

    /// Refresh in the background every `every`.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(store) = me.upgrade() else { return };
                if let Err(e) = store.refresh().await {
                    warn!(error = %e, "online store refresh failed; serving the previous version");
                }
            }
        });
    }

    /// Every held row of `ids` in one view (`None`: no such entity); the row known at a
    /// moment is [`EntityRows::at`]. Shared, not copied: this is the serving hot path.
    pub async fn get(
        &self,
        view: &FeatureView,
        ids: &[String],
    ) -> Result<Vec<Option<Arc<EntityRows>>>> {
        match &self.backend {
            Backend::Memory => {
                let state = self
                    .state
                    .read()
                    .ok()
                    .and_then(|m| m.get(&view.name).cloned());
                Ok(match state {
                    Some(s) => ids.iter().map(|id| s.rows.get(id).cloned()).collect(),
                    None => vec![None; ids.len()],
                })
            }
            Backend::Redis {
                url,
                conn,
                namespace,
            } => {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut conn = conn.clone();
                let raw: Vec<Option<String>> = redis::cmd("HMGET")
                    .arg(key(namespace, &view.name))
                    .arg(ids)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err(url))?;
                Ok(raw
                    .into_iter()
                    .map(|r| r.and_then(|s| serde_json::from_str(&s).ok()).map(Arc::new))
                    .collect())
            }
        }
    }
}
