//! The dashboard: one HTML page (uPlot from npm for the charts, compiled in) and the JSON it
//! reads — tables with versions and freshness, the lineage graph, ingest rate and lag over
//! time, expectation pass rates, recent runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use deltalake::arrow::array::RecordBatch;
use serde_json::{Value, json};
use strata_orchestration::{Dag, platform_jobs};
use strata_pipelines::{BearerTokens, Lake, SessionBuilder};

use crate::{Error, Result};

mod ingest;

const PAGE: &str = include_str!("../assets/dashboard.html");
const UPLOT_JS: &str = include_str!("../assets/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/vendor/uPlot.min.css");

fn json(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// Rows of a query as JSON objects; an empty list when a table it reads does not exist yet.
async fn rows(lake: &Lake, sql: &str) -> Result<Value> {
    let ctx = SessionBuilder::new(lake.clone()).build().await?;
    let df = match ctx.sql(sql).await {
        Ok(df) => df,
        Err(e) if e.to_string().contains("not found") => return Ok(json!([])),
        Err(e) => return Err(e.into()),
    };
    let batches: Vec<RecordBatch> = df.collect().await?;
    let mut buf = Vec::new();
    {
        let mut w = deltalake::arrow::json::writer::ArrayWriter::new(&mut buf);
        for b in &batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        return Ok(json!([]));
    }
    serde_json::from_slice(&buf).map_err(|e| Error::Query(e.to_string()))
}

async fn tables(State(s): State<Arc<Dashboard>>) -> Result<Response> {
    let status = strata_orchestration::status::status(
        &s.lake,
        &platform_jobs(&s.project),
        &BTreeMap::new(),
        300,
    )
    .await
    .map_err(|e| Error::Query(e.to_string()))?;
    Ok(json(
        serde_json::to_value(status).map_err(|e| Error::Query(e.to_string()))?,
    ))
}

async fn lineage(State(s): State<Arc<Dashboard>>) -> Result<Response> {
    let dag = Dag::new(platform_jobs(&s.project).iter().map(|j| j.spec()).collect())
        .map_err(|e| Error::Query(e.to_string()))?;
    let mut depth: BTreeMap<String, usize> =
        dag.sources().iter().map(|t| (t.to_string(), 0)).collect();
    let mut edges = Vec::new();
    for &i in dag.order() {
        let spec = dag.spec(i);
        let d = spec
            .inputs
            .iter()
            .map(|t| depth.get(&t.to_string()).copied().unwrap_or(0) + 1)
            .max()
            .unwrap_or(1);
        depth.insert(spec.output.to_string(), d);
        for input in &spec.inputs {
            edges.push(json!({"from": input.to_string(), "to": spec.output.to_string()}));
        }
    }
    let nodes: Vec<Value> = depth
        .iter()
        .map(|(n, d)| json!({"name": n, "depth": d}))
        .collect();
    Ok(json(
        json!({"nodes": nodes, "edges": edges, "mermaid": dag.mermaid()}),
    ))
}

async fn ingest(State(s): State<Arc<Dashboard>>) -> Result<Response> {
    Ok(json(s.ingest.lock().await.chart().await?))
}

async fn quality(State(s): State<Arc<Dashboard>>) -> Result<Response> {
    Ok(json(
        rows(
            &s.lake,
            "SELECT \"table\", expectation, sum(rows_checked) AS checked, sum(rows_failed) AS failed \
             FROM _strata.quality_results GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .await?,
    ))
}

async fn runs(State(s): State<Arc<Dashboard>>) -> Result<Response> {
    Ok(json(
        rows(
            &s.lake,
            "SELECT CAST(ended_at AS VARCHAR) AS ended_at, job, status, attempts, duration_ms, rows_out, error \
             FROM _strata.runs ORDER BY ended_at DESC LIMIT 30",
        )
        .await?,
    ))
}

/// What the dashboard reads.
#[derive(Debug)]
struct Dashboard {
    lake: Lake,
    project: Arc<strata_project::Project>,
    ingest: tokio::sync::Mutex<ingest::IngestHistory>,
}

impl Dashboard {
    fn new(lake: Lake, project: Arc<strata_project::Project>) -> Arc<Self> {
        Arc::new(Self {
            ingest: tokio::sync::Mutex::new(ingest::IngestHistory::new(lake.clone())),
            lake,
            project,
        })
    }
}

/// The page, its assets and its JSON, for `strata serve` and `strata run`.
pub fn routes(lake: Lake, project: Arc<strata_project::Project>) -> Router {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/assets/uplot.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], UPLOT_JS) }),
        )
        .route(
            "/assets/uplot.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], UPLOT_CSS) }),
        )
        .route("/api/tables", get(tables))
        .route("/api/lineage", get(lineage))
        .route("/api/ingest", get(ingest))
        .route("/api/quality", get(quality))
        .route("/api/runs", get(runs))
        .with_state(Dashboard::new(lake, project))
}

/// The dashboard with its data (`/api/*`) behind the bearer tokens, for `strata run`, whose
/// HTTP server is otherwise only `/metrics` and `/healthz`. The page and its assets are
/// static and stay open; the page sends the token it is given (`#token=...`).
pub fn protected_routes(
    lake: Lake,
    project: Arc<strata_project::Project>,
    tokens: BearerTokens,
    audit: Option<strata_pipelines::AuditLog>,
) -> Router {
    routes(lake, project).layer(middleware::from_fn_with_state((tokens, audit), api_guard))
}

type ApiAccess = (BearerTokens, Option<strata_pipelines::AuditLog>);

/// Why a principal without admin is refused the dashboard's data (it describes every table).
pub(crate) fn admin_refusal(p: &strata_pipelines::Principal) -> String {
    format!(
        "the dashboard API is for roles with admin; role {} of {} has not",
        p.role, p.name
    )
}

async fn api_guard(State((tokens, audit)): State<ApiAccess>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(p) = tokens.principal(header) else {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": Error::Unauthorized.to_string()}).to_string(),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return r;
    };
    let event = strata_pipelines::AuditEvent::new(&p.name, &p.role, "dashboard", "read");
    if !p.admin {
        let message = admin_refusal(&p);
        if let Some(log) = &audit {
            log.record(event.outcome("denied", message.clone()));
        }
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "error": message }).to_string(),
        )
            .into_response();
    }
    if let Some(log) = &audit {
        log.record(event.objects([req.uri().path()]));
    }
    next.run(req).await
}
