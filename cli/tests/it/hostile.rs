//! A hostile producer: thousands of records of dozens of kinds, valid-but-odd and broken,
//! produced to the real broker beside ordinary traffic. Bronze accounts for every record with a
//! reason, `strata run --once` succeeds, Gold equals DuckDB's computation over the records
//! judged valid, and every value Silver could not type is counted in the quality results.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;

use crate::harness::{Env, check_gold, succeed};

mod records;
use records::{Kind, kinds};

/// How many records of each kind.
const EACH: usize = 50;
/// Ingest's value limit in this test (the oversize kind is above it).
const MAX_VALUE_BYTES: usize = 65_536;

/// Produce every kind `EACH` times (key `hostile/<kind>/<i>`, a binary header on the valid
/// ones); `(kind, key)` of each record.
fn produce(env: &Env, kinds: &[Kind]) -> Vec<(&'static str, String)> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &env.brokers)
        .set("message.max.bytes", "10000000")
        .create()
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..EACH {
        for k in kinds {
            let key = format!("hostile/{}/{i}", k.name);
            let value = (k.make)(i);
            let headers = OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some(&[0xffu8, 0x00, 0xfe][..]),
            });
            let mut record = BaseRecord::to(&env.topics[0])
                .key(&key)
                .partition(i32::try_from(i % 2).unwrap())
                .headers(headers);
            if let Some(v) = &value {
                record = record.payload(v);
            }
            let mut record = Some(record);
            while let Some(r) = record.take() {
                if let Err((e, r)) = producer.send(r) {
                    assert!(
                        matches!(
                            e.rdkafka_error_code(),
                            Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        ),
                        "{e}"
                    );
                    producer.poll(Duration::from_millis(50));
                    record = Some(r);
                }
            }
            producer.poll(Duration::ZERO);
            sent.push((k.name, key));
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    sent
}

/// Register mission.completed v2 with a `number` duration: a user's schema that admits values
/// Silver's integer column cannot hold.
fn register_loose_v2(env: &Env) {
    let catalog = strata_project::builtin().unwrap().schema_catalog();
    let mut v2 = catalog.get("mission.completed", 1).unwrap().clone();
    v2["properties"]["schema_version"] = json!({"const": 2});
    v2["properties"]["payload"]["properties"]["duration_s"] =
        json!({"type": "number", "minimum": 0});
    let lake = strata_pipelines::Lake::new(env.lake().to_str().unwrap()).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let registry = strata_registry::Registry::open(lake, catalog)
            .await
            .unwrap();
        registry.ensure_declared().await.unwrap();
        registry
            .register("mission.completed", &v2.to_string(), "JSON")
            .await
            .unwrap();
    });
}

#[test]
fn hostile_records_are_all_accounted_for_and_block_nothing() {
    let env = Env::new(1);
    std::fs::create_dir_all(env.lake()).unwrap();
    register_loose_v2(&env);
    // Ordinary traffic beside the hostile records (and the topic's creation).
    let sim = env.simulate(&["--count", "2000", "--seed", "15", "--partitions", "2"]);
    let kinds = kinds();
    let sent = produce(&env, &kinds);
    let total = sim["produced"].as_u64().unwrap() + sent.len() as u64;

    let summary = env.ingest_until_caught_up(&["--max-value-bytes", &MAX_VALUE_BYTES.to_string()]);
    assert_eq!(summary["rows_written"].as_u64(), Some(total), "{summary}");
    let (rows, distinct, _) = env.bronze_counts();
    assert_eq!(
        (rows, distinct),
        (total, total),
        "every record once in Bronze"
    );

    // Each hostile record: judged as its kind says, with a reason when invalid.
    let judged: BTreeMap<String, (bool, String, usize)> = env
        .sql(
            "SELECT CAST(key AS VARCHAR) AS k, valid, coalesce(error_kind, '') AS kind, \
             coalesce(character_length(error), 0) AS len FROM bronze.events \
             WHERE starts_with(CAST(key AS VARCHAR), 'hostile/')",
        )
        .into_iter()
        .map(|r| {
            let k = r["k"].as_str().unwrap().to_string();
            let v = (
                r["valid"].as_bool().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
                usize::try_from(r["len"].as_u64().unwrap()).unwrap(),
            );
            (k, v)
        })
        .collect();
    assert_eq!(judged.len(), sent.len());
    let mut wrong = Vec::new();
    for (name, key) in &sent {
        let expect = kinds.iter().find(|k| k.name == *name).unwrap().expect;
        let (valid, kind, len) = &judged[key];
        let ok = match expect {
            None => *valid && kind.is_empty(),
            Some(e) => !valid && kind == e && *len > 0 && *len <= 1100,
        };
        if !ok && wrong.len() < 10 {
            wrong.push(format!(
                "{key}: expected {expect:?}, got valid={valid} {kind} ({len} chars)"
            ));
        }
    }
    assert!(wrong.is_empty(), "misjudged records:\n{}", wrong.join("\n"));

    // Nothing valid blocks a job.
    succeed(env.strata().args(["run", "--once", "--no-ingest"]));
    for t in [
        "player_daily",
        "player_features",
        "agent_features",
        "economy_daily",
    ] {
        assert!(
            env.count(&format!("SELECT count(*) FROM gold.{t}")) > 0,
            "gold.{t} is empty"
        );
    }

    // Gold equals DuckDB's computation over the records judged valid, and every value Silver
    // could not type is counted where operators look.
    let v = check_gold(&env.lake());
    for table in ["economy_daily", "agent_daily"] {
        assert_eq!(v[table]["equal"], true, "{table} differs from DuckDB: {v}");
    }
    let reported: BTreeMap<String, u64> = env
        .sql(
            "SELECT concat(\"table\", '.', substr(expectation, 7)) AS c, sum(rows_failed) AS n \
             FROM _strata.quality_results WHERE kind = 'typed' GROUP BY 1",
        )
        .into_iter()
        .map(|r| {
            (
                r["c"].as_str().unwrap().to_string(),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    println!(
        "hostile: {} records of {} kinds; DuckDB {v}; reported {reported:?}",
        sent.len(),
        kinds.len()
    );
    let untyped = v["untyped"].as_object().unwrap();
    assert_eq!(
        untyped["silver.missions.duration_s"].as_u64(),
        Some(EACH as u64),
        "{v}"
    );
    for (column, n) in untyped {
        let got = reported.get(column).copied().unwrap_or(0);
        assert_eq!(
            Some(got),
            n.as_u64(),
            "{column}: reported {got}, DuckDB counts {n}"
        );
    }
    let nulls = env.count(
        "SELECT count(*) FROM silver.missions WHERE duration_s IS NULL AND schema_version = 2",
    );
    assert_eq!(
        nulls, EACH as u64,
        "the v2 durations Silver could not type are NULL"
    );
}
