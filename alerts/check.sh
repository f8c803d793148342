#!/usr/bin/env bash
# Validate the alerting/recording rules:
#   1. promtool check rules   on every alerts/*.yml rules file (syntax, PromQL, lint);
#   2. promtool test rules    on every alerts/tests/*.yml unit-test file;
#   3. coverage: every alert name in the rules files has at least one alert_rule_test that expects it to fire
#      and one that expects it to stay silent (exp_alerts empty);
#   4. conventions: severity is page|warning; summary, description and runbook_url are set; runbook_url points
#      at alerts/runbooks.md#<alertname lower-case> and that heading exists;
#   5. generated files are up to date: the SLO rules and the fleet profile from alerts/objectives/slo.yml
#      (scripts/gen_slo_rules.py --check), examples/kubernetes/prometheusrule*.yaml (scripts/gen_prometheusrule.py
#      --check) and dashboards/*.json (scripts/gen_dashboards.py --check).
# Needs promtool on PATH and python3 with PyYAML (Debian: python3-yaml).
set -euo pipefail

cd "$(dirname "$0")/.."

PROMTOOL="${PROMTOOL:-promtool}"
rules=(alerts/*.rules.yml alerts/fleet/*.rules.yml)
tests=(alerts/tests/*.yml)

echo "== promtool check rules"
"$PROMTOOL" check rules "${rules[@]}"

echo "== promtool test rules"
"$PROMTOOL" test rules "${tests[@]}"

echo "== coverage and conventions"
python3 - "${#rules[@]}" "${rules[@]}" "${tests[@]}" <<'PY'
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("PyYAML is required (apt-get install python3-yaml or pip install pyyaml)")

n = int(sys.argv[1])
rule_files, test_files = sys.argv[2:2 + n], sys.argv[2 + n:]
RUNBOOK_BASE = "https://github.com/cloudrec/cloudrec_exporter/blob/main/alerts/runbooks.md#"
errors = []

alerts = {}  # name -> file
for path in rule_files:
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert")
            if not name:
                continue
            alerts.setdefault(name, path)
            sev = (rule.get("labels") or {}).get("severity")
            if sev not in ("page", "warning"):
                errors.append(f"{path}: {name}: severity must be page or warning, got {sev!r}")
            ann = rule.get("annotations") or {}
            for key in ("summary", "description", "runbook_url"):
                if not str(ann.get(key, "")).strip():
                    errors.append(f"{path}: {name}: missing annotation {key}")
            want = RUNBOOK_BASE + name.lower()
            if ann.get("runbook_url") != want:
                errors.append(f"{path}: {name}: runbook_url should be {want}, got {ann.get('runbook_url')!r}")

fires, silent = set(), set()
for path in test_files:
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    for test in doc.get("tests", []):
        for case in test.get("alert_rule_test", []) or []:
            name = case.get("alertname")
            (fires if case.get("exp_alerts") else silent).add(name)
            if name not in alerts:
                errors.append(f"{path}: test for unknown alert {name!r}")

for name, path in sorted(alerts.items()):
    if name not in fires and name not in silent:
        errors.append(f"{path}: alert {name} has no test case in {', '.join(test_files)}")
        continue
    if name not in fires:
        errors.append(f"{path}: alert {name} has no test case where it fires")
    if name not in silent:
        errors.append(f"{path}: alert {name} has no test case where it stays silent")

try:
    with open("alerts/runbooks.md") as f:
        headings = {m.group(1).strip().lower() for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", f.read(), re.M)}
    for name in sorted(alerts):
        if name.lower() not in headings:
            errors.append(f"alerts/runbooks.md: no section titled {name}")
except FileNotFoundError:
    errors.append("alerts/runbooks.md is missing")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"  SUCCESS: {len(alerts)} alerts, each tested firing and silent, each with a runbook section")
PY

echo "== generated files"
python3 scripts/gen_slo_rules.py --check
python3 scripts/gen_prometheusrule.py --check
python3 scripts/gen_dashboards.py --check && echo "dashboards/*.json are up to date"
