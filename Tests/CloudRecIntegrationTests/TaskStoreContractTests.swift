import CloudRecCore
import CloudRecMetrics
import CloudRecPolling
import CloudRecStorage
import CloudRecTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// The task store's contract, one suite for both backends: the embedded SQLite file and the PostgreSQL database
/// replicas share. PostgreSQL runs when `CLOUDREC_TEST_POSTGRES_URL` names a server (scripts/test.sh starts a
/// throwaway one on loopback; `CLOUDREC_TEST_POSTGRES_PASSWORD` its password); each test empties its tables first.
@Suite("Task store contract (SQLite and PostgreSQL)", .serialized)
struct TaskStoreContractTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }

        /// Every backend this run can reach; PostgreSQL is required when the test command says so.
        static var available: [Backend] {
            PostgresFixture.url == nil ? [.sqlite] : [.sqlite, .postgres]
        }
    }

    /// Runs `body` with a fresh, empty store of the backend; for PostgreSQL the store's pool runs as a service and this
    /// replica holds every shard's lease (owner writes are fenced by leases).
    static func withStore(_ backend: Backend, replica: String = "contract-a",
                          _ body: @Sendable (any TaskStore) async throws -> Void) async throws {
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cloudrec-contract-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            try await body(try SQLiteTaskStore(path: directory.appendingPathComponent("tasks.db").path, logger: Logger(label: "test")))
        case .postgres:
            try await PostgresFixture.withStore(replica: replica, emptied: true) { store in
                _ = try await store.acquire(count: StoredTask.shardCount, leaseSeconds: 60)
                try await body(store)
            }
        }
    }

    static func row(_ id: String, account: String = "acct", shared: [String] = [], local: [String] = ["config"],
                    status: String = "running", fields: [String: String] = ["mode": "mix"], version: Int64 = 0) -> StoredTask {
        StoredTask(key: TaskKey(account: account, taskID: id), vendor: "agora", sharedSources: shared, localSources: local,
                   fields: fields, labels: ["team": "a"], registeredAt: 100, status: status, endedAt: status == "completed" ? 200 : nil,
                   state: Data("{\"k\":\"\(id)\"}".utf8), registrationVersion: version)
    }

    @Test("saveNow is stored at once and reads back column for column", arguments: Backend.available)
    func saveNowRoundTrip(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let row = Self.row("t1", status: "completed")
            try store.saveNow([row])
            await store.flush()
            let loaded = try #require(try await store.load(row.key))
            #expect(loaded == row)
            #expect(try await store.loadAll() == [row])
        }
    }

    @Test("saveLater is written by the next batch; a newer state wins over an older one", arguments: Backend.available)
    func saveLaterBatches(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            store.saveLater(Self.row("t1", status: "running"))
            store.saveLater(Self.row("t1", status: "failed"))
            await store.flush()
            let loaded = try await store.load(TaskKey(account: "acct", taskID: "t1"))
            #expect(loaded?.status == "failed")
        }
    }

    @Test("delete forgets rows; load(shards:) returns exactly the shards asked for", arguments: Backend.available)
    func deleteAndShards(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let rows = (0..<40).map { Self.row("t\($0)") }
            try store.saveNow(rows)
            await store.flush()
            let shards = Set(rows.prefix(10).map(\.shard))
            let inShards = try await store.load(shards: shards)
            #expect(Set(inShards.map(\.key)) == Set(rows.filter { shards.contains($0.shard) }.map(\.key)))
            try store.delete(rows.prefix(5).map { StoredTaskVersion(key: $0.key, registrationVersion: $0.registrationVersion) })
            await store.flush()
            #expect(try await store.loadAll().count == 35)
            #expect(try await store.load(rows[0].key) == nil)
        }
    }

    @Test("register creates or merges a shared source with fields and labels; unregister removes only that source", arguments: Backend.available)
    func registrations(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let key = TaskKey(account: "acct", taskID: "r1")
            let first = try await store.register(TaskRegistration(key: key, vendor: "agora", source: "api", fields: ["a": "1"], labels: ["x": "1"]))
            #expect(first.sharedSources == ["api"])
            #expect(first.registrationVersion == 1)
            #expect(first.shard == StoredTask.shard(of: key))
            let second = try await store.register(TaskRegistration(key: key, vendor: "agora", source: "callback", fields: ["a": "2", "b": "3"],
                                                                   labels: [:]))
            #expect(second.sharedSources == ["api", "callback"])
            #expect(second.fields == ["a": "2", "b": "3"])
            #expect(second.labels == ["x": "1"])
            #expect(second.registrationVersion == 2)
            let removed = try #require(try await store.unregister(key, source: "api"))
            #expect(removed.sharedSources == ["callback"])
            #expect(try await store.unregister(key, source: "api") == nil, "a source the row does not have")
            #expect(try await store.unregister(TaskKey(account: "acct", taskID: "none"), source: "api") == nil)
        }
    }

    @Test("the owner's state write keeps what registrations wrote", arguments: Backend.available)
    func ownerWriteKeepsRegistration(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let key = TaskKey(account: "acct", taskID: "o1")
            let registered = try await store.register(TaskRegistration(key: key, vendor: "agora", source: "api", fields: ["a": "1"], labels: [:]))
            var owned = registered
            owned.status = "running"
            owned.state = Data("{\"polled\":true}".utf8)
            try store.saveNow([owned])
            await store.flush()
            let loaded = try #require(try await store.load(key))
            #expect(loaded.sharedSources == ["api"])
            #expect(loaded.status == "running")
            #expect(loaded.state == owned.state)
            #expect(loaded.fields == ["a": "1"])
        }
    }

    @Test("retired tasks are remembered until forgetBefore passes their end", arguments: Backend.available)
    func retired(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            try store.retire([TaskKey(account: "acct", taskID: "old"): 10, TaskKey(account: "acct", taskID: "new"): 500], forgetBefore: 0)
            await store.flush()
            #expect(try await store.loadRetired().count == 2)
            try store.retire([TaskKey(account: "acct", taskID: "newer"): 900], forgetBefore: 100)
            await store.flush()
            #expect(Set(try await store.loadRetired().keys.map(\.taskID)) == ["new", "newer"])
        }
    }

    @Test("a tracked task survives the trip through a row", arguments: Backend.available)
    func trackedTaskRoundTrip(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let tracker = TaskTracker(store: TaskSeriesStore(), persistence: store)
            try tracker.track(TaskSpec(account: "acct", id: "tt", fields: ["resource_id": "r"], labels: ["team": "b"]), vendor: .agora,
                              source: .api, durable: true)
            tracker.record(TaskKey(account: "acct", taskID: "tt"),
                           result: .success(TaskObservation(vendorStatus: "5", status: .running, files: [])), now: 1000, notFoundGrace: 0)
            await store.flush()
            let reread = TaskTracker(store: TaskSeriesStore())
            reread.restore(try await store.loadAll())
            let task = try #require(reread.task(TaskKey(account: "acct", taskID: "tt")))
            #expect(task.status == .running)
            #expect(task.sources == [.api])
            #expect(task.spec.fields == ["resource_id": "r"])
            #expect(task.spec.labels == ["team": "b"])
            #expect(task.lastSuccess == 1000)
        }
    }
}

/// PostgreSQL only: what sharing the database between replicas adds to the contract.
@Suite("PostgreSQL shared store: leases and fencing", .serialized, .enabled(if: PostgresFixture.url != nil))
struct PostgresSharedStoreTests {
    @Test("an owner write without the shard's lease changes nothing (fencing)")
    func fencing() async throws {
        try await PostgresFixture.withStore(replica: "fence-a", emptied: true) { store in
            let row = TaskStoreContractTests.row("f1")
            try store.saveNow([row])
            await store.flush()
            #expect(try await store.load(row.key) == nil, "no lease: not written")
            #expect(try await store.acquire(count: StoredTask.shardCount, leaseSeconds: 60).count == StoredTask.shardCount)
            try store.saveNow([row])
            await store.flush()
            #expect(try await store.load(row.key) != nil)
            try await store.release([row.shard])
            var changed = row
            changed.status = "failed"
            try store.saveNow([changed])
            await store.flush()
            let after = try await store.load(row.key)
            #expect(after?.status == "running", "released: the write is refused")
        }
    }

    @Test("two replicas share the shards; a lease taken is not taken twice; expired leases are free again")
    func leases() async throws {
        try await PostgresFixture.withStore(replica: "lease-a", emptied: true) { a in
            try await PostgresFixture.withStore(replica: "lease-b", emptied: false) { b in
                let roundA = try await a.renew(leaseSeconds: 3)
                _ = try await b.renew(leaseSeconds: 3)
                #expect(roundA.unowned == StoredTask.shardCount)
                let takenA = try await a.acquire(count: 32, leaseSeconds: 3)
                let takenB = try await b.acquire(count: 64, leaseSeconds: 3)
                #expect(takenA.count == 32)
                #expect(takenB.count == 32)
                #expect(takenA.isDisjoint(with: takenB))
                let view = try await b.renew(leaseSeconds: 3)
                #expect(view.replicas == ["lease-a", "lease-b"])
                #expect(view.held == takenB)
                #expect(view.unowned == 0)
                // a stops renewing: its leases run out by the database's clock and b may take them.
                try await eventually("b takes the expired leases", timeout: 10) {
                    _ = try await b.renew(leaseSeconds: 3)
                    return try await b.acquire(count: 32, leaseSeconds: 3).count == 32
                }
                #expect(try await b.renew(leaseSeconds: 3).held.count == StoredTask.shardCount)
                #expect(try await a.renew(leaseSeconds: 3).held.isEmpty, "a's renewal finds nothing left to renew")
            }
        }
    }

    @Test("a registration is announced to LISTENing replicas")
    func notifications() async throws {
        try await PostgresFixture.withStore(replica: "notify-a", emptied: true) { a in
            try await PostgresFixture.withStore(replica: "notify-b", emptied: false) { b in
                var changes = b.changes.makeAsyncIterator()
                // The first key is the marker the listener yields once it listens.
                #expect(await changes.next() == PostgresTaskStore.resyncMarker)
                let key = TaskKey(account: "acct", taskID: "n1")
                _ = try await a.register(TaskRegistration(key: key, vendor: "zego", source: "api", fields: [:], labels: [:]))
                #expect(await changes.next() == key)
            }
        }
    }
}

/// The throwaway PostgreSQL server of the test command (scripts/postgres.sh).
enum PostgresFixture {
    static var url: String? { ProcessInfo.processInfo.environment["CLOUDREC_TEST_POSTGRES_URL"] }

    static func withStore(replica: String, emptied: Bool, _ body: @Sendable (PostgresTaskStore) async throws -> Void) async throws {
        var location = try PostgresLocation.parse(try #require(url))
        if let password = ProcessInfo.processInfo.environment["CLOUDREC_TEST_POSTGRES_PASSWORD"] { location.password = Secret(password) }
        let store = try PostgresTaskStore(location: location, replicaID: replica, logger: Logger(label: "test"))
        let group = ServiceGroup(configuration: .init(services: [.init(service: store)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await eventually("the task database is ready", timeout: 30) { store.isPrepared }
                if emptied { try await store.emptyForTests() }
                try await body(store)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
