import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

/// TC3-HMAC-SHA256 against the published "Signature v3" example and against vectors made by Tencent's Python SDK.
@Suite("Tencent TC3 signer")
struct TencentTC3SignerTests {
    /// The example every Signature v3 page uses (CVM DescribeInstances). The body holds literal `\u` escapes.
    static let publishedPayload = #"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#

    static func publishedInput(secretKey: String, signAction: Bool,
                               secretID: String = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******") -> TencentTC3Signer.Input {
        var headers = [HeaderField("Content-Type", "application/json; charset=utf-8")]
        if signAction { headers.append(HeaderField("X-TC-Action", "DescribeInstances")) }
        return TencentTC3Signer.Input(method: "POST", host: "cvm.tencentcloudapi.com", headers: headers,
                                      payload: Array(publishedPayload.utf8), timestamp: 1551113065, service: "cvm",
                                      secretID: secretID, secretKey: secretKey)
    }

    @Test func publishedPayloadHash() {
        #expect(TencentTC3Signer.sha256Hex(Array(Self.publishedPayload.utf8))
            == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    }

    @Test("current page revision: signs content-type;host;x-tc-action")
    func currentRevision() {
        let result = TencentTC3Signer.sign(Self.publishedInput(secretKey: "Gu5t9xGARNpq86cd98joQYCN3*******", signAction: true))
        #expect(result.canonicalRequest == """
            POST
            /

            content-type:application/json; charset=utf-8
            host:cvm.tencentcloudapi.com
            x-tc-action:describeinstances

            content-type;host;x-tc-action
            35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064
            """)
        #expect(result.hashedCanonicalRequest == "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84")
        #expect(result.credentialScope == "2019-02-25/cvm/tc3_request")
        #expect(result.stringToSign == """
            TC3-HMAC-SHA256
            1551113065
            2019-02-25/cvm/tc3_request
            7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84
            """)
        #expect(result.signature == "be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3")
        #expect(result.authorization == "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
            + "tc3_request, SignedHeaders=content-type;host;x-tc-action, "
            + "Signature=be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3")
    }

    @Test("newest Chinese page revision: key printed as 32 asterisks")
    func maskedKeyRevision() {
        let result = TencentTC3Signer.sign(Self.publishedInput(secretKey: String(repeating: "*", count: 32), signAction: true))
        #expect(result.hashedCanonicalRequest == "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84")
        #expect(result.signature == "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f")
    }

    @Test("older page revision: signs content-type;host only")
    func olderRevision() {
        let result = TencentTC3Signer.sign(Self.publishedInput(secretKey: "Gu5t9xGARNpq86cd98joQYCN3*******", signAction: false))
        #expect(result.signedHeaders == "content-type;host")
        #expect(result.hashedCanonicalRequest == "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
        #expect(result.stringToSign.hasSuffix("\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"))
        #expect(result.signature == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c")
    }

    @Test("oldest English page revision: EXAMPLE key, signature printed masked as 72e494ea8…a96525168")
    func oldestRevision() {
        let result = TencentTC3Signer.sign(Self.publishedInput(secretKey: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", signAction: false,
                                                               secretID: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"))
        #expect(result.signature.hasPrefix("72e494ea8"))
        #expect(result.signature.hasSuffix("a96525168"))
        #expect(result.signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168")
    }

    @Test func utcDateIgnoresLocalTimeZone() {
        #expect(TencentTC3Signer.utcDate(1551113065) == "2019-02-25")
        #expect(TencentTC3Signer.utcDate(1735689599) == "2024-12-31")
        #expect(TencentTC3Signer.utcDate(1735689600) == "2025-01-01")
    }

    @Test func authorizationHeaderParses() throws {
        let header = TencentTC3Signer.sign(Self.publishedInput(secretKey: "k", signAction: true)).authorization
        let parsed = try #require(TencentTC3Authorization(header: header))
        #expect(parsed.secretID == "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******")
        #expect(parsed.date == "2019-02-25")
        #expect(parsed.service == "cvm")
        #expect(parsed.signedHeaders == ["content-type", "host", "x-tc-action"])
        #expect(TencentTC3Authorization(header: "Basic abc") == nil)
        #expect(TencentTC3Authorization(header: "TC3-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=x") == nil)
    }

    // MARK: - Vectors from the official Python SDK (scripts/sdk_vectors/tencent_trtc.py)

    struct SDKVectors: Decodable {
        struct SignTC3: Decodable {
            var name, method, host, content_type, action, signed_headers, payload, service, secret_key: String
            var hashed_payload, canonical_request, hashed_canonical_request, string_to_sign, signature: String
            var timestamp: Int64
        }

        struct SDKRequest: Decodable {
            var name, method, host, content_type, action, version, region, payload, service: String
            var secret_id, secret_key, authorization: String
            var timestamp: Int64
        }

        var sign_tc3: [SignTC3]
        var sdk_requests: [SDKRequest]
    }

    static func loadSDKVectors() throws -> SDKVectors {
        let url = try #require(Bundle.module.url(forResource: "sdk_vectors", withExtension: "json", subdirectory: "Fixtures/tencent")
            ?? Bundle.module.resourceURL?.appendingPathComponent("Fixtures/tencent/sdk_vectors.json"))
        return try JSONDecoder().decode(SDKVectors.self, from: Data(contentsOf: url))
    }

    @Test("Sign.sign_tc3 vectors: every page revision, byte for byte")
    func sdkSignTC3Vectors() throws {
        let vectors = try Self.loadSDKVectors()
        #expect(vectors.sign_tc3.count == 4)
        for vector in vectors.sign_tc3 {
            let dateOnly = TencentTC3Signer.signatureHex(secretKey: vector.secret_key, date: TencentTC3Signer.utcDate(vector.timestamp),
                                                         service: vector.service, stringToSign: vector.string_to_sign)
            #expect(dateOnly == vector.signature, "\(vector.name)")
            var headers = [HeaderField("Content-Type", vector.content_type)]
            if vector.signed_headers.contains("x-tc-action") { headers.append(HeaderField("X-TC-Action", vector.action)) }
            let result = TencentTC3Signer.sign(TencentTC3Signer.Input(
                method: vector.method, host: vector.host, headers: headers, payload: Array(vector.payload.utf8),
                timestamp: vector.timestamp, service: vector.service, secretID: "id", secretKey: vector.secret_key))
            #expect(result.hashedPayload == vector.hashed_payload, "\(vector.name)")
            #expect(result.canonicalRequest == vector.canonical_request, "\(vector.name)")
            #expect(result.hashedCanonicalRequest == vector.hashed_canonical_request, "\(vector.name)")
            #expect(result.stringToSign == vector.string_to_sign, "\(vector.name)")
            #expect(result.signature == vector.signature, "\(vector.name)")
        }
    }

    @Test("TrtcClient.DescribeCloudRecording requests: same Authorization header")
    func sdkRequestVectors() throws {
        let vectors = try Self.loadSDKVectors()
        #expect(vectors.sdk_requests.count == 2)
        #expect(vectors.sdk_requests.contains { $0.host.contains(":") }, "one vector signs a host with a port")
        for vector in vectors.sdk_requests {
            let result = TencentTC3Signer.sign(TencentTC3Signer.Input(
                method: vector.method, host: vector.host, headers: [HeaderField("Content-Type", vector.content_type)],
                payload: Array(vector.payload.utf8), timestamp: vector.timestamp, service: vector.service,
                secretID: vector.secret_id, secretKey: vector.secret_key))
            #expect(result.authorization == vector.authorization, "\(vector.name)")
            #expect(vector.action == TencentTRTCClient.action)
            #expect(vector.version == TencentTRTCClient.apiVersion)
        }
    }

    @Test("the simulator accepts the requests the official SDK sends")
    func simulatorAcceptsSDKRequests() throws {
        for vector in try Self.loadSDKVectors().sdk_requests {
            let body = try JSONValue.parse(Array(vector.payload.utf8))
            let appID = try #require(body["SdkAppId"]?.stringValue)
            let taskID = try #require(body["TaskId"]?.stringValue)
            let book = SimTaskBook(clock: SimClock())
            // Put the simulator's clock at the SDK's pinned timestamp.
            book.clock.shift(by: Double(vector.timestamp) - book.clock.now())
            book.start(id: taskID)
            let sim = TencentTRTCSimulator(book: book, sdkAppID: appID, secretID: vector.secret_id, secretKey: vector.secret_key)
            let request = SimRequest(method: "POST", path: "/", headers: [
                "Host": vector.host, "Content-Type": vector.content_type, "X-TC-Action": vector.action,
                "X-TC-Version": vector.version, "X-TC-Region": vector.region, "X-TC-Timestamp": String(vector.timestamp),
                "Authorization": vector.authorization,
            ], body: Array(vector.payload.utf8))
            let result = TencentTRTCResponseDecoder.interpret(sim.respond(to: request).inbound)
            #expect(result.outcome == .success, "\(vector.name): \(result.vendorCode ?? "")")
        }
    }
}
