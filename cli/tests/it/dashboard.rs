use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

fn chromium(args: &[&str], url: &str) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(["--window-size=1400,1800", "--virtual-time-budget=10000"])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium is not installed: run the suite with scripts/test")
}

/// The dashboard in headless Chromium renders real data: the charts have points (and the
/// screenshot shows their lines), the lineage graph has every edge, the tables are filled.
#[test]
fn dashboard_renders_real_data_in_headless_chromium() {
    let env = Env::new(1);
    // Ingest in rounds so the rate and lag charts have several points in time.
    for seed in 0..4 {
        env.simulate(&[
            "--count",
            "700",
            "--seed",
            &seed.to_string(),
            "--malformed",
            "0.02",
        ]);
        env.ingest_until_caught_up(&[]);
        std::thread::sleep(Duration::from_millis(1100));
    }
    succeed(
        env.strata()
            .arg("--config")
            .arg(crate::harness::manifest_dir().join("../examples/config/expectations.toml"))
            .args(["run", "--once", "--no-ingest"]),
    );

    let mut serve = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(env.lake())
        .args(["serve", "--http", "127.0.0.1:0", "--pg", ""])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    for line in std::io::BufReader::new(serve.stdout.take().unwrap()).lines() {
        if let Some(rest) = line.unwrap().strip_prefix("features: ") {
            url = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    let page = format!("{url}/dashboard");

    let dom = chromium(&["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page did not load its data:\n{dom}"
    );
    let attr = |name: &str| -> Vec<u64> {
        dom.match_indices(&format!("{name}=\""))
            .filter_map(|(i, m)| dom[i + m.len()..].split('"').next()?.parse().ok())
            .collect()
    };
    let points = attr("data-points");
    assert_eq!(points.len(), 2, "two charts: {points:?}");
    assert!(
        points.iter().all(|p| *p >= 3),
        "charts need several points: {points:?}"
    );
    assert_eq!(attr("data-edges"), vec![19], "every lineage edge drawn");
    for needle in [
        "gold.player_features",
        "silver.missions",
        "short_missions",
        "succeeded",
    ] {
        assert!(dom.contains(needle), "{needle} missing from the dashboard");
    }

    let shot = env.dir.path().join("dashboard.png");
    let out = chromium(&[&format!("--screenshot={}", shot.display())], &page);
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = python().expect("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    let out = Command::new(python)
        .arg(scripts_dir().join("check_screenshot.py"))
        .arg(&shot)
        .output()
        .unwrap();
    let v: Value = json_output(&out);
    assert!(
        v["series_pixels"].as_u64().unwrap() > 300,
        "the charts look empty in the screenshot: {v}"
    );
    let _ = serve.kill();
    let _ = serve.wait();
}
