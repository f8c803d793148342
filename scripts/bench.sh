#!/usr/bin/env bash
# The benchmark command (README "Performance"): installs the Python baseline (prometheus_client) and openssl if
# missing, builds CloudRecBenchmarks in release mode and runs it. Arguments pass through, e.g.
#   scripts/bench.sh                      # everything (about 15 minutes after the build)
#   scripts/bench.sh --quick              # short runs, for a smoke test
#   scripts/bench.sh --sections scrape,churn --sizes 1000,10000
#   scripts/bench.sh --sections pollcpu   # CPU per status poll, every vendor over HTTP and HTTPS, against
#                                         # scripts/poll_reference.py (python3 standard library only), about 5 minutes
# The report is printed and written to .build/bench-results/report.md (figures) and results.json (raw numbers).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

if ! command -v openssl >/dev/null; then
  echo "== installing openssl (test CA for the HTTPS simulators)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends openssl >/dev/null
fi
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  echo "== installing prometheus_client (the Python baseline)"
  python3 -m pip install -q --disable-pip-version-check prometheus_client
fi

echo "== swift build -c release --product CloudRecBenchmarks"
swift build -c release --product CloudRecBenchmarks
bin="$(swift build -c release --show-bin-path)/CloudRecBenchmarks"

echo "== running (progress on stderr, report on stdout)"
exec "$bin" --out .build/bench-results "$@"
