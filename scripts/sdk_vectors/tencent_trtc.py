#!/usr/bin/env python3
"""TC3-HMAC-SHA256 vectors for TRTC DescribeCloudRecording, computed with Tencent's official Python SDK.

Writes Tests/CloudRecUnitTests/Fixtures/tencent/sdk_vectors.json, which a Swift test replays through
TencentTC3Signer. Two kinds of vector:

* "sign_tc3": the published "Signature v3" example (CVM DescribeInstances, timestamp 1551113065) for each page
  revision. The canonical request and string to sign are built here as the docs describe; the signature comes
  from the SDK's `tencentcloud.common.sign.Sign.sign_tc3` and must equal the value the page prints.
* "sdk_requests": real DescribeCloudRecording requests made by `tencentcloud-sdk-python-trtc`'s TrtcClient with
  a pinned clock, captured by a loopback HTTP proxy (so the signed Host is a real name, not the proxy's port).

Usage:
    pip install tencentcloud-sdk-python-common tencentcloud-sdk-python-trtc
    python3 scripts/sdk_vectors/tencent_trtc.py          # regenerate the fixture
    python3 scripts/sdk_vectors/tencent_trtc.py --check  # exit 1 if the committed fixture differs

Only made-up credentials appear here; nothing leaves the machine.
"""

import argparse
import hashlib
import http.server
import json
import sys
import threading
import types
from datetime import datetime, timezone
from pathlib import Path

from tencentcloud.common.sign import Sign

FIXTURE = Path(__file__).resolve().parents[2] / "Tests/CloudRecUnitTests/Fixtures/tencent/sdk_vectors.json"

# --- The published example (Signature v3 pages; TencentCloud/signature-process-demo) -----------------------------

PUBLISHED_PAYLOAD = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
PUBLISHED_PAYLOAD_SHA256 = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
PUBLISHED_REVISIONS = [
    {
        "name": "current page (signs x-tc-action)",
        "secret_key": "Gu5t9xGARNpq86cd98joQYCN3*******",
        "signed_headers": ["content-type", "host", "x-tc-action"],
        "hashed_canonical_request": "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84",
        "signature": "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3",
    },
    {
        "name": "newest Chinese page (key fully masked)",
        "secret_key": "*" * 32,
        "signed_headers": ["content-type", "host", "x-tc-action"],
        "hashed_canonical_request": "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84",
        "signature": "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f",
    },
    {
        "name": "older pages (content-type;host)",
        "secret_key": "Gu5t9xGARNpq86cd98joQYCN3*******",
        "signed_headers": ["content-type", "host"],
        "hashed_canonical_request": "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
        "signature": "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
    },
    {
        "name": "oldest English pages (EXAMPLE key)",
        "secret_key": "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        "signed_headers": ["content-type", "host"],
        "hashed_canonical_request": "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
        # The Common Params page prints only "72e494ea8…a96525168".
        "signature_prefix": "72e494ea8",
        "signature_suffix": "a96525168",
    },
]


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def utc_date(timestamp):
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


def published_vectors():
    timestamp, service = 1551113065, "cvm"
    header_values = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com",
                     "x-tc-action": "describeinstances"}
    payload = PUBLISHED_PAYLOAD.encode("utf-8")
    assert sha256_hex(payload) == PUBLISHED_PAYLOAD_SHA256
    vectors = []
    for revision in PUBLISHED_REVISIONS:
        names = revision["signed_headers"]
        canonical_request = "\n".join([
            "POST", "/", "", "".join("%s:%s\n" % (n, header_values[n]) for n in names), ";".join(names),
            sha256_hex(payload)])
        hashed = sha256_hex(canonical_request.encode("utf-8"))
        assert hashed == revision["hashed_canonical_request"], revision["name"]
        date = utc_date(timestamp)
        scope = "%s/%s/tc3_request" % (date, service)
        string_to_sign = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (timestamp, scope, hashed)
        signature = Sign.sign_tc3(revision["secret_key"], date, service, string_to_sign)
        if "signature" in revision:
            assert signature == revision["signature"], revision["name"]
        else:
            assert signature.startswith(revision["signature_prefix"]), revision["name"]
            assert signature.endswith(revision["signature_suffix"]), revision["name"]
        vectors.append({
            "name": revision["name"],
            "method": "POST",
            "host": header_values["host"],
            "content_type": header_values["content-type"],
            "action": "DescribeInstances",
            "signed_headers": ";".join(names),
            "payload": PUBLISHED_PAYLOAD,
            "timestamp": timestamp,
            "service": service,
            "secret_key": revision["secret_key"],
            "hashed_payload": sha256_hex(payload),
            "canonical_request": canonical_request,
            "hashed_canonical_request": hashed,
            "string_to_sign": string_to_sign,
            "signature": signature,
        })
    return vectors


# --- DescribeCloudRecording through the official TRTC client --------------------------------------------------------

SDK_SECRET_ID = "AKIDcloudrecExporterTest"
SDK_SECRET_KEY = "cloudrecExporterTestSecretKey000"
SDK_CASES = [
    {"name": "default host", "endpoint": "trtc.tencentcloudapi.com", "region": "ap-guangzhou",
     "timestamp": 1700000000, "sdk_app_id": 1400000000, "task_id": "t1"},
    {"name": "non-default port", "endpoint": "trtc.example.test:8443", "region": "ap-singapore",
     "timestamp": 1735689599, "sdk_app_id": 1400188366,
     "task_id": "-gEXPjZBAAAAAAAAAAAAAAABqm1cjnsSAAAAAAAAAAAAAAABqm1cjnsSAAAAAA--"},
]


class CaptureProxy(http.server.BaseHTTPRequestHandler):
    """An HTTP proxy that records the one request it gets and answers like TRTC."""

    captured = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        CaptureProxy.captured.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        answer = json.dumps({"Response": {"TaskId": "t", "Status": "InProgress", "StorageFileList": [],
                                          "RequestId": "00000000-0000-0000-0000-000000000000"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def sdk_request_vectors():
    from tencentcloud.common import abstract_client, credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.trtc.v20190722 import models, trtc_client

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CaptureProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = "http://127.0.0.1:%d" % server.server_address[1]
    real_time = abstract_client.time
    vectors = []
    try:
        for case in SDK_CASES:
            # Pin the SDK's clock so the signature is reproducible.
            abstract_client.time = types.SimpleNamespace(time=lambda ts=case["timestamp"]: float(ts),
                                                         sleep=real_time.sleep)
            profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=case["endpoint"], proxy=proxy))
            client = trtc_client.TrtcClient(credential.Credential(SDK_SECRET_ID, SDK_SECRET_KEY), case["region"], profile)
            request = models.DescribeCloudRecordingRequest()
            request.SdkAppId = case["sdk_app_id"]
            request.TaskId = case["task_id"]
            CaptureProxy.captured.clear()
            client.DescribeCloudRecording(request)
            (sent,) = CaptureProxy.captured
            headers = sent["headers"]
            vectors.append({
                "name": case["name"],
                "method": "POST",
                "host": headers["host"],
                "content_type": headers["content-type"],
                "action": headers["x-tc-action"],
                "version": headers["x-tc-version"],
                "region": headers["x-tc-region"],
                "timestamp": int(headers["x-tc-timestamp"]),
                "payload": sent["body"].decode("utf-8"),
                "service": "trtc",
                "secret_id": SDK_SECRET_ID,
                "secret_key": SDK_SECRET_KEY,
                "authorization": headers["authorization"],
            })
    finally:
        abstract_client.time = real_time
        server.shutdown()
    return vectors


def build():
    return {
        "about": "TC3-HMAC-SHA256 vectors from tencentcloud-sdk-python-common Sign.sign_tc3 (published Signature v3 "
                 "example) and from tencentcloud-sdk-python-trtc TrtcClient.DescribeCloudRecording requests. "
                 "Generated by scripts/sdk_vectors/tencent_trtc.py; do not edit.",
        "sign_tc3": published_vectors(),
        "sdk_requests": sdk_request_vectors(),
    }


def render(document):
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed fixture instead of writing it")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        committed = FIXTURE.read_text(encoding="utf-8") if FIXTURE.exists() else ""
        if committed != text:
            print("%s is out of date: rerun scripts/sdk_vectors/tencent_trtc.py" % FIXTURE, file=sys.stderr)
            return 1
        print("tencent_trtc: fixture matches the official SDK")
        return 0
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(text, encoding="utf-8")
    print("wrote %s" % FIXTURE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
