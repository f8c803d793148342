import CloudRecCore
import CloudRecSimulators
import CloudRecVendors
import Foundation
import Testing

private let secret = "zego-callback-secret"

private func body(_ eventType: Int, detail: String = "{}", task: String = "X3CgNeE4I1qAAABN", nonce: String = "350176",
                  timestamp: String = "1700000000", secret: String = secret, signature: String? = nil) -> [UInt8] {
    let signature = signature ?? ZegoCallback.signature(secret: secret, timestamp: timestamp, nonce: nonce)
    return Array("""
    {"app_id":1234567890,"task_id":"\(task)","room_id":"room1","event_type":\(eventType),"message":"","nonce":"\(nonce)",\
    "timestamp":"\(timestamp)","signature":"\(signature)","sequence":7,"detail":\(detail)}
    """.utf8)
}

private func open(_ bytes: [UInt8]) throws -> DecodedCallback {
    try ZegoCallback().open(CallbackRequest(headers: [:], body: bytes), secret: secret)
}

@Suite("ZEGO callbacks")
struct ZegoCallbackTests {
    @Test func publishedSignatureVector() throws {
        #expect(ZegoCallback.signature(secret: "secret", timestamp: "1470820198", nonce: "123412")
            == "5bd59fd62953a8059fb7eaba95720f66d19e4517")
        let decoded = try ZegoCallback().open(
            CallbackRequest(headers: [:], body: body(5, nonce: "123412", timestamp: "1470820198", secret: "secret")), secret: "secret")
        #expect(decoded.event == "5")
        #expect(decoded.signedTime == 1470820198)
        #expect(decoded.replayKeys.contains("nonce:1470820198:123412"))
        #expect(decoded.replayKeys.contains("sequence:X3CgNeE4I1qAAABN:5:7"))
    }

    @Test func sortsByBytesNotByNumber() {
        // "9" sorts after "10..." in dictionary order.
        #expect(ZegoCallback.signature(secret: "abc", timestamp: "1000", nonce: "9")
            == "a9a0dbe33d756077a86ed35292e43f8eb10a0394") // sha1("10009abc")
    }

    @Test func forgedSignatureIsRejected() {
        #expect(throws: CallbackRejection.signature("signature does not match")) { try open(body(2, secret: "guess")) }
        #expect(throws: CallbackRejection.signature("signature does not match")) {
            try open(body(2, signature: String(repeating: "a", count: 40)))
        }
        #expect(throws: CallbackRejection.signature("signature missing")) {
            try open(Array(#"{"event_type":5,"task_id":"t","nonce":"1","timestamp":"2"}"#.utf8))
        }
    }

    @Test func malformed() {
        #expect(throws: CallbackRejection.malformed("body is not valid JSON")) { try open(Array("event_type=1".utf8)) }
        #expect(throws: CallbackRejection.malformed("body is not a JSON object")) { try open(Array("\"x\"".utf8)) }
    }

    @Test func events() throws {
        let upload = try open(body(1, detail: """
            {"upload_status":2,"file_info":[\
            {"user_id":"u","file_id":"a.mp4","output_file_format":"mp4","file_size":100,"duration":2000,"status":3},\
            {"user_id":"u","file_id":"b.mp4","output_file_format":"mp4","file_size":50,"duration":1000,"status":4},\
            {"user_id":"u","file_id":"c.flv","output_file_format":"flv","status":5}]}
            """))
        #expect(upload.event == "1")
        let event = try #require(upload.events.first)
        #expect(event.kind == .uploadFailed)
        #expect(event.files == [
            RecordingFile(name: "a.mp4", format: .mp4, uploadState: .uploaded, sizeBytes: 100, durationSeconds: 2),
            RecordingFile(name: "b.mp4", format: .mp4, uploadState: .backupUploaded, sizeBytes: 50, durationSeconds: 1),
            RecordingFile(name: "c.flv", format: .flv, uploadState: .failed),
        ])
        let clean = try open(body(1, detail: #"{"upload_status":1,"file_info":[{"file_id":"a.mp4","status":3}]}"#))
        #expect(clean.events.first?.kind == .uploadSucceeded)
        let none = try open(body(1, detail: #"{"upload_status":1,"file_info":[]}"#))
        #expect(none.events == [CallbackEvent(taskID: "X3CgNeE4I1qAAABN", kind: .uploadSucceeded, reason: "upload_status=1")])
        #expect(try open(body(2, detail: #"{"quit_reason":3}"#)).events
            == [CallbackEvent(taskID: "X3CgNeE4I1qAAABN", kind: .exitedAbnormally, reason: "quit_reason=3")])
        #expect(try open(body(5)).events.first?.kind == .exitedNormally)
        for counted in [3, 4, 6, 7, 102, 201, 202] { #expect(try open(body(counted)).events.map(\.kind) == [.other]) }
        #expect(try open(body(9)).event == "other")
    }

    @Test func simulatorCallbacksVerify() throws {
        let simulator = ZegoSimulator.demoAccount(clock: SimClock()).simulator as! ZegoSimulator
        simulator.book.start(id: "z1")
        simulator.book.addFile("z1", name: "z1.mp4", format: .mp4, uploadState: .failed)
        simulator.book.setPhase("z1", .exitedAbnormally)
        #expect(simulator.callbackRequests(.started, taskID: "z1", secret: secret).isEmpty)
        let decoded = try [SimCallbackEvent.exited, .uploads].flatMap { event in
            try simulator.callbackRequests(event, taskID: "z1", secret: secret).map {
                try ZegoCallback().open(CallbackRequest(headers: $0.headers, body: $0.body), secret: secret)
            }
        }
        #expect(decoded.map(\.event) == ["2", "1"])
        #expect(decoded.last?.events.first?.files.map(\.uploadState) == [.failed])
    }
}
