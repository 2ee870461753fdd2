//! Gold over a hand-written event set: golden daily rows, late events recompute their own day
//! only, and an incremental build equals a build from scratch.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use serde_json::json;
use strata_bronze::BronzeWriter;
use strata_gold::GoldJob;
use strata_pipelines::Lake;
use strata_silver::SilverJob;
use strata_testkit::{dump, inspector, records};

fn tx(id: &str, at: &str, player: &str, currency: &str, amount: i64, direction: &str) -> Vec<u8> {
    json!({"event_id": id, "event_type": "economy.transaction", "schema_version": 1,
           "occurred_at": at, "source": "test", "tenant_id": "org-1", "player_id": player,
           "payload": {"transaction_id": format!("tx-{id}"), "currency": currency,
                       "amount": amount, "direction": direction}})
    .to_string()
    .into_bytes()
}

fn inv(id: &str, at: &str, agent: &str, status: &str, latency: i64, cost: f64) -> Vec<u8> {
    json!({"event_id": id, "event_type": "agent.invocation.completed", "schema_version": 1,
           "occurred_at": at, "source": "test", "tenant_id": "org-1", "agent_id": agent,
           "payload": {"invocation_id": format!("i-{id}"), "model": "m", "status": status,
                       "latency_ms": latency, "tokens_in": 10, "tokens_out": 5,
                       "cost_usd": cost, "tool_calls": 0}})
    .to_string()
    .into_bytes()
}

fn batch1() -> Vec<Vec<u8>> {
    vec![
        tx(
            "tx-0000001",
            "2026-11-20T10:00:00Z",
            "p-1",
            "CREDITS",
            100,
            "earn",
        ),
        tx(
            "tx-0000002",
            "2026-11-20T11:00:00Z",
            "p-2",
            "CREDITS",
            30,
            "spend",
        ),
        tx(
            "tx-0000003",
            "2026-11-21T09:00:00Z",
            "p-1",
            "GEMS",
            5,
            "earn",
        ),
        inv("in-0000001", "2026-11-20T10:00:00Z", "a-1", "ok", 100, 0.25),
        inv(
            "in-0000002",
            "2026-11-20T10:01:00Z",
            "a-1",
            "error",
            300,
            0.5,
        ),
    ]
}

fn batch2() -> Vec<Vec<u8>> {
    vec![
        // Duplicate of a batch-1 event, and a late event for 2026-11-20.
        tx(
            "tx-0000001",
            "2026-11-20T10:00:00Z",
            "p-1",
            "CREDITS",
            100,
            "earn",
        ),
        tx(
            "tx-0000004",
            "2026-11-20T23:59:59Z",
            "p-3",
            "CREDITS",
            7,
            "earn",
        ),
        inv("in-0000003", "2026-11-20T10:02:00Z", "a-1", "ok", 200, 0.25),
    ]
}

/// Every job of the built-in project; the days each Gold model recomputed, by model.
async fn run_all(lake: &Lake) -> std::collections::BTreeMap<String, Vec<String>> {
    let project = strata_testkit::project();
    for t in &project.silver {
        SilverJob::new(t.clone()).run(lake).await.unwrap();
    }
    let mut days = std::collections::BTreeMap::new();
    for m in &project.gold {
        let report = GoldJob::new(m.clone()).run(lake).await.unwrap();
        days.insert(m.name.clone(), report.days);
    }
    days
}

const ECONOMY: &str = "SELECT CAST(event_date AS VARCHAR) AS d, currency, earned, spent, transactions, players \
    FROM gold.economy_daily ORDER BY d, currency";
const AGENTS: &str = "SELECT CAST(event_date AS VARCHAR) AS d, agent_id, invocations, success_rate, \
    latency_p50_ms, latency_p95_ms, cost_usd FROM gold.agent_daily ORDER BY d, agent_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_aggregates_incremental_equal_from_scratch() {
    let inspector = inspector();
    let a = tempfile::tempdir().unwrap();
    let incremental = Lake::new(&a.path().display().to_string()).unwrap();
    let mut w = BronzeWriter::open(&incremental, inspector.clone(), "g")
        .await
        .unwrap();
    w.commit(&records(batch1(), 0)).await.unwrap();
    run_all(&incremental).await;
    w.commit(&records(batch2(), 5)).await.unwrap();
    let days = run_all(&incremental).await;
    // The late event and the new invocation touch 2026-11-20 only; 2026-11-21 is left alone.
    assert_eq!(days["economy_daily"], vec!["2026-11-20".to_string()]);
    // Rolling features: the changed day and the 27 after it.
    assert_eq!(days["player_features"].len(), 28);
    assert_eq!(days["agent_daily"], vec!["2026-11-20".to_string()]);
    // Nothing new: nothing recomputed.
    assert!(run_all(&incremental).await.values().all(Vec::is_empty));

    let b = tempfile::tempdir().unwrap();
    let scratch = Lake::new(&b.path().display().to_string()).unwrap();
    let mut w = BronzeWriter::open(&scratch, inspector, "g").await.unwrap();
    w.commit(&records(batch1(), 0)).await.unwrap();
    w.commit(&records(batch2(), 5)).await.unwrap();
    run_all(&scratch).await;

    let economy = dump(&incremental, ECONOMY).await;
    assert_eq!(economy, dump(&scratch, ECONOMY).await);
    let agents = dump(&incremental, AGENTS).await;
    assert_eq!(agents, dump(&scratch, AGENTS).await);
    assert_eq!(
        dump(
            &incremental,
            "SELECT * FROM gold.player_daily ORDER BY event_date, player_id"
        )
        .await,
        dump(
            &scratch,
            "SELECT * FROM gold.player_daily ORDER BY event_date, player_id"
        )
        .await
    );

    const FEATURES: &str = "SELECT CAST(event_date AS VARCHAR) AS d, player_id, credits_earned_7d, \
        credits_spent_28d, active_days_7d FROM gold.player_features ORDER BY d, player_id";
    let features = dump(&incremental, FEATURES).await;
    assert_eq!(features, dump(&scratch, FEATURES).await);
    let expected_features = "\
+------------+-----------+-------------------+-------------------+----------------+
| d          | player_id | credits_earned_7d | credits_spent_28d | active_days_7d |
+------------+-----------+-------------------+-------------------+----------------+
| 2026-11-20 | p-1       | 100               | 0                 | 1              |
| 2026-11-20 | p-2       | 0                 | 30                | 1              |
| 2026-11-20 | p-3       | 7                 | 0                 | 1              |
| 2026-11-21 | p-1       | 100               | 0                 | 2              |
+------------+-----------+-------------------+-------------------+----------------+";
    assert_eq!(features, expected_features, "\n{features}");

    let expected_economy = "\
+------------+----------+--------+-------+--------------+---------+
| d          | currency | earned | spent | transactions | players |
+------------+----------+--------+-------+--------------+---------+
| 2026-11-20 | CREDITS  | 107    | 30    | 3            | 3       |
| 2026-11-21 | GEMS     | 5      | 0     | 1            | 1       |
+------------+----------+--------+-------+--------------+---------+";
    assert_eq!(economy, expected_economy, "\n{economy}");
    let expected_agents = "\
+------------+----------+-------------+--------------------+----------------+----------------+----------+
| d          | agent_id | invocations | success_rate       | latency_p50_ms | latency_p95_ms | cost_usd |
+------------+----------+-------------+--------------------+----------------+----------------+----------+
| 2026-11-20 | a-1      | 3           | 0.6666666666666666 | 200.0          | 290.0          | 1.0      |
+------------+----------+-------------+--------------------+----------------+----------------+----------+";
    assert_eq!(agents, expected_agents, "\n{agents}");
}
