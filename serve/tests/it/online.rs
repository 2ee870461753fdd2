use serde_json::json;
use strata_serve::http::HttpSettings;
use strata_serve::{OnlineStore, RefreshMode};

use crate::fixtures::*;

fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feast_shaped_reads_known_unknown_and_expired() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let t = now();
    write_player_features(
        &lake,
        &[
            ("p-1", t - HOUR, 5),
            ("p-2", t - 72 * HOUR, 9), // older than the 2-day TTL
            ("p-3", t - 30 * HOUR, 1),
            ("p-3", t - 2 * HOUR, 7),
        ],
    )
    .await;
    let store = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    let addr = serve(store.clone(), &lake, HttpSettings::default()).await;
    let req = json!({"features": ["player_features:sessions_7d", "player_features:sessions_28d"],
                     "entities": {"player_id": ["p-1", "p-2", "p-3", "p-404"]}});
    let (st, r) = post_json(&addr, "/get-online-features", &[], &req).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        r["metadata"]["feature_names"],
        json!(["player_id", "sessions_7d", "sessions_28d"])
    );
    assert_eq!(
        r["results"][0]["values"],
        json!(["p-1", "p-2", "p-3", "p-404"])
    );
    assert_eq!(r["results"][1]["values"], json!([500, null, 700, null]));
    assert_eq!(r["results"][2]["values"], json!([501, null, 701, null]));
    assert_eq!(
        r["results"][1]["statuses"],
        json!(["PRESENT", "OUTSIDE_MAX_AGE", "PRESENT", "NOT_FOUND"])
    );
    assert_eq!(
        r["results"][1]["event_timestamps"][3],
        "1970-01-01T00:00:00Z"
    );
    let full = json!({"features": ["player_features:sessions_7d"], "full_feature_names": true,
                      "entities": {"player_id": ["p-1"]}});
    let (_, r) = post_json(&addr, "/get-online-features", &[], &full).await;
    assert_eq!(
        r["metadata"]["feature_names"],
        json!(["player_id", "player_features__sessions_7d"])
    );

    // For people.
    let (st, _, body) = http(&addr, "GET", "/features/player_features/p-3", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (st, v["features"]["sessions_7d"].as_i64()),
        (200, Some(700))
    );
    let (st, _, _) = http(&addr, "GET", "/features/player_features/p-404", &[], b"").await;
    assert_eq!(st, 404);

    // A new Gold version is served after a refresh.
    write_player_features(&lake, &[("p-404", t - HOUR, 4)]).await;
    assert!(store.refresh().await.unwrap());
    let (_, r) = post_json(&addr, "/get-online-features", &[], &req).await;
    assert_eq!(r["results"][1]["values"][3], 400);

    // A row stamped after now (today's partial day, stamped at its end) is not known yet:
    // the row known now is served, as a training set for now would use it.
    write_player_features(&lake, &[("p-3", t + 5 * HOUR, 9)]).await;
    assert!(store.refresh().await.unwrap());
    let (_, _, body) = http(&addr, "GET", "/features/player_features/p-3", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["features"]["sessions_7d"].as_i64(), Some(700), "{v}");

    // Bad requests: a 4xx with a message, never a 500.
    for (body, needle) in [
        (
            json!({"features": ["nope:x"], "entities": {"player_id": ["p-1"]}}),
            "unknown feature view 'nope'",
        ),
        (
            json!({"features": ["player_features:x"], "entities": {"player_id": ["p-1"]}}),
            "has no feature 'x'",
        ),
        (
            json!({"features": ["player_features"], "entities": {"player_id": ["p-1"]}}),
            "is not view:feature",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entities": {}}),
            "missing entities.player_id",
        ),
        (
            json!({"features": ["player_features:sessions_7d"]}),
            "missing 'entities'",
        ),
        (
            json!({"features": ["player_features:sessions_7d"], "entities": {"player_id": [{"a": 1}]}}),
            "strings or numbers",
        ),
    ] {
        let (st, r) = post_json(&addr, "/get-online-features", &[], &body).await;
        assert_eq!(st, 400, "{body}: {r}");
        assert!(feast_message(&r).contains(needle), "{body}: {r}");
    }
    let many: Vec<String> = (0..1001).map(|i| format!("p-{i}")).collect();
    let (st, r) = post_json(
        &addr,
        "/get-online-features",
        &[],
        &json!({"features": ["player_features:sessions_7d"], "entities": {"player_id": many}}),
    )
    .await;
    assert_eq!(st, 400);
    assert!(feast_message(&r).contains("limit is 1000"), "{r}");
    // Feature services name groups of features; unknown names are Feast's own exception.
    let (st, r) = post_json(
        &addr,
        "/get-online-features",
        &[],
        &json!({"feature_service": "player_activity", "entities": {"player_id": ["p-1"]}}),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        r["metadata"]["feature_names"].as_array().unwrap().len(),
        17,
        "{r}"
    );
    let (st, r) = post_json(
        &addr,
        "/get-online-features",
        &[],
        &json!({"feature_service": "nope", "entities": {"player_id": ["p-1"]}}),
    )
    .await;
    assert_eq!(st, 400);
    let detail: serde_json::Value = serde_json::from_str(r.as_str().unwrap()).unwrap();
    assert_eq!(detail["module"], "feast.errors", "{r}");
    assert_eq!(detail["class"], "FeatureServiceNotFoundException", "{r}");
    let (st, _, _) = http(
        &addr,
        "POST",
        "/get-online-features",
        &[("Content-Type", "application/json")],
        b"{not json",
    )
    .await;
    assert_eq!(st, 400);
    let (st, _, _) = http(&addr, "GET", "/nowhere", &[], b"").await;
    assert_eq!(st, 404);
    let (st, _, body) = http(&addr, "GET", "/openapi.json", &[], b"").await;
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st, doc["openapi"].as_str()), (200, Some("3.0.3")));
    assert!(doc["paths"]["/get-online-features"].is_object());
    let (_, _, body) = http(&addr, "GET", "/metrics", &[], b"").await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("strata_serve_requests_total{route=\"online\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("strata_serve_online_version{view=\"player_features\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_and_body_limits() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    write_player_features(&lake, &[("p-1", now() - HOUR, 5)]).await;
    let store = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    let settings = HttpSettings {
        tokens: strata_pipelines::BearerTokens::new(["s3cret".to_string()]),
        max_body_bytes: 4096,
        ..HttpSettings::default()
    };
    let addr = serve(store, &lake, settings).await;
    let req =
        json!({"features": ["player_features:sessions_7d"], "entities": {"player_id": ["p-1"]}});
    let (st, r) = post_json(&addr, "/get-online-features", &[], &req).await;
    assert_eq!(st, 401, "{r}");
    assert!(r["error"].as_str().unwrap().contains("bearer token"));
    let (st, _) = post_json(
        &addr,
        "/get-online-features",
        &[("Authorization", "Bearer nope")],
        &req,
    )
    .await;
    assert_eq!(st, 401);
    let (st, r) = post_json(
        &addr,
        "/get-online-features",
        &[("Authorization", "Bearer s3cret")],
        &req,
    )
    .await;
    assert_eq!(
        (st, r["results"][1]["values"][0].as_i64()),
        (200, Some(500))
    );
    // Health and metrics stay open for probes.
    let (st, _, _) = http(&addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(st, 200);
    let big = vec![b'x'; 10_000];
    let (st, _, body) = http(
        &addr,
        "POST",
        "/get-online-features",
        &[
            ("Authorization", "Bearer s3cret"),
            ("Content-Type", "application/json"),
        ],
        &big,
    )
    .await;
    assert_eq!(st, 413, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_serves_the_same_values_to_every_replica() {
    let url = std::env::var("STRATA_TEST_REDIS").expect(
        "STRATA_TEST_REDIS is not set: run the suite with scripts/test, which starts Redis",
    );
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let t = now();
    write_player_features(&lake, &[("p-1", t - HOUR, 5), ("p-2", t - 72 * HOUR, 9)]).await;
    // Another deployment (its own lake) shares the Redis under its own namespace.
    let ns = format!(
        "test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let other_ns = format!("{ns}-other");
    let other_dir = tempfile::tempdir().unwrap();
    let other_lake = crate::fixtures::lake(other_dir.path());
    write_player_features(&other_lake, &[("p-1", t - HOUR, 42)]).await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let first = OnlineStore::redis(lake.clone(), feature_views(), &url, &ns)
        .await
        .unwrap();
    let replica = OnlineStore::redis(lake.clone(), feature_views(), &url, &ns)
        .await
        .unwrap();
    let other = OnlineStore::redis(other_lake.clone(), feature_views(), &url, &other_ns)
        .await
        .unwrap();
    let memory = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    let req = json!({"features": ["player_features:sessions_7d", "player_features:active_days_28d"],
                     "entities": {"player_id": ["p-1", "p-2", "p-3"]}});
    let a = serve(first.clone(), &lake, HttpSettings::default()).await;
    let b = serve(replica, &lake, HttpSettings::default()).await;
    let m = serve(memory, &lake, HttpSettings::default()).await;
    let (_, ra) = post_json(&a, "/get-online-features", &[], &req).await;
    let (_, rb) = post_json(&b, "/get-online-features", &[], &req).await;
    let (_, rm) = post_json(&m, "/get-online-features", &[], &req).await;
    assert_eq!(
        ra["results"][1]["statuses"],
        json!(["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"])
    );
    assert_eq!(ra, rm);
    assert_eq!(rb, rm);
    // One replica refreshes Redis; the other serves the new value without loading anything.
    write_player_features(&lake, &[("p-3", t - HOUR, 3)]).await;
    first.refresh().await.unwrap();
    let (_, rb) = post_json(&b, "/get-online-features", &[], &req).await;
    assert_eq!(rb["results"][1]["values"][2], 300);
    let held: u64 = redis::cmd("GET")
        .arg(format!("{ns}:online:player_features:version"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, 2);
    let last = first.last_refresh("player_features").unwrap();
    assert_eq!(
        (last.mode, last.rows_read, last.entities),
        (RefreshMode::Changes, 1, 1),
        "the new version's one file is all the refresh reads: {last:?}"
    );
    // The other deployment still serves its own value for p-1.
    let o = serve(other, &other_lake, HttpSettings::default()).await;
    let (_, ro) = post_json(&o, "/get-online-features", &[], &req).await;
    let (_, ra) = post_json(&a, "/get-online-features", &[], &req).await;
    assert_eq!(ro["results"][1]["values"][0], 4200, "{ro}");
    assert_ne!(ra["results"][1]["values"][0], 4200, "{ra}");
    let _: () = redis::cmd("DEL")
        .arg(format!("{ns}:online:player_features"))
        .arg(format!("{other_ns}:online:player_features"))
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// Every entity's held rows, as one store serves them.
async fn held(
    store: &OnlineStore,
    ids: &[String],
) -> Vec<Option<strata_serve::online::EntityRows>> {
    let view = store
        .views()
        .iter()
        .find(|v| v.name == "player_features")
        .unwrap();
    let rows = store.get(view, ids).await.unwrap();
    rows.into_iter().map(|r| r.map(|r| (*r).clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_day_refreshes_from_its_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let t = now();
    let day = 24 * HOUR;
    let players: Vec<String> = (0..100).map(|i| format!("p-{i}")).collect();
    // 100 players x 100 days, one file per day.
    let day_rows = |k: i64, v: i64| -> Vec<(&str, i64, i64)> {
        let ts = (t / day - k) * day + 12 * HOUR;
        players.iter().map(|p| (p.as_str(), ts, v)).collect()
    };
    let history: Vec<_> = (1..=100).flat_map(|k| day_rows(k, k)).collect();
    write_player_features(&lake, &history).await;
    let store = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    let first = store.last_refresh("player_features").unwrap();
    assert_eq!((first.mode, first.rows_read), (RefreshMode::Full, 10_000));
    let date = |k: i64| {
        chrono::DateTime::from_timestamp_micros((t / day - k) * day)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };

    // The newest day recomputed with new values: 1% of the table changes.
    rewrite_player_features(
        &lake,
        &day_rows(1, 777),
        &format!("event_date = '{}'", date(1)),
    )
    .await;
    assert!(store.refresh().await.unwrap());
    let r = store.last_refresh("player_features").unwrap();
    assert_eq!(r.mode, RefreshMode::Changes, "{r:?}");
    assert!(
        r.rows_read <= 500,
        "a 1% change read {} of 10000 rows (more than 5%)",
        r.rows_read
    );
    let fresh = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    assert_eq!(held(&store, &players).await, held(&fresh, &players).await);
    let newest = held(&store, &players[..1]).await[0].clone().unwrap();
    assert_eq!(newest.0.last().unwrap().values[0], 77_700);

    // An older day rewritten changes nothing served; a player dropped from the newest day
    // falls back to its previous row, read again for that player alone.
    rewrite_player_features(
        &lake,
        &day_rows(50, 5),
        &format!("event_date = '{}'", date(50)),
    )
    .await;
    let mut newest_day = day_rows(1, 888);
    newest_day.retain(|r| r.0 != "p-7");
    rewrite_player_features(&lake, &newest_day, &format!("event_date = '{}'", date(1))).await;
    store.refresh().await.unwrap();
    assert_eq!(
        store.last_refresh("player_features").unwrap().mode,
        RefreshMode::Changes
    );
    let fresh = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    assert_eq!(held(&store, &players).await, held(&fresh, &players).await);
    let p7 = held(&store, &["p-7".to_string()]).await[0].clone().unwrap();
    assert_eq!(
        p7.0.last().unwrap().values[0],
        200,
        "p-7 serves its day-2 row"
    );

    // The table dropped and built again past the held version: another log, read whole.
    let held_version = store
        .last_refresh("player_features")
        .unwrap()
        .version
        .unwrap();
    std::fs::remove_dir_all(dir.path().join("gold").join("player_features")).unwrap();
    for k in (1..=held_version as i64 + 1).rev() {
        write_player_features(&lake, &day_rows(k, k)).await;
    }
    store.refresh().await.unwrap();
    assert_eq!(
        store.last_refresh("player_features").unwrap().mode,
        RefreshMode::Full
    );
    let fresh = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    assert_eq!(held(&store, &players).await, held(&fresh, &players).await);
}

/// The message of an error in Feast's shape: a JSON string holding module, class, message.
fn feast_message(r: &serde_json::Value) -> String {
    let detail: serde_json::Value =
        serde_json::from_str(r.as_str().expect("a Feast error detail string")).unwrap();
    detail["message"].as_str().unwrap().to_string()
}

/// A feature read from a column its Gold model declares PII is hashed for a role without
/// clear access, in online answers (both APIs) and training sets, as SQL hashes it; the
/// operator reads it in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pii_features_are_masked_for_roles_without_clear_access() {
    use strata_pipelines::{BearerTokens, Principal};
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let t = now();
    write_player_features(&lake, &[("p-1", t - HOUR, 5)]).await;
    let mut project = (*strata_project::builtin().unwrap()).clone();
    let model = project
        .gold
        .iter_mut()
        .find(|m| m.name == "player_features")
        .unwrap();
    model
        .pii
        .insert("sessions_7d".into(), strata_project::Mask::Hash);
    let mut masked = strata_project::Role::operator();
    masked.name = "ml_masked".into();
    masked.clear_pii = false;
    project.roles.push(masked);
    let principal = |name: &str, role: &str| Principal {
        name: name.into(),
        role: role.into(),
        admin: false,
    };
    let settings = HttpSettings {
        tokens: BearerTokens::with_principals([
            ("op".to_string(), principal("ops", "operator")),
            ("ml".to_string(), principal("trainer", "ml_masked")),
        ]),
        ..HttpSettings::default()
    };
    let store = OnlineStore::memory(lake.clone(), feature_views())
        .await
        .unwrap();
    let addr = serve_project(store, &lake, settings, std::sync::Arc::new(project)).await;
    let req = json!({"features": ["player_features:sessions_7d", "player_features:sessions_28d"],
                     "entities": {"player_id": ["p-1"]}});
    let read = |token: &'static str| {
        let (addr, req) = (addr.clone(), req.clone());
        async move {
            let auth = format!("Bearer {token}");
            let (st, r) = post_json(
                &addr,
                "/get-online-features",
                &[("Authorization", auth.as_str())],
                &req,
            )
            .await;
            assert_eq!(st, 200, "{r}");
            r
        }
    };
    let clear = read("op").await;
    let hidden = read("ml").await;
    assert_eq!(clear["results"][1]["values"], json!([500]));
    // sha256("500") in hex, as SQL's encode(sha256(CAST(500 AS VARCHAR)), 'hex').
    let digest = strata_pipelines::audit::sha256_hex("500");
    assert_eq!(hidden["results"][1]["values"], json!([digest]));
    assert_eq!(
        hidden["results"][2]["values"],
        clear["results"][2]["values"]
    );

    let (st, _, body) = http(
        &addr,
        "GET",
        "/features/player_features/p-1",
        &[("Authorization", "Bearer ml")],
        b"",
    )
    .await;
    assert_eq!(st, 200);
    let one: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(one["features"]["sessions_7d"], json!(digest), "{one}");

    let training = json!({"features": ["player_features:sessions_7d"], "format": "json",
                          "entity_rows": [{"player_id": "p-1", "event_timestamp":
                              chrono::DateTime::<chrono::Utc>::from_timestamp_micros(t).unwrap().to_rfc3339()}]});
    for (token, want) in [("op", json!(500)), ("ml", json!(digest))] {
        let auth = format!("Bearer {token}");
        let (st, rows) = post_json(
            &addr,
            "/training-set",
            &[("Authorization", auth.as_str())],
            &training,
        )
        .await;
        assert_eq!(st, 200, "{rows}");
        assert_eq!(rows[0]["sessions_7d"], want, "{token}: {rows}");
    }
}
