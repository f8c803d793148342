#!/usr/bin/env python3
"""Start-up time and memory of an HA replica with N tasks in the PostgreSQL database (README "High availability").

Starts a throwaway PostgreSQL (scripts/postgres.sh) and the simulators process (`cloudrec_exporter simulators`),
lets one replica register and poll one task per account so the database holds real state documents, then copies
them into N rows (real shard numbers: jump hash over FNV-1a, as StoredTask.shard(of:)) with COPY, and starts a fresh
replica. Reports the seconds from exec until it holds all 64 shards and exports every task, its resident memory
then, and the same for the replica before the rows were added (the reference in the same run).

    python3 scripts/bench_ha_startup.py [--tasks 100000] [--binary .build/release/cloudrec_exporter]

Measured, not asserted: a benchmark reports figures, it does not pass or fail on time.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_ha  # noqa: E402  (the rig: processes, PostgreSQL, simulators, metrics parsing)

SHARDS = 64


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for byte in text.encode():
        h ^= byte
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def jump_hash(key, buckets):
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard(account, task_id):
    return jump_hash(fnv1a64(account + "/" + task_id), SHARDS)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--binary", default=".build/debug/cloudrec_exporter")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="cloudrec-ha-startup-")
    procs = check_ha.Processes(workdir)
    pg = check_ha.Postgres(workdir)
    try:
        pg.start()
        token = "bench-token-0123456789"
        sims = check_ha.Simulators(procs, args.binary, workdir, rate_limit=50, poll_interval=30, token=token)
        url = pg.url

        def start_replica(name):
            port = check_ha.free_port()
            argv = [args.binary, "serve", "--config.file", sims.config_path, "--storage.url", url,
                    "--web.listen-address", f"127.0.0.1:{port}", "--ha.replica-id", name, "--log.level", "warn"]
            env = dict(os.environ, CLOUDREC_STORAGE_PASSWORD=pg.password)
            started = time.monotonic()
            return procs.start(name, argv, env=env), port, started

        def metrics(port):
            return check_ha.parse_metrics(check_ha.http().get(f"http://127.0.0.1:{port}/metrics", timeout=30).text)

        def total(samples, name):
            return sum(value for _, value in samples.get(name, []))

        def wait_adopted(port, started, expected):
            def done():
                try:
                    m = metrics(port)
                except Exception:
                    return False
                return total(m, "cloudrec_ha_shards_owned") == SHARDS and total(m, "cloudrec_tasks") >= expected
            check_ha.wait_for(done, 600, f"{expected} tasks adopted", interval=1.0 if expected else 0.05)
            seconds = time.monotonic() - started
            rss = total(metrics(port), "process_resident_memory_bytes")
            return seconds, rss

        # Seed: one task per account registered and polled, for real state documents.
        proc, port, started = start_replica("seed")
        empty_seconds, empty_rss = wait_adopted(port, started, 0)
        for account in sims.accounts:
            fields = sims.create_task(account["name"], "seed-task")
            answer = check_ha.http().put(f"http://127.0.0.1:{port}/api/v1/tasks/{account['name']}/seed-task",
                                         json=fields, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            if answer.status_code not in (200, 201):
                raise check_ha.RigFailure(f"registration answered {answer.status_code}: {answer.text[:200]}")
        check_ha.wait_for(lambda: int(pg.query("SELECT count(*) FROM task_rows WHERE state <> ''")[1] or 0) >= 5,
                          60, "seed states written")
        procs.stop(proc)
        seeds = json.loads(pg.query(
            "SELECT json_agg(json_build_object('account', account, 'vendor', vendor, 'fields', fields::text, "
            "'state', state, 'status', status)) FROM task_rows WHERE state <> ''")[1])

        buffer = io.StringIO()
        for index in range(args.tasks):
            seed = seeds[index % len(seeds)]
            task_id = f"bulk-{index:07d}"
            state = json.loads(seed["state"])
            state["spec"]["id"] = task_id
            row = [seed["account"], task_id, seed["vendor"], str(shard(seed["account"], task_id)), "{api}", "{}",
                   seed["fields"], "{}", str(time.time()), seed["status"], r"\N", json.dumps(state), "1"]
            buffer.write("\t".join(value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n") if value != r"\N" else value
                                   for value in row) + "\n")
        copy = ("COPY task_rows (account, task_id, vendor, shard, shared_sources, local_sources, fields, labels, registered_at, "
                "status, ended_at, state, registration_version) FROM STDIN")
        subprocess.run(["bash", check_ha.POSTGRES_SH, "psql", pg.dir, "-d", "cloudrec", "-c", copy],
                       input=buffer.getvalue().encode(), check=True, stdout=subprocess.DEVNULL)
        print(f"{args.tasks} rows copied into task_rows", file=sys.stderr)

        proc, port, started = start_replica("measured")
        seconds, rss = wait_adopted(port, started, args.tasks)
        result = {"tasks": args.tasks, "binary": args.binary,
                  "startup_seconds": round(seconds, 2), "rss_mib": round(rss / 2**20, 1),
                  "empty_database_startup_seconds": round(empty_seconds, 2), "empty_database_rss_mib": round(empty_rss / 2**20, 1)}
        print(json.dumps(result, indent=2))
    finally:
        procs.stop_all()
        pg.stop()


if __name__ == "__main__":
    main()
