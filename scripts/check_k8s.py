"""Static check of the Kubernetes manifests in deploy/k8s (no cluster needed).

usage: check_k8s.py DIR     prints {"errors": [...], "deployments": [{"name", "args"}], "config": PATH}

Checks that the kustomization lists every manifest and generates the config the pods load;
that every Deployment runs the `strata` image as non-root with a read-only root filesystem,
resource requests and limits, and liveness/readiness probes on a declared port; that every
volume mount has its volume and every Service targets a port its pods declare; that the
ServiceMonitor scrapes every pod that exports metrics; and that the
ports and file paths in strata.toml are the ones the pods expose and mount.
"""
import json
import sys
import tomllib
from pathlib import Path

import yaml

root = Path(sys.argv[1])
errors = []
kust = yaml.safe_load((root / "kustomization.yaml").read_text())
files = sorted(p.name for p in root.glob("*.yaml") if p.name != "kustomization.yaml")
if sorted(kust.get("resources", [])) != files:
    errors.append(f"kustomization resources {kust.get('resources')} != manifests {files}")
generated = {g["name"]: g.get("files", []) for g in kust.get("configMapGenerator", [])}
config_path = root / "strata.toml"
config = tomllib.loads(config_path.read_text())
if "strata.toml" not in generated.get("strata-config", []):
    errors.append("configMapGenerator strata-config does not carry strata.toml")
image_names = {i["name"] for i in kust.get("images", [])}

docs = [d for f in files for d in yaml.safe_load_all((root / f).read_text()) if d]
deployments = [d for d in docs if d["kind"] == "Deployment"]


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


# Which config address each command listens on.
expected_ports = {
    "ingest": [port_of(config["ingest"]["metrics_addr"])],
    "run": [port_of(config["run"]["metrics_addr"])],
    "serve": [port_of(config["serve"]["http_addr"]), port_of(config["serve"]["pg_addr"])],
}
# Files each command reads at start: the pod must mount them.
kafka_files = [s["file"] for s in config["kafka"].get("secrets", {}).values() if "file" in s]
kafka_files += [v for k, v in config["kafka"].get("properties", {}).items() if k.endswith(".location")]
serve_files = [v for v in [config["serve"].get(k) for k in
               ("pg_password_file", "pg_tls_cert", "pg_tls_key", "tokens_file")] if v]
files_of = {"ingest": kafka_files, "serve": serve_files, "run": serve_files[-1:]}

out = []
for d in deployments:
    name = d["metadata"]["name"]
    spec = d["spec"]["template"]["spec"]
    labels = d["spec"]["template"]["metadata"]["labels"]
    if d["spec"]["selector"]["matchLabels"].items() - labels.items():
        errors.append(f"{name}: selector does not match the pod labels")
    if not spec.get("securityContext", {}).get("runAsNonRoot"):
        errors.append(f"{name}: pods must run as non-root")
    volumes = {v["name"] for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        where = f"{name}/{c['name']}"
        if c["image"] not in image_names:
            errors.append(f"{where}: image {c['image']} is not set by the kustomization")
        sc = c.get("securityContext", {})
        if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation", True):
            errors.append(f"{where}: needs readOnlyRootFilesystem and no privilege escalation")
        res = c.get("resources", {})
        if not {"cpu", "memory"} <= set(res.get("requests", {})) or not {"cpu", "memory"} <= set(res.get("limits", {})):
            errors.append(f"{where}: cpu and memory requests and limits are required")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe"):
            get = c.get(probe, {}).get("httpGet")
            if not get or get["port"] not in ports:
                errors.append(f"{where}: {probe} must be an httpGet on a declared port")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        for m in mounts.values():
            if m not in volumes:
                errors.append(f"{where}: volume mount {m} has no volume")
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        cfg = env.get("STRATA_CONFIG", "")
        if not any(cfg == f"{p}/strata.toml" and mounts[p] == "config" for p in mounts):
            errors.append(f"{where}: STRATA_CONFIG={cfg} is not the mounted strata.toml")
        command = c["args"][0]
        want = expected_ports.get(command, [])
        if sorted(ports.values())[: len(want)] != sorted(want) and sorted(want) != sorted(ports.values()):
            errors.append(f"{where}: ports {sorted(ports.values())} != strata.toml's {sorted(want)}")
        for p in files_of.get(command, []):
            if not any(p.startswith(m + "/") for m in mounts):
                errors.append(f"{where}: {p} (from strata.toml) is not under a mounted volume")
        out.append({"name": name, "args": c["args"]})

for s in (d for d in docs if d["kind"] == "Service"):
    sel = s["spec"]["selector"]
    targets = [d for d in deployments if sel.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    if not targets:
        errors.append(f"service {s['metadata']['name']} selects no Deployment")
    for p in s["spec"]["ports"]:
        names = {q["name"] for d in targets for c in d["spec"]["template"]["spec"]["containers"] for q in c.get("ports", [])}
        if p["targetPort"] not in names:
            errors.append(f"service {s['metadata']['name']}: targetPort {p['targetPort']} is not a pod port")

services = {s["metadata"]["name"]: s for s in docs if s["kind"] == "Service"}
for m in (d for d in docs if d["kind"] == "ServiceMonitor"):
    want = m["spec"]["selector"]["matchLabels"]
    picked = [s for s in services.values() if want.items() <= s["metadata"].get("labels", {}).items()]
    ports = {p["name"] for s in picked for p in s["spec"]["ports"]}
    if not picked:
        errors.append(f"servicemonitor {m['metadata']['name']} selects no Service")
    for e in m["spec"]["endpoints"]:
        if e["port"] not in ports:
            errors.append(f"servicemonitor {m['metadata']['name']}: port {e['port']} is on none of its Services")
    scraped = {s["spec"]["selector"]["app.kubernetes.io/name"] for s in picked}
    for d in deployments:
        annotated = d["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true"
        if annotated and d["metadata"]["labels"]["app.kubernetes.io/name"] not in scraped:
            errors.append(f"servicemonitor {m['metadata']['name']} misses {d['metadata']['name']}")

print(json.dumps({"errors": errors, "deployments": out, "config": str(config_path)}))
