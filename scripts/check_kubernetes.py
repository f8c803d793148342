#!/usr/bin/env python3
"""Offline validation of examples/kubernetes (run by scripts/test.sh; no cluster, no network).

- Built-in kinds (PersistentVolumeClaim, Deployment, Service) against the Kubernetes OpenAPI schemas that the
  `kubernetes-validate` package ships (PyPI), in strict mode (unknown fields are errors), run without network.
- The Prometheus Operator's CRDs have no schema there (kubernetes-validate skips them with a warning), so they are
  checked here instead: the ServiceMonitor selects the Service by its labels and names one of its ports, with valid
  durations and scrapeTimeout <= interval; the PrometheusRule's spec.groups passes `promtool check rules` (that it is
  generated from alerts/ is checked by alerts/check.sh). The Kustomization lists exactly the manifests in the folder
  but the alternative alert profiles (prometheusrule-<profile>.yaml), which replace prometheusrule.yaml.
- Cross-checks: the Service's targetPort is a named container port; the pod runs as the Dockerfile's non-root uid;
  the probes use /-/healthy (liveness) and /-/ready (readiness).
- examples/kubernetes/ha (high-availability mode) gets the same checks, and: a PodDisruptionBudget that selects the
  pods with maxUnavailable 1; at least two replicas; `--storage.url=$(CLOUDREC_STORAGE_URL)` and
  `--ha.replica-id=$(POD_NAME)` with every $(VAR) of the args defined in the container's env, the URL and
  CLOUDREC_STORAGE_PASSWORD from a Secret whose example (secret.example.yaml, placeholder values, not in the
  Kustomization) has those keys, POD_NAME from the downward API; none of the SQLite mode's flags.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

DIRS = ["examples/kubernetes", "examples/kubernetes/ha"]
HA_DIR = "examples/kubernetes/ha"
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule"),
             ("kustomize.config.k8s.io/v1beta1", "Kustomization")}
problems = []


def problem(message):
    problems.append(message)


def seconds(duration):
    parts = re.fullmatch(r"((\d+)h)?((\d+)m)?((\d+)s)?", duration or "")
    if not duration or not parts:
        return None
    return int(parts.group(2) or 0) * 3600 + int(parts.group(4) or 0) * 60 + int(parts.group(6) or 0)


def main():
    for directory in DIRS:
        check(directory)


def check(DIR):
    files = sorted(glob.glob(f"{DIR}/*.yaml"))
    docs = []  # (file, doc)
    for path in files:
        for doc in yaml.safe_load_all(open(path, encoding="utf-8")):
            if doc:
                docs.append((path, doc))
    by_kind = {}
    for path, doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)

    # Built-in kinds against the schemas, offline (a network namespace of our own when we may make one).
    builtin_files = sorted({path for path, doc in docs if (doc["apiVersion"], doc["kind"]) not in CRD_KINDS})
    command = ["kubernetes-validate", "--strict"] + builtin_files
    if os.geteuid() == 0 and shutil.which("unshare"):
        command = ["unshare", "--net"] + command
    run = subprocess.run(command, capture_output=True, text=True)
    output = (run.stdout + run.stderr).strip()
    print("\n".join("   " + line for line in output.splitlines()))
    if run.returncode != 0 or "WARN" in output or "ERROR" in output:
        problem(f"kubernetes-validate --strict failed (exit {run.returncode})")
    validated = len([1 for _, doc in docs if (doc["apiVersion"], doc["kind"]) not in CRD_KINDS])
    if output.count("passed") != validated:
        problem(f"kubernetes-validate passed {output.count('passed')} resources, expected {validated}")

    services = by_kind.get("Service", [])
    deployments = by_kind.get("Deployment", [])
    if len(services) != 1 or len(deployments) != 1:
        problem(f"{DIR}: expected one Service and one Deployment")
        return
    service, deployment = services[0], deployments[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container_ports = {p.get("name") for p in container.get("ports", [])}
    service_ports = {p.get("name"): p for p in service["spec"]["ports"]}
    for port in service_ports.values():
        if port.get("targetPort") not in container_ports and port.get("targetPort") not in [p["containerPort"] for p in container["ports"]]:
            problem(f"Service port {port.get('name')} targets {port.get('targetPort')}, which the container does not expose")
    if not set(service["spec"]["selector"].items()) <= set(deployment["spec"]["template"]["metadata"]["labels"].items()):
        problem("the Service's selector does not select the Deployment's pods")

    for monitor in by_kind.get("ServiceMonitor", []):
        labels = monitor["spec"]["selector"].get("matchLabels", {})
        if not labels or not set(labels.items()) <= set(service["metadata"].get("labels", {}).items()):
            problem("the ServiceMonitor's selector does not match the Service's labels")
        for endpoint in monitor["spec"].get("endpoints", []):
            if endpoint.get("port") not in service_ports:
                problem(f"ServiceMonitor endpoint port {endpoint.get('port')!r} is not a Service port name")
            interval, timeout = seconds(endpoint.get("interval", "30s")), seconds(endpoint.get("scrapeTimeout", "10s"))
            if interval is None or timeout is None:
                problem(f"ServiceMonitor endpoint has an invalid interval or scrapeTimeout: {endpoint}")
            elif timeout > interval:
                problem("ServiceMonitor scrapeTimeout is longer than its interval")
            if endpoint.get("path", "/metrics") != "/metrics":
                problem(f"ServiceMonitor scrapes {endpoint.get('path')}, the exporter serves /metrics")

    for rule in by_kind.get("PrometheusRule", []):
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
        try:
            run = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
            if run.returncode != 0:
                problem("PrometheusRule spec: promtool check rules failed:\n" + run.stdout + run.stderr)
            else:
                print("   PrometheusRule spec: " + run.stdout.strip().splitlines()[-1].strip())
        finally:
            os.unlink(f.name)

    # prometheusrule-<profile>.yaml are alternative alert profiles (README "Alerts for fleets"): a user lists one of
    # them instead of prometheusrule.yaml, so the Kustomization lists every other manifest and none of them.
    # <name>.example.yaml hold placeholder values (a Secret) that the user replaces: never listed either.
    profiles = sorted(os.path.basename(p) for p in files if re.fullmatch(r"prometheusrule-[a-z]+\.yaml", os.path.basename(p)))
    examples = sorted(os.path.basename(p) for p in files if os.path.basename(p).endswith(".example.yaml"))
    kustomizations = by_kind.get("Kustomization", [])
    if not kustomizations:
        problem(f"{DIR}: no kustomization.yaml")
    for kustomization in kustomizations:
        listed = sorted(kustomization.get("resources", []))
        present = sorted(os.path.basename(p) for p in files
                         if os.path.basename(p) != "kustomization.yaml" and os.path.basename(p) not in profiles + examples)
        if listed != present:
            problem(f"{DIR}/kustomization.yaml lists {listed}, the folder has {present} "
                    f"(alternative profiles: {profiles}, examples to fill in: {examples})")

    probes = {"livenessProbe": "/-/healthy", "readinessProbe": "/-/ready"}
    for probe, path in probes.items():
        got = (container.get(probe) or {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") not in container_ports:
            problem(f"{DIR}: the container's {probe} should GET {path} on a named container port, got {got}")

    if DIR == HA_DIR:
        check_ha(DIR, by_kind, deployment, container)

    security = deployment["spec"]["template"]["spec"].get("securityContext", {})
    dockerfile_user = [l.split()[1] for l in open("examples/Dockerfile", encoding="utf-8") if l.startswith("USER ")]
    if not security.get("runAsNonRoot") or not dockerfile_user or str(security.get("runAsUser")) != dockerfile_user[-1].split(":")[0]:
        problem(f"the pod's runAsUser {security.get('runAsUser')} is not the Dockerfile's USER {dockerfile_user}")


def check_ha(DIR, by_kind, deployment, container):
    """The high-availability example: several replicas on a shared PostgreSQL database, the URL and the password from
    a Secret, the replica id from the pod name, and a PodDisruptionBudget."""
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    if deployment["spec"].get("replicas", 1) < 2:
        problem(f"{DIR}: the Deployment should run at least two replicas")
    budgets = by_kind.get("PodDisruptionBudget", [])
    if len(budgets) != 1:
        problem(f"{DIR}: expected one PodDisruptionBudget")
    for budget in budgets:
        selector = budget["spec"].get("selector", {}).get("matchLabels", {})
        if not selector or not set(selector.items()) <= set(pod_labels.items()):
            problem(f"{DIR}: the PodDisruptionBudget does not select the Deployment's pods")
        if budget["spec"].get("maxUnavailable") != 1 or "minAvailable" in budget["spec"]:
            problem(f"{DIR}: the PodDisruptionBudget should allow one unavailable replica (maxUnavailable: 1)")

    args = container.get("args", [])
    env = {e["name"]: e for e in container.get("env", [])}
    for arg in args:
        for name in re.findall(r"\$\((\w+)\)", arg):
            if name not in env:
                problem(f"{DIR}: argument {arg!r} expands $({name}), which the container's env does not define")
    for flag, var in (("--storage.url", "CLOUDREC_STORAGE_URL"), ("--ha.replica-id", "POD_NAME")):
        if f"{flag}=$({var})" not in args:
            problem(f"{DIR}: the container should run with {flag}=$({var})")
    for arg in args:
        if re.match(r"--(storage\.path|shard|total-shards)\b", arg):
            problem(f"{DIR}: {arg!r} belongs to the SQLite mode and cannot be combined with --storage.url")
    field = env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    if field != "metadata.name":
        problem(f"{DIR}: POD_NAME should come from the downward API (fieldRef metadata.name), got {field!r}")

    secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
    for var in ("CLOUDREC_STORAGE_URL", "CLOUDREC_STORAGE_PASSWORD"):
        ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef")
        if not ref:
            problem(f"{DIR}: {var} should come from a Secret (secretKeyRef)")
            continue
        secret = secrets.get(ref.get("name"))
        if secret is None:
            problem(f"{DIR}: {var} reads Secret {ref.get('name')!r}, which has no example in the folder")
            continue
        data = {**secret.get("stringData", {}), **secret.get("data", {})}
        if ref.get("key") not in data:
            problem(f"{DIR}: {var} reads key {ref.get('key')!r} of Secret {ref.get('name')!r}, which the example lacks")
        elif var == "CLOUDREC_STORAGE_URL":
            url = data[ref["key"]]
            if not re.fullmatch(r"postgres://[^:@/]+@[^/]+/\w+\?sslmode=(verify-full|require|disable)", url):
                problem(f"{DIR}: the example database URL {url!r} should look like "
                        "postgres://USER@HOST:5432/DB?sslmode=verify-full, without a password")


main()
if problems:
    for message in problems:
        print(f"check_kubernetes.py: {message}", file=sys.stderr)
    sys.exit(1)
print(f"   {', '.join(DIRS)}: built-in kinds valid against the Kubernetes schemas (offline, strict); ServiceMonitor, "
      "PrometheusRule and Kustomization checked by hand (no CRD schemas offline); the HA example's flags, Secret, "
      "downward API and PodDisruptionBudget cross-checked")
