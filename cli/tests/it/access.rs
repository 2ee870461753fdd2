//! Roles on every serving surface: a SQL user or HTTP token reads what its role grants, sees
//! PII masked unless the role has it in clear, and does not even see the rest (tables hidden
//! from information_schema and `\dt`, time travel included).

use std::process::Command;

use std::time::Duration;

use crate::harness::*;
use crate::serve::{http_post, start};

/// psql as `user`; (success, stdout, stderr with SQLSTATEs).
fn psql_as(port: u16, user: &str, password: &str, sql: &str) -> (bool, String, String) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", user])
        .args([
            "-d",
            "strata",
            "-w",
            "-At",
            "-v",
            "VERBOSITY=verbose",
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql is not installed: run the suite with scripts/test");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn read(port: u16, user: &str, password: &str, sql: &str) -> String {
    let (ok, out, err) = psql_as(port, user, password, sql);
    assert!(ok, "{user}: {sql}: {err}");
    out
}

fn refused(port: u16, user: &str, password: &str, sql: &str, needle: &str) {
    let (ok, out, err) = psql_as(port, user, password, sql);
    assert!(!ok, "{user}: {sql} was answered: {out}");
    assert!(
        err.contains("42501") && err.contains(needle),
        "{user}: {sql}: {err}"
    );
}

const DEADLINE: Duration = Duration::from_secs(120);

fn status_of(response: &str) -> u16 {
    response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn roles_hide_deny_and_mask_on_sql_and_http() {
    let env = Env::new(1);
    env.simulate(&["--count", "3000", "--seed", "83", "--players", "40"]);
    succeed(env.strata().args(["run", "--once"]));
    let secret = env.dir.path().join("ops.password");
    std::fs::write(&secret, "pw-ops\n").unwrap();
    let config = env.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nrefresh_ms = 200\n\
             [serve.principals.ana]\nrole = \"analyst\"\npassword = \"pw-ana\"\ntoken = \"tok-ana\"\n\
             [serve.principals.mia]\nrole = \"ml\"\npassword = \"pw-mia\"\ntoken = \"tok-mia\"\n\
             [serve.principals.ops]\nrole = \"operator\"\npassword_file = \"{}\"\ntoken = \"tok-ops\"\n",
            secret.display()
        ),
    )
    .unwrap();
    let server = start(&env, &config);
    let port = server.pg_port;
    let missions = env.count("SELECT count(*) FROM silver.missions");
    assert!(missions > 0);

    // The analyst reads Silver and Gold, not Bronze or Strata's own tables.
    let q = "SELECT count(*) FROM silver.missions";
    assert_eq!(read(port, "ana", "pw-ana", q), missions.to_string());
    refused(
        port,
        "ana",
        "pw-ana",
        "SELECT count(*) FROM bronze.events",
        "bronze.events",
    );
    refused(
        port,
        "ana",
        "pw-ana",
        "SELECT * FROM _strata.runs",
        "_strata.runs",
    );
    refused(
        port,
        "ana",
        "pw-ana",
        "SELECT comment FROM silver.agent_feedback",
        "column comment of table silver.agent_feedback",
    );
    // Hidden tables are not listed either.
    let listed = read(
        port,
        "ana",
        "pw-ana",
        "SELECT table_schema || '.' || table_name FROM information_schema.tables ORDER BY 1",
    );
    assert!(
        listed.contains("silver.missions") && listed.contains("gold.player_daily"),
        "{listed}"
    );
    assert!(
        !listed.contains("bronze.") && !listed.contains("_strata."),
        "{listed}"
    );
    let columns = read(
        port,
        "ana",
        "pw-ana",
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'agent_feedback'",
    );
    assert!(
        columns.contains("rating") && !columns.contains("comment"),
        "{columns}"
    );
    let dt = read(port, "ana", "pw-ana", "\\dt *.*");
    assert!(dt.contains("missions") && !dt.contains("events"), "{dt}");
    let dt_ops = read(port, "ops", "pw-ops", "\\dt *.*");
    assert!(
        dt_ops.contains("events") && dt_ops.contains("runs"),
        "{dt_ops}"
    );

    // PII is masked (hashed player ids still join and count alike) and filters see the mask.
    let first = "SELECT player_id FROM silver.missions ORDER BY event_id LIMIT 1";
    let clear = read(port, "ops", "pw-ops", first);
    let masked = read(port, "ana", "pw-ana", first);
    assert_ne!(clear, masked);
    assert_eq!(
        masked,
        read(
            port,
            "ops",
            "pw-ops",
            "SELECT encode(sha256(player_id), 'hex') FROM silver.missions ORDER BY event_id LIMIT 1"
        )
    );
    let by_clear = format!("SELECT count(*) FROM silver.missions WHERE player_id = '{clear}'");
    assert_eq!(read(port, "ana", "pw-ana", &by_clear), "0");
    assert_ne!(read(port, "ops", "pw-ops", &by_clear), "0");
    let players = "SELECT count(DISTINCT player_id) FROM silver.missions";
    assert_eq!(
        read(port, "ana", "pw-ana", players),
        read(port, "ops", "pw-ops", players)
    );
    read(
        port,
        "ops",
        "pw-ops",
        "SELECT count(comment) FROM silver.agent_feedback",
    );

    // Time travel obeys the same grants and masks.
    let version = delta_version(&env.lake().join("silver").join("missions")).unwrap();
    let v = format!("SELECT player_id FROM silver.missions@v{version} ORDER BY event_id LIMIT 1");
    let old = read(port, "ana", "pw-ana", &v);
    assert_eq!(old, masked);
    assert_eq!(old.len(), 64, "{old}");
    refused(
        port,
        "ana",
        "pw-ana",
        "SELECT count(*) FROM bronze.events@v0",
        "bronze.events",
    );

    // The ML role reads Gold only, and PII masked there too.
    refused(port, "mia", "pw-mia", q, "silver.missions");
    let gold = read(
        port,
        "mia",
        "pw-mia",
        "SELECT player_id FROM gold.player_daily LIMIT 1",
    );
    assert_eq!(gold.len(), 64, "{gold}");
    let (ok, _, err) = psql_as(port, "ana", "wrong", "SELECT 1");
    assert!(
        !ok && err
            .to_lowercase()
            .contains("password authentication failed"),
        "{err}"
    );

    // HTTP: feature views and training sets per role; the dashboard API for operators.
    let player = read(
        port,
        "ops",
        "pw-ops",
        "SELECT player_id FROM gold.player_features LIMIT 1",
    );
    let body = format!(
        r#"{{"features": ["player_features:sessions_7d"], "entities": {{"player_id": ["{player}"]}}}}"#
    );
    let (code, answer) = http_post(&server.http, "/get-online-features", "tok-ana", &body);
    assert_eq!(code, 403, "{answer}");
    assert!(
        answer.to_string().contains("feature view player_features"),
        "{answer}"
    );
    let (code, answer) = http_post(&server.http, "/get-online-features", "tok-mia", &body);
    assert_eq!(code, 200, "{answer}");
    let training = format!(
        r#"{{"features": ["player_features:sessions_7d"], "entity_rows": [{{"player_id": "{player}", "event_timestamp": "2030-01-01T00:00:00Z"}}], "format": "json"}}"#
    );
    let (code, answer) = http_post(&server.http, "/training-set", "tok-ana", &training);
    assert_eq!(code, 403, "{answer}");
    let (code, _) = http_post(&server.http, "/training-set", "tok-mia", &training);
    assert_eq!(code, 200);
    let http_port: u16 = server.http.rsplit(':').next().unwrap().parse().unwrap();
    let tables = http_get_with_token(http_port, "/api/tables", "tok-mia");
    assert_eq!(status_of(&tables), 403, "{tables}");
    let tables = http_get_with_token(http_port, "/api/tables", "tok-ops");
    assert_eq!(status_of(&tables), 200, "{tables}");

    // Every access and refusal above is in _strata.audit (written in batches).
    let q = "SELECT principal || ':' || endpoint || ':' || outcome || ':' || objects || ':' \
             || coalesce(CAST(\"rows\" AS VARCHAR), '') FROM _strata.audit";
    let audit = wait_until("the audit records of the requests above", DEADLINE, || {
        let (ok, out, _) = psql_as(port, "ops", "pw-ops", q);
        (ok && out.contains("ops:dashboard:ok")).then_some(out)
    });
    for expected in [
        "ana:sql:ok:silver.missions:1",
        "ana:sql:denied::",
        "mia:sql:denied::",
        "ops:sql:ok:silver.missions:1",
        "mia:online_features:ok:player_features:1",
        "ana:online_features:denied::",
        "ana:training_set:denied::",
        "mia:training_set:ok:player_features:1",
        "mia:dashboard:denied::",
    ] {
        assert!(
            audit.lines().any(|l| l == expected),
            "no '{expected}' in:\n{audit}"
        );
    }
    let hashed = read(
        port,
        "ops",
        "pw-ops",
        "SELECT count(*) FROM _strata.audit WHERE endpoint = 'sql' AND length(query_hash) = 64",
    );
    assert_ne!(hashed, "0");
    // The analyst cannot read the audit log.
    refused(
        port,
        "ana",
        "pw-ana",
        "SELECT count(*) FROM _strata.audit",
        "_strata.audit",
    );
}
