//! `strata project check` on broken projects: each problem named with its file, line and
//! what to change, and every command refusing the project at start.

use std::path::Path;

use crate::harness::{Env, succeed};
use crate::projects::{copy_project, edit};

/// `strata project check` on broken copies of the built-in project: each is refused, and the
/// message names the file (and line where there is one) and what is wrong.
#[test]
fn project_check_names_the_file_line_and_fix_of_each_problem() {
    let builtin = crate::harness::manifest_dir().join("../project/builtin");
    type Break = fn(&Path);
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "unknown key",
            |d| {
                edit(
                    d,
                    "silver/missions.toml",
                    "events =",
                    "evnets = [\"x\"]\nevents =",
                )
            },
            "silver/missions.toml:2: unknown field `evnets`",
        ),
        (
            "unknown type",
            |d| {
                edit(
                    d,
                    "silver/missions.toml",
                    "difficulty = \"int\"",
                    "difficulty = \"integer\"",
                )
            },
            "silver/missions.toml:10: column difficulty: unknown type 'integer' (types: string, int, float, bool)",
        ),
        (
            "undeclared event",
            |d| {
                edit(
                    d,
                    "silver/missions.toml",
                    "\"mission.failed\"]",
                    "\"mission.aborted\"]",
                )
            },
            "silver/missions.toml:2: event type 'mission.aborted' is not declared in events/",
        ),
        (
            "a model reads a table nobody produces",
            |d| {
                edit(
                    d,
                    "gold/economy_daily.sql",
                    "FROM silver.economy_transactions",
                    "FROM silver.economy",
                )
            },
            "gold/economy_daily.sql:19: reads silver.economy, which no file of the project produces (declare silver/<table>.toml)",
        ),
        (
            "a cycle",
            |d| {
                edit(
                    d,
                    "gold/player_daily.sql",
                    "FROM silver.player_sessions",
                    "FROM gold.player_features",
                )
            },
            "depends on itself through its inputs (a cycle)",
        ),
        (
            "SQL that does not plan",
            |d| {
                edit(
                    d,
                    "gold/economy_daily.sql",
                    "count(*) AS transactions",
                    "count(*) AS transactions, sum(amount_usd) AS usd",
                )
            },
            "gold/economy_daily.sql: SQL does not plan:",
        ),
        (
            "a feature over a missing column",
            |d| {
                edit(
                    d,
                    "features/player_features.toml",
                    "\"sessions_7d\",",
                    "\"sessions_7d\", \"sessions_90d\",",
                )
            },
            "features/player_features.toml:8: feature 'sessions_90d' is not a column of gold.player_features",
        ),
        (
            "a bad TTL",
            |d| {
                edit(
                    d,
                    "features/agent_features.toml",
                    "ttl = \"2d\"",
                    "ttl = \"2 days\"",
                )
            },
            "features/agent_features.toml:5: ttl '2 days' is not a duration",
        ),
        (
            "a duplicate column",
            |d| {
                edit(
                    d,
                    "silver/agent_feedback.toml",
                    "comment = \"string\"",
                    "comment = \"string\"\nrating = \"float\"",
                )
            },
            "silver/agent_feedback.toml:11: duplicate key",
        ),
        (
            "an envelope column declared again",
            |d| {
                edit(
                    d,
                    "silver/agent_feedback.toml",
                    "comment = \"string\"",
                    "comment = \"string\"\nevent_id = \"string\"",
                )
            },
            "column 'event_id' is declared twice or is an envelope column",
        ),
        (
            "a missing output partition",
            |d| {
                edit(
                    d,
                    "gold/economy_daily.sql",
                    "SELECT event_date,",
                    "SELECT event_date AS day,",
                )
            },
            "gold/economy_daily.sql: the model's output needs an event_date column of type DATE",
        ),
        (
            "an expectation over a missing column",
            |d| {
                edit(
                    d,
                    "silver/economy_transactions.toml",
                    "column = \"amount\"",
                    "column = \"amount_cents\"",
                )
            },
            "expectation 'amount_positive' checks column 'amount_cents', which the table does not have",
        ),
        (
            "a stitch rule over a foreign event",
            |d| {
                edit(
                    d,
                    "silver/player_sessions.toml",
                    "event = \"player.session.ended\" }",
                    "event = \"mission.failed\" }",
                )
            },
            "stitch column 'ended_at' takes event 'mission.failed', which does not feed this table",
        ),
        (
            "a broken schema file",
            |d| {
                edit(
                    d,
                    "events/mission.failed.v1.json",
                    "\"title\"",
                    "\"title\" \"x\"",
                )
            },
            "events/mission.failed.v1.json:4: not JSON",
        ),
        (
            "a feature service over an unknown view",
            |d| {
                edit(
                    d,
                    "strata_project.toml",
                    "[\"player_features:*\"]",
                    "[\"players:*\"]",
                )
            },
            "strata_project.toml:9: feature service player_activity: no feature view 'players'",
        ),
        (
            "a references expectation to a table nobody produces",
            |d| {
                edit(
                    d,
                    "silver/agent_feedback.toml",
                    "table = \"silver.agent_invocations\"",
                    "table = \"silver.invocations\"",
                )
            },
            "references silver.invocations, which the project does not produce",
        ),
        (
            "a role granting a table nobody produces",
            |d| {
                edit(
                    d,
                    "access.toml",
                    "\"silver.*\", \"gold.*\"",
                    "\"silver.*\", \"gold.players\"",
                )
            },
            "access.toml:9: role analyst: 'gold.players' names no table",
        ),
        (
            "an unknown key in a role",
            |d| {
                edit(
                    d,
                    "access.toml",
                    "training_sets = true\npii",
                    "training_set = true\npii",
                )
            },
            "access.toml:22: unknown field `training_set`",
        ),
        (
            "a PII column the table does not have",
            |d| {
                edit(
                    d,
                    "silver/agent_feedback.toml",
                    "comment = \"redact\"",
                    "comments = \"redact\"",
                )
            },
            "silver/agent_feedback.toml:25: pii column 'comments' is not a column of the table",
        ),
    ];
    for (what, break_it, expected) in &cases {
        let dir = tempfile::tempdir().unwrap();
        copy_project(&builtin, dir.path());
        break_it(dir.path());
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["project", "check"])
            .arg(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(
            err.contains(expected),
            "{what}: expected '{expected}' in:\n{err}"
        );
        // Every other command refuses it at start too.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--project")
            .arg(dir.path())
            .args(["status", "--no-broker"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{what}: status started");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{what}"
        );
    }
    println!(
        "project check: {} broken projects refused with the expected message",
        cases.len()
    );
}

/// Ingest validates against the project's events and nothing else: a Gold model that does not
/// plan stops `run` at start (naming the file) but not ingest, whose events still land valid;
/// a broken event schema stops ingest at start, naming the file and line.
#[test]
fn ingest_is_refused_only_for_broken_events() {
    let env = Env::new(1);
    let builtin = crate::harness::manifest_dir().join("../project/builtin");
    let dir = tempfile::tempdir().unwrap();
    copy_project(&builtin, dir.path());
    edit(
        dir.path(),
        "gold/economy_daily.sql",
        "count(*) AS transactions",
        "count(*) AS transactions, sum(amount_usd) AS usd",
    );
    let with_project = |args: &[&str]| {
        let mut c = env.strata();
        c.arg("--project").arg(dir.path()).args(args);
        c
    };
    let sim = env.simulate(&["--count", "300", "--seed", "59", "--malformed", "0.05"]);
    succeed(with_project(&[
        "ingest",
        "--until-caught-up",
        "--batch-max-wait-ms",
        "300",
    ]));
    let (rows, _, valid) = env.bronze_counts();
    assert_eq!(rows, 300, "every record landed");
    assert_eq!(
        valid,
        sim["expected_valid"].as_u64().unwrap(),
        "validated against the project's events"
    );

    let out = with_project(&["run", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "run started on a broken model");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gold/economy_daily.sql: SQL does not plan:"),
        "{err}"
    );

    edit(
        dir.path(),
        "events/mission.failed.v1.json",
        "\"title\"",
        "\"title\" \"x\"",
    );
    let out = with_project(&["ingest", "--until-caught-up"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "ingest started on a broken event"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("events/mission.failed.v1.json:4: not JSON"),
        "{err}"
    );
    assert!(
        !err.contains("economy_daily"),
        "ingest reported a model it does not use: {err}"
    );
}
