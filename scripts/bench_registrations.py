#!/usr/bin/env python3
"""Measures the registration API: sustained PUT /api/v1/tasks rate with concurrent clients, and the SQLite
store's size per 10,000 tasks. Starts the built exporter (.build/debug or --binary) on a loopback port with a
temporary config and store; the account's endpoint is a closed local port, so polls fail fast (they still run).

    python3 scripts/bench_registrations.py [--tasks 10000] [--clients 8] [--binary .build/release/cloudrec_exporter]
"""
import argparse, http.client, json, os, shutil, subprocess, sys, tempfile, threading, time, socket

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--binary", default=".build/debug/cloudrec_exporter")
    args = parser.parse_args()
    token = "bench-token-0123456789abcdef"
    work = tempfile.mkdtemp(prefix="cloudrec-bench-")
    try:
        config = os.path.join(work, "config.yml")
        with open(config, "w") as f:
            f.write(f"""api: {{ token: {token} }}
global: {{ poll_interval: 5m }}
accounts:
  - {{ name: zego-bench, vendor: zego, endpoint: "http://127.0.0.1:9", app_id: 1, credentials: {{ server_secret: s }} }}
""")
        store = os.path.join(work, "data", "cloudrec.db")
        port = free_port()
        proc = subprocess.Popen([args.binary, "--config.file", config, "--storage.path", store,
                                 "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error"],
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/-/ready")
                    if c.getresponse().status == 200: break
                except OSError: time.sleep(0.1)
            latencies, errors = [], []
            lock = threading.Lock()
            def client(index):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                mine = []
                for n in range(index, args.tasks, args.clients):
                    started = time.perf_counter()
                    conn.request("PUT", f"/api/v1/tasks/zego-bench/task-{n:07d}", body=b'{"labels":{}}',
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                    response = conn.getresponse(); response.read()
                    mine.append(time.perf_counter() - started)
                    if response.status not in (200, 201):
                        with lock: errors.append(response.status)
                with lock: latencies.extend(mine)
            began = time.perf_counter()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            for t in threads: t.start()
            for t in threads: t.join()
            elapsed = time.perf_counter() - began
            time.sleep(1.5)  # let the write-behind flush settle before measuring the file
            size = sum(os.path.getsize(os.path.join(os.path.dirname(store), f)) for f in os.listdir(os.path.dirname(store)))
            latencies.sort()
            p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
            print(json.dumps({
                "tasks": args.tasks, "clients": args.clients, "seconds": round(elapsed, 2),
                "registrations_per_second": round(args.tasks / elapsed, 1),
                "latency_ms_p50": round(p(0.5), 2), "latency_ms_p99": round(p(0.99), 2), "errors": len(errors),
                "store_bytes": size, "store_bytes_per_10000_tasks": round(size * 10000 / args.tasks),
            }))
        finally:
            proc.terminate(); proc.wait(timeout=10)
    finally:
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    sys.exit(main())
