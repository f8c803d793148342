import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import CloudRecStorage
import Foundation
import Logging
import Testing

/// The fleet counters over the real task database: what was counted, and the finished tasks already forgotten,
/// survive a restart (a new store and tracker on the same file), so nothing is counted twice and nothing replayed.
@Suite("Fleet counters across restarts (SQLite)")
struct FleetCounterStorageTests {
    private static func polled(_ status: TaskStatus, _ files: [RecordingFile]) -> PollResult {
        .success(TaskObservation(vendorStatus: status.rawValue, status: status, files: files, reportsUploadStates: true))
    }

    private static func file(_ name: String, _ state: UploadState) -> RecordingFile {
        RecordingFile(name: name, format: .mp4, uploadState: state, sizeBytes: 1000, durationSeconds: 60)
    }

    /// A new process on the database: its own counters (at 0), the tasks and retired tasks restored.
    private static func start(_ path: String) throws -> (TaskTracker, SQLiteTaskStore) {
        let store = try SQLiteTaskStore(path: path, logger: Logger(label: "test"))
        let tracker = TaskTracker(store: TaskSeriesStore(), persistence: store)
        tracker.restore(try store.loadAll(), retired: try store.loadRetired())
        return (tracker, store)
    }

    private static func finished(_ tracker: TaskTracker) -> Double {
        ["completed", "failed"].reduce(0) { total, status in
            total + ["vendor_status", "not_found", "callback"].reduce(0) { $0 + tracker.counters.finished.value(["zego", "acct", status, $1]) }
        }
    }

    @Test("an end and a file outcome counted before a restart are not counted after it; a forgotten task stays counted")
    func restart() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-fleet-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("cloudrec.db").path
        let ending = TaskSpec(account: "acct", id: "ending")
        let forgotten = TaskSpec(account: "acct", id: "forgotten")

        do {
            let (tracker, _) = try Self.start(path)
            try tracker.track(ending, vendor: .zego, source: .api, durable: true)
            try tracker.track(forgotten, vendor: .zego, source: .config)
            tracker.record(ending.key, result: Self.polled(.running, [Self.file("a", .recording)]), now: 100, notFoundGrace: 0)
            tracker.record(forgotten.key, result: Self.polled(.completed, [Self.file("f", .uploaded)]), now: 100, notFoundGrace: 0)
            #expect(tracker.expire(now: 2000, retention: 900) == [forgotten.key])
            // Counted and written synchronously; the process then dies without flushing its write-behind batch.
            tracker.record(ending.key, result: Self.polled(.completed, [Self.file("a", .failed)]), now: 2001, notFoundGrace: 0)
            #expect(Self.finished(tracker) == 2)
            #expect(tracker.counters.files.value(["zego", "acct", "failed"]) == 1)
            #expect(tracker.counters.recordedSeconds.value(["zego", "acct"]) == 120)
        }

        let (tracker, store) = try Self.start(path)
        #expect(try store.loadRetired()[forgotten.key] == 100)
        #expect(tracker.task(ending.key)?.status == .completed)
        // The config still lists the forgotten task; the vendor repeats its answers.
        #expect(try tracker.track(forgotten, vendor: .zego, source: .config))
        tracker.record(forgotten.key, result: Self.polled(.completed, [Self.file("f", .uploaded)]), now: 3000, notFoundGrace: 0)
        tracker.record(ending.key, result: Self.polled(.completed, [Self.file("a", .failed)]), now: 3000, notFoundGrace: 0)
        #expect(Self.finished(tracker) == 0)
        #expect(tracker.counters.started.value(["zego", "acct", "config"]) == 0)
        #expect(tracker.counters.files.value(["zego", "acct", "failed"]) == 0)
        #expect(tracker.counters.files.value(["zego", "acct", "uploaded"]) == 0)
        #expect(tracker.counters.recordedSeconds.value(["zego", "acct"]) == 0)
        // Something new is still counted, once.
        let late = [Self.file("a", .failed), Self.file("b", .backupUploaded)]
        tracker.record(ending.key, result: Self.polled(.completed, late), now: 3001, notFoundGrace: 0)
        tracker.record(ending.key, result: Self.polled(.completed, late), now: 3002, notFoundGrace: 0)
        #expect(tracker.counters.files.value(["zego", "acct", "backup_uploaded"]) == 1)
        #expect(tracker.counters.recordedSeconds.value(["zego", "acct"]) == 60)
    }
}
