use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::harness::*;

pub struct Server {
    child: Child,
    pub http: String,
    pub pg_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(env: &Env, config: &std::path::Path) -> Server {
    let pg_port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--lake")
        .arg(env.lake())
        .arg("--config")
        .arg(config)
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--pg",
            &format!("127.0.0.1:{pg_port}"),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut http = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("features: http://") {
            http = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    assert!(!http.is_empty(), "strata serve printed no address");
    Server {
        child,
        http,
        pg_port,
    }
}

pub fn psql(port: u16, password: &str, sql: &str) -> std::process::Output {
    psql_tls(port, password, sql, "prefer")
}

fn psql_tls(port: u16, password: &str, sql: &str, sslmode: &str) -> std::process::Output {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "analyst",
            "-d",
            "strata",
            "-w",
            "-At",
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGSSLMODE", sslmode)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql is not installed: run the suite with scripts/test")
}

pub fn http_post(addr: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (
        status,
        serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap_or("null")).unwrap_or(Value::Null),
    )
}

/// psql and a Postgres driver (psycopg, prepared statements) against the SQL endpoint; DDL/DML
/// refused; password auth; Feast-shaped online features and a training set read by polars.
#[test]
fn serve_answers_psql_drivers_feast_clients_and_polars() {
    let env = Env::new(1);
    env.simulate(&[
        "--count",
        "4000",
        "--seed",
        "21",
        "--players",
        "50",
        "--backdate-days",
        "1",
    ]);
    let out = env.strata().args(["run", "--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A self-signed certificate: the SQL endpoint speaks TLS.
    let (cert, key) = self_signed(env.dir.path(), "pg");
    let config = env.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\npg_user = \"analyst\"\npg_password = \"pw-1\"\ntokens = [\"t0ken\"]\n\
             pg_tls_cert = \"{}\"\npg_tls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let server = start(&env, &config);
    let expected = env.count("SELECT count(*) FROM gold.player_features");
    assert!(expected > 0);

    let out = psql(
        server.pg_port,
        "pw-1",
        "SELECT count(*) FROM gold.player_features",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        expected.to_string()
    );
    let out = psql(
        server.pg_port,
        "pw-1",
        "SELECT d.player_id, count(*) FROM gold.player_daily d JOIN silver.missions m ON m.player_id = d.player_id GROUP BY 1 LIMIT 3",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for ddl in [
        "INSERT INTO gold.player_features (player_id) VALUES ('x')",
        "CREATE TABLE gold.evil (a INT)",
        "DROP TABLE gold.player_features",
        "DELETE FROM silver.missions",
    ] {
        let out = psql(server.pg_port, "pw-1", ddl);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{ddl} was accepted");
        assert!(err.contains("read-only"), "{ddl}: {err}");
    }
    assert_eq!(
        env.count("SELECT count(*) FROM gold.player_features"),
        expected
    );
    // TLS is negotiated when required (the password then never crosses in the clear).
    let out = psql_tls(server.pg_port, "pw-1", "SELECT 1", "require");
    assert!(
        out.status.success(),
        "sslmode=require: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = psql(server.pg_port, "wrong", "SELECT 1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase()
            .contains("password authentication failed"),
        "{err}"
    );

    let python = python().expect("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    let out = Command::new(&python)
        .arg(scripts_dir().join("serve_client.py"))
        .args([
            "pg",
            "127.0.0.1",
            &server.pg_port.to_string(),
            "analyst",
            "pw-1",
        ])
        .output()
        .unwrap();
    let v = json_output(&out);
    assert_eq!(v["counts"][0].as_u64(), Some(expected), "{v}");
    assert_eq!(v["rows"].as_array().unwrap().len(), 3, "{v}");

    // Feast-shaped online read of real players.
    let players =
        env.sql("SELECT DISTINCT player_id FROM gold.player_features ORDER BY player_id LIMIT 3");
    let ids: Vec<String> = players
        .iter()
        .map(|p| p["player_id"].as_str().unwrap().to_string())
        .collect();
    let body = serde_json::json!({"features": ["player_features:sessions_28d"],
                                   "entities": {"player_id": [ids[0].clone(), "nobody"]}});
    let (st, r) = http_post(
        &server.http,
        "/get-online-features",
        "t0ken",
        &body.to_string(),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["results"][1]["statuses"][1], "NOT_FOUND", "{r}");
    assert!(r["results"][1]["values"][0].is_number(), "{r}");
    let (st, _) = http_post(
        &server.http,
        "/get-online-features",
        "bad",
        &body.to_string(),
    );
    assert_eq!(st, 401);

    let mut args = vec![
        "training".to_string(),
        format!("http://{}", server.http),
        "t0ken".into(),
    ];
    args.extend(ids.iter().cloned());
    let out = Command::new(&python)
        .arg(scripts_dir().join("serve_client.py"))
        .args(&args)
        .output()
        .unwrap();
    let v = json_output(&out);
    // Two rows per player: one far in the future (outside the TTL: nulls, kept), one before
    // any data (no match: nulls, kept).
    assert_eq!(v["rows"].as_u64(), Some(2 * ids.len() as u64), "{v}");
    assert_eq!(v["non_null_sessions"].as_u64(), Some(0), "{v}");
    assert!(
        v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "sessions_28d"),
        "{v}"
    );
}
