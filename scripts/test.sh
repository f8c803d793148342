#!/usr/bin/env bash
# The test command (README "Run the tests"; .ci/run calls exactly this). It installs what the tests need on a
# fresh Debian machine (promtool, Prometheus, Alertmanager, the vendors' Python SDKs for signature cross-checks and
# as clients of the simulators), then checks the alert rules, dashboards and Kubernetes manifests, builds, runs the
# official SDK clients against the simulators (scripts/sdk_clients/), the end-to-end test (scripts/e2e.sh: real
# Prometheus and Alertmanager against the demo), schemathesis against the registration API, checks the release
# artifacts in a clean Debian root (scripts/check_release.sh), then `swift test`: unit tests in parallel,
# integration tests one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_packages=()
command -v promtool >/dev/null || apt_packages+=(prometheus)
command -v prometheus-alertmanager >/dev/null || apt_packages+=(prometheus-alertmanager)
dpkg -s zlib1g-dev >/dev/null 2>&1 || apt_packages+=(zlib1g-dev)
dpkg -s libsqlite3-dev >/dev/null 2>&1 || apt_packages+=(libsqlite3-dev)
dpkg -s libcrypt-dev >/dev/null 2>&1 || apt_packages+=(libcrypt-dev)
command -v openssl >/dev/null || apt_packages+=(openssl)
command -v curl >/dev/null || apt_packages+=(curl)
# PostgreSQL 15 for scripts/postgres.sh (a throwaway server for the HA test, scripts/check_ha.py).
[ -x /usr/lib/postgresql/15/bin/postgres ] || apt_packages+=(postgresql)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${apt_packages[*]}"
  as_root apt-get update -qq
  # No recommends: prometheus would otherwise pull node-exporter and smartmontools.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

pip_packages=(PyYAML requests openapi-spec-validator schemathesis kubernetes-validate tencentcloud-sdk-python-common
              tencentcloud-sdk-python-trtc alibabacloud-openapi-util alibabacloud-tea-openapi alibabacloud-live20161101
              alibabacloud-ice20201109)
missing_pip=()
for p in "${pip_packages[@]}"; do python3 -m pip show -q "$p" >/dev/null 2>&1 || missing_pip+=("$p"); done
if [ ${#missing_pip[@]} -gt 0 ]; then
  echo "== installing Python packages: ${missing_pip[*]}"
  python3 -m pip install -q --disable-pip-version-check "${missing_pip[@]}"
fi

echo "== alert rules: promtool check + unit tests"
bash alerts/check.sh

echo "== signature vectors recomputed with the vendors' official Python SDKs"
for script in scripts/sdk_vectors/*.py; do
  [ -f "$script" ] || continue
  python3 "$script" --check
done

echo "== OpenAPI document of the registration API"
python3 -c "from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; validate(read_from_filename('api/openapi.yaml')[0]); print('api/openapi.yaml: valid')"

echo "== Kubernetes manifests: offline schema validation"
python3 scripts/check_kubernetes.py

echo "== swift test"
swift build --build-tests
# A throwaway PostgreSQL on loopback: the task store suite runs against it as well as SQLite
# (Tests/CloudRecIntegrationTests/TaskStoreContractTests.swift). scripts/check_ha.py starts its own.
pg_dir=$(mktemp -d /tmp/cloudrec-pg.XXXXXX)
bash scripts/postgres.sh start "$pg_dir"
trap 'bash scripts/postgres.sh stop "$pg_dir" >/dev/null 2>&1 || true' EXIT
CLOUDREC_TEST_POSTGRES_URL=$(bash scripts/postgres.sh url "$pg_dir")
CLOUDREC_TEST_POSTGRES_PASSWORD=$(cat "$pg_dir/password")
export CLOUDREC_TEST_POSTGRES_URL CLOUDREC_TEST_POSTGRES_PASSWORD
echo "== the vendors' official SDK clients against the simulators (docs/vendors/fidelity.md)"
python3 scripts/sdk_clients/check_simulators.py --binary "$(swift build --show-bin-path)/cloudrec_exporter"
bash scripts/e2e.sh  # real Prometheus + Alertmanager against the demo; prints its duration
# Again with global.task_series: attention: abnormal exits and upload failures still page with their task_id.
E2E_TASK_SERIES=attention bash scripts/e2e.sh
echo "== high availability: 3 replicas on PostgreSQL (kill -9 failover x10, rolling restart, database outage, latency)"
python3 scripts/check_ha.py --kills 10 2>&1 | tee .build/ha-report.txt
echo "== schemathesis: the registration API against api/openapi.yaml (generated requests, bounded)"
bash scripts/schemathesis.sh
# Release artifacts (tarball, .deb) installed and run in a clean debootstrapped Debian 12 root; the Dockerfile's runtime
# packages against the .deb's Depends. --build debug relinks the debug build above with the Swift runtime static
# (a cold release build takes far longer; README "Deployment"). Prints its duration.
bash scripts/check_release.sh --build debug
# Unit tests in parallel; integration tests one at a time: several of them measure time (scrape p99 under faults,
# the healthy account's poll rate, recovery within one poll interval, soak RSS slope) and must not share the two
# cores with each other. Reports: .build/fault-report.txt, .build/soak-report.txt.
swift test --skip-build --filter CloudRecUnitTests 2>&1 | tee .build/swift-test.log
swift test --skip-build --no-parallel --filter CloudRecIntegrationTests 2>&1 | tee -a .build/swift-test.log
echo "== figures"
for report in .build/fault-report.txt .build/soak-report.txt; do [ -f "$report" ] && { cat "$report"; echo; }; done; true
