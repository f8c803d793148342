import CloudRecCore
import Testing

/// The shard hash is kube-state-metrics' `sharding.keep`: jump consistent hash (github.com/dgryski/go-jump) over
/// FNV-1a-64 (Go's hash/fnv New64a) of the task identity `account/task_id`.
@Suite("Shard hash")
struct ShardingTests {
    @Test("FNV-1a-64 matches the published test vectors")
    func fnvVectors() {
        #expect(ShardSelector.fnv1a64("") == 0xcbf2_9ce4_8422_2325)
        #expect(ShardSelector.fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(ShardSelector.fnv1a64("foobar") == 0x8594_4171_f739_67e8)
    }

    /// go-jump's jump_test.go ("generated from the reference C++ code"): bucket for numBuckets = 1...19.
    @Test("jump hash matches go-jump's reference vectors", arguments: [
        (UInt64(1), [0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17]),
        (UInt64(0xdeadbeef), [0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16]),
        (UInt64(0x0ddc0ffeebadf00d), [0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15]),
    ])
    func jumpVectors(key: UInt64, buckets: [Int]) {
        for (index, expected) in buckets.enumerated() {
            #expect(ShardSelector.jumpHash(key: key, buckets: Int32(index + 1)) == Int32(expected), "buckets \(index + 1)")
        }
        #expect(ShardSelector.jumpHash(key: 0, buckets: 20) == 0)
    }

    /// Computed with an independent Python transcription of KSM's keep(): fnv.New64a over the bytes, then
    /// jump.Hash(sum, n), for n = 1, 2, 3, 4, 5, 8, 16, 100.
    @Test("shard assignment matches vectors computed from the KSM algorithm", arguments: [
        ("agora-prod", "sid-0001", UInt64(0x18f4_a18e_d932_3608), [0, 0, 0, 0, 0, 0, 10, 17]),
        ("agora-prod", "sid-0002", UInt64(0x18f4_a48e_d932_3b21), [0, 1, 2, 2, 2, 2, 10, 24]),
        ("agora-prod", "sid-0003", UInt64(0x18f4_a38e_d932_396e), [0, 0, 2, 3, 3, 7, 14, 74]),
        ("zego-main", "task-43", UInt64(0x8060_5dcd_00ab_266e), [0, 1, 1, 1, 4, 4, 14, 74]),
        ("zego-main", "task-44", UInt64(0x8060_60cd_00ab_2b87), [0, 1, 2, 2, 4, 5, 5, 5]),
        ("tencent.eu", "1400000001-room-9", UInt64(0xf862_3519_f785_03b9), [0, 0, 2, 2, 2, 7, 14, 92]),
        ("alibaba_live", "rec-üñí", UInt64(0x20a0_a279_da45_5edd), [0, 0, 0, 0, 0, 5, 8, 19]),
        ("agora-prod", "a\"b\\c", UInt64(0x1d0d_ed02_a464_2032), [0, 0, 2, 2, 2, 2, 12, 12]),
        ("bench", "task-000001", UInt64(0x2b67_5a22_48c4_0149), [0, 1, 2, 2, 4, 4, 15, 16]),
    ])
    func ksmVectors(account: String, task: String, hash: UInt64, shards: [Int]) {
        #expect(ShardSelector.fnv1a64(account + "/" + task) == hash)
        let key = TaskKey(account: account, taskID: task)
        for (total, expected) in zip([1, 2, 3, 4, 5, 8, 16, 100], shards) {
            #expect(ShardSelector.shard(of: key, totalShards: total) == expected, "total_shards \(total)")
            #expect(ShardSelector(shard: expected, totalShards: total)!.keeps(key))
        }
    }

    @Test("every task belongs to exactly one shard, and shards are even")
    func partitionAndDistribution() {
        let total = 4
        let selectors = (0..<total).map { ShardSelector(shard: $0, totalShards: total)! }
        var sizes = [Int](repeating: 0, count: total)
        let tasks = 40_000
        for index in 0..<tasks {
            let key = TaskKey(account: "acct-\(index % 7)", taskID: "task-\(index)")
            let owners = selectors.filter { $0.keeps(key) }
            #expect(owners.count == 1)
            if let owner = owners.first { sizes[owner.shard] += 1 }
        }
        // Each shard within ±5% of an even split (the hash is uniform; 40,000 keys give about ±1.5% at 3 sigma).
        for size in sizes { #expect(abs(Double(size) / Double(tasks / total) - 1) < 0.05, "\(sizes)") }
    }

    @Test("growing from 4 to 5 shards moves only about a fifth of the tasks, all to the new shard")
    func consistency() {
        var moved = 0
        let tasks = 20_000
        for index in 0..<tasks {
            let key = TaskKey(account: "acct", taskID: "t\(index)")
            let before = ShardSelector.shard(of: key, totalShards: 4)
            let after = ShardSelector.shard(of: key, totalShards: 5)
            if before != after {
                moved += 1
                #expect(after == 4)
            }
        }
        #expect(abs(Double(moved) / Double(tasks) - 0.2) < 0.02)
    }

    @Test("invalid shard settings are rejected; one shard keeps everything")
    func validation() {
        #expect(ShardSelector(shard: 0, totalShards: 0) == nil)
        #expect(ShardSelector(shard: 2, totalShards: 2) == nil)
        #expect(ShardSelector(shard: -1, totalShards: 2) == nil)
        #expect(ShardSelector(shard: 1, totalShards: 2) != nil)
        #expect(ShardSelector.unsharded.keeps(TaskKey(account: "a", taskID: "b")))
        #expect(!ShardSelector.unsharded.isSharded)
        #expect(ShardSelector(shard: 1, totalShards: 3)?.description == "1/3")
    }
}
