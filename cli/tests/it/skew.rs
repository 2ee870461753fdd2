//! Online and offline agree: what `/get-online-features` answered at time t is exactly what a
//! training set asks for at t, while `strata run` keeps refining live events.

use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use crate::harness::*;
use crate::serve::{http_post, start};

const FEATURES: [&str; 3] = [
    "player_features:sessions_7d",
    "player_features:missions_completed_28d",
    "player_features:credits_earned_7d",
];

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn online_answers_equal_training_sets_at_the_same_moments() {
    let env = Env::new(1);
    // History: the last few days, all complete before serving starts.
    let history = env.simulate(&[
        "--count",
        "6000",
        "--seed",
        "71",
        "--players",
        "40",
        "--late",
        "1",
        "--backdate-days",
        "0.5",
    ]);
    let config = env.dir.path().join("strata.toml");
    std::fs::write(
        &config,
        "[ingest.batch]\nmax_wait_ms = 200\n[run]\ninterval_ms = 200\n[serve]\nrefresh_ms = 200\n",
    )
    .unwrap();
    let _run = Killed(
        env.strata()
            .arg("--config")
            .arg(&config)
            .args(["run", "--metrics-addr", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let n = history["produced"].as_u64().unwrap();
    wait_until("the history in Bronze", Duration::from_secs(300), || {
        (env.bronze_counts().0 == n).then_some(())
    });
    wait_until(
        "Gold caught up with the history",
        Duration::from_secs(300),
        || caught_up(&status(&env)).then_some(()),
    );
    let server = start(&env, &config);

    // Live events (today's) while we sample the online API at random moments.
    let producer = env
        .strata()
        .args([
            "simulate", "--quiet", "--count", "6000", "--rate", "400", "--seed", "72",
        ])
        .args(["--players", "40"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rng = rand::rng();
    let mut samples: Vec<(String, String, Value, Value)> = Vec::new();
    let t0 = Instant::now();
    while samples.len() < 120 && t0.elapsed() < Duration::from_secs(120) {
        thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        let ids: Vec<String> = (0..5)
            .map(|_| format!("player-{:06}", rng.random_range(0..40)))
            .collect();
        let body = json!({"features": FEATURES, "entities": {"player_id": ids}});
        let (st, r) = http_post(&server.http, "/get-online-features", "", &body.to_string());
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        assert_eq!(st, 200, "{r}");
        for (i, id) in ids.iter().enumerate() {
            let values: Vec<Value> = (1..=FEATURES.len())
                .map(|f| r["results"][f]["values"][i].clone())
                .collect();
            let statuses: Vec<Value> = (1..=FEATURES.len())
                .map(|f| r["results"][f]["statuses"][i].clone())
                .collect();
            samples.push((id.clone(), at.clone(), json!(values), json!(statuses)));
        }
    }
    let live = json_output(&producer.wait_with_output().unwrap());
    assert!(live["produced"].as_u64().unwrap() > 0);

    // The same (entity, moment) pairs through the training-set API.
    let rows: Vec<Value> = samples
        .iter()
        .map(|(id, at, _, _)| json!({"player_id": id, "event_timestamp": at}))
        .collect();
    let body = json!({"features": FEATURES, "entity_rows": rows, "format": "json"});
    let (st, training) = http_post(&server.http, "/training-set", "", &body.to_string());
    assert_eq!(st, 200, "{training}");
    let training = training.as_array().unwrap();
    assert_eq!(training.len(), samples.len());
    let mut present = 0;
    for ((id, at, values, statuses), row) in samples.iter().zip(training) {
        assert_eq!(row["player_id"], json!(id));
        for (f, feature) in FEATURES.iter().enumerate() {
            let name = feature.split(':').nth(1).unwrap();
            let offline = row.get(name).cloned().unwrap_or(Value::Null);
            if statuses[f] == "PRESENT" {
                present += 1;
                assert_eq!(
                    values[f], offline,
                    "{id} at {at}: {name} online {} vs training {offline}",
                    values[f]
                );
            } else {
                assert!(
                    offline.is_null(),
                    "{id} at {at}: {name} online {} ({}) vs training {offline}",
                    values[f],
                    statuses[f]
                );
            }
        }
    }
    // Most answers carry values (the history covers the last days), so the check is real.
    assert!(
        present * 2 > samples.len() * FEATURES.len(),
        "only {present} present values"
    );
    eprintln!(
        "{} online answers equal their training-set rows ({present} values present)",
        samples.len() * FEATURES.len()
    );
}
