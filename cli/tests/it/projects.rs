//! Pipeline projects other than the built-in one: the fleet example (examples/projects/fleet)
//! end to end against the real broker, checked against DuckDB; a project changed on a live
//! lake; the tutorial's files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::harness::*;

pub fn fleet_dir() -> PathBuf {
    crate::harness::manifest_dir().join("../examples/projects/fleet")
}

/// A week of a small fleet's events, ending now: telemetry, trips (some never ended, some
/// ended before their start arrives), alerts, maintenance; exact re-sends; and records ingest
/// must quarantine (not JSON, a severity the schema does not allow).
fn fleet_events(seed: u64) -> (String, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let now = chrono::Utc::now();
    let mut lines: Vec<String> = Vec::new();
    let mut n = 0;
    let mut event = |rng: &mut StdRng, t: &str, vehicle: &str, days_ago: f64, payload: Value| {
        n += 1;
        let at = now - chrono::Duration::seconds((days_ago * 86_400.0) as i64);
        json!({"event_id": format!("evt-{seed}-{n:06}"), "event_type": t, "schema_version": 1,
               "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
               "source": "fleet-gateway", "tenant_id": format!("depot-{}", rng.random_range(1..3)),
               "vehicle_id": vehicle, "payload": payload})
        .to_string()
    };
    for v in 0..12 {
        let vehicle = format!("veh-{v}");
        for _ in 0..120 {
            let ago = rng.random_range(0.0..6.5);
            let p = json!({"battery_pct": rng.random_range(5.0..100.0_f64),
                           "temperature_c": rng.random_range(-10.0..95.0_f64),
                           "speed_kmh": rng.random_range(0.0..120.0_f64),
                           "odometer_km": rng.random_range(1000.0..90000.0_f64)});
            lines.push(event(&mut rng, "vehicle.telemetry", &vehicle, ago, p));
        }
        for trip in 0..8 {
            let id = format!("trip-{v}-{trip}");
            let ago = rng.random_range(0.2..6.5);
            let start = event(
                &mut rng,
                "trip.started",
                &vehicle,
                ago,
                json!({"trip_id": id, "driver_id": format!("drv-{}", v % 5), "depot": "north"}),
            );
            let ended = json!({"trip_id": id, "distance_km": rng.random_range(1.0..300.0_f64),
                               "stops": rng.random_range(0..30)});
            let end = event(&mut rng, "trip.ended", &vehicle, ago - 0.1, ended);
            match trip % 4 {
                0 => lines.push(start),
                1 => lines.extend([end, start]),
                _ => lines.extend([start, end]),
            }
        }
        for a in 0..6 {
            let severity = ["info", "warning", "critical"][a % 3];
            let p = json!({"alert_id": format!("al-{v}-{a}"), "code": format!("EV-{:03}", rng.random_range(1..999)),
                           "severity": severity});
            let ago = rng.random_range(0.0..6.5);
            lines.push(event(&mut rng, "vehicle.alert", &vehicle, ago, p));
        }
        let p = json!({"work_order_id": format!("wo-{v}"), "kind": "tyres", "cost_cents": rng.random_range(1000..90000)});
        let ago = rng.random_range(0.0..6.5);
        lines.push(event(&mut rng, "maintenance.completed", &vehicle, ago, p));
    }
    let resent: Vec<String> = lines.iter().step_by(37).cloned().collect();
    lines.extend(resent);
    lines.push("{not json".into());
    let bad = json!({"alert_id": "al-x", "code": "EV-001", "severity": "urgent"});
    lines.push(event(&mut rng, "vehicle.alert", "veh-1", 1.0, bad));
    let total = lines.len();
    let mut text = String::new();
    for l in lines {
        let _ = writeln!(text, "{l}");
    }
    (text, total)
}

/// Another domain, declared only in files: its events produced to the real broker, ingested,
/// refined, served (online features and SQL) and equal to DuckDB's computation from the
/// produced records.
#[test]
fn the_fleet_project_runs_end_to_end_and_matches_duckdb() {
    let env = Env::new(1);
    let project = fleet_dir();
    let (records, total) = fleet_events(5);
    let file = env.dir.path().join("fleet.jsonl");
    std::fs::write(&file, records).unwrap();
    let with_project = |args: &[&str]| {
        let mut c = env.strata();
        c.arg("--project").arg(&project).args(args);
        c
    };
    let shown = succeed(with_project(&["project", "show"]));
    for line in [
        "silver.trips <- trip.started, trip.ended (stitched on trip_id",
        "gold.vehicle_features <- gold.vehicle_daily (grain event_date, vehicle_id; reads 27 days back)",
        "job graph:\nbronze.events (source)",
        "gold.fleet_daily <- gold.vehicle_daily",
    ] {
        assert!(shown.contains(line), "'{line}' not in:\n{shown}");
    }
    let produced =
        succeed(with_project(&["produce", "--key", "vehicle_id", "--partitions", "2"]).arg(&file));
    assert!(
        produced.contains(&format!("\"produced\":{total}")),
        "{produced}"
    );
    succeed(with_project(&["ingest", "--until-caught-up"]));
    let (rows, distinct, valid) = env.bronze_counts();
    assert_eq!((rows, distinct), (total as u64, total as u64));
    assert_eq!(
        valid,
        total as u64 - 2,
        "the non-JSON line and the unknown severity are quarantined"
    );
    succeed(with_project(&["run", "--once"]));

    let python = python().expect("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    let out = std::process::Command::new(python)
        .arg(scripts_dir().join("check_fleet.py"))
        .arg(&file)
        .arg(env.lake())
        .output()
        .unwrap();
    let v = json_output(&out);
    for table in ["vehicle_daily", "fleet_daily", "vehicle_features"] {
        assert_eq!(v[table]["equal"], true, "{table} differs from DuckDB: {v}");
    }
    println!("fleet: {total} records; DuckDB agrees: {v}");
    // Stitching: a trip whose end arrived first still has its start day and distance.
    let trips = env.count("SELECT count(*) FROM silver.trips WHERE started_at IS NOT NULL AND distance_km IS NOT NULL");
    assert_eq!(
        trips,
        12 * 6,
        "trips with both events, whatever their order"
    );

    // Served: the online features of a vehicle equal its newest row known by now, and SQL.
    let config = env.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[project]\ndir = \"{}\"\n[serve]\npg_user = \"analyst\"\npg_password = \"pw-1\"\ntokens = [\"t0ken\"]\n",
            project.display()
        ),
    )
    .unwrap();
    let server = crate::serve::start(&env, &config);
    let expected = env.sql(
        "SELECT trips_28d, active_days_28d FROM gold.vehicle_features \
         WHERE vehicle_id = 'veh-3' AND feature_ts <= now() ORDER BY feature_ts DESC LIMIT 1",
    );
    let body = r#"{"feature_service": "vehicle_health", "entities": {"vehicle_id": ["veh-3", "veh-999"]}}"#;
    let (status, answer) =
        crate::serve::http_post(&server.http, "/get-online-features", "t0ken", body);
    assert_eq!(status, 200, "{answer}");
    let names = answer["metadata"]["feature_names"].as_array().unwrap();
    let at = |name: &str| names.iter().position(|n| n == name).unwrap();
    let value = |name: &str, row: usize| answer["results"][at(name)]["values"][row].clone();
    for f in ["trips_28d", "active_days_28d"] {
        assert_eq!(
            value(f, 0).as_f64(),
            expected[0][f].as_f64(),
            "{f}: {answer}"
        );
    }
    assert_eq!(
        answer["results"][at("trips_28d")]["statuses"][1],
        "NOT_FOUND",
        "{answer}"
    );
    let out = crate::serve::psql(
        server.pg_port,
        "pw-1",
        "SELECT sum(trips) FROM gold.fleet_daily",
    );
    let total_trips: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(
        total_trips,
        12 * 8,
        "every trip is counted once, on its start day"
    );
}

/// Copy a project folder (files only, one level of subfolders).
pub fn copy_project(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, dest).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Replace `from` by `to` in one file of the project (which must contain it).
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no '{from}'");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Start `strata registry` on the env's lake; its address.
fn start_registry(env: &Env, project: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = env
        .strata()
        .arg("--project")
        .arg(project)
        .args(["registry", "--http", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    (child, addr)
}

fn delta_versions(env: &Env, tables: &[&str]) -> Vec<Option<u64>> {
    tables
        .iter()
        .map(|t| delta_version(&env.lake().join(t.replace('.', "/"))))
        .collect()
}

/// A project changed on a live lake: a changed model is rebuilt alone, a new model builds
/// from history, a removed one stays until dropped; a new event type registered while
/// `strata run` is up is valid in Bronze within seconds and reaches the Silver table declared
/// for it once the project is reloaded.
#[test]
fn a_project_changes_on_a_live_lake() {
    let env = Env::new(1);
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("fleet");
    copy_project(&fleet_dir(), &project);
    let with = |args: &[&str]| {
        let mut c = env.strata();
        c.arg("--project").arg(&project).args(args);
        c
    };
    let (records, _) = fleet_events(9);
    let file = env.dir.path().join("fleet.jsonl");
    std::fs::write(&file, records).unwrap();
    succeed(with(&["produce", "--key", "vehicle_id"]).arg(&file));
    succeed(with(&["ingest", "--until-caught-up"]));
    succeed(with(&["run", "--once"]));
    let others = [
        "gold.vehicle_daily",
        "gold.vehicle_features",
        "silver.trips",
    ];
    let before = delta_versions(&env, &others);

    // A changed model: fleet_daily gains a column; it is rebuilt, nothing else is written.
    edit(
        &project,
        "gold/fleet_daily.sql",
        "sum(critical_alerts) AS critical_alerts",
        "sum(critical_alerts) AS critical_alerts, sum(alerts) AS alerts",
    );
    succeed(with(&["run", "--once"]));
    assert_eq!(
        delta_versions(&env, &others),
        before,
        "other tables were written"
    );
    let mismatched = env.count(
        "SELECT count(*) FROM gold.fleet_daily f JOIN (SELECT event_date, sum(alerts) AS a \
         FROM gold.vehicle_daily GROUP BY 1) v USING (event_date) WHERE f.alerts <> v.a",
    );
    assert_eq!(mismatched, 0, "the rebuilt model's new column");
    assert_eq!(
        env.count("SELECT count(*) FROM gold.fleet_daily"),
        env.count("SELECT count(DISTINCT event_date) FROM gold.vehicle_daily")
    );

    // A column added to a Silver table: the table is rebuilt from Bronze, so rows that
    // arrived before the change have it too; Gold reading it recomputes to the same values.
    let alerts_before =
        env.sql("SELECT event_date, vehicle_id, alerts FROM gold.vehicle_daily ORDER BY 1, 2");
    edit(
        &project,
        "silver/alerts.toml",
        "severity = \"string\"",
        "severity = \"string\"\ngateway = { type = \"string\", path = \"source\" }",
    );
    succeed(with(&["run", "--once"]));
    assert_eq!(
        env.count("SELECT count(*) FROM silver.alerts WHERE gateway IS NULL"),
        0
    );
    assert_eq!(env.count("SELECT count(*) FROM silver.alerts WHERE gateway = 'fleet-gateway'"),
               env.count("SELECT count(DISTINCT event_id) FROM bronze.events WHERE valid AND event_type = 'vehicle.alert'"));
    assert_eq!(
        env.sql("SELECT event_date, vehicle_id, alerts FROM gold.vehicle_daily ORDER BY 1, 2"),
        alerts_before
    );

    // A new model builds from its inputs' history.
    std::fs::write(
        project.join("gold/depot_daily.sql"),
        "/*\ngrain = [\"event_date\", \"depot\"]\n*/\n\
         SELECT event_date, depot, count(*) AS trips FROM silver.trips GROUP BY 1, 2\n",
    )
    .unwrap();
    succeed(with(&["run", "--once"]));
    assert_eq!(
        env.count("SELECT sum(trips) FROM gold.depot_daily"),
        env.count("SELECT count(*) FROM silver.trips")
    );

    // A removed model: its table stays until dropped.
    std::fs::remove_file(project.join("gold/depot_daily.sql")).unwrap();
    succeed(with(&["run", "--once"]));
    assert!(env.count("SELECT count(*) FROM gold.depot_daily") > 0);
    let out = with(&["drop", "gold.depot_daily"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let out = with(&["drop", "gold.vehicle_daily", "--yes"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is declared by project fleet"));
    succeed(with(&["drop", "gold.depot_daily", "--yes"]));
    assert!(!env.lake().join("gold/depot_daily").exists());

    // A new event type, registered while `strata run` is up.
    let (mut registry, addr) = start_registry(&env, &project);
    let mut run = with(&["run"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let schema_text = std::fs::read_to_string(project.join("events/vehicle.alert.v1.json"))
        .unwrap()
        .replace("vehicle.alert", "fuel.refilled");
    let mut schema: Value = serde_json::from_str(&schema_text).unwrap();
    schema["properties"]["payload"] = json!({"type": "object", "required": ["litres"],
        "properties": {"litres": {"type": "number", "minimum": 0}}, "additionalProperties": false});
    let (st, r) = crate::registry::http(
        &addr,
        "POST",
        "/subjects/fuel.refilled/versions",
        Some(json!({"schemaType": "JSON", "schema": schema.to_string()})),
    );
    assert_eq!(st, 200, "{r}");
    let refills: String = (0..20)
        .map(|i| {
            json!({"event_id": format!("fuel-{i:04}"), "event_type": "fuel.refilled",
                   "schema_version": 1, "occurred_at": chrono::Utc::now().to_rfc3339(),
                   "source": "pump", "tenant_id": "depot-1", "vehicle_id": format!("veh-{}", i % 4),
                   "payload": {"litres": 10.5 + f64::from(i)}})
            .to_string()
                + "\n"
        })
        .collect();
    let fuel = env.dir.path().join("fuel.jsonl");
    std::fs::write(&fuel, refills).unwrap();
    succeed(with(&["produce", "--key", "vehicle_id"]).arg(&fuel));
    wait_until(
        "the new type valid in Bronze",
        std::time::Duration::from_secs(180),
        || {
            (env.count(
                "SELECT count(*) FROM bronze.events WHERE event_type = 'fuel.refilled' AND valid",
            ) == 20)
                .then_some(())
        },
    );
    sigterm(&run);
    assert!(run.wait().unwrap().success());
    let _ = registry.kill();
    let _ = registry.wait();
    // The team declares it and a table for it; the reloaded project refines its history.
    std::fs::write(
        project.join("events/fuel.refilled.v1.json"),
        schema.to_string(),
    )
    .unwrap();
    std::fs::write(
        project.join("silver/refuels.toml"),
        "events = [\"fuel.refilled\"]\n[columns]\nvehicle_id = { type = \"string\", path = \"vehicle_id\" }\nlitres = \"float\"\n",
    )
    .unwrap();
    succeed(with(&["run", "--once"]));
    assert_eq!(env.count("SELECT count(*) FROM silver.refuels"), 20);
    assert_eq!(
        env.count("SELECT CAST(sum(litres) AS BIGINT) FROM silver.refuels"),
        400
    );
}

/// The tutorial (docs/writing-a-project.md) shows the fleet project's files as they are, so
/// what it teaches is what the suite runs.
#[test]
fn the_tutorial_shows_the_example_files_as_they_are() {
    let root = crate::harness::manifest_dir().join("..");
    let doc = std::fs::read_to_string(root.join("docs/writing-a-project.md")).unwrap();
    let mut shown = 0;
    for part in doc.split("<!-- file: ").skip(1) {
        let (path, rest) = part.split_once(" -->\n").unwrap();
        let body = rest.split_once("```").unwrap().1;
        let body = body.split_once('\n').unwrap().1;
        let body = &body[..body.find("\n```").unwrap() + 1];
        let file = std::fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(
            body, file,
            "docs/writing-a-project.md shows {path} differently"
        );
        shown += 1;
    }
    assert!(shown >= 6, "the tutorial shows {shown} files");
}
