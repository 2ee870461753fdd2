//! The configuration, its example file and its documentation agree.

use super::*;

#[test]
fn example_config_loads() {
    let path = manifest_dir().join("../strata.example.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.kafka.topics, ["agent-events", "gameplay-events"]);
    config.kafka.validate().unwrap();
    config.ingest.validate().unwrap();
    config.simulate.validate().unwrap();
    config.run.validate().unwrap();
    config.maintenance.validate().unwrap();
    // It says "these are the defaults": it must be.
    assert_eq!(config, Config::default());
}

#[test]
fn s3_settings_are_checked_and_become_storage_options() {
    let c = Config::parse(
        "[lake]\nuri = \"s3://b/p\"\n[lake.s3]\nendpoint = \"http://127.0.0.1:9000\"\n",
        "t",
    )
    .unwrap();
    let e = c.lake.validate().unwrap_err().to_string();
    assert!(e.contains("lake.s3.allow_http"), "{e}");
    let c = Config::parse(
        "[lake.s3]\nendpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\nallow_http = true\n",
        "t",
    )
    .unwrap();
    c.lake.validate().unwrap();
    let o = c.lake.storage_options();
    assert_eq!(o["aws_endpoint"], "http://127.0.0.1:9000");
    assert_eq!(o["aws_region"], "eu-west-1");
    assert_eq!(o["aws_allow_http"], "true");
    let e = Config::parse("[lake.s3]\nendpoint = \"not a url\"\n", "t")
        .unwrap()
        .lake
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("lake.s3.endpoint"), "{e}");
    assert!(Config::parse("[lake.s3]\nbucket = \"x\"\n", "t").is_err());
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let err = Config::parse("[kafka]\nbrokerz = \"x:1\"\n", "test.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("brokerz"), "{err}");
    let err = Config::parse("[ingest.batch]\nmax_recs = 5\n", "test.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_recs"), "{err}");
}

#[test]
fn bad_expectations_are_refused_naming_the_key() {
    let c = Config::parse(
        "[[quality.expectations]]\ntable = \"silver\"\nname = \"x\"\naction = \"warn\"\ncheck = { kind = \"not_null\", column = \"a\" }\n",
        "t",
    )
    .unwrap();
    let e = c.quality.expectations().unwrap_err().to_string();
    assert!(e.contains("quality.expectations[0].table"), "{e}");
    let e = Config::parse(
        "[[quality.expectations]]\ntable = \"silver.a\"\nname = \"x\"\naction = \"warn\"\ncheck = { kind = \"not_nul\", column = \"a\" }\n",
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not_nul"), "{e}");
}

fn doc_section_cells(doc: &str, heading_prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        if line.starts_with("## ") {
            inside = line.starts_with(heading_prefix);
            continue;
        }
        if inside && line.starts_with("| `") {
            let cell = line.split('|').nth(1).unwrap_or("");
            for part in cell.split('`').skip(1).step_by(2) {
                out.push(part.split('{').next().unwrap_or(part).to_string());
            }
        }
    }
    out
}

fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// docs/operations.md lists every config key and every metric, and nothing else.
#[test]
fn operations_doc_matches_the_config_keys_and_metrics() {
    let doc = std::fs::read_to_string(manifest_dir().join("../docs/operations.md")).unwrap();
    let documented = doc_section_cells(&doc, "## Configuration");
    let mut keys = Vec::new();
    leaves(
        "",
        &serde_json::to_value(Config::default()).unwrap(),
        &mut keys,
    );
    let covers = |d: &str, k: &str| {
        d == k
            || d.strip_suffix(".*")
                .is_some_and(|p| k.starts_with(&format!("{p}.")))
    };
    for k in &keys {
        assert!(
            documented.iter().any(|d| covers(d, k)),
            "config key {k} is not in docs/operations.md"
        );
    }
    for d in &documented {
        assert!(
            keys.iter().any(|k| covers(d, k)),
            "docs/operations.md lists {d}, which is not a config key"
        );
    }

    let documented: std::collections::BTreeSet<String> =
        doc_section_cells(&doc, "## Metrics").into_iter().collect();
    let rendered = exercised_metrics();
    let exported: std::collections::BTreeSet<String> = rendered
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        documented, exported,
        "metrics in docs/operations.md vs /metrics"
    );

    // The Grafana dashboard and the alert rules name only exported metrics, and the
    // dashboard shows every one.
    let root = manifest_dir().join("../deploy");
    for (file, covers_all) in [
        ("grafana/strata.json", true),
        ("prometheus/strata-alerts.yml", false),
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let used = metric_names(&text);
        for m in &used {
            assert!(
                exported.contains(m),
                "deploy/{file} uses {m}, which Strata does not export"
            );
        }
        if covers_all {
            let missing: Vec<_> = exported.difference(&used).collect();
            assert!(
                missing.is_empty(),
                "deploy/{file} does not show {missing:?}"
            );
        }
    }
}

/// `strata_*` metric names in a text, with `_sum`/`_count`/`_bucket` folded into their
/// histogram.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("strata_"))
        .map(|w| {
            w.strip_suffix("_sum")
                .or_else(|| w.strip_suffix("_count"))
                .or_else(|| w.strip_suffix("_bucket"))
                .unwrap_or(w)
                .to_string()
        })
        .collect()
}

/// Every metric family, each with at least one sample (labelled families appear in the
/// exposition only once they have a label set).
fn exercised_metrics() -> String {
    use strata_orchestration::runs::{RunRecord, RunStatus};
    let ingest = strata_ingest::Metrics::default();
    ingest.set_lag("t", 0, 1);
    let run = strata_orchestration::RunMetrics::default();
    run.pass();
    run.retry("silver.missions");
    run.set_freshness("silver.missions", 0.0);
    run.maintenance("silver.missions", "compact");
    run.untyped("silver.missions", &[("duration_s".into(), 1)]);
    let now = chrono::Utc::now();
    run.record(
        &RunRecord {
            run_id: "r".into(),
            job: "silver.missions".into(),
            started_at: now,
            ended_at: now,
            status: RunStatus::Succeeded,
            attempts: 1,
            input_versions: Vec::new(),
            output_version: Some(1),
            rows_in: 1,
            rows_out: 1,
            error: None,
        },
        "silver.missions",
    );
    let serve = strata_serve::metrics::ServeMetrics::default();
    serve.request("online", 200, 10);
    [
        ingest.render(),
        run.render(),
        serve.render(&[("player_features".to_string(), Some(3))]),
    ]
    .join("")
}

/// Every `STRATA_*` variable the binary reads is in docs/operations.md.
#[test]
fn every_environment_variable_is_documented() {
    let root = manifest_dir().join("..");
    let doc = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let mut sources = vec![root.join("cli/src")];
    let mut read = Vec::new();
    while let Some(dir) = sources.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("\"STRATA_").skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    if part[name.len()..].starts_with('"') && !name.is_empty() {
                        read.push(format!("STRATA_{name}"));
                    }
                }
            }
        }
    }
    assert!(read.len() > 10, "{read:?}");
    for v in read {
        assert!(
            doc.contains(&format!("`{v}`")),
            "{v} is not in docs/operations.md"
        );
    }
}

/// Secrets can live in files (mounted secrets) instead of strata.toml.
#[test]
fn tokens_and_password_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let password = dir.path().join("pg-password");
    std::fs::write(&tokens, "from-file-1\n\n  from-file-2  \n").unwrap();
    std::fs::write(&password, "s3cret pass\n").unwrap();
    let c = Config::parse(
        &format!(
            "[serve]\ntokens = [\"inline\"]\ntokens_file = \"{}\"\npg_password_file = \"{}\"\n",
            tokens.display(),
            password.display()
        ),
        "t",
    )
    .unwrap();
    let got = c.serve.resolved_tokens().unwrap();
    for t in ["inline", "from-file-1", "from-file-2"] {
        assert!(got.iter().any(|g| g == t), "{got:?}");
    }
    if std::env::var_os("STRATA_SERVE_PG_PASSWORD").is_none() {
        assert_eq!(
            c.serve.resolved_pg_password().unwrap().as_deref(),
            Some("s3cret pass")
        );
    }
    let missing = Config::parse("[serve]\ntokens_file = \"/nonexistent/tokens\"\n", "t").unwrap();
    let e = format!("{:#}", missing.serve.resolved_tokens().unwrap_err());
    assert!(e.contains("serve.tokens_file"), "{e}");
}

#[test]
fn empty_config_is_the_defaults() {
    assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
}

/// Retention keys are table patterns, refused at start when they are not.
#[test]
fn retention_keys_are_checked() {
    let c = Config::parse("[maintenance.retention_days]\n\"silver\" = 3\n", "t").unwrap();
    let e = format!("{:#}", c.maintenance.validate().unwrap_err());
    assert!(
        e.contains("maintenance.retention_days") && e.contains("'silver'"),
        "{e}"
    );
    let c = Config::parse(
        "[maintenance.retention_days]\n\"bronze.*\" = 400\n\"*\" = 730\n",
        "t",
    )
    .unwrap();
    c.maintenance.validate().unwrap();
    let r = c.maintenance.settings().retention;
    assert_eq!(r.days_for(&"bronze.events".parse().unwrap()), Some(400));
    assert_eq!(r.days_for(&"gold.player_daily".parse().unwrap()), Some(730));
}

#[test]
fn per_table_alerts_are_read_and_bad_ones_refused_by_key() {
    let c = Config::parse(
        "[alerts.tables.\"gold.*\"]\nwebhooks = [\"http://127.0.0.1:1/h\"]\nrepeat_after_s = 60\n\
         [alerts.tables.\"silver.agent_feedback\"]\nmute = [\"stale_table\"]\n",
        "t",
    )
    .unwrap();
    c.alerts.validate().unwrap();
    let settings = c.alerts.settings();
    let gold = settings.for_table("gold.player_daily").unwrap();
    assert_eq!(gold.repeat_after, Some(std::time::Duration::from_secs(60)));
    assert_eq!(gold.webhooks, ["http://127.0.0.1:1/h"]);
    let feedback = settings.for_table("silver.agent_feedback").unwrap();
    assert_eq!(
        feedback.mute,
        [strata_orchestration::alerts::AlertKind::StaleTable]
    );
    let e = Config::parse("[alerts.tables.x]\nmute = []\n", "t")
        .unwrap()
        .alerts
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("alerts.tables.\"x\""), "{e}");
    let e = Config::parse(
        "[alerts.tables.\"gold.a\"]\nwebhooks = [\"ftp://x\"]\n",
        "t",
    )
    .unwrap()
    .alerts
    .validate()
    .unwrap_err()
    .to_string();
    assert!(e.contains("alerts.tables.\"gold.a\".webhooks[0]"), "{e}");
    let e = Config::parse("[alerts.tables.\"gold.a\"]\nmute = [\"loud\"]\n", "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("loud") && e.contains("t"), "{e}");
}

/// The package directory cargo runs the tests in (a test binary built in another checkout of
/// the same commit is reused as fresh, so the build-time path may not exist).
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    )
}
