use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// A webhook receiver on loopback: every JSON body POSTed to it, in arrival order.
fn receiver() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok()
                && let Ok(v) = serde_json::from_slice(&body)
            {
                sink.lock().unwrap().push(v);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, got)
}

/// `strata run` with an expectation that stops a Silver job and a 1 s freshness SLA on its
/// table: the webhook gets one alert for each incident, with table, rule and counts, and
/// no repeats over many more passes and freshness checks; the table's own webhook
/// (`alerts.tables`) gets the same alerts.
#[test]
fn a_failing_expectation_and_a_stale_table_alert_once_each() {
    let env = Env::new(1);
    env.simulate(&["--count", "800", "--seed", "31"]);
    env.ingest_until_caught_up(&[]);
    let (hook, received) = receiver();
    let (team_hook, team) = receiver();
    let config = env.dir.path().join("alerts.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[run]
failed_cooldown_s = 3600
sla_s = {{ "silver.economy_transactions" = 1 }}

[alerts]
webhooks = ["http://127.0.0.1:{hook}/hook"]
freshness_check_s = 1

[alerts.tables."silver.*"]
webhooks = ["http://127.0.0.1:{team_hook}/team"]

[alerts.tables."gold.*"]
mute = ["stale_table", "job_failed"]

[[quality.expectations]]
table = "silver.economy_transactions"
name = "amount_at_most_one"
check = {{ kind = "range", column = "amount", min = 0, max = 1 }}
action = "fail"
"#
        ),
    )
    .unwrap();
    let metrics = free_port();
    let mut run = env
        .strata()
        .arg("--config")
        .arg(&config)
        .args(["run", "--no-ingest", "--interval-ms", "100"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
        .spawn()
        .unwrap();
    let kinds = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|a| a["kind"].as_str().unwrap_or("").to_string())
            .collect()
    };
    wait_until(
        "an expectation_failed and a stale_table alert",
        Duration::from_secs(180),
        || {
            let k = kinds(&received.lock().unwrap());
            (k.contains(&"expectation_failed".into()) && k.contains(&"stale_table".into()))
                .then_some(())
        },
    );
    // Many more passes and freshness checks with both incidents still open: no repeat.
    let passes = wait_until("the pass counter", Duration::from_secs(60), || {
        metric(metrics, "strata_run_passes_total")
    });
    wait_until("30 more passes", Duration::from_secs(180), || {
        (metric(metrics, "strata_run_passes_total")? >= passes + 30.0).then_some(())
    });
    sigkill(&mut run);

    let alerts = received.lock().unwrap().clone();
    assert_eq!(alerts.len(), 2, "one alert per incident: {alerts:#?}");
    assert_eq!(
        *team.lock().unwrap(),
        alerts,
        "the table's team gets the same alerts"
    );
    let failed = alerts
        .iter()
        .find(|a| a["kind"] == "expectation_failed")
        .unwrap();
    assert_eq!(failed["table"], "silver.economy_transactions", "{failed}");
    assert_eq!(failed["rule"], "amount_at_most_one", "{failed}");
    let (bad, checked) = (
        failed["counts"]["rows_failed"].as_u64().unwrap(),
        failed["counts"]["rows_checked"].as_u64().unwrap(),
    );
    assert!(bad > 0 && bad <= checked, "{failed}");
    let stale = alerts.iter().find(|a| a["kind"] == "stale_table").unwrap();
    assert_eq!(stale["table"], "silver.economy_transactions", "{stale}");
    assert_eq!(stale["counts"]["sla_s"], 1, "{stale}");
    assert!(
        stale["counts"]["behind_s"].as_f64().unwrap() > 1.0,
        "{stale}"
    );
}

/// A burst of malformed records ingested by `strata run` raises one `quarantine_jump` alert
/// with the counts, and no more once the burst has passed.
#[test]
fn a_jump_in_quarantined_records_alerts_once() {
    let env = Env::new(1);
    env.simulate(&["--count", "1000", "--seed", "37", "--malformed", "0.3"]);
    let (hook, received) = receiver();
    let config = env.dir.path().join("alerts.toml");
    std::fs::write(
        &config,
        format!(
            "[alerts]\nwebhooks = [\"http://127.0.0.1:{hook}/hook\"]\nfreshness_check_s = 1\n\
             quarantine_fraction = 0.1\n"
        ),
    )
    .unwrap();
    let metrics = free_port();
    let mut run = env
        .strata()
        .arg("--config")
        .arg(&config)
        .args(["run", "--interval-ms", "100"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
        .spawn()
        .unwrap();
    let jump = wait_until("a quarantine_jump alert", Duration::from_secs(180), || {
        received
            .lock()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "quarantine_jump")
            .cloned()
    });
    let passes = wait_until("the pass counter", Duration::from_secs(60), || {
        metric(metrics, "strata_run_passes_total")
    });
    wait_until("20 more passes", Duration::from_secs(180), || {
        (metric(metrics, "strata_run_passes_total")? >= passes + 20.0).then_some(())
    });
    sigkill(&mut run);
    assert_eq!(jump["table"], "bronze.events", "{jump}");
    let (bad, all) = (
        jump["counts"]["quarantined"].as_u64().unwrap(),
        jump["counts"]["ingested"].as_u64().unwrap(),
    );
    assert!(all >= 100 && bad * 10 > all, "{jump}");
    let jumps = received
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "quarantine_jump")
        .count();
    assert_eq!(jumps, 1, "{:#?}", received.lock().unwrap());
}
