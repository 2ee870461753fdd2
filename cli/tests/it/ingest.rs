use std::process::Command;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::harness::*;

/// N records in, N rows out: one per (topic, partition, offset), with the simulator's split.
#[test]
fn every_record_lands_once_with_the_right_valid_split() {
    let env = Env::new(2);
    let sim = env.simulate(&[
        "--count",
        "3000",
        "--seed",
        "7",
        "--malformed",
        "0.07",
        "--duplicates",
        "0.03",
        "--late",
        "0.03",
        "--oversize-bytes",
        "5000",
        "--partitions",
        "4",
    ]);
    let produced = sim["produced"].as_u64().unwrap();
    let expected_valid = sim["expected_valid"].as_u64().unwrap();
    assert_eq!(produced, 3000);
    assert!(sim["expected_invalid"].as_u64().unwrap() > 100);

    let summary = env.ingest_until_caught_up(&["--max-value-bytes", "4096"]);
    assert_eq!(summary["rows_written"].as_u64().unwrap(), produced);

    let (rows, distinct, valid) = env.bronze_counts();
    assert_eq!(rows, produced);
    assert_eq!(distinct, produced);
    assert_eq!(valid, expected_valid);

    // Both topics landed in the one table.
    let topics = env.count("SELECT count(DISTINCT topic) FROM bronze.events");
    assert_eq!(topics, 2);

    // Every kind of bad input is kept with its reason, raw bytes included (except tombstones).
    let reasons: Vec<String> = env
        .sql("SELECT DISTINCT error_kind FROM bronze.quarantine ORDER BY 1")
        .iter()
        .map(|r| r["error_kind"].as_str().unwrap().to_string())
        .collect();
    for kind in [
        "invalid_utf8",
        "malformed_json",
        "missing_event_id",
        "oversize",
        "schema_violation",
        "tombstone",
        "unknown_event_type",
    ] {
        assert!(
            reasons.iter().any(|r| r == kind),
            "{kind} missing from {reasons:?}"
        );
    }
    assert_eq!(
        env.count("SELECT count(*) FROM bronze.quarantine WHERE value IS NULL AND error_kind <> 'tombstone'"),
        0
    );
    assert_eq!(
        env.count(
            "SELECT count(*) FROM bronze.events WHERE NOT valid AND (error IS NULL OR error = '')"
        ),
        0
    );

    // Running again finds nothing new: no duplicates from a second pass.
    let again = env.ingest_until_caught_up(&[]);
    assert_eq!(again["rows_written"].as_u64().unwrap(), 0);
    assert_eq!(env.bronze_counts().0, produced);

    // The quarantine command lists the reasons.
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(env.lake())
        .arg("quarantine")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("schema_violation") && text.contains("tombstone"),
        "{text}"
    );
}

/// SIGKILL at random moments while ingesting (a backlog plus a live producer); after
/// restarts every record is there exactly once.
#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    // A broker of its own: group coordination on the suite's shared broker, busy with every
    // other test's producers, answers heartbeats later than the 6 s session timeout.
    let broker = OwnBroker::start();
    let env = Env::with_brokers(1, broker.addr.clone());
    let backlog = env.simulate(&[
        "--count",
        "20000",
        "--seed",
        "11",
        "--malformed",
        "0.01",
        "--partitions",
        "4",
    ]);
    let producer = env
        .strata()
        .args([
            "simulate", "--quiet", "--count", "60000", "--rate", "1500", "--seed", "12",
        ])
        .args(["--malformed", "0.01"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut rng = rand::rng();
    let mut kills = 0;
    let mut seen = Vec::new();
    for _ in 0..6 {
        // Version 0 is the table's creation; data commits come after it.
        let before = env.bronze_version().max(Some(0));
        let mut child = env.spawn_ingest(&["--batch-max-records", "1000"]);
        // Kill once this member has committed (a new Bronze data version), then a little
        // later at random, so kills land mid-ingest however slow the machine is. A member
        // that joined while the broker still counted a dead leader may get no partitions
        // until the next rebalance: after 90 s without a commit it is killed regardless.
        let t0 = Instant::now();
        while env.bronze_version() <= before && t0.elapsed() < Duration::from_secs(90) {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..1500)));
        sigkill(&mut child);
        kills += 1;
        let (rows, distinct, _) = env.bronze_counts();
        assert_eq!(rows, distinct, "duplicates after SIGKILL {kills}");
        seen.push(rows);
    }
    let live = json_output(&producer.wait_with_output().unwrap());
    let produced = backlog["produced"].as_u64().unwrap() + live["produced"].as_u64().unwrap();
    let expected_valid =
        backlog["expected_valid"].as_u64().unwrap() + live["expected_valid"].as_u64().unwrap();
    eprintln!("rows in Bronze after each of {kills} SIGKILLs: {seen:?} (of {produced})");
    assert!(
        seen.iter().any(|&r| r > 0 && r < produced),
        "no kill landed mid-ingest"
    );
    env.ingest_until_rows(produced, Duration::from_secs(300));
    let (rows, distinct, valid) = env.bronze_counts();
    assert_eq!(rows, produced);
    assert_eq!(distinct, produced);
    assert_eq!(valid, expected_valid);
}

/// Two processes in one group over a 4-partition topic; one is SIGKILLed midway with a batch
/// in flight and a replacement joins (as a supervisor restarts it). Partitions move at every
/// rebalance; every record lands exactly once.
#[test]
fn rebalance_after_a_member_dies_keeps_exactly_once() {
    // A broker of its own, as for the SIGKILL test: the group's timing is what is tested.
    let broker = OwnBroker::start();
    let env = Env::with_brokers(1, broker.addr.clone());
    // The topic exists before consumers join.
    env.simulate(&["--count", "1", "--seed", "1", "--partitions", "4"]);
    let args = ["--batch-max-records", "1500"];
    let a_metrics = free_port();
    let mut a = env
        .strata()
        .args(["ingest", "--batch-max-wait-ms", "200"])
        .args(args)
        .args(["--metrics-addr", &format!("127.0.0.1:{a_metrics}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let spawn_piped = || {
        env.strata()
            .args(["ingest", "--batch-max-wait-ms", "200"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let b = spawn_piped();
    // Produce for 20 s while both run, kill one midway; the replacement joins while records
    // are still arriving, so every live member has work.
    let producer = {
        let mut c = env.strata();
        c.args([
            "simulate", "--quiet", "--count", "30000", "--rate", "1500", "--seed", "2",
        ]);
        c.stdout(std::process::Stdio::piped()).spawn().unwrap()
    };
    // Kill `a` once it has committed rows of its own, while records are still arriving.
    wait_until(
        "the first member to commit rows",
        Duration::from_secs(180),
        || metric(a_metrics, "strata_ingest_rows_valid_total").filter(|&n| n > 0.0),
    );
    // `strata ingest` hands over to the slim `strata-ingest` built beside it (same process).
    #[cfg(target_os = "linux")]
    {
        let exe = std::fs::read_link(format!("/proc/{}/exe", a.id())).unwrap();
        assert!(exe.ends_with("strata-ingest"), "ingest runs as {exe:?}");
    }
    sigkill(&mut a);
    let (rows_at_kill, _, _) = env.bronze_counts();
    // The replacement joins once the broker has expired the dead member (session timeout
    // 6 s): tansu 0.6 hands survivors their previous assignment when it expires a member,
    // so the dead member's partitions move at the next join (see docs/design.md). On a busy
    // machine the broker may expire it later than that; a replacement that joined too early
    // holds only some partitions, and one that stops making progress is restarted, as a
    // supervisor would.
    std::thread::sleep(Duration::from_secs(9));
    let mut members = vec![b, spawn_piped()];
    let sim = json_output(&producer.wait_with_output().unwrap());
    let expected = sim["produced"].as_u64().unwrap() + 1;
    assert!(
        rows_at_kill < expected,
        "the kill came after everything was written"
    );
    let leave = |member: std::process::Child| -> u64 {
        sigterm(&member);
        let out = member.wait_with_output().unwrap();
        assert!(out.status.success(), "member exited with {}", out.status);
        json_output(&out)["rows_written"].as_u64().unwrap()
    };
    let (mut written, mut restarts) = (0, 0);
    let (mut last, mut last_change, t0) = (0, Instant::now(), Instant::now());
    let (rows, distinct) = loop {
        let (rows, distinct, _) = env.bronze_counts();
        if rows >= expected || t0.elapsed() > Duration::from_secs(400) {
            break (rows, distinct);
        }
        if rows != last {
            (last, last_change) = (rows, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(60) && restarts < 3 {
            if let Some(stalled) = members.pop() {
                written += leave(stalled);
            }
            members.push(spawn_piped());
            (restarts, last_change) = (restarts + 1, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("rebalance: {rows} of {expected} rows, {restarts} restart(s) after a stall");
    // Which survivor writes what depends on the broker's assignments; together they
    // finished the work, and all leave cleanly.
    for member in members {
        written += leave(member);
    }
    assert!(written > 0, "the survivors wrote nothing");
    assert_eq!(distinct, expected, "records missing after rebalance");
    assert_eq!(rows, expected, "duplicates after rebalance");
    assert_eq!(env.bronze_counts(), (expected, expected, expected));
}

/// Our Bronze table read by tools nobody here wrote: Python deltalake and polars.
#[test]
fn python_deltalake_and_polars_read_bronze() {
    let Some(python) = python() else {
        panic!(
            "STRATA_TEST_PYTHON is not set: run the suite with scripts/test (it creates the venv)"
        );
    };
    let env = Env::new(1);
    let sim = env.simulate(&[
        "--count",
        "1500",
        "--seed",
        "5",
        "--malformed",
        "0.05",
        "--partitions",
        "2",
    ]);
    env.ingest_until_caught_up(&[]);
    let last_offsets = env.sql(
        "SELECT topic, \"partition\", max(\"offset\") AS last FROM bronze.events GROUP BY 1, 2",
    );
    assert_eq!(last_offsets.len(), 2);
    let app_ids: Vec<String> = last_offsets
        .iter()
        .map(|r| {
            format!(
                "{}-{}-{}",
                env.group,
                r["topic"].as_str().unwrap(),
                r["partition"]
            )
        })
        .collect();
    let out = Command::new(python)
        .arg(scripts_dir().join("read_bronze.py"))
        .arg(env.lake().join("bronze/events"))
        .args(&app_ids)
        .output()
        .unwrap();
    let v = json_output(&out);
    let produced = sim["produced"].as_u64().unwrap();
    assert_eq!(v["deltalake_rows"].as_u64().unwrap(), produced);
    assert_eq!(v["polars_rows"].as_u64().unwrap(), produced);
    assert_eq!(
        v["polars_valid"].as_u64().unwrap(),
        sim["expected_valid"].as_u64().unwrap()
    );
    for (app_id, row) in app_ids.iter().zip(&last_offsets) {
        assert_eq!(v["txn"][app_id], row["last"], "stored offset of {app_id}");
    }
}

/// SIGTERM flushes the batch in memory and exits 0.
#[test]
fn sigterm_flushes_and_exits_cleanly() {
    let env = Env::new(1);
    let sim = env.simulate(&["--count", "2000", "--seed", "3", "--partitions", "2"]);
    // A long max wait: only the shutdown flush can commit these records.
    let port = free_port();
    let child = env
        .strata()
        .args(["ingest", "--batch-max-wait-ms", "600000"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the member to receive all 2000 records",
        Duration::from_secs(180),
        || metric(port, "strata_ingest_records_consumed_total").filter(|&n| n >= 2000.0),
    );
    assert_eq!(env.bronze_counts().0, 0, "committed before the shutdown");
    // Ready: its loop turns and no commit has failed.
    let ready = http_get(port, "/readyz");
    assert!(
        ready.lines().next().is_some_and(|l| l.contains(" 200"))
            && ready.contains(r#""status":"ready""#),
        "{ready}"
    );
    let t0 = Instant::now();
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(t0.elapsed() < Duration::from_secs(60));
    let summary = json_output(&out);
    assert_eq!(summary["rows_written"], sim["produced"]);
    assert_eq!(env.bronze_counts().0, 2000);
}

/// The broker stalls (SIGSTOP, longer than the group session) while `--until-caught-up`
/// runs: the process must not report success before every record is in Bronze.
#[test]
fn until_caught_up_survives_a_stalled_broker() {
    let broker = OwnBroker::start();
    let env = Env::with_brokers(1, broker.addr.clone());
    let sim = env.simulate(&["--count", "20000", "--seed", "91", "--partitions", "4"]);
    let produced = sim["produced"].as_u64().unwrap();
    let child = env
        .strata()
        .args(["ingest", "--until-caught-up", "--batch-max-records", "2000"])
        .args(["--batch-max-wait-ms", "200"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the first Bronze commit", Duration::from_secs(180), || {
        (env.bronze_version() > Some(0)).then_some(())
    });
    broker.signal("-STOP");
    // The stall must outlast the session timeout (6 s): that is what revoked partitions.
    std::thread::sleep(Duration::from_secs(15));
    broker.signal("-CONT");
    let out = child.wait_with_output().unwrap();
    let rows = env.bronze_counts();
    eprintln!(
        "ingest exited {} with Bronze {rows:?} of {produced}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "ingest failed after the broker came back"
    );
    assert_eq!(rows.0, produced, "exit 0 before every record was in Bronze");
    assert_eq!(rows.1, produced, "duplicates");
}

/// A renamed consumer group on a lake Bronze already holds: refused with the choices, and
/// with `--start-from bronze` it goes on after what Bronze holds, with no duplicate.
#[test]
fn a_renamed_group_is_refused_or_starts_after_bronze() {
    let env = Env::new(1);
    let first = env.simulate(&["--count", "3000", "--seed", "93", "--partitions", "2"]);
    env.ingest_until_caught_up(&[]);
    let renamed = unique("renamed");
    let out = env
        .strata_at(&env.lake(), &renamed)
        .args(["ingest", "--until-caught-up"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a renamed group started silently");
    assert!(
        err.contains("--start-from bronze") && err.contains(&renamed),
        "{err}"
    );
    assert_eq!(env.bronze_counts().0, 3000);

    let second = env.simulate(&["--count", "500", "--seed", "94"]);
    let out = env
        .strata_at(&env.lake(), &renamed)
        .args(["ingest", "--until-caught-up", "--start-from", "bronze"])
        .output()
        .unwrap();
    let summary = json_output(&out);
    let produced = first["produced"].as_u64().unwrap() + second["produced"].as_u64().unwrap();
    assert_eq!(summary["rows_written"].as_u64(), Some(500), "{summary}");
    assert_eq!(env.bronze_counts().0, produced);
    assert_eq!(
        env.bronze_counts().1,
        produced,
        "duplicates after the rename"
    );
}
