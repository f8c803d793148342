#!/usr/bin/env python3
"""Reference client for the "poll CPU" benchmark section (issue 17): the same status requests the exporter sends,
made the plain way, so the exporter's CPU per poll has something to be measured against in the same run.

One keep-alive `http.client` connection (HTTPS with the benchmark's throwaway CA), the vendor's authentication done
with hashlib/hmac exactly as the exporter does it (Agora: HTTP Basic; ZEGO: MD5 signature in the query; Tencent
TRTC: TC3-HMAC-SHA256; Alibaba Live and IMS: ACS3-HMAC-SHA256), the body read whole and parsed with `json.loads`,
the status field picked out. Requests are paced at `rate` per second for `seconds`, round-robin over the tasks,
as the exporter's poller paces them. CPU is this process's own (getrusage, user + system), counted over the request
loop only (interpreter start-up and imports are left out, as the exporter's start-up is).

Usage: poll_reference.py SPEC.json   (written by CloudRecBenchmarks; keys: vendor, endpoint, ca_file, rate, seconds,
fields, credentials, tasks [{id, fields}]). Prints one JSON line: requests, ok (HTTP 200 with a status read),
cpu_seconds, wall_seconds. Only made-up benchmark credentials ever reach it; it prints none of them.
"""

import base64
import hashlib
import hmac
import http.client
import json
import resource
import secrets
import ssl
import sys
import time
import urllib.parse
from datetime import datetime, timezone


def quote(text):
    return urllib.parse.quote(text, safe="-_.~")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def agora(spec, task, host):
    fields, credentials = spec["fields"], spec["credentials"]
    basic = base64.b64encode(f'{credentials["customer_id"]}:{credentials["customer_secret"]}'.encode()).decode()
    path = (f'/v1/apps/{quote(fields["app_id"])}/cloud_recording/resourceid/{quote(task["fields"]["resource_id"])}'
            f'/sid/{quote(task["id"])}/mode/{quote(task["fields"].get("mode", "mix"))}/query')
    headers = {"Authorization": "Basic " + basic, "Content-Type": "application/json;charset=utf-8"}
    return "GET", path, headers, None


def zego(spec, task, host):
    app_id, secret = spec["fields"]["app_id"], spec["credentials"]["server_secret"]
    nonce = secrets.token_hex(8)
    timestamp = str(int(time.time()))
    signature = hashlib.md5((app_id + nonce + secret + timestamp).encode()).hexdigest()
    path = (f"/?Action=DescribeRecordStatus&AppId={app_id}&SignatureNonce={nonce}&Timestamp={timestamp}"
            f"&Signature={signature}&SignatureVersion=2.0")
    body = json.dumps({"TaskId": task["id"]}, separators=(",", ":")).encode()
    return "POST", path, {"Content-Type": "application/json"}, body


def tencent(spec, task, host):
    fields, credentials = spec["fields"], spec["credentials"]
    body = json.dumps({"SdkAppId": int(task["fields"].get("sdk_app_id", fields["sdk_app_id"])), "TaskId": task["id"]},
                      separators=(",", ":")).encode()
    timestamp = int(time.time())
    date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
    canonical_request = "\n".join(["POST", "/", "", f"content-type:application/json\nhost:{host}\n", "content-type;host",
                                   sha256_hex(body)])
    scope = f"{date}/trtc/tc3_request"
    string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{sha256_hex(canonical_request.encode())}"

    def sign(key, message):
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing_key = sign(sign(sign(("TC3" + credentials["secret_key"]).encode(), date), "trtc"), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Host": host, "Content-Type": "application/json", "X-TC-Action": "DescribeCloudRecording",
        "X-TC-Version": "2019-07-22", "X-TC-Region": fields["region"], "X-TC-Timestamp": str(timestamp),
        "Authorization": f'TC3-HMAC-SHA256 Credential={credentials["secret_id"]}/{scope}, '
                         f"SignedHeaders=content-type;host, Signature={signature}",
    }
    return "POST", "/", headers, body


EMPTY_SHA256 = sha256_hex(b"")


def alibaba_v3(spec, host, method, action, version, parameters):
    credentials = spec["credentials"]
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(parameters))
    headers = {
        "host": host, "x-acs-version": version, "x-acs-action": action,
        "x-acs-date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": secrets.token_hex(8), "accept": "application/json",
        "x-acs-content-sha256": EMPTY_SHA256,
    }
    names = sorted(headers)
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join([method, "/", query, canonical_headers, signed_headers, EMPTY_SHA256])
    string_to_sign = "ACS3-HMAC-SHA256\n" + sha256_hex(canonical_request.encode())
    signature = hmac.new(credentials["access_key_secret"].encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f'ACS3-HMAC-SHA256 Credential={credentials["access_key_id"]},'
                                f"SignedHeaders={signed_headers},Signature={signature}")
    return method, "/?" + query, headers, None


def alibaba_live(spec, task, host):
    return alibaba_v3(spec, host, "POST", "DescribeRtcCloudRecordingFiles", "2016-11-01", [("TaskId", task["id"])])


def alibaba_ims(spec, task, host):
    return alibaba_v3(spec, host, "GET", "GetLiveRecordJob", "2020-11-09", [("JobId", task["id"])])


BUILDERS = {"agora": agora, "zego": zego, "tencent_trtc": tencent, "alibaba_live": alibaba_live, "alibaba_ims": alibaba_ims}


def status_of(vendor, answer):
    """The field the exporter maps to a status, so the parsed answer is used, not only parsed."""
    if vendor == "agora":
        return answer.get("serverResponse", {}).get("status")
    if vendor == "zego":
        return (answer.get("Data") or {}).get("Status")
    if vendor == "tencent_trtc":
        return answer.get("Response", {}).get("Status")
    if vendor == "alibaba_live":
        return (answer.get("TaskInfo") or {}).get("Status")
    return (answer.get("RecordJob") or {}).get("Status")


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    vendor = spec["vendor"]
    build = BUILDERS[vendor]
    endpoint = urllib.parse.urlsplit(spec["endpoint"])
    host = endpoint.netloc
    if endpoint.scheme == "https":
        context = ssl.create_default_context(cafile=spec["ca_file"])
        connection = http.client.HTTPSConnection(endpoint.hostname, endpoint.port, context=context, timeout=10)
    else:
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
    tasks, rate, seconds = spec["tasks"], float(spec["rate"]), float(spec["seconds"])
    requests = ok = 0
    cpu_start, start = cpu_seconds(), time.monotonic()
    next_send = start
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        if next_send > now:
            time.sleep(next_send - now)
        next_send += 1 / rate
        method, path, headers, body = build(spec, tasks[requests % len(tasks)], host)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        requests += 1
        if response.status == 200 and status_of(vendor, json.loads(data)) is not None:
            ok += 1
    wall, cpu = time.monotonic() - start, cpu_seconds() - cpu_start
    connection.close()
    print(json.dumps({"requests": requests, "ok": ok, "cpu_seconds": cpu, "wall_seconds": wall}))


if __name__ == "__main__":
    main()
