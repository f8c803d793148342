/// Which tasks this replica polls when several replicas share the work (`--shard=i --total-shards=n`).
///
/// The kube-state-metrics algorithm (`pkg/sharding/listwatch.go`, `keep`): jump consistent hash over FNV-1a-64 of
/// the object's identity. Our identity is `account + "/" + task_id` (account names cannot contain `/`, so the
/// string is unambiguous). The assignment depends only on the task and `total_shards`, never on the replica's
/// state, so every replica agrees on it without talking to the others; growing from n to n+1 shards moves only
/// about 1/(n+1) of the tasks.
public struct ShardSelector: Sendable, Hashable, CustomStringConvertible {
    public let shard: Int
    public let totalShards: Int

    public static let unsharded = ShardSelector(uncheckedShard: 0, totalShards: 1)

    /// Returns nil unless `0 <= shard < totalShards`.
    public init?(shard: Int, totalShards: Int) {
        guard totalShards >= 1, shard >= 0, shard < totalShards, totalShards <= Int(Int32.max) else { return nil }
        self.shard = shard
        self.totalShards = totalShards
    }

    private init(uncheckedShard shard: Int, totalShards: Int) {
        self.shard = shard
        self.totalShards = totalShards
    }

    public var isSharded: Bool { totalShards > 1 }

    /// The shard that owns a task.
    public static func shard(of key: TaskKey, totalShards: Int) -> Int {
        Int(jumpHash(key: fnv1a64(key.account + "/" + key.taskID), buckets: Int32(clamping: totalShards)))
    }

    /// True when this replica polls (and exports) the task.
    public func keeps(_ key: TaskKey) -> Bool {
        totalShards == 1 || Self.shard(of: key, totalShards: totalShards) == shard
    }

    public var description: String { "\(shard)/\(totalShards)" }

    /// FNV-1a, 64 bit, over the UTF-8 bytes (Go's `hash/fnv.New64a`).
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// Jump consistent hash (Lamping and Veach 2014), bit for bit as `github.com/dgryski/go-jump` `Hash`.
    public static func jumpHash(key: UInt64, buckets: Int32) -> Int32 {
        precondition(buckets >= 1, "jump hash needs at least one bucket")
        var key = key
        var b: Int64 = -1
        var j: Int64 = 0
        while j < Int64(buckets) {
            b = j
            key = key &* 2_862_933_555_777_941_757 &+ 1
            j = Int64(Double(b + 1) * (Double(Int64(1) << 31) / Double((key >> 33) + 1)))
        }
        return Int32(b)
    }
}
