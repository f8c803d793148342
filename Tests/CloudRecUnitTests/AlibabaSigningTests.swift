import CloudRecCore
@testable import CloudRecVendors
import Foundation
import Testing

/// Alibaba Cloud RPC v1 and V3 signatures against the vendor's published vectors and the official SDK's output.
@Suite struct AlibabaSigningTests {
    // MARK: Published vectors (docs/vendors/alibaba_live.md lists the pages)

    /// Vector A: ECS DescribeRegions, RPC v1, GET (older "Request signatures" page).
    static let describeRegions: [(String, String)] = [
        ("AccessKeyId", "testid"), ("Action", "DescribeRegions"), ("Format", "XML"), ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"), ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"), ("Version", "2014-05-26"),
    ]

    @Test func rpcV1DescribeRegionsMatchesPublishedVector() {
        let canonical = AlibabaRPCv1Signature.canonicalizedQuery(Self.describeRegions)
        let stringToSign = AlibabaRPCv1Signature.stringToSign(method: "GET", canonicalizedQuery: canonical)
        #expect(stringToSign == "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
            + "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
            + "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26")
        #expect(AlibabaRPCv1Signature.sign(stringToSign: stringToSign, accessKeySecret: "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")
        // The method is signed: POST over the same parameters (computed in the notes, not published).
        #expect(AlibabaRPCv1Signature.signature(method: "POST", parameters: Self.describeRegions, accessKeySecret: "testsecret")
            == "MxbnVAM4w6sft9xjVpe/GCKueuk=")
    }

    /// Vector B: ECS DescribeDedicatedHosts, RPC v1, GET (help.aliyun.com/zh/sdk/product-overview/rpc-mechanism).
    @Test func rpcV1DescribeDedicatedHostsMatchesPublishedVector() {
        // Given out of order on purpose: the signer sorts.
        let parameters: [(String, String)] = [
            ("Version", "2014-05-26"), ("Timestamp", "2023-03-13T08:34:30Z"), ("SignatureVersion", "1.0"),
            ("SignatureNonce", "edb2b34af0af9a6d14deaf7c1a5315eb"), ("SignatureMethod", "HMAC-SHA1"), ("RegionId", "cn-beijing"),
            ("Format", "JSON"), ("Action", "DescribeDedicatedHosts"), ("AccessKeyId", "testid"),
        ]
        #expect(AlibabaRPCv1Signature.canonicalizedQuery(parameters) == "AccessKeyId=testid&Action=DescribeDedicatedHosts"
            + "&Format=JSON&RegionId=cn-beijing&SignatureMethod=HMAC-SHA1&SignatureNonce=edb2b34af0af9a6d14deaf7c1a5315eb"
            + "&SignatureVersion=1.0&Timestamp=2023-03-13T08%3A34%3A30Z&Version=2014-05-26")
        #expect(AlibabaRPCv1Signature.signature(method: "GET", parameters: parameters, accessKeySecret: "testsecret")
            == "9NaGiOspFP5UPcwX8Iwt2YJXXuk=")
    }

    /// Vector C: ECS RunInstances, V3 (alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature).
    @Test func v3RunInstancesMatchesPublishedVector() {
        let headers: [(String, String)] = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"), ("x-acs-action", "RunInstances"), ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"), ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", AlibabaV3Signature.payloadHash([])),
        ]
        let canonicalRequest = AlibabaV3Signature.canonicalRequest(
            method: "POST", path: "/",
            query: [("RegionId", "cn-shanghai"), ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd")],
            headers: headers, payloadHash: AlibabaV3Signature.payloadHash([]))
        let stringToSign = AlibabaV3Signature.stringToSign(canonicalRequest: canonicalRequest)
        #expect(stringToSign == "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259")
        let signature = AlibabaV3Signature.sign(stringToSign: stringToSign, accessKeySecret: "YourAccessKeySecret")
        #expect(signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0")
        #expect(AlibabaV3Signature.canonicalHeaders(headers).signedHeaders
            == "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version")
        #expect(AlibabaV3Signature.authorization(accessKeyID: "YourAccessKeyId",
                                                 signedHeaders: AlibabaV3Signature.canonicalHeaders(headers).signedHeaders,
                                                 signature: signature)
            == "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;"
            + "x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0")
    }

    @Test func v3CanonicalRequestLayout() {
        let request = AlibabaV3Signature.canonicalRequest(method: "get", path: "", query: [],
                                                          headers: [("X-Acs-Action", "  A "), ("Host", "h")], payloadHash: "p")
        #expect(request == "GET\n/\n\nhost:h\nx-acs-action:A\n\nhost;x-acs-action\np")
        #expect(AlibabaV3Signature.payloadHash([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func parsesAuthorizationHeader() throws {
        let parsed = try #require(AlibabaV3Signature.parseAuthorization(
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=abc"))
        #expect(parsed.accessKeyID == "AK")
        #expect(parsed.signedHeaders == ["host", "x-acs-date"])
        #expect(parsed.signature == "abc")
        #expect(AlibabaV3Signature.parseAuthorization("Basic Zm9vOmJhcg==") == nil)
        #expect(AlibabaV3Signature.parseAuthorization("ACS3-HMAC-SHA256 Credential=AK,Signature=abc") == nil)
    }

    @Test func queryEncodingIsRFC3986() {
        #expect(AlibabaRPCv1Signature.canonicalizedQuery([("b", "a b*c~d/é"), ("a", "+")]) == "a=%2B&b=a%20b%2Ac~d%2F%C3%A9")
    }

    @Test func timestampsAreSecondPrecisionUTC() throws {
        #expect(AlibabaTimestamp.format(Date(timeIntervalSince1970: 1_456_231_584.9)) == "2016-02-23T12:46:24Z")
        let parsed = try #require(AlibabaTimestamp.parse("2016-02-23T12:46:24Z"))
        #expect(parsed.timeIntervalSince1970 == 1_456_231_584)
        #expect(AlibabaTimestamp.parse("23/02/2016") == nil)
    }

    // MARK: Official SDK cross-check (scripts/sdk_vectors/alibaba.py)

    struct SDKVectors: Decodable {
        struct Vector: Decodable {
            struct V3: Decodable {
                var headers: [[String]]
                var authorization: String
            }

            struct RPCv1: Decodable {
                var parameters: [[String]]
                var signature: String
            }

            var name, action, version, method, endpoint, date, nonce: String
            var parameters: [[String]]
            var access_key_id, access_key_secret: String
            var v3: V3
            var rpc_v1: RPCv1

            var operation: AlibabaRPCOperation { AlibabaRPCOperation(action: action, version: version, method: method) }
            var pairs: [(String, String)] { parameters.map { ($0[0], $0[1]) } }
            var nonceBits: UInt64 { UInt64(nonce, radix: 16)! }
        }

        var vectors: [Vector]

        static func load() throws -> [Vector] {
            let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/alibaba/sdk_vectors.json")
            return try JSONDecoder().decode(SDKVectors.self, from: Data(contentsOf: url)).vectors
        }
    }

    @Test func sdkVectorsArePresent() throws {
        let names = try SDKVectors.load().map(\.name)
        #expect(names.count == 4)
        #expect(names.contains("live_plain") && names.contains("ims_reserved"))
    }

    @Test func v3SignerMatchesOfficialSDK() throws {
        for vector in try SDKVectors.load() {
            let date = try #require(AlibabaTimestamp.parse(vector.date))
            let request = AlibabaRPCRequest.signedV3(vector.operation, parameters: vector.pairs, endpoint: vector.endpoint,
                                                     accessKeyID: vector.access_key_id,
                                                     accessKeySecret: vector.access_key_secret, date: date, nonce: vector.nonce)
            #expect(request.header("authorization") == vector.v3.authorization, "\(vector.name)")
            // The script signs the header set our client sends; both must stay in step.
            let sent = request.headers.filter { $0.name != "authorization" }.map { [$0.name, $0.value] }
            #expect(sent == vector.v3.headers, "\(vector.name)")
        }
    }

    @Test func rpcV1SignerMatchesOfficialSDK() throws {
        for vector in try SDKVectors.load() {
            let date = try #require(AlibabaTimestamp.parse(vector.date))
            let common = AlibabaRPCRequest.rpcV1Parameters(vector.operation, accessKeyID: vector.access_key_id, date: date,
                                                           nonce: vector.nonce)
            #expect((common + vector.pairs).map { [$0.0, $0.1] } == vector.rpc_v1.parameters, "\(vector.name)")
            let request = AlibabaRPCRequest.signedRPCv1(vector.operation, parameters: vector.pairs, endpoint: vector.endpoint,
                                                        accessKeyID: vector.access_key_id,
                                                        accessKeySecret: vector.access_key_secret, date: date, nonce: vector.nonce)
            #expect(request.url.hasSuffix("&Signature=" + PercentEncoding.encode(vector.rpc_v1.signature)), "\(vector.name)")
        }
    }

    /// The clients themselves, given the same clock reading and random bits, send exactly the SDK-signed requests.
    @Test(arguments: AlibabaSignatureVersion.allCases)
    func clientsSendSDKSignedRequests(signatureVersion: AlibabaSignatureVersion) throws {
        for vector in try SDKVectors.load() {
            let vendor: Vendor = vector.action == AlibabaLiveClient.operation.action ? .alibabaLive : .alibabaIMS
            let account = AccountSpec(
                name: "sdk", vendor: vendor, endpoint: vector.endpoint, rateLimit: 10, pollInterval: 10,
                fields: ["region": "cn-shanghai", AlibabaSignatureVersion.fieldName: signatureVersion.rawValue],
                credentials: [AlibabaAccountSchema.accessKeyIDField: Secret(vector.access_key_id),
                              AlibabaAccountSchema.accessKeySecretField: Secret(vector.access_key_secret)])
            let client = VendorCatalog.makeClient(for: account)
            let context = RequestContext(now: try #require(AlibabaTimestamp.parse(vector.date)), nonce: vector.nonceBits)
            let request = try client.statusRequest(for: TaskSpec(account: "sdk", id: vector.parameters[0][1]), context: context)
            #expect(request.method == vector.method)
            #expect(request.body.isEmpty)
            switch signatureVersion {
            case .v3:
                #expect(request.header("authorization") == vector.v3.authorization, "\(vector.name)")
            case .rpcV1:
                #expect(request.header("authorization") == nil)
                #expect(request.url.hasSuffix("&Signature=" + PercentEncoding.encode(vector.rpc_v1.signature)), "\(vector.name)")
            }
        }
    }

    // MARK: Error envelope classification

    @Test(arguments: [
        ("Throttling", 400, PollOutcome.throttled), ("Throttling.User", 400, .throttled), ("Throttling.Api", 403, .throttled),
        ("Throttling.User", 429, .throttled), ("Throttling.User", 503, .throttled),
        ("InvalidAccessKeyId.NotFound", 400, .authError), ("InvalidAccessKeyId.Inactive", 400, .authError),
        ("SignatureDoesNotMatch", 400, .authError), ("IncompleteSignature", 400, .authError),
        ("InvalidTimeStamp.Expired", 400, .authError), ("SignatureNonceUsed", 400, .authError),
        ("Forbidden.RAM", 403, .authError), ("Forbidden", 403, .authError), ("NoPermission", 403, .authError),
        ("NotFound.Task", 400, .notFound), ("InvalidJobId.NotFound", 404, .notFound), ("JobNotExist", 400, .notFound),
        ("InvalidApi.NotFound", 404, .clientError), ("InvalidRegionId.NotFound", 400, .clientError),
        ("InternalError", 500, .serverError), ("ServiceUnavailable", 503, .serverError), ("SomethingNew", 502, .serverError),
        ("InvalidParameter.TaskId", 400, .notFound), ("InvalidParameter.UserId", 403, .clientError), ("MissingParameter", 400, .clientError),
        ("InvalidTimeStamp.Format", 400, .clientError), ("Whatever.Unknown", 400, .clientError),
    ])
    func classifiesErrorCodes(_ row: (code: String, status: Int, expected: PollOutcome)) {
        #expect(AlibabaErrorCodes.outcome(forCode: row.code, httpStatus: row.status) == row.expected)
    }
}
