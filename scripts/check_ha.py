#!/usr/bin/env python3
"""The HA test of issue #15: several exporter replicas sharing one PostgreSQL database (64 leased shards).

Starts a throwaway PostgreSQL (scripts/postgres.sh), the five vendor simulators as one process
(`cloudrec_exporter simulators`, which writes the exporter configuration) and N replicas

    cloudrec_exporter serve --storage.url postgres://cloudrec@127.0.0.1:PORT/cloudrec?sslmode=disable
                            --config.file <generated> --web.listen-address 127.0.0.1:<port>
                            --ha.replica-id r<i> --ha.lease-duration <lease>
                            (password in CLOUDREC_STORAGE_PASSWORD)

waits until every replica is ready (/-/ready) and `cloudrec_ha_shards_owned` sums to 64, then runs the scenarios.
Who polled what comes from the simulators' request logs (GET /_sim/requests: time, task, User-Agent
`cloudrec_exporter/<version> replica/<id>`, outcome). Scenarios (--scenario, default all, in this order):

  failover   tasks on the simulators, each registered through a random replica; every task polled, each by exactly
             one replica (in a window without handovers); `kill -9` of a replica owning shards: every task it polled
             is polled by another replica within lease + poll interval + slack; restarted, repeated --kills times
  rolling    replicas restarted one at a time (SIGTERM, exit, start, ready, 64 shards owned) while a thread registers
             tasks through random live replicas; every 2xx registration is listed by some replica and polled
  db-outage  PostgreSQL stopped (pg_ctl -m immediate) for less and for more than the lease: registrations meanwhile
             answer 503 with a JSON reason (or are held and acknowledged only once the database is back: counted as
             acknowledged_after_the_return), /metrics keeps answering, cloudrec_storage_reachable drops to 0 in the
             long outage, nothing acknowledged is lost, no task's polls interleave A,B,A between
             replicas within a poll interval, every task is polled again within 30 s of the database's return
  latency    registration latency through random replicas, p50/p99

Throughout: per simulator, never more requests in a sliding second than its rate limit, and none throttled.
Prints a JSON figures block at the end; exits 1 naming every violated invariant, 2 when the rig itself failed.

  --fake-replicas  runs scripts/ha_fake_replica.py (a crude test double of an HA replica, Agora only, so tasks go
               to agora-demo unless --accounts says otherwise) instead of the exporter, to test this script
               itself: --fake-replicas --tasks 60 --kills 2
  --simulators-binary  a binary with the `simulators` subcommand when --binary lacks it

The work directory (kept on failure, or with --keep) holds every process's log, the generated configuration and
requests.jsonl, every vendor request the simulators saw.

  --dry-check  checks the rig only, without the HA exporter: postgres.sh (start, password login, pause, resume,
               stop), the simulators process (config accepted by check-config, rate limit enforced, request log
               filled with task, User-Agent and outcome) and one plain exporter polling tasks registered through its
               API, as seen in the request log.

    python3 scripts/check_ha.py --dry-check
    python3 scripts/check_ha.py [--scenario failover|rolling|db-outage|latency|all] [--kills 10] [--replicas 3]
                                [--tasks 300] [--lease 6] [--poll-interval 5] [--rate-limit 30]
                                [--binary .build/debug/cloudrec_exporter] [--keep]

Run from the repository root; needs Python 3 with `requests` and PostgreSQL 15 (Debian `postgresql`).
"""
import argparse
import atexit
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

SHARDS = 64
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POSTGRES_SH = os.path.join(REPO, "scripts", "postgres.sh")
# Log times (the simulator's arrival clock) and the rate limiter's clock differ by microseconds; a request this
# close to a window's edge is not counted against it.
WINDOW_EDGE = 0.002


class RigFailure(Exception):
    """The rig could not do its part (a process did not start, a deadline for setup passed): exit 2."""


class Violations:
    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def add(self, scenario, message):
        with self.lock:
            self.items.append(f"[{scenario}] {message}")
        print(f"VIOLATION [{scenario}] {message}", file=sys.stderr, flush=True)


def log(message):
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts_tcp(port, timeout=1.0):
    """Whether something on 127.0.0.1:port accepts a TCP connection."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(condition, timeout, what, interval=0.1):
    """Polls `condition` (returning a truthy value when met) until `timeout` seconds pass; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RigFailure(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


_local = threading.local()


def http():
    """A requests session per thread (sessions are not thread-safe)."""
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


# ---------------------------------------------------------------------------------------------------------------
# Processes


class Processes:
    """Every child process, each in its own process group; all of them are stopped at exit, whatever happens."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.children = []
        self.stopped = set()

    def start(self, name, argv, env=None, stdout=None):
        log_path = os.path.join(self.workdir, f"{name}.log")
        log_file = open(log_path, "ab")
        proc = subprocess.Popen(argv, stdout=stdout if stdout is not None else log_file, stderr=log_file,
                                env={**os.environ, **(env or {})}, start_new_session=True, cwd=REPO)
        proc.log_path = log_path
        proc.name = name
        self.children.append(proc)
        return proc

    @staticmethod
    def signal_group(proc, sig):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, proc, timeout=15):
        if proc.pid in self.stopped:
            return
        self.stopped.add(proc.pid)
        if proc.poll() is None:
            self.signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(proc, signal.SIGKILL)
                proc.wait()
        # Whatever the process left in its group.
        self.signal_group(proc, signal.SIGKILL)

    def stop_all(self):
        for proc in reversed(self.children):
            self.stop(proc, timeout=5)


def tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL (scripts/postgres.sh)


class Postgres:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "postgres")
        self.started = False

    def run(self, command):
        result = subprocess.run(["bash", POSTGRES_SH, command, self.dir], capture_output=True, text=True, cwd=REPO)
        if result.returncode != 0:
            raise RigFailure(f"postgres.sh {command} failed ({result.returncode}): {result.stderr.strip()[-800:]}")
        return result.stdout.strip()

    def start(self):
        self.run("start")
        self.started = True
        self.url = self.run("url")
        with open(os.path.join(self.dir, "password")) as f:
            self.password = f.read().strip()
        self.port = int(re.search(r":(\d+)/", self.url).group(1))

    def pause(self):
        self.run("pause")

    def resume(self):
        self.run("resume")

    def stop(self):
        if self.started:
            self.started = False
            self.run("stop")

    def query(self, sql):
        """Runs SQL as user cloudrec over TCP with the password (psql), as the exporter logs in."""
        psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
        result = subprocess.run([psql, "-X", "-At", "-v", "ON_ERROR_STOP=1", self.url, "-c", sql], capture_output=True,
                                text=True, env={**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "3"})
        return result.returncode, result.stdout.strip(), result.stderr.strip()

    def accepts_tcp(self):
        return accepts_tcp(self.port)


# ---------------------------------------------------------------------------------------------------------------
# The simulators process and its request logs


def parse_generated_config(path):
    """Reads the configuration `cloudrec_exporter simulators` writes (its own fixed layout; stdlib only)."""
    accounts, current, section = [], None, None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.match(r"^  - name: (.+)$", line)
            if m:
                current = {"name": json.loads(m.group(1)), "fields": {}, "credentials": {}}
                accounts.append(current)
                section = "account"
                continue
            m = re.match(r"^( {4}| {6})([a-z_]+):\s*(.*)$", line)
            if current is not None and m:
                indent, key, raw = len(m.group(1)), m.group(2), m.group(3)
                value = json.loads(raw) if raw.startswith('"') else raw
                if indent == 4 and key == "credentials":
                    section = "credentials"
                elif indent == 6 and section == "credentials":
                    current["credentials"][key] = value
                elif indent == 4:
                    section = "account"
                    if key in ("vendor", "endpoint", "rate_limit", "poll_interval"):
                        current[key] = value
                    else:
                        current["fields"][key] = value
    return accounts


class Simulators:
    def __init__(self, procs, binary, workdir, rate_limit, poll_interval, token):
        self.config_path = os.path.join(workdir, "exporter.yml")
        self.rate_limit = rate_limit
        argv = [binary, "simulators", "--config-out", self.config_path, "--rate-limit", str(rate_limit),
                "--poll-interval", f"{int(poll_interval * 1000)}ms", "--api-token", token, "--log.level", "warn"]
        self.proc = procs.start("simulators", argv, stdout=subprocess.PIPE)
        ready = threading.Event()

        def read_stdout():
            for line in self.proc.stdout:
                if line.strip() == b"ready":
                    ready.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        deadline = time.monotonic() + 60
        while not ready.wait(0.1):
            if self.proc.poll() is not None:
                raise RigFailure(f"the simulators process exited ({self.proc.returncode}):\n{tail(self.proc.log_path)}")
            if time.monotonic() > deadline:
                raise RigFailure("the simulators process did not print ready within 60s")
        self.accounts = parse_generated_config(self.config_path)
        if len(self.accounts) != 5:
            raise RigFailure(f"expected 5 accounts in {self.config_path}, found {len(self.accounts)}")
        self.by_name = {a["name"]: a for a in self.accounts}

    def create_task(self, account, task_id, phase="recording"):
        r = http().post(f"{self.by_name[account]['endpoint']}/_sim/tasks", json={"id": task_id, "phase": phase}, timeout=10)
        if r.status_code != 201:
            raise RigFailure(f"POST /_sim/tasks on {account} answered {r.status_code}: {r.text[:200]}")
        return r.json()["fields"]

    def requests_since(self, account, since):
        r = http().get(f"{self.by_name[account]['endpoint']}/_sim/requests", params={"since": repr(since)}, timeout=30)
        r.raise_for_status()
        return r.json()["requests"]


REPLICA = re.compile(r"replica/(\S+)")


class RequestLog:
    """Collects the simulators' request logs in the background (they are bounded rings) and answers questions."""

    def __init__(self, sims):
        self.sims = sims
        self.lock = threading.Lock()
        self.seen = set()
        self.latest = {a["name"]: 0.0 for a in sims.accounts}
        self.by_account = {a["name"]: [] for a in sims.accounts}  # entries
        self.by_task = {}  # (account, task_id) -> [(t, replica, outcome)]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(1.0):
            try:
                self.refresh()
            except Exception as error:  # the simulators may be gone at shutdown
                log(f"request log refresh failed: {error}")

    def refresh(self):
        for account in list(self.latest):
            # Entries are logged at arrival but appended when answered, so a slightly older one may show up after a
            # newer one: re-read two seconds back and drop what was already seen.
            entries = self.sims.requests_since(account, max(0.0, self.latest[account] - 2.0))
            with self.lock:
                for e in entries:
                    key = (account, e["t"], e["operation"], e["task_id"], e["user_agent"], e["outcome"])
                    if key in self.seen:
                        continue
                    self.seen.add(key)
                    self.latest[account] = max(self.latest[account], e["t"])
                    self.by_account[account].append(e)
                    if e["task_id"] is not None:
                        m = REPLICA.search(e["user_agent"] or "")
                        replica = m.group(1) if m else None
                        self.by_task.setdefault((account, e["task_id"]), []).append((e["t"], replica, e["outcome"]))

    def dump(self, path):
        """Every collected request, one JSON object a line with its account, in time order (for a post-mortem)."""
        with self.lock:
            rows = sorted(({"account": a, **e} for a, entries in self.by_account.items() for e in entries), key=lambda e: e["t"])
        with open(path, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")

    def polls(self, key, since=0.0, until=float("inf"), outcome="answered"):
        with self.lock:
            return sorted((t, r) for t, r, o in self.by_task.get(key, []) if since < t <= until and (outcome is None or o == outcome))

    def first_poll_after(self, key, since, exclude_replica=None):
        for t, replica in self.polls(key, since):
            if replica != exclude_replica:
                return t, replica
        return None

    def rate_report(self, since=0.0, until=float("inf")):
        """Per account: the most requests in any sliding second, and the throttled and unattributed requests."""
        report = {}
        with self.lock:
            for account, entries in self.by_account.items():
                times = sorted(e["t"] for e in entries if since < e["t"] <= until)
                worst, worst_at, lo = 0, None, 0
                for hi, t in enumerate(times):
                    while times[lo] <= t - 1.0 + WINDOW_EDGE:
                        lo += 1
                    if hi - lo + 1 > worst:
                        worst, worst_at = hi - lo + 1, t
                window = [e for e in entries if since < e["t"] <= until]
                report[account] = {
                    "requests": len(times), "max_per_second": worst, "max_at": worst_at,
                    "throttled": sum(1 for e in window if e["outcome"] == "throttled"),
                    "without_replica_id": sum(1 for e in window if not REPLICA.search(e["user_agent"] or "")),
                    "outcomes": {o: sum(1 for e in window if e["outcome"] == o) for o in sorted({e["outcome"] for e in window})},
                }
        return report


# ---------------------------------------------------------------------------------------------------------------
# Exporter replicas


def parse_metrics(text):
    """Prometheus text format → {name: [(labels dict, value)]}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        out.setdefault(m.group(1), []).append((labels, value))
    return out


class Replica:
    def __init__(self, cluster, replica_id):
        self.cluster = cluster
        self.id = replica_id
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def argv(self):
        c = self.cluster
        exporter = [sys.executable, os.path.join(REPO, "scripts", "ha_fake_replica.py")] if c.args.fake_replicas else [c.binary]
        return [*exporter, "serve", "--config.file", c.sims.config_path, "--web.listen-address", f"127.0.0.1:{self.port}",
                "--storage.url", c.pg.url, "--ha.replica-id", self.id, "--ha.lease-duration", f"{c.args.lease:g}s",
                "--log.level", "info"]

    def start(self):
        env = {"CLOUDREC_STORAGE_PASSWORD": self.cluster.pg.password, "FAKE_HA_DIR": self.cluster.workdir}
        self.proc = self.cluster.procs.start(f"replica-{self.id}", self.argv(), env=env)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=60):
        def ready():
            if not self.alive():
                raise RigFailure(f"replica {self.id} exited ({self.proc.returncode}) before it was ready:\n{tail(self.proc.log_path)}")
            try:
                return http().get(f"{self.base}/-/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_for(ready, timeout, f"replica {self.id} to be ready (/-/ready)")

    def metrics(self):
        r = http().get(f"{self.base}/metrics", timeout=10)
        r.raise_for_status()
        return parse_metrics(r.text)

    def metric(self, name, **labels):
        """Sum of the samples of `name` with the given labels; None when the family is missing."""
        samples = self.metrics().get(name)
        if samples is None:
            return None
        return sum(v for l, v in samples if all(l.get(k) == val for k, val in labels.items()))

    def api(self, method, path, body=None, timeout=10):
        return http().request(method, f"{self.base}{path}", json=body, timeout=timeout,
                              headers={"Authorization": f"Bearer {self.cluster.token}"})

    def list_tasks(self):
        tasks, token = [], None
        while True:
            params = {"page_size": 1000}
            if token:
                params["page_token"] = token
            r = http().get(f"{self.base}/api/v1/tasks", params=params, timeout=30,
                           headers={"Authorization": f"Bearer {self.cluster.token}"})
            r.raise_for_status()
            body = r.json()
            tasks += [(t["account"], t["task_id"]) for t in body["tasks"]]
            token = body.get("next_page_token")
            if not token:
                return tasks


class PlainExporter(Replica):
    """The exporter as it is today: SQLite, no HA flags (the dry check)."""

    def argv(self):
        c = self.cluster
        exporter = [sys.executable, os.path.join(REPO, "scripts", "ha_fake_replica.py")] if c.args.fake_replicas else [c.binary]
        return [*exporter, "serve", "--config.file", c.sims.config_path, "--web.listen-address", f"127.0.0.1:{self.port}",
                "--storage.path", os.path.join(c.workdir, f"{self.id}.db"), "--log.level", "info"]


class Cluster:
    def __init__(self, args, workdir, violations):
        self.args = args
        self.binary = os.path.abspath(args.binary)
        self.workdir = workdir
        self.violations = violations
        self.token = "ha-" + secrets.token_hex(16)
        self.procs = Processes(workdir)
        self.pg = Postgres(workdir)
        self.sims = None
        self.log = None
        self.replicas = []
        # (account, task_id) -> registration acknowledgement time, for every 2xx registration
        self.acked = {}
        self.task_seq = 0
        self.done = False
        self.seq_lock = threading.Lock()

    # -- lifecycle

    def start_rig(self):
        log("starting PostgreSQL (scripts/postgres.sh)")
        self.pg.start()
        log(f"PostgreSQL at {self.pg.url}; starting the simulators")
        self.sims = Simulators(self.procs, os.path.abspath(self.args.simulators_binary or self.args.binary), self.workdir, self.args.rate_limit, self.args.poll_interval, self.token)
        self.log = RequestLog(self.sims)

    def start_replicas(self):
        self.replicas = [Replica(self, f"r{i}") for i in range(self.args.replicas)]
        for replica in self.replicas:
            replica.start()
        for replica in self.replicas:
            replica.wait_ready()
        log(f"{len(self.replicas)} replicas ready; waiting for all {SHARDS} shards to be owned")
        self.wait_all_shards_owned()

    def shutdown(self):
        if self.done:
            return
        self.done = True
        if self.log:
            self.log.stop.set()
            try:
                self.log.refresh()
            except Exception:
                pass
            self.log.dump(os.path.join(self.workdir, "requests.jsonl"))
        self.procs.stop_all()
        self.pg.stop()

    # -- views

    def live(self):
        return [r for r in self.replicas if r.alive()]

    def owned(self):
        """Replica id → cloudrec_ha_shards_owned, for the live replicas that answer."""
        out = {}
        for replica in self.live():
            try:
                value = replica.metric("cloudrec_ha_shards_owned")
            except requests.RequestException:
                continue
            if value is None:
                raise RigFailure(f"replica {replica.id} exports no cloudrec_ha_shards_owned: is this an exporter with the HA mode?")
            out[replica.id] = int(value)
        return out

    def wait_all_shards_owned(self, timeout=None):
        timeout = timeout or self.args.lease * 3 + 30
        last = {}

        def complete():
            nonlocal last
            last = self.owned()
            return sum(last.values()) == SHARDS and len(last) == len(self.live())
        try:
            wait_for(complete, timeout, f"cloudrec_ha_shards_owned to sum to {SHARDS}", interval=0.25)
        except RigFailure as failure:
            raise RigFailure(f"{failure} (last: {last})")
        return last

    def ownership_snapshot(self):
        """Owned shards and handover counts per replica: equal snapshots mean no shard moved in between."""
        snap = {}
        for replica in self.live():
            m = replica.metrics()
            owned = sum(v for _, v in m.get("cloudrec_ha_shards_owned", []))
            handovers = sum(v for _, v in m.get("cloudrec_ha_shard_handovers_total", []))
            snap[replica.id] = (owned, handovers)
        return snap

    # -- tasks

    def next_id(self, prefix):
        with self.seq_lock:
            self.task_seq += 1
            return f"{prefix}-{self.task_seq:06d}"

    def new_sim_task(self, prefix, index=None):
        accounts = [a for a in self.sims.accounts if not self.args.accounts or a["name"] in self.args.accounts]
        account = accounts[(index if index is not None else random.randrange(len(accounts))) % len(accounts)]["name"]
        task_id = self.next_id(prefix)
        fields = self.sims.create_task(account, task_id)
        return account, task_id, fields

    def register(self, replica, account, task_id, fields, timeout=10):
        """PUT through `replica`; returns (status or exception text, body, seconds). 2xx registrations are recorded
        with the time the request was sent (the owner may poll before the answer is back)."""
        sent, started = time.time(), time.monotonic()
        try:
            r = replica.api("PUT", f"/api/v1/tasks/{account}/{task_id}", body=fields, timeout=timeout)
        except requests.RequestException as error:
            return f"{type(error).__name__}", str(error)[:200], time.monotonic() - started
        elapsed = time.monotonic() - started
        if 200 <= r.status_code < 300:
            with self.seq_lock:
                self.acked[(account, task_id)] = sent
        return r.status_code, r.text[:300], elapsed

    def register_tasks(self, count, prefix, scenario):
        keys = []
        for i in range(count):
            account, task_id, fields = self.new_sim_task(prefix, i)
            replica = random.choice(self.live())
            status, body, _ = self.register(replica, account, task_id, fields)
            if not (isinstance(status, int) and 200 <= status < 300):
                self.violations.add(scenario, f"registration of {account}/{task_id} through {replica.id} answered {status}: {body}")
            else:
                keys.append((account, task_id))
        return keys

    def listed_everywhere(self):
        """The union of GET /api/v1/tasks over the live replicas."""
        union = set()
        for replica in self.live():
            union.update(replica.list_tasks())
        return union

    # -- polling checks

    def wait_polled(self, keys, since, timeout, what):
        """Waits until every key has an answered poll after `since` (a per-key time when `since` is a dict);
        returns the keys never polled."""
        deadline = time.monotonic() + timeout
        missing = list(keys)
        while True:
            self.log.refresh()
            missing = [k for k in missing if not self.log.polls(k, since[k] if isinstance(since, dict) else since)]
            if not missing or time.monotonic() >= deadline:
                if missing:
                    log(f"{len(missing)} task(s) not polled ({what}), e.g. {missing[:3]}")
                return missing
            time.sleep(0.25)

    def check_exclusive_polling(self, keys, scenario, attempts=4):
        """In a window in which no shard moved (equal ownership snapshots before and after), every task is polled
        and by exactly one replica. Returns the window's figures."""
        window = 2 * self.args.poll_interval + 1
        for _ in range(attempts):
            before = self.ownership_snapshot()
            t0 = time.time()
            # An observation window: the polls have to happen; nothing to await but the time passing.
            time.sleep(window)
            t1 = time.time()
            after = self.ownership_snapshot()
            if before != after:
                log(f"shards moved during the observation window ({before} → {after}); observing again")
                continue
            self.log.refresh()
            unpolled, shared, anonymous = [], [], []
            for key in keys:
                polls = self.log.polls(key, t0, t1)
                replicas = {r for _, r in polls}
                if not polls:
                    unpolled.append(key)
                elif None in replicas:
                    anonymous.append(key)
                elif len(replicas) > 1:
                    shared.append((key, sorted(replicas)))
            if unpolled:
                self.violations.add(scenario, f"{len(unpolled)} of {len(keys)} tasks not polled within {window:.0f}s "
                                              f"while no shard moved, e.g. {unpolled[:5]}")
            if shared:
                self.violations.add(scenario, f"{len(shared)} tasks polled by more than one replica while no shard moved, "
                                              f"e.g. {shared[:5]}")
            if anonymous:
                self.violations.add(scenario, f"{len(anonymous)} tasks polled without a replica id in the User-Agent, "
                                              f"e.g. {anonymous[:5]}")
            return {"window_seconds": round(window, 1), "tasks": len(keys), "unpolled": len(unpolled),
                    "polled_by_several": len(shared), "ownership": {k: v[0] for k, v in after.items()}}
        self.violations.add(scenario, f"shards kept moving: no window of {window:.0f}s without a handover in {attempts} tries")
        return {"window_seconds": round(window, 1), "stable_window": False}

    def check_rates(self, scenario, since, until=float("inf"), record=True):
        report = self.log.rate_report(since, until)
        for account, r in (report.items() if record else ()):
            if r["max_per_second"] > self.args.rate_limit:
                self.violations.add(scenario, f"{account}: {r['max_per_second']} requests in the second before "
                                              f"{r['max_at']:.3f}, over the rate limit {self.args.rate_limit}")
            if r["throttled"]:
                self.violations.add(scenario, f"{account}: {r['throttled']} requests throttled by the simulator")
        return {a: {k: r[k] for k in ("requests", "max_per_second", "throttled", "without_replica_id")} for a, r in report.items()}

    def check_no_interleaving(self, scenario, since, until):
        """No task's answered polls go A, B, A (A ≠ B) within one poll interval: two replicas polling it at once."""
        interval = self.args.poll_interval
        bad = []
        with self.log.lock:
            items = list(self.log.by_task.items())
        for key, entries in items:
            polls = sorted((t, r) for t, r, o in entries if since < t <= until and o == "answered")
            for (t1, a), (_, b), (t3, c) in zip(polls, polls[1:], polls[2:]):
                if a == c and a != b and t3 - t1 < interval:
                    bad.append((key, a, b, round(t3 - t1, 2)))
                    break
        if bad:
            self.violations.add(scenario, f"{len(bad)} tasks polled by two replicas within one poll interval (A,B,A), "
                                          f"e.g. {bad[:5]}")
        return len(bad)

    def check_listed(self, scenario, keys):
        union = self.listed_everywhere()
        lost = [k for k in keys if k not in union]
        if lost:
            # What each replica answers for a few of them one by one, and whether a second listing has them.
            lookups = {}
            for account, task_id in lost[:3]:
                for replica in self.live():
                    try:
                        status = replica.api("GET", f"/api/v1/tasks/{account}/{task_id}").status_code
                    except requests.RequestException as error:
                        status = type(error).__name__
                    lookups[f"{account}/{task_id}@{replica.id}"] = status
            relisted = self.listed_everywhere()
            self.violations.add(scenario, f"{len(lost)} acknowledged registrations listed by no replica, e.g. {lost[:5]} "
                                          f"(GET one by one: {lookups}; in a second listing: "
                                          f"{sum(1 for k in lost if k in relisted)} of them)")
        return len(lost)


# ---------------------------------------------------------------------------------------------------------------
# Scenarios


def scenario_failover(cluster, figures):
    args, name = cluster.args, "failover"
    began = time.time()
    log(f"failover: creating and registering {args.tasks} tasks")
    keys = cluster.register_tasks(args.tasks, "fo", name)
    registered = dict((k, cluster.acked[k]) for k in keys)
    missing = cluster.wait_polled(keys, registered, args.lease + 2 * args.poll_interval + args.slack + 10, "after registration")
    if missing:
        cluster.violations.add(name, f"{len(missing)} registered tasks never polled, e.g. {missing[:5]}")
    figures["failover"] = {"tasks": len(keys), "exclusive_before": cluster.check_exclusive_polling(keys, name)}
    bound = args.lease + args.poll_interval + args.slack
    times = []
    for kill in range(args.kills):
        owned = cluster.owned()
        candidates = [r for r in cluster.live() if owned.get(r.id, 0) > 0]
        if not candidates:
            raise RigFailure(f"no live replica owns a shard ({owned})")
        victim = random.choice(candidates)
        cluster.log.refresh()
        killed_at = time.time()
        # Its tasks: those whose latest poll in the last two intervals was by the victim.
        lookback = killed_at - 2 * args.poll_interval
        its_tasks = []
        for key in keys:
            polls = cluster.log.polls(key, lookback, killed_at)
            if polls and polls[-1][1] == victim.id:
                its_tasks.append(key)
        if not its_tasks:
            cluster.violations.add(name, f"kill {kill + 1}: {victim.id} owns {owned.get(victim.id)} shards but polled none of "
                                         f"the tasks in the last {2 * args.poll_interval:g}s (no replica id in the User-Agent?): "
                                         "its failover cannot be measured")
        cluster.procs.signal_group(victim.proc, signal.SIGKILL)
        victim.proc.wait()
        log(f"failover {kill + 1}/{args.kills}: kill -9 {victim.id} (owned {owned.get(victim.id)} shards, "
            f"polled {len(its_tasks)} tasks)")
        deadline = time.monotonic() + bound + 20
        delays = {}
        while True:
            cluster.log.refresh()
            for key in its_tasks:
                if key not in delays:
                    hit = cluster.log.first_poll_after(key, killed_at, exclude_replica=victim.id)
                    if hit:
                        delays[key] = hit[0] - killed_at
            if len(delays) == len(its_tasks) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if len(delays) < len(its_tasks):
            cluster.violations.add(name, f"kill {kill + 1}: {len(its_tasks) - len(delays)} of {victim.id}'s tasks not polled by "
                                         f"another replica within {bound + 20:.0f}s")
        worst = max(delays.values(), default=None)
        if worst is not None:
            times.append(round(worst, 2))
            log(f"failover {kill + 1}: {len(delays)} of {len(its_tasks)} tasks polled again, the last after {worst:.2f}s "
                f"(bound {bound:.1f}s)")
        if worst is not None and worst > bound:
            cluster.violations.add(name, f"kill {kill + 1} ({victim.id}): failover took {worst:.2f}s, over lease + poll interval "
                                         f"+ slack = {bound:.1f}s")
        victim.start()
        victim.wait_ready()
        cluster.wait_all_shards_owned()
    figures["failover"].update({
        "kills": args.kills, "failover_seconds": times,
        "median_seconds": round(statistics.median(times), 2) if times else None,
        "worst_seconds": max(times, default=None), "bound_seconds": bound,
        "exclusive_after": cluster.check_exclusive_polling(keys, name),
        "rates": cluster.check_rates(name, began),
    })


def scenario_rolling(cluster, figures):
    args, name = cluster.args, "rolling"
    began = time.time()
    live_lock = threading.Lock()
    restarting = set()
    stop = threading.Event()
    attempts = []  # (key, status)

    def registrar():
        while not stop.is_set():
            with live_lock:
                choices = [r for r in cluster.live() if r.id not in restarting]
            if choices:
                try:
                    account, task_id, fields = cluster.new_sim_task("roll")
                except (RigFailure, requests.RequestException) as error:
                    cluster.violations.add(name, f"the registering thread could not create a simulator task: {error}")
                    return
                status, body, _ = cluster.register(random.choice(choices), account, task_id, fields)
                attempts.append(((account, task_id), status))
            stop.wait(1.0 / args.rolling_rate)

    thread = threading.Thread(target=registrar, daemon=True)
    thread.start()
    restart_seconds = []
    try:
        for replica in cluster.replicas:
            with live_lock:
                restarting.add(replica.id)
            t0 = time.monotonic()
            log(f"rolling: SIGTERM {replica.id}")
            replica.proc.send_signal(signal.SIGTERM)
            try:
                replica.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cluster.violations.add(name, f"{replica.id} did not exit within 30s of SIGTERM")
                cluster.procs.stop(replica.proc)
            if replica.proc.returncode not in (0, -signal.SIGTERM):
                cluster.violations.add(name, f"{replica.id} exited {replica.proc.returncode} on SIGTERM")
            replica.start()
            replica.wait_ready()
            cluster.wait_all_shards_owned()
            with live_lock:
                restarting.discard(replica.id)
            restart_seconds.append(round(time.monotonic() - t0, 2))
    finally:
        stop.set()
        thread.join(timeout=30)
    acked = [key for key, status in attempts if isinstance(status, int) and 200 <= status < 300]
    refused = [(key, status) for key, status in attempts if not (isinstance(status, int) and 200 <= status < 300)]
    log(f"rolling: {len(acked)} registrations acknowledged, {len(refused)} refused or failed during the restarts")
    lost = cluster.check_listed(name, acked)
    since = {k: cluster.acked[k] for k in acked}
    unpolled = cluster.wait_polled(acked, since, args.lease + 2 * args.poll_interval + args.slack + 10, "rolling")
    if unpolled:
        cluster.violations.add(name, f"{len(unpolled)} acknowledged registrations never polled, e.g. {unpolled[:5]}")
    figures["rolling"] = {
        "registrations_acknowledged": len(acked), "registrations_refused": len(refused),
        "refusals": sorted({str(s) for _, s in refused}), "restart_seconds": restart_seconds,
        "lost": lost, "unpolled": len(unpolled), "rates": cluster.check_rates(name, began),
    }


def scenario_db_outage(cluster, figures):
    args, name = cluster.args, "db-outage"
    began = time.time()
    if len(cluster.acked) < 10:
        cluster.register_tasks(max(args.tasks // 3, 10), "db", name)
    keys = list(cluster.acked)
    cluster.wait_polled(keys, 0.0, args.lease + 2 * args.poll_interval + args.slack, "before the outage")
    figures["db_outage"] = {}
    for label, seconds in (("short", args.lease * 0.5), ("long", args.lease * 2.5)):
        log(f"db-outage: stopping PostgreSQL for {seconds:.1f}s ({label})")
        paused_at = time.time()
        cluster.pg.pause()
        # One registering thread per replica for the whole outage, so that a hanging answer does not stretch it.
        answers, unreachable_seen, stop = [], set(), threading.Event()

        def registrar(replica):
            while not stop.is_set():
                try:
                    account, task_id, fields = cluster.new_sim_task("out")
                except (RigFailure, requests.RequestException):
                    return
                sent = time.time()
                status, body, _ = cluster.register(replica, account, task_id, fields, timeout=10)
                answers.append((replica.id, sent, time.time(), status, body))
                stop.wait(0.3)

        threads = [threading.Thread(target=registrar, args=(r,), daemon=True) for r in cluster.live()]
        for thread in threads:
            thread.start()
        end = time.monotonic() + seconds
        seen_values, scrape_failures = {}, {}
        while time.monotonic() < end:
            for replica in cluster.live():
                try:
                    value = replica.metric("cloudrec_storage_reachable")
                except requests.RequestException as error:
                    scrape_failures.setdefault(replica.id, type(error).__name__)
                    continue
                seen_values.setdefault(replica.id, set()).add(value)
                if value == 0:
                    unreachable_seen.add(replica.id)
            time.sleep(0.3)
        resuming_at = time.time()  # the database may answer from here on, before resume() returns
        cluster.pg.resume()
        back_at = time.time()
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        log(f"db-outage: PostgreSQL back after {back_at - paused_at:.1f}s")
        # Sent while the database was away: 503 with a JSON reason, or a 2xx that came after the database did (held
        # until the store could take it); anything else (a timeout, a 2xx while it was away, a 5xx without reason) fails.
        statuses, bad, late_acks = {}, [], 0
        for replica_id, sent, answered, status, body in answers:
            if sent >= resuming_at:
                continue
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            try:
                reason = json.loads(body).get("error") if status == 503 else None
            except (ValueError, AttributeError):
                reason = None
            if isinstance(status, int) and 200 <= status < 300 and answered > resuming_at:
                late_acks += 1
            elif status != 503 or not reason:
                bad.append((replica_id, round(answered - sent, 1), status, body[:120]))
        if not statuses:
            cluster.violations.add(name, f"{label} outage: no registration was answered or attempted")
        if late_acks:
            # Durable and truthful (the store took it once the database was back), so not a violation; counted.
            log(f"db-outage: {late_acks} registrations sent during the {label} outage were held and acknowledged once the "
                "database returned")
        if bad:
            cluster.violations.add(name, f"{label} outage: {len(bad)} registrations did not answer 503 with a JSON reason "
                                         f"(replica, seconds, answer), e.g. {bad[:3]}")
        if scrape_failures:
            cluster.violations.add(name, f"{label} outage: GET /metrics failed during the outage: {scrape_failures}")
        if label == "long" and len(unreachable_seen) < len(cluster.live()):
            cluster.violations.add(name, f"long outage: cloudrec_storage_reachable never 0 on "
                                         f"{sorted({r.id for r in cluster.live()} - unreachable_seen)} (values seen: "
                                         f"{ {k: sorted(map(str, v)) for k, v in seen_values.items()} }, None: no such metric)")
        unpolled = cluster.wait_polled(keys, back_at, 30, f"within 30s after the {label} outage")
        if unpolled:
            cluster.violations.add(name, f"{label} outage: {len(unpolled)} tasks not polled within 30s after the database "
                                         f"returned, e.g. {unpolled[:5]}")
        recovery = [cluster.log.polls(k, back_at)[0][0] - back_at for k in keys if cluster.log.polls(k, back_at)]
        try:
            reachable = wait_for(lambda: all(r.metric("cloudrec_storage_reachable") == 1 for r in cluster.live()), 30,
                                 "cloudrec_storage_reachable 1 on every replica", interval=0.5)
        except RigFailure as failure:
            reachable = False
            cluster.violations.add(name, f"{label} outage: {failure}")
        try:
            cluster.wait_all_shards_owned(timeout=args.lease * 3 + 30)
        except RigFailure as failure:
            cluster.violations.add(name, f"{label} outage: {failure}")
        # Registrations work again, through every replica.
        for replica in cluster.live():
            account, task_id, fields = cluster.new_sim_task("after")
            status, body, _ = cluster.register(replica, account, task_id, fields)
            if not (isinstance(status, int) and 200 <= status < 300):
                cluster.violations.add(name, f"after the {label} outage, a registration through {replica.id} answered {status}: {body[:120]}")
        keys = list(cluster.acked)
        interleaved = cluster.check_no_interleaving(name, paused_at - args.poll_interval, time.time())
        figures["db_outage"][label] = {
            "outage_seconds": round(back_at - paused_at, 1), "registration_answers": statuses,
            "acknowledged_after_the_return": late_acks,
            "storage_unreachable_seen_on": sorted(unreachable_seen), "metrics_scrape_failures": scrape_failures, "storage_reachable_again": bool(reachable),
            "unpolled_30s_after": len(unpolled),
            "repoll_seconds_p50": round(percentile(recovery, 0.5), 2) if recovery else None,
            "repoll_seconds_max": round(max(recovery), 2) if recovery else None, "interleaved_tasks": interleaved,
        }
    figures["db_outage"]["lost"] = cluster.check_listed(name, list(cluster.acked))
    figures["db_outage"]["rates"] = cluster.check_rates(name, began)


def scenario_latency(cluster, figures):
    args, name = cluster.args, "latency"
    began = time.time()
    prepared = [cluster.new_sim_task("lat", i) for i in range(args.registrations)]
    latencies, failures, keys = [], [], []
    for account, task_id, fields in prepared:
        replica = random.choice(cluster.live())
        status, body, seconds = cluster.register(replica, account, task_id, fields)
        if isinstance(status, int) and 200 <= status < 300:
            latencies.append(seconds * 1000)
            keys.append((replica, account, task_id))
        else:
            failures.append((replica.id, status, body[:120]))
    if failures:
        cluster.violations.add(name, f"{len(failures)} of {len(prepared)} registrations failed, e.g. {failures[:3]}")
    # Unregister them again so later polling load stays what it was.
    undeleted = 0
    for replica, account, task_id in keys:
        try:
            if replica.api("DELETE", f"/api/v1/tasks/{account}/{task_id}").status_code != 204:
                undeleted += 1
        except requests.RequestException:
            undeleted += 1
        cluster.acked.pop((account, task_id), None)
    figures["latency"] = {
        "registrations": len(prepared), "failed": len(failures), "clients": 1,
        "p50_ms": round(percentile(latencies, 0.5), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None, "not_unregistered": undeleted,
        "rates": cluster.check_rates(name, began),
    }


SCENARIOS = {"failover": scenario_failover, "rolling": scenario_rolling, "db-outage": scenario_db_outage,
             "latency": scenario_latency}


# ---------------------------------------------------------------------------------------------------------------
# --dry-check: the rig without the HA exporter


def dry_check(cluster, figures):
    name = "dry-check"
    pg, v = cluster.pg, cluster.violations
    code, out, err = pg.query("select current_user || ' ' || current_database()")
    if code != 0 or out != "cloudrec cloudrec":
        v.add(name, f"password login as cloudrec over TCP failed: {code} {out} {err}")
    t0 = time.monotonic()
    pg.pause()
    if pg.accepts_tcp():
        v.add(name, "PostgreSQL still accepts TCP connections after pause")
    pg.resume()
    code, out, err = pg.query("select 1")
    if code != 0 or out != "1":
        v.add(name, f"no login after resume: {code} {out} {err}")
    figures["postgres"] = {"url": pg.url, "pause_resume_seconds": round(time.monotonic() - t0, 2)}

    sims = cluster.sims
    result = subprocess.run([cluster.binary, "check-config", sims.config_path], capture_output=True, text=True)
    if result.returncode != 0:
        v.add(name, f"check-config rejects the generated configuration: {result.stdout}{result.stderr}")
    accounts = sims.accounts
    for a in accounts:
        if int(a.get("rate_limit", 0)) != cluster.args.rate_limit:
            v.add(name, f"{a['name']}: rate_limit {a.get('rate_limit')} in the configuration, expected {cluster.args.rate_limit}")

    # Rate limit: a burst of 3× the limit at Agora (basic auth) within a second; exactly the limit is answered.
    agora = next(a for a in accounts if a["vendor"] == "agora")
    fields = sims.create_task(agora["name"], "dry-burst")
    creds = agora["credentials"]
    url = (f"{agora['endpoint']}/v1/apps/{agora['fields']['app_id']}/cloud_recording/resourceid/{fields['resource_id']}"
           f"/sid/dry-burst/mode/{fields['mode']}/query")
    session = requests.Session()
    burst_start = time.time()
    statuses = [session.get(url, auth=(creds["customer_id"], creds["customer_secret"]),
                            headers={"User-Agent": "check_ha/dry replica/burst"}, timeout=10).status_code
                for _ in range(3 * cluster.args.rate_limit)]
    burst_seconds = time.time() - burst_start
    cluster.log.refresh()
    burst = [e for e in cluster.log.by_account[agora["name"]] if e["task_id"] in ("dry-burst", None) and e["t"] >= burst_start - 0.01]
    answered = sum(1 for e in burst if e["outcome"] == "answered")
    throttled = sum(1 for e in burst if e["outcome"] == "throttled")
    if burst_seconds < 1.0:
        if answered != cluster.args.rate_limit or statuses.count(200) != cluster.args.rate_limit:
            v.add(name, f"burst of {len(statuses)} in {burst_seconds:.2f}s: {answered} answered (HTTP 200: {statuses.count(200)}), "
                        f"expected exactly the rate limit {cluster.args.rate_limit}")
    elif answered > cluster.args.rate_limit * (int(burst_seconds) + 1):
        v.add(name, f"burst: {answered} answered in {burst_seconds:.2f}s, over the rate limit")
    if len(burst) != len(statuses) or throttled != len(statuses) - answered:
        v.add(name, f"request log holds {len(burst)} burst requests ({answered} answered, {throttled} throttled) "
                    f"for {len(statuses)} sent")
    if any(e["user_agent"] != "check_ha/dry replica/burst" for e in burst):
        v.add(name, "request log lost the User-Agent of the burst")
    if not any(e["task_id"] == "dry-burst" for e in burst):
        v.add(name, "request log names no task for the answered burst requests")
    if burst_seconds < 1.0 and cluster.log.rate_report(burst_start - 0.01)[agora["name"]]["max_per_second"] != len(statuses):
        v.add(name, f"the sliding-window count does not see all {len(statuses)} burst requests in one second")
    since = time.time()
    if sims.requests_since(agora["name"], since + 60):
        v.add(name, "GET /_sim/requests?since=<future> is not empty")
    figures["simulators"] = {"accounts": [a["name"] for a in accounts], "config": sims.config_path,
                             "burst": {"sent": len(statuses), "seconds": round(burst_seconds, 2), "answered": answered,
                                       "throttled": throttled}}

    # One plain exporter (SQLite, no HA) on the generated configuration: tasks registered through its API, one per
    # simulator, are polled (request log), with the exporter's User-Agent and answered.
    # The burst filled Agora's sliding second; the exporter's polls must not meet it.
    burst_end = time.time()
    wait_for(lambda: time.time() > burst_end + 1.1, 5, "the burst's second to pass")
    plain = PlainExporter(cluster, "plain").start()
    plain.wait_ready()
    keys, registering = [], time.time()
    for i in range(len(accounts)):
        account, task_id, task_fields = cluster.new_sim_task("dry", i)
        status, body, _ = cluster.register(plain, account, task_id, task_fields)
        if status != 201:
            v.add(name, f"registration of {account}/{task_id} answered {status}: {body}")
        keys.append((account, task_id))
    unpolled = cluster.wait_polled(keys, registering, 2 * cluster.args.poll_interval + 10, "by the plain exporter")
    if unpolled:
        v.add(name, f"the plain exporter did not poll {unpolled}")
    listed = set(plain.list_tasks())
    if not set(keys) <= listed:
        v.add(name, f"GET /api/v1/tasks lacks {sorted(set(keys) - listed)}")
    agents = set()
    with cluster.log.lock:
        for key in keys:
            agents.update(e["user_agent"] for e in cluster.log.by_account[key[0]] if e["task_id"] == key[1])
    cluster.procs.stop(plain.proc)
    figures["plain_exporter"] = {"tasks": len(keys), "unpolled": len(unpolled), "user_agents": sorted(map(str, agents)),
                                 "rates": cluster.check_rates(name, registering)}


# ---------------------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--binary", default=".build/debug/cloudrec_exporter")
    parser.add_argument("--simulators-binary", default=None,
                        help="the binary with the `simulators` subcommand, when --binary lacks it (default: --binary)")
    parser.add_argument("--scenario", default="all", choices=["all", *SCENARIOS])
    parser.add_argument("--dry-check", action="store_true", help="check the rig only (no HA exporter needed)")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=300, help="tasks of the failover scenario, over the five vendors")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--lease", type=float, default=6, help="--ha.lease-duration, seconds")
    parser.add_argument("--poll-interval", type=float, default=5, help="poll interval in the configuration, seconds")
    parser.add_argument("--rate-limit", type=int, default=30, help="each simulator's QPS and each account's rate_limit")
    parser.add_argument("--slack", type=float, default=3, help="allowed failover time beyond lease + poll interval")
    parser.add_argument("--rolling-rate", type=float, default=5, help="registrations per second during the rolling restart")
    parser.add_argument("--registrations", type=int, default=1000, help="registrations of the latency scenario")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, config) even on success")
    parser.add_argument("--accounts", type=lambda text: text.split(","), default=None,
                        help="create tasks only on these simulator accounts (comma-separated, e.g. agora-demo)")
    parser.add_argument("--fake-replicas", action="store_true",
                        help="run scripts/ha_fake_replica.py (a test double, Agora only) as the replicas: tests this script")
    args = parser.parse_args()
    if args.fake_replicas and not args.accounts:
        args.accounts = ["agora-demo"]  # the test double polls Agora only
    if args.dry_check and args.rate_limit > 10:
        args.rate_limit = 5  # a burst of 3× the limit must fit in a second
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    for binary in {args.binary, args.simulators_binary or args.binary}:
        if not os.path.exists(binary):
            print(f"check_ha: no binary at {binary} (swift build --product cloudrec_exporter, or --binary)", file=sys.stderr)
            return 2

    workdir = tempfile.mkdtemp(prefix="cloudrec-ha-")
    violations = Violations()
    cluster = Cluster(args, workdir, violations)
    atexit.register(cluster.shutdown)
    def interrupted(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    figures = {"seed": seed, "lease_seconds": args.lease, "poll_interval_seconds": args.poll_interval,
               "rate_limit": args.rate_limit, "replicas": args.replicas}
    rig_failure = None
    began = time.time()
    try:
        cluster.start_rig()
        if args.dry_check:
            dry_check(cluster, figures)
        else:
            cluster.start_replicas()
            names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
            for scenario in names:
                log(f"== scenario {scenario}")
                SCENARIOS[scenario](cluster, figures)
            # Each scenario checked its own span; this is the summary.
            figures["rates_overall"] = cluster.check_rates("overall", began, record=False)
    except RigFailure as failure:
        rig_failure = str(failure)
    except KeyboardInterrupt:
        rig_failure = "interrupted (SIGINT or SIGTERM)"
    finally:
        figures["seconds"] = round(time.time() - began, 1)
        cluster.shutdown()
    print(json.dumps(figures, indent=2, sort_keys=True))
    if rig_failure or violations.items:
        if rig_failure:
            print(f"\ncheck_ha: RIG FAILURE: {rig_failure}", file=sys.stderr)
        for item in violations.items:
            print(f"check_ha: VIOLATED: {item}", file=sys.stderr)
        print(f"check_ha: logs and configuration kept in {workdir}", file=sys.stderr)
        return 2 if rig_failure and not violations.items else 1
    print(f"check_ha: OK{' (dry check)' if args.dry_check else ''}", file=sys.stderr)
    if args.keep:
        print(f"check_ha: work directory {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
