import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

private let key = "NotifyAuthKey0123456789"

private func request(_ body: String, timestamp: String = "1748417138", key: String = key) -> CallbackRequest {
    CallbackRequest(headers: ["ALI-LIVE-TIMESTAMP": timestamp,
                              "ALI-LIVE-SIGNATURE": AlibabaLiveCallback.signature(timestamp: timestamp, key: key)],
                    body: Array(body.utf8))
}

private func event(_ type: String, payload: String = #""""#) -> String {
    #"{"appId":"app1","channelId":"ch1","taskId":"task-1","eventType":"\#(type)","callbackTs":1748417138000,"payload":\#(payload)}"#
}

private func open(_ body: String) throws -> DecodedCallback { try AlibabaLiveCallback().open(request(body), secret: key) }

@Suite("Alibaba Live callbacks")
struct AlibabaLiveCallbackTests {
    @Test func computedSignatureExample() {
        // No published vector: the vendor file's computed example.
        #expect(AlibabaLiveCallback.signature(timestamp: "1748417138", key: "yourkey") == "0d47b72451f18ca7b2cd4a9bbce45c1e")
    }

    @Test func forgedOrMissingSignatureIsRejected() {
        #expect(throws: CallbackRejection.signature("ALI-LIVE-SIGNATURE does not match")) {
            try AlibabaLiveCallback().open(request(event("TaskStopped"), key: "guess"), secret: key)
        }
        var shifted = request(event("TaskStopped"))
        shifted.headers["ali-live-timestamp"] = "1748417139"
        #expect(throws: CallbackRejection.signature("ALI-LIVE-SIGNATURE does not match")) {
            try AlibabaLiveCallback().open(shifted, secret: key)
        }
        #expect(throws: CallbackRejection.signature("ALI-LIVE-TIMESTAMP or ALI-LIVE-SIGNATURE header missing")) {
            try AlibabaLiveCallback().open(CallbackRequest(headers: [:], body: Array(event("TaskStopped").utf8)), secret: key)
        }
    }

    @Test func malformed() {
        #expect(throws: CallbackRejection.malformed("body is not valid JSON")) { try open("<xml/>") }
        #expect(throws: CallbackRejection.malformed("eventType missing")) { try open(#"{"taskId":"t"}"#) }
        #expect(throws: CallbackRejection.malformed("taskId missing")) { try open(#"{"eventType":"TaskStopped"}"#) }
        #expect(throws: CallbackRejection.malformed("payload is a string but not a JSON object")) {
            try open(event("RecordFileUploaded", payload: #""not json""#))
        }
    }

    @Test func lifecycleEvents() throws {
        for start in ["TaskCreated", "TaskStarting", "TaskRunning"] {
            let decoded = try open(event(start))
            #expect(decoded.event == start)
            #expect(decoded.events == [CallbackEvent(taskID: "task-1", kind: .started)])
            #expect(decoded.signedTime == 1748417138)
        }
        #expect(try open(event("TaskStopped")).events.first?.kind == .exitedNormally)
        #expect(try open(event("TaskRecovering")).events.first?.kind == .other)
        #expect(try open(event("TaskStopping")).events.first?.kind == .other)
        #expect(try open(event("TaskExploded")).event == "other")
        // PascalCase field names (the other reading) are accepted.
        #expect(try open(#"{"TaskId":"task-2","EventType":"TaskRunning"}"#).events.first?.taskID == "task-2")
    }

    @Test func recordFileUploadedBothReadings() throws {
        // Payload as a JSON string describing one file.
        let single = try open(event("RecordFileUploaded", payload: #""{\"fileName\":\"task-1/a.mp4\",\"format\":\"mp4\"}""#))
        #expect(single.events == [CallbackEvent(taskID: "task-1", kind: .uploadSucceeded,
                                                files: [RecordingFile(name: "task-1/a.mp4", format: .mp4, uploadState: .uploaded)])])
        // Payload as an object with a file list, one entry with a failure status.
        let list = try open(event("RecordFileUploaded", payload: """
            {"FileList":[{"FileName":"task-1/a.m3u8"},{"ObjectKey":"task-1/b.mp4","Status":"Failed"},"task-1/c.mp3"]}
            """))
        let files = try #require(list.events.first).files
        #expect(list.events.first?.kind == .uploadFailed)
        #expect(files.map(\.name) == ["task-1/a.m3u8", "task-1/b.mp4", "task-1/c.mp3"])
        #expect(files.map(\.uploadState) == [.uploaded, .failed, .uploaded])
        #expect(files.map(\.format) == [.hls, .mp4, .mp3])
        // No file named: the whole task.
        #expect(try open(event("RecordFileUploaded")).events == [CallbackEvent(taskID: "task-1", kind: .uploadSucceeded)])
        #expect(try open(event("RecordFileUploaded", payload: #"{"code":"UploadFailed"}"#)).events.first?.kind == .uploadFailed)
    }

    @Test func simulatorCallbacksVerify() throws {
        let simulator = AlibabaLiveSimulator.demoAccount(clock: SimClock()).simulator as! AlibabaLiveSimulator
        simulator.book.start(id: "a1")
        simulator.book.addFile("a1", name: "a1.mp4", format: .mp4, uploadState: .uploaded)
        simulator.book.setPhase("a1", .ended)
        let decoded = try [SimCallbackEvent.started, .exited, .uploads].flatMap { event in
            try simulator.callbackRequests(event, taskID: "a1", secret: key).map {
                try AlibabaLiveCallback().open(CallbackRequest(headers: $0.headers, body: $0.body), secret: key)
            }
        }
        #expect(decoded.map(\.event) == ["TaskRunning", "TaskStopped", "RecordFileUploaded"])
        #expect(decoded.last?.events.first?.files.map(\.name) == ["a1/a1.mp4"])
    }
}
