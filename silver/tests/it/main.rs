//! Silver jobs over a hand-written event set: dedup across batches, late events in their own
//! date, sessions stitched across batches, idempotence, and incremental == from scratch.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use serde_json::json;
use strata_bronze::BronzeWriter;
use strata_pipelines::Lake;
use strata_silver::SilverJob;
use strata_testkit::{dump, inspector, records};

fn event(
    id: &str,
    t: &str,
    at: &str,
    extra: serde_json::Value,
    payload: serde_json::Value,
) -> Vec<u8> {
    let mut e = json!({
        "event_id": id, "event_type": t, "schema_version": 1, "occurred_at": at,
        "source": "test", "tenant_id": "org-1", "payload": payload,
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e.to_string().into_bytes()
}

fn batch1() -> Vec<Vec<u8>> {
    let p1 = json!({"player_id": "p-1", "session_id": "s-1"});
    let p2 = json!({"player_id": "p-2", "session_id": "s-2"});
    vec![
        event(
            "ev-00000001",
            "player.session.started",
            "2026-11-20T10:00:00Z",
            p1.clone(),
            json!({"platform": "pc", "region": "eu-1"}),
        ),
        event(
            "ev-00000002",
            "mission.completed",
            "2026-11-20T10:05:00Z",
            p1.clone(),
            json!({"mission_id": "m-1", "mission_type": "escort", "duration_s": 300, "reward_credits": 50}),
        ),
        event(
            "ev-00000003",
            "player.session.started",
            "2026-11-20T11:00:00Z",
            p2,
            json!({"platform": "mobile", "region": "ap-2"}),
        ),
        event(
            "ev-00000004",
            "agent.invocation.completed",
            "2026-11-20T10:06:00Z",
            json!({"agent_id": "a-1", "player_id": "p-1"}),
            json!({"invocation_id": "i-1", "model": "m", "status": "ok", "latency_ms": 120,
                     "tokens_in": 10, "tokens_out": 20, "cost_usd": 0.5, "tool_calls": 1}),
        ),
        b"not json".to_vec(),
    ]
}

fn batch2() -> Vec<Vec<u8>> {
    let p1 = json!({"player_id": "p-1", "session_id": "s-1"});
    vec![
        // A duplicate of a batch-1 event.
        event(
            "ev-00000002",
            "mission.completed",
            "2026-11-20T10:05:00Z",
            p1.clone(),
            json!({"mission_id": "m-1", "mission_type": "escort", "duration_s": 300, "reward_credits": 50}),
        ),
        event(
            "ev-00000005",
            "player.session.ended",
            "2026-11-20T12:00:00Z",
            p1,
            json!({"duration_s": 7200, "reason": "quit"}),
        ),
        // A late event: three days before everything else.
        event(
            "ev-00000006",
            "economy.transaction",
            "2026-11-17T09:00:00Z",
            json!({"player_id": "p-2"}),
            json!({"transaction_id": "tx-1", "currency": "CREDITS", "amount": 40, "direction": "earn"}),
        ),
    ]
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

async fn run_all(lake: &Lake) -> Vec<Option<u64>> {
    let mut versions = Vec::new();
    for t in &strata_testkit::project().silver {
        versions.push(
            SilverJob::new(t.clone())
                .run(lake)
                .await
                .unwrap()
                .output_version,
        );
    }
    versions
}

const SESSIONS: &str = "SELECT session_id, player_id, CAST(started_at AS VARCHAR) AS started, \
    CAST(ended_at AS VARCHAR) AS ended, platform, duration_s, end_reason, CAST(event_date AS VARCHAR) AS d \
    FROM silver.player_sessions ORDER BY session_id";
const EVENTS: &str = "SELECT 'missions' AS t, event_id, CAST(event_date AS VARCHAR) AS d FROM silver.missions \
    UNION ALL SELECT 'economy', event_id, CAST(event_date AS VARCHAR) FROM silver.economy_transactions \
    UNION ALL SELECT 'agent', event_id, CAST(event_date AS VARCHAR) FROM silver.agent_invocations \
    ORDER BY t, event_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_with_a_killed_write_equals_from_scratch_and_the_golden_rows() {
    let a = tempfile::tempdir().unwrap();
    let incremental = Lake::new(&a.path().display().to_string()).unwrap();
    let mut w = BronzeWriter::open(&incremental, inspector(), "g")
        .await
        .unwrap();
    w.commit(&records(batch1(), 0)).await.unwrap();
    run_all(&incremental).await;
    // A job killed after writing its data files but before committing leaves files that no
    // commit references (and possibly a temporary commit file): plant exactly that.
    for t in ["missions", "player_sessions"] {
        let dir = a.path().join("silver").join(t);
        let data = walk(&dir)
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "parquet"))
            .unwrap();
        std::fs::copy(
            &data,
            data.with_file_name("part-00000-killed-before-commit.snappy.parquet"),
        )
        .unwrap();
        std::fs::write(dir.join("_delta_log/_commit_killed.json.tmp"), b"{\"add\":").unwrap();
    }
    w.commit(&records(batch2(), 5)).await.unwrap();
    run_all(&incremental).await;

    // Running again changes nothing.
    assert_eq!(run_all(&incremental).await, vec![None; 5]);

    let b = tempfile::tempdir().unwrap();
    let scratch = Lake::new(&b.path().display().to_string()).unwrap();
    let mut w = BronzeWriter::open(&scratch, inspector(), "g")
        .await
        .unwrap();
    w.commit(&records(batch1(), 0)).await.unwrap();
    w.commit(&records(batch2(), 5)).await.unwrap();
    run_all(&scratch).await;

    let sessions = dump(&incremental, SESSIONS).await;
    assert_eq!(sessions, dump(&scratch, SESSIONS).await);
    let events = dump(&incremental, EVENTS).await;
    assert_eq!(events, dump(&scratch, EVENTS).await);

    let expected_sessions = "\
+------------+-----------+----------------------+----------------------+----------+------------+------------+------------+
| session_id | player_id | started              | ended                | platform | duration_s | end_reason | d          |
+------------+-----------+----------------------+----------------------+----------+------------+------------+------------+
| s-1        | p-1       | 2026-11-20T10:00:00Z | 2026-11-20T12:00:00Z | pc       | 7200       | quit       | 2026-11-20 |
| s-2        | p-2       | 2026-11-20T11:00:00Z |                      | mobile   |            |            | 2026-11-20 |
+------------+-----------+----------------------+----------------------+----------+------------+------------+------------+";
    assert_eq!(sessions, expected_sessions, "\n{sessions}");
    let expected_events = "\
+----------+-------------+------------+
| t        | event_id    | d          |
+----------+-------------+------------+
| agent    | ev-00000004 | 2026-11-20 |
| economy  | ev-00000006 | 2026-11-17 |
| missions | ev-00000002 | 2026-11-20 |
+----------+-------------+------------+";
    assert_eq!(events, expected_events, "\n{events}");
}

/// A schema_version 2 event with a new optional field flows into an existing Silver table as a
/// new nullable column; rows and readers of the old columns are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_v2_adds_a_nullable_column() {
    use deltalake::arrow::datatypes::Schema;

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(&dir.path().display().to_string()).unwrap();
    let table = strata_testkit::project()
        .silver_table("agent_invocations")
        .unwrap()
        .clone();
    // The table as an older release created it: without the v2 column.
    let old: Schema = Schema::new(
        table
            .schema()
            .fields()
            .iter()
            .filter(|f| f.name() != "reasoning_tokens")
            .cloned()
            .collect::<Vec<_>>(),
    );
    lake.ensure_table(
        &table.table_name(),
        std::sync::Arc::new(old),
        &["event_date"],
    )
    .await
    .unwrap();

    let completed = |id: &str, version: i64, extra: serde_json::Value| {
        let mut payload = json!({"invocation_id": "i-1", "model": "m", "status": "ok", "latency_ms": 5,
                                 "tokens_in": 1, "tokens_out": 2, "cost_usd": 0.1, "tool_calls": 0});
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        let mut e: serde_json::Value = serde_json::from_slice(&event(
            id,
            "agent.invocation.completed",
            "2026-11-20T10:00:00Z",
            json!({"agent_id": "a-1"}),
            payload,
        ))
        .unwrap();
        e["schema_version"] = json!(version);
        e.to_string().into_bytes()
    };
    let mut w = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    w.commit(&records(vec![completed("ev-00000001", 1, json!({}))], 0))
        .await
        .unwrap();
    SilverJob::new(table.clone()).run(&lake).await.unwrap();
    w.commit(&records(
        vec![completed("ev-00000002", 2, json!({"reasoning_tokens": 42}))],
        1,
    ))
    .await
    .unwrap();
    SilverJob::new(table).run(&lake).await.unwrap();
    assert_eq!(
        dump(&lake, "SELECT error FROM bronze.quarantine").await,
        "++\n++",
        "both events are valid"
    );

    let rows = dump(
        &lake,
        "SELECT event_id, schema_version, model, reasoning_tokens FROM silver.agent_invocations ORDER BY event_id",
    )
    .await;
    let expected = "\
+-------------+----------------+-------+------------------+
| event_id    | schema_version | model | reasoning_tokens |
+-------------+----------------+-------+------------------+
| ev-00000001 | 1              | m     |                  |
| ev-00000002 | 2              | m     | 42               |
+-------------+----------------+-------+------------------+";
    assert_eq!(rows, expected, "\n{rows}");
}

/// An increment refined in several chunks keeps the first copy of every event: a copy of a
/// row written by an earlier run, and a copy of a row an earlier chunk of the same run wrote,
/// are both dropped (each chunk looks up only the keys it may repeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_chunks_keeps_first_copies_across_chunks_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Each Bronze commit is a chunk of its own.
    let lake = Lake::new(&dir.path().display().to_string())
        .unwrap()
        .with_chunk_rows(Some(1));
    let mission = |id: &str, day: &str, reward: i64| {
        event(
            id,
            "mission.completed",
            &format!("{day}T10:05:00Z"),
            json!({"player_id": "p-1", "session_id": "s-1"}),
            json!({"mission_id": "m-1", "mission_type": "escort", "duration_s": 300,
                   "reward_credits": reward}),
        )
    };
    let table = strata_testkit::project()
        .silver_table("missions")
        .unwrap()
        .clone();
    let job = SilverJob::new(table);
    let mut w = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    let first = vec![
        mission("ev-00000001", "2026-11-20", 1),
        mission("ev-00000002", "2026-11-21", 2),
    ];
    w.commit(&records(first, 0)).await.unwrap();
    assert_eq!(job.run(&lake).await.unwrap().rows_out, 2);

    let increments = [
        // A copy of ev-00000001 (written by the previous run) and a new event.
        vec![
            mission("ev-00000001", "2026-11-20", 10),
            mission("ev-00000003", "2026-11-20", 3),
        ],
        // A copy of ev-00000003 (written by the previous chunk), and a new event on a new day.
        vec![
            mission("ev-00000003", "2026-11-20", 30),
            mission("ev-00000004", "2026-11-22", 4),
        ],
        // The same id on another day is another event, as in the table's key.
        vec![mission("ev-00000002", "2026-11-23", 5)],
    ];
    let mut offset = 2;
    for values in increments {
        let n = values.len() as i64;
        w.commit(&records(values, offset)).await.unwrap();
        offset += n;
    }
    let report = job.run(&lake).await.unwrap();
    assert_eq!(report.rows_out, 3, "{report:?}");
    let rows = dump(
        &lake,
        "SELECT event_id, reward_credits, CAST(event_date AS VARCHAR) AS d FROM silver.missions \
         ORDER BY event_id, d",
    )
    .await;
    let expected = "\
+-------------+----------------+------------+
| event_id    | reward_credits | d          |
+-------------+----------------+------------+
| ev-00000001 | 1              | 2026-11-20 |
| ev-00000002 | 2              | 2026-11-21 |
| ev-00000002 | 5              | 2026-11-23 |
| ev-00000003 | 3              | 2026-11-20 |
| ev-00000004 | 4              | 2026-11-22 |
+-------------+----------------+------------+";
    assert_eq!(rows, expected, "\n{rows}");
}

/// A backfill rewrites stitched rows with a plain write; the next increment still MERGEs into
/// them (an end completes a session the backfill rewrote, the other sessions are kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_increment_merges_into_sessions_a_backfill_rewrote() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(&dir.path().display().to_string()).unwrap();
    let table = strata_testkit::project()
        .silver_table("player_sessions")
        .unwrap()
        .clone();
    let job = SilverJob::new(table);
    let mut w = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    w.commit(&records(batch1(), 0)).await.unwrap();
    job.run(&lake).await.unwrap();
    let days = std::collections::BTreeSet::from(["2026-11-20".to_string()]);
    job.recompute(&lake, &days, Default::default())
        .await
        .unwrap();
    w.commit(&records(batch2(), 5)).await.unwrap();
    job.run(&lake).await.unwrap();
    let sessions = dump(&lake, SESSIONS).await;
    assert!(
        sessions
            .contains("| s-1        | p-1       | 2026-11-20T10:00:00Z | 2026-11-20T12:00:00Z |"),
        "\n{sessions}"
    );
    assert!(
        sessions.contains("| s-2        | p-2       |"),
        "\n{sessions}"
    );
}

/// Sessions stitched over a run of several chunks: an end seen first, its late start in a
/// later chunk (the row moves to the start's day), a session that only starts, and an end
/// on the day after its start's (its row is found on the start's day).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stitch_across_the_chunks_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::new(&dir.path().display().to_string())
        .unwrap()
        .with_chunk_rows(Some(1));
    let table = strata_testkit::project()
        .silver_table("player_sessions")
        .unwrap()
        .clone();
    let ids = |p: &str, s: &str| json!({"player_id": p, "session_id": s});
    let start = |id: &str, at: &str, s: &str| {
        event(
            id,
            "player.session.started",
            at,
            ids("p-1", s),
            json!({"platform": "pc", "region": "eu-1"}),
        )
    };
    let end = |id: &str, at: &str, s: &str| {
        event(
            id,
            "player.session.ended",
            at,
            ids("p-1", s),
            json!({"duration_s": 60, "reason": "quit"}),
        )
    };
    let mut w = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    w.commit(&records(
        vec![start("ev-00000001", "2026-11-19T23:30:00Z", "s-1")],
        0,
    ))
    .await
    .unwrap();
    SilverJob::new(table.clone()).run(&lake).await.unwrap();
    for (i, value) in [
        end("ev-00000002", "2026-11-21T09:00:00Z", "s-9"),
        start("ev-00000003", "2026-11-20T23:59:00Z", "s-9"),
        start("ev-00000004", "2026-11-22T10:00:00Z", "s-8"),
        end("ev-00000005", "2026-11-20T00:30:00Z", "s-1"),
    ]
    .into_iter()
    .enumerate()
    {
        w.commit(&records(vec![value], 1 + i as i64)).await.unwrap();
    }
    SilverJob::new(table).run(&lake).await.unwrap();
    let sessions = dump(&lake, SESSIONS).await;
    let expected = "\
+------------+-----------+----------------------+----------------------+----------+------------+------------+------------+
| session_id | player_id | started              | ended                | platform | duration_s | end_reason | d          |
+------------+-----------+----------------------+----------------------+----------+------------+------------+------------+
| s-1        | p-1       | 2026-11-19T23:30:00Z | 2026-11-20T00:30:00Z | pc       | 60         | quit       | 2026-11-19 |
| s-8        | p-1       | 2026-11-22T10:00:00Z |                      | pc       |            |            | 2026-11-22 |
| s-9        | p-1       | 2026-11-20T23:59:00Z | 2026-11-21T09:00:00Z | pc       | 60         | quit       | 2026-11-20 |
+------------+-----------+----------------------+----------------------+----------+------------+------------+------------+";
    assert_eq!(sessions, expected, "\n{sessions}");
}

/// A chunk holds about `chunk_rows` of the table's own events, however many Bronze pieces
/// that takes: a table with one event in every two commits once per two pieces, a copy of
/// an event from the run's first chunk is dropped in its second, and a session whose start
/// and end lie in two pieces of one chunk is stitched there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_holds_chunk_rows_of_the_tables_own_events() {
    let dir = tempfile::tempdir().unwrap();
    // Each Bronze commit of two events is a piece of its own.
    let lake = Lake::new(&dir.path().display().to_string())
        .unwrap()
        .with_chunk_rows(Some(2));
    let ids = json!({"player_id": "p-1", "session_id": "s-1"});
    let mission = |id: &str| {
        event(
            id,
            "mission.completed",
            "2026-11-20T10:05:00Z",
            ids.clone(),
            json!({"mission_id": "m-1", "mission_type": "escort", "duration_s": 300,
                   "reward_credits": 1}),
        )
    };
    let session = |id: &str, t: &str, at: &str| {
        let payload = match t {
            "player.session.started" => json!({"platform": "pc", "region": "eu-1"}),
            _ => json!({"duration_s": 3600, "reason": "quit"}),
        };
        event(id, t, at, ids.clone(), payload)
    };
    let commits = [
        vec![
            mission("ev-00000001"),
            session(
                "ev-00000002",
                "player.session.started",
                "2026-11-20T10:00:00Z",
            ),
        ],
        vec![
            mission("ev-00000003"),
            session(
                "ev-00000004",
                "player.session.ended",
                "2026-11-20T11:00:00Z",
            ),
        ],
        vec![mission("ev-00000005"), b"not json".to_vec()],
        // A copy of the first chunk's first event.
        vec![mission("ev-00000001"), b"not json".to_vec()],
    ];
    let mut w = BronzeWriter::open(&lake, inspector(), "g").await.unwrap();
    for (i, values) in commits.into_iter().enumerate() {
        w.commit(&records(values, 2 * i as i64)).await.unwrap();
    }
    let project = strata_testkit::project();
    let missions = SilverJob::new(project.silver_table("missions").unwrap().clone());
    let report = missions.run(&lake).await.unwrap();
    // Version 0 creates the table; then two chunks of two missions each.
    assert_eq!(
        (report.rows_in, report.rows_out, report.output_version),
        (4, 3, Some(2)),
        "{report:?}"
    );
    let sessions = SilverJob::new(project.silver_table("player_sessions").unwrap().clone());
    let report = sessions.run(&lake).await.unwrap();
    assert_eq!(
        (report.rows_in, report.output_version),
        (2, Some(2)),
        "{report:?}"
    );
    let rows = dump(&lake, SESSIONS).await;
    assert!(
        rows.contains("| s-1        | p-1       | 2026-11-20T10:00:00Z | 2026-11-20T11:00:00Z |"),
        "\n{rows}"
    );
    let rows = dump(&lake, "SELECT count(*) AS n FROM silver.missions").await;
    assert!(rows.contains("| 3 |"), "\n{rows}");
    for job in [missions, sessions] {
        let again = job.run(&lake).await.unwrap();
        assert_eq!(
            (again.rows_in, again.output_version),
            (0, None),
            "{again:?}"
        );
    }
}
