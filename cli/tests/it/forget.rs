use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;
use crate::refine::{assert_same, snapshot};
use crate::serve::{http_post, start};

/// Every file under the lake searched for `value` (raw bytes, and Parquet's decoded values,
/// statistics and metadata) by scripts/check_erasure.py.
fn scan(lake: &std::path::Path, value: &str) -> Value {
    let python = python().expect("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    let out = Command::new(python)
        .arg(scripts_dir().join("check_erasure.py"))
        .arg(lake)
        .arg(value)
        .output()
        .unwrap();
    json_output(&out)
}

/// The online status of `player` in the player_features view.
fn online_status(addr: &str, player: &str) -> String {
    let body = json!({"features": ["player_features:sessions_28d"],
                      "entities": {"player_id": [player]}});
    let (st, r) = http_post(addr, "/get-online-features", "t0ken", &body.to_string());
    assert_eq!(st, 200, "{r}");
    r["results"][1]["statuses"][0]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `strata forget player_id=X` on a lake built from the real broker, killed after its first
/// table and run again: no file under the lake holds X any more (referenced or not, data or
/// log), no table has a row for X, the online API (Redis-backed) answers NOT_FOUND, Gold
/// equals DuckDB's computation over the produced records without X, a replay equals the
/// tables, and the audit log has the erasure under the hash of `player_id=X`.
#[test]
fn forget_erases_a_player_everywhere_and_resumes_after_a_kill() {
    let Ok(redis) = std::env::var("STRATA_TEST_REDIS") else {
        panic!("STRATA_TEST_REDIS is not set: run the suite with scripts/test");
    };
    let env = Env::new(2);
    env.simulate(&[
        "--count",
        "3000",
        "--seed",
        "404",
        "--players",
        "40",
        "--agents",
        "8",
        "--duplicates",
        "0.05",
        "--late",
        "0.05",
        "--malformed",
        "0.02",
        "--partitions",
        "2",
    ]);
    env.ingest_until_caught_up(&[]);
    crate::refine::run(&env.lake(), &["run", "--once", "--no-ingest"]);
    let x = env.sql(
        "SELECT player_id FROM silver.economy_transactions GROUP BY player_id \
         ORDER BY count(*) DESC, player_id LIMIT 1",
    )[0]["player_id"]
        .as_str()
        .unwrap()
        .to_string();
    let bronze_rows = env.count("SELECT count(*) FROM bronze.events");
    let before = scan(&env.lake(), &x);
    assert!(
        before["hits"].as_array().unwrap().len() >= 5,
        "the scan must find {x} before the erasure: {before}"
    );
    // The produced records, for the independent Gold computation afterwards.
    let produced = env.dir.path().join("produced");
    copy_bronze(&env.lake(), &produced);

    let config = env.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\ntokens = [\"t0ken\"]\nredis_url = \"{redis}\"\nredis_namespace = \"{}\"\nrefresh_ms = 200\n",
            unique("forget")
        ),
    )
    .unwrap();
    let server = start(&env, &config);
    wait_until("the online store serves X", Duration::from_secs(60), || {
        (online_status(&server.http, &x) == "PRESENT").then_some(())
    });

    // Killed once its first table is erased.
    let forget = || {
        let mut c = env.strata();
        c.arg("--config")
            .arg(&config)
            .args(["forget", &format!("player_id={x}")]);
        c
    };
    let mut child = forget()
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let erased = line.contains(" erased ");
        seen.push(line);
        if erased {
            break;
        }
    }
    sigkill(&mut child);
    let plans = env.lake().join("_strata/erasures");
    assert!(
        std::fs::read_dir(&plans).is_ok_and(|mut d| d.next().is_some()),
        "the erasure must have been cut short with its plan kept: {seen:#?}"
    );

    let out = forget().output().unwrap();
    let report = json_output(&out);
    assert_eq!(report["erasure"]["complete"], true, "{report}");
    assert_eq!(report["erasure"]["resumed"], true, "{report}");
    assert!(
        std::fs::read_dir(&plans).unwrap().next().is_none(),
        "the plan is removed at the end"
    );

    let after = scan(&env.lake(), &x);
    assert_eq!(
        after["hits"],
        json!([]),
        "{x} is still in the lake: {after}"
    );
    assert!(after["parquet_files"].as_u64().unwrap() > 10, "{after}");

    for table in [
        "bronze.events",
        "silver.player_sessions",
        "silver.missions",
        "silver.economy_transactions",
        "silver.agent_invocations",
        "gold.player_daily",
        "gold.player_features",
    ] {
        let n = env.count(&format!(
            "SELECT count(*) FROM {table} WHERE player_id = '{x}'"
        ));
        assert_eq!(n, 0, "{table} still has rows for {x}");
    }
    let left = env.count("SELECT count(*) FROM bronze.events");
    assert!(
        left < bronze_rows && left > bronze_rows / 2,
        "{left} of {bronze_rows}"
    );

    wait_until("the online API forgets X", Duration::from_secs(60), || {
        (online_status(&server.http, &x) == "NOT_FOUND").then_some(())
    });

    let gold = check_gold_with(&env.lake(), &produced, Some(&x));
    for table in ["economy_daily", "agent_daily"] {
        assert!(gold[table]["rows"].as_u64().unwrap() > 0, "{gold}");
        assert_eq!(
            gold[table]["equal"], true,
            "{table} differs from DuckDB without {x}: {gold}"
        );
    }

    // The next runs read on from the erasure, and a replay rebuilds the same tables.
    crate::refine::run(&env.lake(), &["run", "--once", "--no-ingest"]);
    let tables = snapshot(&env.lake());
    let copy = tempfile::tempdir().unwrap();
    copy_bronze(&env.lake(), copy.path());
    crate::refine::run(copy.path(), &["replay", "--yes"]);
    assert_same(&tables, &snapshot(copy.path()));

    let hash = strata_pipelines::audit::sha256_hex(&format!("player_id={x}"));
    let audit = env.sql(&format!(
        "SELECT action, objects, rows, outcome, detail FROM _strata.audit \
         WHERE endpoint = 'forget' AND query_hash = '{hash}'"
    ));
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["action"], "admin");
    assert!(
        audit[0]["objects"]
            .as_str()
            .unwrap()
            .contains("bronze.events"),
        "{audit:?}"
    );
    assert!(!audit[0]["detail"].as_str().unwrap().contains(&x));
}
