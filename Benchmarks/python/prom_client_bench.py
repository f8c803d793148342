#!/usr/bin/env python3
"""prometheus_client baseline for the scrape benchmark (Benchmarks/CloudRecBenchmarks).

Reads a text exposition written by the Swift benchmark, registers the very same series as labelled Gauges in a
fresh CollectorRegistry (direct instrumentation: the children exist before the scrape, the fastest path for
generate_latest), then times generate_latest(). Prints one JSON object on stdout.

usage: prom_client_bench.py EXPOSITION_FILE REPETITIONS
"""
import json
import sys
import time

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    path, repetitions = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    registry = CollectorRegistry(auto_describe=False)
    start = time.perf_counter()
    families = 0
    for family in text_string_to_metric_families(text):
        if not family.samples:
            continue
        label_names = list(family.samples[0].labels.keys())
        gauge = Gauge(family.name, family.documentation, label_names, registry=registry)
        for sample in family.samples:
            gauge.labels(*[sample.labels[name] for name in label_names]).set(sample.value)
        families += 1
    register_seconds = time.perf_counter() - start  # includes parsing the exposition

    output = generate_latest(registry)  # warm-up
    timings = []
    for _ in range(repetitions):
        start = time.perf_counter()
        output = generate_latest(registry)
        timings.append(time.perf_counter() - start)
    from importlib.metadata import version

    print(json.dumps({
        "families": families,
        "bytes": len(output),
        "register_seconds": register_seconds,
        "generate_latest_seconds": timings,
        "prometheus_client": version("prometheus_client"),
        "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
