import CloudRecConfig
import CloudRecCore
import CloudRecSimulators
@testable import CloudRecVendors
import Foundation
import Testing

/// A client and its simulator over one task book, wired in memory: request → `sim.respond(to:)` → `interpretStatus`.
struct AlibabaHarness {
    static let accessKeyID = "LTAI5tSimulatorKey"
    static let accessKeySecret = "simulator-secret-value"

    let vendor: Vendor
    let book: SimTaskBook
    let simulator: any VendorSimulator
    let client: any VendorClient

    init(_ vendor: Vendor, signature: AlibabaSignatureVersion = .v3, accessKeyID: String = AlibabaHarness.accessKeyID,
         accessKeySecret: String = AlibabaHarness.accessKeySecret, qps: Int? = nil, imsJobNotFound: AlibabaSimError? = nil) {
        self.vendor = vendor
        book = SimTaskBook(clock: SimClock())
        switch vendor {
        case .alibabaLive:
            simulator = AlibabaLiveSimulator(book: book, accessKeyID: Self.accessKeyID, accessKeySecret: Self.accessKeySecret,
                                             qps: qps ?? 50)
        default:
            simulator = AlibabaIMSSimulator(book: book, accessKeyID: Self.accessKeyID, accessKeySecret: Self.accessKeySecret,
                                            qps: qps ?? 10, jobNotFound: imsJobNotFound ?? AlibabaIMSSimulator.defaultJobNotFound)
        }
        let schema = VendorCatalog.schema(for: vendor)
        let fields = ["region": "cn-shanghai", AlibabaSignatureVersion.fieldName: signature.rawValue]
        client = schema.makeClient(AccountSpec(
            name: "ali", vendor: vendor, endpoint: schema.defaultEndpoint(fields), rateLimit: schema.defaultRateLimit,
            pollInterval: 10, fields: fields,
            credentials: [AlibabaAccountSchema.accessKeyIDField: Secret(accessKeyID),
                          AlibabaAccountSchema.accessKeySecretField: Secret(accessKeySecret)]))
    }

    func task(_ id: String) -> TaskSpec { TaskSpec(account: "ali", id: id) }

    func request(_ id: String, context: RequestContext = RequestContext()) throws -> OutboundRequest {
        try client.statusRequest(for: task(id), context: context)
    }

    func send(_ request: OutboundRequest, for id: String) -> (response: SimResponse, result: PollResult) {
        let response = simulator.respond(to: SimRequest(request))
        return (response, client.interpretStatus(response.inbound, for: task(id)))
    }

    func poll(_ id: String, context: RequestContext = RequestContext()) throws -> PollResult {
        send(try request(id, context: context), for: id).result
    }
}

/// Gateway behaviour both products share, each case run for Live and IMS and for both signature versions.
@Suite struct AlibabaGatewayTests {
    static let products: [Vendor] = [.alibabaLive, .alibabaIMS]
    static let combinations = products.flatMap { vendor in AlibabaSignatureVersion.allCases.map { (vendor, $0) } }

    @Test(arguments: combinations)
    func acceptsCorrectlySignedRequests(vendor: Vendor, signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(vendor, signature: signature)
        harness.book.start(id: "t1")
        let result = try harness.poll("t1")
        #expect(result.outcome == .success)
        #expect(result.observation?.status == .running)
    }

    @Test(arguments: combinations)
    func wrongSecretIsAnAuthErrorWithoutLeakingIt(vendor: Vendor, signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(vendor, signature: signature, accessKeySecret: "not-the-secret")
        harness.book.start(id: "t1")
        let (response, result) = harness.send(try harness.request("t1"), for: "t1")
        #expect(response.status == 400)
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "SignatureDoesNotMatch")
        #expect(!(result.message ?? "").contains("not-the-secret"))
        #expect(!(result.message ?? "").contains(AlibabaHarness.accessKeySecret))
        #expect(harness.simulator.stats.count(.authRejected) == 1)
    }

    @Test(arguments: combinations)
    func unknownAccessKeyIsAnAuthError(vendor: Vendor, signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(vendor, signature: signature, accessKeyID: "LTAI5tSomeoneElse")
        harness.book.start(id: "t1")
        let result = try harness.poll("t1")
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "InvalidAccessKeyId.NotFound")
    }

    @Test(arguments: combinations)
    func clockSkewBeyondFifteenMinutesIsRejected(vendor: Vendor, signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(vendor, signature: signature)
        harness.book.start(id: "t1")
        harness.book.clock.shift(by: 1200)
        let result = try harness.poll("t1")
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "InvalidTimeStamp.Expired")
        harness.book.clock.shift(by: -1200 + 800)
        #expect(try harness.poll("t1").outcome == .success)
    }

    @Test(arguments: combinations)
    func reusedNonceIsRejected(vendor: Vendor, signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(vendor, signature: signature)
        harness.book.start(id: "t1")
        let context = RequestContext(nonce: 42)
        #expect(try harness.poll("t1", context: context).outcome == .success)
        let replay = try harness.poll("t1", context: context)
        #expect(replay.outcome == .authError)
        #expect(replay.vendorCode == "SignatureNonceUsed")
    }

    @Test(arguments: products)
    func tamperedBodyIsRejected(vendor: Vendor) throws {
        let harness = AlibabaHarness(vendor, signature: .v3)
        harness.book.start(id: "t1")
        var request = try harness.request("t1")
        request.body = Array("TaskId=t2&JobId=t2".utf8)
        let result = harness.send(request, for: "t1").result
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "SignatureDoesNotMatch")
    }

    @Test(arguments: combinations)
    func tamperedQueryIsRejected(vendor: Vendor, signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(vendor, signature: signature)
        harness.book.start(id: "task-1")
        harness.book.start(id: "task-2")
        var request = try harness.request("task-1")
        request.url = request.url.replacingOccurrences(of: "task-1", with: "task-2")
        let result = harness.send(request, for: "task-2").result
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "SignatureDoesNotMatch")
    }

    @Test(arguments: products)
    func unsignedHeaderIsRejected(vendor: Vendor) throws {
        let harness = AlibabaHarness(vendor)
        harness.book.start(id: "t1")
        var request = try harness.request("t1")
        request.headers.append(HeaderField("x-acs-extra", "smuggled"))
        let result = harness.send(request, for: "t1").result
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "IncompleteSignature")
    }

    /// qps+5 requests inside one second: exactly 5 throttled, with `Throttling.User` and HTTP 400.
    @Test(arguments: combinations)
    func throttlesBurstsAboveTheLimit(vendor: Vendor, signature: AlibabaSignatureVersion) throws {
        let qps = vendor == .alibabaLive ? 50 : 10
        let harness = AlibabaHarness(vendor, signature: signature, qps: qps)
        harness.book.start(id: "t1")
        let requests = try (0..<(qps + 5)).map { _ in try harness.request("t1") }
        let answers = requests.map { harness.send($0, for: "t1") }
        let throttled = answers.filter { $0.result.outcome == .throttled }
        #expect(throttled.count == 5)
        #expect(throttled.allSatisfy { $0.result.vendorCode == "Throttling.User" && $0.response.status == 400 })
        #expect(answers.filter { $0.result.outcome == .success }.count == qps)
        #expect(harness.simulator.stats.count(.throttled) == 5)
    }

    @Test(arguments: products)
    func everyAnswerCarriesARequestID(vendor: Vendor) throws {
        let harness = AlibabaHarness(vendor)
        harness.book.start(id: "t1")
        for id in ["t1", "missing"] {
            let body = try JSONValue.parse(harness.send(try harness.request(id), for: id).response.body)
            #expect(body["RequestId"]?.stringValue?.isEmpty == false)
        }
        var unsigned = try harness.request("t1")
        unsigned.headers.removeAll { $0.name == "authorization" }
        let rejected = try JSONValue.parse(harness.send(unsigned, for: "t1").response.body)
        #expect(rejected["RequestId"]?.stringValue?.isEmpty == false)
        #expect(rejected["Code"]?.stringValue == "IncompleteSignature")
    }

    /// `x-acs-retry-after` is in milliseconds: the official SDK reads it with `int()` and sleeps that many ms, capped at
    /// 120,000 (alibabacloud_tea_openapi/utils.py `get_throttling_time_left`; darabonba/policy/retry.py
    /// `MAX_DELAY_TIME`, core.py `sleep(millisecond)`). Values it ignores (≤ 0, not an integer) are ignored here too.
    @Test(arguments: products)
    func throttlingAnswersHonourRetryAfterInMilliseconds(vendor: Vendor) {
        let harness = AlibabaHarness(vendor)
        let body = JSONValue.obj(("RequestId", "r"), ("HostId", "h"), ("Code", "Throttling.Api"), ("Message", "slow down")).bytes
        let cases: [(String, Double?)] = [
            ("3000", 3), ("80", 0.08), (" 1500 ", 1.5), ("120000", 120), ("120001", 120), ("99999999999999999999999", 120),
            ("0", nil), ("-5", nil), ("1.5", nil), ("1e3", nil), ("inf", nil), ("nan", nil), ("", nil), ("abc", nil),
        ]
        for (header, expected) in cases {
            let result = harness.client.interpretStatus(
                InboundResponse(status: 429, headers: ["x-acs-retry-after": header], body: body), for: harness.task("t1"))
            #expect(result.outcome == .throttled)
            #expect(result.vendorCode == "Throttling.Api")
            #expect(result.retryAfter == expected, "x-acs-retry-after: \(header)")
        }
    }

    /// The simulated gateway throttles as the vendor does, with the back-off hint in milliseconds (≤ 1 s: its window).
    @Test(arguments: products)
    func simulatorThrottlingCarriesRetryAfterMilliseconds(vendor: Vendor) throws {
        let harness = AlibabaHarness(vendor, qps: 1)
        harness.book.start(id: "t1")
        #expect(try harness.poll("t1").outcome == .success)
        let (response, result) = harness.send(try harness.request("t1"), for: "t1")
        #expect(result.outcome == .throttled)
        let header = try #require(response.headers["x-acs-retry-after"])
        let milliseconds = try #require(Int(header))
        #expect((1...1000).contains(milliseconds))
        #expect(result.retryAfter == Double(milliseconds) / 1000)
    }

    /// Every answer, success or error, carries the gateway's JSON content type (the SDK parses all but
    /// `text/xml;charset=utf-8` errors as JSON).
    @Test(arguments: products)
    func answersCarryTheGatewayContentType(vendor: Vendor) throws {
        let harness = AlibabaHarness(vendor)
        harness.book.start(id: "t1")
        for id in ["t1", "missing"] {
            #expect(harness.send(try harness.request(id), for: id).response.headers["content-type"] == "application/json;charset=utf-8")
        }
    }

    @Test(arguments: products)
    func unknownErrorCodeIsAClientErrorKeepingTheCode(vendor: Vendor) {
        let harness = AlibabaHarness(vendor)
        let body = JSONValue.obj(("RequestId", "r"), ("HostId", "h"), ("Code", "InvalidParameter.Brand.New"),
                                 ("Message", "something we have never seen"), ("Recommend", "https://example")).bytes
        let result = harness.client.interpretStatus(InboundResponse(status: 400, body: body), for: harness.task("t1"))
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "InvalidParameter.Brand.New")
        #expect(result.message?.contains("something we have never seen") == true)
    }

    @Test(arguments: products)
    func errorBodyWithHTTP200IsStillAnError(vendor: Vendor) {
        let harness = AlibabaHarness(vendor)
        for (code, outcome) in [("Throttling.User", PollOutcome.throttled), ("SignatureDoesNotMatch", .authError),
                                ("InternalError", .serverError)] {
            let body = JSONValue.obj(("RequestId", "r"), ("Code", .string(code)), ("Message", "m")).bytes
            let result = harness.client.interpretStatus(InboundResponse(status: 200, body: body), for: harness.task("t1"))
            #expect(result.outcome == outcome, "\(code)")
            #expect(result.vendorCode == code)
        }
    }

    @Test(arguments: products)
    func bodiesThatAreNotEnvelopes(vendor: Vendor) {
        let harness = AlibabaHarness(vendor)
        let task = harness.task("t1")
        let html = Array("<html>bad gateway</html>".utf8)
        #expect(harness.client.interpretStatus(InboundResponse(status: 200, body: html), for: task).outcome == .decodeError)
        #expect(harness.client.interpretStatus(InboundResponse(status: 400, body: html), for: task).outcome == .decodeError)
        #expect(harness.client.interpretStatus(InboundResponse(status: 502, body: html), for: task).outcome == .serverError)
        #expect(harness.client.interpretStatus(InboundResponse(status: 200, body: Array("[1]".utf8)), for: task).outcome == .decodeError)
        // JSON without a payload or a Code.
        let empty = harness.client.interpretStatus(InboundResponse(status: 200, body: Array("{\"RequestId\":\"r\"}".utf8)), for: task)
        #expect(empty.outcome == .decodeError)
        // A bare 404 is a wrong endpoint, never an ended task.
        let bare404 = harness.client.interpretStatus(InboundResponse(status: 404, body: Array("{}".utf8)), for: task)
        #expect(bare404.outcome == .clientError)
    }

    @Test(arguments: products)
    func injectedFaultsAreClassified(vendor: Vendor) throws {
        let harness = AlibabaHarness(vendor)
        harness.book.start(id: "t1")
        harness.simulator.faults.set(.httpStatus(503))
        #expect(try harness.poll("t1").outcome == .serverError)
        harness.simulator.faults.set(.notJSON)
        #expect(try harness.poll("t1").outcome == .decodeError)
        harness.simulator.faults.set(.wrongShape)
        #expect(try harness.poll("t1").outcome == .decodeError)
    }

    @Test func missingAccessKeyIDFailsTheRequestBuild() {
        let account = AccountSpec(name: "empty", vendor: .alibabaLive, endpoint: "https://live.aliyuncs.com", rateLimit: 50,
                                  pollInterval: 10, fields: ["region": "cn-shanghai"])
        #expect(throws: VendorRequestError.self) {
            try AlibabaLiveClient(account: account).statusRequest(for: TaskSpec(account: "empty", id: "t"), context: RequestContext())
        }
    }

    @Test func sharedAccountSchema() {
        for vendor in Self.products {
            let schema = VendorCatalog.schema(for: vendor)
            #expect(schema.credentialFields == ["access_key_id", "access_key_secret"])
            #expect(schema.accountFields.map(\.name) == ["region", "signature_version"])
            let signature = schema.accountFields[1]
            #expect(!signature.required)
            #expect(signature.problem(with: "v3") == nil && signature.problem(with: "rpc_v1") == nil)
            #expect(signature.problem(with: "v2") != nil)
            #expect(schema.taskFields.isEmpty)
        }
    }

    @Test func configLoadsBothProductsWithTheirDefaults() throws {
        let yaml = """
        accounts:
          - name: live
            vendor: alibaba_live
            region: cn-hangzhou
            credentials: {access_key_id: LTAI5tConfigKey, access_key_secret: "${ALI_SECRET}"}
          - name: ims
            vendor: alibaba_ims
            region: cn-beijing
            signature_version: rpc_v1
            credentials: {access_key_id: LTAI5tConfigKey, access_key_secret: "${ALI_SECRET}"}
        tasks:
          - {account: live, id: t-1}
          - {account: ims, id: j-1}
        """
        let config = try ConfigLoader(environment: ["ALI_SECRET": "from-env"]).parse(yaml: yaml, file: "test.yaml")
        let live = try #require(config.accounts.first { $0.name == "live" })
        let ims = try #require(config.accounts.first { $0.name == "ims" })
        #expect(live.endpoint == "https://live.aliyuncs.com" && live.rateLimit == 50)
        #expect(ims.endpoint == "https://ice.cn-beijing.aliyuncs.com" && ims.rateLimit == 10)
        #expect(ims.fields[AlibabaSignatureVersion.fieldName] == "rpc_v1")
        #expect(live.credential("access_key_secret").reveal() == "from-env")
        let request = try VendorCatalog.makeClient(for: ims).statusRequest(for: config.tasks[1], context: RequestContext())
        #expect(request.url.contains("SignatureMethod=HMAC-SHA1") && request.header("authorization") == nil)
    }

    @Test func configRejectsAnUnknownSignatureVersion() {
        let yaml = """
        accounts:
          - name: live
            vendor: alibaba_live
            region: cn-hangzhou
            signature_version: v2
            credentials: {access_key_id: a, access_key_secret: b}
        """
        #expect(throws: ConfigErrors.self) { try ConfigLoader(environment: [:]).parse(yaml: yaml, file: "test.yaml") }
    }
}
