import CloudRecCore
import CloudRecMetrics
import Foundation
import Logging
import Synchronization

/// The task store: one interface for the embedded SQLite file (`SQLiteTaskStore`) and the PostgreSQL database
/// replicas share (`PostgresTaskStore`). The same suite of tests runs against both (`TaskStoreContractTests`).
///
/// Two kinds of writers use it. The task's owner (the replica polling it) saves its state with `saveNow` (a status
/// change, something newly counted) or `saveLater` (routine refreshes, written behind in batches), forgets rows with
/// `delete` and remembers forgotten finished tasks with `retire`. Any replica records registrations and callbacks
/// with `register`/`unregister`, which touch only the shared columns (`StoredTask`).
public protocol TaskStore: Sendable {
    /// SQLite: on disk when it returns (registrations are acknowledged after it). PostgreSQL: queued and written at
    /// once by the writer task (owner state; registrations go through `register`, which is durable when it returns).
    func saveNow(_ rows: [any StoredTaskSource]) throws
    func saveLater(_ row: any StoredTaskSource)
    /// Throws when the rows could not be deleted now; the deletion is retried with the write-behind batch.
    func delete(_ rows: [StoredTaskVersion]) throws
    /// Remembers finished tasks that were forgotten, so their events are not counted again; entries that ended
    /// before `forgetBefore` are dropped.
    func retire(_ tasks: [TaskKey: Double], forgetBefore: Double) throws
    func loadAll() async throws -> [StoredTask]
    func loadRetired() async throws -> [TaskKey: Double]
    /// The rows of some shards (a replica taking over shards in HA mode).
    func load(shards: Set<Int>) async throws -> [StoredTask]
    func load(_ key: TaskKey) async throws -> StoredTask?
    /// Adds a shared source and merges fields and labels, creating the row if needed; durable when it returns.
    func register(_ registration: TaskRegistration) async throws -> StoredTask
    /// Removes a shared source; nil when there is no such row or it does not have that source. The owner forgets the task once no source is left.
    func unregister(_ key: TaskKey, source: String) async throws -> StoredTask?
    /// Writes what is pending now (tests; shutdown).
    func flush() async
    /// The store's health metrics.
    var metricFamilies: [any ExposedFamily] { get }
}

public struct StorageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What the owner changed in memory and the store has not written yet: the newest state of each task, or its
/// deletion. Newer entries win over a batch being retried.
final class PendingWrites: Sendable {
    enum Write: Sendable {
        case save(any StoredTaskSource)
        case remove(Int64)
    }
    private let items = Mutex<[TaskKey: Write]>([:])

    var count: Int { items.withLock { $0.count } }
    func save(_ row: any StoredTaskSource) { items.withLock { $0[row.storedKey] = .save(row) } }
    func remove(_ rows: [StoredTaskVersion]) { items.withLock { all in for row in rows { all[row.key] = .remove(row.registrationVersion) } } }
    func discard(_ keys: some Sequence<TaskKey>) { items.withLock { all in for key in keys { all.removeValue(forKey: key) } } }
    func take() -> [TaskKey: Write] {
        items.withLock { all in
            defer { all.removeAll(keepingCapacity: true) }
            return all
        }
    }
    /// Puts a failed batch back, unless a newer write for the same task came in meanwhile.
    func putBack(_ batch: [TaskKey: Write]) { items.withLock { all in for (key, write) in batch where all[key] == nil { all[key] = write } } }
}

/// Whether the store's writes work, as metrics (`cloudrec_storage_*`) and one log line per transition between failing
/// and working (never one per write: retries run every second while a disk stays full or a database down).
final class StoreHealth: Sendable {
    private struct State {
        var failing = false
        var failures = 0
    }
    private let state = Mutex(State())
    let writeErrors = Atomic<Int>(0)
    private let logger: Logger
    private let name: String
    private let failingMessage: Logger.Message

    init(logger: Logger, name: String, failingMessage: Logger.Message) {
        self.logger = logger
        self.name = name
        self.failingMessage = failingMessage
    }

    var isWritable: Bool { !state.withLock { $0.failing } }

    func failed(_ reason: String) {
        writeErrors.add(1, ordering: .relaxed)
        let started = state.withLock { state -> Bool in
            defer { state.failing = true; state.failures += 1 }
            return !state.failing
        }
        if started { logger.error(failingMessage, metadata: ["store": .string(name), "error": .string(reason)]) }
    }

    func worked(pending: @autoclosure () -> Int) {
        let recovered = state.withLock { state -> Int? in
            defer { state.failing = false; state.failures = 0 }
            return state.failing ? state.failures : nil
        }
        if let recovered {
            logger.info("task store writes work again", metadata: ["store": .string(name), "failed_writes": .stringConvertible(recovered),
                                                                     "pending": .stringConvertible(pending())])
        }
    }

    func families(pending: @escaping @Sendable () -> Int) -> [any ExposedFamily] {
        [
            GaugeCallbackFamily(name: "cloudrec_storage_writable",
                                help: "Whether the last write to the task store succeeded (0: full disk, read-only directory, database unreachable...).",
                                labelNames: []) { [self] in [([], isWritable ? 1 : 0)] },
            CounterCallbackFamily(name: "cloudrec_storage_write_errors_total",
                                  help: "Writes to the task store that failed, retries included.") { [self] in
                Double(writeErrors.load(ordering: .relaxed))
            },
            GaugeCallbackFamily(name: "cloudrec_storage_pending_writes",
                                help: "Task states changed (or tasks removed) in memory but not yet written to the task store.",
                                labelNames: []) { [pending] in [([], Double(pending()))] },
        ]
    }
}
