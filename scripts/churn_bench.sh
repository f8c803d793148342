#!/usr/bin/env bash
# Churn benchmark of issue 14: series per 1,000 recordings in a real Prometheus by global.task_series mode.
# Runs Benchmarks/churn/churn_bench.py (python3 stdlib only) against the built exporter; installs nothing.
#   scripts/churn_bench.sh [--rate 6 --start-seconds 120 --duration 60 --modes all,attention,none --json F]
#   EXPORTER=path/to/cloudrec_exporter (default .build/debug/cloudrec_exporter), PROMETHEUS=prometheus.
# About 10.5 minutes with the defaults on a 2-core machine (623 s measured). Loopback only; temp dirs and processes cleaned up.
set -euo pipefail
cd "$(dirname "$0")/.."
EXPORTER="${EXPORTER:-.build/debug/cloudrec_exporter}"
PROMETHEUS="${PROMETHEUS:-prometheus}"
PROMTOOL="${PROMTOOL:-promtool}"
missing=0
[ -x "$EXPORTER" ] || { echo "churn_bench: exporter $EXPORTER is missing (swift build, or set EXPORTER=)" >&2; missing=1; }
command -v "$PROMETHEUS" >/dev/null || { echo "churn_bench: $PROMETHEUS not found (apt-get install prometheus)" >&2; missing=1; }
command -v "$PROMTOOL" >/dev/null || { echo "churn_bench: $PROMTOOL not found (it comes with prometheus)" >&2; missing=1; }
command -v python3 >/dev/null || { echo "churn_bench: python3 not found" >&2; missing=1; }
[ "$missing" -eq 0 ] || exit 1
exec python3 Benchmarks/churn/churn_bench.py --exporter "$EXPORTER" --prometheus "$PROMETHEUS" "$@"
