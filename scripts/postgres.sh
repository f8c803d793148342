#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server on loopback for the HA test (scripts/check_ha.py) and for trying
# `serve --storage.url` by hand. DIR is a state directory of our own (created when missing):
#
#   scripts/postgres.sh start  DIR   initdb, a random free port on 127.0.0.1, database `cloudrec` owned by user
#                                    `cloudrec` with a random password (in DIR/password); returns once the server
#                                    accepts connections (pg_isready)
#   scripts/postgres.sh url    DIR   prints postgres://cloudrec@127.0.0.1:PORT/cloudrec?sslmode=disable
#   scripts/postgres.sh pause  DIR   outage: pg_ctl stop -m immediate (like a crash; the data stays)
#   scripts/postgres.sh resume DIR   starts it again on the same port and data directory, waits until it accepts
#   scripts/postgres.sh stop   DIR   pg_ctl stop -m fast, then deletes the data (KEEP_DATA=1 keeps it)
#   scripts/postgres.sh psql   DIR [ARGS...]   psql as the superuser, e.g. -c 'select * from pg_stat_activity'
#
# Needs Debian's `postgresql` package (binaries in /usr/lib/postgresql/15/bin; PG_BIN overrides). initdb refuses to
# run as root, so as root the server runs as the `postgres` user with its data in a directory of its own under /tmp
# (DIR/pgroot names it); otherwise under DIR/pg. Files in DIR: password, port, pgroot, postgres.log (a link to the
# server log). fsync is off: the data needs to survive a server stop, never a machine crash.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
READY_TIMEOUT=${PG_READY_TIMEOUT:-60}

usage() { echo "usage: $0 start|stop|url|pause|resume|psql DIR" >&2; exit 64; }
[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2

die() { echo "postgres.sh: $*" >&2; exit 1; }
[ -x "$PG_BIN/postgres" ] || die "no PostgreSQL server at $PG_BIN (apt-get install --no-install-recommends postgresql)"

# Runs a command as the server's owner: postgres when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pgroot() { cat "$dir/pgroot" 2>/dev/null || die "$dir holds no server (run: $0 start $dir)"; }
port() { cat "$dir/port" 2>/dev/null || die "$dir holds no server (run: $0 start $dir)"; }

# A port nobody listens on now (the kernel's choice for port 0); start retries when another process takes it first.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts the postmaster on the port in DIR/port. `pg_ctl start -w` returns once the server is up, or fails when the
# postmaster exits (e.g. its port was taken meanwhile); then pg_isready must answer over TCP before the deadline.
launch() {
  local root port deadline
  root=$(pgroot)
  port=$(port)
  if ! as_owner "$PG_BIN/pg_ctl" start -w -t "$READY_TIMEOUT" -D "$root/data" -l "$root/postgres.log" \
    -o "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$root/sock" >/dev/null; then
    tail -n 5 "$root/postgres.log" >&2 || true
    return 1
  fi
  deadline=$((SECONDS + READY_TIMEOUT))
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U postgres; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$root/postgres.log" >&2 || true
      die "the server on port $port did not accept connections within ${READY_TIMEOUT}s"
    fi
    sleep 0.1
  done
}

superuser_psql() {
  as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pgroot)/sock" -p "$(port)" -U postgres -d postgres "$@"
}

start() {
  mkdir -p "$dir"
  if [ -f "$dir/pgroot" ] && [ -d "$(cat "$dir/pgroot")/data" ]; then die "$dir already holds a server (stop it first)"; fi
  local root
  if [ "$(id -u)" = 0 ]; then
    root=$(mktemp -d /tmp/cloudrec-pg.XXXXXX)
    chown postgres: "$root"
  else
    root=$(cd "$dir" && pwd)/pg
    mkdir -p "$root"
  fi
  echo "$root" >"$dir/pgroot"
  as_owner mkdir -p "$root/sock"
  as_owner touch "$root/postgres.log"
  ln -sfn "$root/postgres.log" "$dir/postgres.log"
  as_owner "$PG_BIN/initdb" -D "$root/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --no-locale -E UTF8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  cat <<'CONF' | as_owner tee -a "$root/data/postgresql.conf" >/dev/null
# scripts/postgres.sh: a throwaway test server.
fsync = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
CONF
  local attempt
  for attempt in 1 2 3 4 5; do
    free_port >"$dir/port"
    if launch; then break; fi
    [ "$attempt" -lt 5 ] || die "the server did not start (log: $dir/postgres.log)"
  done
  local password
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  printf '%s\n' "$password" >"$dir/password"
  chmod 600 "$dir/password"
  superuser_psql -c "CREATE ROLE cloudrec LOGIN PASSWORD '$password'" -c "CREATE DATABASE cloudrec OWNER cloudrec"
  echo "postgres.sh: PostgreSQL on 127.0.0.1:$(port), data in $root/data" >&2
}

stop() {
  local root
  root=$(pgroot)
  if as_owner "$PG_BIN/pg_ctl" status -D "$root/data" >/dev/null 2>&1; then
    as_owner "$PG_BIN/pg_ctl" stop -D "$root/data" -m fast -w >/dev/null
  fi
  if [ "${KEEP_DATA:-0}" != 1 ]; then
    rm -rf "$root"
    rm -f "$dir/pgroot" "$dir/postgres.log"
  fi
}

case "$command" in
  start) start ;;
  url) echo "postgres://cloudrec@127.0.0.1:$(port)/cloudrec?sslmode=disable" ;;
  pause) as_owner "$PG_BIN/pg_ctl" stop -D "$(pgroot)/data" -m immediate -w >/dev/null ;;
  resume) launch || die "the server did not start again (log: $dir/postgres.log)" ;;
  stop) stop ;;
  psql) superuser_psql "$@" ;;
  *) usage ;;
esac
