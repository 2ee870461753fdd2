//! The SQL endpoint as analysts meet it: fresh data, nothing writable, per-connection
//! settings, limits that protect the rest of the server, and the clients and BI libraries
//! they use (psql, psycopg, SQLAlchemy + pandas).

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::serve::{Server, http_post, psql, start};

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn count(server: &Server, sql: &str) -> Option<u64> {
    let out = psql(server.pg_port, "", sql);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .flatten()
}

/// Every Delta log under the lake, with its latest version: what must not move. The audit
/// log is left out: it records these very queries.
fn log_versions(env: &Env) -> Vec<(String, Option<u64>)> {
    let mut out = Vec::new();
    for layer in ["bronze", "silver", "gold", "_strata"] {
        let Ok(dir) = std::fs::read_dir(env.lake().join(layer)) else {
            continue;
        };
        for t in dir.flatten() {
            if layer == "_strata" && t.file_name() == "audit" {
                continue;
            }
            out.push((
                format!("{layer}.{}", t.file_name().to_string_lossy()),
                delta_version(&t.path()),
            ));
        }
    }
    out.sort();
    out
}

/// New rows and new tables show up without a restart; writes of every disguise are refused
/// and change nothing; settings stay in their connection; search_path, the quarantine view
/// and Postgres type names work.
#[test]
fn sql_endpoint_is_fresh_read_only_and_per_connection() {
    let env = Env::new(1);
    env.simulate(&[
        "--count",
        "1500",
        "--seed",
        "61",
        "--malformed",
        "0.05",
        "--backdate-days",
        "1",
    ]);
    env.ingest_until_caught_up(&[]);
    let config = env.dir.path().join("serve.toml");
    std::fs::write(&config, "[serve]\nrefresh_ms = 200\n").unwrap();
    let server = start(&env, &config);
    assert_eq!(
        count(&server, "SELECT count(*) FROM bronze.events"),
        Some(1500)
    );
    assert!(count(&server, "SELECT count(*) FROM bronze.quarantine").unwrap() > 0);

    // Rows ingested after start.
    env.simulate(&["--count", "700", "--seed", "62", "--backdate-days", "1"]);
    env.ingest_until_caught_up(&[]);
    let t0 = Instant::now();
    wait_until(
        "bronze.events to show 2200 rows over pgwire",
        Duration::from_secs(60),
        || (count(&server, "SELECT count(*) FROM bronze.events") == Some(2200)).then_some(()),
    );
    eprintln!(
        "new Bronze version visible over pgwire after {:?}",
        t0.elapsed()
    );
    // Tables created after start.
    succeed(env.strata().args(["run", "--once", "--no-ingest"]));
    let daily = env.count("SELECT count(*) FROM gold.player_daily");
    wait_until(
        "gold.player_daily to appear over pgwire",
        Duration::from_secs(60),
        || (count(&server, "SELECT count(*) FROM gold.player_daily") == Some(daily)).then_some(()),
    );

    let before = log_versions(&env);
    let target = env.dir.path().join("copied.parquet");
    for sql in [
        "EXPLAIN ANALYZE INSERT INTO gold.economy_daily SELECT * FROM gold.economy_daily LIMIT 1"
            .to_string(),
        "EXPLAIN ANALYZE DELETE FROM gold.economy_daily".to_string(),
        "EXPLAIN INSERT INTO gold.economy_daily SELECT * FROM gold.economy_daily".to_string(),
        format!(
            "EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{}'",
            target.display()
        ),
        format!("COPY (SELECT 1 AS x) TO '{}'", target.display()),
        format!(
            "CREATE EXTERNAL TABLE evil STORED AS PARQUET LOCATION '{}'",
            env.lake().join("gold/player_daily").display()
        ),
        "CREATE VIEW gold.v AS SELECT 1".to_string(),
        "DROP TABLE gold.player_daily".to_string(),
    ] {
        let out = psql(server.pg_port, "", &sql);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted: {sql}");
        assert!(err.contains("read-only"), "{sql}: {err}");
    }
    assert_eq!(log_versions(&env), before, "a Delta log moved");
    assert!(!target.exists(), "COPY wrote a file");

    // Settings stay in their connection.
    let one = ok(psql(
        server.pg_port,
        "",
        "SET datafusion.execution.batch_size = 17; SHOW datafusion.execution.batch_size",
    ));
    assert!(one.contains("17"), "{one}");
    let other = ok(psql(
        server.pg_port,
        "",
        "SHOW datafusion.execution.batch_size",
    ));
    assert!(other.contains("8192"), "another connection sees {other}");

    // search_path picks the schema of unqualified names; types are Postgres', from 1.
    let n = ok(psql(
        server.pg_port,
        "",
        "SET search_path = gold; SELECT count(*) FROM player_daily",
    ));
    assert_eq!(n.lines().last(), Some(daily.to_string().as_str()), "{n}");
    let cols = ok(psql(
        server.pg_port,
        "",
        "SELECT ordinal_position, data_type FROM information_schema.columns \
         WHERE table_schema = 'gold' AND table_name = 'player_daily' ORDER BY ordinal_position",
    ));
    let first = cols.lines().next().unwrap_or_default();
    assert!(first.starts_with("1|"), "{cols}");
    for arrow_name in ["Utf8", "Date32", "Int64", "Float64", "Timestamp("] {
        assert!(
            !cols.contains(arrow_name),
            "Arrow type names in information_schema: {cols}"
        );
    }
    assert!(cols.contains("date") && cols.contains("bigint"), "{cols}");

    // psql's meta-commands.
    let listed = ok(psql(server.pg_port, "", "\\dt gold.*"));
    assert!(listed.contains("player_daily"), "{listed}");
    let described = ok(psql(server.pg_port, "", "\\d gold.player_daily"));
    assert!(
        described.contains("player_id") && described.contains("bigint"),
        "{described}"
    );

    // What Grafana's PostgreSQL data source sends for its table picker and column list:
    // the search path split into a one-row table, a series over it, an IN subquery inside
    // CASE, and an ORDER BY on the same CASE.
    let on_path = "SELECT CASE WHEN trim(sp[i]) = '\"$user\"' THEN user ELSE trim(sp[i]) END \
        FROM generate_series(array_lower(string_to_array(current_setting('search_path'), ','), 1), \
        array_upper(string_to_array(current_setting('search_path'), ','), 1)) AS i, \
        string_to_array(current_setting('search_path'), ',') sp";
    let tables = ok(psql(
        server.pg_port,
        "",
        &format!(
            "SELECT CASE WHEN quote_ident(table_schema) IN ({on_path}) THEN quote_ident(table_name) \
             ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" \
             FROM information_schema.tables \
             WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog') \
             ORDER BY CASE WHEN quote_ident(table_schema) IN ({on_path}) THEN 0 ELSE 1 END, 1"
        ),
    ));
    assert!(tables.lines().any(|l| l == "gold.player_daily"), "{tables}");
    let columns = ok(psql(
        server.pg_port,
        "",
        "SELECT quote_ident(column_name) AS \"column\", data_type AS \"type\" \
         FROM information_schema.columns \
         WHERE quote_ident(table_schema) = (parse_ident('gold.player_daily'))[1] \
         AND quote_ident(table_name) = (parse_ident('gold.player_daily'))[2]",
    ));
    assert!(columns.lines().any(|l| l == "player_id|text"), "{columns}");
}

/// A runaway query is stopped by the statement timeout (or the memory cap) while the
/// feature service keeps answering; SQLAlchemy, pandas and a psycopg named cursor work.
#[test]
fn runaway_queries_are_stopped_and_bi_clients_work() {
    let env = Env::new(1);
    env.simulate(&["--count", "3000", "--seed", "63", "--backdate-days", "1"]);
    succeed(env.strata().args(["run", "--once"]));
    let config = env.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "[serve]\nsql_statement_timeout_ms = 3000\nsql_memory_mb = 64\n",
    )
    .unwrap();
    let server = start(&env, &config);
    let pg = server.pg_port;
    let runaway = thread::spawn(move || {
        let t0 = Instant::now();
        let out = psql(
            pg,
            "",
            "SELECT a.event_id, row_number() OVER (ORDER BY a.event_id, b.event_id) AS n \
             FROM bronze.events a CROSS JOIN bronze.events b ORDER BY n DESC LIMIT 1",
        );
        (out, t0.elapsed())
    });
    let body = r#"{"features": ["player_features:sessions_7d"], "entities": {"player_id": ["player-000001"]}}"#;
    let mut answered = 0;
    while !runaway.is_finished() {
        let (st, r) = http_post(&server.http, "/get-online-features", "", body);
        assert_eq!(st, 200, "{r}");
        answered += 1;
        thread::sleep(Duration::from_millis(100));
    }
    let (out, took) = runaway.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the runaway query finished");
    assert!(
        err.contains("statement timeout") || err.contains("memory"),
        "{err}"
    );
    assert!(answered > 0);
    eprintln!("runaway query stopped after {took:?}: {err}");

    let python = python().expect("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    let out = Command::new(python)
        .arg(scripts_dir().join("bi_clients.py"))
        .args(["127.0.0.1", &server.pg_port.to_string()])
        .output()
        .unwrap();
    let v: Value = json_output(&out);
    let daily = env.count("SELECT count(*) FROM gold.agent_daily");
    assert_eq!(v["server_version"][0].as_u64(), Some(16), "{v}");
    for s in ["bronze", "gold", "silver"] {
        assert!(
            v["schemas"].as_array().unwrap().iter().any(|x| x == s),
            "{v}"
        );
    }
    assert!(
        v["gold_tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "agent_daily"),
        "{v}"
    );
    assert!(v["columns"].as_array().unwrap().len() > 3, "{v}");
    assert_eq!(v["read_sql_count"].as_u64(), Some(daily), "{v}");
    assert_eq!(v["read_sql_table_rows"].as_u64(), Some(daily), "{v}");
    assert_eq!(
        v["named_cursor_rows"].as_u64(),
        Some(env.count("SELECT count(*) FROM bronze.events")),
        "{v}"
    );
}
