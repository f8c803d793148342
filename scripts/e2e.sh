#!/usr/bin/env bash
# End-to-end test with real parts (scripts/test.sh runs it after `swift build --build-tests`):
#   1. promtool check rules / check config and amtool check-config on everything in alerts/ and examples/;
#   2. starts the exporter in demo mode (its vendor simulators on loopback), a real Prometheus (scrape and rule
#      evaluation every second, the shipped alerts/*.rules.yml), a real Alertmanager (group_wait 1s) and a
#      webhook receiver (scripts/e2e_driver.py receiver);
#   3. creates fresh tasks through the simulators' control API, drives abnormal exits (Agora, ZEGO) and an
#      upload failure (ZEGO) and asserts that CloudRecRecordingExitedAbnormally and CloudRecUploadFailed reach
#      the receiver with exactly the labels alertname, severity=page, vendor, account, task_id;
#   4. evaluates every PromQL query of every dashboard panel (and template variable) through Prometheus's HTTP
#      API: each must parse and return data (scripts/dashboard_queries.py --require-data), except that the queries of
#      the high-availability row (metrics of --storage.url mode only; this test runs SQLite) need only parse and run.
# Everything listens on 127.0.0.1, every wait is bounded, all processes are stopped and the temporary directory
# removed on exit. Needs: the debug build (.build/debug/cloudrec_exporter), prometheus, promtool,
# prometheus-alertmanager (or alertmanager), amtool, python3 with PyYAML.
#   E2E_KEEP=1 keeps the temporary directory (configs, logs, TSDB) for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0

EXPORTER="${EXPORTER:-.build/debug/cloudrec_exporter}"
PROMETHEUS="${PROMETHEUS:-prometheus}"
PROMTOOL="${PROMTOOL:-promtool}"
AMTOOL="${AMTOOL:-amtool}"
ALERTMANAGER="${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || echo prometheus-alertmanager)}"
TIMEOUT="${E2E_TIMEOUT:-60}"
# E2E_TASK_SERIES=attention runs the exporter with global.task_series: attention (only tasks that need a human have
# per-task series): the alerts must still reach Alertmanager with their task_id; the dashboard and gzip checks, which
# expect every task's series, run with the default (all) only.
TASK_SERIES="${E2E_TASK_SERIES:-all}"
driver=(python3 scripts/e2e_driver.py)

[ -x "$EXPORTER" ] || { echo "e2e: $EXPORTER is missing; run swift build first" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/cloudrec-e2e.XXXXXX")"
pids=()
names=()
cleanup() {
  local rc=$? i
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for i in "${!pids[@]}"; do
    for _ in $(seq 50); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ]; then
    for name in "${names[@]}"; do
      echo "---- last lines of $name.log" >&2
      tail -n 25 "$tmp/$name.log" >&2 || true
    done
  fi
  if [ -n "${E2E_KEEP:-}" ]; then echo "e2e: kept $tmp" >&2; else rm -rf "$tmp"; fi
  [ "$rc" -eq 0 ] || echo "e2e: FAILED after ${SECONDS}s" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, output in $tmp/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# step CMD...: runs CMD in the background and waits for it, so that SIGTERM/SIGINT stop the test at once.
step() {
  "$@" &
  pids+=($!)
  wait $!
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== e2e: static checks of alerts/ and examples/"
"$PROMTOOL" check rules alerts/*.rules.yml
python3 -c 'import sys, yaml; print(yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"]))' \
  examples/kubernetes/prometheusrule.yaml >"$tmp/prometheusrule-spec.yml"
"$PROMTOOL" check rules "$tmp/prometheusrule-spec.yml"
"$PROMTOOL" check config examples/prometheus.yml
"$AMTOOL" check-config examples/alertmanager.yml

echo "== e2e: starting the webhook receiver, Alertmanager, the exporter (--demo) and Prometheus"
start webhook "${driver[@]}" receiver --port-file "$tmp/webhook.port" --out "$tmp/webhook.jsonl"

am_port=$(free_port)
cat >"$tmp/alertmanager.yml" <<EOF
route:
  receiver: webhook
  group_by: [alertname, vendor, account, task_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:PORT/alerts
        send_resolved: false
EOF
"${driver[@]}" wait-log "$tmp/webhook.port" '^(\d+)$' --timeout 10 >/dev/null
sed -i "s/PORT/$(cat "$tmp/webhook.port")/" "$tmp/alertmanager.yml"
"$AMTOOL" check-config "$tmp/alertmanager.yml" >/dev/null
start alertmanager "$ALERTMANAGER" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/alertmanager" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address=
# Alertmanager must hold its port before the demo binds its simulators on ephemeral ports: free_port only found the
# port free, and a simulator could otherwise take it first (seen once: alerts were posted to a simulator, 404).
"${driver[@]}" wait-url "http://127.0.0.1:$am_port/-/ready" --timeout 30

# Polls every second: Agora answers status 20 (abnormal exit) for only a few seconds before it returns 404.
# With a task database, as in production (the storage panels and CloudRecStorageFailing need its metrics).
start exporter "$EXPORTER" --demo --demo.poll-interval 1s --demo.task-series "$TASK_SERIES" --web.listen-address 127.0.0.1:0 \
  --storage.path "$tmp/data/cloudrec.db"
exporter_addr=$("${driver[@]}" wait-log "$tmp/exporter.log" 'msg=listening address=(127\.0\.0\.1:\d+)' --timeout 30)
simulators=$("${driver[@]}" wait-log "$tmp/exporter.log" 'demo simulators running.*accounts="([^"]+)"' --timeout 30)
"${driver[@]}" wait-url "http://$exporter_addr/-/ready" --timeout 30

prom_port=$(free_port)
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/alerts/*.rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$am_port"]
scrape_configs:
  - job_name: cloudrec
    static_configs:
      - targets: ["$exporter_addr"]
EOF
"$PROMTOOL" check config "$tmp/prometheus.yml" >/dev/null
start prometheus "$PROMETHEUS" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
  --web.listen-address="127.0.0.1:$prom_port"
"${driver[@]}" wait-url "http://127.0.0.1:$prom_port/-/ready" --timeout 30
echo "  exporter $exporter_addr, simulators $simulators, Prometheus :$prom_port, Alertmanager :$am_port (${SECONDS}s)"

echo "== e2e: abnormal exit and upload failure -> Prometheus -> Alertmanager -> webhook"
step "${driver[@]}" drive --prometheus "http://127.0.0.1:$prom_port" --simulators "$simulators" \
  --webhook-log "$tmp/webhook.jsonl" --timeout "$TIMEOUT" --task-series "$TASK_SERIES"

if [ "$TASK_SERIES" = all ]; then
  echo "== e2e: every dashboard query parses and returns data"
  step python3 scripts/dashboard_queries.py --prometheus "http://127.0.0.1:$prom_port" --require-data

  echo "== e2e: gzip scrapes (joined from cached blocks) read by Python gzip, gzip -dc, curl, requests and promtool"
  step python3 scripts/check_gzip_readers.py --url "http://$exporter_addr/metrics"
fi

echo "== e2e: PASSED in ${SECONDS}s (task_series: $TASK_SERIES)"
