use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::refine::{assert_same, run, snapshot};

/// `strata run` (ingest + every job) while `strata simulate` produces: killed with SIGKILL
/// mid-stream and restarted, it catches up within a bounded time after the producer stops,
/// and its tables equal a replay of Bronze.
#[test]
fn continuous_run_keeps_gold_fresh_through_a_sigkill() {
    // A broker of its own, as for the ingest crash tests (docs/design.md, "Test broker").
    let broker = OwnBroker::start();
    let env = Env::with_brokers(2, broker.addr.clone());
    let config = env.dir.path().join("strata.toml");
    std::fs::write(
        &config,
        "[ingest.batch]\nmax_wait_ms = 200\n[run]\ninterval_ms = 200\n\
         [serve]\ntokens = [\"run-token-0123456789\"]\n",
    )
    .unwrap();
    // The topics exist (with one record) before `strata run` subscribes.
    let seeded = env.simulate(&["--count", "1", "--seed", "30", "--partitions", "2"]);
    let producer = env
        .strata()
        .args([
            "simulate",
            "--quiet",
            "--count",
            "24000",
            "--rate",
            "2000",
            "--seed",
            "31",
            "--duplicates",
            "0.03",
            "--late",
            "0.05",
            "--malformed",
            "0.01",
            "--partitions",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Each `strata run` logs to its own file, shown when the test fails.
    let spawn_run = |port: u16, name: &str| -> Child {
        let log = std::fs::File::create(env.dir.path().join(name)).unwrap();
        env.strata()
            .arg("--config")
            .arg(&config)
            .args(["run", "--metrics-addr", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let logs = |names: &[&str]| -> String {
        names
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(env.dir.path().join(n)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(25).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {n} (last 25 lines) ---\n{}", tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut first = spawn_run(free_port(), "run-1.log");
    // Kill it mid-stream: once it has written something, while the producer still runs.
    let t0 = Instant::now();
    while env.bronze_counts().0 <= 1 && t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let rows_at_kill = env.bronze_counts().0;
    sigkill(&mut first);
    assert!(
        rows_at_kill > 1,
        "the first run wrote nothing in 300 s\n{}",
        logs(&["run-1.log"])
    );
    // The broker must expire the dead member (session timeout 6 s) before a new one can own
    // all its partitions; a replacement that joined too early (a busy broker expires late)
    // holds only some of them, so one that stops making progress is restarted, as a
    // supervisor would (docs/design.md, "Test broker").
    std::thread::sleep(Duration::from_secs(7));
    let port = free_port();
    let mut second = spawn_run(port, "run-2.log");

    let produced = json_output(&producer.wait_with_output().unwrap());
    let n = produced["produced"].as_u64().unwrap() + seeded["produced"].as_u64().unwrap();
    let stopped = Instant::now();
    let mut fresh_after = None;
    let (mut last, mut last_change, mut restarts) = (0, Instant::now(), 0);
    while stopped.elapsed() < Duration::from_secs(400) {
        let rows = env.bronze_counts().0;
        if rows == n && caught_up(&status(&env)) {
            fresh_after = Some(stopped.elapsed());
            break;
        }
        if rows != last {
            (last, last_change) = (rows, Instant::now());
        } else if rows < n && last_change.elapsed() > Duration::from_secs(60) && restarts < 3 {
            sigterm(&second);
            second.wait().unwrap();
            restarts += 1;
            second = spawn_run(port, &format!("run-2.{restarts}.log"));
            last_change = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let fresh_after = fresh_after.unwrap_or_else(|| {
        panic!(
            "not caught up 400 s after the producer stopped: bronze {:?} of {n}, status {}\n{}",
            env.bronze_counts(),
            status(&env),
            logs(&["run-1.log", "run-2.log"])
        )
    });
    eprintln!(
        "caught up {fresh_after:?} after the producer stopped (rows at kill: {rows_at_kill}, \
         restarts after a stall: {restarts})"
    );
    let (rows, distinct, _) = env.bronze_counts();
    assert_eq!((rows, distinct), (n, n), "exactly once in Bronze");

    let api = http_get(port, "/api/runs");
    assert!(
        api.lines().next().unwrap_or("").contains(" 401 "),
        "/api/runs without a token: {api}"
    );
    let api = http_get_with_token(port, "/api/runs", "run-token-0123456789");
    assert!(
        api.lines().next().unwrap_or("").contains(" 200 "),
        "/api/runs with the token: {api}"
    );
    let needles = [
        "strata_ingest_records_consumed_total",
        "strata_job_runs_total{job=\"gold.agent_daily\",status=\"succeeded\"}",
        "strata_table_freshness_seconds{table=\"gold.player_features\"}",
        "strata_job_duration_milliseconds_count{job=\"silver.missions\"}",
        // Set on the member's first lag refresh after its assignment (every 5 s).
        "strata_ingest_consumer_lag{partition=",
    ];
    let metrics = wait_until("every metric on /metrics", Duration::from_secs(120), || {
        let m = http_get(port, "/metrics");
        needles.iter().all(|n| m.contains(n)).then_some(m)
    });
    assert!(metrics.contains("# TYPE strata_job_duration_milliseconds histogram"));
    assert!(http_get(port, "/healthz").ends_with("ok\n"));
    // Ready once a scheduler pass has finished (several have by now).
    let ready = http_get(port, "/readyz");
    assert!(
        ready.lines().next().is_some_and(|l| l.contains(" 200"))
            && ready.contains(r#""status":"ready""#),
        "{ready}"
    );
    assert!(http_get(port, "/dashboard").contains("<title>Strata</title>"));
    assert!(
        http_get_with_token(port, "/api/runs", "run-token-0123456789").contains("gold.agent_daily")
    );
    sigterm(&second);
    let exit = second.wait().unwrap();
    assert!(exit.success(), "strata run exited with {exit}");

    let live = snapshot(&env.lake());
    let copy = tempfile::tempdir().unwrap();
    copy_bronze(&env.lake(), copy.path());
    run(copy.path(), &["replay", "--yes"]);
    assert_same(&live, &snapshot(copy.path()));
    // The replay is an administrative action on record.
    let audit = succeed(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--lake")
            .arg(copy.path())
            .args([
                "sql",
                "--format",
                "json",
                "SELECT endpoint, action, outcome FROM _strata.audit",
            ]),
    );
    assert!(
        audit.contains(r#""endpoint":"replay""#) && audit.contains(r#""action":"admin""#),
        "{audit}"
    );
    // Without --yes, replay only says what it would delete.
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(env.lake())
        .arg("replay")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "replay ran without --yes");
    assert!(
        err.contains("gold.agent_daily") && err.contains("--yes"),
        "{err}"
    );
    assert_same(&live, &snapshot(&env.lake()));
}

#[test]
fn status_lineage_and_a_backfill_from_the_command_line() {
    let env = Env::new(1);
    env.simulate(&["--count", "3000", "--seed", "8", "--late", "0.2"]);
    let out = env.strata().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("gold.agent_features"), "{text}");
    let s = status(&env);
    assert!(caught_up(&s), "{s}");
    // On valid data every `references` expectation passes: the referenced table's job runs
    // first in the same pass.
    let refs = env.sql(
        "SELECT expectation, sum(rows_checked) AS checked, sum(rows_failed) AS failed \
         FROM _strata.quality_results WHERE kind = 'references' GROUP BY 1",
    );
    assert!(!refs.is_empty(), "no references expectation ran");
    for r in &refs {
        assert!(r["checked"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["failed"].as_u64(), Some(0), "{r}");
    }

    // Ingest lag comes from the broker: zero once run --once has caught up.
    let out = env.strata().args(["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("lag 0"), "{text}");
    assert!(text.contains("succeeded at"), "{text}");

    let out = env
        .strata()
        .args(["lineage", "--format", "dot"])
        .output()
        .unwrap();
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        dot.contains("\"silver.missions\" -> \"gold.player_daily\";"),
        "{dot}"
    );

    // A backfill of every day present changes nothing (the jobs are deterministic).
    let before = snapshot(&env.lake());
    let days = env.sql("SELECT CAST(min(event_date) AS VARCHAR) AS a, CAST(max(event_date) AS VARCHAR) AS b FROM silver.missions");
    let (from, to) = (
        days[0]["a"].as_str().unwrap(),
        days[0]["b"].as_str().unwrap(),
    );
    run(
        &env.lake(),
        &["backfill", "silver.missions", "--from", from, "--to", to],
    );
    assert_same(&before, &snapshot(&env.lake()));
    assert_eq!(
        env.count(
            "SELECT count(*) FROM _strata.audit WHERE endpoint = 'backfill' \
             AND action = 'admin' AND objects LIKE '%silver.missions%'"
        ),
        1
    );
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(env.lake())
        .args(["backfill", "silver.nope", "--from", from, "--to", to])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no job named 'silver.nope'"), "{err}");
}
