import CloudRecCore
import Foundation
import PostgresNIO

/// What one renewal round learned from the lease table.
public struct LeaseRound: Sendable, Hashable {
    /// The shards this replica still holds, renewed for another lease duration.
    public var held: Set<Int>
    /// Live replicas (a heartbeat within one lease duration), this one included, sorted.
    public var replicas: [String]
    /// Shards with no owner or an expired lease, as of this round.
    public var unowned: Int

    public init(held: Set<Int>, replicas: [String], unowned: Int) {
        self.held = held
        self.replicas = replicas
        self.unowned = unowned
    }
}

/// Leases on the logical shards (`StoredTask.shardCount`), held in the shared database. Expiry is the database's
/// clock (`now()`), so replicas' clocks need not agree; the replica itself stops using a lease earlier, by its own
/// monotonic clock (`ShardLeaseKeeper`).
public protocol ShardLeases: Sendable {
    var replicaID: String { get }
    /// The database is migrated and reachable at least once (no lease is tried before).
    var isPrepared: Bool { get }
    /// Heartbeat, renewal of every unexpired lease this replica holds, and the membership, in one transaction.
    func renew(leaseSeconds: Double) async throws -> LeaseRound
    /// Takes up to `count` shards that nobody holds (or whose lease expired). Returns the shards taken.
    func acquire(count: Int, leaseSeconds: Double) async throws -> Set<Int>
    /// Gives shards back at once (this replica stopped polling them).
    func release(_ shards: Set<Int>) async throws
    /// Leaves: every lease released and the heartbeat removed (graceful shutdown).
    func leave() async throws
}

extension PostgresTaskStore: ShardLeases {
    public func renew(leaseSeconds: Double) async throws -> LeaseRound {
        guard isPrepared else { throw StorageError("the task database is not ready yet") }
        return try await leaseClient.withTransaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO replicas (id, seen_at) VALUES (\(replicaID), now()) ON CONFLICT (id) DO UPDATE SET seen_at = now()
                """, logger: logger)
            var held = Set<Int>()
            for try await shard in try await connection.query("""
                UPDATE shard_leases SET expires_at = now() + make_interval(secs => \(leaseSeconds))
                WHERE owner = \(replicaID) AND expires_at > now() RETURNING shard
                """, logger: logger).decode(Int.self) { held.insert(shard) }
            var replicas: [String] = []
            for try await id in try await connection.query("""
                SELECT id FROM replicas WHERE seen_at > now() - make_interval(secs => \(leaseSeconds)) ORDER BY id
                """, logger: logger).decode(String.self) { replicas.append(id) }
            var unowned = 0
            for try await count in try await connection.query("""
                SELECT count(*) FROM shard_leases WHERE owner IS NULL OR expires_at <= now()
                """, logger: logger).decode(Int.self) { unowned = count }
            // Heartbeats of replicas gone for long are removed, so the table does not grow with every pod name.
            try await connection.query("""
                DELETE FROM replicas WHERE seen_at < now() - make_interval(secs => \(leaseSeconds * 20))
                """, logger: logger)
            return LeaseRound(held: held, replicas: replicas, unowned: unowned)
        }
    }

    public func acquire(count: Int, leaseSeconds: Double) async throws -> Set<Int> {
        guard count > 0 else { return [] }
        var taken = Set<Int>()
        for try await shard in try await leaseClient.query("""
            UPDATE shard_leases SET owner = \(replicaID), epoch = epoch + 1, expires_at = now() + make_interval(secs => \(leaseSeconds))
            WHERE shard IN (SELECT shard FROM shard_leases WHERE owner IS NULL OR expires_at <= now()
                            ORDER BY shard LIMIT \(count) FOR UPDATE SKIP LOCKED)
            RETURNING shard
            """, logger: logger).decode(Int.self) { taken.insert(shard) }
        return taken
    }

    public func release(_ shards: Set<Int>) async throws {
        guard !shards.isEmpty else { return }
        try await leaseClient.query("""
            UPDATE shard_leases SET owner = NULL, expires_at = now() WHERE owner = \(replicaID) AND shard = ANY(\(shards.sorted()))
            """, logger: logger)
    }

    public func leave() async throws {
        try await leaseClient.query("UPDATE shard_leases SET owner = NULL, expires_at = now() WHERE owner = \(replicaID)", logger: logger)
        try await leaseClient.query("DELETE FROM replicas WHERE id = \(replicaID)", logger: logger)
    }
}
