#!/usr/bin/env python3
"""A stand-in for an HA exporter replica, so that scripts/check_ha.py can test itself before (and independently of)
the real HA mode: `python3 scripts/check_ha.py --fake-replicas --accounts agora-demo`.

It takes the flags of `cloudrec_exporter serve` in HA mode and behaves as the interface promises, crudely: 64 shards
leased in a JSON file under $FAKE_HA_DIR (flock), usable only while PostgreSQL at --storage.url accepts TCP
connections (the "database"); registrations (PUT/DELETE/GET /api/v1/tasks, bearer token) are written there or
answered 503 with a JSON reason; each replica takes a fair share of the shards, renews its leases every second, stops
polling a shard once its lease ran out unrenewed, and polls the tasks of its shards (Agora accounts only: basic auth)
within rate_limit × owned/64 per account, with `User-Agent: cloudrec_exporter/fake replica/<id>`; /metrics has the
cloudrec_ha_* families and cloudrec_storage_reachable. Not a model of the real implementation; a test double.
"""
import argparse
import fcntl
import hashlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_ha import SHARDS, accepts_tcp, parse_generated_config  # noqa: E402


def duration(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", text)
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


class Database:
    """The shared state, usable only while PostgreSQL accepts connections."""

    def __init__(self, directory, pg_port):
        self.path = os.path.join(directory, "fake-db.json")
        self.lock_path = self.path + ".lock"
        self.pg_port = pg_port

    def reachable(self):
        return accepts_tcp(self.pg_port, timeout=0.5)

    def transaction(self, change):
        """Runs change(state) under the file lock and stores the state; raises ConnectionError when unreachable."""
        if not self.reachable():
            raise ConnectionError("connection refused: PostgreSQL at 127.0.0.1:%d" % self.pg_port)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self.path) as f:
                    state = json.load(f)
            except (OSError, ValueError):
                state = {"leases": {}, "heartbeats": {}, "tasks": {}}
            result = change(state)
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(state, f)
            os.replace(tmp, self.path)
            return result


class Replica:
    def __init__(self, args):
        self.id = args.replica_id
        self.lease = duration(args.lease)
        config = parse_generated_config(args.config)
        with open(args.config) as f:
            self.token = re.search(r'token: "([^"]+)"', f.read()).group(1)
        self.accounts = {a["name"]: a for a in config}
        self.db = Database(os.environ["FAKE_HA_DIR"], int(re.search(r":(\d+)/", args.storage_url).group(1)))
        self.lock = threading.Lock()
        self.leases = {}  # shard -> expiry as last renewed
        self.tasks = {}
        self.next_due = {}
        self.sent = {}  # account -> recent request times
        self.renewals = {"success": 0, "failure": 0}
        self.handovers = {"acquired": 0, "released": 0, "expired": 0}
        self.reachable = 1
        self.stopping = threading.Event()
        self.session = requests.Session()

    @staticmethod
    def shard(key):
        return int(hashlib.sha256(key.encode()).hexdigest(), 16) % SHARDS

    def owned(self, now=None):
        now = now or time.time()
        with self.lock:
            return {s for s, expiry in self.leases.items() if expiry > now}

    # -- leases

    def lease_round(self):
        now = time.time()

        def change(state):
            state["heartbeats"][self.id] = now + self.lease
            live = [r for r, expiry in state["heartbeats"].items() if expiry > now]
            fair = math.ceil(SHARDS / max(1, len(live)))
            leases = state["leases"]
            mine = sorted(int(s) for s, (owner, expiry) in leases.items() if owner == self.id and expiry > now)
            released = []
            for shard in mine[fair:]:
                del leases[str(shard)]
                released.append(shard)
            mine = mine[:fair]
            for shard in mine:
                leases[str(shard)] = [self.id, now + self.lease]
            acquired = []
            for shard in range(SHARDS):
                if len(mine) >= fair:
                    break
                held = leases.get(str(shard))
                if held is None or held[1] <= now:
                    leases[str(shard)] = [self.id, now + self.lease]
                    mine.append(shard)
                    acquired.append(shard)
            return mine, released, acquired, dict(state["tasks"])

        try:
            mine, released, acquired, tasks = self.db.transaction(change)
        except (ConnectionError, OSError):
            with self.lock:
                self.renewals["failure"] += 1
                self.reachable = 0
                for shard, expiry in list(self.leases.items()):
                    if expiry <= now:
                        del self.leases[shard]
                        self.handovers["expired"] += 1
            return
        with self.lock:
            self.renewals["success"] += 1
            self.reachable = 1
            lost = set(self.leases) - set(mine) - set(released)
            self.handovers["expired"] += len(lost)
            self.handovers["released"] += len(released)
            self.handovers["acquired"] += len(acquired)
            self.leases = {s: now + self.lease for s in mine}
            self.tasks = tasks

    def release_all(self):
        def change(state):
            for shard, (owner, _) in list(state["leases"].items()):
                if owner == self.id:
                    del state["leases"][shard]
            state["heartbeats"].pop(self.id, None)
        try:
            self.db.transaction(change)
        except (ConnectionError, OSError):
            pass

    def lease_loop(self):
        while not self.stopping.is_set():
            self.lease_round()
            self.stopping.wait(1.0)

    # -- polling

    def poll_loop(self):
        while not self.stopping.is_set():
            now = time.time()
            owned = self.owned(now)
            with self.lock:
                tasks = list(self.tasks.items())
            for key, task in tasks:
                account = self.accounts.get(task["account"])
                if account is None or account["vendor"] != "agora" or self.shard(key) not in owned:
                    continue
                if self.next_due.get(key, 0) > now:
                    continue
                budget = float(account["rate_limit"]) * len(owned) / SHARDS
                recent = [t for t in self.sent.get(account["name"], []) if t > now - 1.0]
                self.sent[account["name"]] = recent
                if len(recent) + 1 > math.floor(budget):
                    continue
                recent.append(now)
                self.next_due[key] = now + duration(account["poll_interval"])
                fields = task["fields"]
                url = (f"{account['endpoint']}/v1/apps/{account['fields']['app_id']}/cloud_recording/resourceid/"
                       f"{fields.get('resource_id', '')}/sid/{task['task_id']}/mode/{fields.get('mode', 'mix')}/query")
                creds = account["credentials"]
                try:
                    self.session.get(url, auth=(creds["customer_id"], creds["customer_secret"]), timeout=5,
                                     headers={"User-Agent": f"cloudrec_exporter/fake replica/{self.id}"})
                except requests.RequestException:
                    pass
            self.stopping.wait(0.05)

    # -- HTTP

    def metrics(self):
        owned = len(self.owned())
        with self.lock:
            lines = [f"cloudrec_ha_shards_owned {owned}", f"cloudrec_storage_reachable {self.reachable}"]
            lines += [f'cloudrec_ha_lease_renewals_total{{result="{k}"}} {v}' for k, v in self.renewals.items()]
            lines += [f'cloudrec_ha_shard_handovers_total{{change="{k}"}} {v}' for k, v in self.handovers.items()]
        return "\n".join(lines) + "\n"

    def serve(self, port):
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_):
                pass

            def answer(self, status, body, content_type="application/json"):
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorized(self):
                if self.headers.get("Authorization") != f"Bearer {replica.token}":
                    self.answer(401, {"error": "unauthorized"})
                    return False
                return True

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/-/ready":
                    return self.answer(200, "ready\n", "text/plain")
                if path == "/metrics":
                    return self.answer(200, replica.metrics(), "text/plain; version=0.0.4")
                if path == "/api/v1/tasks" and self.authorized():
                    try:
                        tasks = replica.db.transaction(lambda s: list(s["tasks"].values()))
                    except ConnectionError:
                        with replica.lock:
                            tasks = list(replica.tasks.values())
                    return self.answer(200, {"tasks": tasks})
                self.answer(404, {"error": "not found"})

            def do_PUT(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                m = re.fullmatch(r"/api/v1/tasks/([^/]+)/([^/]+)", self.path)
                if not m or not self.authorized():
                    return None if m else self.answer(404, {"error": "not found"})
                account, task_id = m.groups()
                task = {"account": account, "task_id": task_id, "fields": body}

                def change(state):
                    new = f"{account}/{task_id}" not in state["tasks"]
                    state["tasks"][f"{account}/{task_id}"] = task
                    return new
                try:
                    new = replica.db.transaction(change)
                except ConnectionError as error:
                    return self.answer(503, {"error": f"task not stored: {error}"})
                self.answer(201 if new else 200, task)

            def do_DELETE(self):
                m = re.fullmatch(r"/api/v1/tasks/([^/]+)/([^/]+)", self.path)
                if not m or not self.authorized():
                    return None if m else self.answer(404, {"error": "not found"})
                try:
                    gone = replica.db.transaction(lambda s: s["tasks"].pop(f"{m.group(1)}/{m.group(2)}", None))
                except ConnectionError as error:
                    return self.answer(503, {"error": str(error)})
                if gone is None:
                    return self.answer(404, {"error": "not registered"})
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="serve")
    parser.add_argument("--config.file", dest="config", required=True)
    parser.add_argument("--web.listen-address", dest="listen", required=True)
    parser.add_argument("--storage.url", dest="storage_url", required=True)
    parser.add_argument("--ha.replica-id", dest="replica_id", required=True)
    parser.add_argument("--ha.lease-duration", dest="lease", default="15s")
    parser.add_argument("--log.level", dest="level", default="info")
    args = parser.parse_args()
    replica = Replica(args)
    server = replica.serve(int(args.listen.rsplit(":", 1)[1]))

    def stop(*_):
        replica.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threads = [threading.Thread(target=replica.lease_loop, daemon=True), threading.Thread(target=replica.poll_loop, daemon=True)]
    for t in threads:
        t.start()
    server.serve_forever()
    for t in threads:
        t.join(timeout=5)
    replica.release_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
