import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

private let publishedBody = #"{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}"#
private let secret = "ncs-secret"

private func signed(_ body: String, secret: String = secret, v1: Bool = true, v2: Bool = true) -> CallbackRequest {
    let bytes = Array(body.utf8)
    var headers: [String: String] = ["Content-Type": "application/json"]
    if v1 { headers["Agora-Signature"] = AgoraCallback.signatureV1(body: bytes, secret: secret) }
    if v2 { headers["Agora-Signature-V2"] = AgoraCallback.signatureV2(body: bytes, secret: secret) }
    return CallbackRequest(headers: headers, body: bytes)
}

private func notice(_ eventType: Int, details: String, sid: String = "sid-1", notice: String = "n-1", sequence: Int = 3) -> String {
    """
    {"noticeId":"\(notice)","productId":3,"eventType":\(eventType),"notifyMs":1700000000123,"payload":{"cname":"room","uid":"527841",\
    "sid":"\(sid)","sequence":\(sequence),"sendts":1700000000100,"serviceType":2,"details":\(details)}}
    """
}

private func open(_ body: String) throws -> DecodedCallback { try AgoraCallback().open(signed(body), secret: secret) }

@Suite("Agora callbacks")
struct AgoraCallbackTests {
    @Test func publishedSignatureVectors() throws {
        let body = Array(publishedBody.utf8)
        #expect(AgoraCallback.signatureV1(body: body, secret: "secret") == "033c62f40f687675f17f0f41f91a40c71c0f134c")
        #expect(AgoraCallback.signatureV2(body: body, secret: "secret")
            == "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99")
        // Each header alone verifies; productId 1 (RTC channel events) is counted, not applied.
        for headers in [["Agora-Signature": "033c62f40f687675f17f0f41f91a40c71c0f134c"],
                        ["agora-signature-v2": "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"]] {
            let decoded = try AgoraCallback().open(CallbackRequest(headers: headers, body: body), secret: "secret")
            #expect(decoded.event == "other")
            #expect(decoded.events.isEmpty)
            #expect(decoded.replayKeys.contains("notice:4eb720f0-8da7-11e9-a43e-53f411c2761f"))
            #expect(decoded.signedTime == 1560408533.119)
        }
    }

    @Test func forgedSignatureIsRejected() {
        let body = notice(11, details: #"{"msgName":"session_exit","leaveStatus":0}"#)
        #expect(throws: CallbackRejection.self) { try AgoraCallback().open(signed(body, secret: "guess"), secret: secret) }
        // A correct V1 does not excuse a wrong V2.
        var mixed = signed(body)
        mixed.headers["agora-signature-v2"] = String(repeating: "0", count: 64)
        #expect(throws: CallbackRejection.signature("Agora-Signature-V2 does not match the body")) {
            try AgoraCallback().open(mixed, secret: secret)
        }
        #expect(throws: CallbackRejection.signature("Agora-Signature-V2 and Agora-Signature headers missing")) {
            try AgoraCallback().open(CallbackRequest(headers: [:], body: Array(body.utf8)), secret: secret)
        }
        // V1 only (older setups) verifies.
        #expect(throws: Never.self) { try AgoraCallback().open(signed(body, v2: false), secret: secret) }
    }

    @Test func malformed() {
        #expect(throws: CallbackRejection.malformed("body is not valid JSON")) { try open("{\"eventType\":") }
        #expect(throws: CallbackRejection.malformed("eventType missing or not a number")) { try open(#"{"noticeId":"x"}"#) }
        #expect(throws: CallbackRejection.malformed("payload.sid missing")) { try open(#"{"eventType":40,"notifyMs":1700000000000,"payload":{}}"#) }
    }

    @Test func events() throws {
        let started = try open(notice(40, details: #"{"msgName":"recorder_started","status":0}"#))
        #expect(started.event == "40")
        #expect(started.events == [CallbackEvent(taskID: "sid-1", kind: .started)])
        #expect(started.replayKeys.contains("notice:n-1"))
        #expect(started.replayKeys.contains("sequence:sid-1:2:40:3"))
        #expect(started.signedTime == 1700000000.123)
        #expect(try open(notice(11, details: #"{"leaveStatus":0}"#)).events.first?.kind == .exitedNormally)
        #expect(try open(notice(11, details: #"{"leaveStatus":1}"#)).events.first?.kind == .exitedAbnormally)
        #expect(try open(notice(31, details: #"{"msgName":"uploaded","status":0}"#)).events
            == [CallbackEvent(taskID: "sid-1", kind: .uploadSucceeded)])
        #expect(try open(notice(32, details: #"{"msgName":"backuped","status":0}"#)).events.first?.kind == .uploadedToBackup)
        let listed = try open(notice(31, details: #"{"msgName":"uploaded","fileList":[{"fileName":"a.m3u8"},{"fileName":"a.mp4"}]}"#))
        #expect(listed.events.first?.files == [RecordingFile(name: "a.m3u8", format: .hls, uploadState: .uploaded),
                                               RecordingFile(name: "a.mp4", format: .mp4, uploadState: .uploaded)])
        // Uploader error 47, not fatal: upload failed. Fatal (level 5) recorder error: abnormal exit.
        #expect(try open(notice(1, details: #"{"module":1,"errorLevel":3,"errorCode":47,"stat":0,"errorMsg":"x"}"#)).events.map(\.kind)
            == [.uploadFailed])
        #expect(try open(notice(1, details: #"{"module":0,"errorLevel":5,"errorCode":3}"#)).events.map(\.kind) == [.exitedAbnormally])
        #expect(try open(notice(1, details: #"{"module":1,"errorLevel":5,"errorCode":32}"#)).events.map(\.kind)
            == [.uploadFailed, .exitedAbnormally])
        #expect(try open(notice(1, details: #"{"module":0,"errorLevel":2,"errorCode":3}"#)).events.map(\.kind) == [.other])
        for counted in [2, 3, 4, 12, 30, 33, 41, 42, 43, 44] {
            let decoded = try open(notice(counted, details: "{}"))
            #expect(decoded.event == String(counted))
            #expect(decoded.events.map(\.kind) == [.other])
        }
        #expect(try open(notice(107, details: "{}")).event == "other")
    }

    @Test func simulatorCallbacksVerify() throws {
        let simulator = AgoraSimulator.demoAccount(clock: SimClock()).simulator as! AgoraSimulator
        simulator.book.start(id: "s1")
        simulator.book.addFile("s1", name: "s1.m3u8", format: .hls, uploadState: .backupUploaded)
        simulator.book.setPhase("s1", .ended)
        let handler = AgoraCallback()
        func kinds(_ event: SimCallbackEvent) throws -> [CallbackEvent.Kind] {
            try simulator.callbackRequests(event, taskID: "s1", secret: secret).flatMap {
                try handler.open(CallbackRequest(headers: $0.headers, body: $0.body), secret: secret).events.map(\.kind)
            }
        }
        #expect(try kinds(.started) == [.started])
        #expect(try kinds(.exited) == [.exitedNormally])
        #expect(try kinds(.uploads) == [.uploadedToBackup])
        simulator.book.setUploadState("s1", .failed)
        #expect(try kinds(.uploads) == [.uploadFailed])
    }
}
