use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::*;
use crate::refine::run;

/// Plain HTTP/1.0: what any client can do.
pub fn http(addr: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let json = out.split("\r\n\r\n").nth(1).unwrap_or("null");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

/// An envelope-level schema for a topic's values: what a producing team would register.
fn topic_schema(required: &[&str]) -> String {
    json!({"type": "object", "required": required, "properties": {
        "event_id": {"type": "string"}, "event_type": {"type": "string"},
        "schema_version": {"type": "integer"}, "occurred_at": {"type": "string"},
        "payload": {"type": "object"}}})
    .to_string()
}

/// Register a schema over plain HTTP, produce Confluent-framed records with an ordinary
/// Confluent client (schema_registry_converter's encoder), ingest them through the registry
/// and find them decoded in Silver; an incompatible version is refused.
#[test]
fn confluent_framed_records_round_trip_through_our_registry() {
    let env = Env::new(1);
    std::fs::create_dir_all(env.lake()).unwrap();
    let mut registry = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(env.lake())
        .args(["registry", "--http", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(registry.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    let url = format!("http://{addr}");
    let subject = format!("{}-value", env.topics[0]);

    let (st, r) = http(
        &addr,
        "POST",
        &format!("/subjects/{subject}/versions"),
        Some(json!({"schemaType": "JSON", "schema": topic_schema(&["event_id", "event_type"])})),
    );
    assert_eq!(st, 200, "{r}");
    assert!(r["id"].as_u64().is_some(), "{r}");
    // A new required field: refused under the default BACKWARD level, with the reason.
    let (st, r) = http(
        &addr,
        "POST",
        &format!("/subjects/{subject}/versions"),
        Some(
            json!({"schemaType": "JSON", "schema": topic_schema(&["event_id", "event_type", "region"])}),
        ),
    );
    assert_eq!(st, 409, "{r}");
    assert!(r["message"].as_str().unwrap().contains("/region"), "{r}");

    let sim = env
        .strata()
        .args(["--schema-registry-url", &url])
        .args(["simulate", "--quiet", "--count", "600", "--seed", "4"])
        .output()
        .unwrap();
    let produced = json_output(&sim)["produced"].as_u64().unwrap();

    // Without the registry the framed records are kept, but as invalid with the reason.
    let plain = tempfile::tempdir().unwrap();
    let out = env
        .strata_at(plain.path(), &unique("noreg"))
        .args(["ingest", "--until-caught-up", "--batch-max-wait-ms", "300"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(plain.path())
        .args([
            "sql",
            "--format",
            "json",
            "SELECT error_kind, count(*) AS n FROM bronze.events GROUP BY 1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{{\"error_kind\":\"schema_registry\",\"n\":{produced}}}"
        )),
        "{text}"
    );

    // With it: decoded, validated against the registered schema and the event's own.
    succeed(env.strata().args(["--schema-registry-url", &url]).args([
        "ingest",
        "--until-caught-up",
        "--batch-max-wait-ms",
        "300",
    ]));
    let (rows, _, valid) = env.bronze_counts();
    assert_eq!((rows, valid), (produced, produced));
    let framed = env.count(
        "SELECT count(*) FROM bronze.events WHERE substr(CAST(value AS VARCHAR), 1, 1) = chr(0)",
    );
    assert_eq!(
        framed, produced,
        "Bronze keeps the framed bytes as received"
    );
    run(&env.lake(), &["run", "--once", "--no-ingest"]);
    let silver = env.count(
        "SELECT (SELECT count(*) FROM silver.missions) + (SELECT count(*) FROM silver.economy_transactions) \
         + (SELECT count(*) FROM silver.agent_invocations) AS n",
    );
    assert!(silver > 0, "nothing decoded into Silver");
    let missions =
        env.sql("SELECT mission_type FROM silver.missions WHERE mission_type IS NULL LIMIT 1");
    assert!(missions.is_empty(), "payload fields decoded: {missions:?}");
    let _ = registry.kill();
    let _ = registry.wait();
}
