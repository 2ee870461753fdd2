use std::process::Command;
use std::time::Duration;

use rand::Rng;

use crate::harness::*;

const TABLES: [&str; 10] = [
    "silver.agent_invocations",
    "silver.agent_feedback",
    "silver.player_sessions",
    "silver.missions",
    "silver.economy_transactions",
    "gold.agent_daily",
    "gold.player_daily",
    "gold.economy_daily",
    "gold.player_features",
    "gold.agent_features",
];

pub fn run(lake: &std::path::Path, args: &[&str]) {
    succeed(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--lake")
            .arg(lake)
            .args(args)
            .env("RUST_LOG", "warn"),
    );
}

/// Every row of every table above Bronze, sorted, as JSON lines.
pub fn snapshot(lake: &std::path::Path) -> Vec<(String, Vec<String>)> {
    snapshot_with(&|| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
        c.arg("--lake").arg(lake);
        c
    })
}

/// `snapshot` through any `strata` invocation (another lake, a config file, credentials).
pub fn snapshot_with(strata: &dyn Fn() -> Command) -> Vec<(String, Vec<String>)> {
    TABLES
        .iter()
        .map(|t| {
            let out =
                succeed(strata().args(["sql", "--format", "json", &format!("SELECT * FROM {t}")]));
            let mut rows: Vec<String> = out
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect();
            rows.sort();
            (t.to_string(), rows)
        })
        .collect()
}

pub fn assert_same(a: &[(String, Vec<String>)], b: &[(String, Vec<String>)]) {
    for ((t, ra), (_, rb)) in a.iter().zip(b) {
        assert!(!ra.is_empty(), "{t} is empty");
        assert_eq!(ra.len(), rb.len(), "{t}: row counts differ");
        assert!(ra == rb, "{t}: rows differ");
    }
}

/// Commits in a table's Delta log.
fn commits(lake: &std::path::Path, table: &str) -> usize {
    std::fs::read_dir(lake.join(table).join("_delta_log"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".json")
        })
        .count()
}

/// Many small ingest + `run --once` rounds equal one ingest + `replay` in a fresh lake; then
/// DuckDB recomputes Gold from the raw events and agrees.
#[test]
fn incremental_runs_equal_a_replay_and_duckdb_agrees() {
    let env = Env::new(2);
    for (round, seed) in (0..4).zip(100..) {
        env.simulate(&[
            "--count",
            "1500",
            "--seed",
            &seed.to_string(),
            "--players",
            "200",
            "--agents",
            "20",
            "--duplicates",
            "0.05",
            "--late",
            "0.05",
            "--malformed",
            "0.02",
            "--partitions",
            "3",
        ]);
        env.ingest_until_caught_up(&[]);
        run(&env.lake(), &["run", "--once", "--no-ingest"]);
        // Running again changes nothing.
        if round == 1 {
            let before = snapshot(&env.lake());
            run(&env.lake(), &["run", "--once", "--no-ingest"]);
            assert_same(&before, &snapshot(&env.lake()));
        }
    }
    let incremental = snapshot(&env.lake());

    // Time travel: version 1 of Bronze is the first round's first commit, a strict subset.
    let at_v1 = env.count("SELECT count(*) FROM bronze.events@v1");
    let now = env.count("SELECT count(*) FROM bronze.events");
    assert!(
        at_v1 > 0 && at_v1 < now,
        "bronze.events@v1 has {at_v1} rows, now {now}"
    );

    // The same Kafka records into a fresh lake, rebuilt from scratch.
    let fresh = tempfile::tempdir().unwrap();
    succeed(env.strata_at(fresh.path(), &unique("replay")).args([
        "ingest",
        "--until-caught-up",
        "--batch-max-wait-ms",
        "300",
        "--batch-max-records",
        "700",
    ]));
    run(fresh.path(), &["replay", "--yes"]);
    assert_same(&incremental, &snapshot(fresh.path()));
    assert_eq!(
        commits(fresh.path(), "silver/missions"),
        2,
        "one chunk by default"
    );

    // Replayed again under a small memory pool (8 MiB; 2 MiB is too small to hold one sort
    // batch and fails with "resources exhausted") in chunks of ~100 of each table's own
    // events: the tables are the same, each written in several commits.
    let small = env.dir.path().join("small-memory.toml");
    std::fs::write(&small, "[run]\nmemory_limit_mb = 8\nchunk_rows = 100\n").unwrap();
    run(
        fresh.path(),
        &["--config", small.to_str().unwrap(), "replay", "--yes"],
    );
    assert_same(&incremental, &snapshot(fresh.path()));
    // Silver: the table's creation and a commit per ~100 of the table's events (~1,000
    // missions and ~500 session events of 6,000), as far as Bronze's files allow; Gold: a
    // commit per day (the simulated events span 3 days, each above the bound).
    for (table, at_least) in [
        ("silver/missions", 4),
        ("silver/player_sessions", 4),
        ("gold/player_daily", 2),
    ] {
        let n = commits(fresh.path(), table);
        assert!(
            n >= at_least,
            "{table}: {n} commits, expected one per chunk"
        );
    }

    let v = check_gold(&env.lake());
    for table in ["economy_daily", "agent_daily"] {
        assert!(v[table]["rows"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(v[table]["equal"], true, "{table} differs from DuckDB: {v}");
    }
}

/// `strata run` SIGKILLed at random moments (mid-write, mid-commit) resumes to exactly what a
/// replay of the same Bronze gives.
#[test]
fn a_killed_run_resumes_to_the_replay_result() {
    let env = Env::new(1);
    env.simulate(&[
        "--count",
        "4000",
        "--seed",
        "77",
        "--duplicates",
        "0.05",
        "--late",
        "0.1",
        "--partitions",
        "2",
    ]);
    env.ingest_until_caught_up(&[]);
    let mut rng = rand::rng();
    for round in 0..4 {
        if round == 2 {
            env.simulate(&["--count", "2000", "--seed", "78", "--late", "0.1"]);
            env.ingest_until_caught_up(&[]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--lake")
            .arg(env.lake())
            .args(["run", "--no-ingest", "--interval-ms", "50"])
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        sigkill(&mut child);
    }
    run(&env.lake(), &["run", "--once", "--no-ingest"]);
    let resumed = snapshot(&env.lake());

    let copy = tempfile::tempdir().unwrap();
    copy_bronze(&env.lake(), copy.path());
    run(copy.path(), &["replay", "--yes"]);
    assert_same(&resumed, &snapshot(copy.path()));
}
