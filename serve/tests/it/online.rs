use serde_json::json;
use strata_serve::OnlineStore;
use strata_serve::http::HttpSettings;

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

/// The message of an error in Feast's shape: a JSON string holding module, class, message.
fn feast_message(r: &serde_json::Value) -> String {
    let detail: serde_json::Value =
        serde_json::from_str(r.as_str().expect("a Feast error detail string")).unwrap();
    detail["message"].as_str().unwrap().to_string()
}
