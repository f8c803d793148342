import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

/// The body of TRTC's published callback-signature sample (trtc.io/document/54914), real newlines and tabs.
let tencentPublishedCallbackBody = ["{\n", "\t\"EventGroupId\":\t2,\n", "\t\"EventType\":\t204,\n", "\t\"CallbackTs\":\t1664209748188,\n",
                                    "\t\"EventInfo\":\t{\n", "\t\t\"RoomId\":\t8489,\n", "\t\t\"EventTs\":\t1664209748,\n",
                                    "\t\t\"EventMsTs\":\t1664209748180,\n", "\t\t\"UserId\":\t\"user_85034614\",\n",
                                    "\t\t\"Reason\":\t0\n", "\t}\n", "}"].joined()

private let key = "callback-key-1"

private func signed(_ body: String, key: String = key) -> CallbackRequest {
    let bytes = Array(body.utf8)
    return CallbackRequest(headers: ["Sign": TencentTRTCCallback.sign(body: bytes, key: key), "SdkAppId": "1400000001"], body: bytes)
}

private func recording(_ eventType: Int, task: String = "task-1", payload: String) -> String {
    """
    {"EventGroupId":3,"EventType":\(eventType),"CallbackTs":1622191965320,"EventInfo":{"RoomId":"20015","EventTs":1622191965,\
    "EventMsTs":1622191965320,"UserId":"recorder","TaskId":"\(task)","Payload":\(payload)}}
    """
}

private func open(_ body: String) throws -> DecodedCallback {
    try TencentTRTCCallback().open(signed(body), secret: key)
}

@Suite("Tencent TRTC callbacks")
struct TencentTRTCCallbackTests {
    @Test func publishedSignatureVector() throws {
        #expect(TencentTRTCCallback.sign(body: Array(tencentPublishedCallbackBody.utf8), key: "123654")
            == "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=")
        // The vector's event (group 2, room events) verifies and is counted as `other`, applied to no task.
        let request = CallbackRequest(headers: ["sign": "kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA="],
                                      body: Array(tencentPublishedCallbackBody.utf8))
        let decoded = try TencentTRTCCallback().open(request, secret: "123654")
        #expect(decoded.event == "other")
        #expect(decoded.events.isEmpty)
        #expect(decoded.signedTime == 1664209748.188)
    }

    @Test func forgedSignatureIsRejected() {
        var request = signed(recording(302, payload: #"{"LeaveCode":0}"#))
        request.headers["sign"] = TencentTRTCCallback.sign(body: request.body, key: "wrong-key")
        #expect(throws: CallbackRejection.self) { try TencentTRTCCallback().open(request, secret: key) }
        // The body changed after signing.
        var tampered = signed(recording(302, payload: #"{"LeaveCode":0}"#))
        tampered.body = Array(recording(302, payload: #"{"LeaveCode":101}"#).utf8)
        #expect(throws: CallbackRejection.signature("Sign does not match the body")) {
            try TencentTRTCCallback().open(tampered, secret: key)
        }
        let unsigned = CallbackRequest(headers: [:], body: Array(recording(301, payload: "{}").utf8))
        #expect(throws: CallbackRejection.signature("Sign header missing")) { try TencentTRTCCallback().open(unsigned, secret: key) }
    }

    @Test func malformedBodyIsRejectedAfterTheSignature() {
        #expect(throws: CallbackRejection.malformed("body is not valid JSON")) { try open("{not json") }
        #expect(throws: CallbackRejection.malformed("body is not a JSON object")) { try open("[1,2]") }
        #expect(throws: CallbackRejection.malformed("EventType missing or not a number")) { try open(#"{"EventGroupId":3}"#) }
        // A signed body whose time cannot be checked is refused: its replay could not be.
        #expect(throws: CallbackRejection.malformed("CallbackTs missing: the callback's time cannot be checked")) {
            try open(#"{"EventGroupId":3,"EventType":301,"EventInfo":{"TaskId":"t","Payload":{}}}"#)
        }
        #expect(throws: CallbackRejection.malformed("CallbackTs out of range (Unix time from 2000 to 2100 expected)")) {
            try open(#"{"EventGroupId":3,"EventType":301,"CallbackTs":1e99,"EventInfo":{"TaskId":"t","Payload":{}}}"#)
        }
        #expect(throws: CallbackRejection.malformed("EventInfo.TaskId missing")) {
            try open(#"{"EventGroupId":3,"EventType":301,"CallbackTs":1664209748188,"EventInfo":{"Payload":{}}}"#)
        }
    }

    @Test func startAndExitEvents() throws {
        let started = try open(recording(301, payload: #"{"Status":0}"#))
        #expect(started.event == "301")
        #expect(started.events == [CallbackEvent(taskID: "task-1", kind: .started)])
        #expect(started.signedTime == 1622191965.32)
        #expect(started.replayKeys.count == 1)
        #expect(try open(recording(301, payload: #"{"Status":1}"#)).events.first?.kind == .exitedAbnormally)
        for (code, kind) in [(0, CallbackEvent.Kind.exitedNormally), (99, .exitedNormally), (1, .exitedAbnormally),
                             (4, .exitedAbnormally), (100, .exitedAbnormally), (101, .exitedAbnormally)] {
            let decoded = try open(recording(302, payload: #"{"LeaveCode":\#(code)}"#))
            #expect(decoded.events == [CallbackEvent(taskID: "task-1", kind: kind, reason: "LeaveCode=\(code)")])
        }
    }

    @Test func uploadEvents() throws {
        #expect(try open(recording(303, payload: #"{"Status":1}"#)).events.first?.kind == .uploadFailed)
        #expect(try open(recording(303, payload: #"{"Status":0}"#)).events.first?.kind == .other)
        #expect(try open(recording(305, payload: #"{"LeaveCode":0}"#)).events.first?.kind == .uploadSucceeded)
        #expect(try open(recording(305, payload: #"{"LeaveCode":1}"#)).events.first?.kind == .uploadedToBackup)
        #expect(try open(recording(305, payload: #"{"LeaveCode":2}"#)).events.first?.kind == .uploadSucceeded)
        #expect(try open(recording(312, payload: #"{"Status":1}"#)).events.first?.kind == .uploadFailed)
        #expect(try open(recording(312, payload: #"{"Status":0}"#)).events.first?.kind == .other)

        let mp4 = try open(recording(310, payload: """
            {"Status":1,"FileList":["a.mp4","b.mp4"],"FileMessage":[{"FileName":"a.mp4","UserId":"u","TrackType":"audio_video",\
            "MediaId":"main","StartTimeStamp":1,"EndTimeStamp":2}]}
            """))
        let event = try #require(mp4.events.first)
        #expect(event.kind == .uploadedToBackup)
        #expect(event.files.map(\.name) == ["a.mp4", "b.mp4"])
        #expect(event.files.allSatisfy { $0.uploadState == .backupUploaded && $0.format == .mp4 })

        let vod = try open(recording(311, payload: """
            {"Status":2,"TencentVod":{"UserId":"u","TrackType":"audio_video","MediaId":"mix","FileId":"528589","VideoUrl":"http://x/f.mp4",\
            "CacheFile":"1400_room_mix.mp4","StartTimeStamp":1,"EndTimeStamp":2},"Errmsg":"vod error"}
            """))
        #expect(vod.event == "311")
        #expect(vod.events == [CallbackEvent(taskID: "task-1", kind: .uploadFailed,
                                             files: [RecordingFile(name: "1400_room_mix.mp4", format: .mp4, uploadState: .failed)],
                                             reason: "Status=2")])
        #expect(try open(recording(311, payload: #"{"Status":0,"TencentVod":{"FileId":"5285"}}"#)).events.first?.files
            == [RecordingFile(name: "5285", format: .mp4, uploadState: .uploaded)])
    }

    @Test func labelsStayBounded() throws {
        #expect(try open(recording(399, payload: "{}")).event == "other")
        #expect(try open(recording(307, payload: "{}")).events.first?.kind == .other)
        let web = try open(#"{"EventGroupId":8,"EventType":801,"CallbackTs":1664209748188,"EventInfo":{"TaskId":"w"}}"#)
        #expect(web.event == "801")
        #expect(web.events.isEmpty)
    }

    @Test func simulatorCallbacksVerify() throws {
        let simulator = TencentTRTCSimulator.demoAccount(clock: SimClock()).simulator as! TencentTRTCSimulator
        simulator.book.start(id: "t1")
        simulator.book.addFile("t1", name: "t1.mp4", format: .mp4, uploadState: .failed)
        simulator.book.addFile("t1", name: "t2.mp4", format: .mp4, uploadState: .uploaded)
        simulator.book.setPhase("t1", .exitedAbnormally)
        let handler = TencentTRTCCallback()
        let started = try #require(simulator.callbackRequests(.started, taskID: "t1", secret: key).first)
        #expect(try handler.open(CallbackRequest(headers: started.headers, body: started.body), secret: key).events.first?.kind == .started)
        let exited = try #require(simulator.callbackRequests(.exited, taskID: "t1", secret: key).first)
        #expect(try handler.open(CallbackRequest(headers: exited.headers, body: exited.body), secret: key).events.first?.kind
            == .exitedAbnormally)
        let uploads = simulator.callbackRequests(.uploads, taskID: "t1", secret: key)
        let kinds = try uploads.map { try handler.open(CallbackRequest(headers: $0.headers, body: $0.body), secret: key).events.first?.kind }
        #expect(kinds == [.uploadFailed, .uploadSucceeded, .uploadFailed])
        #expect(throws: CallbackRejection.self) {
            try handler.open(CallbackRequest(headers: started.headers, body: started.body), secret: "other-key")
        }
    }
}
