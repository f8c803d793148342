#!/usr/bin/env python3
"""Gzip scrapes read by independent gzip readers (scripts/e2e.sh runs it against the demo exporter).

The exporter joins separately compressed blocks into one gzip member (GzipScrapeCache); this checks that the result
is an ordinary gzip stream for every reader we know Prometheus users point at an exporter:
  - Python's gzip module and the gzip command line tool decode the same bytes from one raw response;
  - promtool check metrics accepts the decoded text;
  - curl --compressed and Python requests (which inflate on their own) get an exposition promtool accepts.
A real Prometheus scrapes with gzip by default; the rest of the e2e run reads what it stored.
"""
import argparse
import gzip
import subprocess
import sys
import urllib.request

import requests


def promtool_check(text: bytes, what: str) -> None:
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"gzip readers: promtool rejects {what}: {result.stdout.decode()} {result.stderr.decode()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    args = parser.parse_args()

    request = urllib.request.Request(args.url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        encoding = response.headers.get("Content-Encoding")
        raw = response.read()
    if encoding != "gzip":
        sys.exit(f"gzip readers: Content-Encoding is {encoding!r}, expected gzip")
    by_python = gzip.decompress(raw)
    by_tool = subprocess.run(["gzip", "-dc"], input=raw, capture_output=True, check=True).stdout
    if by_python != by_tool:
        sys.exit("gzip readers: Python's gzip and gzip -dc decode different bytes")
    if b"cloudrec_task_status" not in by_python:
        sys.exit("gzip readers: the decoded scrape has no cloudrec_task_status")
    promtool_check(by_python, "the gunzipped scrape")

    by_curl = subprocess.run(["curl", "-sf", "--compressed", args.url], capture_output=True, check=True).stdout
    promtool_check(by_curl, "curl --compressed's scrape")

    answer = requests.get(args.url, headers={"Accept-Encoding": "gzip"}, timeout=10)
    answer.raise_for_status()
    if answer.headers.get("Content-Encoding") != "gzip" or "cloudrec_task_status" not in answer.text:
        sys.exit("gzip readers: requests did not get a gzip scrape with task series")
    promtool_check(answer.content, "requests' scrape")
    print(f"gzip readers: {len(raw)} compressed bytes -> {len(by_python)} bytes; Python gzip, gzip -dc, curl --compressed, "
          "requests and promtool check metrics all read it")


if __name__ == "__main__":
    main()
