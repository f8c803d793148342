import CloudRecCore
import CloudRecMetrics
@testable import CloudRecPolling
import Foundation
import Testing

private func polled(_ status: TaskStatus, files: [RecordingFile] = [], reports: Bool = true) -> PollResult {
    .success(TaskObservation(vendorStatus: status.rawValue, status: status, files: files, reportsUploadStates: reports))
}

private let notFound = PollResult.failure(.notFound, code: "300001000", message: nil)

/// The task ids that have series in the store.
private func taskIDs(_ store: TaskSeriesStore) -> Set<String> {
    var out: [UInt8] = []
    store.renderSnapshot().write(.prometheusText, into: &out)
    var ids: Set<String> = []
    for line in String(decoding: out, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
        guard let start = line.range(of: #"task_id=""#) else { continue }
        let rest = line[start.upperBound...]
        ids.insert(String(rest[..<rest.firstIndex(of: "\"")!]))
    }
    return ids
}

@Suite("Cardinality modes: task_series, max_task_series, unseen_task_retention")
struct SeriesModeTests {
    let store = TaskSeriesStore()
    let tracker: TaskTracker

    init() { tracker = TaskTracker(store: store) }

    func track(_ ids: [String], now: Double = 0) throws {
        for id in ids {
            try tracker.track(TaskSpec(account: "acct", id: id), vendor: .zego, source: .api)
            tracker.record(TaskKey(account: "acct", taskID: id), result: polled(.running), now: now, notFoundGrace: 0)
        }
    }

    func key(_ id: String) -> TaskKey { TaskKey(account: "acct", taskID: id) }

    @Test func noneKeepsOnlyTheAggregates() throws {
        tracker.applySeriesPolicy(SeriesPolicy(mode: .none), now: 0)
        try track(["a", "b"])
        tracker.record(key("b"), result: polled(.failed), now: 1, notFoundGrace: 0)
        #expect(taskIDs(store).isEmpty)
        #expect(store.renderSnapshot().statusCounts["acct"] == [.running: 1, .failed: 1])
        #expect(tracker.counters.finished.value(["zego", "acct", "failed", "vendor_status"]) == 1)
        #expect(tracker.counters.started.value(["zego", "acct", "api"]) == 2)
    }

    @Test func attentionShowsOnlyTasksThatNeedAHuman() throws {
        tracker.applySeriesPolicy(SeriesPolicy(mode: .attention, pollIntervals: ["acct": 30]), now: 0)
        try track(["healthy", "failed", "upload", "backup", "stalled", "stuck", "silent"])
        #expect(taskIDs(store).isEmpty)
        tracker.record(key("failed"), result: polled(.failed), now: 10, notFoundGrace: 0)
        tracker.record(key("upload"), result: polled(.completed, files: [RecordingFile(name: "a", format: .mp4, uploadState: .failed)]),
                       now: 10, notFoundGrace: 0)
        tracker.record(key("backup"), result: polled(.completed, files: [RecordingFile(name: "a", format: .mp4, uploadState: .backupUploaded)]),
                       now: 10, notFoundGrace: 0)
        let flat = [RecordingFile(name: "a", format: .mp4, sizeBytes: 5)]
        tracker.record(key("stalled"), result: polled(.running, files: flat), now: 10, notFoundGrace: 0)
        tracker.record(key("stalled"), result: polled(.running, files: flat), now: 910, notFoundGrace: 0)
        tracker.record(key("stuck"), result: polled(.initializing), now: 10, notFoundGrace: 0)
        #expect(taskIDs(store) == ["failed", "upload", "backup", "stalled"])
        // Time alone: stuck in initializing for 10 minutes; not polled successfully for three 30 s intervals.
        tracker.record(key("healthy"), result: polled(.running), now: 600, notFoundGrace: 0)
        tracker.record(key("stuck"), result: .failure(.timeout, code: nil, message: nil), now: 600, notFoundGrace: 0)
        tracker.record(key("silent"), result: .failure(.timeout, code: nil, message: nil), now: 600, notFoundGrace: 0)
        tracker.reviewSeries(now: 610)
        #expect(taskIDs(store) == ["failed", "upload", "backup", "stalled", "stuck", "silent"])
        // Back to healthy: the series go again.
        tracker.record(key("silent"), result: polled(.running), now: 620, notFoundGrace: 0)
        #expect(!taskIDs(store).contains("silent"))
        #expect(store.renderSnapshot().statusCounts["acct"]?.values.reduce(0, +) == 7)
    }

    @Test func theCapLeavesTasksOutAndCountsThem() throws {
        tracker.applySeriesPolicy(SeriesPolicy(mode: .all, cap: 2), now: 0)
        try track(["a", "b", "c"])
        #expect(taskIDs(store) == ["a", "b"])
        #expect(store.renderSnapshot().cappedCounts == ["acct": 1])
        // A task that goes frees room for the one left out, at the next review.
        tracker.untrack(key("a"), source: .api)
        tracker.reviewSeries(now: 1)
        #expect(taskIDs(store) == ["b", "c"])
        #expect(store.renderSnapshot().cappedCounts.isEmpty)
    }

    @Test func switchingModesBackAndForthLeavesNoOrphanSeries() throws {
        try track(["ok", "bad"])
        tracker.record(key("bad"), result: polled(.failed), now: 1, notFoundGrace: 0)
        let steps: [(SeriesPolicy, Set<String>)] = [
            (SeriesPolicy(mode: .none), []),
            (SeriesPolicy(mode: .all), ["ok", "bad"]),
            (SeriesPolicy(mode: .attention), ["bad"]),
            (SeriesPolicy(mode: .all, cap: 1), ["ok"]), // a cap keeps the first tasks it meets; the other is counted
            (SeriesPolicy(mode: .none), []),
            (SeriesPolicy(mode: .attention), ["bad"]),
            (SeriesPolicy(mode: .all), ["ok", "bad"]),
        ]
        for (policy, expected) in steps {
            tracker.applySeriesPolicy(policy, now: 2)
            let shown = taskIDs(store)
            if policy.cap != nil {
                #expect(shown.count == 1)
                #expect(store.renderSnapshot().cappedCounts == ["acct": 1])
            } else {
                #expect(shown == expected, "\(policy.mode)")
                #expect(store.renderSnapshot().cappedCounts.isEmpty)
            }
            #expect(store.renderSnapshot().statusCounts["acct"] == [.running: 1, .failed: 1])
        }
    }

    @Test func tasksTheVendorNeverKnewAreForgottenAfterTheirRetention() throws {
        for id in ["never", "seen", "announced"] { try tracker.track(TaskSpec(account: "acct", id: id), vendor: .zego, source: .api) }
        let registered = try #require(tracker.task(key("never"))).registeredAt
        tracker.record(key("never"), result: notFound, now: registered + 10, notFoundGrace: 0)
        tracker.record(key("seen"), result: polled(.running), now: registered + 10, notFoundGrace: 0)
        tracker.record(key("announced"), result: notFound, now: registered + 10, notFoundGrace: 0)
        tracker.recordCallback(key("announced"), events: [CallbackEvent(taskID: "announced", kind: .started)], name: "1",
                               now: registered + 11)
        #expect(tracker.expire(now: registered + 3599, retention: 900, unseenRetention: 3600).isEmpty)
        #expect(tracker.expire(now: registered + 3600, retention: 900, unseenRetention: 3600) == [key("never")])
        #expect(tracker.count == 2)
        #expect(!taskIDs(store).contains("never"))
    }
}
