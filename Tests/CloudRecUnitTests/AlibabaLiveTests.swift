import CloudRecCore
import CloudRecSimulators
@testable import CloudRecVendors
import Foundation
import Testing

@Suite struct AlibabaLiveTests {
    static func interpret(_ body: String, status: Int = 200) -> PollResult {
        AlibabaLiveResponseDecoder.interpret(InboundResponse(status: status, body: Array(body.utf8)))
    }

    @Test func schema() {
        let schema = AlibabaLiveClient.schema
        #expect(schema.vendor == .alibabaLive)
        #expect(AlibabaLiveClient.operation.action == "DescribeRtcCloudRecordingFiles")
        #expect(schema.defaultRateLimit == 50)
        #expect(schema.defaultEndpoint(["region": "ap-southeast-1"]) == "https://live.aliyuncs.com")
    }

    @Test func requestIsAPostWithTheTaskIdInTheQuery() throws {
        let harness = AlibabaHarness(.alibabaLive)
        let request = try harness.request("a b/c")
        #expect(request.method == "POST")
        #expect(request.url == "https://live.aliyuncs.com/?TaskId=a%20b%2Fc")
        #expect(request.body.isEmpty)
        #expect(request.header("x-acs-action") == "DescribeRtcCloudRecordingFiles")
        #expect(request.header("x-acs-version") == "2016-11-01")
        #expect(request.header("host") == "live.aliyuncs.com")
        let v1 = try AlibabaHarness(.alibabaLive, signature: .rpcV1).request("t1")
        #expect(v1.url.hasPrefix("https://live.aliyuncs.com/?AccessKeyId="))
        #expect(v1.url.contains("Action=DescribeRtcCloudRecordingFiles") && v1.url.contains("Version=2016-11-01"))
        #expect(v1.url.contains("&TaskId=t1&"))
    }

    @Test func seedExampleDecodes() throws {
        let result = Self.interpret(AlibabaLiveSimulator.seedExampleBody)
        let observation = try #require(result.observation)
        #expect(result.outcome == .success)
        #expect(observation.vendorStatus == "RUNNING")
        #expect(observation.status == .running)
        #expect(!observation.reportsUploadStates)
        #expect(observation.files.map(\.format) == [.mp4, .hls, .mp3, .other])
        #expect(observation.files[0].name == "******73-8501-****-8ac1-72295a******/myappid_testroom_userA_2025-05-06-14:37:22.mp4")
        #expect(observation.files[3].name == "Single::UserA::AV::C/****bbd9f59c71ee80065017f0f8****")
        #expect(observation.files.allSatisfy { $0.uploadState == nil && $0.sizeBytes == nil })
    }

    @Test(arguments: [("RUNNING", TaskStatus.running), ("RECOVERING", .running), ("STOPPING", .stopping),
                      ("STOPPED", .completed), ("PAUSED", .unknown), ("", .unknown)])
    func statusMapping(_ row: (vendor: String, common: TaskStatus)) {
        #expect(AlibabaLiveStatusMapping.taskStatus(row.vendor) == row.common)
    }

    /// HTTP 400 `InvalidParameter.TaskId` ("the task must be in the running or recovering state"): not a client error
    /// but a task that can no longer be queried.
    @Test func invalidParameterTaskIdIsAGoneTask() {
        let result = Self.interpret(#"{"RequestId":"r","HostId":"live.aliyuncs.com","Code":"InvalidParameter.TaskId","Message":"The task must be in the running or recovering state."}"#, status: 400)
        #expect(result.outcome == .notFound)
        #expect(result.taskGone)
        #expect(result.vendorCode == "InvalidParameter.TaskId")
        let unknown = Self.interpret(#"{"RequestId":"r","HostId":"live.aliyuncs.com","Code":"NotFound.Task","Message":"t"}"#, status: 400)
        #expect(unknown.outcome == .notFound)
        #expect(!unknown.taskGone)
        let other = Self.interpret(#"{"RequestId":"r","HostId":"live.aliyuncs.com","Code":"InvalidParameter.UserId","Message":"u"}"#, status: 403)
        #expect(other.outcome == .clientError)
        #expect(!other.taskGone)
    }

    /// The simulator models both readings: created over 3 days ago, or an ended task flagged `stopped_not_queryable`.
    @Test func simulatorAnswersInvalidParameterTaskIdOutsideTheQueryWindow() throws {
        let harness = AlibabaHarness(.alibabaLive)
        harness.book.start(id: "old")
        harness.book.update("old") { $0.startTime -= AlibabaLiveSimulator.queryWindowSeconds + 1 }
        harness.book.start(id: "young")
        harness.book.update("young") { $0.startTime -= AlibabaLiveSimulator.queryWindowSeconds - 60 }
        harness.book.start(id: "stopped")
        harness.book.update("stopped") { $0.flags = [AlibabaLiveSimulator.stoppedNotQueryableFlag] }
        #expect(try harness.poll("stopped").observation?.vendorStatus == "RUNNING")
        harness.book.setPhase("stopped", .ended)
        for id in ["old", "stopped"] {
            let (response, result) = harness.send(try harness.request(id), for: id)
            #expect(response.status == 400)
            #expect(result.outcome == .notFound, "\(id)")
            #expect(result.vendorCode == "InvalidParameter.TaskId")
            #expect(result.taskGone)
        }
        #expect(try harness.poll("young").outcome == .success)
    }

    @Test func unknownStatusKeepsTheRawValue() throws {
        let observation = try #require(Self.interpret(#"{"RequestId":"r","TaskInfo":{"TaskId":"t","Status":"WARMING_UP"}}"#).observation)
        #expect(observation.status == .unknown)
        #expect(observation.vendorStatus == "WARMING_UP")
    }

    @Test func missingOptionalFieldsAndEmptyListsAreFine() throws {
        for body in [
            #"{"RequestId":"r","TaskInfo":{"Status":"STOPPED"}}"#,
            #"{"RequestId":"r","TaskInfo":{"TaskId":"t","Status":"STOPPED","RecordFileList":{}}}"#,
            #"{"TaskInfo":{"TaskId":"t","Status":"STOPPED","RecordFileList":{"Mp3FileList":[],"Mp4FileList":[],"HlsFileList":[],"VodMediaList":[]}}}"#,
            #"{"RequestId":"r","TaskInfo":{"Status":"STOPPED","RecordFileList":{"Mp4FileList":null,"VodMediaList":[{"Stream":"Mix"}]}}}"#,
        ] {
            let result = Self.interpret(body)
            #expect(result.outcome == .success, "\(body)")
            #expect(result.observation?.status == .completed)
            #expect(result.observation?.files.isEmpty == true)
        }
    }

    @Test func taskInfoWithoutStatusIsADecodeError() {
        #expect(Self.interpret(#"{"RequestId":"r","TaskInfo":{"TaskId":"t"}}"#).outcome == .decodeError)
        #expect(Self.interpret(#"{"RequestId":"r"}"#).outcome == .decodeError)
    }

    @Test func documentedErrorsAreClassified() {
        let notFound = Self.interpret(#"{"RequestId":"r","HostId":"live.aliyuncs.com","Code":"NotFound.Task","Message":"x, please check the TaskId."}"#, status: 400)
        #expect(notFound.outcome == .notFound)
        #expect(notFound.vendorCode == "NotFound.Task")
        #expect(notFound.message == "HTTP 400: x, please check the TaskId. (RequestId r)")
        let wrongState = Self.interpret(#"{"RequestId":"r","Code":"InvalidParameter.TaskId","Message":"m"}"#, status: 400)
        // Issue 13: a task that can no longer be queried ends (or, never seen, goes after the retention).
        #expect(wrongState.outcome == .notFound)
        #expect(wrongState.taskGone)
        let echo = Self.interpret(#"{"RequestId":"r","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DLTAI"}"#, status: 400)
        #expect(echo.outcome == .authError)
        #expect(echo.message?.contains("AccessKeyId") == false)
    }

    /// Every lifecycle phase, through the simulator and back, for both signature versions.
    @Test(arguments: AlibabaSignatureVersion.allCases)
    func lifecycleRoundTrip(signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(.alibabaLive, signature: signature)
        harness.book.start(id: "rec-1", phase: .starting)
        let expectations: [(SimPhase, Set<String>, String, TaskStatus)] = [
            (.starting, [], "RUNNING", .running),
            (.recording, [], "RUNNING", .running),
            (.recording, ["recovering"], "RECOVERING", .running),
            (.paused, [], "RUNNING", .running),
            (.stopping, [], "STOPPING", .stopping),
            (.ended, [], "STOPPED", .completed),
            (.exitedAbnormally, [], "STOPPED", .completed),
        ]
        for (phase, flags, vendorStatus, status) in expectations {
            harness.book.setPhase("rec-1", phase)
            harness.book.update("rec-1") { $0.flags = flags }
            let result = try harness.poll("rec-1")
            #expect(result.outcome == .success, "\(phase)")
            #expect(result.observation?.vendorStatus == vendorStatus, "\(phase)")
            #expect(result.observation?.status == status, "\(phase)")
        }
    }

    @Test func filesRoundTripByFormat() throws {
        let harness = AlibabaHarness(.alibabaLive)
        harness.book.start(id: "rec-1")
        #expect(try harness.poll("rec-1").observation?.files.isEmpty == true)
        harness.book.addFile("rec-1", name: "mix_1.mp4", format: .mp4)
        harness.book.addFile("rec-1", name: "mix_1.m3u8", format: .hls)
        harness.book.addFile("rec-1", name: "mix_2.mp4", format: .mp4)
        harness.book.addFile("rec-1", name: "mix_1.mp3", format: .mp3)
        let files = try #require(try harness.poll("rec-1").observation?.files)
        #expect(files.map(\.name) == ["rec-1/mix_1.mp4", "rec-1/mix_2.mp4", "rec-1/mix_1.m3u8", "rec-1/mix_1.mp3"])
        #expect(files.map(\.format) == [.mp4, .mp4, .hls, .mp3])
    }

    @Test func vodMediaRoundTripCountsRecordedMediaOnly() throws {
        let harness = AlibabaHarness(.alibabaLive)
        harness.book.start(id: "vod-1", fields: ["storage": "vod"])
        harness.book.addFile("vod-1", name: "media-a", format: .mp4)
        harness.book.addFile("vod-1", name: "media-b", format: .mp4)
        harness.book.setPhase("vod-1", .ended)
        let response = harness.send(try harness.request("vod-1"), for: "vod-1")
        let body = try JSONValue.parse(response.response.body)
        #expect(body["TaskInfo"]?["RecordFileList"]?["VodMediaList"]?.arrayValue?.first?["MergedIds"]?.arrayValue?.count == 1)
        let files = try #require(response.result.observation?.files)
        #expect(files.map(\.name) == ["Mix/media-a", "Mix/media-b"])
        #expect(files.allSatisfy { $0.format == .other })
    }

    @Test(arguments: AlibabaSignatureVersion.allCases)
    func unknownTaskIsNotFound(signature: AlibabaSignatureVersion) throws {
        let harness = AlibabaHarness(.alibabaLive, signature: signature)
        let (response, result) = harness.send(try harness.request("nope"), for: "nope")
        #expect(response.status == 400)
        #expect(result.outcome == .notFound)
        #expect(result.vendorCode == "NotFound.Task")
        #expect(harness.simulator.stats.count(.notFound) == 1)
    }

    @Test func hiddenTaskIsNotFoundUntilItReappears() throws {
        let harness = AlibabaHarness(.alibabaLive)
        harness.book.start(id: "t1")
        harness.book.update("t1") { $0.hiddenUntil = harness.book.clock.now() + 3600 }
        #expect(try harness.poll("t1").outcome == .notFound)
        harness.book.update("t1") { $0.hiddenUntil = nil }
        #expect(try harness.poll("t1").outcome == .success)
    }

    @Test func endedTaskStaysQueryable() throws {
        let harness = AlibabaHarness(.alibabaLive)
        harness.book.start(id: "t1")
        harness.book.setPhase("t1", .ended)
        harness.book.clock.shift(by: 600)
        #expect(try harness.poll("t1").observation?.vendorStatus == "STOPPED")
    }
}
