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
    /// Leased mode: the fencing deadline, when the leases must be taken as lost (the keeper moves it at each renewal).
    /// Past it nothing is kept, whatever the keeper is doing: the pollers check it before every call.
    private let fence = Mutex<ContinuousClock.Instant?>(nil)

    public init(_ selector: ShardSelector) { mode = .fixed(selector) }
    private init(leasedMode: Void) { mode = .leased }
    /// HA mode: owns nothing until leases are taken.
    public static func leasedShards() -> ShardOwnership { ShardOwnership(leasedMode: ()) }

    public var isLeased: Bool { mode == .leased }

    public func keeps(_ key: TaskKey) -> Bool {
        switch mode {
        case let .fixed(selector): return selector.keeps(key)
        case .leased:
            guard let until = fence.withLock({ $0 }), ContinuousClock.now < until else { return false }
            return leased.withLock { $0.contains(StoredTask.shard(of: key)) }
        }
    }

    /// Leased mode: the leases held are valid until `until` by this process's monotonic clock.
    func fence(until: ContinuousClock.Instant) { fence.withLock { $0 = until } }

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
