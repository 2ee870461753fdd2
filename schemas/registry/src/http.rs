//! The Confluent Schema Registry REST API (the parts clients use), over [`Registry`].

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Error, Registry};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    reply(StatusCode::OK, body)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (code, status) = self.codes();
        if status >= 500 {
            tracing::warn!(error = %self, "registry request failed");
        }
        reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json!({"error_code": code, "message": self.to_string()}),
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaBody {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConfigBody {
    compatibility: String,
}

/// Confluent clients send `application/vnd.schemaregistry.v1+json`; accept any JSON body.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidSchema(format!("request body: {e}")))
}

fn schema_type(b: &SchemaBody) -> &str {
    b.schema_type.as_deref().unwrap_or("JSON")
}

fn entry_json(e: &crate::SchemaEntry) -> Value {
    json!({"subject": e.subject, "version": e.version, "id": e.id,
           "schemaType": e.schema_type, "schema": e.schema})
}

type R = Result<Response, Error>;
type S = State<Arc<Registry>>;

async fn subjects(State(r): S) -> R {
    Ok(ok(json!(r.subjects().await?)))
}

async fn versions(State(r): S, Path(subject): Path<String>) -> R {
    Ok(ok(json!(r.versions(&subject).await?)))
}

async fn version(State(r): S, Path((subject, v)): Path<(String, String)>) -> R {
    Ok(ok(entry_json(&r.get(&subject, &v).await?)))
}

async fn version_schema(State(r): S, Path((subject, v)): Path<(String, String)>) -> R {
    let e = r.get(&subject, &v).await?;
    Ok(ok(e.parsed))
}

async fn register(State(r): S, Path(subject): Path<String>, bytes: Bytes) -> R {
    let b: SchemaBody = body(&bytes)?;
    let id = r.register(&subject, &b.schema, schema_type(&b)).await?;
    Ok(ok(json!({"id": id})))
}

async fn lookup(State(r): S, Path(subject): Path<String>, bytes: Bytes) -> R {
    let b: SchemaBody = body(&bytes)?;
    Ok(ok(entry_json(
        &r.lookup(&subject, &b.schema, schema_type(&b)).await?,
    )))
}

async fn by_id(State(r): S, Path(id): Path<String>) -> R {
    let n: u32 = id.parse().map_err(|_| Error::SchemaNotFound(id.clone()))?;
    let e = r.by_id(n).await?;
    Ok(ok(json!({"schema": e.schema, "schemaType": e.schema_type})))
}

async fn compat(State(r): S, Path((subject, v)): Path<(String, String)>, bytes: Bytes) -> R {
    let b: SchemaBody = body(&bytes)?;
    let messages = r
        .check(&subject, &b.schema, schema_type(&b), Some(&v))
        .await?;
    Ok(ok(
        json!({"is_compatible": messages.is_empty(), "messages": messages}),
    ))
}

async fn compat_all(State(r): S, Path(subject): Path<String>, bytes: Bytes) -> R {
    let b: SchemaBody = body(&bytes)?;
    let messages = r.check(&subject, &b.schema, schema_type(&b), None).await?;
    Ok(ok(
        json!({"is_compatible": messages.is_empty(), "messages": messages}),
    ))
}

async fn get_config(State(r): S) -> R {
    Ok(ok(
        json!({"compatibilityLevel": r.compatibility(None).await?.as_str()}),
    ))
}

async fn put_config(State(r): S, bytes: Bytes) -> R {
    let b: ConfigBody = body(&bytes)?;
    let level = r.set_compatibility(None, &b.compatibility).await?;
    Ok(ok(json!({"compatibility": level.as_str()})))
}

async fn get_subject_config(State(r): S, Path(subject): Path<String>) -> R {
    Ok(ok(
        json!({"compatibilityLevel": r.compatibility(Some(&subject)).await?.as_str()}),
    ))
}

async fn put_subject_config(State(r): S, Path(subject): Path<String>, bytes: Bytes) -> R {
    let b: ConfigBody = body(&bytes)?;
    let level = r
        .set_compatibility(Some(&subject), &b.compatibility)
        .await?;
    Ok(ok(json!({"compatibility": level.as_str()})))
}

/// Whether a request changes the registry: registering, compatibility levels. Lookups and
/// compatibility checks are POSTs that change nothing.
fn mutates(method: &Method, path: &str) -> bool {
    let lookup = *method == Method::POST
        && (path.starts_with("/compatibility/")
            || (path.starts_with("/subjects/") && path.matches('/').count() == 2));
    !lookup && matches!(*method, Method::POST | Method::PUT | Method::DELETE)
}

/// Changes need a bearer token when tokens are configured; reads stay open, since
/// producers and consumers fetch schemas to encode and decode.
async fn guard(State(access): State<Access>, req: Request, next: Next) -> Response {
    if !mutates(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(p) = access.tokens.principal(header) else {
        let mut r = reply(
            StatusCode::UNAUTHORIZED,
            json!({"error_code": 40101, "message": "changing the registry needs a bearer token (serve.tokens)"}),
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return r;
    };
    if !p.admin {
        return reply(
            StatusCode::FORBIDDEN,
            json!({"error_code": 40301, "message": format!("changing the registry needs a role with admin; role {} of {} has not", p.role, p.name)}),
        );
    }
    let what = format!("{} {}", req.method(), req.uri().path());
    let response = next.run(req).await;
    // Every change is an administrative action: audited with its outcome.
    if let Some(log) = &access.audit {
        let status = response.status();
        let outcome = if status.is_success() { "ok" } else { "error" };
        let subject = what.split('/').nth(2).unwrap_or("").to_string();
        log.record(
            strata_pipelines::AuditEvent::new(&p.name, &p.role, "registry", "admin")
                .objects([subject])
                .outcome(outcome, format!("{what} -> {}", status.as_u16())),
        );
    }
    response
}

/// Who may change the registry, and where changes are recorded.
#[derive(Clone)]
struct Access {
    tokens: strata_pipelines::BearerTokens,
    audit: Option<strata_pipelines::AuditLog>,
}

/// The REST API; mount at the root (Confluent clients expect `/subjects`, `/schemas`, ...).
/// With tokens, every change needs one.
pub fn router(
    registry: Arc<Registry>,
    tokens: strata_pipelines::BearerTokens,
    audit: Option<strata_pipelines::AuditLog>,
) -> Router {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(version))
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route("/schemas/ids/{id}", get(by_id))
        .route("/schemas/types", get(|| async { ok(json!(["JSON"])) }))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compat_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat),
        )
        .route("/config", get(get_config).put(put_config))
        .route(
            "/config/{subject}",
            get(get_subject_config).put(put_subject_config),
        )
        .with_state(registry)
        .layer(middleware::from_fn_with_state(
            Access { tokens, audit },
            guard,
        ))
}
