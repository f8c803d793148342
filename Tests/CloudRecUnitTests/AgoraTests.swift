import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

private func agoraAccount(customerID: String = "customer", customerSecret: String = "secret",
                          endpoint: String = "https://api.sd-rtn.com/", appID: String = "appid123") -> AccountSpec {
    AccountSpec(name: "agora-main", vendor: .agora, endpoint: endpoint, rateLimit: 10, pollInterval: 30,
                fields: ["app_id": appID],
                credentials: ["customer_id": Secret(customerID), "customer_secret": Secret(customerSecret)])
}

private func agoraTask(_ sid: String = "sid-1", resourceID: String = "rid-1", mode: String = "mix") -> TaskSpec {
    TaskSpec(account: "agora-main", id: sid, fields: ["resource_id": resourceID, "mode": mode])
}

private func interpret(_ status: Int, _ body: String, mode: String = "mix", headers: [String: String] = [:]) -> PollResult {
    AgoraResponseDecoder.interpret(InboundResponse(status: status, headers: headers, body: Array(body.utf8)), mode: mode)
}

@Suite("Agora client")
struct AgoraClientTests {
    @Test func basicAuthorizationMatchesComputedExample() {
        #expect(AgoraClient.basicAuthorization(customerID: "customer", customerSecret: "secret") == "Basic Y3VzdG9tZXI6c2VjcmV0")
    }

    @Test func buildsQueryRequest() throws {
        let client = AgoraClient(account: agoraAccount())
        let request = try client.statusRequest(for: agoraTask(), context: RequestContext())
        #expect(request.method == "GET")
        #expect(request.url == "https://api.sd-rtn.com/v1/apps/appid123/cloud_recording/resourceid/rid-1/sid/sid-1/mode/mix/query")
        #expect(request.header("Authorization") == "Basic Y3VzdG9tZXI6c2VjcmV0")
        #expect(request.header("content-type") == "application/json;charset=utf-8")
        #expect(request.headers.count == 2)
        #expect(request.body.isEmpty)
        #expect(client.statusAPIName == "query")
        #expect(client.notFoundGraceSeconds == 90)
    }

    @Test func percentEncodesPathSegments() throws {
        let client = AgoraClient(account: agoraAccount(endpoint: "http://127.0.0.1:8080"))
        let request = try client.statusRequest(for: agoraTask("s/1", resourceID: "a+b=", mode: "web"), context: RequestContext())
        #expect(request.url == "http://127.0.0.1:8080/v1/apps/appid123/cloud_recording/resourceid/a%2Bb%3D/sid/s%2F1/mode/web/query")
    }

    @Test func missingResourceIDIsARequestError() {
        let client = AgoraClient(account: agoraAccount())
        #expect(throws: VendorRequestError.self) {
            try client.statusRequest(for: TaskSpec(account: "agora-main", id: "sid-1", fields: ["mode": "mix"]), context: RequestContext())
        }
    }

    @Test func schemaDefaults() {
        let schema = VendorCatalog.schema(for: .agora)
        #expect(schema.defaultRateLimit == 10)
        #expect(schema.defaultEndpoint([:]) == "https://api.sd-rtn.com")
        #expect(schema.credentialFields == ["customer_id", "customer_secret"])
    }
}

@Suite("Agora decoding")
struct AgoraDecodingTests {
    @Test func seedExampleDecodes() throws {
        let result = interpret(200, AgoraSimulator.seedExampleBody)
        #expect(result.outcome == .success)
        let observation = try #require(result.observation)
        #expect(observation.status == .running)
        #expect(observation.vendorStatus == "5")
        #expect(observation.files == [RecordingFile(name: "xxx.m3u8", format: .hls, startTime: 1_562_724_971)])
        #expect(observation.startTime == 1_562_724_971.626)
        #expect(!observation.reportsUploadStates)
    }

    @Test func fileListModeString() throws {
        let body = #"{"serverResponse":{"status":6,"fileListMode":"string","fileList":"sid_abc.m3u8","sliceStartTime":"1562724971626"}}"#
        let observation = try #require(interpret(200, body).observation)
        #expect(observation.status == .stopping)
        #expect(observation.files.map(\.name) == ["sid_abc.m3u8"])
        #expect(observation.files.map(\.format) == [.hls])
        // Old examples quote the millisecond start time; both forms are accepted.
        #expect(observation.startTime == 1_562_724_971.626)
    }

    @Test func webModeOnHoldIsPausedWithPayloadFiles() throws {
        let body = """
        {"serverResponse":{"status":5,"extensionServiceState":[
          {"serviceName":"rtmp_publish_service","payload":{"outputs":[{"rtmpUrl":"rtmp://x","status":"publishing"}]}},
          {"serviceName":"web_recorder_service","payload":{"state":"inProgress","onhold":true,
            "fileList":[{"filename":"web_1.mp4","sliceStartTime":1700000100},{"filename":"web_1.m3u8","sliceStartTime":1700000000}]}}]}}
        """
        let observation = try #require(interpret(200, body, mode: "web").observation)
        #expect(observation.status == .paused)
        #expect(observation.files.map(\.name) == ["web_1.mp4", "web_1.m3u8"])
        #expect(observation.files.map(\.format) == [.mp4, .hls])
        #expect(observation.startTime == 1_700_000_000)
        let running = body.replacingOccurrences(of: "\"onhold\":true", with: "\"onhold\":false")
        #expect(interpret(200, running, mode: "web").observation?.status == .running)
    }

    @Test(arguments: [
        (0, TaskStatus.initializing), (1, .initializing), (2, .initializing), (3, .initializing), (4, .initializing),
        (5, .running), (6, .stopping), (7, .stopping), (8, .completed), (20, .failed), (9, .unknown), (21, .unknown),
    ])
    func statusMapping(_ code: Int, _ expected: TaskStatus) throws {
        #expect(AgoraStatusMapping.status(for: code, paused: false) == expected)
        let observation = try #require(interpret(200, #"{"serverResponse":{"status":\#(code)}}"#).observation)
        #expect(observation.status == expected)
        #expect(observation.vendorStatus == String(code))
        #expect(observation.files.isEmpty)
    }

    @Test func pausedOnlyAppliesToStatusFive() {
        #expect(AgoraStatusMapping.status(for: 5, paused: true) == .paused)
        #expect(AgoraStatusMapping.status(for: 8, paused: true) == .completed)
    }

    @Test func gatewayNoRouteIsAClientError() {
        let result = interpret(404, #"{"message":"no Route matched with those values"}"#)
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "404")
    }

    @Test func service404IsNotFound() {
        let result = interpret(404, #"{"code":404,"reason":"failed to find worker","resourceId":"r","sid":"s"}"#)
        #expect(result.outcome == .notFound)
        #expect(result.vendorCode == "404")
        #expect(result.observation == nil)
    }

    @Test func tooManyRequestsIsThrottled() {
        let result = interpret(429, #"{"message":"API rate limit exceeded"}"#, headers: ["Retry-After": "2"])
        #expect(result.outcome == .throttled)
        #expect(result.vendorCode == "429")
        #expect(result.retryAfter == 2)
        #expect(interpret(429, "").outcome == .throttled)
    }

    @Test func unauthorizedIsAuthError() {
        let result = interpret(401, #"{"message":"Invalid authentication credentials"}"#)
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "401")
    }

    @Test func serverErrorIsServerError() {
        let result = interpret(500, "upstream exploded")
        #expect(result.outcome == .serverError)
        #expect(result.vendorCode == "500")
        #expect(interpret(503, #"{"message":"busy"}"#).outcome == .serverError)
    }

    @Test func nonJSONOKIsDecodeError() {
        let result = interpret(200, "<html>gateway says hi</html>")
        #expect(result.outcome == .decodeError)
        #expect(result.observation == nil)
        #expect(interpret(200, "[1,2]").outcome == .decodeError)
    }

    @Test(arguments: [
        #"{"cname":"c","sid":"s"}"#,
        #"{"serverResponse":"running"}"#,
        #"{"serverResponse":{"status":"in progress"}}"#,
        #"{"serverResponse":{"fileListMode":"json"}}"#,
        #"{"serverResponse":{"status":null}}"#,
    ])
    func wrongShapeIsDecodeError(_ body: String) {
        let result = interpret(200, body)
        #expect(result.outcome == .decodeError)
        #expect(result.message?.contains("HTTP 200") == true)
    }

    @Test func code501IsStopping() throws {
        for status in [200, 400] {
            let result = interpret(status, #"{"code":501,"reason":"recording service is exiting"}"#)
            #expect(result.outcome == .success)
            let observation = try #require(result.observation)
            #expect(observation.status == .stopping)
            #expect(observation.vendorStatus == "exiting")
        }
    }

    @Test func otherServiceCodesAreClientErrors() {
        let result = interpret(400, #"{"code":1003,"reason":"appid or sid does not match the resource id"}"#)
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "1003")
    }
}

/// Requests built by the client, answered by the simulator in memory.
private struct AgoraRig {
    let book = SimTaskBook(clock: SimClock())
    let sim: AgoraSimulator
    let client: AgoraClient

    init(customerSecret: String = "secret", qps: Int = 10, endedLingerSeconds: Double = 5) {
        sim = AgoraSimulator(book: book, appID: "appid123", customerID: "customer", customerSecret: "secret", qps: qps,
                             endedLingerSeconds: endedLingerSeconds)
        client = AgoraClient(account: agoraAccount(customerSecret: customerSecret))
    }

    func poll(_ task: TaskSpec) throws -> PollResult {
        let request = try client.statusRequest(for: task, context: RequestContext())
        return client.interpretStatus(sim.respond(to: SimRequest(request)).inbound, for: task)
    }

    func start(_ sid: String = "sid-1", mode: String = "mix", phase: SimPhase = .recording, extraFields: [String: String] = [:]) {
        book.start(id: sid, fields: ["resource_id": "rid-1", "mode": mode].merging(extraFields) { _, new in new }, phase: .recording)
        book.addFile(sid, name: "\(sid)_0.mp4", format: .mp4)
        book.addFile(sid, name: "\(sid)_0.m3u8", format: .hls)
        book.setPhase(sid, phase)
    }
}

@Suite("Agora client against the simulator")
struct AgoraRoundTripTests {
    @Test(arguments: [
        (SimPhase.starting, "mix", TaskStatus.initializing, "4"), (.recording, "mix", .running, "5"),
        (.paused, "mix", .running, "5"), (.stopping, "mix", .stopping, "6"), (.ended, "mix", .completed, "8"),
        (.exitedAbnormally, "mix", .failed, "20"),
        (.starting, "web", .initializing, "4"), (.recording, "web", .running, "5"), (.paused, "web", .paused, "5"),
        (.stopping, "web", .stopping, "6"), (.ended, "web", .completed, "8"), (.exitedAbnormally, "web", .failed, "20"),
        (.recording, "individual", .running, "5"),
    ])
    func phaseMapsToCommonStatus(_ phase: SimPhase, _ mode: String, _ expected: TaskStatus, _ vendorStatus: String) throws {
        let rig = AgoraRig()
        rig.start(mode: mode, phase: phase)
        let result = try rig.poll(agoraTask(mode: mode))
        #expect(result.outcome == .success)
        let observation = try #require(result.observation)
        #expect(observation.status == expected)
        #expect(observation.vendorStatus == vendorStatus)
        #expect(observation.files.map(\.name) == ["sid-1_0.mp4", "sid-1_0.m3u8"])
        #expect(observation.files.map(\.format) == [.mp4, .hls])
        let started = try #require(rig.book.task("sid-1")?.startTime)
        #expect(abs((observation.startTime ?? 0) - started) < 1)
        #expect(rig.sim.stats.count(.answered) == 1)
    }

    /// The top-level `sliceStartTime` is "only returned in individual recording mode"; elsewhere the start comes
    /// from the files' own `sliceStartTime`.
    @Test(arguments: [("individual", true), ("mix", false), ("web", false)])
    func topLevelSliceStartTimeOnlyInIndividualMode(mode: String, present: Bool) throws {
        let rig = AgoraRig()
        rig.start(mode: mode)
        let request = try rig.client.statusRequest(for: agoraTask(mode: mode), context: RequestContext())
        let body = try JSONValue.parse(rig.sim.respond(to: SimRequest(request)).body)
        #expect((body["serverResponse"]?["sliceStartTime"] != nil) == present)
    }

    @Test func fileListModeStringThroughSimulator() throws {
        let rig = AgoraRig()
        rig.start(extraFields: ["file_list_mode": "string"])
        let observation = try #require(try rig.poll(agoraTask()).observation)
        #expect(observation.files.map(\.name) == ["sid-1_0.mp4"])
        #expect(observation.status == .running)
    }

    @Test func wrongCustomerSecretIsAuthError() throws {
        let rig = AgoraRig(customerSecret: "wrong")
        rig.start()
        let result = try rig.poll(agoraTask())
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "401")
        #expect(rig.sim.stats.count(.authRejected) == 1)
    }

    @Test func unknownSidIsNotFound() throws {
        let rig = AgoraRig()
        rig.start()
        let result = try rig.poll(agoraTask("sid-unknown"))
        #expect(result.outcome == .notFound)
        #expect(result.vendorCode == "404")
        #expect(rig.sim.stats.count(.notFound) == 1)
    }

    @Test func resourceIDMismatchIsClientError() throws {
        let rig = AgoraRig()
        rig.start()
        let result = try rig.poll(agoraTask(resourceID: "rid-other"))
        #expect(result.outcome == .clientError)
        #expect(result.vendorCode == "1003")
    }

    @Test func fifteenRequestsInOneSecondAtTenQPS() throws {
        let rig = AgoraRig(qps: 10)
        rig.start()
        let results = try (0..<15).map { _ in try rig.poll(agoraTask()) }
        #expect(results.filter { $0.outcome == .throttled }.count == 5)
        #expect(results.filter { $0.outcome == .success }.count == 10)
        #expect(results.filter { $0.outcome == .throttled }.allSatisfy { $0.vendorCode == "429" })
        #expect(rig.sim.stats.count(.throttled) == 5)
        #expect(rig.sim.stats.count(.answered) == 10)
    }

    @Test func endedTaskAnswersWithinLingerThenNotFound() throws {
        let rig = AgoraRig(endedLingerSeconds: 5)
        rig.start(phase: .ended)
        let first = try rig.poll(agoraTask())
        #expect(first.observation?.status == .completed)
        #expect(first.observation?.vendorStatus == "8")
        rig.book.clock.shift(by: 6)
        let later = try rig.poll(agoraTask())
        #expect(later.outcome == .notFound)
    }

    @Test func endedTaskWithoutLingerIsNotFound() throws {
        let rig = AgoraRig(endedLingerSeconds: 0)
        rig.start(phase: .exitedAbnormally)
        rig.book.clock.shift(by: 0.5)
        #expect(try rig.poll(agoraTask()).outcome == .notFound)
    }

    @Test func hiddenTaskIsNotFoundDuringFailover() throws {
        let rig = AgoraRig()
        rig.start()
        let now = rig.book.clock.now()
        rig.book.update("sid-1") { $0.hiddenUntil = now + 60 }
        #expect(try rig.poll(agoraTask()).outcome == .notFound)
        rig.book.clock.shift(by: 61)
        #expect(try rig.poll(agoraTask()).observation?.status == .running)
    }

    @Test func injectedFaults() throws {
        let rig = AgoraRig()
        rig.start()
        rig.sim.faults.set(.notJSON)
        #expect(try rig.poll(agoraTask()).outcome == .decodeError)
        rig.sim.faults.set(.wrongShape)
        #expect(try rig.poll(agoraTask()).outcome == .decodeError)
        rig.sim.faults.set(.httpStatus(502))
        #expect(try rig.poll(agoraTask()).outcome == .serverError)
        #expect(rig.sim.stats.count(.faulted) == 3)
    }
}
