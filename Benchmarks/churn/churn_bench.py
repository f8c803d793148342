#!/usr/bin/env python3
"""Churn benchmark of issue 14 ("Measure"): series created in a real Prometheus per 1,000 recordings, by
`global.task_series` mode (pure python3 stdlib; run through scripts/churn_bench.sh).

For each mode (all, attention, none) a fresh exporter on a config file (`global.task_series: <mode>`) and a fresh
Prometheus (1 s scrape, throwaway TSDB, loopback, `--enable-feature=extra-scrape-metrics`) scrape it, while this
script starts recordings of --duration seconds at a steady --rate through the simulators' control API (`/_sim/`)
and registers each with the exporter's registration API, as an application server would:

- the simulators are those of one `cloudrec_exporter --demo` process (its log line "demo simulators running
  accounts=..." gives the endpoints; the credentials are the demo's, Sources/CloudRecSimulators/Kit/DemoScenario.swift).
  The demo's own exporter tracks every task created through the control API too; it runs with
  `--demo.poll-interval 1h`, so that it polls each task about once and leaves the simulators' 10 requests/s per
  account to the exporter under test;
- recordings go round-robin to ZEGO, Tencent TRTC, Alibaba Live and Alibaba IMS (Agora is left out: an Agora
  recording is found finished only 90 s after its 404, longer than the run's drain). 2% end abnormally and 4% have
  one of their two files fail to upload; both on ZEGO, the vendor among these whose status API reports them;
- per mode it reads Prometheus's own /metrics every second (head series, series created, RSS), the exporter's
  scrape size from Prometheus (`scrape_samples_scraped`, `scrape_body_size_bytes`: the uncompressed body), and at
  the end compares the exporter's fleet counters with what the simulators themselves hold for this run's tasks.

Prints a Markdown table (and --json writes the figures). Every wait is bounded; every process is stopped and the
temporary directory removed on exit.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TOKEN = "churn-bench-token-0123456789abcdef"
# The demo's simulated accounts (DemoScenario.swift): vendor, account fields, credentials.
DEMO_ACCOUNTS = {
    "zego-demo": ("zego", {"app_id": "1234567890"}, {"server_secret": "demo0server0secret0000000000000a"}),
    "tencent-demo": ("tencent_trtc", {"region": "ap-guangzhou", "sdk_app_id": "1400000001"},
                     {"secret_id": "AKIDdemo00000000000000000000000000", "secret_key": "demo0secret0key00000000000000000"}),
    "alibaba-live-demo": ("alibaba_live", {"region": "cn-shanghai"},
                          {"access_key_id": "LTAIdemo" + "0" * 16, "access_key_secret": "demo0access0key0secret" + "0" * 10}),
    "alibaba-ims-demo": ("alibaba_ims", {"region": "cn-shanghai"},
                         {"access_key_id": "LTAIdemo" + "1" * 16, "access_key_secret": "demo1access1key1secret" + "1" * 10}),
}
ROUND_ROBIN = list(DEMO_ACCOUNTS)
FAULT_ACCOUNT = "zego-demo"

procs = []
tmp = tempfile.mkdtemp(prefix="cloudrec-churn.")


def log(msg):
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    if os.environ.get("CHURN_KEEP"):
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))


def start(name, cmd):
    out = open(os.path.join(tmp, name + ".log"), "w")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(method, url, body=None, timeout=10, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def must(method, url, body=None, expect=(200, 201), headers=None):
    status, text = call(method, url, body, headers=headers)
    if status not in expect:
        raise SystemExit(f"churn: {method} {url} -> HTTP {status}: {text[:300]}")
    return json.loads(text) if text.strip().startswith("{") else text


def wait_for(what, check, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (OSError, urllib.error.URLError, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"churn: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_log(name, regex, timeout):
    pattern = re.compile(regex)

    def check():
        with open(os.path.join(tmp, name + ".log"), errors="replace") as f:
            for line in f:
                m = pattern.search(line)
                if m:
                    return m.group(1)
        return None

    return wait_for(f"/{regex}/ in {name}.log", check, timeout)


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a text exposition (enough for counters and gauges)."""
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = frozenset(label_re.findall(m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return out


def metric_sum(metrics, name, **match):
    return sum(v for (n, labels), v in metrics.items()
               if n == name and all((k, val) in labels for k, val in match.items()))


def get_metrics(url):
    status, text = call("GET", url, timeout=10)
    if status != 200:
        raise OSError(f"{url}: HTTP {status}")
    return parse_metrics(text)


def prom_query(prom, expr):
    body = must("GET", prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


class Sampler(threading.Thread):
    """Reads Prometheus's own /metrics every second: head series (max), RSS (max), series created (last)."""

    def __init__(self, prom):
        super().__init__(daemon=True)
        self.prom = prom
        self.stop_event = threading.Event()
        self.head_max = 0.0
        self.rss_max = 0.0
        self.samples = 0

    def run(self):
        while not self.stop_event.wait(1.0):
            try:
                m = get_metrics(self.prom + "/metrics")
            except (OSError, urllib.error.URLError, ValueError):
                continue
            self.head_max = max(self.head_max, metric_sum(m, "prometheus_tsdb_head_series"))
            self.rss_max = max(self.rss_max, metric_sum(m, "process_resident_memory_bytes"))
            self.samples += 1


def exporter_config(mode, sims, args):
    lines = ["global:", f"  poll_interval: {args.poll_interval}", f"  ended_task_retention: {args.retention}",
             f"  task_series: {mode}", "api:", f"  token: {TOKEN}", "accounts:"]
    for name, (vendor, fields, creds) in DEMO_ACCOUNTS.items():
        lines += [f"  - name: {name}", f"    vendor: {vendor}", f"    endpoint: {sims[name]}",
                  f"    rate_limit: {args.rate_limit}"]
        lines += [f'    {k}: "{v}"' for k, v in fields.items()]
        lines += ["    credentials:"] + [f'      {k}: "{v}"' for k, v in creds.items()]
    return "\n".join(lines) + "\n"


def run_mode(mode, sims, args):
    log(f"mode {mode}: starting the exporter and Prometheus")
    config = os.path.join(tmp, f"exporter-{mode}.yml")
    with open(config, "w") as f:
        f.write(exporter_config(mode, sims, args))
    exp_port, prom_port = free_port(), free_port()
    exporter = start(f"exporter-{mode}", [args.exporter, "--config.file", config,
                                          "--web.listen-address", f"127.0.0.1:{exp_port}",
                                          "--storage.path", os.path.join(tmp, f"exporter-{mode}.db")])
    exp = f"http://127.0.0.1:{exp_port}"
    wait_for("the exporter to be ready", lambda: call("GET", exp + "/-/ready", timeout=2)[0] == 200, 30)
    prom_cfg = os.path.join(tmp, f"prometheus-{mode}.yml")
    with open(prom_cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: cloudrec\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{exp_port}']\n")
    prometheus = start(f"prometheus-{mode}", [args.prometheus, f"--config.file={prom_cfg}",
                                              f"--storage.tsdb.path={os.path.join(tmp, 'tsdb-' + mode)}",
                                              f"--web.listen-address=127.0.0.1:{prom_port}",
                                              "--enable-feature=extra-scrape-metrics"])
    prom = f"http://127.0.0.1:{prom_port}"
    wait_for("Prometheus to be ready", lambda: call("GET", prom + "/-/ready", timeout=2)[0] == 200, 30)
    wait_for("Prometheus to scrape the exporter",
             lambda: (prom_query(prom, 'up{job="cloudrec"}') or 0) == 1, 30, interval=0.5)
    time.sleep(3)  # a few scrapes of the exporter's fixed series before the baseline
    base = get_metrics(prom + "/metrics")
    created0 = metric_sum(base, "prometheus_tsdb_head_series_created_total")
    head0 = metric_sum(base, "prometheus_tsdb_head_series")
    sampler = Sampler(prom)
    sampler.start()
    t_begin = time.time()

    # Steady churn: recording i starts at i/rate and ends --duration seconds later.
    total = int(args.rate * args.start_seconds)
    prefix = f"churn-{mode}-{int(t_begin) % 100000:05d}"
    plan = []
    for i in range(total):
        kind = "abnormal" if i % 50 == 0 else "upload_failed" if i % 25 == 12 else "normal"
        account = FAULT_ACCOUNT if kind != "normal" else ROUND_ROBIN[i % len(ROUND_ROBIN)]
        plan.append((i, f"{prefix}-{i:05d}", account, kind))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    t0 = time.monotonic()
    next_start, ends = 0, []  # ends: (due, id, account, kind), in start order, hence sorted
    deadline = t0 + args.start_seconds + args.duration + 60
    while (next_start < total or ends) and time.monotonic() < deadline:
        now = time.monotonic() - t0
        while next_start < total and next_start / args.rate <= now:
            i, tid, account, kind = plan[next_start]
            must("POST", f"{sims[account]}/_sim/tasks",
                 {"id": tid, "phase": "recording", "files": 2 if kind == "upload_failed" else 1})
            must("PUT", f"{exp}/api/v1/tasks/{account}/{tid}", {}, headers=auth)
            ends.append((next_start / args.rate + args.duration, tid, account, kind))
            next_start += 1
        while ends and ends[0][0] <= now:
            _, tid, account, kind = ends.pop(0)
            sim = sims[account]
            must("POST", f"{sim}/_sim/tasks/{tid}/phase", {"phase": "exited_abnormally" if kind == "abnormal" else "ended"})
            if account == "zego-demo":  # ZEGO reports per-file upload states; it is polled until they are final
                must("POST", f"{sim}/_sim/tasks/{tid}/upload_state", {"state": "uploaded"})
                if kind == "upload_failed":
                    must("POST", f"{sim}/_sim/tasks/{tid}/upload_state", {"state": "failed", "file_index": 0})
        time.sleep(0.02)
    if next_start < total or ends:
        raise SystemExit(f"churn: mode {mode}: the driver fell behind ({total - next_start} not started, {len(ends)} not ended)")
    log(f"mode {mode}: {total} recordings started and ended; waiting for the exporter to see every end")

    def finished():
        m = get_metrics(exp + "/metrics")
        return metric_sum(m, "cloudrec_tasks_finished_total") >= total
    try:
        wait_for("the exporter to count every end", finished, args.drain_timeout, interval=1)
        drained = True
    except SystemExit as e:
        log(str(e))
        drained = False
    time.sleep(3)  # let Prometheus scrape the final state
    window = max(5, int(time.time() - t_begin))
    sampler.stop_event.set()
    sampler.join(timeout=5)
    end = get_metrics(prom + "/metrics")
    exp_metrics = get_metrics(exp + "/metrics")
    created = metric_sum(end, "prometheus_tsdb_head_series_created_total") - created0
    scrape_max = prom_query(prom, f'max_over_time(scrape_samples_scraped{{job="cloudrec"}}[{window}s])')
    bytes_max = prom_query(prom, f'max_over_time(scrape_body_size_bytes{{job="cloudrec"}}[{window}s])')
    bytes_avg = prom_query(prom, f'avg_over_time(scrape_body_size_bytes{{job="cloudrec"}}[{window}s])')
    dur_avg = prom_query(prom, f'avg_over_time(scrape_duration_seconds{{job="cloudrec"}}[{window}s])')
    throttled = metric_sum(exp_metrics, "cloudrec_api_requests_total", outcome="throttled")
    requests = metric_sum(exp_metrics, "cloudrec_api_requests_total")

    # What the simulators themselves hold for this run's tasks.
    sim_started = sim_abnormal = sim_ended = sim_failed_files = sim_uploaded_files = 0
    for account in DEMO_ACCOUNTS:
        for t in must("GET", f"{sims[account]}/_sim/tasks")["tasks"]:
            if not t["id"].startswith(prefix + "-"):
                continue
            sim_started += 1
            sim_abnormal += t["phase"] == "exited_abnormally"
            sim_ended += t["phase"] in ("ended", "exited_abnormally")
            if account == "zego-demo":
                sim_failed_files += sum(f["upload_state"] == "failed" for f in t["files"])
                sim_uploaded_files += sum(f["upload_state"] == "uploaded" for f in t["files"])
    counters = {
        "recordings started": (metric_sum(exp_metrics, "cloudrec_tasks_started_total"), sim_started),
        "recordings finished": (metric_sum(exp_metrics, "cloudrec_tasks_finished_total"), sim_ended),
        "ended abnormally": (metric_sum(exp_metrics, "cloudrec_tasks_finished_total", status="failed"), sim_abnormal),
        "files failed": (metric_sum(exp_metrics, "cloudrec_files_finished_total", upload_state="failed"), sim_failed_files),
        "files uploaded (ZEGO)": (metric_sum(exp_metrics, "cloudrec_files_finished_total", upload_state="uploaded"),
                                  sim_uploaded_files),
    }
    result = {
        "mode": mode, "recordings": total, "drained": drained, "seconds": round(time.time() - t_begin),
        "series_created": created, "series_per_1000": created / total * 1000 if total else 0,
        "head_series_baseline": head0, "head_series_peak": sampler.head_max,
        "prometheus_rss_peak": sampler.rss_max, "scrape_samples_max": scrape_max,
        "scrape_bytes_max": bytes_max, "scrape_bytes_avg": bytes_avg, "scrape_duration_avg": dur_avg,
        "exporter_rss": metric_sum(exp_metrics, "process_resident_memory_bytes"),
        "api_requests": requests, "api_throttled": throttled,
        "counters": {k: {"exporter": a, "simulators": b} for k, (a, b) in counters.items()},
        "counters_match": all(a == b for a, b in counters.values()),
    }
    log(f"mode {mode}: {json.dumps(result)}")
    stop(prometheus)
    stop(exporter)
    return result


def mib(b):
    return f"{b / 1048576:.0f} MiB" if b else "—"


def num(v, digits=0):
    return "—" if v is None else f"{v:,.{digits}f}"


def table(results, args):
    out = ["| mode | recordings | series created | per 1,000 recordings | head series peak (baseline) | "
           "Prometheus RSS peak | exporter scrape: samples max | bytes max / avg | counters = simulators |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        c = r["counters"]
        if r["counters_match"]:
            match = "yes ({:.0f} started, {:.0f} abnormal, {:.0f} files failed)".format(
                c["recordings started"]["exporter"], c["ended abnormally"]["exporter"], c["files failed"]["exporter"])
        else:
            match = "NO: " + "; ".join(f"{k} {v['exporter']:.0f} vs {v['simulators']}" for k, v in c.items()
                                       if v["exporter"] != v["simulators"])
        out.append(f"| `{r['mode']}` | {r['recordings']:,} | {num(r['series_created'])} | {num(r['series_per_1000'])} | "
                   f"{num(r['head_series_peak'])} ({num(r['head_series_baseline'])}) | {mib(r['prometheus_rss_peak'])} | "
                   f"{num(r['scrape_samples_max'])} | {num(r['scrape_bytes_max'])} / {num(r['scrape_bytes_avg'])} | {match} |")
    out.append("")
    for r in results:
        out.append(f"- `{r['mode']}`: exporter RSS at the end {mib(r['exporter_rss'])}, scrape duration avg "
                   f"{num((r['scrape_duration_avg'] or 0) * 1000, 1)} ms, vendor calls {num(r['api_requests'])} "
                   f"({num(r['api_throttled'])} throttled), {r['seconds']} s"
                   + ("" if r["drained"] else ", NOT every end counted within the drain timeout"))
    by = {r["mode"]: r for r in results}
    if "all" in by and "attention" in by and by["all"]["series_per_1000"]:
        ratio = by["attention"]["series_per_1000"] / by["all"]["series_per_1000"]
        out.append("")
        out.append(f"`attention` / `all` series per 1,000 recordings: {ratio:.3f} "
                   f"(target ≤ 0.1: {'met' if ratio <= 0.1 else 'NOT met'}).")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exporter", default=os.environ.get("EXPORTER", ".build/debug/cloudrec_exporter"))
    ap.add_argument("--prometheus", default=os.environ.get("PROMETHEUS", "prometheus"))
    ap.add_argument("--modes", default="all,attention,none")
    ap.add_argument("--rate", type=float, default=6, help="recordings started per second (default 6)")
    ap.add_argument("--start-seconds", type=float, default=120, help="how long recordings keep starting (default 120)")
    ap.add_argument("--duration", type=float, default=60, help="seconds each recording lasts (default 60)")
    ap.add_argument("--poll-interval", default="15s", help="the exporter's global.poll_interval (default 15s)")
    ap.add_argument("--rate-limit", type=float, default=8, help="the exporter's rate_limit per account "
                    "(the simulators admit 10/s; default 8)")
    ap.add_argument("--retention", default="1m", help="global.ended_task_retention (default 1m)")
    ap.add_argument("--drain-timeout", type=float, default=60)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("all", "attention", "none"):
            raise SystemExit(f"churn: unknown mode {m}")
    began = time.time()
    log("starting the demo (its simulators only: --demo.poll-interval 1h)")
    start("demo", [args.exporter, "--demo", "--demo.poll-interval", "1h", "--web.listen-address", "127.0.0.1:0"])
    accounts = wait_log("demo", r'demo simulators running.*accounts="([^"]+)"', 30)
    sims = dict(pair.split("=", 1) for pair in accounts.split())
    missing = [a for a in DEMO_ACCOUNTS if a not in sims]
    if missing:
        raise SystemExit(f"churn: the demo did not report simulators {missing} (got {sims})")
    results = [run_mode(m, sims, args) for m in modes]
    print(f"Churn: {args.rate:g} recordings/s for {args.start_seconds:g} s per mode, each {args.duration:g} s long; "
          f"poll_interval {args.poll_interval}, rate_limit {args.rate_limit:g}/s per account, ended_task_retention "
          f"{args.retention}; total {time.time() - began:.0f} s.\n")
    print(table(results, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    if not all(r["counters_match"] and r["drained"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
