//! The HTTP API: Feast-compatible online features, features for people, training sets,
//! health, metrics and the OpenAPI document. Bearer tokens when configured; every bad request
//! is a 4xx with a message.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use strata_pipelines::{AuditLog, Principal};

mod access;
mod mask;

use access::{check_views, role};

use crate::metrics::ServeMetrics;
use crate::online::OnlineStore;
use crate::training::{
    InputFormat, OutputFormat, TrainingSets, encode, parse_rows, rows_from_json,
};
use crate::views::{FeatureView, resolve};
use crate::{Error, Result};

/// Limits and auth of the HTTP API.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Accepted bearer tokens; none: no authentication.
    pub tokens: strata_pipelines::BearerTokens,
    pub max_body_bytes: usize,
    pub max_entities: usize,
    pub max_training_rows: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            tokens: strata_pipelines::BearerTokens::default(),
            max_body_bytes: 64 * 1024 * 1024,
            max_entities: 1000,
            max_training_rows: 5_000_000,
        }
    }
}

pub struct AppState {
    pub lake: strata_pipelines::Lake,
    /// The pipeline project: its feature views and services.
    pub project: Arc<strata_project::Project>,
    pub store: Arc<OnlineStore>,
    pub training: Arc<TrainingSets>,
    pub settings: HttpSettings,
    pub metrics: Arc<ServeMetrics>,
    /// Where every data access is recorded (`_strata.audit`).
    pub audit: Option<AuditLog>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": self.to_string()}).to_string(),
        )
            .into_response()
    }
}

fn json_response(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn body(b: std::result::Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes> {
    b.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            Error::TooLarge(format!("request body over {limit} bytes"))
        }
        _ => Error::BadRequest(format!("cannot read the request body: {e}")),
    })
}

const EPOCH: &str = "1970-01-01T00:00:00Z";

fn rfc3339(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us).map_or_else(
        || EPOCH.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

fn key_string(v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Error::BadRequest(format!(
            "entity keys are strings or numbers, not {other}"
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct OnlineRequest {
    features: Option<Vec<String>>,
    entities: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    full_feature_names: bool,
    feature_service: Option<String>,
}

/// `POST /get-online-features`. Errors come in Feast's shape (a JSON string holding
/// `module`, `class`, `message`), so Feast's client raises the matching exception.
async fn online(
    state: State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    raw: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    match online_features(state, principal, raw).await {
        Ok(r) => r,
        Err(e) => feast_error(e),
    }
}

fn feast_error(e: Error) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!(error = %e, "request failed");
    }
    let message = e.to_string();
    let class = if message.starts_with("unknown feature view") {
        "FeatureViewNotFoundException"
    } else if message.starts_with("unknown feature service") {
        "FeatureServiceNotFoundException"
    } else {
        "FeastError"
    };
    let detail = json!({"module": "feast.errors", "class": class, "message": message});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Value::String(detail.to_string()).to_string(),
    )
        .into_response()
}

async fn online_features(
    State(s): State<Arc<AppState>>,
    principal: Principal,
    raw: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let raw = body(raw, s.settings.max_body_bytes)?;
    let req: OnlineRequest = serde_json::from_slice(&raw)
        .map_err(|e| Error::BadRequest(format!("request body is not the expected JSON: {e}")))?;
    let features = match (req.features, req.feature_service) {
        (Some(_), Some(_)) => {
            return Err(Error::BadRequest(
                "give either 'features' or 'feature_service', not both".into(),
            ));
        }
        (Some(f), None) => f,
        (None, Some(name)) => {
            crate::views::service_features(&s.project.services, &s.project.views, &name)?
        }
        (None, None) => {
            return Err(Error::BadRequest(
                "missing 'features' (view:feature names) or 'feature_service'".into(),
            ));
        }
    };
    let entities = req
        .entities
        .ok_or_else(|| Error::BadRequest("missing 'entities'".into()))?;
    let views = s.store.views();
    let resolved = resolve(views, &features)?;
    check_views(
        &s,
        &principal,
        "online_features",
        resolved.iter().map(|(v, _)| v.name.as_str()),
    )?;
    // Every view's entity must be given; all key lists have one length.
    let mut keys: Vec<(&str, Vec<String>)> = Vec::new();
    for (view, _) in &resolved {
        if keys.iter().any(|(k, _)| *k == view.entity) {
            continue;
        }
        let list = entities
            .get(&view.entity)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "missing entities.{}: a list of keys for {}",
                    view.entity, view.name
                ))
            })?;
        let list: Vec<String> = list.iter().map(key_string).collect::<Result<_>>()?;
        keys.push((view.entity.as_str(), list));
    }
    let n = keys.first().map_or(0, |(_, l)| l.len());
    if keys.iter().any(|(_, l)| l.len() != n) {
        return Err(Error::BadRequest(
            "every entity key list must have the same length".into(),
        ));
    }
    if n > s.settings.max_entities {
        return Err(Error::BadRequest(format!(
            "{n} entities in one request; the limit is {} (serve.max_entities)",
            s.settings.max_entities
        )));
    }
    s.metrics.entities(n as u64);
    s.audit(
        &principal,
        "online_features",
        resolved.iter().map(|(v, _)| v.name.as_str()),
        n as u64,
    );
    let role = role(&s, &principal)?;
    let now = Utc::now().timestamp_micros();
    let mut names: Vec<String> = keys.iter().map(|(k, _)| (*k).to_string()).collect();
    let mut results: Vec<Value> = keys
        .iter()
        .map(|(_, l)| {
            json!({"values": l, "statuses": vec!["PRESENT"; l.len()],
                   "event_timestamps": vec![EPOCH; l.len()]})
        })
        .collect();
    let mut fetched: Vec<(&str, Vec<Option<Arc<crate::online::EntityRows>>>)> = Vec::new();
    for (view, f) in &resolved {
        if !fetched.iter().any(|(v, _)| *v == view.name) {
            let ids = &keys
                .iter()
                .find(|(k, _)| *k == view.entity)
                .map(|(_, l)| l.clone())
                .unwrap_or_default();
            fetched.push((view.name.as_str(), s.store.get(view, ids).await?));
        }
        let rows = &fetched
            .iter()
            .find(|(v, _)| *v == view.name)
            .map(|(_, r)| r)
            .ok_or_else(|| Error::Query("lookup lost".into()))?;
        let ttl = i64::try_from(view.ttl.as_micros()).unwrap_or(i64::MAX);
        let masked = mask::view_masks(&s.project, role, view)
            .into_iter()
            .find_map(|(i, m)| (i == *f).then_some(m));
        let mut values = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut stamps = Vec::with_capacity(n);
        for row in rows.iter() {
            match row.as_ref().and_then(|r| r.at(now)) {
                None => {
                    values.push(Value::Null);
                    statuses.push("NOT_FOUND");
                    stamps.push(EPOCH.to_string());
                }
                Some(r) => {
                    stamps.push(rfc3339(r.ts_us));
                    let v = r.values.get(*f).cloned().unwrap_or(Value::Null);
                    if now - r.ts_us > ttl {
                        values.push(Value::Null);
                        statuses.push("OUTSIDE_MAX_AGE");
                    } else if v.is_null() {
                        values.push(v);
                        statuses.push("NULL_VALUE");
                    } else {
                        values.push(masked.map_or(v.clone(), |m| mask::value(&v, m)));
                        statuses.push("PRESENT");
                    }
                }
            }
        }
        names.push(if req.full_feature_names {
            format!("{}__{}", view.name, view.features[*f])
        } else {
            view.features[*f].to_string()
        });
        results.push(json!({"values": values, "statuses": statuses, "event_timestamps": stamps}));
    }
    Ok(json_response(
        &json!({"metadata": {"feature_names": names}, "results": results}),
    ))
}

async fn one_entity(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path((view, id)): Path<(String, String)>,
) -> Result<Response> {
    check_views(&s, &principal, "features", [view.as_str()])?;
    s.audit(&principal, "features", [view.as_str()], 1);
    let v: &FeatureView = s
        .store
        .views()
        .iter()
        .find(|v| v.name == view)
        .ok_or_else(|| Error::NotFound(format!("no feature view '{view}'")))?;
    let now = Utc::now().timestamp_micros();
    let row = s
        .store
        .get(v, std::slice::from_ref(&id))
        .await?
        .into_iter()
        .next()
        .flatten()
        .and_then(|rows| rows.at(now).cloned())
        .ok_or_else(|| Error::NotFound(format!("no {} '{id}' in {}", v.entity, v.name)))?;
    let ttl = i64::try_from(v.ttl.as_micros()).unwrap_or(i64::MAX);
    let fresh = now - row.ts_us <= ttl;
    let masks = mask::view_masks(&s.project, role(&s, &principal)?, v);
    let features: serde_json::Map<String, Value> = v
        .features
        .iter()
        .zip(&row.values)
        .enumerate()
        .map(|(i, (k, val))| {
            let val = match masks.iter().find(|(j, _)| *j == i) {
                Some((_, m)) => mask::value(val, *m),
                None => val.clone(),
            };
            ((*k).to_string(), val)
        })
        .collect();
    Ok(json_response(&json!({
        "view": v.name, v.entity.clone(): id, "event_timestamp": rfc3339(row.ts_us),
        "status": if fresh { "PRESENT" } else { "OUTSIDE_MAX_AGE" },
        "ttl_s": v.ttl.as_secs(), "features": features})))
}

#[derive(Debug, Deserialize)]
struct TrainingJson {
    features: Vec<String>,
    entity_rows: Vec<Value>,
    timestamp_column: Option<String>,
    format: Option<String>,
    #[serde(default)]
    full_feature_names: bool,
}

fn query_params(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

async fn training_set(
    State(s): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    raw: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    if !role(&s, &principal)?.training_sets {
        let message = format!(
            "permission denied for training sets: role {} of {} does not grant them",
            principal.role, principal.name
        );
        s.audit_denied(&principal, "training_set", &message);
        return Err(Error::Forbidden(message));
    }
    let raw = body(raw, s.settings.max_body_bytes)?;
    let params = query_params(uri.query());
    let param = |k: &str| params.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (features, rows, ts_col, format, full) = if content_type == "application/json" {
        let req: TrainingJson = serde_json::from_slice(&raw).map_err(|e| {
            Error::BadRequest(format!("request body is not the expected JSON: {e}"))
        })?;
        if req.entity_rows.len() > s.settings.max_training_rows {
            return Err(Error::TooLarge(format!(
                "{} entity rows; the limit is {}",
                req.entity_rows.len(),
                s.settings.max_training_rows
            )));
        }
        let rows = rows_from_json(&req.entity_rows)?;
        (
            req.features,
            rows,
            req.timestamp_column,
            req.format,
            req.full_feature_names,
        )
    } else {
        let input = match content_type.as_str() {
            "text/csv" => InputFormat::Csv,
            "application/vnd.apache.parquet"
            | "application/x-parquet"
            | "application/octet-stream" => InputFormat::Parquet,
            other => {
                return Err(Error::BadRequest(format!(
                    "unsupported Content-Type '{other}': send application/json, text/csv or application/vnd.apache.parquet"
                )));
            }
        };
        let features: Vec<String> = param("features")
            .ok_or_else(|| {
                Error::BadRequest(
                    "missing ?features=view:feature,... for a CSV or Parquet body".into(),
                )
            })?
            .split(',')
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        let rows = parse_rows(input, &raw)?;
        let full = param("full_feature_names").is_some_and(|v| v == "true");
        (
            features,
            rows,
            param("timestamp_column"),
            param("format"),
            full,
        )
    };
    if rows.num_rows() > s.settings.max_training_rows {
        return Err(Error::TooLarge(format!(
            "{} entity rows; the limit is {}",
            rows.num_rows(),
            s.settings.max_training_rows
        )));
    }
    let views: Vec<&str> = features
        .iter()
        .filter_map(|f| f.split_once(':').map(|(v, _)| v))
        .collect();
    check_views(&s, &principal, "training_set", views.iter().copied())?;
    let format = OutputFormat::parse(format.as_deref().unwrap_or("arrow"))?;
    let ts_col = ts_col.unwrap_or_else(|| "event_timestamp".into());
    let out = s
        .training
        .build(s.store.views(), &features, &rows, &ts_col, full)
        .await?;
    let out = mask::batch(&out, &training_masks(&s, &principal, &features, full)?)?;
    s.metrics.training_rows(out.num_rows() as u64);
    s.audit(&principal, "training_set", &views, out.num_rows() as u64);
    let bytes = encode(format, &out)?;
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from(bytes),
    )
        .into_response())
}

/// The output columns of a training set masked for the principal's role.
fn training_masks(
    s: &AppState,
    principal: &Principal,
    features: &[String],
    full: bool,
) -> Result<Vec<(String, strata_project::Mask)>> {
    let role = role(s, principal)?;
    let mut out = Vec::new();
    for (view, f) in resolve(s.store.views(), features)? {
        if let Some((_, m)) = mask::view_masks(&s.project, role, view)
            .into_iter()
            .find(|(i, _)| *i == f)
        {
            let name = &view.features[f];
            out.push((
                if full {
                    format!("{}__{name}", view.name)
                } else {
                    name.clone()
                },
                m,
            ));
        }
    }
    Ok(out)
}

fn route_name(path: &str) -> &'static str {
    match path {
        "/get-online-features" => "online",
        "/training-set" => "training_set",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/openapi.json" => "openapi",
        p if p.starts_with("/features/") => "features",
        "/dashboard" => "dashboard",
        p if p.starts_with("/assets/") => "assets",
        p if p.starts_with("/api/") => "api",
        _ => "other",
    }
}

async fn guard(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route = route_name(req.uri().path());
    // The dashboard page and its assets are static; the data behind them (/api) is not.
    let public = matches!(
        route,
        "healthz" | "readyz" | "metrics" | "openapi" | "dashboard" | "assets"
    );
    let principal = s.settings.tokens.principal(
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let admin = principal.as_ref().is_some_and(|p| p.admin);
    let response = if public {
        next.run(req).await
    } else if let Some(p) = principal {
        if route == "api" && !admin {
            // The dashboard's data describes every table: operators only.
            let message = crate::dashboard::admin_refusal(&p);
            s.audit_denied(&p, "dashboard", &message);
            Error::Forbidden(message).into_response()
        } else {
            if route == "api" {
                s.audit(&p, "dashboard", [req.uri().path()], 0);
            }
            req.extensions_mut().insert(p);
            next.run(req).await
        }
    } else {
        let mut r = Error::Unauthorized.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        r
    };
    s.metrics.request(
        route,
        response.status().as_u16(),
        u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX),
    );
    response
}

/// Ready once every feature view's table has been loaded into the online store; a view whose
/// table does not exist yet is named, with a 503, so a load balancer waits for it.
async fn ready(State(s): State<Arc<AppState>>) -> Response {
    let versions = s.store.versions();
    let missing: Vec<&str> = versions
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    let body = json!({
        "ready": missing.is_empty(),
        "views": versions.iter().map(|(n, v)| json!({"view": n, "version": v})).collect::<Vec<_>>(),
        "not_loaded": missing,
    });
    let status = if missing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The whole HTTP API.
pub fn router(state: Arc<AppState>) -> Router {
    let metrics_state = state.clone();
    Router::new()
        .route("/get-online-features", post(online))
        .route("/features/{view}/{entity_id}", get(one_entity))
        .route("/training-set", post(training_set))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route(
            "/metrics",
            get(move || {
                let s = metrics_state.clone();
                async move { s.metrics.render(&s.store.versions()) }
            }),
        )
        .route(
            "/openapi.json",
            get(|| async { json_response(&crate::openapi::document()) }),
        )
        .fallback(|| async { Error::NotFound("no such route; see /openapi.json".into()) })
        .with_state(state.clone())
        .merge(crate::dashboard::routes(
            state.lake.clone(),
            state.project.clone(),
        ))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(middleware::from_fn_with_state(state, guard))
}
