#!/usr/bin/env python3
"""Extract and check the PromQL queries of the Grafana dashboards.

    python3 scripts/dashboard_queries.py --list
    python3 scripts/dashboard_queries.py --prometheus http://127.0.0.1:9090
    python3 scripts/dashboard_queries.py --prometheus http://127.0.0.1:9090 --require-data

Every panel target `expr` of dashboards/*.json is extracted, including panels nested in (collapsed) rows and
library-style nested `panels` lists. With --include-variables (default on) the template variables' label_values()
queries are checked too, as `count by (<label>) (<selector>)`.

Template variables are substituted so that the query is valid PromQL:
  * Grafana's built-ins: $__rate_interval -> 1m, $__interval -> 15s, $__range -> 5m ($__range_s -> 300,
    $__range_ms -> 300000, $__interval_ms -> 15000);
  * dashboard variables in a regex context (=~"$var" or !~"$var") -> .*
  * dashboard variables elsewhere (e.g. ="$var" or in a legend-free position) -> the value given with
    --var NAME=VALUE, else the variable's current value in the dashboard JSON, else .*
Forms recognised: $var, ${var}, ${var:format}, [[var]].

With --prometheus URL every query is sent to URL/api/v1/query (instant query, now). Per query the report says
whether it parses and whether it returned data. The exit status is 1 if any query failed to parse or to execute,
or (with --require-data) returned no data; 2 on usage errors. Pure python3 stdlib.

Some metrics exist in one storage mode of the exporter only (MODE_ONLY below): the static SQLite mode
(--storage.path, --shard/--total-shards: cloudrec_shard_info) or the high-availability mode (--storage.url
postgres://…: cloudrec_ha_*, cloudrec_storage_reachable, cloudrec_storage_notifications_connected). --mode says which
mode the scraped exporter runs in (default sqlite, what scripts/e2e.sh starts); with --require-data, a query whose
every cloudrec_* metric belongs to the other mode may return no data (reported as "OTHER MODE"), but it must still
parse and execute.
"""

import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BUILTINS = {
    "__rate_interval": "1m",
    "__interval_ms": "15000",
    "__interval": "15s",
    "__range_ms": "300000",
    "__range_s": "300",
    "__range": "5m",
}

# Metrics that only one storage mode exports (regex on the metric name -> mode). The e2e test runs the SQLite mode
# without a PostgreSQL server, so the High availability row of the overview dashboard has no data there; an HA run
# (--mode ha) has no cloudrec_shard_info. Keep this in step with the exporter's metrics (README metric contract).
MODES = ("sqlite", "ha")
MODE_ONLY = {
    r"cloudrec_shard_info": "sqlite",
    r"cloudrec_ha_\w+": "ha",
    r"cloudrec_storage_reachable": "ha",
    r"cloudrec_storage_notifications_connected": "ha",
}
METRIC_RE = re.compile(r"\b(cloudrec_\w+)")

# $name, ${name}, ${name:fmt}, [[name]], [[name:fmt]]
VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
# A variable that is the whole (or part of the) value of a regex matcher: =~"..$var.." or !~"..$var.."
REGEX_CTX_RE = re.compile(r'([=!]~\s*")((?:[^"\\]|\\.)*)(")')
LABEL_VALUES_RE = re.compile(r"^\s*label_values\s*\((.*),\s*(\w+)\s*\)\s*$", re.S)
LABEL_VALUES1_RE = re.compile(r"^\s*label_values\s*\(\s*(\w+)\s*\)\s*$")


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def current_values(dash):
    """Current values of the dashboard's variables, ignoring All/empty."""
    out = {}
    for v in dash.get("templating", {}).get("list", []):
        cur = v.get("current") or {}
        val = cur.get("value")
        if isinstance(val, list):
            val = val[0] if len(val) == 1 else None
        if val in (None, "", "$__all") or (isinstance(val, str) and val.startswith("$")):
            continue
        out[v["name"]] = val
    return out


def substitute(expr, overrides, currents):
    def plain(name):
        if name in BUILTINS:
            return BUILTINS[name]
        if name in overrides:
            return overrides[name]
        if name in currents:
            return str(currents[name])
        return ".*"

    def regex_ctx(m):
        body = VAR_RE.sub(lambda v: BUILTINS.get(v.group(1) or v.group(2) or v.group(3),
                                                  overrides.get(v.group(1) or v.group(2) or v.group(3), ".*")),
                          m.group(2))
        return m.group(1) + body + m.group(3)

    expr = REGEX_CTX_RE.sub(regex_ctx, expr)
    return VAR_RE.sub(lambda v: plain(v.group(1) or v.group(2) or v.group(3)), expr)


def variable_query(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    if not isinstance(q, str) or not q.strip():
        q = v.get("definition")
    if not isinstance(q, str):
        return None
    m = LABEL_VALUES_RE.match(q)
    if m:
        return f"count by ({m.group(2)}) ({m.group(1).strip()})"
    m = LABEL_VALUES1_RE.match(q)
    if m:
        return f"count by ({m.group(1)}) ({{{m.group(1)}!=\"\"}})"
    if q.strip().startswith(("label_names", "metrics(")):
        return None
    q = re.sub(r"^\s*query_result\s*\((.*)\)\s*$", r"\1", q, flags=re.S)
    return q


def extract(paths, overrides, include_variables=True):
    """Yield dicts: file, where (panel title / variable), ref, raw, expr."""
    for path in paths:
        with open(path) as f:
            dash = json.load(f)
        currents = current_values(dash)
        rel = os.path.relpath(path, ROOT)
        for p in walk_panels(dash.get("panels")):
            for t in p.get("targets") or []:
                raw = t.get("expr")
                if not raw or t.get("hide"):
                    continue
                yield {"file": rel, "where": f"panel {p.get('id')} \"{p.get('title', '')}\"",
                       "ref": t.get("refId", "?"), "raw": raw, "expr": substitute(raw, overrides, currents)}
        if include_variables:
            for v in dash.get("templating", {}).get("list", []):
                if v.get("type") != "query":
                    continue
                q = variable_query(v)
                if q:
                    yield {"file": rel, "where": f"variable ${v['name']}", "ref": "-", "raw": q,
                           "expr": substitute(q, overrides, currents)}


def other_mode_only(expr, mode):
    """True when every cloudrec_* metric the query reads exists only in a storage mode other than `mode`."""
    metrics = set(METRIC_RE.findall(expr))
    if not metrics:
        return False
    for metric in metrics:
        owner = next((m for pattern, m in MODE_ONLY.items() if re.fullmatch(pattern, metric)), None)
        if owner is None or owner == mode:
            return False
    return True


def query(base, expr, timeout):
    url = base.rstrip("/") + "/api/v1/query"
    data = urllib.parse.urlencode({"query": expr}).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except Exception:  # noqa: BLE001 - report whatever came back
            return {"status": "error", "errorType": f"http {e.code}", "error": str(e)}
    return body


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dashboards", nargs="*", help="dashboard JSON files (default: dashboards/*.json)")
    ap.add_argument("--list", action="store_true", help="print the substituted queries and exit")
    ap.add_argument("--prometheus", metavar="URL", help="Prometheus base URL to evaluate the queries against")
    ap.add_argument("--require-data", action="store_true", help="fail if a query returns no data")
    ap.add_argument("--mode", choices=MODES, default="sqlite",
                    help="the exporter's storage mode: with --require-data, queries of the other mode's metrics only "
                         "may return no data (default: sqlite)")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="value for a template variable in non-regex contexts (repeatable)")
    ap.add_argument("--no-variables", action="store_true", help="do not check template variable queries")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args()

    overrides = {}
    for kv in args.var:
        if "=" not in kv:
            ap.error(f"--var needs NAME=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        overrides[k] = v

    paths = args.dashboards or sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json")))
    if not paths:
        ap.error("no dashboards found")
    queries = list(extract(paths, overrides, include_variables=not args.no_variables))

    if args.list or not args.prometheus:
        if args.json:
            print(json.dumps(queries, indent=2))
        else:
            for q in queries:
                print(f"{q['file']}\t{q['where']}\t{q['ref']}\t{q['expr']}")
        if not args.prometheus:
            if not args.list:
                print(f"{len(queries)} queries (use --prometheus URL to evaluate them)", file=sys.stderr)
            return 0
        return 0

    failures = 0
    results = []
    for q in queries:
        body = query(args.prometheus, q["expr"], args.timeout)
        ok = body.get("status") == "success"
        etype = body.get("errorType", "")
        parses = ok or etype not in ("bad_data",)
        n = len(body.get("data", {}).get("result", []) or []) if ok else 0
        if body.get("data", {}).get("resultType") == "scalar" and ok:
            n = 1
        status = "ok" if ok and (n or not args.require_data) else ("no-data" if ok else "error")
        if status == "no-data" and other_mode_only(q["expr"], args.mode):
            status = "other-mode"
        if status not in ("ok", "other-mode"):
            failures += 1
        res = dict(q, parses=parses, executed=ok, series=n, status=status,
                   error=None if ok else f"{etype}: {body.get('error', '')}")
        results.append(res)
        if not args.json:
            mark = {"ok": "OK        ", "no-data": "NO DATA   ", "other-mode": "OTHER MODE", "error": "ERROR     "}[status]
            print(f"{mark} parses={'yes' if parses else 'NO '} data={'yes' if n else 'no '} series={n:<4} "
                  f"{q['file']} {q['where']} {q['ref']}")
            if not ok:
                print(f"        {res['error']}\n        {q['expr']}")
    if args.json:
        print(json.dumps(results, indent=2))
    total = len(results)
    parsed = sum(r["parses"] for r in results)
    with_data = sum(1 for r in results if r["series"])
    other = sum(1 for r in results if r["status"] == "other-mode")
    print(f"{total} queries: {parsed} parse, {sum(r['executed'] for r in results)} execute, {with_data} return data, "
          f"{other} empty as expected (metrics of another mode than {args.mode}), {failures} failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
