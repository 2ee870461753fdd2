//! The deployment files: the Kubernetes manifests pass the static check (scripts/check_k8s.py)
//! and every command they run and the configuration they load are accepted by this binary.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{json_output, python, scripts_dir, succeed};

fn deploy() -> PathBuf {
    crate::harness::manifest_dir().join("../deploy")
}

#[test]
fn kubernetes_manifests_pass_the_static_check_and_run_real_commands() {
    let Some(python) = python() else {
        panic!("STRATA_TEST_PYTHON is not set: run the suite with scripts/test");
    };
    let out = Command::new(python)
        .arg(scripts_dir().join("check_k8s.py"))
        .arg(deploy().join("k8s"))
        .output()
        .unwrap();
    let v = json_output(&out);
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    let deployments = v["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 4, "{v}");
    // Rendered as `kubectl apply -k` would and valid against the Kubernetes schemas: the
    // manifests plus the config map generated from strata.toml.
    let rendered: Vec<&str> = v["rendered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        rendered
            .iter()
            .any(|r| r.starts_with("ConfigMap/strata-config-")),
        "{v}"
    );
    assert!(rendered.len() >= 11, "{v}");
    assert_eq!(v["validated_against"], "1.29", "{v}");
    // The configuration the pods load is a valid one (every key known, every value valid);
    // `lineage` loads it and builds the job graph without touching a lake or a broker.
    let config = v["config"].as_str().unwrap();
    succeed(
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["--config", config, "lineage"])
            .env_remove("STRATA_CONFIG"),
    );
    // Every container's arguments are a command this binary knows.
    for d in deployments {
        let args: Vec<&str> = d["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        succeed(
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(&args)
                .arg("--help"),
        );
    }
}
