import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

private func zegoAccount(appID: String = "12345", serverSecret: String = "9193cc662a4c0ec135ec71fb57194b38",
                         endpoint: String = "https://cloudrecord-api.zego.im") -> AccountSpec {
    AccountSpec(name: "zego-main", vendor: .zego, endpoint: endpoint, rateLimit: 10, pollInterval: 30,
                fields: ["app_id": appID], credentials: ["server_secret": Secret(serverSecret)])
}

private func zegoTask(_ id: String = "X3CgNeE4I1qAAABN") -> TaskSpec { TaskSpec(account: "zego-main", id: id) }

private func interpret(_ status: Int, _ body: String) -> PollResult {
    ZegoResponseDecoder.interpret(InboundResponse(status: status, body: Array(body.utf8)))
}

@Suite("ZEGO client")
struct ZegoClientTests {
    @Test func publishedSignatureVector() {
        #expect(ZegoSigner.signature(appID: "12345", nonce: "4fd24687296dd9f3", serverSecret: "9193cc662a4c0ec135ec71fb57194b38",
                                     timestamp: 1_615_186_943) == "43e5cfcca828314675f91b001390566a")
    }

    @Test(arguments: [UInt64(0), 1, 0xabc, 0x4fd2_4687_296d_d9f3, UInt64.max, 0x0000_0000_dead_beef])
    func nonceIsSixteenLowercaseHexCharacters(_ bits: UInt64) {
        let nonce = ZegoSigner.nonce(from: bits)
        #expect(nonce.count == 16)
        #expect(nonce.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(UInt64(nonce, radix: 16) == bits)
    }

    @Test func buildsSignedRequest() throws {
        let client = ZegoClient(account: zegoAccount(endpoint: "https://cloudrecord-api.zego.im/"))
        let context = RequestContext(now: Date(timeIntervalSince1970: 1_615_186_943), nonce: 0x4fd2_4687_296d_d9f3)
        let request = try client.statusRequest(for: zegoTask(), context: context)
        #expect(request.method == "POST")
        #expect(request.url == "https://cloudrecord-api.zego.im/?Action=DescribeRecordStatus&AppId=12345"
            + "&SignatureNonce=4fd24687296dd9f3&Timestamp=1615186943&Signature=43e5cfcca828314675f91b001390566a&SignatureVersion=2.0")
        #expect(request.header("Content-Type") == "application/json")
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"TaskId":"X3CgNeE4I1qAAABN"}"#)
        let parsed = SimRequest(request)
        #expect(parsed.path == "/")
        #expect(parsed.query.map(\.0) == ["Action", "AppId", "SignatureNonce", "Timestamp", "Signature", "SignatureVersion"])
        #expect(parsed.queryValue("SignatureVersion") == "2.0")
    }

    @Test func freshNonceAndTimeEveryCall() throws {
        let client = ZegoClient(account: zegoAccount())
        let a = try client.statusRequest(for: zegoTask(), context: RequestContext(now: Date(timeIntervalSince1970: 1000), nonce: 1))
        let b = try client.statusRequest(for: zegoTask(), context: RequestContext(now: Date(timeIntervalSince1970: 1001), nonce: 2))
        #expect(SimRequest(a).queryValue("Signature") != SimRequest(b).queryValue("Signature"))
        #expect(SimRequest(b).queryValue("Timestamp") == "1001")
        #expect(SimRequest(b).queryValue("SignatureNonce") == "0000000000000002")
    }

    @Test func taskIDIsJSONEscaped() throws {
        let request = try ZegoClient(account: zegoAccount()).statusRequest(for: zegoTask("a\"b"), context: RequestContext())
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"TaskId":"a\"b"}"#)
    }
}

@Suite("ZEGO decoding")
struct ZegoDecodingTests {
    @Test func seedExampleDecodes() throws {
        let result = interpret(200, ZegoSimulator.seedExampleBody)
        #expect(result.outcome == .success)
        let observation = try #require(result.observation)
        #expect(observation.status == .completed)
        #expect(observation.vendorStatus == "3")
        #expect(observation.reportsUploadStates)
        #expect(observation.startTime == 1_601_221_452.099)
        #expect(observation.endTime == 1_601_221_508.795)
        #expect(observation.files == [RecordingFile(
            name: "X3CgNeE4I1qAAABN_xxxx_my_out_VA_20200927154419775.mp4", format: .mp4, uploadState: .uploaded,
            sizeBytes: 432_643_544, durationSeconds: 33.874, startTime: 1_601_221_459.83)])
        #expect(observation.totalSizeBytes == 432_643_544)
    }

    @Test(arguments: [(1, TaskStatus.initializing), (2, .running), (3, .completed), (4, .failed), (5, .paused), (0, .unknown), (6, .unknown)])
    func taskStatusMapping(_ code: Int, _ expected: TaskStatus) throws {
        #expect(ZegoStatusMapping.taskStatus(code) == expected)
        let observation = try #require(interpret(200, #"{"Code":0,"Message":"succeed","Data":{"Status":\#(code)}}"#).observation)
        #expect(observation.status == expected)
        #expect(observation.vendorStatus == String(code))
        #expect(observation.files.isEmpty)
    }

    @Test(arguments: [(1, UploadState.recording), (2, .uploading), (3, .uploaded), (4, .backupUploaded), (5, .failed)])
    func fileStatusMapping(_ code: Int, _ expected: UploadState) throws {
        #expect(ZegoStatusMapping.uploadState(code) == expected)
        let body = #"{"Code":0,"Data":{"Status":2,"RecordFiles":[{"FileId":"f.flv","OutputFileFormat":"flv","Status":\#(code)}]}}"#
        let observation = try #require(interpret(200, body).observation)
        #expect(observation.files.map(\.uploadState) == [expected])
        #expect(observation.files.map(\.format) == [.flv])
    }

    @Test func unknownFileStatusHasNoUploadState() {
        #expect(ZegoStatusMapping.uploadState(0) == nil)
        #expect(ZegoStatusMapping.uploadState(6) == nil)
    }

    @Test(arguments: [
        (300_000_003, PollOutcome.throttled), (300_001_000, .notFound), (100_000_004, .authError), (100_000_005, .authError),
        (123_456_789, .clientError),
    ])
    func errorCodes(_ code: Int, _ expected: PollOutcome) {
        let result = interpret(200, #"{"Code":\#(code),"Message":"m","RequestId":"r"}"#)
        #expect(result.outcome == expected)
        #expect(result.vendorCode == String(code))
        #expect(result.observation == nil)
        #expect(ZegoErrorCodes.outcome(for: code) == expected)
    }

    @Test func nonJSONOKIsDecodeError() {
        let result = interpret(200, "<html>hi</html>")
        #expect(result.outcome == .decodeError)
        #expect(result.vendorCode == nil)
    }

    @Test func missingCodeIsDecodeError() {
        #expect(interpret(200, #"{"Message":"succeed","Data":{"Status":2}}"#).outcome == .decodeError)
        #expect(interpret(200, #"{"Code":"zero"}"#).outcome == .decodeError)
    }

    @Test func missingDataIsDecodeError() {
        #expect(interpret(200, #"{"Code":0,"Message":"succeed"}"#).outcome == .decodeError)
        #expect(interpret(200, #"{"Code":0,"Data":{"RoomId":"r"}}"#).outcome == .decodeError)
    }

    @Test func httpErrorsWithoutEnvelope() {
        #expect(interpret(502, "bad gateway").outcome == .serverError)
        #expect(interpret(403, #"{"error":"forbidden"}"#).outcome == .authError)
    }
}

private struct ZegoRig {
    let book = SimTaskBook(clock: SimClock())
    let sim: ZegoSimulator
    let client: ZegoClient

    init(serverSecret: String = "zego0server0secret00000000000001", qps: Int = 10) {
        sim = ZegoSimulator(book: book, appID: "1234567890", serverSecret: "zego0server0secret00000000000001", qps: qps)
        client = ZegoClient(account: zegoAccount(appID: "1234567890", serverSecret: serverSecret))
    }

    func respond(_ task: TaskSpec) throws -> SimResponse {
        sim.respond(to: SimRequest(try client.statusRequest(for: task, context: RequestContext())))
    }

    func poll(_ task: TaskSpec) throws -> PollResult {
        client.interpretStatus(try respond(task).inbound, for: task)
    }
}

@Suite("ZEGO client against the simulator")
struct ZegoRoundTripTests {
    /// `OutputFileFormat` takes only the documented values (mp4, flv, hls, jpg, aac), whatever the task book holds.
    @Test func outputFileFormatIsAlwaysADocumentedValue() throws {
        let rig = ZegoRig()
        let task = TaskSpec(account: "zego-main", id: "task-1")
        rig.book.start(id: task.id)
        for format in FileFormat.allCases { rig.book.addFile(task.id, name: "f.\(format.rawValue)", format: format) }
        let body = try JSONValue.parse(try rig.respond(task).body)
        let formats = (body["Data"]?["RecordFiles"]?.arrayValue ?? []).compactMap { $0["OutputFileFormat"]?.stringValue }
        #expect(formats.count == FileFormat.allCases.count)
        #expect(Set(formats).isSubset(of: ["mp4", "flv", "hls", "jpg", "aac"]))
        #expect(formats == FileFormat.allCases.map { ZegoSimulator.outputFileFormat($0) })
    }

    @Test(arguments: [
        (SimPhase.starting, TaskStatus.initializing, "1"), (.recording, .running, "2"), (.paused, .paused, "5"),
        (.stopping, .running, "2"), (.ended, .completed, "3"), (.exitedAbnormally, .failed, "4"),
    ])
    func phaseMapsToCommonStatus(_ phase: SimPhase, _ expected: TaskStatus, _ vendorStatus: String) throws {
        let rig = ZegoRig()
        rig.book.start(id: "task-1", phase: .recording)
        rig.book.addFile("task-1", name: "task-1_0.mp4", format: .mp4, uploadState: .uploading, sizeBytes: 2_000, durationSeconds: 12.5)
        rig.book.setPhase("task-1", phase)
        let result = try rig.poll(zegoTask("task-1"))
        #expect(result.outcome == .success)
        let observation = try #require(result.observation)
        #expect(observation.status == expected)
        #expect(observation.vendorStatus == vendorStatus)
        #expect(observation.files.map(\.name) == ["task-1_0.mp4"])
        #expect(observation.files.first?.sizeBytes == 2_000)
        #expect(observation.files.first?.durationSeconds == 12.5)
        #expect(observation.files.first?.uploadState == .uploading)
        let task = try #require(rig.book.task("task-1"))
        #expect(abs((observation.startTime ?? 0) - task.startTime) < 0.001)
        #expect((observation.endTime != nil) == phase.hasEnded)
        #expect(rig.sim.stats.count(.answered) == 1)
    }

    @Test func wrongServerSecretIsAuthError() throws {
        let rig = ZegoRig(serverSecret: "not-the-right-secret")
        rig.book.start(id: "task-1")
        let result = try rig.poll(zegoTask("task-1"))
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "100000005")
        #expect(rig.sim.stats.count(.authRejected) == 1)
    }

    @Test func clockSkewIsAuthError() throws {
        let rig = ZegoRig()
        rig.book.start(id: "task-1")
        rig.book.clock.shift(by: 700)
        let result = try rig.poll(zegoTask("task-1"))
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "100000004")
    }

    @Test func fifteenRequestsInOneSecondAtTenQPS() throws {
        let rig = ZegoRig(qps: 10)
        rig.book.start(id: "task-1")
        let results = try (0..<15).map { _ in try rig.poll(zegoTask("task-1")) }
        let throttled = results.filter { $0.outcome == .throttled }
        #expect(throttled.count == 5)
        #expect(throttled.allSatisfy { $0.vendorCode == "300000003" })
        #expect(results.filter { $0.outcome == .success }.count == 10)
        #expect(rig.sim.stats.count(.throttled) == 5)
    }

    @Test func unknownTaskIsNotFound() throws {
        let rig = ZegoRig()
        let result = try rig.poll(zegoTask("nope"))
        #expect(result.outcome == .notFound)
        #expect(result.vendorCode == "300001000")
        #expect(rig.sim.stats.count(.notFound) == 1)
    }

    @Test func tasksOlderThanThreeDaysAreNotFound() throws {
        let rig = ZegoRig()
        rig.book.start(id: "task-1", phase: .ended)
        rig.book.update("task-1") { $0.startTime -= ZegoSimulator.queryableSeconds + 1 }
        #expect(try rig.poll(zegoTask("task-1")).outcome == .notFound)
    }

    @Test func uploadStatesComeThrough() throws {
        let rig = ZegoRig()
        rig.book.start(id: "task-1", phase: .recording)
        rig.book.addFile("task-1", name: "a.mp4", format: .mp4)
        rig.book.addFile("task-1", name: "a.m3u8", format: .hls)
        rig.book.setPhase("task-1", .ended)
        rig.book.setUploadState("task-1", .failed, fileIndex: 0)
        rig.book.setUploadState("task-1", .backupUploaded, fileIndex: 1)
        let observation = try #require(try rig.poll(zegoTask("task-1")).observation)
        #expect(observation.status == .completed)
        #expect(observation.reportsUploadStates)
        #expect(observation.files.map(\.uploadState) == [.failed, .backupUploaded])
        #expect(observation.files.map(\.format) == [.mp4, .hls])
    }

    @Test func taskWithoutFilesOmitsRecordFiles() throws {
        let rig = ZegoRig()
        rig.book.start(id: "task-1", phase: .ended)
        let response = try rig.respond(zegoTask("task-1"))
        let json = try JSONValue.parse(response.body)
        #expect(json["Code"] == 0)
        let data = try #require(json["Data"])
        #expect(data["Status"] == 3)
        #expect(data["RecordFiles"] == nil)
        let observation = try #require(rig.client.interpretStatus(response.inbound, for: zegoTask("task-1")).observation)
        #expect(observation.files.isEmpty)
        #expect(observation.totalSizeBytes == nil)
    }

    @Test func wrongAppIDIsAuthError() throws {
        let rig = ZegoRig()
        let client = ZegoClient(account: zegoAccount(appID: "42", serverSecret: "zego0server0secret00000000000001"))
        let task = zegoTask("task-1")
        let response = rig.sim.respond(to: SimRequest(try client.statusRequest(for: task, context: RequestContext())))
        let result = client.interpretStatus(response.inbound, for: task)
        #expect(result.outcome == .authError)
        #expect(result.vendorCode == "100000010")
    }
}
