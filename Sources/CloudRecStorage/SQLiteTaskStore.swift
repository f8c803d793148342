import CloudRecCore
import CloudRecMetrics
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// Tracked tasks in an embedded SQLite database (WAL mode), one row per task (`StoredTask`). Registrations are
/// written synchronously before they are acknowledged, so a `kill -9` loses none; poll results are written behind in
/// batches (one transaction per second), so a restart does not announce finished tasks as new.
///
/// A write that fails at run time (full disk, read-only data directory) is reported, never fatal: the caller gets the
/// error (a registration answers 503), poll results and deletions stay pending in memory and are retried every
/// second, the `cloudrec_storage_*` metrics show it, and one log line marks each change between failing and working.
public final class SQLiteTaskStore: TaskStore, Service, Sendable {
    public let path: String
    private let pool: DatabasePool
    /// Writes not yet on disk: poll results (written behind each second) and anything refused by a failing store.
    private let pending = PendingWrites()
    /// Held across each write and the write-behind batch it belongs to, so a batch taken before a synchronous save
    /// cannot be written after it (or be retried over it). `saveLater` does not take it: polling never waits for disk.
    private let writeOrder = Mutex(())
    private let logger: Logger
    private let health: StoreHealth
    /// Test only: the writer's own `max_page_count`, saved by the first `simulateFault` call to restore it.
    private let faultState = Mutex<Int?>(nil)

    /// Opens (creating if needed) the database. Fails with a clear message when the file is corrupt, not a
    /// database, or the directory cannot be written.
    public init(path: String, logger: Logger) throws(StorageError) {
        self.path = path
        self.logger = logger
        health = StoreHealth(logger: logger, name: path,
                             failingMessage: "task store writes failing: registrations answer 503, state changes are kept in memory and retried every second")
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
            try Self.migrator.migrate(pool)
            // Touch the file for writing now: a read-only database must fail at start, not at the first registration.
            try pool.write { db in try db.execute(sql: "PRAGMA user_version = 1") }
        } catch {
            throw StorageError("cannot open the task database \(path): \(Self.describe(error))")
        }
    }

    /// Versioned schema migrations, applied at open (GRDB records the applied ones in `grdb_migrations`).
    static var migrator: DatabaseMigrator {
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
        // The store's own row schema (StoredTask): explicit columns, the owner's state as an opaque document. Rows of
        // v1 (one JSON body per task) keep their body as the state document; the columns are read out of it.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                CREATE TABLE task_rows (
                  account TEXT NOT NULL,
                  task_id TEXT NOT NULL,
                  vendor TEXT NOT NULL,
                  shard INTEGER NOT NULL,
                  shared_sources TEXT NOT NULL,
                  local_sources TEXT NOT NULL,
                  fields TEXT NOT NULL,
                  labels TEXT NOT NULL,
                  registered_at REAL NOT NULL,
                  status TEXT NOT NULL,
                  ended_at REAL,
                  state BLOB NOT NULL,
                  registration_version INTEGER NOT NULL DEFAULT 0,
                  updated_at REAL NOT NULL,
                  PRIMARY KEY (account, task_id)
                ) WITHOUT ROWID
                """)
            for old in try Row.fetchAll(db, sql: "SELECT body FROM tasks") {
                let body: String = old["body"]
                guard let row = LegacyTaskBody.row(Data(body.utf8)) else { continue }
                try upsert(row, db)
            }
            try db.execute(sql: "DROP TABLE tasks")
        }
        return migrator
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

    public func saveNow(_ sources: [any StoredTaskSource]) throws {
        let rows = sources.map { $0.storedRow() }
        try writeOrder.withLock { _ throws(StorageError) in
            try write { db in
                for row in rows { try Self.upsert(row, db) }
            }
            // A state still waiting in the write-behind batch for these tasks is older (the tracker hands states
            // in order), and must not overwrite this one later.
            pending.discard(rows.map(\.key))
        }
    }

    public func saveLater(_ row: any StoredTaskSource) { pending.save(row) }

    public func delete(_ rows: [StoredTaskVersion]) throws {
        guard !rows.isEmpty else { return }
        try writeOrder.withLock { _ throws(StorageError) in
            pending.discard(rows.map(\.key))
            do throws(StorageError) {
                try write { db in
                    for row in rows { try Self.remove(row.key, db) }
                }
            } catch {
                pending.remove(rows)
                throw error
            }
        }
    }

    /// Every write goes through here, so the health metrics and the transition log lines see all of them.
    private func write<T>(_ updates: (Database) throws -> T) throws(StorageError) -> T {
        let result: T
        do {
            result = try pool.write(updates)
        } catch {
            let reason = Self.describe(error)
            health.failed(reason)
            throw StorageError("cannot write the task database \(path): \(reason)")
        }
        health.worked(pending: pendingCount)
        return result
    }

    /// Whether the last write attempt succeeded (true from the start: opening the store writes to it).
    public var isWritable: Bool { health.isWritable }
    /// Poll results and deletions waiting for the next write-behind batch (or for the store to work again).
    public var pendingCount: Int { pending.count }
    public var writeErrors: Int { health.writeErrors.load(ordering: .relaxed) }

    public var metricFamilies: [any ExposedFamily] { health.families { [pending] in pending.count } }

    private func read<T>(_ query: (Database) throws -> T) throws(StorageError) -> T {
        do {
            return try pool.read(query)
        } catch {
            throw StorageError("cannot read the task database \(path): \(Self.describe(error))")
        }
    }

    public func loadAll() throws -> [StoredTask] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM task_rows").map(Self.decode) }
    }

    public func load(shards: Set<Int>) throws -> [StoredTask] {
        try loadAll().filter { shards.contains($0.shard) }
    }

    public func load(_ key: TaskKey) throws -> StoredTask? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM task_rows WHERE account = ? AND task_id = ?",
                             arguments: [key.account, key.taskID]).map(Self.decode)
        }
    }

    public func register(_ registration: TaskRegistration) throws -> StoredTask {
        try writeOrder.withLock { _ throws(StorageError) in
            try write { db in
                var row = try Row.fetchOne(db, sql: "SELECT * FROM task_rows WHERE account = ? AND task_id = ?",
                                           arguments: [registration.key.account, registration.key.taskID]).map(Self.decode)
                    ?? StoredTask(key: registration.key, vendor: registration.vendor, sharedSources: [], localSources: [], fields: [:],
                                  labels: [:], registeredAt: registration.at, status: "unknown", endedAt: nil, state: Data())
                row.sharedSources = Array(Set(row.sharedSources).union([registration.source])).sorted()
                row.fields.merge(registration.fields) { _, new in new }
                row.labels.merge(registration.labels) { _, new in new }
                row.registrationVersion += 1
                try Self.upsert(row, db)
                return row
            }
        }
    }

    public func unregister(_ key: TaskKey, source: String) throws -> StoredTask? {
        try writeOrder.withLock { _ throws(StorageError) in
            try write { db in
                guard var row = try Row.fetchOne(db, sql: "SELECT * FROM task_rows WHERE account = ? AND task_id = ?",
                                                 arguments: [key.account, key.taskID]).map(Self.decode),
                      row.sharedSources.contains(source) else { return nil }
                row.sharedSources.removeAll { $0 == source }
                row.registrationVersion += 1
                try Self.upsert(row, db)
                return row
            }
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
        try read { db in
            var retired: [TaskKey: Double] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT account, task_id, ended_at FROM retired_tasks") {
                retired[TaskKey(account: row["account"], taskID: row["task_id"])] = row["ended_at"]
            }
            return retired
        }
    }

    public var count: Int { (try? pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM task_rows") ?? 0 }) ?? 0 }

    /// Writes the batched poll results; a failure is counted (and logged when the store starts failing), and the
    /// batch is retried next time. While the store fails with nothing pending, a header write probes it, so the
    /// health metrics recover with the disk even when nothing else is written.
    public func flush() {
        writeOrder.withLock { _ in
            let batch = pending.take()
            guard !batch.isEmpty else {
                if !isWritable { try? write { db in try db.execute(sql: "PRAGMA user_version = 1") } }
                return
            }
            do {
                let rows = batch.compactMapValues { change -> StoredTask? in
                    if case let .save(source) = change { return source.storedRow() }
                    return nil
                }
                try write { db in
                    for (key, change) in batch {
                        switch change {
                        case .save: if let row = rows[key] { try Self.upsert(row, db) }
                        case .remove: try Self.remove(key, db)
                        }
                    }
                }
            } catch {
                logger.debug("task state not saved, will retry", metadata: ["error": .string("\(error)"), "tasks": .stringConvertible(batch.count)])
                pending.putBack(batch)
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

    static func remove(_ key: TaskKey, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM task_rows WHERE account = ? AND task_id = ?", arguments: [key.account, key.taskID])
    }

    /// One process owns the file, so the owner's writes carry the shared sources too.
    static func upsert(_ row: StoredTask, _ db: Database) throws {
        try db.execute(sql: """
            INSERT INTO task_rows (account, task_id, vendor, shard, shared_sources, local_sources, fields, labels, registered_at,
                                   status, ended_at, state, registration_version, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(account, task_id) DO UPDATE SET
              vendor = excluded.vendor, shared_sources = excluded.shared_sources, local_sources = excluded.local_sources,
              fields = excluded.fields, labels = excluded.labels, registered_at = excluded.registered_at,
              status = excluded.status, ended_at = excluded.ended_at, state = excluded.state,
              registration_version = excluded.registration_version, updated_at = excluded.updated_at
            """, arguments: [row.key.account, row.key.taskID, row.vendor, row.shard, StoredColumns.list(row.sharedSources),
                             StoredColumns.list(row.localSources), StoredColumns.map(row.fields), StoredColumns.map(row.labels),
                             row.registeredAt, row.status, row.endedAt, row.state, row.registrationVersion,
                             Date().timeIntervalSince1970])
    }

    static func decode(_ row: Row) -> StoredTask {
        StoredTask(key: TaskKey(account: row["account"], taskID: row["task_id"]), vendor: row["vendor"], shard: row["shard"],
                   sharedSources: StoredColumns.list(row["shared_sources"] as String),
                   localSources: StoredColumns.list(row["local_sources"] as String),
                   fields: StoredColumns.map(row["fields"] as String), labels: StoredColumns.map(row["labels"] as String),
                   registeredAt: row["registered_at"], status: row["status"], endedAt: row["ended_at"], state: row["state"],
                   registrationVersion: row["registration_version"])
    }
}

/// Test only, for `SQLiteTaskStore.simulateFault`.
public enum SimulatedStorageFault: Sendable {
    case diskFull, readOnly
}
