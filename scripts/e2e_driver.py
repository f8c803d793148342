#!/usr/bin/env python3
"""Helpers of scripts/e2e.sh (pure python3 stdlib).

    e2e_driver.py receiver --port-file F --out F     webhook receiver: one JSON payload per line in --out
    e2e_driver.py wait-url URL [--timeout S]         wait until URL answers 2xx
    e2e_driver.py wait-log FILE REGEX [--timeout S]  wait until FILE has a line matching REGEX, print group 1
    e2e_driver.py drive --prometheus URL --simulators "agora-demo=URL zego-demo=URL" --webhook-log F
        creates fresh tasks through the simulators' control API (/_sim/), drives an abnormal exit (Agora and
        ZEGO) and an upload failure (ZEGO: per-file upload states), and waits until the alerts reach the webhook
        receiver through the real Prometheus and Alertmanager with exactly the expected labels.
"""

import argparse
import http.server
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def log(msg):
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    print(f"E2E FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def call(method, url, body=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def http_json(method, url, body=None, expect=(200, 201)):
    status, text = call(method, url, body)
    if status not in expect:
        fail(f"{method} {url} {json.dumps(body) if body else ''} -> HTTP {status}: {text}")
    return json.loads(text)


def wait_for(what, check, timeout, interval=0.5, detail=lambda: ""):
    """Polls check() until it returns a truthy value; fails after timeout seconds, with detail() in the message."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout:.0f}s waiting for {what}{detail()}")
        time.sleep(interval)


# --- webhook receiver -------------------------------------------------------------------------------------


def receiver(args):
    out = open(args.out, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {"unparseable": body.decode(errors="replace")}
            out.write(json.dumps(payload) + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self):  # noqa: N802 - readiness
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


def wait_url(args):
    wait_for(args.url, lambda: 200 <= call("GET", args.url, timeout=2)[0] < 300, args.timeout)


def wait_log(args):
    pattern = re.compile(args.regex)

    def check():
        with open(args.file, errors="replace") as f:
            for line in f:
                m = pattern.search(line)
                if m:
                    return m.group(1) if m.groups() else line
        return None

    print(wait_for(f"/{args.regex}/ in {args.file}", check, args.timeout, interval=0.2))


# --- the scenario -----------------------------------------------------------------------------------------


def prom_query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = http_json("GET", url)
    return body["data"]["result"]


def prom_sum(base, expr):
    """The sum of an instant query's values (0 when it returns nothing)."""
    return sum(float(r["value"][1]) for r in prom_query(base, expr))


def received_alerts(path):
    alerts = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                payload = json.loads(line)
                alerts += [a for a in payload.get("alerts", []) if a.get("status") == "firing"]
    return alerts


# The demo accounts whose status API reports an abnormal end, with the vendor label the exporter gives them:
# Agora (status 20, for a few seconds before it answers 404: the demo polls every second) and ZEGO (status 4).
# Tencent and Alibaba forget or do not distinguish abnormally ended recordings in their status APIs (callbacks
# report those), so an abnormal exit there cannot page from polling. ZEGO also reports per-file upload states.
EXIT_ACCOUNTS = {"agora-demo": "agora", "zego-demo": "zego"}


def drive(args):
    sims = dict(pair.split("=", 1) for pair in args.simulators.split())
    for name in EXIT_ACCOUNTS:
        if name not in sims:
            fail(f"the demo did not report simulator {name} (got {sims})")
    zego = sims["zego-demo"]
    run = f"{int(time.time()) % 100000:05d}"

    # The control API rejects bad input with a JSON reason.
    for method, url, body, status in [
        ("POST", f"{zego}/_sim/tasks", {"phase": "recording"}, 400),
        ("POST", f"{zego}/_sim/tasks/none/phase", {"phase": "ended"}, 404),
        ("POST", f"{zego}/_sim/tasks", {"id": "demo-zego-0001"}, 409),
    ]:
        got, text = call(method, url, body)
        if got != status or "error" not in json.loads(text):
            fail(f"control API: {method} {url} {body} -> {got} {text}, want {status} with an error reason")

    # Fresh tasks, each one tracked by the exporter as soon as the simulator creates it.
    accounts = list(EXIT_ACCOUNTS)
    watched = "|".join(accounts)
    started_before = prom_sum(args.prometheus, f'cloudrec_tasks_started_total{{account=~"{watched}"}}')
    exit_tasks = {a: f"e2e-{run}-{EXIT_ACCOUNTS[a]}-exit" for a in accounts}
    upload_task = f"e2e-{run}-zego-upload"
    for account, task in exit_tasks.items():
        http_json("POST", f"{sims[account]}/_sim/tasks", {"id": task, "phase": "recording"})
    http_json("POST", f"{zego}/_sim/tasks", {"id": upload_task, "phase": "recording", "files": 2})
    all_tasks = list(exit_tasks.values()) + [upload_task]
    log(f"created {', '.join(all_tasks)}; waiting until Prometheus sees them running")
    regex = "|".join(all_tasks)
    if args.task_series == "all":
        wait_for("the new tasks to be running in Prometheus",
                 lambda: len(prom_query(args.prometheus, f'cloudrec_task_status{{task_id=~"{regex}", status="running"}} == 1')) == len(all_tasks),
                 args.timeout)
    else:
        # Running tasks have no per-task series in this mode: wait until the counters show them tracked, then until
        # each account's successful polls grew by twice its task count (every task polled again at least once).
        wait_for("the exporter to track the new tasks",
                 lambda: prom_sum(args.prometheus, f'cloudrec_tasks_started_total{{account=~"{watched}"}}') >= started_before + len(all_tasks),
                 args.timeout)
        for account in accounts:
            tasks = prom_sum(args.prometheus, f'sum(cloudrec_tasks{{account="{account}"}})')
            polls = prom_sum(args.prometheus, f'cloudrec_api_requests_total{{account="{account}", outcome="success"}}')
            wait_for(f"every {account} task polled again",
                     lambda: prom_sum(args.prometheus, f'cloudrec_api_requests_total{{account="{account}", outcome="success"}}') >= polls + 2 * tasks,
                     args.timeout)

    # The faults: abnormal exits, and one of two files failing to upload after a normal stop.
    for account, task in exit_tasks.items():
        http_json("POST", f"{sims[account]}/_sim/tasks/{task}/phase", {"phase": "exited_abnormally"})
    http_json("POST", f"{zego}/_sim/tasks/{upload_task}/phase", {"phase": "ended"})
    http_json("POST", f"{zego}/_sim/tasks/{upload_task}/upload_state", {"state": "uploaded"})
    task = http_json("POST", f"{zego}/_sim/tasks/{upload_task}/upload_state", {"state": "failed", "file_index": 0})
    if [f["upload_state"] for f in task["files"]] != ["failed", "uploaded"]:
        fail(f"control API did not set the upload states: {task}")
    log(f"drove {len(exit_tasks)} abnormal exits ({', '.join(accounts)}) and 1 upload failure (zego-demo); "
        "waiting for the webhook")

    expected = [("CloudRecRecordingExitedAbnormally", a, t) for a, t in exit_tasks.items()]
    expected.append(("CloudRecUploadFailed", "zego-demo", upload_task))

    def all_arrived():
        alerts = received_alerts(args.webhook_log)
        found = {}
        for name, _, task in expected:
            for a in alerts:
                if a["labels"].get("alertname") == name and a["labels"].get("task_id") == task:
                    found[(name, task)] = a
        return found if len(found) == len(expected) else None

    def missing():
        got = {(a["labels"].get("alertname"), a["labels"].get("task_id")) for a in received_alerts(args.webhook_log)}
        lines = [f"{name} for {task}" for name, _, task in expected if (name, task) not in got]
        firing = prom_query(args.prometheus, 'ALERTS{alertstate="firing"}')
        lines.append("firing in Prometheus: " + ", ".join(
            f'{a["metric"]["alertname"]}/{a["metric"].get("task_id", "-")}' for a in firing))
        status = prom_query(args.prometheus, f'cloudrec_task_info{{task_id=~"{regex}"}}')
        lines.append("exported: " + ", ".join(f'{a["metric"]["task_id"]}={a["metric"]["vendor_status"]}' for a in status))
        return "; missing " + "; ".join(lines)

    found = wait_for(f"CloudRecRecordingExitedAbnormally x{len(exit_tasks)} and CloudRecUploadFailed at the webhook",
                     all_arrived, args.timeout, detail=missing)
    for name, account, task in expected:
        labels = found[(name, task)]["labels"]
        want = {"alertname": name, "severity": "page", "vendor": EXIT_ACCOUNTS[account], "account": account, "task_id": task}
        if labels != want:
            fail(f"{name} for {task} arrived with labels {labels}, want exactly {want}")
        log(f"received {name} {labels}")
    # The normally ended task must not page as an abnormal exit.
    wrong = [a for a in received_alerts(args.webhook_log)
             if a["labels"].get("task_id") == upload_task and a["labels"]["alertname"] != "CloudRecUploadFailed"]
    if wrong:
        fail(f"unexpected alerts for {upload_task}: {wrong}")
    print(f"  alerts OK: {len(exit_tasks)} abnormal exits and the upload failure reached the receiver with the expected labels")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("receiver")
    r.add_argument("--port-file", required=True)
    r.add_argument("--out", required=True)
    w = sub.add_parser("wait-url")
    w.add_argument("url")
    w.add_argument("--timeout", type=float, default=30)
    wl = sub.add_parser("wait-log")
    wl.add_argument("file")
    wl.add_argument("regex")
    wl.add_argument("--timeout", type=float, default=30)
    d = sub.add_parser("drive")
    d.add_argument("--prometheus", required=True)
    d.add_argument("--simulators", required=True, help='"name=URL name=URL" as the demo logs them')
    d.add_argument("--webhook-log", required=True)
    d.add_argument("--timeout", type=float, default=60)
    d.add_argument("--task-series", default="all", choices=["all", "attention"],
                   help="the exporter's global.task_series: with attention, running tasks have no per-task series")
    args = ap.parse_args()
    {"receiver": receiver, "wait-url": wait_url, "wait-log": wait_log, "drive": drive}[args.cmd](args)


if __name__ == "__main__":
    main()
