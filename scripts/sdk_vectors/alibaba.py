#!/usr/bin/env python3
"""Signature vectors for the Alibaba Cloud requests cloudrec_exporter sends, computed by the official SDK code.

The inputs are the real DescribeRtcCloudRecordingFiles (ApsaraVideo Live) and GetLiveRecordJob (IMS) requests,
with fixed dates, nonces and a test-only key pair. The signatures come from
`alibabacloud_openapi_util.client.Client.get_rpcsignature` / `get_authorization`, and the same functions in
`alibabacloud_tea_openapi.utils.Utils` must agree. The Swift test AlibabaSigningTests checks our signer against the
fixture byte for byte.

    pip install alibabacloud-openapi-util alibabacloud-tea-openapi
    python3 scripts/sdk_vectors/alibaba.py          # rewrite the fixture
    python3 scripts/sdk_vectors/alibaba.py --check  # exit 1 if the committed fixture differs
"""
import argparse
import hashlib
import json
import pathlib
import sys
from importlib import metadata
from types import SimpleNamespace

from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi.utils import Utils as TeaOpenApiUtils

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "Tests/CloudRecUnitTests/Fixtures/alibaba/sdk_vectors.json"

# Test-only credentials: they exist nowhere but in this fixture.
ACCESS_KEY_ID = "LTAI5tVectorTestKeyId"
ACCESS_KEY_SECRET = "VectorTestSecretNotARealKey0123"
NONCE_BITS = "0123456789abcdef"  # RequestContext.nonce 0x0123456789abcdef renders as these 16 hex digits
DATE = "2025-05-06T06:37:22Z"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

OPERATIONS = {
    "live": {"action": "DescribeRtcCloudRecordingFiles", "version": "2016-11-01", "method": "POST",
             "endpoint": "https://live.aliyuncs.com", "parameter": "TaskId"},
    "ims": {"action": "GetLiveRecordJob", "version": "2020-11-09", "method": "GET",
            "endpoint": "https://ice.cn-shanghai.aliyuncs.com", "parameter": "JobId"},
}

# A plain id as the vendors issue them, and one that exercises RFC 3986 encoding (space, '*', '~', '/', '+', UTF-8).
IDS = {
    "plain": "73a1c2d4-8501-4f2e-8ac1-72295a0b9c11",
    "reserved": "task id/*~+ü",
}


def v3_headers(op):
    """The headers our client sends and signs, in its order (AlibabaRPCRequest.v3Headers)."""
    host = op["endpoint"].split("://", 1)[1]
    return [["host", host], ["x-acs-version", op["version"]], ["x-acs-action", op["action"]], ["x-acs-date", DATE],
            ["x-acs-signature-nonce", NONCE_BITS], ["accept", "application/json"], ["x-acs-content-sha256", EMPTY_SHA256]]


def rpc_v1_parameters(op, task_id):
    """Common RPC v1 parameters our client sends (AlibabaRPCRequest.rpcV1Parameters) plus the API parameter."""
    return [["Action", op["action"]], ["Version", op["version"]], ["Format", "JSON"], ["AccessKeyId", ACCESS_KEY_ID],
            ["SignatureMethod", "HMAC-SHA1"], ["SignatureVersion", "1.0"], ["SignatureNonce", NONCE_BITS],
            ["Timestamp", DATE], [op["parameter"], task_id]]


def agreed(name, compute):
    """Both SDK homes of the signing code must give the same bytes."""
    values = {impl.__module__: compute(impl) for impl in (OpenApiUtil, TeaOpenApiUtils)}
    if len(set(values.values())) != 1:
        sys.exit(f"{name}: SDK implementations disagree: {values}")
    return next(iter(values.values()))


def check_published():
    """The SDK must reproduce the vendor's published vectors (docs/vendors/alibaba_live.md lists their sources)."""
    a = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
         "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
         "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
    b = {"AccessKeyId": "testid", "Action": "DescribeDedicatedHosts", "Format": "JSON", "RegionId": "cn-beijing",
         "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb", "SignatureVersion": "1.0",
         "Timestamp": "2023-03-13T08:34:30Z", "Version": "2014-05-26"}
    c = SimpleNamespace(method="POST", pathname="/", query={
        "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}, headers={
        "host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances", "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z", "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": EMPTY_SHA256})
    published = [
        (agreed("A", lambda impl: impl.get_rpcsignature(a, "GET", "testsecret")), "OLeaidS1JvxuMvnyHOwuJ+uX5qY="),
        (agreed("B", lambda impl: impl.get_rpcsignature(b, "GET", "testsecret")), "9NaGiOspFP5UPcwX8Iwt2YJXXuk="),
        (agreed("C", lambda impl: impl.get_authorization(c, "ACS3-HMAC-SHA256", EMPTY_SHA256, "YourAccessKeyId",
                                                         "YourAccessKeySecret").rsplit("Signature=", 1)[1]),
         "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"),
    ]
    for got, expected in published:
        if got != expected:
            sys.exit(f"the installed SDK gives {got} for a published vector, expected {expected}")


def vectors():
    out = []
    for product, op in OPERATIONS.items():
        for id_kind, task_id in IDS.items():
            headers = v3_headers(op)
            request = SimpleNamespace(method=op["method"], pathname="/", query={op["parameter"]: task_id},
                                      headers=dict(headers))
            authorization = agreed(f"{product}/{id_kind}/v3", lambda impl: impl.get_authorization(
                request, "ACS3-HMAC-SHA256", EMPTY_SHA256, ACCESS_KEY_ID, ACCESS_KEY_SECRET))
            params = rpc_v1_parameters(op, task_id)
            signature = agreed(f"{product}/{id_kind}/rpc_v1", lambda impl: impl.get_rpcsignature(
                dict(params), op["method"], ACCESS_KEY_SECRET))
            out.append({
                "name": f"{product}_{id_kind}",
                "action": op["action"], "version": op["version"], "method": op["method"],
                "endpoint": op["endpoint"], "parameters": [[op["parameter"], task_id]],
                "date": DATE, "nonce": NONCE_BITS,
                "access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_KEY_SECRET,
                "v3": {"headers": headers, "payload_sha256": EMPTY_SHA256, "authorization": authorization},
                "rpc_v1": {"parameters": params, "signature": signature},
            })
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="recompute and compare with the committed fixture")
    args = parser.parse_args()
    check_published()
    computed = vectors()
    if args.check:
        committed = json.loads(FIXTURE.read_text(encoding="utf-8"))["vectors"]
        if committed != computed:
            print(f"{FIXTURE} differs from what the SDK computes; rerun without --check", file=sys.stderr)
            return 1
        print(f"alibaba sdk vectors: {len(computed)} match")
        return 0
    document = {
        "generated_by": "scripts/sdk_vectors/alibaba.py",
        "sdk": {name: metadata.version(name) for name in ("alibabacloud-openapi-util", "alibabacloud-tea-openapi")},
        "vectors": computed,
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(document, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {len(computed)} vectors to {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
