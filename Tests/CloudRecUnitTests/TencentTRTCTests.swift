import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

/// Client → simulator → decoder round trips for TRTC `DescribeCloudRecording`, plus the decoder on hand-written bodies.
@Suite("Tencent TRTC client and simulator")
struct TencentTRTCTests {
    static let sdkAppID = "1400000000"
    static let secretID = "AKIDsimulatorTestSecretId"
    static let secretKey = "simulatorTestSecretKeyValue00000"

    /// One account, one simulator, one task: the in-memory loop the unit tests drive.
    struct Harness {
        let book = SimTaskBook(clock: SimClock())
        let sim: TencentTRTCSimulator
        let client: TencentTRTCClient
        let task: TaskSpec

        init(secretID: String = TencentTRTCTests.secretID, secretKey: String = TencentTRTCTests.secretKey,
             endpoint: String = "https://trtc.tencentcloudapi.com", qps: Int = 20,
             endedErrorCode: String = TencentTRTCErrorCodes.taskNotExist, taskFields: [String: String] = [:]) {
            sim = TencentTRTCSimulator(book: book, sdkAppID: TencentTRTCTests.sdkAppID, secretID: TencentTRTCTests.secretID,
                                       secretKey: TencentTRTCTests.secretKey, qps: qps, endedErrorCode: endedErrorCode)
            client = TencentTRTCClient(account: AccountSpec(
                name: "trtc-main", vendor: .tencentTRTC, endpoint: endpoint, rateLimit: 20, pollInterval: 15,
                fields: ["region": "ap-guangzhou", "sdk_app_id": TencentTRTCTests.sdkAppID],
                credentials: ["secret_id": Secret(secretID), "secret_key": Secret(secretKey)]))
            task = TaskSpec(account: "trtc-main", id: "task-0001", fields: taskFields)
        }

        func request() throws -> OutboundRequest { try client.statusRequest(for: task, context: RequestContext()) }

        func send(_ request: OutboundRequest) -> PollResult {
            client.interpretStatus(sim.respond(to: SimRequest(request)).inbound, for: task)
        }

        func poll() throws -> PollResult { send(try request()) }
    }

    static func body(_ json: String, status: Int = 200) -> InboundResponse {
        InboundResponse(status: status, headers: ["Content-Type": "application/json"], body: Array(json.utf8))
    }

    // MARK: - Request shape

    @Test func requestShape() throws {
        let harness = Harness()
        let request = try harness.client.statusRequest(for: harness.task, context: RequestContext(now: Date(timeIntervalSince1970: 1700000000)))
        #expect(request.method == "POST")
        #expect(request.url == "https://trtc.tencentcloudapi.com/")
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"SdkAppId":1400000000,"TaskId":"task-0001"}"#)
        #expect(request.header("host") == "trtc.tencentcloudapi.com")
        #expect(request.header("content-type") == "application/json")
        #expect(request.header("x-tc-action") == "DescribeCloudRecording")
        #expect(request.header("x-tc-version") == "2019-07-22")
        #expect(request.header("x-tc-region") == "ap-guangzhou")
        #expect(request.header("x-tc-timestamp") == "1700000000")
        let authorization = try #require(request.header("authorization"))
        #expect(authorization.hasPrefix("TC3-HMAC-SHA256 Credential=\(Self.secretID)/2023-11-14/trtc/tc3_request, "
            + "SignedHeaders=content-type;host, Signature="))
        #expect(!authorization.contains(Self.secretKey))
    }

    @Test func taskSdkAppIDOverridesTheAccount() throws {
        let harness = Harness(taskFields: ["sdk_app_id": "1400999999"])
        let body = try JSONValue.parse(try harness.request().body)
        #expect(body["SdkAppId"] == .number(1400999999))
    }

    @Test func hostHeaderKeepsOnlyNonDefaultPorts() {
        #expect(TencentTRTCClient.hostHeader(endpoint: "https://trtc.tencentcloudapi.com") == "trtc.tencentcloudapi.com")
        #expect(TencentTRTCClient.hostHeader(endpoint: "https://trtc.tencentcloudapi.com:443/") == "trtc.tencentcloudapi.com")
        #expect(TencentTRTCClient.hostHeader(endpoint: "http://127.0.0.1:18081") == "127.0.0.1:18081")
        #expect(TencentTRTCClient.hostHeader(endpoint: "http://sim.local:80") == "sim.local")
        #expect(TencentTRTCClient.hostHeader(endpoint: "https://TRTC.Example.test:8443") == "trtc.example.test:8443")
        #expect(TencentTRTCClient.hostHeader(endpoint: "not a url") == nil)
    }

    @Test func nonDefaultPortIsSignedAndAccepted() throws {
        let harness = Harness(endpoint: "http://127.0.0.1:18081")
        harness.book.start(id: harness.task.id)
        let request = try harness.request()
        #expect(request.header("host") == "127.0.0.1:18081")
        #expect(try harness.poll().outcome == .success)
    }

    @Test func schema() {
        let schema = TencentTRTCClient.schema
        #expect(schema.vendor == .tencentTRTC)
        #expect(TencentTRTCClient.action == "DescribeCloudRecording")
        #expect(schema.defaultRateLimit == 20)
        #expect(schema.credentialFields == ["secret_id", "secret_key"])
        #expect(schema.accountFields.map(\.name) == ["region", "sdk_app_id"])
        #expect(schema.accountFields[0].problem(with: "ap-singapore") == nil)
        #expect(schema.accountFields[0].problem(with: "ap-tokyo") != nil)
        #expect(schema.accountFields[1].problem(with: "14000x") != nil)
        #expect(schema.taskFields == [FieldSpec("sdk_app_id", required: false, kind: .numericID)])
        #expect(schema.defaultEndpoint([:]) == "https://trtc.tencentcloudapi.com")
        #expect(VendorCatalog.schema(for: .tencentTRTC).vendor == .tencentTRTC)
    }

    @Test func missingOrBadSdkAppIDFailsBeforeSending() {
        var account = Harness().client.account
        account.fields["sdk_app_id"] = nil
        let task = TaskSpec(account: account.name, id: "t")
        #expect(throws: VendorRequestError.self) { try TencentTRTCClient(account: account).statusRequest(for: task, context: RequestContext()) }
        let badTask = TaskSpec(account: account.name, id: "t", fields: ["sdk_app_id": "abc"])
        #expect(throws: VendorRequestError.self) { try TencentTRTCClient(account: account).statusRequest(for: badTask, context: RequestContext()) }
    }

    // MARK: - Lifecycle round trips

    @Test func lifecycle() throws {
        let harness = Harness()
        let id = harness.task.id
        harness.book.start(id: id, phase: .starting)

        var result = try harness.poll()
        #expect(result.outcome == .success)
        #expect(result.observation?.vendorStatus == "Idle")
        #expect(result.observation?.status == .running)
        #expect(result.observation?.files == [])
        #expect(result.observation?.reportsUploadStates == false)

        harness.book.setPhase(id, .recording)
        harness.book.update(id) { $0.flags.insert("idle") }
        result = try harness.poll()
        #expect(result.observation?.vendorStatus == "Idle")
        #expect(result.observation?.status == .running)

        harness.book.update(id) { $0.flags.remove("idle") }
        harness.book.addFile(id, name: "1400000000_task-0001__UserId_s_mix__UserId_e_av.m3u8", format: .hls)
        result = try harness.poll()
        #expect(result.observation?.vendorStatus == "InProgress")
        #expect(result.observation?.status == .running)
        let file = try #require(result.observation?.files.first)
        #expect(file.format == .hls)
        #expect(file.uploadState == nil)
        let simStart = try #require(harness.book.task(id)?.files.first?.startTime)
        #expect(abs((file.startTime ?? 0) - simStart) < 0.001)
        #expect(result.observation?.startTime == file.startTime)

        harness.book.setPhase(id, .paused)
        #expect(try harness.poll().observation?.vendorStatus == "InProgress")

        harness.book.setPhase(id, .stopping)
        result = try harness.poll()
        #expect(result.observation?.vendorStatus == "Exited")
        #expect(result.observation?.status == .stopping)

        for ending in [SimPhase.ended, .exitedAbnormally] {
            harness.book.setPhase(id, ending)
            result = try harness.poll()
            #expect(result.outcome == .notFound)
            #expect(result.vendorCode == "FailedOperation.TaskNotExist")
            #expect(result.observation == nil)
        }
    }

    @Test func filesUploadingToVODAreHidden() throws {
        let harness = Harness()
        let id = harness.task.id
        harness.book.start(id: id)
        harness.book.addFile(id, name: "a.mp4", format: .mp4, uploadState: .uploaded)
        harness.book.addFile(id, name: "b.mp4", format: .mp4, uploadState: .uploading)
        harness.book.addFile(id, name: "c.m3u8", format: .hls, uploadState: .recording)
        let files = try #require(try harness.poll().observation?.files)
        #expect(files.map(\.name) == ["a.mp4", "c.m3u8"])
        #expect(files.map(\.format) == [.mp4, .hls])
        harness.book.setUploadState(id, .uploading)
        #expect(try harness.poll().observation?.files == [])
    }

    @Test(arguments: ["FailedOperation.TaskNotExist", "FailedOperation.TaskFinished", "ResourceNotFound",
                      "ResourceNotFound.TaskNotFound", "InvalidParameter.TaskId"])
    func endedOrUnknownTaskIsNotFound(code: String) throws {
        let harness = Harness(endedErrorCode: code)
        let result = try harness.poll()  // never started
        #expect(result.outcome == .notFound)
        #expect(result.vendorCode == code)
        #expect(harness.sim.stats.count(.notFound) == 1)
    }

    // MARK: - Authentication

    @Test func wrongSecretKeyIsAnAuthError() throws {
        let harness = Harness(secretKey: "notTheRightKeyAtAll0000000000000")
        harness.book.start(id: harness.task.id)
        let result = try harness.poll()
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "AuthFailure.SignatureFailure")
        #expect(!(result.message ?? "").contains("notTheRightKey"))
        #expect(harness.sim.stats.count(.authRejected) == 1)
    }

    /// Every answer, success or error, is HTTP 200 with content type exactly `application/json`: the official SDK looks
    /// for `Response.Error` only then (abstract_client.py `_check_error`) and takes any other status as a network error.
    @Test func answersAreHTTP200WithExactlyApplicationJSON() throws {
        let ok = Harness()
        ok.book.start(id: ok.task.id)
        let throttled = Harness(qps: 0)
        throttled.book.start(id: throttled.task.id)
        for (harness, outcome) in [(ok, PollOutcome.success), (Harness(secretKey: "notTheRightKeyAtAll0000000000000"), .authError),
                                   (Harness(), .notFound), (throttled, .throttled)] {
            let response = harness.sim.respond(to: SimRequest(try harness.request()))
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == "application/json")
            #expect(harness.client.interpretStatus(response.inbound, for: harness.task).outcome == outcome)
        }
    }

    @Test func unknownSecretIdIsAnAuthError() throws {
        let result = try Harness(secretID: "AKIDsomebodyElse").poll()
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "AuthFailure.SecretIdNotFound")
    }

    @Test func clockSkewIsSignatureExpire() throws {
        let harness = Harness()
        harness.book.start(id: harness.task.id)
        harness.book.clock.shift(by: 600)
        let result = try harness.poll()
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "AuthFailure.SignatureExpire")
        #expect(!(result.message ?? "").contains(Self.secretKey))
        // Within the 5-minute window the same request is fine.
        harness.book.clock.shift(by: -360)
        #expect(try harness.poll().outcome == .success)
    }

    @Test func tamperedBodyIsRejected() throws {
        let harness = Harness()
        harness.book.start(id: harness.task.id)
        harness.book.start(id: "someone-elses-task")
        var request = try harness.request()
        request.body = JSONValue.obj(("SdkAppId", .number(1400000000)), ("TaskId", "someone-elses-task")).bytes
        let result = harness.send(request)
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "AuthFailure.SignatureFailure")
    }

    @Test func tamperedSignedHeaderIsRejected() throws {
        let harness = Harness(endpoint: "http://127.0.0.1:18081")
        harness.book.start(id: harness.task.id)
        var request = try harness.request()
        request.headers = request.headers.map { $0.name == "Host" ? HeaderField("Host", "127.0.0.1:18082") : $0 }
        #expect(harness.send(request).vendorCode == "AuthFailure.SignatureFailure")
    }

    /// The docs' demos also sign `x-tc-action`; the server verifies whatever `SignedHeaders` lists.
    @Test func extraSignedHeadersAreVerified() throws {
        let harness = Harness()
        harness.book.start(id: harness.task.id)
        let timestamp = Int64(harness.book.clock.now())
        let body = JSONValue.obj(("SdkAppId", .number(1400000000)), ("TaskId", .string(harness.task.id))).bytes
        func signed(_ headers: [HeaderField]) -> SimRequest {
            let result = TencentTC3Signer.sign(TencentTC3Signer.Input(
                method: "POST", host: "trtc.tencentcloudapi.com", headers: headers, payload: body, timestamp: timestamp,
                service: "trtc", secretID: Self.secretID, secretKey: Self.secretKey))
            return SimRequest(method: "POST", path: "/", headers: [
                "Host": "trtc.tencentcloudapi.com", "Content-Type": "application/json; charset=utf-8",
                "X-TC-Action": "DescribeCloudRecording", "X-TC-Version": "2019-07-22", "X-TC-Region": "ap-beijing",
                "X-TC-Timestamp": String(timestamp), "Authorization": result.authorization,
            ], body: body)
        }
        let withAction = signed([HeaderField("Content-Type", "application/json; charset=utf-8"),
                                 HeaderField("X-TC-Action", "DescribeCloudRecording")])
        #expect(TencentTRTCResponseDecoder.interpret(harness.sim.respond(to: withAction).inbound).outcome == .success)

        // content-type must be among the signed headers.
        let hostOnly = signed([])
        #expect(TencentTRTCResponseDecoder.interpret(harness.sim.respond(to: hostOnly).inbound).vendorCode
            == "AuthFailure.SignatureFailure")
    }

    @Test func malformedAuthorizationIsRejected() throws {
        let harness = Harness()
        var request = try harness.request()
        request.headers = request.headers.filter { $0.name != "Authorization" } + [HeaderField("Authorization", "Bearer nope")]
        let result = harness.send(request)
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "AuthFailure.InvalidAuthorization")
    }

    // MARK: - Other request errors

    @Test func wrongActionIsInvalidAction() throws {
        let harness = Harness()
        var request = try harness.request()
        request.headers = request.headers.map { $0.name == "X-TC-Action" ? HeaderField("X-TC-Action", "DescribeRecording") : $0 }
        let result = harness.send(request)
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "InvalidAction")
    }

    @Test func sdkAppIDMismatchIsInvalidParameter() throws {
        let harness = Harness(taskFields: ["sdk_app_id": "1400777777"])
        harness.book.start(id: harness.task.id)
        let result = try harness.poll()
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "InvalidParameter.SdkAppId")
    }

    @Test func taskUnderAnotherAppOfTheAccount() throws {
        let harness = Harness(taskFields: ["sdk_app_id": "1400777777"])
        harness.book.start(id: harness.task.id, fields: ["sdk_app_id": "1400777777"])
        #expect(try harness.poll().outcome == .success)
    }

    @Test func burstAboveTheRateLimitIsThrottled() throws {
        let harness = Harness(qps: 20)
        harness.book.start(id: harness.task.id)
        let requests = try (0..<25).map { _ in try harness.request() }
        let started = Date()
        let results = requests.map(harness.send)
        try #require(Date().timeIntervalSince(started) < 1, "the burst must fit in one second")
        let throttled = results.filter { $0.outcome == .throttled }
        #expect(throttled.count == 5)
        #expect(throttled.allSatisfy { $0.vendorCode == "RequestLimitExceeded" })
        #expect(results.filter { $0.outcome == .success }.count == 20)
        #expect(harness.sim.stats.count(.throttled) == 5)
    }

    @Test func injectedFaults() throws {
        let harness = Harness()
        harness.sim.faults.set(.httpStatus(502))
        #expect(try harness.poll().outcome == .serverError)
        harness.sim.faults.set(.notJSON)
        #expect(try harness.poll().outcome == .decodeError)
        harness.sim.faults.set(.wrongShape)
        #expect(try harness.poll().outcome == .decodeError)
    }

    @Test func everyResponseCarriesARequestId() throws {
        let harness = Harness()
        let missing = try JSONValue.parse(harness.sim.respond(to: SimRequest(try harness.request())).body)
        harness.book.start(id: harness.task.id)
        let found = try JSONValue.parse(harness.sim.respond(to: SimRequest(try harness.request())).body)
        for body in [missing, found] {
            let requestID = try #require(body["Response"]?["RequestId"]?.stringValue)
            #expect(UUID(uuidString: requestID) != nil)
        }
    }

    // MARK: - Decoder on hand-written bodies

    @Test func seedExampleDecodes() throws {
        let result = TencentTRTCResponseDecoder.interpret(Self.body(TencentTRTCSimulator.seedExampleBody))
        #expect(result.outcome == .success)
        let observation = try #require(result.observation)
        #expect(observation.vendorStatus == "InProgress")
        #expect(observation.status == .running)
        #expect(observation.files.isEmpty)
        #expect(observation.reportsUploadStates == false)
    }

    @Test(arguments: [#""StorageFileList": null,"#, #""StorageFileList": [],"#, ""])
    func emptyFileListShapes(fileList: String) throws {
        let json = #"{"Response": {"TaskId": "t", "Status": "Exited", \#(fileList) "RequestId": "r"}}"#
        let result = TencentTRTCResponseDecoder.interpret(Self.body(json))
        #expect(result.outcome == .success)
        #expect(result.observation?.files == [])
        #expect(result.observation?.status == .stopping)
        #expect(result.observation?.startTime == nil)
    }

    @Test func storageFilesDecode() throws {
        let json = """
        {"Response": {"TaskId": "t", "Status": "InProgress", "RecorderKey": "k", "RequestId": "r", "StorageFileList": [
          {"UserId": "", "FileName": "1400000000_t__UserId_s_mix__UserId_e_av.m3u8", "TrackType": "audio_video", "BeginTimeStamp": 1622186279153},
          {"UserId": "alice", "FileName": "alice_audio.mp4", "TrackType": "audio", "BeginTimeStamp": 1622186280},
          {"UserId": "bob", "FileName": "bob.flv", "TrackType": "video"},
          {"UserId": "nobody", "TrackType": "video"}
        ]}}
        """
        let observation = try #require(TencentTRTCResponseDecoder.interpret(Self.body(json)).observation)
        #expect(observation.files.map(\.format) == [.hls, .mp4, .flv])
        #expect(observation.files.map(\.startTime) == [1622186279.153, 1622186280, nil])
        #expect(observation.startTime == 1622186279.153)
    }

    @Test func unknownStatusIsUnknown() throws {
        let result = TencentTRTCResponseDecoder.interpret(Self.body(#"{"Response": {"Status": "Paused", "RequestId": "r"}}"#))
        #expect(result.observation?.status == .unknown)
        #expect(result.observation?.vendorStatus == "Paused")
    }

    @Test func http200WithErrorBodyIsNotSuccess() {
        let json = #"{"Response": {"Error": {"Code": "InternalError.CRInternalError", "Message": "internal"}, "RequestId": "r1"}}"#
        let result = TencentTRTCResponseDecoder.interpret(Self.body(json))
        #expect(result.outcome == .serverError)
        #expect(result.vendorCode == "InternalError.CRInternalError")
        #expect(result.message == "internal (RequestId r1)")
        #expect(result.observation == nil)
    }

    @Test func unknownErrorCodeIsAClientErrorWithTheCodeKept() {
        let json = #"{"Response": {"Error": {"Code": "InvalidParameterValue.SomethingNew", "Message": "?"}, "RequestId": "r"}}"#
        let result = TencentTRTCResponseDecoder.interpret(Self.body(json))
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "InvalidParameterValue.SomethingNew")
    }

    @Test(arguments: [
        ("RequestLimitExceeded", PollOutcome.throttled),
        ("RequestLimitExceeded.UinLimitExceeded", .throttled),
        ("RequestLimitExceeded.IPLimitExceeded", .throttled),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", .throttled),
        ("FailedOperation.RestrictedFrequency", .throttled),
        ("RequestSizeLimitExceeded", .clientError),
        ("AuthFailure", .authError),
        ("AuthFailure.SignatureExpire", .authError),
        ("AuthFailure.SignatureFailure", .authError),
        ("AuthFailure.SecretIdNotFound", .authError),
        ("AuthFailure.UnauthorizedOperation", .authError),
        ("UnauthorizedOperation", .authError),
        ("FailedOperation.TaskNotExist", .notFound),
        ("FailedOperation.TaskFinished", .notFound),
        ("ResourceNotFound", .notFound),
        ("InvalidParameter.TaskId", .notFound),
        ("InternalError", .serverError),
        ("InternalError.CRInternalError", .serverError),
        ("FailedOperation", .serverError),
        ("ServiceUnavailable", .serverError),
        ("FailedOperation.CRUnsupportMethod", .clientError),
        ("InvalidParameter.SdkAppId", .clientError),
        ("InvalidParameter.OutOfRange", .clientError),
        ("MissingParameter.TaskId", .clientError),
        ("InvalidAction", .clientError),
        ("UnsupportedRegion", .clientError),
        ("SomethingNobodyDocumented", .clientError),
    ])
    func errorCodeOutcomes(code: String, outcome: PollOutcome) {
        #expect(TencentTRTCErrorCodes.outcome(for: code) == outcome)
    }

    @Test func httpLevelFailures() {
        let gateway = InboundResponse(status: 502, headers: ["Content-Type": "text/html"], body: Array("<html>bad gateway</html>".utf8))
        #expect(TencentTRTCResponseDecoder.interpret(gateway).outcome == .serverError)
        #expect(TencentTRTCResponseDecoder.interpret(gateway).vendorCode == "502")
        let html = InboundResponse(status: 200, headers: ["Content-Type": "text/html"], body: Array("<html></html>".utf8))
        #expect(TencentTRTCResponseDecoder.interpret(html).outcome == .decodeError)
        #expect(TencentTRTCResponseDecoder.interpret(Self.body(#"{"Response": {"RequestId": "r"}}"#)).outcome == .decodeError)
        #expect(TencentTRTCResponseDecoder.interpret(Self.body(#"{"message": "no"}"#, status: 403)).outcome == .authError)
        #expect(TencentTRTCResponseDecoder.interpret(Self.body(#"{"Response": {"Error": {"Message": "?"}}}"#)).outcome
            == .decodeError)
    }
}
