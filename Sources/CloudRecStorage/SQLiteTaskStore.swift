import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// Tracked tasks in an embedded SQLite database (WAL mode). Registrations are written synchronously before they are
/// acknowledged, so a `kill -9` loses none; poll results are written behind in batches (one transaction per second),
/// so a restart does not announce finished tasks as new. One row per task, the task as JSON.
///
/// A write that fails at run time (full disk, read-only data directory) is reported, never fatal: the caller gets the
/// error (a registration answers 503), poll results and deletions stay pending in memory and are retried every
/// second, the `cloudrec_storage_*` metrics show it, and one log line marks each change between failing and working.
public final class SQLiteTaskStore: TaskPersistence, Service, Sendable {
    public let path: String
    private let pool: DatabasePool
    /// Writes not yet on disk: poll results (written behind each second) and anything refused by a failing store.
    private let pending = Mutex<[TaskKey: PendingWrite]>([:])
    private enum PendingWrite {
        case save(TrackedTask)
        case remove
    }
    /// Held across each write and the write-behind batch it belongs to, so a batch taken before a synchronous save
    /// cannot be written after it (or be retried over it). `saveLater` does not take it: polling never waits for disk.
    private let writeOrder = Mutex(())
    private let logger: Logger
    /// Write transactions that failed (full disk, read-only directory), retries included.
    public let writeErrors = Atomic<Int>(0)
    private struct Health {
        /// The last write attempt failed.
        var failing = false
        /// Failed attempts since the store last worked (for the recovery log line).
        var failures = 0
    }
    private let health = Mutex(Health())
    /// Test only: the writer's own `max_page_count`, saved by the first `simulateFault` call to restore it.
    private let faultState = Mutex<Int?>(nil)

    /// Opens (creating if needed) the database. Fails with a clear message when the file is corrupt, not a
    /// database, or the directory cannot be written.
    public init(path: String, logger: Logger) throws(StorageError) {
        self.path = path
        self.logger = logger
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StorageError("cannot create the storage directory \(directory): \(error.localizedDescription)")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // NORMAL is durable against process crashes in WAL mode (not against power loss), at a fraction of FULL's cost.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE tasks (
                      account TEXT NOT NULL,
                      task_id TEXT NOT NULL,
                      body TEXT NOT NULL,
                      updated_at REAL NOT NULL,
                      PRIMARY KEY (account, task_id)
                    ) WITHOUT ROWID
                    """)
            }
            // Finished tasks already forgotten (RetiredTasks.swift): their events are not counted again.
            migrator.registerMigration("v2") { db in
                try db.execute(sql: """
                    CREATE TABLE retired_tasks (
                      account TEXT NOT NULL,
                      task_id TEXT NOT NULL,
                      ended_at REAL NOT NULL,
                      PRIMARY KEY (account, task_id)
                    ) WITHOUT ROWID
                    """)
            }
            try migrator.migrate(pool)
            // Touch the file for writing now: a read-only database must fail at start, not at the first registration.
            try pool.write { db in try db.execute(sql: "PRAGMA user_version = 1") }
        } catch {
            throw StorageError("cannot open the task database \(path): \(Self.describe(error))")
        }
    }

    /// The SQLite error without the statement or its arguments (task rows): "SQLITE_FULL (13): database or disk is full".
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DatabaseError else { return "\(error)" }
        let code = error.resultCode.rawValue
        let name = sqliteNames[code].map { "SQLITE_\($0) (\(code))" } ?? "SQLite error \(code)"
        return error.message.map { "\(name): \($0)" } ?? name
    }

    /// Names of the primary result codes a storage failure can bring (sqlite3.h).
    static let sqliteNames: [Int32: String] = [
        5: "BUSY", 6: "LOCKED", 8: "READONLY", 10: "IOERR", 11: "CORRUPT", 13: "FULL", 14: "CANTOPEN", 26: "NOTADB",
    ]

    public func saveNow(_ tasks: [TrackedTask]) throws {
        let rows = try tasks.map(Self.encode)
        try writeOrder.withLock { _ throws(StorageError) in
            try write { db in
                for row in rows { try Self.upsert(row, db) }
            }
            // A state still waiting in the write-behind batch for these tasks is older (the tracker hands states
            // in order), and must not overwrite this one later.
            pending.withLock { all in for task in tasks { all.removeValue(forKey: task.key) } }
        }
    }

    public func saveLater(_ task: TrackedTask) {
        pending.withLock { $0[task.key] = .save(task) }
    }

    /// Throws when the rows could not be deleted now; the deletion is then retried with the write-behind batch, so a
    /// task forgotten during a fault does not come back at the next start.
    public func delete(_ keys: [TaskKey]) throws {
        guard !keys.isEmpty else { return }
        try writeOrder.withLock { _ throws(StorageError) in
            pending.withLock { all in for key in keys { all.removeValue(forKey: key) } }
            do throws(StorageError) {
                try write { db in
                    for key in keys { try Self.remove(key, db) }
                }
            } catch {
                pending.withLock { all in for key in keys where all[key] == nil { all[key] = .remove } }
                throw error
            }
        }
    }

    /// Every write goes through here, so the health metrics and the transition log lines see all of them.
    private func write(_ updates: (Database) throws -> Void) throws(StorageError) {
        do {
            try pool.write(updates)
        } catch {
            writeErrors.add(1, ordering: .relaxed)
            let started = health.withLock { health -> Bool in
                defer { health.failing = true; health.failures += 1 }
                return !health.failing
            }
            let reason = Self.describe(error)
            if started {
                // Once per transition, not per write: retries run every second while the disk stays full.
                logger.error("task store writes failing: registrations answer 503, state changes are kept in memory and retried every second",
                             metadata: ["path": .string(path), "error": .string(reason)])
            }
            throw StorageError("cannot write the task database \(path): \(reason)")
        }
        let recovered = health.withLock { health -> Int? in
            defer { health.failing = false; health.failures = 0 }
            return health.failing ? health.failures : nil
        }
        if let recovered {
            logger.info("task store writes work again", metadata: ["path": .string(path), "failed_writes": .stringConvertible(recovered),
                                                                     "pending": .stringConvertible(pendingCount)])
        }
    }

    /// Whether the last write attempt succeeded (true from the start: opening the store writes to it).
    public var isWritable: Bool { !health.withLock { $0.failing } }
    /// Poll results and deletions waiting for the next write-behind batch (or for the store to work again).
    public var pendingCount: Int { pending.withLock { $0.count } }

    /// The store's health, exported with the exporter's own metrics (only when a store is configured).
    public var metricFamilies: [any ExposedFamily] {
        [
            GaugeCallbackFamily(name: "cloudrec_storage_writable",
                                help: "Whether the last write to the task database succeeded (0: full disk, read-only directory...).",
                                labelNames: []) { [self] in [([], isWritable ? 1 : 0)] },
            CounterCallbackFamily(name: "cloudrec_storage_write_errors_total",
                                  help: "Writes to the task database that failed, retries included.") { [self] in
                Double(writeErrors.load(ordering: .relaxed))
            },
            GaugeCallbackFamily(name: "cloudrec_storage_pending_writes",
                                help: "Task states changed (or tasks removed) in memory but not yet written to the task database.",
                                labelNames: []) { [self] in [([], Double(pendingCount))] },
        ]
    }

    public func loadAll() throws -> [TrackedTask] {
        let decoder = JSONDecoder()
        do {
            return try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT body FROM tasks").compactMap { row -> TrackedTask? in
                    let body: String = row["body"]
                    return try? decoder.decode(TrackedTask.self, from: Data(body.utf8))
                }
            }
        } catch {
            throw StorageError("cannot read the task database \(path): \(Self.describe(error))")
        }
    }

    public func retire(_ tasks: [TaskKey: Double], forgetBefore: Double) throws {
        try writeOrder.withLock { _ throws(StorageError) in
            try write { db in
                for (key, endedAt) in tasks {
                    try db.execute(sql: """
                        INSERT INTO retired_tasks (account, task_id, ended_at) VALUES (?, ?, ?)
                        ON CONFLICT(account, task_id) DO UPDATE SET ended_at = max(ended_at, excluded.ended_at)
                        """, arguments: [key.account, key.taskID, endedAt])
                }
                try db.execute(sql: "DELETE FROM retired_tasks WHERE ended_at < ?", arguments: [forgetBefore])
            }
        }
    }

    public func loadRetired() throws -> [TaskKey: Double] {
        do {
            return try pool.read { db in
                var retired: [TaskKey: Double] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT account, task_id, ended_at FROM retired_tasks") {
                    retired[TaskKey(account: row["account"], taskID: row["task_id"])] = row["ended_at"]
                }
                return retired
            }
        } catch {
            throw StorageError("cannot read the task database \(path): \(Self.describe(error))")
        }
    }

    public var count: Int { (try? pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tasks") ?? 0 }) ?? 0 }

    /// Writes the batched poll results; a failure is counted (and logged when the store starts failing), and the
    /// batch is retried next time. While the store fails with nothing pending, a header write probes it, so the
    /// health metrics recover with the disk even when nothing else is written.
    public func flush() {
        writeOrder.withLock { _ in
            let batch = pending.withLock { all -> [TaskKey: PendingWrite] in
                defer { all.removeAll(keepingCapacity: true) }
                return all
            }
            guard !batch.isEmpty else {
                if !isWritable { try? write { db in try db.execute(sql: "PRAGMA user_version = 1") } }
                return
            }
            do {
                let rows = try batch.map { key, write in
                    if case let .save(task) = write { return (key, Optional(try Self.encode(task))) }
                    return (key, nil)
                }
                try write { db in
                    for (key, row) in rows {
                        if let row { try Self.upsert(row, db) } else { try Self.remove(key, db) }
                    }
                }
            } catch {
                logger.debug("task state not saved, will retry", metadata: ["error": .string("\(error)"), "tasks": .stringConvertible(batch.count)])
                // Newer states handed in meanwhile win over the batch.
                pending.withLock { all in for (key, write) in batch where all[key] == nil { all[key] = write } }
            }
        }
    }

    /// Test only: makes the writer connection fail as a full disk or a read-only data directory would, with SQLite's
    /// own errors (the tests run as root, whom `chmod` does not stop, and cannot fill a real disk); nil lifts it.
    /// `.diskFull` caps the file at its current size (`PRAGMA max_page_count`): writes that need a new page fail
    /// with SQLITE_FULL, writes that fit in free space still succeed, as on a real full disk. `.readOnly` makes
    /// every write fail with SQLITE_READONLY (`PRAGMA query_only`).
    public func simulateFault(_ fault: SimulatedStorageFault?) throws {
        try pool.writeWithoutTransaction { db in
            let limit = try Int.fetchOne(db, sql: "PRAGMA max_page_count") ?? 0
            let original = faultState.withLock { saved in
                if saved == nil { saved = limit }
                return saved!
            }
            switch fault {
            case .diskFull:
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
                try db.execute(sql: "PRAGMA max_page_count = \(pages)")
            case .readOnly:
                try db.execute(sql: "PRAGMA query_only = 1")
            case nil:
                try db.execute(sql: "PRAGMA query_only = 0")
                try db.execute(sql: "PRAGMA max_page_count = \(original)")
            }
        }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            flush()
        }
        flush()
    }

    struct EncodedTask {
        var account: String
        var taskID: String
        var body: String
    }

    static func encode(_ task: TrackedTask) throws -> EncodedTask {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = String(decoding: try encoder.encode(task), as: UTF8.self)
        return EncodedTask(account: task.spec.account, taskID: task.spec.id, body: body)
    }

    static func remove(_ key: TaskKey, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM tasks WHERE account = ? AND task_id = ?", arguments: [key.account, key.taskID])
    }

    static func upsert(_ row: EncodedTask, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO tasks (account, task_id, body, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT(account, task_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at
            """, arguments: [row.account, row.taskID, row.body, Date().timeIntervalSince1970])
    }
}

/// Test only, for `SQLiteTaskStore.simulateFault`.
public enum SimulatedStorageFault: Sendable {
    case diskFull, readOnly
}

public struct StorageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
