#!/usr/bin/env python3
"""Generate the Grafana dashboards in dashboards/ (classic JSON model, for file provisioning or import).

    python3 scripts/gen_dashboards.py           # (re)write dashboards/*.json
    python3 scripts/gen_dashboards.py --check   # exit 1 if a committed dashboard differs from the generator

Conventions (kubernetes-mixin / grafana dashboard-linter):
  * one `datasource` variable (type datasource, query prometheus, label "Data Source"); every panel and target
    uses {"type": "prometheus", "uid": "${datasource}"}: no hard-coded datasource ids;
  * `job`, `vendor`, `account` (and `task_id` on the detail dashboard) query variables from label_values();
    every query filters with =~"$var";
  * rates use $__rate_interval; every panel has a description and a unit;
  * per-task series are de-duplicated with max by (...) and per-account/per-vendor series are summed with
    sum by (...), so the dashboards are correct with several exporter replicas (sharding);
  * stable uids: cloudrec-overview, cloudrec-task-detail.
Only the exporter's public metrics (README metric contract), `up` and process_* are used.
The fleet row's objectives come from alerts/objectives/slo.yml (the one place they are set; read with a regex, so the
generator stays pure python3 stdlib).
"""

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "dashboards")

DS = {"type": "prometheus", "uid": "${datasource}"}


def objectives():
    """The objectives of alerts/objectives/slo.yml (`recordings: 0.99`, `uploads: 0.99` under `objectives:`)."""
    with open(os.path.join(ROOT, "alerts", "objectives", "slo.yml")) as f:
        text = f.read()
    block = re.search(r"^objectives:\n((?:[ #].*\n|\n)*)", text, re.M).group(1)
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^  (\w+):\s*([0-9.]+)", block, re.M)}


OBJECTIVES = objectives()
ACTIVE = "initializing|running|paused|stopping"
STATUS_COLORS = {
    "initializing": "blue",
    "running": "green",
    "paused": "yellow",
    "stopping": "orange",
    "completed": "purple",
    "failed": "red",
    "unknown": "text",
}
ST_FAILED = 'status="failed"'
ST_ACTIVE = f'status=~"{ACTIVE}"'
ST_TRANS = 'status=~"initializing|stopping"'
UP_FAILED = 'upload_state="failed"'
UP_BACKUP = 'upload_state="backup_uploaded"'
UP_BOTH = 'upload_state=~"failed|backup_uploaded"'
NOT_OK = 'outcome!~"success|not_found"'
# A 0/1 health gauge shown as Failed/OK.
OK_FAILED = [{"type": "value", "options": {
    "0": {"text": "Failed", "color": "red", "index": 0},
    "1": {"text": "OK", "color": "green", "index": 1}}}]
TASK_LINK = (
    "/d/cloudrec-task-detail/cloudrec-task-detail?var-datasource=${datasource}&var-job=${job}"
    "&var-vendor=${__data.fields.vendor}&var-account=${__data.fields.account}"
    "&var-task_id=${__data.fields.task_id}&${__url_time_range}"
)


# ------------------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------------------
class Layout:
    """Assigns ids and gridPos left to right, top to bottom."""

    def __init__(self):
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_h = 0

    def place(self, panel, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def row(self, title, children=None, collapsed=False):
        """A row panel. Expanded rows are followed by their panels at top level; collapsed rows nest them."""
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        row = {
            "type": "row",
            "title": title,
            "collapsed": collapsed,
            "id": self.next_id,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "panels": [],
        }
        self.next_id += 1
        self.y += 1
        self.row_h = 0
        return row


def target(expr, legend="__auto", ref="A", instant=False, fmt=None):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t.update({"instant": True, "range": False, "format": fmt or "table"})
    else:
        t.update({"range": True, "instant": False})
        if fmt:
            t["format"] = fmt
    return t


def targets(*exprs_and_legends, **kw):
    return [target(e, l, chr(ord("A") + i), **kw) for i, (e, l) in enumerate(exprs_and_legends)]


def thresholds(*steps):
    out = [{"color": "green", "value": None}]
    out += [{"color": c, "value": v} for v, c in steps]
    return {"mode": "absolute", "steps": out}


def timeseries(title, description, tgts, unit="short", stack=False, min0=True, bars=False, steps=None,
               decimals=None, overrides=None, max_=None):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else (30 if stack else 10),
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisSoftMin": 0 if min0 else None,
    }
    if custom["axisSoftMin"] is None:
        del custom["axisSoftMin"]
    defaults = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if steps:
        defaults["thresholds"] = thresholds(*steps)
        custom["thresholdsStyle"] = {"mode": "dashed"}
    if decimals is not None:
        defaults["decimals"] = decimals
    if max_ is not None:
        defaults["max"] = max_
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                       "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title, description, tgts, unit="short", steps=None, text_mode="auto", mappings=None, color_mode="value",
         graph=True):
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": thresholds(*(steps or [])),
                "color": {"mode": "thresholds"},
                "mappings": mappings or [],
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": text_mode,
            "colorMode": color_mode,
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
        },
    }


def table(title, description, tgts, unit="short", rename=None, link_task=False, sort=None, hide=("Time",),
          value_mappings=None, steps=None):
    overrides = []
    if link_task:
        overrides.append({
            "matcher": {"id": "byName", "options": "task_id"},
            "properties": [{"id": "links", "value": [
                {"title": "Task detail", "url": TASK_LINK, "targetBlank": False}]}],
        })
    excl = {h: True for h in hide}
    excl.update({"__name__": True, "job": True})
    transformations = []
    if len(tgts) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append({"id": "organize", "options": {"excludeByName": excl, "renameByName": rename or {}}})
    defaults = {"unit": unit, "custom": {"align": "auto", "filterable": True}, "mappings": value_mappings or []}
    if steps:
        defaults["thresholds"] = thresholds(*steps)
        defaults["custom"]["cellOptions"] = {"type": "color-text"}
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": {"showHeader": True, "cellHeight": "sm", "sortBy": sort or [],
                    "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""}},
        "transformations": transformations,
    }


def state_timeline(title, description, tgts, overrides=None, mappings=None):
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {
            "defaults": {
                "unit": "short",
                "color": {"mode": "thresholds"},
                "thresholds": thresholds(),
                "mappings": mappings or [],
                "custom": {"fillOpacity": 80, "lineWidth": 0},
            },
            "overrides": overrides or [],
        },
        "options": {"showValue": "never", "mergeValues": True, "alignValue": "left", "rowHeight": 0.8,
                    "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
                    "tooltip": {"mode": "single", "sort": "none"}},
    }


def color_overrides(colors):
    return [{"matcher": {"id": "byName", "options": name},
             "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}]}
            for name, color in colors.items()]


def datasource_var():
    return {
        "name": "datasource", "label": "Data Source", "type": "datasource", "query": "prometheus",
        "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
        "regex": "", "skipUrlSync": False,
    }


def query_var(name, label, query, include_all=True, multi=False, current=None):
    v = {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2,  # on time range change (dashboard-linter template-on-time-change-reload-rule)
        "includeAll": include_all, "multi": multi, "sort": 1, "regex": "", "hide": 0, "options": [],
        "skipUrlSync": False,
        "current": current or ({"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {}),
    }
    if include_all:
        v["allValue"] = ".*"
    return v


def job_var():
    return query_var("job", "Job", "label_values(cloudrec_exporter_build_info, job)", include_all=False,
                     current={"selected": True, "text": "cloudrec", "value": "cloudrec"})


def dashboard(uid, title, description, panels, variables, tags=("cloudrec",)):
    return {
        "__inputs": [],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        ],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{"type": "dashboards", "title": "Cloud recording", "tags": ["cloudrec"], "asDropdown": False,
                   "includeVars": True, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "panels": panels,
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": list(tags),
        "templating": {"list": variables},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def add(container, layout, panel, w, h):
    container.append(layout.place(panel, w, h))


# ------------------------------------------------------------------------------------------------------------
# Overview
# ------------------------------------------------------------------------------------------------------------
def overview():
    S = 'job=~"$job", vendor=~"$vendor", account=~"$account"'
    J = 'job=~"$job"'
    L = Layout()
    P = []

    def task_max(metric, extra="", by="vendor, account, task_id"):
        return f'max by ({by}) ({metric}{{{S}{", " + extra if extra else ""}}})'

    # ---- Tasks -------------------------------------------------------------------------------------------
    P.append(L.row("Tasks"))
    add(P, L, stat("Tracked tasks", "Tasks the exporter currently tracks, all states, summed over replicas. In "
                   "high-availability mode a task handed over between replicas can count twice for one scrape interval.",
                   targets((f"sum(cloudrec_tasks{{{S}}})", "tasks"))), 4, 4)
    add(P, L, stat("Running", "Tasks in status running.",
                   targets((f'sum(cloudrec_tasks{{{S}, status="running"}})', "running"))), 4, 4)
    add(P, L, stat("Transitional", "Tasks initializing or stopping.",
                   targets((f'sum(cloudrec_tasks{{{S}, status=~"initializing|stopping"}})', "transitional"))),
        4, 4)
    add(P, L, stat("Failed (tracked)", "Tracked tasks whose recording exited abnormally (status failed).",
                   targets((f'sum(cloudrec_tasks{{{S}, status="failed"}})', "failed")), steps=[(1, "red")]), 4, 4)
    add(P, L, stat("Files failed to upload",
                   "Files that failed to upload to both the configured storage and the vendor backup "
                   "(vendors with per-file upload states only).",
                   targets((f'sum({task_max("cloudrec_task_upload_files", UP_FAILED)})', "files")),
                   steps=[(1, "red")]), 4, 4)
    add(P, L, stat("Files in backup only",
                   "Files that only reached the vendor's temporary backup storage (ZEGO keeps them 3 days).",
                   targets((f'sum({task_max("cloudrec_task_upload_files", UP_BACKUP)})',
                            "files")), steps=[(1, "orange")]), 4, 4)
    add(P, L, timeseries("Tasks by status", "Tracked tasks per common status, summed over vendors, accounts and "
                         "replicas.", targets((f"sum by (status) (cloudrec_tasks{{{S}}})", "{{status}}")),
                         stack=True, overrides=color_overrides(STATUS_COLORS)), 12, 8)
    add(P, L, timeseries("Tasks by vendor and status", "Tracked tasks per vendor and status, summed over accounts "
                         "and replicas.",
                         targets((f"sum by (vendor, status) (cloudrec_tasks{{{S}}}) > 0", "{{vendor}} {{status}}"))),
        12, 8)

    # ---- Fleet: the counters that outlive tasks --------------------------------------------------------------
    P.append(L.row("Fleet"))
    inc = lambda m, extra="", w="1h": f'increase({m}{{{S}{", " + extra if extra else ""}}}[{w}])'
    ratio = lambda m, bad, w: (f"sum by (vendor, account) ({inc(m, bad, w)})"
                               f" / sum by (vendor, account) ({inc(m, '', w)})")
    rec_budget, up_budget = 1 - OBJECTIVES["recordings"], 1 - OBJECTIVES["uploads"]

    def failure_ratio(title, what, metric, bad, budget, alert):
        return timeseries(title, f"Share of {what} in the last hour that failed, per account ({metric}). The objective "
                          f"allows {budget:.2%}; alerts {alert}.",
                          targets((ratio(metric, bad, "1h"), "{{vendor}} {{account}}")),
                          unit="percentunit", steps=[(budget, "red")])

    add(P, L, failure_ratio("Recording failure ratio by account", "the recordings finished",
                            "cloudrec_tasks_finished_total", ST_FAILED, rec_budget, "CloudRecRecordingErrorBudgetBurn"), 8, 8)
    add(P, L, timeseries("Recording error budget left (7 days)",
                         "Per account, the share of the error budget not yet spent over the last 7 days: "
                         f"1 - failure ratio / {rec_budget:g} (objective {OBJECTIVES['recordings']:.2%} of recordings "
                         "ending well, alerts/objectives/slo.yml). Below 0: the objective is missed.",
                         targets((f"1 - ({ratio('cloudrec_tasks_finished_total', ST_FAILED, '7d')}) / {rec_budget:g}",
                                  "{{vendor}} {{account}}")),
                         unit="percentunit", min0=False, steps=[(0, "red")]), 8, 8)
    add(P, L, timeseries("Recordings finished per hour by result",
                         "Recordings that finished in the last hour, by final status and how the end was found "
                         "(vendor status, not found after seen, callback), summed over accounts.",
                         targets((f"sum by (status, found_by) ({inc('cloudrec_tasks_finished_total')})",
                                  "{{status}} ({{found_by}})")), decimals=0, stack=True), 8, 8)
    add(P, L, failure_ratio("Upload failure ratio by account", "the files that reached a final upload state",
                            "cloudrec_files_finished_total", UP_FAILED, up_budget, "CloudRecUploadErrorBudgetBurn"), 8, 8)
    add(P, L, timeseries("Recorded hours per account per day",
                         "Hours of recorded files of the tasks that finished in the last 24 hours, per account, where "
                         "the vendor reports durations: the basis of a cost panel.",
                         targets((f"sum by (vendor, account) ({inc('cloudrec_recorded_seconds_total', w='1d')}) / 3600",
                                  "{{vendor}} {{account}}")), unit="h"), 8, 8)
    add(P, L, timeseries("Tasks started and stalled",
                         "Tasks that began being tracked in the last hour by source, and running tasks stalled now "
                         "(files not grown for stall_after), summed over accounts.",
                         targets((f"sum by (source) ({inc('cloudrec_tasks_started_total')})", "started ({{source}})"),
                                 (f"sum(cloudrec_tasks_stalled{{{S}}})", "stalled now")), decimals=0), 8, 8)

    # ---- Problems ----------------------------------------------------------------------------------------
    P.append(L.row("Recording problems"))
    add(P, L, timeseries("Abnormal exits",
                         "Tracked tasks in status failed, per vendor (a task drops out when the exporter retires it).",
                         targets((f'count by (vendor) ({task_max("cloudrec_task_status", ST_FAILED)} == 1)',
                                  "{{vendor}}")), decimals=0), 8, 8)
    add(P, L, timeseries("Upload failures and backup-only files",
                         "Files per upload state failed / backup_uploaded, per vendor.",
                         targets((f'sum by (vendor, upload_state) ('
                                  f'{task_max("cloudrec_task_upload_files", UP_BOTH, "vendor, account, task_id, upload_state")})',
                                  "{{vendor}} {{upload_state}}")), decimals=0), 8, 8)
    add(P, L, timeseries("Tasks stuck or stale",
                         "Tasks initializing/stopping, and active tasks without a successful poll for 10 minutes.",
                         targets(
                             (f'sum by (vendor, status) (cloudrec_tasks{{{S}, status=~"initializing|stopping"}})',
                              "{{vendor}} {{status}}"),
                             # `> bool` + sum, not a filter + count: a healthy vendor shows 0 rather than no data.
                             (f'sum by (vendor) ((time() - {task_max("cloudrec_task_last_success_timestamp_seconds")} > bool 600)'
                              f' and on (vendor, account, task_id) ({task_max("cloudrec_task_status", ST_ACTIVE)} == 1))',
                              "{{vendor}} stale polls")), decimals=0), 8, 8)
    problems = (
        f'label_replace({task_max("cloudrec_task_status", ST_FAILED)} == 1, '
        f'"problem", "exited abnormally", "", "")'
        f' or label_replace({task_max("cloudrec_task_upload_files", UP_FAILED)} > 0, '
        f'"problem", "upload failed", "", "")'
        f' or label_replace({task_max("cloudrec_task_upload_files", UP_BACKUP)} > 0, '
        f'"problem", "backup storage only", "", "")'
        f' or label_replace({task_max("cloudrec_task_status", ST_TRANS, "vendor, account, task_id, status")} == 1, '
        f'"problem", "in transitional state", "", "")'
        f' or label_replace({task_max("cloudrec_task_stalled")} == 1, '
        f'"problem", "stalled", "", "")'
    )
    add(P, L, table("Tasks needing attention",
                    "Tasks that failed, have failed or backup-only uploads, are initializing/stopping or stalled. "
                    "Value = number of files for upload problems. Click a task id for details.",
                    [target(problems, "", "A", instant=True)], link_task=True,
                    rename={"Value": "files / flag"}), 12, 9)
    add(P, L, table("Active tasks by age of last successful poll",
                    "Seconds since the last successful status poll of each active task, oldest first. "
                    "Click a task id for details.",
                    [target(f'sort_desc(time() - {task_max("cloudrec_task_last_success_timestamp_seconds")}'
                            f' and on (vendor, account, task_id) ({task_max("cloudrec_task_status", ST_ACTIVE)} == 1))',
                            "", "A", instant=True)],
                    unit="s", link_task=True, rename={"Value": "last success age"},
                    sort=[{"displayName": "last success age", "desc": True}],
                    steps=[(300, "orange"), (600, "red")]), 12, 9)

    # ---- Vendor APIs --------------------------------------------------------------------------------------
    P.append(L.row("Vendor APIs"))
    rate = lambda m, extra="": f'rate({m}{{{S}{", " + extra if extra else ""}}}[$__rate_interval])'
    add(P, L, timeseries("Requests by outcome", "Vendor API requests per second by vendor and outcome.",
                         targets((f"sum by (vendor, outcome) ({rate('cloudrec_api_requests_total')})",
                                  "{{vendor}} {{outcome}}")), unit="reqps"), 12, 8)
    add(P, L, timeseries("Error ratio by account",
                         "Share of requests per account that failed (all outcomes except success and not_found; "
                         "not_found is normal for ended tasks). Alerts: CloudRecApiErrors (5%), "
                         "CloudRecAuthFailures (10% auth_error), CloudRecThrottling (5% throttled).",
                         targets((f"sum by (vendor, account) ({rate('cloudrec_api_requests_total', NOT_OK)})"
                                  f" / sum by (vendor, account) ({rate('cloudrec_api_requests_total')})",
                                  "{{vendor}} {{account}}")),
                         unit="percentunit", steps=[(0.05, "red")], max_=1), 12, 8)
    add(P, L, timeseries("Errors by vendor code", "Vendor API errors per second by the vendor's own error code.",
                         targets((f"sum by (vendor, account, code) ({rate('cloudrec_api_errors_total')})",
                                  "{{vendor}} {{account}} {{code}}")), unit="reqps"), 8, 8)
    add(P, L, timeseries("Throttled requests", "Requests per second the vendor throttled, by account and API.",
                         targets((f"sum by (vendor, account, api) ({rate('cloudrec_api_throttled_total')})",
                                  "{{vendor}} {{account}} {{api}}")), unit="reqps"), 8, 8)
    add(P, L, timeseries("Request latency", "Vendor API request duration quantiles (50th, 90th, 99th) per vendor.",
                         targets(*[(f"histogram_quantile({q}, sum by (vendor, le) "
                                    f"({rate('cloudrec_api_request_duration_seconds_bucket')}))",
                                    f"{{{{vendor}}}} p{int(q * 100)}") for q in (0.5, 0.9, 0.99)]),
                         unit="s"), 8, 8)

    # ---- Polling -----------------------------------------------------------------------------------------
    P.append(L.row("Poll freshness"))
    add(P, L, timeseries("Poll budget utilization",
                         "Share of the account's rate_limit used by the poll scheduler (worst replica). "
                         "Alert CloudRecPollBudgetExhausted above 95% with growing lag.",
                         targets((f"max by (vendor, account) (cloudrec_poll_budget_utilization{{{S}}})",
                                  "{{vendor}} {{account}}")),
                         unit="percentunit", steps=[(0.95, "red")], max_=1), 8, 8)
    add(P, L, timeseries("Poll lag", "How late polls start compared with their due time (worst replica).",
                         targets((f"max by (vendor, account) (cloudrec_poll_lag_seconds{{{S}}})",
                                  "{{vendor}} {{account}}")), unit="s", steps=[(120, "red")]), 8, 8)
    add(P, L, timeseries("Oldest successful poll of an active task",
                         "Per account, the age of the oldest last successful poll among active tasks. "
                         "Alert CloudRecPollsStale above 10 minutes.",
                         targets((f'max by (vendor, account) ((time() - {task_max("cloudrec_task_last_success_timestamp_seconds")})'
                                  f' and on (vendor, account, task_id) ({task_max("cloudrec_task_status", ST_ACTIVE)} == 1))',
                                  "{{vendor}} {{account}}")), unit="s", steps=[(600, "red")]), 8, 8)

    # ---- Exporter (collapsed row: panels nested) ----------------------------------------------------------
    row = L.row("Exporter health", collapsed=True)
    P.append(row)
    C = row["panels"]
    add(C, L, stat("Targets up", "Scrape targets of the job that are up / all targets.",
                   targets((f"sum(up{{{J}}})", "up"), (f"count(up{{{J}}})", "targets")), graph=False), 4, 5)
    add(C, L, stat("Config reload", "Last configuration reload per replica (0 = failed, still on the old config).",
                   targets((f"min(cloudrec_config_last_reload_successful{{{J}}})", "reload")),
                   mappings=OK_FAILED, graph=False), 4, 5)
    add(C, L, stat("Since last successful reload", "Time since the last successful configuration (re)load.",
                   targets((f"time() - max(cloudrec_config_last_reload_success_timestamp_seconds{{{J}}})", "age")),
                   unit="s", graph=False), 4, 5)
    add(C, L, table("Build info", "Version and revision of each replica.",
                    [target(f"cloudrec_exporter_build_info{{{J}}}", "", "A", instant=True)],
                    hide=("Time", "Value")), 12, 5)
    add(C, L, timeseries("Resident memory", "Resident set size per replica.",
                         targets((f"process_resident_memory_bytes{{{J}}}", "{{instance}}")), unit="bytes"), 8, 8)
    add(C, L, timeseries("CPU", "CPU seconds used per second, per replica.",
                         targets((f"rate(process_cpu_seconds_total{{{J}}}[$__rate_interval])", "{{instance}}")),
                         unit="percentunit"), 8, 8)
    add(C, L, table("Shards", "cloudrec_shard_info per replica (static sharding, --shard/--total-shards; high-availability "
                    "mode has the High availability row instead); every shard 0..total_shards-1 must appear once.",
                    [target(f"cloudrec_shard_info{{{J}}}", "", "A", instant=True)], hide=("Time", "Value")), 8, 8)
    add(C, L, stat("Task store", "Whether the last write to each replica's task database succeeded (worst replica). "
                   "Failed: full disk or read-only data directory; registrations get 503. Alert CloudRecStorageFailing.",
                   targets((f"min(cloudrec_storage_writable{{{J}}})", "writable")),
                   mappings=OK_FAILED, graph=False), 4, 8)
    add(C, L, timeseries("Task store write errors", "Failed writes to the task database per second, per replica "
                         "(about 1/s while it fails: the exporter retries every second).",
                         targets((f"sum by (instance) (rate(cloudrec_storage_write_errors_total{{{J}}}[$__rate_interval]))",
                                  "{{instance}}")), unit="ops", steps=[(0.001, "red")]), 10, 8)
    add(C, L, timeseries("Task store pending writes", "Task states changed in memory but not yet in the task database, "
                         "per replica (written each second; they pile up while the store fails).",
                         targets((f"cloudrec_storage_pending_writes{{{J}}}", "{{instance}}"))), 10, 8)

    # ---- High availability (collapsed: only --storage.url postgres://… has these series) --------------------
    row = L.row("High availability", collapsed=True)
    P.append(row)
    C = row["panels"]
    add(C, L, timeseries("Shards owned per replica",
                         "Logical shards (of cloudrec_ha_shards, 64) whose lease each replica holds, stacked: the stack "
                         "reaches 64 when every shard is held. Replicas beyond 64 hold none (standbys). During a "
                         "handover a shard can show at two replicas, or at none, for up to one scrape interval.",
                         targets((f"sum by (instance) (cloudrec_ha_shards_owned{{{J}}})", "{{instance}}")),
                         stack=True, decimals=0), 8, 8)
    add(C, L, timeseries("Unowned shards",
                         "Shards nobody holds a valid lease on: the fewest any replica saw at its last renewal, and "
                         "64 minus the shards the replicas hold (this one also shows a database unreachable from every "
                         "replica). Their tasks are not polled. A handover shows up for about 20 s; alert "
                         "CloudRecShardsUnowned after 2 minutes.",
                         targets((f"min(cloudrec_ha_shards_unowned{{{J}}})", "unowned (seen at renewal)"),
                                 (f"max(cloudrec_ha_shards{{{J}}}) - sum(cloudrec_ha_shards_owned{{{J}}})",
                                  "not held by a scraped replica")),
                         decimals=0, steps=[(1, "red")]), 8, 8)
    add(C, L, stat("Live replicas",
                   "Replicas with a heartbeat in the lease table within one lease duration, as seen at the last "
                   "renewal (most any replica saw), and replicas Prometheus scrapes. A difference: a replica is cut "
                   "off from the database, or one outside this job uses the same database.",
                   targets((f"max(cloudrec_ha_replicas{{{J}}})", "live"), (f"count(cloudrec_ha_shards{{{J}}})", "scraped")),
                   graph=False), 4, 4)
    add(C, L, stat("Task database reachable",
                   "Whether the last statement of every replica against PostgreSQL succeeded (worst replica). While it "
                   "fails, registrations get 503 and a replica stops polling when its leases run out.",
                   targets((f"min(cloudrec_storage_reachable{{{J}}})", "reachable")), mappings=OK_FAILED, graph=False),
        4, 4)
    add(C, L, stat("Change notifications",
                   "Whether every replica's LISTEN connection for task changes is up (worst replica). Down: "
                   "registrations and callbacks taken by other replicas arrive with the next resync instead.",
                   targets((f"min(cloudrec_storage_notifications_connected{{{J}}})", "connected")),
                   mappings=OK_FAILED, graph=False), 4, 4)
    add(C, L, stat("Pending writes",
                   "Task states changed in memory but not yet written to PostgreSQL, all replicas (written each second; "
                   "they pile up while the database is unreachable).",
                   targets((f"sum(cloudrec_storage_pending_writes{{{J}}})", "pending")), steps=[(1000, "orange")]), 4, 4)
    add(C, L, timeseries("Lease renewals by result",
                         "Lease renewal rounds per second, per replica and result (a round every lease/3, 5 s by "
                         "default). Failed rounds: alert CloudRecLeaseRenewalsFailing.",
                         targets((f"sum by (instance, result) (rate(cloudrec_ha_lease_renewals_total{{{J}}}[$__rate_interval]))",
                                  "{{instance}} {{result}}")),
                         unit="ops"), 8, 8)
    add(C, L, timeseries("Shard handovers by change",
                         "Shards per second taken (acquired), given back (released) and lost when leases ran out before "
                         "renewal (expired), summed over replicas. Replicas joining or leaving cause acquired/released; "
                         "expired means a replica could not renew in time.",
                         targets((f"sum by (change) (rate(cloudrec_ha_shard_handovers_total{{{J}}}[$__rate_interval]))",
                                  "{{change}}")),
                         unit="ops", overrides=color_overrides({"acquired": "green", "released": "blue",
                                                                "expired": "red"})), 8, 8)
    add(C, L, timeseries("Resyncs",
                         "Full reloads of the held shards' tasks from PostgreSQL per second, per replica (every "
                         "--ha.resync-interval, and after the LISTEN connection came back).",
                         targets((f"sum by (instance) (rate(cloudrec_ha_resyncs_total{{{J}}}[$__rate_interval]))",
                                  "{{instance}}")), unit="ops"), 8, 8)

    variables = [
        datasource_var(),
        job_var(),
        query_var("vendor", "Vendor", 'label_values(cloudrec_poll_budget_utilization{job=~"$job"}, vendor)',
                  multi=True),
        query_var("account", "Account",
                  'label_values(cloudrec_poll_budget_utilization{job=~"$job", vendor=~"$vendor"}, account)', multi=True),
    ]
    return dashboard("cloudrec-overview", "Cloud recording / Overview",
                     "Cloud-recording tasks at all vendors: task states, recording and upload problems, vendor API "
                     "health, poll freshness and exporter health (cloudrec_exporter).", P, variables)


# ------------------------------------------------------------------------------------------------------------
# Task detail
# ------------------------------------------------------------------------------------------------------------
def task_detail():
    T = 'job=~"$job", vendor=~"$vendor", account=~"$account", task_id=~"$task_id"'
    A = 'job=~"$job", vendor=~"$vendor", account=~"$account"'
    L = Layout()
    P = []

    P.append(L.row("Task $task_id"))
    add(P, L, stat("Status", "Current common status of the task.",
                   targets((f"max by (status) (cloudrec_task_status{{{T}}}) == 1", "{{status}}")),
                   text_mode="name", color_mode="background", graph=False,
                   mappings=[]), 4, 4)
    P[-1]["fieldConfig"]["overrides"] = color_overrides(STATUS_COLORS)
    add(P, L, stat("Vendor status", "Raw status reported by the vendor (cloudrec_task_info).",
                   targets((f"max by (vendor_status) (cloudrec_task_info{{{T}}})", "{{vendor_status}}")),
                   text_mode="name", color_mode="none", graph=False), 4, 4)
    add(P, L, stat("Started", "Start time of the recording, where the vendor reports it.",
                   targets((f"max(cloudrec_task_start_time_seconds{{{T}}}) * 1000", "start")),
                   unit="dateTimeAsIso", color_mode="none", graph=False), 5, 4)
    add(P, L, stat("Last successful poll", "Seconds since the last successful status poll of this task.",
                   targets((f"time() - max(cloudrec_task_last_success_timestamp_seconds{{{T}}})", "age")),
                   unit="s", steps=[(300, "orange"), (600, "red")], graph=False), 5, 4)
    add(P, L, stat("Recorded", "Recorded duration so far, where the vendor reports it.",
                   targets((f"max(cloudrec_task_recorded_seconds{{{T}}})", "recorded")), unit="s",
                   color_mode="none"), 3, 4)
    add(P, L, stat("Size", "Total size of the task's files, where the vendor reports it.",
                   targets((f"max(cloudrec_task_file_size_bytes{{{T}}})", "size")), unit="bytes",
                   color_mode="none"), 3, 4)
    add(P, L, state_timeline("Status timeline", "Common status over time (one lane per status).",
                             targets((f"max by (status) (cloudrec_task_status{{{T}}}) == 1", "{{status}}")),
                             overrides=color_overrides(STATUS_COLORS)), 12, 8)
    add(P, L, state_timeline("Vendor status timeline", "Raw vendor status over time.",
                             targets((f"max by (vendor_status) (cloudrec_task_info{{{T}}}) == 1",
                                      "{{vendor_status}}"))), 12, 8)

    P.append(L.row("Files"))
    add(P, L, timeseries("Files by format", "Number of files per format (formats with files only).",
                         targets((f"max by (format) (cloudrec_task_files{{{T}}})", "{{format}}")), decimals=0),
        12, 8)
    add(P, L, timeseries("Files by upload state",
                         "Files per upload state (vendors with per-file upload states only, today ZEGO).",
                         targets((f"max by (upload_state) (cloudrec_task_upload_files{{{T}}})", "{{upload_state}}")),
                         stack=True, decimals=0, overrides=color_overrides({
                             "recording": "blue", "uploading": "yellow", "uploaded": "green",
                             "backup_uploaded": "orange", "failed": "red"})), 12, 8)
    add(P, L, timeseries("Size", "Total file size over time; a flat line while running means a stall.",
                         targets((f"max(cloudrec_task_file_size_bytes{{{T}}})", "size")), unit="bytes"), 8, 8)
    add(P, L, timeseries("Recorded duration", "Recorded seconds over time.",
                         targets((f"max(cloudrec_task_recorded_seconds{{{T}}})", "recorded")), unit="s"), 8, 8)
    add(P, L, timeseries("Growth rate", "Bytes per second written (size derivative).",
                         targets((f"max(deriv(cloudrec_task_file_size_bytes{{{T}}}[$__rate_interval]))", "bytes/s")),
                         unit="Bps"), 8, 8)

    P.append(L.row("Account $account at $vendor"))
    rate = lambda m, extra="": f'rate({m}{{{A}{", " + extra if extra else ""}}}[$__rate_interval])'
    add(P, L, timeseries("API requests by outcome", "Requests per second of this task's account, by API and outcome.",
                         targets((f"sum by (api, outcome) ({rate('cloudrec_api_requests_total')})",
                                  "{{api}} {{outcome}}")), unit="reqps"), 12, 8)
    add(P, L, timeseries("API errors by code", "Errors per second by the vendor's error code.",
                         targets((f"sum by (api, code) ({rate('cloudrec_api_errors_total')})", "{{api}} {{code}}")),
                         unit="reqps"), 12, 8)
    add(P, L, timeseries("Throttled requests", "Requests per second the vendor throttled.",
                         targets((f"sum by (api) ({rate('cloudrec_api_throttled_total')})", "{{api}}")),
                         unit="reqps"), 8, 8)
    add(P, L, timeseries("Request latency", "Request duration quantiles per API.",
                         targets(*[(f"histogram_quantile({q}, sum by (api, le) "
                                    f"({rate('cloudrec_api_request_duration_seconds_bucket')}))",
                                    f"{{{{api}}}} p{int(q * 100)}") for q in (0.5, 0.99)]), unit="s"), 8, 8)
    add(P, L, timeseries("Poll budget and lag", "Budget utilization (left) and poll lag (right) of the account.",
                         targets((f"max(cloudrec_poll_budget_utilization{{{A}}})", "utilization"),
                                 (f"max(cloudrec_poll_lag_seconds{{{A}}})", "lag")),
                         unit="percentunit", overrides=[{
                             "matcher": {"id": "byName", "options": "lag"},
                             "properties": [{"id": "unit", "value": "s"},
                                            {"id": "custom.axisPlacement", "value": "right"}]}]), 8, 8)

    variables = [
        datasource_var(),
        job_var(),
        query_var("vendor", "Vendor", 'label_values(cloudrec_task_status{job=~"$job"}, vendor)'),
        query_var("account", "Account", 'label_values(cloudrec_task_status{job=~"$job", vendor=~"$vendor"}, account)'),
        query_var("task_id", "Task", 'label_values(cloudrec_task_status{job=~"$job", vendor=~"$vendor", '
                  'account=~"$account"}, task_id)', include_all=False),
    ]
    return dashboard("cloudrec-task-detail", "Cloud recording / Task detail",
                     "One cloud-recording task: status timeline, files, upload states, growth, and the API health of "
                     "its account.", P, variables)


DASHBOARDS = {"cloudrec-overview.json": overview, "cloudrec-task-detail.json": task_detail}


def render(fn):
    return json.dumps(fn(), indent=2, sort_keys=False) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail if dashboards/*.json are not up to date")
    args = ap.parse_args()
    stale = []
    for name, fn in DASHBOARDS.items():
        path = os.path.join(OUT_DIR, name)
        text = render(fn)
        if args.check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(path)
            except FileNotFoundError:
                stale.append(path)
        else:
            os.makedirs(OUT_DIR, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, ROOT)}")
    if stale:
        print("stale (run python3 scripts/gen_dashboards.py): " + ", ".join(os.path.relpath(p, ROOT) for p in stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
