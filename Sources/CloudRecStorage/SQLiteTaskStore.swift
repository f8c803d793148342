import CloudRecCore
import CloudRecPolling
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// Tracked tasks in an embedded SQLite database (WAL mode). Registrations are written synchronously before they are
/// acknowledged, so a `kill -9` loses none; poll results are written behind in batches (one transaction per second),
/// so a restart does not announce finished tasks as new. One row per task, the task as JSON.
public final class SQLiteTaskStore: TaskPersistence, Service, Sendable {
    public let path: String
    private let pool: DatabasePool
    private let pending = Mutex<[TaskKey: TrackedTask]>([:])
    private let logger: Logger
    /// Writes that failed (full disk, read-only directory); exported as a metric by the app.
    public let writeErrors = Atomic<Int>(0)

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
            try migrator.migrate(pool)
            // Touch the file for writing now: a read-only database must fail at start, not at the first registration.
            try pool.write { db in try db.execute(sql: "PRAGMA user_version = 1") }
        } catch {
            throw StorageError("cannot open the task database \(path): \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "\(error.resultCode) \(error.message ?? "")".trimmingCharacters(in: .whitespaces)
        }
        return "\(error)"
    }

    public func saveNow(_ tasks: [TrackedTask]) throws {
        let rows = try tasks.map(Self.encode)
        do {
            try pool.write { db in
                for row in rows { try Self.upsert(row, db) }
            }
        } catch {
            writeErrors.add(1, ordering: .relaxed)
            throw StorageError("cannot write the task database \(path): \(Self.describe(error))")
        }
    }

    public func saveLater(_ task: TrackedTask) {
        pending.withLock { $0[task.key] = task }
    }

    public func delete(_ keys: [TaskKey]) throws {
        guard !keys.isEmpty else { return }
        pending.withLock { all in for key in keys { all.removeValue(forKey: key) } }
        do {
            try pool.write { db in
                for key in keys {
                    try db.execute(sql: "DELETE FROM tasks WHERE account = ? AND task_id = ?", arguments: [key.account, key.taskID])
                }
            }
        } catch {
            writeErrors.add(1, ordering: .relaxed)
            throw StorageError("cannot write the task database \(path): \(Self.describe(error))")
        }
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

    public var count: Int { (try? pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tasks") ?? 0 }) ?? 0 }

    /// Writes the batched poll results; a failure is logged and counted, and the batch is retried next time.
    public func flush() {
        let batch = pending.withLock { all -> [TrackedTask] in
            defer { all.removeAll(keepingCapacity: true) }
            return Array(all.values)
        }
        guard !batch.isEmpty else { return }
        do {
            try saveNow(batch)
        } catch {
            logger.error("task state not saved, will retry", metadata: ["error": .string("\(error)"), "tasks": .stringConvertible(batch.count)])
            pending.withLock { all in for task in batch where all[task.key] == nil { all[task.key] = task } }
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

    static func upsert(_ row: EncodedTask, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO tasks (account, task_id, body, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT(account, task_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at
            """, arguments: [row.account, row.taskID, row.body, Date().timeIntervalSince1970])
    }
}

public struct StorageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
