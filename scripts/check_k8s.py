"""Static check of the Kubernetes manifests in deploy/k8s (no cluster needed).

usage: check_k8s.py DIR     prints {"errors": [...], "deployments": [{"name", "args"}], "config": PATH,
                                    "rendered": [KIND/NAME, ...], "validated_against": VERSION}

Renders the kustomization as `kubectl apply -k` would for the transformers it uses (namespace,
common labels, image names, the config map generated from strata.toml with its content-hash
suffix and the references to it), then validates every rendered object against the Kubernetes
OpenAPI schemas (kubernetes-validate, strict: unknown fields are errors) of the oldest
Kubernetes minor version we support. ServiceMonitor (a Prometheus Operator CRD, whose schema
that package does not carry) is checked field by field below.

Checks that the kustomization lists every manifest and generates the config the pods load;
that every Deployment runs the `strata` image as non-root with a read-only root filesystem,
resource requests and limits, and liveness/readiness probes on a declared port; that every
volume mount has its volume and every Service targets a port its pods declare; that the
ServiceMonitor scrapes every pod that exports metrics; and that the
ports and file paths in strata.toml are the ones the pods expose and mount.
"""
import copy
import hashlib
import json
import sys
import tomllib
from pathlib import Path

import kubernetes_validate
import yaml

KUBERNETES = "1.29"

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



def render():
    """The kustomization's output: the resources with its transformers applied."""
    objs = [copy.deepcopy(d) for d in docs]
    for g in kust.get("configMapGenerator", []):
        data = {f: (root / f).read_text() for f in g.get("files", [])}
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"{g['name']}-{digest}"}, "data": data})
    generated_names = {g["name"]: o["metadata"]["name"] for g, o in
                       zip(kust.get("configMapGenerator", []), objs[len(docs):])}
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kust.get("images", [])}
    pairs = {k: v for l in kust.get("labels", []) for k, v in l["pairs"].items()}
    for o in objs:
        meta = o.setdefault("metadata", {})
        if o["kind"] != "Namespace" and kust.get("namespace"):
            meta["namespace"] = kust["namespace"]
        meta.setdefault("labels", {}).update(pairs)
        pod = o.get("spec", {}).get("template", {}).get("spec") if o["kind"] == "Deployment" else None
        if pod:
            o["spec"]["template"]["metadata"].setdefault("labels", {}).update(pairs)
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                c["image"] = images.get(c["image"], c["image"])
            for v in pod.get("volumes", []):
                cm = v.get("configMap")
                if cm and cm["name"] in generated_names:
                    cm["name"] = generated_names[cm["name"]]
    return objs


rendered = render()
for o in rendered:
    name = f"{o['kind']}/{o['metadata']['name']}"
    if o["kind"] == "ServiceMonitor":
        continue
    try:
        kubernetes_validate.validate(o, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = "/".join(str(p) for p in e.path)
        errors.append(f"{name}: {where}: {e.message} (Kubernetes {KUBERNETES} schema)")
    except kubernetes_validate.SchemaNotFoundError:
        errors.append(f"{name}: no Kubernetes {KUBERNETES} schema for {o['apiVersion']} {o['kind']}")
for o in rendered:
    if o["kind"] == "Deployment":
        for c in o["spec"]["template"]["spec"]["containers"]:
            if c["image"] in image_names:
                errors.append(f"Deployment/{o['metadata']['name']}: image {c['image']} not rewritten")
        for v in o["spec"]["template"]["spec"].get("volumes", []):
            cm = v.get("configMap", {}).get("name")
            if cm and cm not in {x["metadata"]["name"] for x in rendered if x["kind"] == "ConfigMap"} \
                    and not cm.startswith("strata-"):
                errors.append(f"Deployment/{o['metadata']['name']}: config map {cm} is not generated")

print(json.dumps({"errors": errors, "deployments": out, "config": str(config_path),
                  "rendered": [f"{o['kind']}/{o['metadata']['name']}" for o in rendered],
                  "validated_against": KUBERNETES}))
