#!/usr/bin/env python3
"""The vendors' official SDK clients as a test of our simulators (issue 13, docs/vendors/fidelity.md).

Starts `cloudrec_exporter --demo` (its five simulators on loopback; polling slowed to once an hour so the exporter's
own calls stay out of the simulators' rate limits), drives tasks through each simulator's `_sim` control API, then:

* Tencent TRTC (`tencentcloud-sdk-python-trtc` TrtcClient.DescribeCloudRecording), Alibaba ApsaraVideo Live
  (`alibabacloud-live20161101` describe_rtc_cloud_recording_files) and Alibaba IMS (`alibabacloud-ice20201109`
  get_live_record_job, list_live_record_jobs) call the simulators exactly as they would call the vendor: every
  status the simulator can produce must deserialise into the SDK's model with status (and files, where the API has
  them) filled; throttling, a wrong secret, an unknown task and every other error must raise the SDK's own exception
  carrying the vendor's code. Alibaba runs with both signature algorithms (V3 default, RPC v1 `signature_algorithm='v2'`).
* Agora and ZEGO have no official SDK: their answers are compared field by field (names, JSON types, documented value
  sets) with the examples and field tables of the seed documents (agora-cloud-recording-query, zego-DescribeRecordStatus).

Usage: python3 scripts/sdk_clients/check_simulators.py [--binary .build/debug/cloudrec_exporter]
Prints one line per check and `N passed, M failed`; exits 1 on any failure. Only made-up demo credentials are used
(the ones in Sources/CloudRecSimulators/Kit/DemoScenario.swift); nothing leaves the machine.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The demo accounts (DemoScenario.swift). Test-only values that exist nowhere else.
AGORA = {"app_id": "0123456789abcdef0123456789abcdef", "customer_id": "demo-customer", "customer_secret": "demo-customer-secret"}
ZEGO = {"app_id": "1234567890", "server_secret": "demo0server0secret0000000000000a"}
TENCENT = {"sdk_app_id": 1400000001, "secret_id": "AKIDdemo00000000000000000000000000",
           "secret_key": "demo0secret0key00000000000000000", "region": "ap-guangzhou"}
ALIBABA_LIVE = {"access_key_id": "LTAIdemo" + "0" * 16, "access_key_secret": "demo0access0key0secret" + "0" * 10}
ALIBABA_IMS = {"access_key_id": "LTAIdemo" + "1" * 16, "access_key_secret": "demo1access1key1secret" + "1" * 10}

# Seed documents' examples (/work/shared/seeds; also the simulators' `seedExampleBody`).
ZEGO_SEED = json.loads("""{"Code":0,"Message":"succeed","RequestId":"abcd123","Data":{"RoomId":"xxxx","RecordMode":2,
"StreamType":3,"RecordBeginTimestamp":1601221452099,"RecordEndTimestamp":1601221508795,"Status":3,"RecordFiles":[{
"UserId":"my_out","UserName":"my_out","StreamId":"my_out","FileId":"X3CgNeE4I1qAAABN_xxxx_my_out_VA_20200927154419775.mp4",
"VideoId":"820e50e52e0a490caf44eec8aec527a7","OutputFileFormat":"mp4","FileSize":432643544,"Duration":33874,
"ResolutionWidth":1920,"ResolutionHeight":1080,"MediaTrackType":3,"BeginTimestamp":1601221459830,"CustomBeginTimestamp":0,
"Status":3,"FileUrl":"https://xxxx.com/record/X3CgNeE4I1qAAABN_xxxx_my_out_VA_20200927154419775.mp4"}]}}""")
AGORA_SEED = json.loads("""{"cname":"xxx","uid":"xxx","resourceId":"xxx","sid":"xxx","serverResponse":{"status":5,
"fileListMode":"json","fileList":[{"fileName":"xxx.m3u8","trackType":"audio_and_video","uid":"0","mixedAllUser":true,
"isPlayable":true,"sliceStartTime":1562724971}],"sliceStartTime":1562724971626}}""")


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def check(self, name, ok, detail=""):
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
        print(("ok   " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + str(detail)), flush=True)
        return ok


R = Results()


# --- the demo and its control API ---------------------------------------------------------------------------------

def start_demo(binary):
    proc = subprocess.Popen([binary, "--demo", "--demo.poll-interval", "1h", "--web.listen-address", "127.0.0.1:0",
                             "--log.level", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found = {}
    deadline = time.time() + 120

    def read():
        for line in proc.stderr:
            match = re.search(r'demo simulators running.*accounts="([^"]+)"', line)
            if match:
                found.update(dict(pair.split("=", 1) for pair in match.group(1).split()))
                break
        for _ in proc.stderr:  # keep draining so the exporter never blocks on a full pipe
            pass

    threading.Thread(target=read, daemon=True).start()
    while not found and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    if not found:
        proc.kill()
        sys.exit("the demo did not report its simulators")
    return proc, found


def control(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + "/_sim/" + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def new_task(base, task_id, phase="recording", files=2, **extra):
    body = {"id": task_id, "phase": phase if phase in ("starting", "recording") else "recording", "files": files}
    body.update(extra)
    control(base, "POST", "tasks", body)
    if phase not in ("starting", "recording"):
        control(base, "POST", "tasks/%s/phase" % task_id, {"phase": phase})
    return task_id


STATE = {"throttling": False, "retries": 0}


class Throttled:
    """Switches the simulator's throttle fault on for the block (the vendor's own throttling answer)."""

    def __init__(self, base):
        self.base = base

    def __enter__(self):
        control(self.base, "POST", "faults", {"fault": "throttle"})
        STATE["throttling"] = True

    def __exit__(self, *exc):
        STATE["throttling"] = False
        control(self.base, "DELETE", "faults")
        time.sleep(1.1)  # let the simulator's one-second rate window clear


def pace():
    time.sleep(0.25)  # IMS and Agora are simulated at 10 requests/s, shared with the demo exporter's own polls


def patient(call, throttled):
    """Runs `call`; outside a throttling check, runs it again (at most twice, after the one-second rate window) when
    the simulator's real rate limit refused it: the demo exporter polls the same accounts (each new task at once).
    `throttled` tells a throttling answer or exception. Retries are counted and printed at the end."""
    for attempt in range(3):
        try:
            result = call()
        except Exception as error:  # noqa: BLE001 - re-raised unless it is the shared rate limit
            if STATE["throttling"] or not throttled(error) or attempt == 2:
                raise
        else:
            if STATE["throttling"] or not throttled(result) or attempt == 2:
                return result
        STATE["retries"] += 1
        time.sleep(1.1)


def host_port(url):
    return url.split("://", 1)[1].rstrip("/")


# --- Tencent TRTC ---------------------------------------------------------------------------------------------------

def check_tencent(base):
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import models, trtc_client

    def client(secret_key=TENCENT["secret_key"]):
        profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=host_port(base)))
        return trtc_client.TrtcClient(credential.Credential(TENCENT["secret_id"], secret_key), TENCENT["region"], profile)

    def describe(task_id, secret_key=TENCENT["secret_key"]):
        request = models.DescribeCloudRecordingRequest()
        request.SdkAppId = TENCENT["sdk_app_id"]
        request.TaskId = task_id
        pace()
        return patient(lambda: client(secret_key).DescribeCloudRecording(request),
                       lambda x: isinstance(x, TencentCloudSDKException) and x.get_code() == "RequestLimitExceeded")

    def expect_error(name, code, call):
        try:
            response = call()
        except TencentCloudSDKException as error:
            R.check(name, error.get_code() == code and bool(error.get_request_id()),
                    "code %s, request id %r" % (error.get_code(), error.get_request_id()))
            return
        R.check(name, False, "no exception; the SDK returned %s" % response.to_json_string())

    cases = [("starting", 0, [], "Idle"), ("recording", 2, [], "InProgress"), ("recording", 2, ["idle"], "Idle"),
             ("paused", 1, [], "InProgress"), ("stopping", 3, [], "Exited")]
    for index, (phase, files, flags, status) in enumerate(cases):
        task_id = new_task(base, "sdk-trtc-%d" % index, phase, files, flags=flags)
        name = "tencent DescribeCloudRecording %s%s" % (phase, " idle" if flags else "")
        try:
            response = describe(task_id)
        except TencentCloudSDKException as error:
            R.check(name, False, error)
            continue
        listed = response.StorageFileList or []
        R.check(name, isinstance(response, models.DescribeCloudRecordingResponse) and response.Status == status
                and response.TaskId == task_id and bool(response.RequestId) and len(listed) == files
                and all(isinstance(f, models.StorageFile) and f.FileName and f.TrackType and f.BeginTimeStamp
                        for f in listed),
                "status %s, %d file(s): %s" % (response.Status, len(listed), response.to_json_string()))
    for phase in ("ended", "exited_abnormally"):
        task_id = new_task(base, "sdk-trtc-" + phase, phase)
        expect_error("tencent ended task (%s) raises FailedOperation.TaskNotExist" % phase,
                     "FailedOperation.TaskNotExist", lambda: describe(task_id))
    expect_error("tencent unknown task raises FailedOperation.TaskNotExist", "FailedOperation.TaskNotExist",
                 lambda: describe("sdk-trtc-never-created"))
    expect_error("tencent wrong secret raises AuthFailure.SignatureFailure", "AuthFailure.SignatureFailure",
                 lambda: describe("sdk-trtc-1", secret_key="x" * 32))
    with Throttled(base):
        expect_error("tencent throttling raises RequestLimitExceeded", "RequestLimitExceeded", lambda: describe("sdk-trtc-1"))


# --- Alibaba (Live and IMS share the gateway) ------------------------------------------------------------------------

def alibaba_config(base, keys, algorithm, secret=None):
    from alibabacloud_tea_openapi.utils_models import Config
    config = Config(access_key_id=keys["access_key_id"], access_key_secret=secret or keys["access_key_secret"],
                    endpoint=host_port(base), protocol="http", region_id="cn-shanghai")
    if algorithm == "v2":
        config.signature_algorithm = "v2"
    return config


def alibaba_throttled(x):
    from alibabacloud_tea_openapi.exceptions import ThrottlingException
    return isinstance(x, ThrottlingException)


def alibaba_expect_error(name, code, status, call, throttling=False):
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ClientException, ThrottlingException
    try:
        response = call()
    except AlibabaCloudException as error:
        kind = ThrottlingException if throttling else ClientException
        ok = isinstance(error, kind) and error.code == code and error.status_code == status and bool(error.request_id)
        detail = "%s code %s status %s" % (type(error).__name__, error.code, error.status_code)
        if throttling:
            # x-acs-retry-after: integer milliseconds, which the SDK sleeps (capped at 120,000).
            ok = ok and isinstance(error.retry_after, int) and 1 <= error.retry_after <= 1000
            detail += " retry_after %r ms" % getattr(error, "retry_after", None)
        R.check(name, ok, detail)
        return
    R.check(name, False, "no exception; the SDK returned %r" % response.body.to_map())


def check_alibaba_live(base, algorithm):
    from alibabacloud_live20161101 import models
    from alibabacloud_live20161101.client import Client

    def describe(task_id, secret=None):
        pace()
        client = Client(alibaba_config(base, ALIBABA_LIVE, algorithm, secret))
        return patient(lambda: client.describe_rtc_cloud_recording_files(
            models.DescribeRtcCloudRecordingFilesRequest(task_id=task_id)), alibaba_throttled)

    prefix = "alibaba_live[%s]" % algorithm
    cases = [("starting", 0, [], {}, "RUNNING"), ("recording", 2, [], {}, "RUNNING"),
             ("recording", 1, ["recovering"], {}, "RECOVERING"), ("paused", 1, [], {}, "RUNNING"),
             ("stopping", 2, [], {}, "STOPPING"), ("ended", 3, [], {}, "STOPPED"), ("exited_abnormally", 1, [], {}, "STOPPED"),
             ("recording", 2, [], {"storage": "vod"}, "RUNNING")]
    for index, (phase, files, flags, fields, status) in enumerate(cases):
        task_id = new_task(base, "sdk-live-%s-%d" % (algorithm, index), phase, files, flags=flags, fields=fields)
        name = "%s DescribeRtcCloudRecordingFiles %s%s%s" % (prefix, phase, " " + flags[0] if flags else "",
                                                              " vod" if fields else "")
        try:
            response = describe(task_id)
        except Exception as error:  # noqa: BLE001 - any SDK failure is the finding
            R.check(name, False, "%s: %s" % (type(error).__name__, error))
            continue
        info = response.body.task_info
        lists = info.record_file_list if info else None
        if fields.get("storage") == "vod":
            counted = sum(len(m.media_ids or []) for m in (lists.vod_media_list or [])) if lists else -1
        else:
            counted = len(lists.mp_4file_list or []) + len(lists.hls_file_list or []) + len(lists.mp_3file_list or []) if lists else -1
        R.check(name, response.status_code == 200 and isinstance(response.body, models.DescribeRtcCloudRecordingFilesResponseBody)
                and bool(response.body.request_id) and info is not None and info.task_id == task_id and info.status == status
                and counted == files, "status %s, %d file(s): %r" % (info.status if info else None, counted, response.body.to_map()))
    alibaba_expect_error(prefix + " unknown task raises NotFound.Task (400)", "NotFound.Task", 400,
                         lambda: describe("sdk-live-never-created"))
    aged = new_task(base, "sdk-live-%s-aged" % algorithm, "recording", 1, age_seconds=3 * 86400 + 60)
    alibaba_expect_error(prefix + " task created over 3 days ago raises InvalidParameter.TaskId (400)",
                         "InvalidParameter.TaskId", 400, lambda: describe(aged))
    stopped = new_task(base, "sdk-live-%s-stopped" % algorithm, "ended", 1, flags=["stopped_not_queryable"])
    alibaba_expect_error(prefix + " stopped task (stopped_not_queryable) raises InvalidParameter.TaskId (400)",
                         "InvalidParameter.TaskId", 400, lambda: describe(stopped))
    alibaba_expect_error(prefix + " wrong secret raises SignatureDoesNotMatch (400)", "SignatureDoesNotMatch", 400,
                         lambda: describe("sdk-live-%s-1" % algorithm, secret="wrong-secret"))
    with Throttled(base):
        alibaba_expect_error(prefix + " throttling raises ThrottlingException Throttling.User (400)", "Throttling.User", 400,
                             lambda: describe("sdk-live-%s-1" % algorithm), throttling=True)


def check_alibaba_ims(base, algorithm):
    from alibabacloud_ice20201109 import models
    from alibabacloud_ice20201109.client import Client

    def client(secret=None):
        pace()
        return Client(alibaba_config(base, ALIBABA_IMS, algorithm, secret))

    def get(job_id, secret=None):
        return patient(lambda: client(secret).get_live_record_job(models.GetLiveRecordJobRequest(job_id=job_id)),
                       alibaba_throttled)

    def list_jobs(**arguments):
        return patient(lambda: client().list_live_record_jobs(models.ListLiveRecordJobsRequest(**arguments)),
                       alibaba_throttled)

    prefix = "alibaba_ims[%s]" % algorithm
    created = {}
    for phase, status in [("starting", "initial"), ("recording", "started"), ("paused", "paused"), ("stopping", "started")]:
        job_id = new_task(base, "sdk-ims-%s-%s" % (algorithm, phase), phase, 1)
        created[job_id] = status
        name = "%s GetLiveRecordJob %s" % (prefix, phase)
        try:
            response = get(job_id)
        except Exception as error:  # noqa: BLE001
            R.check(name, False, "%s: %s" % (type(error).__name__, error))
            continue
        job = response.body.record_job
        # GetLiveRecordJob has no files (they come from ListLiveRecordFiles, not simulated): status and job fields.
        R.check(name, response.status_code == 200 and bool(response.body.request_id) and job is not None
                and job.job_id == job_id and job.status == status and bool(job.name) and bool(job.create_time)
                and job.stream_input is not None and job.stream_input.type == "rtmp" and job.record_output is not None,
                "%r" % response.body.to_map())
    for phase in ("ended", "exited_abnormally"):
        job_id = new_task(base, "sdk-ims-%s-%s" % (algorithm, phase), phase, 1)
        alibaba_expect_error("%s ended job (%s) raises JobNotFound (404)" % (prefix, phase), "JobNotFound", 404,
                             lambda: get(job_id))
    alibaba_expect_error(prefix + " unknown job raises JobNotFound (404)", "JobNotFound", 404, lambda: get("sdk-ims-never-created"))
    alibaba_expect_error(prefix + " wrong secret raises SignatureDoesNotMatch (400)", "SignatureDoesNotMatch", 400,
                         lambda: get("sdk-ims-%s-recording" % algorithm, secret="wrong-secret"))

    now = datetime.now(timezone.utc)
    window = {"start_time": (now - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "end_time": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for label, arguments in [("with StartTime/EndTime", window), ("without StartTime/EndTime", {})]:
        name = "%s ListLiveRecordJobs %s" % (prefix, label)
        listed, page, total = {}, 1, None
        try:
            while True:
                response = list_jobs(page_no=page, page_size=10, sort_by="desc", **arguments)
                body = response.body
                total = body.total_count
                for job in body.live_record_jobs or []:
                    listed[job.job_id] = job.status
                if page * 10 >= (total or 0) or not body.live_record_jobs:
                    break
                page += 1
        except Exception as error:  # noqa: BLE001
            R.check(name, False, "%s: %s" % (type(error).__name__, error))
            continue
        missing = {k: v for k, v in created.items() if listed.get(k) != v}
        R.check(name, not missing and total == len(listed) and bool(body.request_id) and body.page_size == 10,
                "missing or wrong %r; %d listed of %r" % (missing, len(listed), total))
    alibaba_expect_error(prefix + " ListLiveRecordJobs PageSize 100 raises InvalidParameter.PageSize (400)",
                         "InvalidParameter.PageSize", 400,
                         lambda: list_jobs(page_no=1, page_size=100))
    with Throttled(base):
        alibaba_expect_error(prefix + " throttling raises ThrottlingException Throttling.User (400)", "Throttling.User", 400,
                             lambda: get("sdk-ims-%s-recording" % algorithm), throttling=True)
        alibaba_expect_error(prefix + " ListLiveRecordJobs throttling raises Throttling.User (400)", "Throttling.User", 400,
                             lambda: list_jobs(page_no=1, page_size=10),
                             throttling=True)


# --- Agora and ZEGO: field by field against the seed documents ---------------------------------------------------------

def json_type(value):
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def same_shape(name, got, example, optional=()):
    """Every field of the example is present with its JSON type, and nothing undocumented is added."""
    problems = []
    for key, value in example.items():
        if key not in got:
            if key not in optional:
                problems.append("missing " + key)
        elif json_type(got[key]) != json_type(value):
            problems.append("%s is %s, example has %s" % (key, json_type(got[key]), json_type(value)))
    problems += ["undocumented " + key for key in got if key not in example]
    return R.check(name, not problems, "; ".join(problems))


def http(method, url, headers=None, body=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def check_zego(base):
    def call(action, body, secret=ZEGO["server_secret"]):
        nonce, timestamp = secrets.token_hex(8), str(int(time.time()))
        signature = hashlib.md5((ZEGO["app_id"] + nonce + secret + timestamp).encode()).hexdigest()
        query = "Action=%s&AppId=%s&SignatureNonce=%s&Timestamp=%s&Signature=%s&SignatureVersion=2.0" % (
            action, ZEGO["app_id"], nonce, timestamp, signature)
        pace()
        return patient(lambda: http("POST", base + "/?" + query, {"Content-Type": "application/json"}, json.dumps(body).encode()),
                       lambda x: isinstance(x, tuple) and x[2].get("Code") == 300000003)

    seed_data = ZEGO_SEED["Data"]
    seed_file = seed_data["RecordFiles"][0]
    for phase, status in [("starting", 1), ("recording", 2), ("ended", 3), ("exited_abnormally", 4), ("paused", 5)]:
        files = 0 if phase == "starting" else 2
        task_id = new_task(base, "sdkzego%s" % phase[:8], phase, files)
        code, _, answer = call("DescribeRecordStatus", {"TaskId": task_id})
        name = "zego DescribeRecordStatus %s" % phase
        if not R.check(name + ": HTTP 200, Code 0, Data", code == 200 and answer.get("Code") == 0 and "Data" in answer,
                       "HTTP %s %r" % (code, answer)):
            continue
        same_shape(name + ": envelope fields as the seed example", answer, ZEGO_SEED)
        data = answer["Data"]
        same_shape(name + ": Data fields as the seed example", data, seed_data, optional=("RecordFiles",))
        R.check(name + ": Data.Status", data["Status"] == status, data["Status"])
        record_files = data.get("RecordFiles") or []
        R.check(name + ": RecordFiles count", len(record_files) == files, len(record_files))
        for index, file in enumerate(record_files):
            same_shape("%s: RecordFiles[%d] fields as the seed example" % (name, index), file, seed_file)
            R.check("%s: RecordFiles[%d] documented values" % (name, index),
                    file["OutputFileFormat"] in ("mp4", "flv", "hls", "jpg", "aac") and file["Status"] in (1, 2, 3, 4, 5)
                    and file["MediaTrackType"] in (1, 2, 3), file)
    for label, body, secret, expected in [("unknown task", {"TaskId": "sdkzegonotknown0"}, ZEGO["server_secret"], 300001000),
                                          ("wrong secret", {"TaskId": "sdkzegorecordin"}, "0" * 32, 100000005)]:
        code, _, answer = call("DescribeRecordStatus", body, secret)
        R.check("zego %s: Code %d without Data" % (label, expected),
                answer.get("Code") == expected and "Data" not in answer and bool(answer.get("RequestId")), answer)
    with Throttled(base):
        code, _, answer = call("DescribeRecordStatus", {"TaskId": "sdkzegorecordin"})
        R.check("zego throttling: Code 300000003", answer.get("Code") == 300000003, answer)


def check_agora(base):
    auth = "Basic " + base64.b64encode(("%s:%s" % (AGORA["customer_id"], AGORA["customer_secret"])).encode()).decode()

    def query(sid, mode, resource_id=None, authorization=auth):
        path = "/v1/apps/%s/cloud_recording/resourceid/%s/sid/%s/mode/%s/query" % (
            AGORA["app_id"], resource_id or "rid-" + sid, sid, mode)
        pace()
        return patient(lambda: http("GET", base + path, {"Authorization": authorization,
                                                         "Content-Type": "application/json;charset=utf-8"}),
                       lambda x: isinstance(x, tuple) and x[0] == 429)

    statuses = {"starting": {0, 1, 2, 3, 4}, "recording": {5}, "paused": {5}, "stopping": {6, 7}}
    documented = {0, 1, 2, 3, 4, 5, 6, 7, 8, 20}
    seed_server = AGORA_SEED["serverResponse"]
    seed_file = seed_server["fileList"][0]
    for mode in ("individual", "mix", "web"):
        for phase, allowed in statuses.items():
            sid = new_task(base, "sdk-agora-%s-%s" % (mode, phase), phase, 2, fields={"mode": mode})
            code, _, answer = query(sid, mode)
            name = "agora query %s %s" % (mode, phase)
            if not R.check(name + ": HTTP 200", code == 200, "HTTP %s %r" % (code, answer)):
                continue
            same_shape(name + ": top-level fields as the seed example", answer, AGORA_SEED)
            server = answer["serverResponse"]
            R.check(name + ": status documented and expected", server.get("status") in documented and server.get("status") in allowed,
                    server.get("status"))
            if mode == "web":
                services = server.get("extensionServiceState") or []
                ok = len(services) == 1 and services[0].get("serviceName") == "web_recorder_service"
                payload = services[0].get("payload", {}) if services else {}
                ok = ok and payload.get("state") in ("init", "inProgress", "exit") and isinstance(payload.get("onhold"), bool)
                ok = ok and all(set(f) == {"filename", "sliceStartTime"} and isinstance(f["sliceStartTime"], int)
                                for f in payload.get("fileList", []))
                R.check(name + ": extensionServiceState as the query page documents", ok and "sliceStartTime" not in server, server)
                continue
            # Top-level sliceStartTime: "only returned in individual recording mode".
            same_shape(name + ": serverResponse fields as the seed example", server, seed_server,
                       optional=() if mode == "individual" else ("sliceStartTime",))
            R.check(name + ": top-level sliceStartTime only in individual mode",
                    ("sliceStartTime" in server) == (mode == "individual"), server.keys())
            for index, file in enumerate(server.get("fileList") or []):
                same_shape("%s: fileList[%d] fields as the seed example" % (name, index), file, seed_file)
                R.check("%s: fileList[%d] documented values" % (name, index),
                        file["trackType"] in ("audio", "video", "audio_and_video")
                        and (file["uid"] == "0") == (mode == "mix") and file["mixedAllUser"] == (mode == "mix"), file)
    code, _, answer = query("sdk-agora-never-created", "mix")
    R.check("agora unknown sid: HTTP 404 with code/reason", code == 404 and isinstance(answer.get("code"), int)
            and "reason" in answer, "HTTP %s %r" % (code, answer))
    code, _, answer = query("sdk-agora-mix-recording", "mix", authorization="Basic " + base64.b64encode(b"demo-customer:wrong").decode())
    R.check("agora wrong secret: HTTP 401 with message", code == 401 and "message" in answer, "HTTP %s %r" % (code, answer))
    with Throttled(base):
        code, _, answer = query("sdk-agora-mix-recording", "mix")
        R.check("agora throttling: HTTP 429 API rate limit exceeded", code == 429 and answer.get("message") == "API rate limit exceeded",
                "HTTP %s %r" % (code, answer))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=str(ROOT / ".build/debug/cloudrec_exporter"))
    args = parser.parse_args()
    proc, accounts = start_demo(args.binary)
    try:
        check_tencent(accounts["tencent-demo"])
        for algorithm in ("v3", "v2"):
            check_alibaba_live(accounts["alibaba-live-demo"], algorithm)
            check_alibaba_ims(accounts["alibaba-ims-demo"], algorithm)
        check_zego(accounts["zego-demo"])
        check_agora(accounts["agora-demo"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("calls repeated after the demo exporter's own polls used the simulated rate limit: %d" % STATE["retries"])
    print("%d passed, %d failed" % (R.passed, R.failed))
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
