import CloudRecCore
import Synchronization

/// Pre-rendered series of every tracked task. Writers replace a task's lines when it changes; a scrape takes an O(1)
/// copy-on-write snapshot under the lock and concatenates outside it, so slow scrapers never block polling.
///
/// Tasks are kept in a dense array (a key → slot index gives O(1) replace, and removal swaps the last task into
/// the hole), with per-family sample counts and the total size maintained on every change: a scrape knows its exact
/// size up front and is one pass of `memcpy`s per family over a contiguous array.
public final class TaskSeriesStore: Sendable {
    struct Storage {
        var slots: [TaskKey: Int] = [:]
        var keys: [TaskKey] = []
        var tasks: [RenderedTask] = []
        /// A rendering serial per slot and family (`slot * families + family`): a new one whenever that family's lines
        /// of the task change, so equal serials mean equal lines. The gzip cache reuses a block's compressed form while
        /// its serials stay the same; a re-poll that moves only the last-success time changes one family's serial.
        var serials: [UInt64] = []
        var nextSerial: UInt64 = 0
        /// Each slot's status and stall, the tasks per account and status (`cloudrec_tasks`) and the stalled tasks
        /// per account (`cloudrec_tasks_stalled`), kept with the series so a scrape's counts always agree with its
        /// per-task series.
        var tallies: [Tally] = []
        var statusCounts: [String: [TaskStatus: Int]] = [:]
        var stalledCounts: [String: Int] = [:]
        /// Tasks that should have series but were left out by the cap, per account (`cloudrec_task_series_capped`).
        var cappedCounts: [String: Int] = [:]
        /// Tasks whose series are exported, and the most that may be (`global.max_task_series`).
        var shownCount = 0
        var cap: Int?
        var byteCount = 0
        /// How many tasks have samples in each family (a family's header is written when this is non-zero).
        var familyTasks = [Int](repeating: 0, count: TaskFamilies.all.count)
        var generation: UInt64 = 0

        mutating func count(_ tally: Tally, of key: TaskKey, _ sign: Int) {
            let count = (statusCounts[key.account]?[tally.status] ?? 0) + sign
            statusCounts[key.account, default: [:]][tally.status] = count == 0 ? nil : count
            if statusCounts[key.account]?.isEmpty == true { statusCounts[key.account] = nil }
            if tally.shown { shownCount += sign }
            if tally.stalled { Self.add(sign, to: &stalledCounts, key.account) }
            if tally.capped { Self.add(sign, to: &cappedCounts, key.account) }
        }

        private static func add(_ sign: Int, to counts: inout [String: Int], _ account: String) {
            let count = (counts[account] ?? 0) + sign
            counts[account] = count == 0 ? nil : count
        }

        mutating func account(_ task: RenderedTask, sign: Int) {
            byteCount += sign * task.bytes.count
            for family in familyTasks.indices where !task.range(family).isEmpty { familyTasks[family] += sign }
        }
    }

    /// What the per-account gauges count of a task, and whether its series are exported.
    struct Tally: Sendable, Hashable {
        var status: TaskStatus
        var stalled: Bool
        var shown: Bool
        /// Should have series, but the cap left them out.
        var capped: Bool

        init(_ export: TaskExport, shown: Bool, capped: Bool) {
            status = export.status
            stalled = export.stalled == true
            self.shown = shown
            self.capped = capped
        }
    }

    /// What a scrape renders: the rendered tasks at one instant, and their sizes.
    public struct Snapshot: Sendable {
        let tasks: [RenderedTask]
        let serials: [UInt64]
        let byteCount: Int
        let familyTasks: [Int]
        /// Tasks per account and status at the same instant as the series.
        public let statusCounts: [String: [TaskStatus: Int]]
        /// Stalled tasks per account at the same instant.
        public let stalledCounts: [String: Int]
        /// Tasks left without series by the cap, per account, at the same instant.
        public let cappedCounts: [String: Int]
        public let generation: UInt64

        public var count: Int { tasks.count }
        public var isEmpty: Bool { tasks.isEmpty }

        /// Bytes `write` appends for this snapshot in `format`.
        public func renderedSize(_ format: ExpositionFormat) -> Int {
            var size = byteCount
            for (family, tasks) in zip(TaskFamilies.all, familyTasks) where tasks > 0 { size += family.header(format).count }
            return size
        }

        /// Appends every family that has samples, each header once, samples grouped by family.
        public func write(_ format: ExpositionFormat, into out: inout [UInt8]) {
            guard !tasks.isEmpty else { return }
            let size = renderedSize(format)
            out += [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
                initialized = write(format, to: buffer)
            }
        }

        /// Writes the families into `buffer`, which must hold `renderedSize(format)` bytes; returns the bytes written.
        /// Every slice is copied straight into place: one pass per family over the contiguous task array.
        public func write(_ format: ExpositionFormat, to buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
            guard !tasks.isEmpty, let base = buffer.baseAddress else { return 0 }
            precondition(buffer.count >= renderedSize(format), "buffer too small")
            var offset = 0
            for (family, definition) in TaskFamilies.all.enumerated() where familyTasks[family] > 0 {
                let header = definition.header(format)
                header.withUnsafeBufferPointer { h in
                    (base + offset).update(from: h.baseAddress!, count: h.count)
                }
                offset += header.count
                tasks.withUnsafeBufferPointer { all in
                    for task in all {
                        let range = task.range(family)
                        let length = range.count
                        if length == 0 { continue }
                        task.bytes.withUnsafeBufferPointer { bytes in
                            (base + offset).update(from: bytes.baseAddress! + range.lowerBound, count: length)
                        }
                        offset += length
                    }
                }
            }
            return offset
        }
    }

    private let storage = Mutex(Storage())

    public init() {}

    static let familyCount = TaskFamilies.all.count

    /// Sets a task's series. With `show` false (or when `max_task_series` tasks already have series) the task is only
    /// counted in the per-account gauges: it has a slot with no samples.
    public func set(_ key: TaskKey, _ export: TaskExport, show: Bool = true) {
        let rendered = show ? TaskRenderer.render(export) : RenderedTask.empty
        storage.withLock { s in
            s.generation &+= 1
            s.nextSerial &+= 1
            let wasShown = s.slots[key].map { s.tallies[$0].shown } ?? false
            let shown = show && (wasShown || s.shownCount < (s.cap ?? Int.max))
            let tally = Tally(export, shown: shown, capped: show && !shown)
            let rendered = shown ? rendered : RenderedTask.empty
            s.account(rendered, sign: 1)
            s.count(tally, of: key, 1)
            if let slot = s.slots[key] {
                s.account(s.tasks[slot], sign: -1)
                s.count(s.tallies[slot], of: key, -1)
                let old = s.tasks[slot]
                for family in 0..<Self.familyCount where !old.slice(family).elementsEqual(rendered.slice(family)) {
                    s.serials[slot * Self.familyCount + family] = s.nextSerial
                }
                s.tasks[slot] = rendered
                s.tallies[slot] = tally
            } else {
                s.slots[key] = s.tasks.count
                s.keys.append(key)
                s.tasks.append(rendered)
                s.serials.append(contentsOf: repeatElement(s.nextSerial, count: Self.familyCount))
                s.tallies.append(tally)
            }
        }
    }

    public func remove(_ key: TaskKey) {
        storage.withLock { s in Self.remove(key, from: &s) }
    }

    private static func remove(_ key: TaskKey, from s: inout Storage) {
        guard let slot = s.slots.removeValue(forKey: key) else { return }
        s.generation &+= 1
        s.account(s.tasks[slot], sign: -1)
        s.count(s.tallies[slot], of: key, -1)
        let last = s.tasks.count - 1
        if slot != last {
            s.tasks[slot] = s.tasks[last]
            for family in 0..<familyCount { s.serials[slot * familyCount + family] = s.serials[last * familyCount + family] }
            s.keys[slot] = s.keys[last]
            s.tallies[slot] = s.tallies[last]
            s.slots[s.keys[slot]] = slot
        }
        s.tasks.removeLast()
        s.serials.removeLast(familyCount)
        s.keys.removeLast()
        s.tallies.removeLast()
    }

    public func removeAll(where predicate: (TaskKey) -> Bool) {
        storage.withLock { s in
            for key in s.keys.filter(predicate) { Self.remove(key, from: &s) }
        }
    }

    public var count: Int { storage.withLock { $0.tasks.count } }

    /// Tasks whose series are exported (the others are only counted).
    public var shownCount: Int { storage.withLock { $0.shownCount } }

    /// Whether the task's series are exported, or were wanted but left out by the cap; nil when the store does not
    /// hold the task.
    public func exportState(_ key: TaskKey) -> (shown: Bool, capped: Bool)? {
        storage.withLock { s in s.slots[key].map { (s.tallies[$0].shown, s.tallies[$0].capped) } }
    }

    /// Whether the cap leaves room for another task's series.
    public var hasRoom: Bool { storage.withLock { $0.shownCount < ($0.cap ?? Int.max) } }

    /// `global.max_task_series` (nil: no cap). Applies to tasks set from now on: to apply it to all, set them again
    /// after `removeAll`.
    public func setCap(_ cap: Int?) { storage.withLock { $0.cap = cap } }

    /// Changes since the store was created (wraps); equal generations mean equal contents.
    public var generation: UInt64 { storage.withLock { $0.generation } }

    /// The rendered tasks at this instant (O(1): copy-on-write).
    public func renderSnapshot() -> Snapshot {
        storage.withLock { s in Snapshot(tasks: s.tasks, serials: s.serials, byteCount: s.byteCount, familyTasks: s.familyTasks,
                                 statusCounts: s.statusCounts, stalledCounts: s.stalledCounts, cappedCounts: s.cappedCounts,
                                 generation: s.generation) }
    }
}
