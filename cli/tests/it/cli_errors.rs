use std::process::Command;
use std::time::{Duration, Instant};

fn strata() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.env_remove("STRATA_CONFIG")
        .env_remove("STRATA_BROKERS")
        .env("RUST_LOG", "warn");
    c
}

fn stderr_of(c: &mut Command) -> (bool, String) {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "panic: {err}");
    (out.status.success(), err)
}

#[test]
fn unknown_config_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.toml");
    std::fs::write(
        &path,
        "[kafka]\nbrokers = \"127.0.0.1:1\"\ntopicz = [\"a\"]\n",
    )
    .unwrap();
    let (ok, err) = stderr_of(
        strata()
            .arg("--config")
            .arg(&path)
            .args(["sql", "SELECT 1"]),
    );
    assert!(!ok);
    assert!(err.contains("topicz"), "{err}");
    assert!(err.contains("strata.toml"), "{err}");
}

#[test]
fn bad_config_values_are_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strata.toml");
    std::fs::write(&path, "[ingest.batch]\nmax_records = 0\n").unwrap();
    let (ok, err) = stderr_of(
        strata()
            .arg("--config")
            .arg(&path)
            .arg("--lake")
            .arg(dir.path().join("lake"))
            .args(["ingest", "--until-caught-up"]),
    );
    assert!(!ok);
    assert!(err.contains("ingest.batch.max_records"), "{err}");
}

#[test]
fn unreachable_broker_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let (ok, err) = stderr_of(
        strata()
            .args(["--brokers", "127.0.0.1:1", "--topic", "nope"])
            .arg("--lake")
            .arg(dir.path().join("lake"))
            .args(["ingest", "--until-caught-up"]),
    );
    assert!(!ok);
    assert!(
        err.contains("cannot reach Kafka brokers at 127.0.0.1:1"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));
}

#[test]
fn missing_lake_is_a_clear_error() {
    let (ok, err) = stderr_of(strata().args([
        "--lake",
        "/nonexistent/strata-test-lake",
        "sql",
        "SELECT count(*) FROM bronze.events",
    ]));
    assert!(!ok);
    assert!(
        err.contains("/nonexistent/strata-test-lake") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn missing_topic_is_a_clear_error() {
    let brokers = crate::harness::brokers();
    let dir = tempfile::tempdir().unwrap();
    let topic = crate::harness::unique("absent");
    let (ok, err) = stderr_of(
        strata()
            .args(["--brokers", &brokers, "--topic", &topic])
            .arg("--lake")
            .arg(dir.path().join("lake"))
            .args(["ingest", "--until-caught-up"]),
    );
    assert!(!ok);
    assert!(
        err.contains(&topic) && err.contains("does not exist"),
        "{err}"
    );
}

/// The README's first command: the demo on embedded defaults, no broker, no setup.
#[test]
fn demo_runs_on_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata()
        .current_dir(dir.path())
        .args(["demo", "--count", "800"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("produced 800 events"), "{stdout}");
    assert!(stdout.contains("ingested 800 rows"), "{stdout}");
    assert!(dir.path().join("lake/bronze/events/_delta_log").is_dir());
}
