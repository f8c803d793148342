import CloudRecCore
import CloudRecMetrics
@testable import CloudRecPolling
import CloudRecStorage
import Foundation
import Synchronization
import Testing

/// A durable store kept in memory, like the SQLite one: `saveNow` is on "disk" at once, `saveLater` only after
/// `flush()`, and `crash()` loses what was not flushed.
final class MemoryPersistence: TaskStore, @unchecked Sendable {
    private struct State {
        var rows: [TaskKey: StoredTask] = [:]
        var pending: [TaskKey: any StoredTaskSource] = [:]
        var retired: [TaskKey: Double] = [:]
    }
    private let state = Mutex(State())

    func saveNow(_ sources: [any StoredTaskSource]) throws {
        let rows = sources.map { $0.storedRow() }
        state.withLock { state in
            for row in rows {
                state.rows[row.key] = row
                state.pending.removeValue(forKey: row.key)
            }
        }
    }

    func saveLater(_ row: any StoredTaskSource) { state.withLock { $0.pending[row.storedKey] = row } }

    func delete(_ rows: [StoredTaskVersion]) throws {
        state.withLock { state in
            for row in rows {
                state.rows.removeValue(forKey: row.key)
                state.pending.removeValue(forKey: row.key)
            }
        }
    }

    func loadAll() throws -> [StoredTask] { state.withLock { Array($0.rows.values) } }
    func load(shards: Set<Int>) throws -> [StoredTask] { try loadAll().filter { shards.contains($0.shard) } }
    func load(_ key: TaskKey) throws -> StoredTask? { state.withLock { $0.rows[key] } }
    func register(_ registration: TaskRegistration) throws -> StoredTask { throw StorageError("not used by these tests") }
    func unregister(_ key: TaskKey, source: String) throws -> StoredTask? { throw StorageError("not used by these tests") }
    var metricFamilies: [any ExposedFamily] { [] }

    func retire(_ tasks: [TaskKey: Double], forgetBefore: Double) throws {
        state.withLock { state in
            state.retired.merge(tasks) { max($0, $1) }
            state.retired = state.retired.filter { $0.value >= forgetBefore }
        }
    }

    func loadRetired() throws -> [TaskKey: Double] { state.withLock { $0.retired } }

    func flush() {
        let pending = state.withLock { state in defer { state.pending = [:] }; return state.pending }
        try? saveNow(Array(pending.values))
    }

    /// A `kill -9`: what is only pending is gone.
    func crash() { state.withLock { $0.pending = [:] } }
}

private let spec = TaskSpec(account: "acct", id: "t1")

private func polled(_ status: TaskStatus, files: [RecordingFile] = [], reports: Bool = true) -> PollResult {
    .success(TaskObservation(vendorStatus: status.rawValue, status: status, files: files, reportsUploadStates: reports))
}

private func file(_ name: String, _ state: UploadState?, bytes: Int64? = 100, seconds: Double? = 10) -> RecordingFile {
    RecordingFile(name: name, format: .mp4, uploadState: state, sizeBytes: bytes, durationSeconds: seconds)
}

private let gone = PollResult.failure(.notFound, code: "FailedOperation.TaskNotExist", message: nil)

private extension TaskTracker {
    func started(_ source: TaskSource, vendor: Vendor = .zego) -> Double { counters.started.value([vendor.rawValue, "acct", source.rawValue]) }
    func finished(_ status: TaskStatus, _ cause: FinishCause, vendor: Vendor = .zego) -> Double {
        counters.finished.value([vendor.rawValue, "acct", status.rawValue, cause.rawValue])
    }
    var finishedTotal: Double {
        var total = 0.0
        for vendor in Vendor.allCases {
            for status in [TaskStatus.completed, .failed] {
                for cause in FinishCause.allCases { total += finished(status, cause, vendor: vendor) }
            }
        }
        return total
    }
    func files(_ state: UploadState, vendor: Vendor = .zego) -> Double { counters.files.value([vendor.rawValue, "acct", state.rawValue]) }
    var seconds: Double { counters.recordedSeconds.value(["zego", "acct"]) }
    var bytes: Double { counters.recordedBytes.value(["zego", "acct"]) }
}

@Suite("Fleet counters: each event counted exactly once")
struct FleetCounterTests {
    let persistence = MemoryPersistence()
    let tracker: TaskTracker

    init() { tracker = TaskTracker(store: TaskSeriesStore(), persistence: persistence) }

    /// A new process on the same durable store: counters at 0, tasks and retired tasks restored.
    func restarted() throws -> TaskTracker {
        let next = TaskTracker(store: TaskSeriesStore(), persistence: persistence)
        next.restore(try persistence.loadAll(), retired: try persistence.loadRetired())
        return next
    }

    @Test func registeredAccountsStartAtZero() {
        tracker.counters.registerAccount(vendor: .zego, account: "acct")
        var out: [UInt8] = []
        for family in tracker.counters.families {
            family.writeSamples(into: &out, scrape: ScrapeInput(format: .prometheusText, snapshot: TaskSeriesStore().renderSnapshot()))
        }
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.contains(#"cloudrec_tasks_started_total{vendor="zego",account="acct",source="callback"} 0"#))
        #expect(text.contains(#"cloudrec_tasks_finished_total{vendor="zego",account="acct",status="failed",found_by="not_found"} 0"#))
        #expect(text.contains(#"cloudrec_files_finished_total{vendor="zego",account="acct",upload_state="backup_uploaded"} 0"#))
        #expect(text.contains(#"cloudrec_recorded_seconds_total{vendor="zego",account="acct"} 0"#))
        #expect(text.contains(#"cloudrec_recorded_bytes_total{vendor="zego",account="acct"} 0"#))
        #expect(!text.contains("task_id"))
    }

    @Test func severalSourcesNamingOneTaskStartItOnce() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        try tracker.track(spec, vendor: .zego, source: .api, durable: true)
        try tracker.track(spec, vendor: .zego, source: .file)
        try tracker.track(spec, vendor: .zego, source: .discovery)
        try tracker.track(spec, vendor: .zego, source: .callback)
        #expect(tracker.started(.config) == 1)
        for source in [TaskSource.api, .file, .discovery, .callback] { #expect(tracker.started(source) == 0) }
        // Letting go of one source and naming it again is not a new start either.
        tracker.untrack(spec.key, source: .config)
        try tracker.track(spec, vendor: .zego, source: .config)
        #expect(tracker.started(.config) == 1)
    }

    @Test func anEndIsCountedOnceHoweverOftenItIsSeen() throws {
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.record(spec.key, result: polled(.running), now: 1, notFoundGrace: 0)
        #expect(tracker.finishedTotal == 0)
        for now in 2...5 { tracker.record(spec.key, result: polled(.completed), now: Double(now), notFoundGrace: 0) }
        tracker.record(spec.key, result: gone, now: 6, notFoundGrace: 0)
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedNormally)], name: "stop", now: 7)
        #expect(tracker.finished(.completed, .vendorStatus) == 1)
        #expect(tracker.finishedTotal == 1)
    }

    @Test func pollingAndCallbacksAgreeOnOneEnd() throws {
        // The callback sees the abnormal exit first; polling then shows the vendor's end: one failure, by callback.
        try tracker.track(spec, vendor: .tencentTRTC, source: .callback, durable: true)
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedAbnormally)], name: "302", now: 1)
        tracker.record(spec.key, result: polled(.completed, reports: false), now: 2, notFoundGrace: 0)
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedAbnormally)], name: "302", now: 3)
        #expect(tracker.finished(.failed, .callback, vendor: .tencentTRTC) == 1)
        #expect(tracker.finishedTotal == 1)
        #expect(tracker.started(.callback, vendor: .tencentTRTC) == 1)
    }

    @Test func aFailureReportedAfterANotFoundEndIsCountedAsAFailure() throws {
        try tracker.track(spec, vendor: .tencentTRTC, source: .api)
        tracker.record(spec.key, result: polled(.running, reports: false), now: 1, notFoundGrace: 0)
        tracker.record(spec.key, result: gone, now: 2, notFoundGrace: 0)
        #expect(tracker.finished(.completed, .notFound, vendor: .tencentTRTC) == 1)
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedAbnormally)], name: "302", now: 3)
        tracker.recordCallback(spec.key, events: [CallbackEvent(taskID: "t1", kind: .exitedAbnormally)], name: "302", now: 4)
        #expect(tracker.finished(.failed, .callback, vendor: .tencentTRTC) == 1)
        #expect(tracker.finishedTotal == 2)
    }

    @Test func filesAreCountedOncePerFinalState() throws {
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.record(spec.key, result: polled(.running, files: [file("a", .recording)]), now: 1, notFoundGrace: 0)
        let ending = [file("a", .uploaded), file("b", .uploading)]
        tracker.record(spec.key, result: polled(.completed, files: ending), now: 2, notFoundGrace: 0)
        tracker.record(spec.key, result: polled(.completed, files: ending), now: 3, notFoundGrace: 0)
        let done = [file("a", .uploaded), file("b", .failed)]
        for now in 4...6 { tracker.record(spec.key, result: polled(.completed, files: done), now: Double(now), notFoundGrace: 0) }
        #expect(tracker.files(.uploaded) == 1)
        #expect(tracker.files(.failed) == 1)
        #expect(tracker.files(.backupUploaded) == 0)
    }

    @Test func callbackUploadOutcomesAreCountedOnce() throws {
        try tracker.track(spec, vendor: .tencentTRTC, source: .api)
        let failed = CallbackEvent(taskID: "t1", kind: .uploadFailed, files: [file("a", .failed)])
        tracker.recordCallback(spec.key, events: [failed, failed], name: "311", now: 1)
        tracker.recordCallback(spec.key, events: [failed], name: "311", now: 2)
        #expect(tracker.files(.failed, vendor: .tencentTRTC) == 1)
        // Retried successfully: the file reached a second final state.
        let uploaded = CallbackEvent(taskID: "t1", kind: .uploadSucceeded, files: [file("a", .uploaded)])
        tracker.recordCallback(spec.key, events: [uploaded], name: "311", now: 3)
        tracker.record(spec.key, result: polled(.running, reports: false), now: 4, notFoundGrace: 0)
        #expect(tracker.files(.uploaded, vendor: .tencentTRTC) == 1)
        #expect(tracker.files(.failed, vendor: .tencentTRTC) == 1)
    }

    @Test func recordedSecondsAndBytesCountOnceTheTaskEnded() throws {
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.record(spec.key, result: polled(.running, files: [file("a", .recording, bytes: 500, seconds: 30)]), now: 1, notFoundGrace: 0)
        #expect(tracker.seconds == 0)
        let ended = [file("a", .uploading, bytes: 1000, seconds: 60)]
        tracker.record(spec.key, result: polled(.completed, files: ended), now: 2, notFoundGrace: 0)
        tracker.record(spec.key, result: polled(.completed, files: ended), now: 3, notFoundGrace: 0)
        #expect(tracker.seconds == 60)
        #expect(tracker.bytes == 1000)
        // A late file after the end adds its growth only.
        let late = [file("a", .uploaded, bytes: 1000, seconds: 60), file("b", .uploaded, bytes: 24, seconds: 2)]
        tracker.record(spec.key, result: polled(.completed, files: late), now: 4, notFoundGrace: 0)
        #expect(tracker.seconds == 62)
        #expect(tracker.bytes == 1024)
    }

    @Test func restoringStateDoesNotReplayTheCounters() throws {
        try tracker.track(spec, vendor: .zego, source: .api, durable: true)
        tracker.record(spec.key, result: polled(.completed, files: [file("a", .uploaded)]), now: 1, notFoundGrace: 0)
        persistence.flush()
        let next = try restarted()
        #expect(next.task(spec.key)?.status == .completed)
        #expect(next.finishedTotal == 0)
        #expect(next.files(.uploaded) == 0)
        #expect(next.seconds == 0)
        // The same answers again count nothing; something new counts once.
        try next.track(spec, vendor: .zego, source: .api)
        next.record(spec.key, result: polled(.completed, files: [file("a", .uploaded)]), now: 2, notFoundGrace: 0)
        #expect(next.finishedTotal == 0)
        #expect(next.files(.uploaded) == 0)
        #expect(next.started(.api) == 0)
        next.record(spec.key, result: polled(.completed, files: [file("a", .uploaded), file("b", .failed)]), now: 3, notFoundGrace: 0)
        #expect(next.files(.failed) == 1)
    }

    @Test func rowsWrittenBeforeTheCountersExistedAreNotReplayed() throws {
        var old = TrackedTask(spec: spec, vendor: .zego, sources: [.api])
        old.status = .failed
        old.endedAt = 1
        old.observation = TaskObservation(vendorStatus: "4", status: .failed, files: [file("a", .failed)], reportsUploadStates: true)
        #expect(old.counted == nil)
        tracker.restore([old.row])
        tracker.record(spec.key, result: polled(.failed, files: [file("a", .failed)]), now: 2, notFoundGrace: 0)
        #expect(tracker.finishedTotal == 0)
        #expect(tracker.files(.failed) == 0)
        #expect(tracker.seconds == 0)
    }

    @Test func aRestartMidRunNeitherLosesNorDoubleCounts() throws {
        let other = TaskSpec(account: "acct", id: "t2")
        try tracker.track(spec, vendor: .zego, source: .api, durable: true)
        try tracker.track(other, vendor: .zego, source: .api, durable: true)
        tracker.record(spec.key, result: polled(.running, files: [file("a", .recording)]), now: 1, notFoundGrace: 0)
        tracker.record(other.key, result: polled(.running, files: [file("x", .recording)]), now: 1, notFoundGrace: 0)
        // Events counted just before a kill -9 with the write-behind batch unwritten.
        tracker.record(spec.key, result: polled(.completed, files: [file("a", .uploading)]), now: 2, notFoundGrace: 0)
        tracker.record(other.key, result: polled(.running, files: [file("x", .failed)]), now: 2, notFoundGrace: 0)
        #expect(tracker.finishedTotal == 1)
        #expect(tracker.files(.failed) == 1)
        persistence.crash()
        // The next process sees the same vendor answers, then the rest of the run.
        let next = try restarted()
        next.record(spec.key, result: polled(.completed, files: [file("a", .uploading)]), now: 3, notFoundGrace: 0)
        next.record(other.key, result: polled(.running, files: [file("x", .failed)]), now: 3, notFoundGrace: 0)
        #expect(next.finishedTotal == 0)
        #expect(next.files(.failed) == 0)
        next.record(spec.key, result: polled(.completed, files: [file("a", .uploaded)]), now: 4, notFoundGrace: 0)
        next.record(other.key, result: polled(.failed, files: [file("x", .failed)]), now: 4, notFoundGrace: 0)
        // Over both processes: each end and each file outcome exactly once.
        #expect(tracker.finishedTotal + next.finishedTotal == 2)
        #expect(tracker.files(.failed) + next.files(.failed) == 1)
        #expect(tracker.files(.uploaded) + next.files(.uploaded) == 1)
    }

    @Test func aFinishedTaskNamedAgainAfterItWasForgottenIsNotCountedAgain() throws {
        try tracker.track(spec, vendor: .zego, source: .config)
        tracker.record(spec.key, result: polled(.completed, files: [file("a", .uploaded)]), now: 100, notFoundGrace: 0)
        #expect(tracker.expire(now: 1000, retention: 900) == [spec.key])
        // A reload still listing it (or a discovery round) tracks it again; its end is seen again.
        #expect(try tracker.track(spec, vendor: .zego, source: .config))
        tracker.record(spec.key, result: polled(.completed, files: [file("a", .uploaded)]), now: 1001, notFoundGrace: 0)
        #expect(tracker.started(.config) == 1)
        #expect(tracker.finishedTotal == 1)
        #expect(tracker.files(.uploaded) == 1)
        // Also in the next process.
        #expect(tracker.expire(now: 2000, retention: 900) == [spec.key])
        let next = try restarted()
        try next.track(spec, vendor: .zego, source: .config)
        next.record(spec.key, result: polled(.completed, files: [file("a", .uploaded)]), now: 2001, notFoundGrace: 0)
        #expect(next.started(.config) == 0)
        #expect(next.finishedTotal == 0)
        #expect(next.files(.uploaded) == 0)
    }

    @Test func aTaskRemovedBeforeItEndedStartsAgainWhenNamedAgain() throws {
        try tracker.track(spec, vendor: .zego, source: .api)
        tracker.untrack(spec.key, source: .api)
        try tracker.track(spec, vendor: .zego, source: .api)
        #expect(tracker.started(.api) == 2)
    }
}
