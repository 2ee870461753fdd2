//! The lake in an S3-compatible bucket (moto's server on loopback, started by scripts/test):
//! ingest, refinement, replay, maintenance and SQL work there exactly as on a local lake, and
//! Python readers find the same tables in the bucket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use crate::harness::*;
use crate::refine::{assert_same, run, snapshot, snapshot_with};

/// `http://127.0.0.1:PORT` of the S3-compatible server started by `scripts/test`.
fn s3_endpoint() -> String {
    std::env::var("STRATA_TEST_S3").expect(
        "STRATA_TEST_S3 is not set: run the suite with scripts/test, which starts an S3-compatible server",
    )
}

/// One plain HTTP request; returns the status line and body.
fn http(endpoint: &str, method: &str, path: &str) -> String {
    let host = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_platform_runs_on_an_s3_lake_and_python_reads_the_bucket() {
    let env = Env::new(2);
    let endpoint = s3_endpoint();
    let bucket = unique("lake");
    let created = http(&endpoint, "PUT", &format!("/{bucket}"));
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let uri = format!("s3://{bucket}/strata");
    let config = env.dir.path().join("s3.toml");
    std::fs::write(
        &config,
        format!(
            "[lake]\nuri = \"{uri}\"\n\n[lake.s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\nallow_http = true\n"
        ),
    )
    .unwrap();
    let group = unique("s3");
    let s3 = || {
        let mut c = env.strata_at(Path::new(&uri), &group);
        c.arg("--config")
            .arg(&config)
            .env("AWS_ACCESS_KEY_ID", "strata")
            .env("AWS_SECRET_ACCESS_KEY", "strata")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE");
        c
    };

    env.simulate(&[
        "--count",
        "3000",
        "--seed",
        "7",
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
    let ingested = json_output(
        &s3()
            .args(["ingest", "--until-caught-up", "--batch-max-wait-ms", "300"])
            .output()
            .unwrap(),
    );
    assert_eq!(ingested["rows_written"], 3000, "{ingested}");
    // Exactly once on the bucket too: a second ingest finds nothing new.
    let again = json_output(
        &s3()
            .args(["ingest", "--until-caught-up", "--batch-max-wait-ms", "300"])
            .output()
            .unwrap(),
    );
    assert_eq!(again["rows_written"], 0, "{again}");
    succeed(s3().args(["run", "--once", "--no-ingest"]));
    let on_s3 = snapshot_with(&s3);

    // The same records into a local lake, rebuilt by a replay: the same tables, row for row.
    env.ingest_until_caught_up(&[]);
    run(&env.lake(), &["replay", "--yes"]);
    assert_same(&on_s3, &snapshot(&env.lake()));

    // Replay on the bucket drops Silver and Gold objects and rebuilds them identically.
    succeed(s3().args(["replay", "--yes"]));
    assert_same(&on_s3, &snapshot_with(&s3));

    // Discovery, status and maintenance list the bucket.
    let status = succeed(s3().args(["status"]));
    for t in ["bronze.events", "silver.missions", "gold.player_features"] {
        assert!(status.contains(t), "{t} missing from status:\n{status}");
    }
    succeed(s3().args(["maintain", "--no-vacuum"]));
    assert_same(&on_s3, &snapshot_with(&s3));

    // The objects are in the bucket, under the lake's prefix.
    let listing = http(
        &endpoint,
        "GET",
        &format!("/{bucket}?prefix=strata/gold/player_daily/_delta_log/"),
    );
    assert!(listing.contains("00000000000000000000.json"), "{listing}");

    let Some(python) = python() else {
        panic!("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    };
    let rows = |t: &str| {
        on_s3
            .iter()
            .find(|(name, _)| name == t)
            .map(|(_, r)| r.len())
            .unwrap()
    };
    let out = Command::new(python)
        .args([
            "-c",
            r#"
import sys, deltalake, polars as pl
uri, endpoint = sys.argv[1], sys.argv[2]
opts = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "strata", "AWS_SECRET_ACCESS_KEY": "strata"}
for t in ["silver.missions", "gold.player_daily", "gold.agent_features"]:
    path = f"{uri}/{t.replace('.', '/')}"
    n = deltalake.DeltaTable(path, storage_options=opts).to_pyarrow_table().num_rows
    m = pl.read_delta(path, storage_options=opts).height
    print(t, n, m)
"#,
            &uri,
            &endpoint,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    for t in [
        "silver.missions",
        "gold.player_daily",
        "gold.agent_features",
    ] {
        let n = rows(t);
        assert!(
            printed.contains(&format!("{t} {n} {n}")),
            "{t}: strata has {n} rows, Python read:\n{printed}"
        );
    }
}
