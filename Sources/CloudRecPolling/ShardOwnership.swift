import CloudRecCore
import CloudRecStorage
import Synchronization

/// Which tasks this replica polls and exports. Either a fixed slice (`--shard`/`--total-shards`, SQLite mode:
/// jump hash over the replica count) or, with the shared PostgreSQL store, the logical shards whose leases this
/// replica holds right now (`ShardLeaseKeeper` adds and removes them).
public final class ShardOwnership: Sendable {
    public enum Mode: Sendable, Hashable {
        case fixed(ShardSelector)
        case leased
    }

    public let mode: Mode
    private let leased = Mutex<Set<Int>>([])

    public init(_ selector: ShardSelector) { mode = .fixed(selector) }
    private init(leasedMode: Void) { mode = .leased }
    /// HA mode: owns nothing until leases are taken.
    public static func leasedShards() -> ShardOwnership { ShardOwnership(leasedMode: ()) }

    public var isLeased: Bool { mode == .leased }

    public func keeps(_ key: TaskKey) -> Bool {
        switch mode {
        case let .fixed(selector): return selector.keeps(key)
        case .leased: return leased.withLock { $0.contains(StoredTask.shard(of: key)) }
        }
    }

    /// This replica's share of each account's `rate_limit`: 1/total_shards, or the leased shards over all shards.
    public var share: Double {
        switch mode {
        case let .fixed(selector): return 1 / Double(selector.totalShards)
        case .leased: return Double(leased.withLock { $0.count }) / Double(StoredTask.shardCount)
        }
    }

    public var owned: Set<Int> { leased.withLock { $0 } }
    func add(_ shards: Set<Int>) { leased.withLock { $0.formUnion(shards) } }
    func remove(_ shards: Set<Int>) { leased.withLock { $0.subtract(shards) } }
}
