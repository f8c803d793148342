import CloudRecCore
import CloudRecMetrics
@testable import CloudRecPolling
import CloudRecStorage
import Foundation
import Testing

private let spec = TaskSpec(account: "acct", id: "t1")

private func running(bytes: Int64?, seconds: Double? = nil, files: Int = 1, status: TaskStatus = .running) -> PollResult {
    let list = (0..<files).map { RecordingFile(name: "f\($0).mp4", format: .mp4, sizeBytes: $0 == 0 ? bytes : nil,
                                               durationSeconds: $0 == 0 ? seconds : nil) }
    return .success(TaskObservation(vendorStatus: status.rawValue, status: status, files: list))
}

private func exposition(_ store: TaskSeriesStore) -> String {
    // What a scrape writes of the task families.
    String(decoding: MetricsExposition(store: store, families: []).render(.prometheusText), as: UTF8.self)
}

private func stalledLine(_ value: Int, task: String = "t1") -> String {
    #"cloudrec_task_stalled{vendor="zego",account="acct",task_id="\#(task)"} \#(value)"#
}

@Suite("Stall detection")
struct StallTests {
    let store = TaskSeriesStore()
    let tracker: TaskTracker

    init() {
        tracker = TaskTracker(store: store)
        tracker.setStallAfter(900)
    }

    @Test func filesThatStopGrowingForStallAfterAreStalled() throws {
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.record(spec.key, result: running(bytes: 10), now: 0, notFoundGrace: 0)
        tracker.record(spec.key, result: running(bytes: 500), now: 100, notFoundGrace: 0)
        tracker.record(spec.key, result: running(bytes: 500), now: 999, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(0)))
        #expect(store.renderSnapshot().stalledCounts["acct"] == nil)
        tracker.record(spec.key, result: running(bytes: 500), now: 1000, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(1)))
        #expect(store.renderSnapshot().stalledCounts["acct"] == 1)
        // Growth in any measure ends the stall: here a new file.
        tracker.record(spec.key, result: running(bytes: 500, files: 2), now: 1010, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(0)))
        #expect(store.renderSnapshot().stalledCounts["acct"] == nil)
    }

    @Test func durationCountsAsProgressAndTheThresholdFollowsReloads() throws {
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.record(spec.key, result: running(bytes: nil, seconds: 30), now: 0, notFoundGrace: 0)
        tracker.record(spec.key, result: running(bytes: nil, seconds: 60), now: 60, notFoundGrace: 0)
        tracker.setStallAfter(120)
        tracker.record(spec.key, result: running(bytes: nil, seconds: 60), now: 179, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(0)))
        tracker.record(spec.key, result: running(bytes: nil, seconds: 60), now: 180, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(1)))
    }

    @Test func nothingToMeasureOrNotRunningHasNoStallSeries() throws {
        // Only a file count (an HLS index, Agora slices): no series.
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.record(spec.key, result: running(bytes: nil), now: 0, notFoundGrace: 0)
        tracker.record(spec.key, result: running(bytes: nil), now: 5000, notFoundGrace: 0)
        #expect(!exposition(store).contains("cloudrec_task_stalled"))
        // A stalled task that pauses, or ends, leaves the gauge.
        let other = TaskSpec(account: "acct", id: "t2")
        try tracker.track(other, vendor: .zego, source: .api)
        tracker.record(other.key, result: running(bytes: 1), now: 0, notFoundGrace: 0)
        tracker.record(other.key, result: running(bytes: 1), now: 900, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(1, task: "t2")))
        tracker.record(other.key, result: running(bytes: 1, status: .paused), now: 901, notFoundGrace: 0)
        #expect(!exposition(store).contains("cloudrec_task_stalled"))
        #expect(store.renderSnapshot().stalledCounts.isEmpty)
        // Running again: the clock starts over.
        tracker.record(other.key, result: running(bytes: 1), now: 902, notFoundGrace: 0)
        tracker.record(other.key, result: running(bytes: 1), now: 1801, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(0, task: "t2")))
        tracker.record(other.key, result: running(bytes: 1), now: 1802, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(1, task: "t2")))
        tracker.record(other.key, result: running(bytes: 1, status: .completed), now: 1803, notFoundGrace: 0)
        #expect(!exposition(store).contains("cloudrec_task_stalled"))
    }

    @Test func failedPollsKeepTheLastVerdictAndProgressSurvivesARestart() throws {
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.record(spec.key, result: running(bytes: 1), now: 0, notFoundGrace: 0)
        tracker.record(spec.key, result: .failure(.timeout, code: nil, message: nil), now: 2000, notFoundGrace: 0)
        #expect(exposition(store).contains(stalledLine(0)))
        let saved = try JSONDecoder().decode(TrackedTask.self, from: JSONEncoder().encode(try #require(tracker.task(spec.key))))
        #expect(saved.progress?.since == 0)
        let next = TaskTracker(store: TaskSeriesStore())
        next.setStallAfter(900)
        next.restore([saved.row])
        let task = try #require(next.record(spec.key, result: running(bytes: 1), now: 2001, notFoundGrace: 0))
        #expect(task.stalled == true)
    }

    @Test func theEngineTakesStallAfterFromTheConfigAndCountsStalledTasksPerAccount() throws {
        var config = ShardEngineTests.config(tasks: 2)
        config.global.stallAfter = 60
        let engine = ShardEngineTests.engine(.unsharded)
        engine.apply(config)
        let key = TaskKey(account: "zego-b", taskID: "task-1")
        engine.tracker.record(key, result: running(bytes: 5), now: 0, notFoundGrace: 0)
        engine.tracker.record(key, result: running(bytes: 5), now: 60, notFoundGrace: 0)
        let exposition = MetricsExposition(store: engine.tracker.store, families: engine.scrapeFamilies())
        let body = String(decoding: exposition.render(.prometheusText), as: UTF8.self)
        #expect(body.contains("# TYPE cloudrec_tasks_stalled gauge\n"))
        #expect(body.contains(#"cloudrec_tasks_stalled{vendor="zego",account="zego-b"} 1"#), "\(body)")
        #expect(body.contains(#"cloudrec_tasks_stalled{vendor="agora",account="agora-a"} 0"#))
        #expect(body.contains(#"cloudrec_task_stalled{vendor="zego",account="zego-b",task_id="task-1"} 1"#))
    }
}
