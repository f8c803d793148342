#!/usr/bin/env bash
# Proof that the release artifacts work for a user without a Swift toolchain (called by scripts/test.sh):
#   1. scripts/release.sh builds the tarball and the .deb (CI: --build debug, see release.sh);
#   2. a minimal Debian 12 root (debootstrap --variant=minbase), cached in /var/cache/cloudrec_exporter between runs
#      on one machine and made afresh on a new one, is copied once per artifact;
#   3. .deb: `apt-get install ./cloudrec-exporter_*.deb` in the root installs it with its declared Depends and
#      nothing else (no recommends); the user, conffile and unit are checked; the exporter runs inside (chroot, as
#      the cloudrec user, from /var/lib/cloudrec_exporter like the systemd unit) on --demo and on the packaged
#      /etc/cloudrec_exporter/config.yml (then a SIGHUP reload); /metrics must answer and pass
#      `promtool check metrics`; then the package is purged;
#   4. tarball: in a second fresh root, only the packages README "Deployment" tells tarball users to install, then
#      the tarball's binary on --demo and on a config file with a vendor account;
#   5. examples/Dockerfile's runtime stage installs exactly the .deb's Depends (scripts/check_dockerfile.py).
# Usage: bash scripts/check_release.sh [--build debug|release]   (default: debug, the quick CI path)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)

mode=debug
case "${1:-}" in
  --build) mode=${2:?--build needs release or debug} ;;
  --build=*) mode=${1#--build=} ;;
  "") ;;
  *) echo "check_release.sh: unknown argument $1" >&2; exit 2 ;;
esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] || { echo "check_release.sh: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/cloudrec-release-check.XXXXXX)
mounts=()
pids=()
cleanup() {
  local status=$? pid i
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for (( i=${#mounts[@]}-1; i>=0; i-- )); do
    umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null || true
  done
  # Remove the copies only once nothing is mounted in them any more (rm -rf must never reach the host's /dev).
  if ! grep -q " $work/" /proc/mounts; then rm -rf "$work"; else echo "check_release.sh: left $work (still mounted)" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. artifacts -----------------------------------------------------------------------------------------------
revision=$(git rev-parse HEAD)   # what release.sh stamps (with -dirty when tracked files have changes)
bash scripts/release.sh --build "$mode" --out dist
arch=$(dpkg --print-architecture)
deb=$(ls dist/cloudrec-exporter_*_"$arch".deb)
tarball=$(ls dist/cloudrec_exporter-*.linux-"$arch".tar.gz)
(cd dist && sha256sum --quiet -c sha256sums.txt)
echo "== Depends of $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"

echo "== examples/Dockerfile runtime packages = the .deb's Depends"
python3 scripts/check_dockerfile.py examples/Dockerfile "$deb"

# ---- 2. a minimal Debian 12 root, cached ------------------------------------------------------------------------
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_dir=${CLOUDREC_ROOT_CACHE:-/var/cache/cloudrec_exporter}   # override to test the uncached path
# Keyed by suite, variant and architecture; rebuilt when older than a week so package lists stay current.
cache=$cache_dir/debootstrap-$suite-minbase-$arch
if [ -f "$cache/.complete" ] && [ -z "$(find "$cache/.complete" -mtime +7)" ]; then
  echo "== minimal $suite root: cached in $cache ($(date -u -r "$cache/.complete" +%Y-%m-%d))"
else
  step=$(date +%s)
  echo "== minimal $suite root: debootstrap --variant=minbase $suite into $cache"
  mkdir -p "$cache_dir"
  rm -rf "$cache" "$cache.tmp"
  debootstrap --variant=minbase "$suite" "$cache.tmp" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; rm -rf "$cache.tmp"; exit 1; }
  cp /etc/resolv.conf "$cache.tmp/etc/resolv.conf"
  chroot "$cache.tmp" apt-get update -qq
  chroot "$cache.tmp" apt-get clean
  touch "$cache.tmp/.complete"
  mv "$cache.tmp" "$cache"
  echo "   done in $(( $(date +%s) - step ))s"
fi

# new_root NAME: a fresh copy of the cached root in $r, with /proc and /dev mounted (unmounted by the trap on every
# exit path; not called in $(...), so that the trap sees the mounts).
new_root() {
  r=$work/$1
  cp -a "$cache" "$r"
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  mount -t proc proc "$r/proc" && mounts+=("$r/proc")
  mount --bind /dev "$r/dev" && mounts+=("$r/dev")
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run_and_scrape NAME ROOT USER:GROUP DIR ARGS... : starts the exporter inside ROOT (working directory DIR) on a free
# loopback port, waits for /-/ready, scrapes /metrics into $work/NAME.prom and runs promtool check metrics on it.
# Leaves the exporter running; its pid is in $exporter_pid and its port in $port.
run_and_scrape() {
  local name=$1 dir=$2 user=$3 cwd=$4; shift 4
  port=$(free_port)
  chroot --userspec="$user" "$dir" /usr/bin/env -i PATH=/usr/bin:/bin HOME="$cwd" \
    /bin/sh -c 'cd "$0" && exec "$@"' "$cwd" "$@" --web.listen-address="127.0.0.1:$port" \
    >"$work/$name.log" 2>&1 &
  exporter_pid=$!
  pids+=("$exporter_pid")
  local i
  for i in $(seq 1 120); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/-/ready" 2>/dev/null; then break; fi
    if ! kill -0 "$exporter_pid" 2>/dev/null; then
      echo "check_release.sh: $name: the exporter exited:" >&2; cat "$work/$name.log" >&2; return 1
    fi
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null \
    || { echo "check_release.sh: $name: not ready after 60s" >&2; cat "$work/$name.log" >&2; return 1; }
  [ "$name" = "${name%demo}" ] || sleep 3   # the demo's first polls
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/$name.prom"
  promtool check metrics <"$work/$name.prom" \
    || { echo "check_release.sh: $name: promtool check metrics failed" >&2; return 1; }
  echo "   $name: /metrics answered ($(grep -vc '^#' "$work/$name.prom") samples), promtool check metrics: ok"
}

stop_exporter() {
  kill -TERM "$exporter_pid"
  wait "$exporter_pid" || { echo "check_release.sh: the exporter did not exit cleanly on SIGTERM" >&2; cat "$work/$1.log" >&2; return 1; }
}

expect_metric() {  # expect_metric NAME REGEX
  grep -Eq "$2" "$work/$1.prom" || { echo "check_release.sh: $1: no line matches /$2/ in /metrics:" >&2
    grep -v '^#' "$work/$1.prom" | head -40 >&2; return 1; }
}

# ---- 3. the .deb in a clean root --------------------------------------------------------------------------------
step=$(date +%s)
echo "== .deb in a clean $suite root"
new_root deb
chroot "$r" dpkg-query -W -f='${Package}\n' | sort >"$work/before.txt"
cp "$deb" "$r/tmp/"
chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "/tmp/$(basename "$deb")" >"$work/apt-deb.log" 2>&1 || { cat "$work/apt-deb.log" >&2; exit 1; }
chroot "$r" dpkg-query -W -f='${Package}\n' | sort >"$work/after.txt"
echo "   installed: $(comm -13 "$work/before.txt" "$work/after.txt" | tr '\n' ' ')"
chroot "$r" getent passwd cloudrec | grep -q ':/var/lib/cloudrec_exporter:/usr/sbin/nologin$' \
  || { echo "check_release.sh: no cloudrec system user" >&2; exit 1; }
[ "$(chroot "$r" stat -c '%U:%G %a' /etc/cloudrec_exporter/config.yml)" = "root:cloudrec 640" ] \
  || { echo "check_release.sh: /etc/cloudrec_exporter/config.yml has the wrong owner or mode" >&2; exit 1; }
chroot "$r" dpkg-query -W -f='${Conffiles}\n' cloudrec-exporter | grep -q '^ /etc/cloudrec_exporter/config.yml ' \
  || { echo "check_release.sh: config.yml is not a conffile" >&2; exit 1; }
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$r/lib/systemd/system/cloudrec_exporter.service"
chroot "$r" cloudrec_exporter --version | tee "$work/version.txt" | sed 's/^/   /'
grep -q "revision: $revision" "$work/version.txt" \
  || { echo "check_release.sh: --version does not name revision $revision" >&2; exit 1; }
chroot --userspec=cloudrec:cloudrec "$r" cloudrec_exporter check-config /etc/cloudrec_exporter/config.yml >/dev/null

run_and_scrape deb-demo "$r" cloudrec:cloudrec /var/lib/cloudrec_exporter /usr/bin/cloudrec_exporter --demo
expect_metric deb-demo '^cloudrec_task_status\{'
expect_metric deb-demo "^cloudrec_exporter_build_info\{.*revision=\"$revision"
stop_exporter deb-demo

run_and_scrape deb-config "$r" cloudrec:cloudrec /var/lib/cloudrec_exporter \
  /usr/bin/cloudrec_exporter --config.file=/etc/cloudrec_exporter/config.yml
# The unit's ExecReload command, run in the root (its /bin/kill comes from the Depends).
chroot "$r" /bin/kill -HUP "$exporter_pid"
for i in $(seq 1 40); do
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/deb-config.prom"
  grep -Eq '^cloudrec_config_reloads_total\{result="success"\} 1' "$work/deb-config.prom" && break
  sleep 0.25
done
expect_metric deb-config '^cloudrec_config_reloads_total\{result="success"\} 1'
echo "   deb-config: /bin/kill -HUP (the unit's ExecReload) reloaded the configuration"
stop_exporter deb-config
# The task database where the unit's working directory puts it, owned by the service user (names resolved in the root).
db_owner=$(chroot "$r" stat -c %U /var/lib/cloudrec_exporter/data/cloudrec.db 2>/dev/null || true)
[ "$db_owner" = cloudrec ] || { echo "check_release.sh: no task database owned by cloudrec in /var/lib/cloudrec_exporter/data" >&2
  ls -laR "$r/var/lib/cloudrec_exporter" >&2; exit 1; }
echo "   deb-config: task database /var/lib/cloudrec_exporter/data/cloudrec.db, owned by cloudrec"

chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq cloudrec-exporter >"$work/purge.log" 2>&1 \
  || { cat "$work/purge.log" >&2; exit 1; }
for gone in /usr/bin/cloudrec_exporter /etc/cloudrec_exporter /var/lib/cloudrec_exporter; do
  [ ! -e "$r$gone" ] || { echo "check_release.sh: $gone is left after purge" >&2; exit 1; }
done
echo "   purge: binary, configuration and state removed"
echo "   .deb checks: $(( $(date +%s) - step ))s"

# ---- 4. the tarball in a clean root -----------------------------------------------------------------------------
step=$(date +%s)
echo "== tarball in a clean $suite root"
new_root tarball
# The packages README "Deployment" tells tarball users to install; they must be the .deb's Depends.
readme_packages=$(sed -n 's/^sudo apt-get install --no-install-recommends \(.*\)  # tarball runtime dependencies$/\1/p' README.md \
  | tr ' ' '\n' | grep . | sort)
[ -n "$readme_packages" ] || { echo "check_release.sh: README has no tarball dependency line" >&2; exit 1; }
if [ "$readme_packages" != "$(grep -vx passwd dist/runtime-depends.txt | sort)" ]; then
  echo "check_release.sh: README's tarball dependencies differ from the .deb's Depends (less passwd):" >&2
  diff <(echo "$readme_packages") <(grep -vx passwd dist/runtime-depends.txt | sort) >&2 || true
  exit 1
fi
# shellcheck disable=SC2086
chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $readme_packages \
  >"$work/apt-tar.log" 2>&1 || { cat "$work/apt-tar.log" >&2; exit 1; }
tar -xzf "$tarball" -C "$r/opt"
bindir=/opt/$(basename "$tarball" .tar.gz)
mkdir -p "$r/tmp/cloudrec"
chown nobody:nogroup "$r/tmp/cloudrec"
# A config with a vendor account whose endpoint refuses connections: the poller runs and counts the failures.
cat >"$r/tmp/cloudrec/config.yml" <<'EOF'
global:
  poll_interval: 1s
  request_timeout: 2s
accounts:
  - name: zego-check
    vendor: zego
    app_id: 1234567890
    endpoint: http://127.0.0.1:9
    credentials:
      server_secret: "0123456789abcdef0123456789abcdef"
tasks:
  - account: zego-check
    id: "check-task-1"
EOF
chmod 0644 "$r/tmp/cloudrec/config.yml"
run_and_scrape tar-demo "$r" nobody:nogroup /tmp/cloudrec "$bindir/cloudrec_exporter" --demo
expect_metric tar-demo '^cloudrec_task_status\{'
# examples/Dockerfile's HEALTHCHECK script, on the same kind of Debian root (its port swapped for ours).
healthcheck=$(python3 scripts/check_dockerfile.py --healthcheck examples/Dockerfile)
chroot --userspec=nobody:nogroup "$r" /bin/bash -c "${healthcheck//9877/$port}" \
  || { echo "check_release.sh: examples/Dockerfile's HEALTHCHECK fails against a healthy exporter" >&2; exit 1; }
echo "   examples/Dockerfile's HEALTHCHECK: ok"
stop_exporter tar-demo
run_and_scrape tar-config "$r" nobody:nogroup /tmp/cloudrec "$bindir/cloudrec_exporter" \
  --config.file=/tmp/cloudrec/config.yml --storage.path=/tmp/cloudrec/state.db
# Connection refused ends as transport_error or timeout (the client retries the connect within request_timeout).
failed='^cloudrec_api_requests_total\{[^}]*account="zego-check"[^}]*outcome="(transport_error|timeout)"[^}]*\} [1-9]'
for i in $(seq 1 30); do
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/tar-config.prom"
  grep -Eq "$failed" "$work/tar-config.prom" && break
  sleep 0.5
done
promtool check metrics <"$work/tar-config.prom"
expect_metric tar-config "$failed"
echo "   tar-config: the poller called the account's (refusing) endpoint and counted the failed calls"
stop_exporter tar-config
echo "   tarball checks: $(( $(date +%s) - step ))s"

echo "== release check passed in $(( $(date +%s) - started ))s ($mode build)"
