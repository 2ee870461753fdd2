//! The online store: per entity of every feature view, the row known now (the newest with
//! its timestamp at or before now) and any rows that become known later (today's partial
//! row, stamped at the end of its day), refreshed when the view's Gold table gets a new Delta
//! version. A request at time t is answered with the newest row stamped at or before t: the
//! same rule training sets apply, so online and offline values agree. In memory by default;
//! in Redis (one hash per view plus the Delta version it holds) so replicas serve the same.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use deltalake::datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_pipelines::{Lake, SessionBuilder, TableVersions};
use tracing::{info, warn};

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

fn key(namespace: &str, view: &str) -> String {
    format!("{namespace}:online:{view}")
}

fn version_key(namespace: &str, view: &str) -> String {
    format!("{namespace}:online:{view}:version")
}

/// Per entity of a view's table: the newest row stamped at or before now, and every row
/// stamped after now.
async fn load(
    lake: &Lake,
    view: &FeatureView,
) -> Result<(Option<u64>, HashMap<String, EntityRows>)> {
    let name = view.table_name();
    let Some(table) = lake.open(&name).await? else {
        return Ok((None, HashMap::new()));
    };
    let ctx = SessionContext::new();
    SessionBuilder::register(&ctx, &name, &table).await?;
    let features: Vec<String> = view.features.iter().map(|f| format!("\"{f}\"")).collect();
    let now = chrono::Utc::now().timestamp_micros();
    let sql = format!(
        "SELECT CAST({e} AS VARCHAR) AS __entity, {ts} AS __ts, {f} FROM \
         (SELECT *, row_number() OVER (PARTITION BY {e} ORDER BY {ts} DESC) AS __rn FROM {t} \
          WHERE {ts} <= to_timestamp_micros({now})) WHERE __rn = 1 \
         UNION ALL SELECT CAST({e} AS VARCHAR) AS __entity, {ts} AS __ts, {f} FROM {t} \
         WHERE {ts} > to_timestamp_micros({now}) ORDER BY __entity, __ts",
        e = view.entity,
        ts = view.timestamp,
        f = features.join(", "),
        t = name
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut rows = HashMap::new();
    for b in &batches {
        let entity = cast(b.column(0), &DataType::Utf8)?;
        let entity = entity.as_string::<i32>();
        let ts = cast(
            b.column(1),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let ts = cast(&ts, &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        let values = RecordBatch::try_new(
            Arc::new(deltalake::arrow::datatypes::Schema::new(
                b.schema().fields()[2..].to_vec(),
            )),
            b.columns()[2..].to_vec(),
        )?;
        let mut buf = Vec::new();
        {
            let mut w = deltalake::arrow::json::writer::ArrayWriter::new(&mut buf);
            w.write(&values)?;
            w.finish()?;
        }
        let objects: Vec<serde_json::Map<String, Value>> = if buf.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&buf).map_err(|e| Error::Query(e.to_string()))?
        };
        for (i, obj) in objects.into_iter().enumerate() {
            if entity.is_null(i) {
                continue;
            }
            let vals = view
                .features
                .iter()
                .map(|f| obj.get(f).cloned().unwrap_or(Value::Null))
                .collect();
            // Rows arrive ordered by entity and time, so each entity's list stays sorted.
            let rows: &mut EntityRows = rows.entry(entity.value(i).to_string()).or_default();
            rows.0.push(OnlineRow {
                ts_us: if ts.is_valid(i) { ts.value(i) } else { 0 },
                values: vals,
            });
        }
    }
    Ok((table.version(), rows))
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
        let client = redis::Client::open(url).map_err(redis_err(url))?;
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| Error::Redis {
            url: url.to_string(),
            message: "no answer within 5 s".into(),
        })?
        .map_err(redis_err(url))?;
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

    /// Reload every view whose table moved; true when something changed.
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
                .and_then(|m| m.get(&view.name).map(|s| s.version));
            if current == Some(latest) {
                continue;
            }
            match &self.backend {
                Backend::Memory => {
                    let (version, rows) = load(&self.lake, view).await?;
                    let n = rows.len();
                    let state = ViewState {
                        version,
                        rows: rows.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
                    };
                    if let Ok(mut m) = self.state.write() {
                        m.insert(view.name.clone(), Arc::new(state));
                    }
                    info!(
                        view = %view.name,
                        ?version,
                        entities = n,
                        "online store loaded"
                    );
                }
                Backend::Redis {
                    url,
                    conn,
                    namespace,
                } => {
                    let mut conn = conn.clone();
                    let held: Option<u64> = redis::cmd("GET")
                        .arg(version_key(namespace, &view.name))
                        .query_async(&mut conn)
                        .await
                        .map_err(redis_err(url))?;
                    if held != latest || latest.is_none() {
                        let (version, rows) = load(&self.lake, view).await?;
                        let n = rows.len();
                        let mut pipe = redis::pipe();
                        pipe.atomic()
                            .cmd("DEL")
                            .arg(key(namespace, &view.name))
                            .ignore();
                        let encoded: Vec<(String, String)> = rows
                            .into_iter()
                            .map(|(k, v)| (k, serde_json::to_string(&v).unwrap_or_default()))
                            .collect();
                        for chunk in encoded.chunks(1000) {
                            pipe.cmd("HSET")
                                .arg(key(namespace, &view.name))
                                .arg(chunk)
                                .ignore();
                        }
                        if let Some(v) = version {
                            pipe.cmd("SET")
                                .arg(version_key(namespace, &view.name))
                                .arg(v)
                                .ignore();
                        }
                        let _: () = pipe.query_async(&mut conn).await.map_err(redis_err(url))?;
                        info!(
                            view = %view.name,
                            ?version,
                            entities = n,
                            "online store written to Redis"
                        );
                    }
                    if let Ok(mut m) = self.state.write() {
                        m.insert(
                            view.name.clone(),
                            Arc::new(ViewState {
                                version: latest,
                                rows: HashMap::new(),
                            }),
                        );
                    }
                }
            }
            changed = true;
        }
        Ok(changed)
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
