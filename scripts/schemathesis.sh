#!/usr/bin/env bash
# Property-based test of the registration API against its OpenAPI document (api/openapi.yaml), with schemathesis:
# generated valid and invalid requests for every operation against a real exporter (three accounts, the API on, no
# vendor reachable). Fails on any 5xx, any answer the document does not describe (status, content type, body
# schema), and any invalid request the API accepts. Bounded: 100 examples per operation and phase (about 30 s on
# two cores), with a hard time limit. Usage: scripts/schemathesis.sh [path/to/cloudrec_exporter]
set -euo pipefail
cd "$(dirname "$0")/.."

binary="$(realpath "${1:-.build/debug/cloudrec_exporter}")"
examples="${SCHEMATHESIS_EXAMPLES:-100}"
token="schemathesis-token-0123456789abcdef"
work="$(mktemp -d /tmp/cloudrec-schemathesis.XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() {
  [ -n "${exporter:-}" ] && kill "$exporter" 2>/dev/null && wait "$exporter" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The vendors' endpoints are a closed local port: polls fail at once, the API is what is under test.
cat > "$work/config.yml" <<EOF
global: { poll_interval: 5m }
api: { token: $token, labels: [team, env] }
accounts:
  - { name: agora-st, vendor: agora, endpoint: "http://127.0.0.1:9", app_id: "0123456789abcdef0123456789abcdef", credentials: { customer_id: c, customer_secret: s } }
  - { name: zego-st, vendor: zego, endpoint: "http://127.0.0.1:9", app_id: 1, credentials: { server_secret: s } }
  - { name: tencent-st, vendor: tencent_trtc, endpoint: "http://127.0.0.1:9", region: ap-singapore, sdk_app_id: 1400000001, credentials: { secret_id: i, secret_key: k } }
EOF
# Most generated paths name a configured account (else nearly every case would stop at 404).
cat > "$work/schemathesis.toml" <<EOF
[dictionaries.accounts]
values = ["agora-st", "zego-st", "tencent-st"]

[parameters]
"path.account" = { dictionary = "accounts", probability = 0.8 }
EOF

"$binary" --config.file "$work/config.yml" --storage.path "$work/data/c.db" \
  --web.listen-address "127.0.0.1:$port" --log.level error &
exporter=$!
for _ in $(seq 1 100); do
  python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "http://127.0.0.1:$port/-/ready" 2>/dev/null && break
  sleep 0.1
done

start=$(date +%s)
status=0
spec="$PWD/api/openapi.yaml"
cd "$work"  # schemathesis keeps its cache (.schemathesis/) in the working directory
timeout 120 schemathesis --config-file "$work/schemathesis.toml" run "$spec" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $token" \
  --checks "${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection}" \
  --phases examples,coverage,fuzzing \
  --max-examples "$examples" --seed 12 --workers 1 \
  --suppress-health-check too_slow,filter_too_much || status=$?
kill -0 "$exporter" 2>/dev/null || { echo "schemathesis: the exporter died during the run"; status=1; }
echo "schemathesis: exit $status, $(( $(date +%s) - start )) s, $examples examples per operation and phase (seed 12)"
exit "$status"
