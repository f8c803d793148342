import CloudRecCore
import CloudRecMetrics
@testable import CloudRecPolling
import Testing

private let spec = TaskSpec(account: "zego-main", id: "task-1")
private let key = spec.key

private func exposition(_ store: TaskSeriesStore) -> String {
    // What a scrape writes of the task families.
    String(decoding: MetricsExposition(store: store, families: []).render(.prometheusText), as: UTF8.self)
}

private func statusLine(_ status: TaskStatus, account: String = "zego-main", vendor: Vendor = .zego, task: String = "task-1") -> String {
    #"cloudrec_task_status{vendor="\#(vendor.rawValue)",account="\#(account)",task_id="\#(task)",status="\#(status.rawValue)"} 1"#
}

private func observed(_ status: TaskStatus, vendorStatus: String = "2", files: [RecordingFile] = [],
                      reportsUploadStates: Bool = true) -> PollResult {
    .success(TaskObservation(vendorStatus: vendorStatus, status: status, files: files, reportsUploadStates: reportsUploadStates,
                             startTime: 1000))
}

private let notFound = PollResult.failure(.notFound, code: "300001000", message: "record task not exist")
/// Alibaba Live `InvalidParameter.TaskId`: the task exists but can no longer be queried.
private let gone = PollResult.failure(.notFound, code: "InvalidParameter.TaskId", message: nil, taskGone: true)

@Suite("TaskTracker")
struct TaskTrackerTests {
    let store = TaskSeriesStore()
    let tracker: TaskTracker

    init() { tracker = TaskTracker(store: store) }

    @Test func trackExportsUnknownStatus() throws {
        #expect(try tracker.track(spec, vendor: .zego, source: .config))
        #expect(try !tracker.track(spec, vendor: .zego, source: .api))
        #expect(tracker.count == 1)
        #expect(store.count == 1)
        let task = try #require(tracker.task(key))
        #expect(task.status == .unknown)
        #expect(task.sources == [.config, .api])
        #expect(!task.everSeen)
        #expect(exposition(store).contains(statusLine(.unknown)))
    }

    @Test func trackMergesNewerFields() throws {
        let agora = TaskSpec(account: "a", id: "s", fields: ["resource_id": "old", "mode": "mix"])
        try tracker.track(agora, vendor: .agora, source: .config)
        try tracker.track(TaskSpec(account: "a", id: "s", fields: ["resource_id": "new"]), vendor: .agora, source: .api)
        #expect(tracker.task(agora.key)?.spec.fields == ["resource_id": "new", "mode": "mix"])
    }

    @Test func successUpdatesStatusAndStore() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        let files = [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .recording, sizeBytes: 10, durationSeconds: 2)]
        let task = try #require(tracker.record(key, result: observed(.running, files: files), now: 2000, notFoundGrace: 0))
        #expect(task.status == .running)
        #expect(task.vendorStatus == "2")
        #expect(task.lastSuccess == 2000)
        #expect(task.lastPoll == 2000)
        #expect(task.endedAt == nil)
        let out = exposition(store)
        #expect(out.contains(statusLine(.running)))
        #expect(!out.contains(statusLine(.unknown)))
        #expect(out.contains(#"cloudrec_task_files{vendor="zego",account="zego-main",task_id="task-1",format="mp4"} 1"#))
        #expect(out.contains(#"cloudrec_task_upload_files{vendor="zego",account="zego-main",task_id="task-1",upload_state="recording"} 1"#))
        #expect(out.contains(#"cloudrec_task_last_success_timestamp_seconds{vendor="zego",account="zego-main",task_id="task-1"} 2000"#))
        #expect(out.contains(#"cloudrec_task_file_size_bytes{vendor="zego",account="zego-main",task_id="task-1"} 10"#))
    }

    @Test func recordForUntrackedTaskReturnsNil() throws {
        #expect(tracker.record(key, result: observed(.running), now: 1, notFoundGrace: 0) == nil)
        #expect(store.count == 0)
    }

    @Test func notFoundForNeverSeenTaskStaysUnknown() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        let task = try #require(tracker.record(key, result: notFound, now: 100, notFoundGrace: 0))
        #expect(task.status == .unknown)
        #expect(task.endedAt == nil)
        #expect(task.vendorStatus == "300001000")
        #expect(task.needsPolling)
        #expect(exposition(store).contains(statusLine(.unknown)))
    }

    /// Alibaba Live `InvalidParameter.TaskId`: the task exists but left its queryable life (stopped, or created over
    /// 3 days ago) before we ever saw it. It ends as unknown, is no longer polled, and goes after the retention.
    @Test func goneBeforeSeenEndsUnknownAndExpires() throws {
        try tracker.track(spec, vendor: .alibabaLive, source: .config)
        let task = try #require(tracker.record(key, result: gone, now: 100, notFoundGrace: 0))
        #expect(task.status == .unknown)
        #expect(task.vendorStatus == "InvalidParameter.TaskId")
        #expect(task.endedAt == 100)
        #expect(!task.needsPolling)
        #expect(tracker.expire(now: 999, retention: 900).isEmpty)
        #expect(tracker.expire(now: 1000, retention: 900) == [key])
        #expect(store.count == 0)
    }

    /// Seen before, then gone: finished like any task the vendor forgets (completed, code as vendor_status).
    @Test func goneAfterSeenCompletes() throws {
        try tracker.track(spec, vendor: .alibabaLive, source: .config)
        tracker.record(key, result: observed(.running, vendorStatus: "RUNNING", reportsUploadStates: false), now: 100, notFoundGrace: 0)
        let task = try #require(tracker.record(key, result: gone, now: 130, notFoundGrace: 0))
        #expect(task.status == .completed)
        #expect(task.vendorStatus == "InvalidParameter.TaskId")
        #expect(task.endedAt == 130)
        #expect(!task.needsPolling)
    }

    @Test func notFoundAfterSeenWithoutGraceCompletes() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        tracker.record(key, result: observed(.running), now: 100, notFoundGrace: 0)
        let task = try #require(tracker.record(key, result: notFound, now: 130, notFoundGrace: 0))
        #expect(task.status == .completed)
        #expect(task.endedAt == 130)
        #expect(exposition(store).contains(statusLine(.completed)))
    }

    @Test func notFoundWithinGraceIsUnknownThenCompleted() throws {
        try tracker.track(spec, vendor: .agora, source: .config)
        tracker.record(key, result: observed(.running, vendorStatus: "5", reportsUploadStates: false), now: 1000, notFoundGrace: 90)
        let agoraNotFound = PollResult.failure(.notFound, code: "404", message: nil)
        for now in [1030.0, 1060, 1089.9] {
            let task = try #require(tracker.record(key, result: agoraNotFound, now: now, notFoundGrace: 90))
            #expect(task.status == .unknown, "at \(now)")
            #expect(task.endedAt == nil)
            #expect(task.notFoundSince == 1030)
        }
        #expect(exposition(store).contains(statusLine(.unknown, vendor: .agora)))
        let task = try #require(tracker.record(key, result: agoraNotFound, now: 1090, notFoundGrace: 90))
        #expect(task.status == .completed)
        #expect(task.endedAt == 1090)
        #expect(exposition(store).contains(statusLine(.completed, vendor: .agora)))
    }

    @Test func successDuringGraceClearsNotFound() throws {
        try tracker.track(spec, vendor: .agora, source: .config)
        tracker.record(key, result: observed(.running), now: 1000, notFoundGrace: 90)
        tracker.record(key, result: .failure(.notFound, code: "404", message: nil), now: 1030, notFoundGrace: 90)
        let task = try #require(tracker.record(key, result: observed(.running), now: 1060, notFoundGrace: 90))
        #expect(task.status == .running)
        #expect(task.notFoundSince == nil)
        let later = try #require(tracker.record(key, result: .failure(.notFound, code: "404", message: nil), now: 1149, notFoundGrace: 90))
        #expect(later.status == .unknown)
    }

    @Test func otherFailuresKeepTheLastStatus() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        tracker.record(key, result: observed(.running), now: 100, notFoundGrace: 0)
        let task = try #require(tracker.record(key, result: .failure(.throttled, code: "300000003", message: nil), now: 110, notFoundGrace: 0))
        #expect(task.status == .running)
        #expect(task.lastSuccess == 100)
        #expect(task.lastPoll == 110)
        #expect(task.lastResult?.outcome == .throttled)
    }

    @Test func terminalSuccessSetsEndedAt() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        let task = try #require(tracker.record(key, result: observed(.failed, vendorStatus: "4"), now: 500, notFoundGrace: 0))
        #expect(task.status == .failed)
        #expect(task.endedAt == 500)
        // A later answer does not move the end time.
        let again = try #require(tracker.record(key, result: observed(.failed, vendorStatus: "4"), now: 530, notFoundGrace: 0))
        #expect(again.endedAt == 500)
        // A not-found after the end does not change the outcome.
        let gone = try #require(tracker.record(key, result: notFound, now: 560, notFoundGrace: 0))
        #expect(gone.status == .failed)
        #expect(gone.endedAt == 500)
    }

    @Test func needsPollingWhileEndedTaskUploads() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        #expect(try #require(tracker.task(key)).needsPolling)
        let uploading = [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .uploaded),
                         RecordingFile(name: "a.m3u8", format: .hls, uploadState: .uploading)]
        let running = try #require(tracker.record(key, result: observed(.running, files: uploading), now: 1, notFoundGrace: 0))
        #expect(running.needsPolling)
        let ended = try #require(tracker.record(key, result: observed(.completed, vendorStatus: "3", files: uploading), now: 2, notFoundGrace: 0))
        #expect(ended.endedAt == 2)
        #expect(ended.needsPolling)
        let stillRecording = [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .recording)]
        #expect(try #require(tracker.record(key, result: observed(.completed, files: stillRecording), now: 3, notFoundGrace: 0)).needsPolling)
        let done = [RecordingFile(name: "a.mp4", format: .mp4, uploadState: .uploaded),
                    RecordingFile(name: "a.m3u8", format: .hls, uploadState: .failed)]
        let uploaded = try #require(tracker.record(key, result: observed(.completed, vendorStatus: "3", files: done), now: 4, notFoundGrace: 0))
        #expect(!uploaded.needsPolling)
    }

    @Test func endedTaskWithoutUploadStatesNeedsNoPolling() throws {
        try tracker.track(spec, vendor: .agora, source: .config)
        let files = [RecordingFile(name: "a.m3u8", format: .hls)]
        let task = try #require(tracker.record(key, result: observed(.completed, vendorStatus: "8", files: files, reportsUploadStates: false),
                                               now: 1, notFoundGrace: 90))
        #expect(!task.needsPolling)
        // A vendor that reports upload states but whose files are none still in flight.
        let zego = TaskSpec(account: "zego-main", id: "task-2")
        try tracker.track(zego, vendor: .zego, source: .config)
        let uploadingButNotReported = [RecordingFile(name: "b.mp4", format: .mp4, uploadState: .uploading)]
        let notReporting = try #require(tracker.record(zego.key, result: observed(.completed, files: uploadingButNotReported,
                                                                                    reportsUploadStates: false), now: 1, notFoundGrace: 0))
        #expect(!notReporting.needsPolling)
    }

    @Test func expireRemovesOnlyAfterRetention() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        let running = TaskSpec(account: "zego-main", id: "task-running")
        try tracker.track(running, vendor: .zego, source: .config)
        tracker.record(key, result: observed(.completed, vendorStatus: "3"), now: 1000, notFoundGrace: 0)
        #expect(tracker.expire(now: 1899, retention: 900).isEmpty)
        #expect(tracker.count == 2)
        #expect(store.count == 2)
        #expect(tracker.expire(now: 1900, retention: 900) == [key])
        #expect(tracker.task(key) == nil)
        #expect(tracker.count == 1)
        #expect(store.count == 1)
        #expect(!exposition(store).contains(#"task_id="task-1""#))
        #expect(tracker.expire(now: 1_000_000, retention: 900).isEmpty)
    }

    @Test func untrackKeepsTaskUntilLastSourceIsGone() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        try tracker.track(spec, vendor: .zego, source: .discovery)
        tracker.untrack(key, source: .config)
        #expect(tracker.task(key)?.sources == [.discovery])
        #expect(store.count == 1)
        tracker.untrack(key, source: .api) // not one of its sources
        #expect(tracker.count == 1)
        tracker.untrack(key, source: .discovery)
        #expect(tracker.task(key) == nil)
        #expect(store.count == 0)
    }

    @Test func removeAccountDropsItsTasks() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        try tracker.track(TaskSpec(account: "other", id: "x"), vendor: .zego, source: .config)
        tracker.removeAccount("zego-main")
        #expect(tracker.keys(account: "zego-main").isEmpty)
        #expect(tracker.keys(account: "other") == [TaskKey(account: "other", taskID: "x")])
        #expect(store.count == 1)
    }

    @Test func statusCountsListEveryStatusPerAccount() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        try tracker.track(TaskSpec(account: "zego-main", id: "task-2"), vendor: .zego, source: .config)
        try tracker.track(TaskSpec(account: "agora-main", id: "s"), vendor: .agora, source: .config)
        tracker.record(key, result: observed(.running), now: 1, notFoundGrace: 0)
        // What a scrape reads: the counts kept with the series, at the snapshot's instant.
        let rows = TaskTracker.statusRows(store.renderSnapshot().statusCounts,
                                          accounts: [(.zego, "zego-main"), (.agora, "agora-main"), (.zego, "idle-account")])
        #expect(rows.count == 3 * TaskStatus.allCases.count)
        var expected: [([String], Double)] = []
        let table: [(String, String, [TaskStatus: Double])] = [
            ("agora", "agora-main", [.unknown: 1]), ("zego", "idle-account", [:]), ("zego", "zego-main", [.running: 1, .unknown: 1]),
        ]
        for (vendor, account, counts) in table {
            for status in TaskStatus.allCases { expected.append(([vendor, account, status.rawValue], counts[status] ?? 0)) }
        }
        #expect(rows.map(\.0) == expected.map(\.0))
        #expect(rows.map(\.1) == expected.map(\.1))
    }
}
