import CloudRecConfig
import CloudRecCore
import CloudRecPolling
import CloudRecSimulators
import Foundation
import NIOHTTP1
import Testing

/// `POST /callbacks/{account}` end to end: simulators sign callbacks exactly as the vendors do, the real exporter
/// verifies them, and the effects show in /metrics.
@Suite("Recording callbacks", .serialized)
struct CallbackTests {
    static let secret = "tencentCallbackKey0123456789"
    static let tencent = "tencent-cb"
    static let zego = "zego-nocb"

    /// A Tencent account with a callback secret and a ZEGO account without one.
    static func run(tasks: [String] = [], _ body: (Harness, TencentTRTCSimulator) async throws -> Void) async throws {
        let clock = SimClock()
        let accounts = [TencentTRTCSimulator.demoAccount(clock: clock, name: tencent), ZegoSimulator.demoAccount(clock: clock, name: zego)]
        try await Harness.run(accounts: accounts, configure: { config in
            config.accounts[0].credentials["callback_secret"] = Secret(secret)
            config.tasks = tasks.map { TaskSpec(account: tencent, id: $0) }
        }) { harness in
            try await body(harness, accounts[0].simulator as! TencentTRTCSimulator)
        }
    }

    static func counter(_ metrics: Metrics, account: String = tencent, vendor: String = "tencent_trtc", event: String? = nil,
                        result: String) -> Double {
        var labels = ["vendor": vendor, "account": account, "result": result]
        if let event { labels["event"] = event }
        return metrics.value("cloudrec_callbacks_total", labels) ?? 0
    }

    @Test func uploadFailureDeliveredOnlyByCallbackShowsInUploadFiles() async throws {
        try await Self.run(tasks: ["t-upload"]) { harness, tencent in
            tencent.book.start(id: "t-upload")
            tencent.book.addFile("t-upload", name: "t-upload.mp4", format: .mp4, uploadState: .recording)
            try await eventually("task polled as running") {
                try await harness.metrics().status(account: Self.tencent, task: "t-upload") == "running"
            }
            // TRTC's status API has no upload state.
            #expect(!(try await harness.metrics().has("cloudrec_task_upload_files", ["task_id": "t-upload"])))
            tencent.book.setUploadState("t-upload", .failed)
            for request in tencent.callbackRequests(.uploads, taskID: "t-upload", secret: Self.secret) {
                let response = try await harness.deliver(request, to: Self.tencent)
                #expect(response.status == 200)
                #expect(String(decoding: response.body, as: UTF8.self) == "{\"code\":0}\n")
            }
            let metrics = try await harness.metrics()
            #expect(metrics.value("cloudrec_task_upload_files", ["task_id": "t-upload", "upload_state": "failed"]) == 1)
            #expect(metrics.value("cloudrec_task_upload_files", ["task_id": "t-upload", "upload_state": "uploaded"]) == 0)
            #expect(Self.counter(metrics, event: "311", result: "accepted") == 1)
            #expect(Self.counter(metrics, event: "312", result: "accepted") == 1)
            // Polling goes on and does not erase it.
            let lastSuccess = ["task_id": "t-upload"]
            let before = metrics.value("cloudrec_task_last_success_timestamp_seconds", lastSuccess) ?? 0
            try await eventually("another successful poll") {
                try await harness.metrics().value("cloudrec_task_last_success_timestamp_seconds", lastSuccess) ?? 0 > before
            }
            #expect(try await harness.metrics().value("cloudrec_task_upload_files",
                                                       ["task_id": "t-upload", "upload_state": "failed"]) == 1)
        }
    }

    @Test func abnormalExitByCallbackFailsTheTaskThePollerCompleted() async throws {
        try await Self.run(tasks: ["t-exit"]) { harness, tencent in
            tencent.book.start(id: "t-exit")
            try await eventually("task polled as running") {
                try await harness.metrics().status(account: Self.tencent, task: "t-exit") == "running"
            }
            tencent.book.setPhase("t-exit", .exitedAbnormally)
            // TRTC forgets ended tasks: the poller can only call it completed.
            try await eventually("task completed by polling") {
                try await harness.metrics().status(account: Self.tencent, task: "t-exit") == "completed"
            }
            let exit = try #require(tencent.callbackRequests(.exited, taskID: "t-exit", secret: Self.secret).first)
            #expect(try await harness.deliver(exit, to: Self.tencent).status == 200)
            let metrics = try await harness.metrics()
            #expect(metrics.status(account: Self.tencent, task: "t-exit") == "failed")
            #expect(metrics.has("cloudrec_task_info", ["task_id": "t-exit", "vendor_status": "callback:302"]))
            #expect(Self.counter(metrics, event: "302", result: "accepted") == 1)
        }
    }

    @Test func startEventStartsTracking() async throws {
        try await Self.run { harness, tencent in
            tencent.book.start(id: "t-new")
            #expect(harness.exporter.tracker.task(TaskKey(account: Self.tencent, taskID: "t-new")) == nil)
            let start = try #require(tencent.callbackRequests(.started, taskID: "t-new", secret: Self.secret).first)
            #expect(try await harness.deliver(start, to: Self.tencent).status == 200)
            let task = try #require(harness.exporter.tracker.task(TaskKey(account: Self.tencent, taskID: "t-new")))
            #expect(task.sources == [.callback])
            // Polled right away: the vendor's own status replaces the callback's.
            try await eventually("task polled") {
                try await harness.metrics().has("cloudrec_task_info", ["task_id": "t-new", "vendor_status": "InProgress"])
            }
            #expect(try await harness.metrics().status(account: Self.tencent, task: "t-new") == "running")
        }
    }

    @Test func forgedSignatureIsRejected() async throws {
        try await Self.run(tasks: ["t-forged"]) { harness, tencent in
            tencent.book.start(id: "t-forged")
            tencent.book.setPhase("t-forged", .exitedAbnormally)
            var forged = try #require(tencent.callbackRequests(.exited, taskID: "t-forged", secret: "guessed-key").first)
            var response = try await harness.deliver(forged, to: Self.tencent)
            #expect(response.status == 401)
            #expect(String(decoding: response.body, as: UTF8.self).contains("signature"))
            // A real signature over another body does not carry over either.
            let genuine = try #require(tencent.callbackRequests(.started, taskID: "t-forged", secret: Self.secret).first)
            forged.headers["Sign"] = genuine.headers["Sign"]
            response = try await harness.deliver(forged, to: Self.tencent)
            #expect(response.status == 401)
            forged.headers.removeValue(forKey: "Sign")
            #expect(try await harness.deliver(forged, to: Self.tencent).status == 401)
            let metrics = try await harness.metrics()
            #expect(Self.counter(metrics, event: "", result: "rejected_signature") == 3)
            #expect(metrics.status(account: Self.tencent, task: "t-forged") != "failed")
        }
    }

    @Test func replayedCallbackIsRejected() async throws {
        try await Self.run { harness, tencent in
            tencent.book.start(id: "t-replay")
            let start = try #require(tencent.callbackRequests(.started, taskID: "t-replay", secret: Self.secret).first)
            #expect(try await harness.deliver(start, to: Self.tencent).status == 200)
            let again = try await harness.deliver(start, to: Self.tencent)
            #expect(again.status == 401)
            #expect(String(decoding: again.body, as: UTF8.self).contains("already accepted"))
            // A correctly signed callback from an hour ago is outside the window.
            tencent.book.clock.shift(by: -3600)
            let stale = try #require(tencent.callbackRequests(.started, taskID: "t-replay", secret: Self.secret).first)
            tencent.book.clock.shift(by: 3600)
            let old = try await harness.deliver(stale, to: Self.tencent)
            #expect(old.status == 401)
            #expect(String(decoding: old.body, as: UTF8.self).contains("window"))
            let metrics = try await harness.metrics()
            #expect(Self.counter(metrics, event: "301", result: "rejected_replay") == 2)
            #expect(Self.counter(metrics, event: "301", result: "accepted") == 1)
        }
    }

    @Test func malformedJSONIsRejected() async throws {
        try await Self.run { harness, tencent in
            // Correctly signed, so it gets past the signature check to the JSON parser.
            let request = tencent.signedCallback(body: Array(#"{"EventGroupId":3,"EventType":301,"EventInfo":"#.utf8), secret: Self.secret)
            let response = try await harness.deliver(request, to: Self.tencent)
            #expect(response.status == 400)
            #expect(String(decoding: response.body, as: UTF8.self).contains("not valid JSON"))
            let oversized = SimCallbackRequest(headers: [:], body: Array(repeating: 0x20, count: CallbackReply.maxBodyBytes + 1))
            #expect(try await harness.deliver(oversized, to: Self.tencent).status == 413)
            #expect(Self.counter(try await harness.metrics(), event: "", result: "malformed") == 2)
        }
    }

    @Test func unknownAccountAndUnconfiguredCallbacks() async throws {
        try await Self.run { harness, tencent in
            tencent.book.start(id: "t-x")
            let start = try #require(tencent.callbackRequests(.started, taskID: "t-x", secret: Self.secret).first)
            let unknown = try await harness.deliver(start, to: "no-such-account")
            #expect(unknown.status == 404)
            #expect(String(decoding: unknown.body, as: UTF8.self).contains("no account named"))
            let unconfigured = try await harness.deliver(start, to: Self.zego)
            #expect(unconfigured.status == 404)
            #expect(String(decoding: unconfigured.body, as: UTF8.self).contains("callback_secret"))
            let metrics = try await harness.metrics()
            // The unknown name is not used as a label value.
            #expect(Self.counter(metrics, account: "", vendor: "", event: "", result: "unknown_account") == 1)
            #expect(!metrics.text.contains("no-such-account"))
            #expect(Self.counter(metrics, account: Self.zego, vendor: "zego", event: "", result: "not_configured") == 1)
            #expect(harness.exporter.tracker.task(TaskKey(account: Self.tencent, taskID: "t-x")) == nil)
        }
    }
}

extension Harness {
    /// POSTs a simulated vendor callback to the exporter's `/callbacks/{account}`.
    func deliver(_ callback: SimCallbackRequest, to account: String) async throws
        -> (status: Int, headers: [String: String], body: [UInt8]) {
        try await Harness.request("http://127.0.0.1:\(port)/callbacks/\(account)", method: .POST, headers: callback.headerList,
                                  body: callback.body)
    }
}
