use std::path::PathBuf;
use std::process::Command;

use crate::harness::*;

fn examples() -> PathBuf {
    crate::harness::manifest_dir().join("../examples")
}

fn files(dir: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(examples().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no examples/{dir}/*.{ext}");
    v
}

/// Every example runs: the SQL files through `strata sql`, the configs through validation
/// (the expectations one through a real run), the Python clients against `strata serve`.
#[test]
fn every_example_runs() {
    let env = Env::new(1);
    env.simulate(&[
        "--count",
        "3000",
        "--seed",
        "12",
        "--malformed",
        "0.02",
        "--players",
        "40",
    ]);
    let expectations = examples().join("config/expectations.toml");
    succeed(
        env.strata()
            .arg("--config")
            .arg(&expectations)
            .args(["run", "--once"]),
    );
    for sql in files("sql", "sql") {
        let query = std::fs::read_to_string(&sql).unwrap();
        let rows = env.sql(&query);
        assert!(!rows.is_empty(), "{} returned nothing", sql.display());
    }
    for config in files("config", "toml") {
        // `lineage` needs no lake or broker: it only loads and validates the configuration.
        let out = Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--config")
            .arg(&config)
            .arg("lineage")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let results = env
        .count("SELECT count(*) FROM _strata.quality_results WHERE expectation = 'short_missions'");
    assert!(results > 0, "the example expectations did not run");

    let mut serve = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(env.lake())
        .args(["serve", "--http", "127.0.0.1:0", "--pg", ""])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut url = String::new();
    for line in std::io::BufReader::new(serve.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("features: ") {
            url = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    let python = python().expect("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    let out = Command::new(&python)
        .arg(examples().join("python/training_set.py"))
        .arg(&url)
        .output()
        .unwrap();
    let v = json_output(&out);
    assert_eq!(v["rows"], 20, "{v}");
    // Labels a day from now get today's features; labels from 2000 predate every event.
    let known = v["rows_with_features"].as_u64().unwrap();
    assert!((1..=10).contains(&known), "{v}");
    assert_eq!(v["rows_with_features_in_2000"], 0, "{v}");
    let out = Command::new(&python)
        .arg(examples().join("python/online_features.py"))
        .args([&url, "player-000001", "nobody"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("NOT_FOUND"), "{text}");
    let _ = serve.kill();
    let _ = serve.wait();
}
