//! The registry API over HTTP: plain requests, and `schema_registry_converter` (an ordinary
//! Confluent client) encoding and decoding against it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::sync::Arc;

use schema_registry_converter::async_impl::json::{JsonDecoder, JsonEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;
use serde_json::{Value, json};
use strata_pipelines::{AuditLog, BearerTokens, Lake, Principal};
use strata_registry::{Registry, http::router};

async fn serve(dir: &std::path::Path) -> (String, Arc<Registry>) {
    serve_with(dir, BearerTokens::default()).await
}

async fn serve_with(dir: &std::path::Path, tokens: BearerTokens) -> (String, Arc<Registry>) {
    serve_audited(dir, tokens, None).await
}

async fn serve_audited(
    dir: &std::path::Path,
    tokens: BearerTokens,
    audit: Option<AuditLog>,
) -> (String, Arc<Registry>) {
    let lake = Lake::new(dir.to_str().unwrap()).unwrap();
    lake.ensure_root().unwrap();
    let registry = Registry::open(lake, strata_testkit::project().schema_catalog())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(registry.clone(), tokens, audit);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), registry)
}

/// A minimal HTTP/1.0 client: the API must work for anything that speaks plain HTTP.
async fn http(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    http_as(url, method, path, body, None).await
}

async fn http_as(
    url: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\n{auth}Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status: u16 = out[9..12].parse().unwrap();
    let json = out.split("\r\n\r\n").nth(1).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn schema(required: &[&str], extra: Option<(&str, Value)>) -> Value {
    let mut props = json!({"id": {"type": "string"}, "score": {"type": "integer", "minimum": 0}});
    if let Some((k, v)) = extra {
        props[k] = v;
    }
    json!({"type": "object", "properties": props, "required": required})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_version_lookup_and_refuse_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = serve(dir.path()).await;
    let v1 = schema(&["id"], None);
    let (st, r) = http(
        &url,
        "POST",
        "/subjects/scores-value/versions",
        Some(json!({"schema": v1.to_string(), "schemaType": "JSON"})),
    )
    .await;
    assert_eq!((st, r["id"].as_u64()), (200, Some(1)));
    // Same schema again: same id, no new version.
    let (_, r) = http(
        &url,
        "POST",
        "/subjects/scores-value/versions",
        Some(json!({"schema": v1.to_string(), "schemaType": "JSON"})),
    )
    .await;
    assert_eq!(r["id"], 1);
    // A compatible v2 (new optional field).
    let v2 = schema(&["id"], Some(("note", json!({"type": "string"}))));
    let (st, r) = http(
        &url,
        "POST",
        "/subjects/scores-value/versions",
        Some(json!({"schema": v2.to_string(), "schemaType": "JSON"})),
    )
    .await;
    assert_eq!((st, r["id"].as_u64()), (200, Some(2)));
    let (_, r) = http(&url, "GET", "/subjects/scores-value/versions", None).await;
    assert_eq!(r, json!([1, 2]));
    let (_, r) = http(&url, "GET", "/subjects/scores-value/versions/latest", None).await;
    assert_eq!(
        (r["version"].as_u64(), r["id"].as_u64()),
        (Some(2), Some(2))
    );
    let (_, r) = http(&url, "GET", "/schemas/ids/1", None).await;
    assert_eq!(
        serde_json::from_str::<Value>(r["schema"].as_str().unwrap()).unwrap(),
        v1
    );
    assert_eq!(r["schemaType"], "JSON");
    let (_, r) = http(
        &url,
        "POST",
        "/subjects/scores-value",
        Some(json!({"schema": v1.to_string(), "schemaType": "JSON"})),
    )
    .await;
    assert_eq!(r["version"], 1);

    // Incompatible: a new required field (BACKWARD by default) -> 409 with the reason.
    let bad = schema(&["id", "score"], None);
    let (st, r) = http(
        &url,
        "POST",
        "/compatibility/subjects/scores-value/versions/latest",
        Some(json!({"schema": bad.to_string(), "schemaType": "JSON"})),
    )
    .await;
    assert_eq!((st, r["is_compatible"].as_bool()), (200, Some(false)));
    let (st, r) = http(
        &url,
        "POST",
        "/subjects/scores-value/versions",
        Some(json!({"schema": bad.to_string(), "schemaType": "JSON"})),
    )
    .await;
    assert_eq!(st, 409, "{r}");
    assert_eq!(r["error_code"], 409);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("/score: required by the reader"),
        "{r}"
    );
    // FORWARD lets it through (old readers ignore nothing they need).
    let (st, _) = http(
        &url,
        "PUT",
        "/config/scores-value",
        Some(json!({"compatibility": "FORWARD"})),
    )
    .await;
    assert_eq!(st, 200);
    let (_, r) = http(&url, "GET", "/config/scores-value", None).await;
    assert_eq!(r["compatibilityLevel"], "FORWARD");
    let (st, r) = http(
        &url,
        "POST",
        "/subjects/scores-value/versions",
        Some(json!({"schema": bad.to_string(), "schemaType": "JSON"})),
    )
    .await;
    assert_eq!((st, r["id"].as_u64()), (200, Some(3)));

    // Clear 4xx for bad requests.
    let (st, r) = http(&url, "GET", "/subjects/nope/versions", None).await;
    assert_eq!((st, r["error_code"].as_u64()), (404, Some(40401)));
    let (st, _) = http(&url, "GET", "/schemas/ids/99", None).await;
    assert_eq!(st, 404);
    let (st, r) = http(
        &url,
        "POST",
        "/subjects/x/versions",
        Some(json!({"schema": "{not json"})),
    )
    .await;
    assert_eq!((st, r["error_code"].as_u64()), (422, Some(42201)));
    let (st, _) = http(
        &url,
        "PUT",
        "/config",
        Some(json!({"compatibility": "SIDEWAYS"})),
    )
    .await;
    assert_eq!(st, 422);
    let (st, _) = http(
        &url,
        "POST",
        "/subjects/x/versions",
        Some(json!({"schema": "{}", "schemaType": "AVRO"})),
    )
    .await;
    assert_eq!(st, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_clients_encode_and_decode_against_it_and_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (url, registry) = serve(dir.path()).await;
    registry.ensure_declared().await.unwrap();
    // Strata's own schemas are subjects named after their event type.
    let (_, r) = http(
        &url,
        "GET",
        "/subjects/agent.invocation.completed/versions",
        None,
    )
    .await;
    assert_eq!(r, json!([1, 2]));

    let settings = SrSettings::new(url.clone());
    let encoder = JsonEncoder::new(settings.clone());
    let event = json!({"event_id": "evt-00000001", "event_type": "economy.transaction",
        "schema_version": 1, "occurred_at": "2026-11-20T10:00:00Z", "source": "test",
        "tenant_id": "org-1", "player_id": "p-1",
        "payload": {"transaction_id": "tx-1", "currency": "GEMS", "amount": 5, "direction": "earn"}});
    let bytes = encoder
        .encode(
            &event,
            SubjectNameStrategy::RecordNameStrategy("economy.transaction".into()),
        )
        .await
        .unwrap();
    assert_eq!(bytes[0], 0, "magic byte");
    let decoder = JsonDecoder::new(settings);
    let decoded = decoder.decode(Some(&bytes)).await.unwrap().unwrap();
    assert_eq!(decoded.value, event);
    decoder.validate(&decoded.schema, &decoded.value).unwrap();

    // A second registry over the same lake sees the same state.
    let (url2, _) = serve(dir.path()).await;
    let (_, a) = http(&url, "GET", "/subjects", None).await;
    let (_, b) = http(&url2, "GET", "/subjects", None).await;
    assert_eq!(a, b);
    assert!(a.as_array().unwrap().len() >= 9, "{a}");
}

fn mission_v2(stars: u32) -> Vec<u8> {
    strata_testkit::mission(&format!("0000000{stars}"), 2, Some(stars))
}

/// A version registered over HTTP while ingest runs is accepted by its inspector within a few
/// looks, without a restart, and validated by that version's rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_inspector_follows_newly_registered_versions() {
    use strata_quality::{Inspector, InvalidKind, SchemaValidator};

    let dir = tempfile::tempdir().unwrap();
    let (url, registry) = serve(dir.path()).await;
    registry.ensure_declared().await.unwrap();
    let inspector = Arc::new(Inspector::new(
        SchemaValidator::new(&registry.catalog().await.unwrap()).unwrap(),
        1 << 20,
    ));
    let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
    let follower = tokio::spawn(strata_registry::follow(
        lake,
        strata_testkit::project().schema_catalog(),
        inspector.clone(),
        std::time::Duration::from_millis(50),
    ));
    let kind = |bytes: &[u8]| inspector.inspect(Some(bytes)).invalid.map(|i| i.kind);
    assert_eq!(
        kind(&mission_v2(3)),
        Some(InvalidKind::UnknownSchemaVersion)
    );

    let v2 = strata_testkit::mission_v2_schema();
    let (st, r) = http(
        &url,
        "POST",
        "/subjects/mission.completed/versions",
        Some(json!({"schemaType": "JSON", "schema": v2.to_string()})),
    )
    .await;
    assert_eq!(st, 200, "{r}");

    let t0 = std::time::Instant::now();
    while kind(&mission_v2(3)).is_some() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "the inspector never picked up version 2: {:?}",
            inspector.inspect(Some(&mission_v2(3))).invalid
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Validated by version 2's own rules, not merely accepted.
    assert_eq!(kind(&mission_v2(0)), Some(InvalidKind::SchemaViolation));
    follower.abort();
}

/// With tokens configured, registering and changing compatibility need one; reading,
/// looking up and checking compatibility stay open for producers and consumers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_a_token_when_tokens_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(dir.path().to_str().unwrap()).unwrap();
    let audit = AuditLog::start(lake.clone(), std::time::Duration::from_millis(100));
    let reader = Principal {
        name: "ana".into(),
        role: "analyst".into(),
        admin: false,
    };
    let tokens = BearerTokens::with_principals([
        ("registry-admin-1".to_string(), Principal::operator("ops")),
        ("reader-token".to_string(), reader),
    ]);
    let (url, _) = serve_audited(dir.path(), tokens, Some(audit.clone())).await;
    let v1 = json!({"schema": schema(&["id"], None).to_string(), "schemaType": "JSON"});
    let path = "/subjects/scores-value/versions";
    let (st, r) = http(&url, "POST", path, Some(v1.clone())).await;
    assert_eq!(st, 401, "{r}");
    assert_eq!(r["error_code"], 40101, "{r}");
    let (st, _) = http_as(&url, "POST", path, Some(v1.clone()), Some("wrong")).await;
    assert_eq!(st, 401);
    let (st, _) = http(
        &url,
        "PUT",
        "/config",
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    assert_eq!(st, 401);
    let (st, r) = http(&url, "GET", "/config", None).await;
    assert_eq!(
        (st, r["compatibilityLevel"].as_str()),
        (200, Some("BACKWARD")),
        "{r}"
    );
    let (st, r) = http_as(
        &url,
        "POST",
        path,
        Some(v1.clone()),
        Some("registry-admin-1"),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    // A principal whose role has no admin may not change it.
    let (st, r) = http_as(
        &url,
        "PUT",
        "/config",
        Some(json!({"compatibility": "NONE"})),
        Some("reader-token"),
    )
    .await;
    assert_eq!((st, r["error_code"].as_u64()), (403, Some(40301)), "{r}");
    // The change is on record in _strata.audit, with who made it.
    audit.flush().await;
    let table = lake
        .open_existing(&strata_pipelines::audit::audit_table())
        .await
        .unwrap();
    let ctx = deltalake::datafusion::prelude::SessionContext::new();
    ctx.register_table("audit", table.table_provider().await.unwrap())
        .unwrap();
    let rows = ctx
        .sql(
            "SELECT count(*) AS n FROM audit WHERE principal = 'ops' AND endpoint = 'registry' \
             AND action = 'admin' AND objects = 'scores-value' AND outcome = 'ok'",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = rows[0]
        .column(0)
        .as_any()
        .downcast_ref::<deltalake::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 1, "one audited registry change by ops");
    // Reads and lookups need no token.
    let (st, _) = http(&url, "GET", "/subjects/scores-value/versions/1", None).await;
    assert_eq!(st, 200);
    let (st, r) = http(&url, "POST", "/subjects/scores-value", Some(v1)).await;
    assert_eq!((st, r["version"].as_u64()), (200, Some(1)), "{r}");
}
