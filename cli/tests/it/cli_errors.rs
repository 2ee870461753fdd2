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

/// The README's first command: the demo on embedded defaults, no broker, no setup. It
/// summarises, then keeps running: it serves features and SQL, and stops cleanly on SIGTERM.
#[test]
fn demo_runs_on_embedded_defaults_serves_and_stops_cleanly() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = strata()
        .current_dir(dir.path())
        .args([
            "demo",
            "--count",
            "800",
            "--rate",
            "100",
            "--http",
            "127.0.0.1:0",
            "--pg",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let (mut http, mut pg) = (None, None);
    for _ in 0..400 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("features: http://") {
            http = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.trim().strip_prefix("psql -h ") {
            let mut parts = rest.split_whitespace();
            let host = parts.next().unwrap().to_string();
            let port = parts.nth(1).unwrap().to_string();
            pg = Some((host, port));
            break;
        }
    }
    assert!(seen.contains("produced 800 events"), "{seen}");
    assert!(seen.contains("ingested 800 rows"), "{seen}");
    assert!(seen.contains("curl -s http://"), "{seen}");
    let http = http.unwrap_or_else(|| panic!("no features URL in:\n{seen}"));
    let (host, port) = pg.unwrap_or_else(|| panic!("no psql line in:\n{seen}"));

    let out = Command::new("psql")
        .args([
            "-h",
            &host,
            "-p",
            &port,
            "-w",
            "-At",
            "-c",
            "SELECT count(*) > 0 FROM gold.player_features",
        ])
        .output()
        .expect("psql is not installed: run the suite with scripts/test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t");

    let body = r#"{"features": ["player_features:sessions_7d"], "entities": {"player_id": ["player-000001"]}}"#;
    let mut s = std::net::TcpStream::connect(&http).unwrap();
    write!(s, "POST /get-online-features HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
        "{resp}"
    );
    assert!(resp.contains("feature_names"), "{resp}");

    std::thread::sleep(std::time::Duration::from_secs(2));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(exit.success(), "demo exited with {exit}: {rest}");
    assert!(rest.contains("stopped:"), "{rest}");
    assert!(dir.path().join("lake/bronze/events/_delta_log").is_dir());
}

#[test]
fn forget_refuses_what_names_no_entity() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    for (arg, says) in [
        ("event_id=e-1", "'event_id' is not an entity key"),
        ("player_id", "is not KEY=VALUE"),
    ] {
        let (ok, err) = stderr_of(strata().arg("--lake").arg(&lake).args(["forget", arg]));
        assert!(!ok, "{arg}");
        assert!(err.contains(says), "{arg}: {err}");
        assert!(err.contains("player_id") || arg == "player_id", "{err}");
    }
}

/// `strata-ingest` (what `strata ingest` runs) takes `strata`'s arguments for ingest and
/// refuses any other command with a usage error.
#[test]
fn the_ingest_binary_takes_only_ingest() {
    let slim = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strata-ingest"));
        c.env_remove("STRATA_CONFIG").env_remove("STRATA_BROKERS");
        c
    };
    let version = |c: &mut Command| {
        let out = c.arg("--version").output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(version(&mut slim()), version(&mut strata()));
    let help = slim().args(["ingest", "--help"]).output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--until-caught-up"));
    let out = slim().args(["sql", "SELECT 1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("'sql'") && err.contains("ingest"), "{err}");
    // A `strata` built from other sources (a stale binary beside it) is refused, never run.
    let out = slim()
        .env("STRATA_HANDOVER_SOURCE_ID", "0000000000000000")
        .args(["ingest", "--until-caught-up"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("built from other sources") && err.contains("--bin strata-ingest"),
        "{err}"
    );
}
