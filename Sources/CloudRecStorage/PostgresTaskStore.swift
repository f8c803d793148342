import CloudRecCore
import CloudRecMetrics
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The task store replicas share (`--storage.url postgres://…`), through postgres-nio's connection pool.
///
/// * **Registrations** (`register`, `unregister`) are written by whichever replica received them, durable when they
///   return, and announced with `NOTIFY cloudrec_tasks` in the same statement; the owner of the task's shard hears it
///   on its `LISTEN` connection (`changes`) and starts polling within a second.
/// * **Owner writes** (`saveNow`, `saveLater`, `delete`, `retire`) never block polling: they are queued and written
///   by the writer task at once (`saveNow`) or in the next batch (one transaction a second). Each write is *fenced*:
///   it only applies while this replica holds an unexpired lease on the task's shard (`ShardLeases`), so a replica
///   that lost a shard can never overwrite the new owner's state.
/// * **Outages** are survived: a failing write stays queued and is retried every second; `cloudrec_storage_*` and
///   `cloudrec_storage_reachable` show it, and one log line marks each change between failing and working.
///
/// Schema migrations are versioned (`cloudrec_schema_migrations`) and applied at start under an advisory lock, so
/// replicas starting together apply each one once.
public final class PostgresTaskStore: TaskStore, Service, Sendable {
    public let location: PostgresLocation
    public let replicaID: String
    let client: PostgresClient
    /// The lease keeper's own small pool: renewals never wait behind a large write batch or a slow registration.
    let leaseClient: PostgresClient
    let logger: Logger
    private let health: StoreHealth
    private let pending = PendingWrites()
    private let retiring = Mutex<(tasks: [TaskKey: Double], forgetBefore: Double)>(([:], 0))
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let changeSink: AsyncStream<TaskKey>.Continuation
    /// Keys named by `NOTIFY cloudrec_tasks` (registrations, deletions, callbacks on any replica); a `nil`-free
    /// stream that also yields a marker key with an empty account after every reconnect (notifications may have
    /// been missed: resync).
    public let changes: AsyncStream<TaskKey>
    private let reachable = Atomic<Bool>(false)
    private let prepared = Atomic<Bool>(false)
    private let writerRunning = Atomic<Bool>(false)
    private let flushWaiters = Mutex<[CheckedContinuation<Bool, Never>]>([])
    private let listening = Atomic<Bool>(false)

    public static let channel = "cloudrec_tasks"
    /// The key `changes` yields after the listener (re)connects: anything may have changed meanwhile.
    public static let resyncMarker = TaskKey(account: "", taskID: "")

    public init(location: PostgresLocation, replicaID: String, logger: Logger) throws(StorageError) {
        self.location = location
        self.replicaID = replicaID
        self.logger = logger
        health = StoreHealth(logger: logger, name: location.redacted,
                             failingMessage: "task store writes failing: registrations answer 503, polling goes on from memory while leases hold, state changes are retried every second")
        client = PostgresClient(configuration: try location.clientConfiguration(), backgroundLogger: Self.quiet(logger))
        var leaseConfiguration = try location.clientConfiguration()
        leaseConfiguration.options.maximumConnections = 2
        leaseClient = PostgresClient(configuration: leaseConfiguration, backgroundLogger: Self.quiet(logger))
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (changes, changeSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(100_000))
    }

    /// postgres-nio logs every failed connection attempt; our own transition lines say what matters.
    private static func quiet(_ logger: Logger) -> Logger {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .critical)
        return quiet
    }

    // MARK: Running

    /// Runs the pool, the writer and the listener until shutdown; applies migrations first (waiting for the
    /// database if it is not up yet, with the wait logged).
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.leaseClient.run() }
            group.addTask {
                await self.prepare()
                await withDiscardingTaskGroup { loops in
                    loops.addTask { await self.writerLoop() }
                    loops.addTask { await self.listenLoop() }
                }
            }
            try? await gracefulShutdown()
            await flush()
            group.cancelAll()
        }
    }

    /// Applies the migrations, retrying until the database answers (a replica may start before its database); one
    /// log line while it waits, one when it is ready.
    private func prepare() async {
        var logged = false
        while !Task.isCancelled {
            do {
                try await migrate()
                reachable.store(true, ordering: .relaxed)
                prepared.store(true, ordering: .releasing)
                logger.info("task database ready", metadata: ["url": .string(location.redacted)])
                return
            } catch {
                if !logged {
                    logger.error("cannot reach the task database; retrying", metadata: ["url": .string(location.redacted),
                                                                                      "error": .string(Self.describe(error))])
                    logged = true
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The schema is migrated and the store usable (leases are not taken before).
    public var isPrepared: Bool { prepared.load(ordering: .acquiring) }

    /// The migrations, in order; never edit one that shipped, add the next.
    static let migrations: [(version: Int, statements: [String])] = [
        (1, [
            """
            CREATE TABLE task_rows (
              account text NOT NULL,
              task_id text NOT NULL,
              vendor text NOT NULL,
              shard integer NOT NULL,
              shared_sources text[] NOT NULL DEFAULT '{}',
              local_sources text[] NOT NULL DEFAULT '{}',
              fields jsonb NOT NULL DEFAULT '{}',
              labels jsonb NOT NULL DEFAULT '{}',
              registered_at double precision NOT NULL,
              status text NOT NULL,
              ended_at double precision,
              state text NOT NULL DEFAULT '',
              registration_version bigint NOT NULL DEFAULT 0,
              updated_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (account, task_id)
            )
            """,
            "CREATE INDEX task_rows_shard ON task_rows (shard)",
            """
            CREATE TABLE retired_tasks (
              account text NOT NULL,
              task_id text NOT NULL,
              ended_at double precision NOT NULL,
              PRIMARY KEY (account, task_id)
            )
            """,
            """
            CREATE TABLE shard_leases (
              shard integer PRIMARY KEY,
              owner text,
              epoch bigint NOT NULL DEFAULT 0,
              expires_at timestamptz NOT NULL DEFAULT 'epoch'
            )
            """,
            "INSERT INTO shard_leases (shard) SELECT generate_series(0, \(StoredTask.shardCount - 1))",
            "CREATE TABLE replicas (id text PRIMARY KEY, seen_at timestamptz NOT NULL)",
        ]),
    ]

    func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7426083520)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS cloudrec_schema_migrations (
                  version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM cloudrec_schema_migrations", logger: logger)
                .decode(Int.self) { applied.insert(version) }
            for migration in Self.migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO cloudrec_schema_migrations (version) VALUES (\(migration.version))", logger: logger)
                logger.info("task database migrated", metadata: ["version": .stringConvertible(migration.version)])
            }
        }
    }

    /// A PostgreSQL error as its SQLSTATE and message, without the query or its binds (task rows, never secrets).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(error.serverInfo?[.sqlState] ?? "") \(message)".trimmingCharacters(in: .whitespaces)
            }
            return "\(error.code)"
        }
        return "\(type(of: error))"
    }

    // MARK: Owner writes (queued; fenced by the shard lease)

    public func saveNow(_ rows: [any StoredTaskSource]) throws {
        for row in rows { pending.save(row) }
        wake.yield()
    }

    public func saveLater(_ row: any StoredTaskSource) { pending.save(row) }

    public func delete(_ rows: [StoredTaskVersion]) throws {
        pending.remove(rows)
        wake.yield()
    }

    public func retire(_ tasks: [TaskKey: Double], forgetBefore: Double) throws {
        retiring.withLock { state in
            state.tasks.merge(tasks) { max($0, $1) }
            state.forgetBefore = max(state.forgetBefore, forgetBefore)
        }
    }

    /// Woken by saveNow/delete, `flush`, and once a second by the ticker for the write-behind batch; wake-ups that
    /// come while a batch is written collapse into one (the stream keeps the newest only). One writer, so batches
    /// never overlap and a later state is never overwritten by an earlier one.
    private func writerLoop() async {
        writerRunning.store(true, ordering: .releasing)
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    self.wake.yield()
                }
            }
            for await _ in wakes {
                let waiting = flushWaiters.withLock { waiters in
                    defer { waiters = [] }
                    return waiters
                }
                await writeBatch()
                for waiter in waiting { waiter.resume(returning: true) }
                if Task.isCancelled { break }
            }
            group.cancelAll()
        }
        let left = flushWaiters.withLock { waiters in
            // Under the waiters' lock: a flush either sees the writer running and is resumed here, or writes itself.
            writerRunning.store(false, ordering: .releasing)
            defer { waiters = [] }
            return waiters
        }
        for waiter in left { waiter.resume(returning: true) }
    }

    /// Returns once everything queued before the call was written (or the attempt failed and it stays queued).
    public func flush() async {
        guard writerRunning.load(ordering: .acquiring) else {
            await writeBatch()
            return
        }
        let queued = await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
            let accepted = flushWaiters.withLock { waiters -> Bool in
                guard writerRunning.load(ordering: .acquiring) else { return false }
                waiters.append(waiter)
                return true
            }
            if accepted { wake.yield() } else { waiter.resume(returning: false) }
        }
        if !queued { await writeBatch() }
    }

    /// One batch: whatever is pending, in one transaction. Only the writer task (or `flush` once it stopped) runs it.
    private func writeBatch() async {
        let batch = pending.take()
        let retired = retiring.withLock { state in
            defer { state.tasks = [:] }
            return state
        }
        guard !batch.isEmpty || !retired.tasks.isEmpty else {
            if !health.isWritable { await probe() }
            return
        }
        var saves: [StoredTask] = []
        var removals: [StoredTaskVersion] = []
        for (key, change) in batch {
            switch change {
            case let .save(source): saves.append(source.storedRow())
            case let .remove(version): removals.append(StoredTaskVersion(key: key, registrationVersion: version))
            }
        }
        do {
            // One statement per chunk of rows (unnest), the server's own statement timeout, and the writer's deadline
            // above it: a batch of 100,000 fresh states takes a few statements, never one round trip per row.
            try await Deadline.run(seconds: Self.batchTimeout + 5, "write-behind batch") { [self, saves, removals] in
              try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET LOCAL statement_timeout = \(unescaped: String(Int(Self.batchTimeout * 1000)))", logger: logger)
                for start in stride(from: 0, to: saves.count, by: Self.rowsPerStatement) {
                    try await self.upsertFenced(saves[start..<min(saves.count, start + Self.rowsPerStatement)], connection)
                }
                for start in stride(from: 0, to: removals.count, by: Self.rowsPerStatement) {
                    try await self.deleteFenced(removals[start..<min(removals.count, start + Self.rowsPerStatement)], connection)
                }
                if !retired.tasks.isEmpty {
                    let keys = Array(retired.tasks.keys)
                    try await connection.query("""
                        INSERT INTO retired_tasks (account, task_id, ended_at)
                        SELECT * FROM unnest(\(keys.map(\.account))::text[], \(keys.map(\.taskID))::text[], \(keys.map { retired.tasks[$0] ?? 0 })::float8[])
                        ON CONFLICT (account, task_id) DO UPDATE SET ended_at = greatest(retired_tasks.ended_at, excluded.ended_at)
                        """, logger: logger)
                    try await connection.query("DELETE FROM retired_tasks WHERE ended_at < \(retired.forgetBefore)", logger: logger)
                }
              }
            }
            worked()
        } catch {
            failed(error)
            pending.putBack(batch)
            retiring.withLock { state in
                state.tasks.merge(retired.tasks) { max($0, $1) }
                state.forgetBefore = max(state.forgetBefore, retired.forgetBefore)
            }
        }
    }

    private func probe() async {
        do {
            try await Deadline.run(seconds: Self.registrationTimeout, "probe") { [client, logger] in
                try await client.query("SELECT 1", logger: logger)
            }
            worked()
        } catch {
            failed(error)
        }
    }

    private func worked() {
        reachable.store(true, ordering: .relaxed)
        health.worked(pending: pending.count)
    }

    private func failed(_ error: any Error) {
        reachable.store(false, ordering: .relaxed)
        health.failed((error as? StorageError)?.description ?? Self.describe(error))
    }

    /// The fence: only while this replica holds an unexpired lease on the row's shard.
    /// Rows per statement of a write-behind batch.
    static let rowsPerStatement = 1000

    /// The fence: rows are written only while this replica holds an unexpired lease on their shard. Source lists
    /// travel as JSON text (arrays of arrays do not unnest), a missing end as -1.
    private func upsertFenced(_ rows: ArraySlice<StoredTask>, _ connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO task_rows (account, task_id, vendor, shard, shared_sources, local_sources, fields, labels, registered_at,
                                   status, ended_at, state, registration_version)
            SELECT r.account, r.task_id, r.vendor, r.shard,
                   ARRAY(SELECT jsonb_array_elements_text(r.shared::jsonb)), ARRAY(SELECT jsonb_array_elements_text(r.local::jsonb)),
                   r.fields::jsonb, r.labels::jsonb, r.registered_at, r.status, NULLIF(r.ended_at, -1), r.state, r.version
            FROM unnest(\(rows.map(\.key.account))::text[], \(rows.map(\.key.taskID))::text[], \(rows.map(\.vendor))::text[],
                        \(rows.map(\.shard))::int8[], \(rows.map { StoredColumns.list($0.sharedSources) })::text[],
                        \(rows.map { StoredColumns.list($0.localSources) })::text[], \(rows.map { StoredColumns.map($0.fields) })::text[],
                        \(rows.map { StoredColumns.map($0.labels) })::text[], \(rows.map(\.registeredAt))::float8[],
                        \(rows.map(\.status))::text[], \(rows.map { $0.endedAt ?? -1 })::float8[],
                        \(rows.map { String(decoding: $0.state, as: UTF8.self) })::text[], \(rows.map(\.registrationVersion))::int8[])
              AS r(account, task_id, vendor, shard, shared, local, fields, labels, registered_at, status, ended_at, state, version)
            WHERE EXISTS (SELECT 1 FROM shard_leases l WHERE l.shard = r.shard AND l.owner = \(replicaID) AND l.expires_at > now())
            ON CONFLICT (account, task_id) DO UPDATE SET
              local_sources = excluded.local_sources,
              fields = excluded.fields || task_rows.fields, labels = excluded.labels || task_rows.labels,
              status = excluded.status, ended_at = excluded.ended_at, state = excluded.state, updated_at = now()
            """, logger: logger)
    }

    private func deleteFenced(_ rows: ArraySlice<StoredTaskVersion>, _ connection: PostgresConnection) async throws {
        try await connection.query("""
            DELETE FROM task_rows t
            USING unnest(\(rows.map(\.key.account))::text[], \(rows.map(\.key.taskID))::text[], \(rows.map(\.registrationVersion))::int8[])
              AS d(account, task_id, version)
            WHERE t.account = d.account AND t.task_id = d.task_id AND t.registration_version = d.version
              AND EXISTS (SELECT 1 FROM shard_leases l WHERE l.shard = t.shard AND l.owner = \(replicaID) AND l.expires_at > now())
            """, logger: logger)
    }

    // MARK: Registrations (any replica; durable when they return)

    static let columns = """
        account, task_id, vendor, shard, shared_sources, local_sources, fields::text, labels::text, registered_at, status,
        ended_at, state, registration_version
        """

    /// The same columns as named in a `RETURNING` of `columns`.
    static let names = """
        account, task_id, vendor, shard, shared_sources, local_sources, fields, labels, registered_at, status, ended_at, state,
        registration_version
        """

    public func register(_ registration: TaskRegistration) async throws -> StoredTask {
        let key = registration.key
        let query: PostgresQuery = """
            WITH written AS (
              INSERT INTO task_rows (account, task_id, vendor, shard, shared_sources, fields, labels, registered_at, status,
                                     registration_version)
              VALUES (\(key.account), \(key.taskID), \(registration.vendor), \(StoredTask.shard(of: key)), ARRAY[\(registration.source)],
                      \(StoredColumns.map(registration.fields))::jsonb, \(StoredColumns.map(registration.labels))::jsonb,
                      \(registration.at), 'unknown', 1)
              ON CONFLICT (account, task_id) DO UPDATE SET
                shared_sources = ARRAY(SELECT DISTINCT s FROM unnest(task_rows.shared_sources || excluded.shared_sources) s ORDER BY s),
                fields = task_rows.fields || excluded.fields, labels = task_rows.labels || excluded.labels,
                registration_version = task_rows.registration_version + 1, updated_at = now()
              RETURNING \(unescaped: Self.columns)
            )
            SELECT \(unescaped: Self.names) FROM written, LATERAL (SELECT pg_notify(\(Self.channel), account || '/' || task_id)) AS notified
            """
        guard let row = try await registrationWrite(query) else { throw StorageError("the registration was not stored") }
        return row
    }

    public func unregister(_ key: TaskKey, source: String) async throws -> StoredTask? {
        try await registrationWrite("""
            WITH written AS (
              UPDATE task_rows SET shared_sources = array_remove(shared_sources, \(source)),
                registration_version = registration_version + 1, updated_at = now()
              WHERE account = \(key.account) AND task_id = \(key.taskID) AND \(source) = ANY(shared_sources)
              RETURNING \(unescaped: Self.columns)
            )
            SELECT \(unescaped: Self.names) FROM written, LATERAL (SELECT pg_notify(\(Self.channel), account || '/' || task_id)) AS notified
            """)
    }

    /// How long a registration may wait for the database before it answers 503.
    public static let registrationTimeout = 3.0
    /// How long one write-behind batch may take before it is retried.
    public static let batchTimeout = 10.0

    private func registrationWrite(_ query: PostgresQuery) async throws(StorageError) -> StoredTask? {
        do {
            let result = try await Deadline.run(seconds: Self.registrationTimeout, "registration") { [client, logger] in
                var result: StoredTask?
                for try await row in try await client.query(query, logger: logger) { result = try Self.decode(row) }
                return result
            }
            worked()
            return result
        } catch let error as StorageError {
            failed(error)
            throw StorageError("the task database is unreachable: \(error.description)")
        } catch {
            failed(error)
            throw StorageError("the task database is unreachable: \(Self.describe(error))")
        }
    }

    // MARK: Reads

    public func loadAll() async throws -> [StoredTask] {
        try await read("SELECT \(unescaped: Self.columns) FROM task_rows")
    }

    public func load(shards: Set<Int>) async throws -> [StoredTask] {
        guard !shards.isEmpty else { return [] }
        return try await read("SELECT \(unescaped: Self.columns) FROM task_rows WHERE shard = ANY(\(shards.sorted()))")
    }

    public func load(_ key: TaskKey) async throws -> StoredTask? {
        try await read("SELECT \(unescaped: Self.columns) FROM task_rows WHERE account = \(key.account) AND task_id = \(key.taskID)").first
    }

    public func loadRetired() async throws -> [TaskKey: Double] {
        do {
            var retired: [TaskKey: Double] = [:]
            for try await (account, taskID, endedAt) in try await client.query("SELECT account, task_id, ended_at FROM retired_tasks",
                                                                                logger: logger).decode((String, String, Double).self) {
                retired[TaskKey(account: account, taskID: taskID)] = endedAt
            }
            return retired
        } catch {
            throw StorageError("cannot read the task database \(location.redacted): \(Self.describe(error))")
        }
    }

    private func read(_ query: PostgresQuery) async throws(StorageError) -> [StoredTask] {
        do {
            var result: [StoredTask] = []
            for try await row in try await client.query(query, logger: logger) { result.append(try Self.decode(row)) }
            return result
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError("cannot read the task database \(location.redacted): \(Self.describe(error))")
        }
    }

    static func decode(_ row: PostgresRow) throws -> StoredTask {
        let (account, taskID, vendor, shard, shared, local, fields, labels, registeredAt, status, endedAt, state, version) =
            try row.decode((String, String, String, Int, [String], [String], String, String, Double, String, Double?, String, Int64).self)
        return StoredTask(key: TaskKey(account: account, taskID: taskID), vendor: vendor, shard: shard, sharedSources: shared,
                          localSources: local, fields: StoredColumns.map(fields), labels: StoredColumns.map(labels),
                          registeredAt: registeredAt, status: status, endedAt: endedAt, state: Data(state.utf8),
                          registrationVersion: version)
    }

    // MARK: Notifications

    /// One connection outside the pool `LISTEN`s; it reconnects after a loss with a backoff, and every (re)connect
    /// yields `resyncMarker` so the owner reloads its shards (notifications sent meanwhile are gone).
    private func listenLoop() async {
        var backoff = 0.25
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(),
                                                                      id: 1, logger: Self.quiet(logger))
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.channel) { notifications in
                    listening.store(true, ordering: .relaxed)
                    changeSink.yield(Self.resyncMarker)
                    backoff = 0.25
                    for try await notification in notifications {
                        guard let slash = notification.payload.firstIndex(of: "/") else { continue }
                        changeSink.yield(TaskKey(account: String(notification.payload[..<slash]),
                                                 taskID: String(notification.payload[notification.payload.index(after: slash)...])))
                    }
                }
            } catch {
                if listening.exchange(false, ordering: .relaxed) {
                    logger.warning("task change notifications lost; reconnecting", metadata: ["error": .string(Self.describe(error))])
                }
            }
            listening.store(false, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(backoff))
            backoff = min(backoff * 2, 5)
        }
    }

    /// Test only: every table emptied and every lease free (the store suite starts each test from nothing).
    public func emptyForTests() async throws {
        try await client.query("TRUNCATE task_rows, retired_tasks, replicas", logger: logger)
        try await client.query("UPDATE shard_leases SET owner = NULL, epoch = 0, expires_at = 'epoch'", logger: logger)
    }

    // MARK: Metrics

    public var isReachable: Bool { reachable.load(ordering: .relaxed) }
    public var pendingCount: Int { pending.count }

    public var metricFamilies: [any ExposedFamily] {
        health.families { [pending] in pending.count } + [
            GaugeCallbackFamily(name: "cloudrec_storage_reachable",
                                help: "Whether the last statement against the shared task database (PostgreSQL) succeeded.",
                                labelNames: []) { [self] in [([], isReachable ? 1 : 0)] },
            GaugeCallbackFamily(name: "cloudrec_storage_notifications_connected",
                                help: "Whether this replica's LISTEN connection for task changes is up (down: changes arrive with the next resync).",
                                labelNames: []) { [self] in [([], listening.load(ordering: .relaxed) ? 1 : 0)] },
        ]
    }
}
