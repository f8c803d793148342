import CloudRecConfig
import CloudRecCore
import CloudRecMetrics
@testable import CloudRecPolling
import CloudRecVendors
import Foundation
import Testing

private func exposition(_ store: TaskSeriesStore) -> String {
    // What a scrape writes of the task families.
    String(decoding: MetricsExposition(store: store, families: []).render(.prometheusText), as: UTF8.self)
}

private func uploadLine(_ state: UploadState, _ value: Int, vendor: Vendor = .tencentTRTC, account: String = "acct",
                        task: String = "t1") -> String {
    #"cloudrec_task_upload_files{vendor="\#(vendor.rawValue)",account="\#(account)",task_id="\#(task)",upload_state="\#(state.rawValue)"} \#(value)"#
}

private func statusLine(_ status: TaskStatus, vendor: Vendor = .tencentTRTC, account: String = "acct", task: String = "t1") -> String {
    #"cloudrec_task_status{vendor="\#(vendor.rawValue)",account="\#(account)",task_id="\#(task)",status="\#(status.rawValue)"} 1"#
}

private func running(files: [RecordingFile] = [], reports: Bool = false, status: TaskStatus = .running,
                     vendorStatus: String = "InProgress") -> PollResult {
    .success(TaskObservation(vendorStatus: vendorStatus, status: status, files: files, reportsUploadStates: reports))
}

private let spec = TaskSpec(account: "acct", id: "t1")

@Suite("Callback evidence in the tracker")
struct CallbackTrackingTests {
    let store = TaskSeriesStore()
    let tracker: TaskTracker

    init() { tracker = TaskTracker(store: store) }

    @Test func uploadFailureByCallbackFillsUploadFiles() throws {
        try tracker.track(spec, vendor: .tencentTRTC, source: .api)
        tracker.record(spec.key, result: running(files: [RecordingFile(name: "index.m3u8", format: .hls)]), now: 10, notFoundGrace: 0)
        #expect(!exposition(store).contains("cloudrec_task_upload_files"))
        let failed = CallbackEvent(taskID: "t1", kind: .uploadFailed,
                                   files: [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .failed)])
        let task = try #require(tracker.recordCallback(spec.key, events: [failed], name: "311", now: 20))
        #expect(task.status == .running)
        let out = exposition(store)
        #expect(out.contains(uploadLine(.failed, 1)))
        #expect(out.contains(uploadLine(.uploaded, 0)))
        // Later polls keep the callback's states.
        tracker.record(spec.key, result: running(files: [RecordingFile(name: "index.m3u8", format: .hls)]), now: 30, notFoundGrace: 0)
        #expect(exposition(store).contains(uploadLine(.failed, 1)))
        // A newer state for the same file replaces the old one.
        let uploaded = CallbackEvent(taskID: "t1", kind: .uploadSucceeded,
                                     files: [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .uploaded)])
        tracker.recordCallback(spec.key, events: [uploaded], name: "311", now: 40)
        #expect(exposition(store).contains(uploadLine(.failed, 0)))
        #expect(exposition(store).contains(uploadLine(.uploaded, 1)))
    }

    @Test func taskLevelOutcomeAppliesToPolledFilesOrCountsTheTask() throws {
        try tracker.track(spec, vendor: .agora, source: .api)
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .uploadedToBackup)], name: "32", now: 1)
        #expect(exposition(store).contains(uploadLine(.backupUploaded, 1, vendor: .agora)))
        let files = [RecordingFile(name: "a.m3u8", format: .hls), RecordingFile(name: "a.mp4", format: .mp4)]
        tracker.record(spec.key, result: running(files: files, vendorStatus: "5"), now: 2, notFoundGrace: 90)
        #expect(exposition(store).contains(uploadLine(.backupUploaded, 2, vendor: .agora)))
    }

    @Test func abnormalExitFailsATaskThePollerCompleted() throws {
        try tracker.track(spec, vendor: .tencentTRTC, source: .api)
        tracker.record(spec.key, result: running(), now: 10, notFoundGrace: 0)
        let gone = PollResult.failure(.notFound, code: "FailedOperation.TaskNotExist", message: nil)
        let completed = try #require(tracker.record(spec.key, result: gone, now: 20, notFoundGrace: 0))
        #expect(completed.status == .completed)
        #expect(completed.endedAt == 20)
        let exit = CallbackEvent(taskID: "t1", kind: .exitedAbnormally, reason: "LeaveCode=100")
        let failed = try #require(tracker.recordCallback(spec.key, events: [exit], name: "302", now: 25))
        #expect(failed.status == .failed)
        #expect(failed.vendorStatus == "callback:302")
        #expect(failed.endedAt == 20)
        #expect(failed.callback?.exit == CallbackEvidence.Exit(abnormal: true, event: "302", reason: "LeaveCode=100"))
        #expect(exposition(store).contains(statusLine(.failed)))
        // Nothing undoes it: not a later normal exit, not a poll.
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedNormally)], name: "302", now: 26)
        let polled = try #require(tracker.record(spec.key, result: running(), now: 30, notFoundGrace: 0))
        #expect(polled.status == .failed)
    }

    @Test func abnormalExitBeforeThePollerSawTheEnd() throws {
        try tracker.track(spec, vendor: .tencentTRTC, source: .api)
        tracker.record(spec.key, result: running(), now: 10, notFoundGrace: 0)
        let task = try #require(tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedAbnormally)],
                                                       name: "302", now: 11))
        #expect(task.status == .failed)
        #expect(task.endedAt == 11)
        #expect(!task.needsPolling)
    }

    @Test func normalExitCompletesButTheVendorsOwnFailureWins() throws {
        let zego = TaskSpec(account: "acct", id: "z1")
        try tracker.track(zego, vendor: .zego, source: .api)
        tracker.record(zego.key, result: running(reports: true, vendorStatus: "2"), now: 1, notFoundGrace: 0)
        let done = try #require(tracker.recordCallback(zego.key, events: [CallbackEvent(taskID: "z1", kind: .exitedNormally)],
                                                       name: "5", now: 2))
        #expect(done.status == .completed)
        #expect(done.endedAt == 2)
        let vendorFailed = try #require(tracker.record(zego.key, result: running(reports: true, status: .failed, vendorStatus: "4"),
                                                       now: 3, notFoundGrace: 0))
        #expect(vendorFailed.status == .failed)
        #expect(vendorFailed.vendorStatus == "4")
    }

    @Test func vendorsOwnFileStatesWin() throws {
        let zego = TaskSpec(account: "acct", id: "z1")
        try tracker.track(zego, vendor: .zego, source: .api)
        let callback = CallbackEvent(taskID: "z1", kind: .uploadFailed,
                                     files: [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .failed)])
        tracker.recordCallback(zego.key, events: [callback], name: "1", now: 1)
        // Before ZEGO polling reports files, the callback's states are shown.
        #expect(exposition(store).contains(uploadLine(.failed, 1, vendor: .zego, task: "z1")))
        let polled = [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .backupUploaded)]
        tracker.record(zego.key, result: running(files: polled, reports: true, status: .completed, vendorStatus: "3"), now: 2,
                       notFoundGrace: 0)
        let out = exposition(store)
        #expect(out.contains(uploadLine(.backupUploaded, 1, vendor: .zego, task: "z1")))
        #expect(out.contains(uploadLine(.failed, 0, vendor: .zego, task: "z1")))
    }

    @Test func startEventShowsRunningUntilPolled() throws {
        try tracker.track(spec, vendor: .tencentTRTC, source: .callback)
        let task = try #require(tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .started)],
                                                       name: "301", now: 1))
        #expect(task.status == .running)
        #expect(task.vendorStatus == "callback:301")
        let polled = try #require(tracker.record(spec.key, result: running(status: .running, vendorStatus: "Idle"), now: 2,
                                                 notFoundGrace: 0))
        #expect(polled.vendorStatus == "Idle")
    }

    @Test func untrackedTaskIsNotCreatedByEvents() {
        #expect(tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .uploadFailed)], name: "312", now: 1) == nil)
        #expect(tracker.count == 0)
    }

    @Test func agoraTaskWithoutResourceIDIsFollowedByCallbacksOnly() throws {
        try tracker.track(TaskSpec(account: "acct", id: "sid"), vendor: .agora, source: .callback)
        #expect(try #require(tracker.task(TaskKey(account: "acct", taskID: "sid"))).needsPolling == false)
        try tracker.track(TaskSpec(account: "acct", id: "sid", fields: ["resource_id": "r", "mode": "mix"]), vendor: .agora, source: .api)
        #expect(try #require(tracker.task(TaskKey(account: "acct", taskID: "sid"))).needsPolling)
    }

    @Test func evidenceSurvivesTheDurableStoreEncoding() throws {
        try tracker.track(spec, vendor: .tencentTRTC, source: .callback)
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedAbnormally, reason: "LeaveCode=101")],
                               name: "302", now: 5)
        let task = try #require(tracker.task(spec.key))
        let decoded = try JSONDecoder().decode(TrackedTask.self, from: JSONEncoder().encode(task))
        #expect(decoded.callback == task.callback)
        #expect(decoded.status == .failed)
        // Rows written before callbacks existed still load.
        var json = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(task)) as? [String: Any])
        json.removeValue(forKey: "callback")
        let old = try JSONDecoder().decode(TrackedTask.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(old.callback == nil)
    }
}

@Suite("Callback replay guard")
struct CallbackReplayGuardTests {
    private func callback(_ keys: [String], at time: Double? = 1000) -> DecodedCallback {
        DecodedCallback(event: "301", signedTime: time, replayKeys: keys, events: [])
    }

    @Test func duplicatesAndStaleTimestampsAreRefused() {
        let guardian = CallbackReplayGuard(window: 600)
        #expect(guardian.admit(callback(["a"]), now: 1000) == .fresh)
        #expect(guardian.admit(callback(["a"]), now: 1001) == .duplicate)
        // Any shared identity is enough (Agora's noticeId under a new body digest).
        #expect(guardian.admit(callback(["b", "a"]), now: 1001) == .duplicate)
        #expect(guardian.admit(callback(["c"], at: 300), now: 1000) == .outsideWindow(skewSeconds: 700))
        #expect(guardian.admit(callback(["d"], at: 1700), now: 1000) == .outsideWindow(skewSeconds: -700))
        #expect(guardian.admit(callback(["e"], at: nil), now: 1000) == .timeUnknown)
        #expect(guardian.admit(callback(["f"], at: .nan), now: 1000) == .timeUnknown)
        #expect(guardian.admit(callback(["g"], at: .infinity), now: 1000) == .timeUnknown)
    }

    @Test func identitiesOutliveTheWindow() {
        let guardian = CallbackReplayGuard(window: 600)
        #expect(guardian.admit(callback(["a"], at: 1000), now: 1000) == .fresh)
        // Still remembered while its timestamp would pass the window.
        #expect(guardian.admit(callback(["a"], at: 1000), now: 1599) == .duplicate)
        // Afterwards the window refuses it, and the set may forget it.
        #expect(guardian.admit(callback(["a"], at: 1000), now: 1601) == .outsideWindow(skewSeconds: 601))
        #expect(guardian.admit(callback(["x"], at: 2300), now: 2300) == .fresh)
        #expect(guardian.count == 1)
    }

    @Test func boundedCapacityForgetsTheOldestFirst() {
        let guardian = CallbackReplayGuard(window: 600, capacity: 3)
        for key in ["a", "b", "c", "d"] { #expect(guardian.admit(callback([key]), now: 1000) == .fresh) }
        #expect(guardian.count == 3)
        #expect(guardian.admit(callback(["a"]), now: 1000) == .fresh)
        #expect(guardian.admit(callback(["d"]), now: 1000) == .duplicate)
    }

    @Test func forgetLetsTheRetryThrough() {
        let guardian = CallbackReplayGuard()
        #expect(guardian.admit(callback(["a"]), now: 1000) == .fresh)
        guardian.forget(callback(["a"]))
        #expect(guardian.admit(callback(["a"]), now: 1000) == .fresh)
    }
}

@Suite("Callback secret in the configuration")
struct CallbackConfigTests {
    private func load(_ yaml: String, files: [String: String] = [:]) throws -> ExporterConfig {
        try ConfigLoader(environment: ["CB": "from-env"], readFile: { path in
            guard let text = files[path] else { throw CocoaError(.fileReadNoSuchFile) }
            return text
        }).parse(yaml: yaml, file: "c.yaml")
    }

    @Test func optionalInlineFileOrEnvironment() throws {
        let config = try load("""
            accounts:
              - name: t
                vendor: tencent_trtc
                region: ap-guangzhou
                sdk_app_id: 1400000001
                credentials: { secret_id: a, secret_key: b, callback_secret: "${CB}" }
              - name: z
                vendor: zego
                app_id: 1
                credentials: { server_secret: s, callback_secret_file: /run/cb }
              - name: g
                vendor: agora
                app_id: x
                credentials: { customer_id: a, customer_secret: b }
            """, files: ["/run/cb": "zego-cb\n"])
        #expect(config.account(named: "t")?.credential("callback_secret").reveal() == "from-env")
        #expect(config.account(named: "z")?.credential("callback_secret").reveal() == "zego-cb")
        #expect(config.account(named: "g")?.credentials["callback_secret"] == nil)
    }

    @Test func imsHasNoCallbackSecret() throws {
        #expect(VendorCatalog.schema(for: .alibabaIMS).optionalCredentialFields.isEmpty)
        #expect(VendorCatalog.schema(for: .alibabaLive).optionalCredentialFields == ["callback_secret"])
        do {
            _ = try load("""
                accounts:
                  - name: i
                    vendor: alibaba_ims
                    region: cn-shanghai
                    credentials: { access_key_id: a, access_key_secret: b, callback_secret: c }
                """)
            Issue.record("expected callback_secret to be refused for alibaba_ims")
        } catch {
            #expect("\(error)".contains("callback_secret: unknown key"))
        }
    }
}
