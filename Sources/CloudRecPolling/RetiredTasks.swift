import CloudRecCore

/// Finished tasks that were forgotten (after `ended_task_retention`, or removed by every source), with their end
/// time. A task named again later (a config entry on reload, a discovery listing, a registration repeated by a
/// retrying client) is then known to be counted already: its start, end and files are not counted twice, also after a
/// restart (the durable store keeps them). Kept for `memory` seconds after the end and at most `capacity` of them.
struct RetiredTasks: Sendable {
    static let memory: Double = 7 * 86_400
    static let capacity = 1_000_000

    private var ended: [TaskKey: Double] = [:]
    /// Entries that ended before this are dropped (from the last prune).
    private(set) var forgetBefore: Double = 0

    func contains(_ key: TaskKey) -> Bool { ended[key] != nil }
    var count: Int { ended.count }

    mutating func insert(_ tasks: [TaskKey: Double]) {
        ended.merge(tasks) { old, new in max(old, new) }
    }

    mutating func prune(now: Double) {
        forgetBefore = now - Self.memory
        ended = ended.filter { $0.value >= forgetBefore }
        if ended.count > Self.capacity {
            let kept = ended.sorted { $0.value > $1.value }.prefix(Self.capacity)
            ended = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
        }
    }
}
