import CloudRecCore
import Synchronization

/// Everything the exporter publishes about one task; rendered once per change into `RenderedTask`.
public struct TaskExport: Sendable, Hashable {
    public var vendor: Vendor
    public var account: String
    public var taskID: String
    public var status: TaskStatus
    public var vendorStatus: String
    public var fileCounts: [FileFormat: Int]
    /// Present only when the vendor (or a callback) reports per-file upload states; then all five are exported.
    public var uploadCounts: [UploadState: Int]?
    public var totalSizeBytes: Int64?
    public var recordedSeconds: Double?
    public var startTime: Double?
    public var lastSuccess: Double?
    /// Free labels (allow-listed), exported as `label_<name>` on `cloudrec_task_labels`.
    public var labels: [String: String]

    public init(vendor: Vendor, account: String, taskID: String, status: TaskStatus, vendorStatus: String,
                fileCounts: [FileFormat: Int] = [:], uploadCounts: [UploadState: Int]? = nil, totalSizeBytes: Int64? = nil,
                recordedSeconds: Double? = nil, startTime: Double? = nil, lastSuccess: Double? = nil,
                labels: [String: String] = [:]) {
        self.labels = labels
        self.vendor = vendor
        self.account = account
        self.taskID = taskID
        self.status = status
        self.vendorStatus = vendorStatus
        self.fileCounts = fileCounts
        self.uploadCounts = uploadCounts
        self.totalSizeBytes = totalSizeBytes
        self.recordedSeconds = recordedSeconds
        self.startTime = startTime
        self.lastSuccess = lastSuccess
    }
}

/// One task's samples, pre-rendered into a single buffer with one slice per family (the kube-state-metrics design:
/// a scrape only concatenates).
public struct RenderedTask: Sendable {
    public let bytes: [UInt8]
    /// `familyEnds[i]` is where family `i`'s samples end in `bytes` (kept inline: no second allocation per task;
    /// 16 lanes for the 9 families, room to grow).
    let familyEnds: SIMD16<UInt32>

    public init(bytes: [UInt8], ends: [Int]) {
        precondition(ends.count == TaskFamilies.all.count && ends.last == bytes.count, "one end per family")
        self.bytes = bytes
        var packed = SIMD16<UInt32>()
        for (index, end) in ends.enumerated() { packed[index] = UInt32(end) }
        familyEnds = packed
    }

    /// `ends[i]` is where family `i`'s samples end in `bytes`.
    public var ends: [Int] { (0..<TaskFamilies.all.count).map { Int(familyEnds[$0]) } }

    @inline(__always)
    func range(_ family: Int) -> Range<Int> {
        (family == 0 ? 0 : Int(familyEnds[family - 1]))..<Int(familyEnds[family])
    }

    public func slice(_ family: Int) -> ArraySlice<UInt8> { bytes[range(family)] }
}

/// The per-task families, in exposition order. Names are a public interface.
public enum TaskFamilies {
    public static let status = MetricFamily(
        name: "cloudrec_task_status", type: .gauge,
        help: "Current common status of a recording task (1 for the current status, 0 for the others). Cached from the last poll.")
    public static let info = MetricFamily(
        name: "cloudrec_task_info", type: .gauge,
        help: "Recording task information; vendor_status is the raw status the vendor reported.")
    public static let files = MetricFamily(
        name: "cloudrec_task_files", type: .gauge, help: "Number of recorded files of a task, by format.")
    public static let uploadFiles = MetricFamily(
        name: "cloudrec_task_upload_files", type: .gauge,
        help: "Number of files of a task per upload state, for vendors or callbacks that report upload states.")
    public static let sizeBytes = MetricFamily(
        name: "cloudrec_task_file_size_bytes", type: .gauge, help: "Total size of a task's recorded files in bytes, where the vendor reports it.")
    public static let recordedSeconds = MetricFamily(
        name: "cloudrec_task_recorded_seconds", type: .gauge, help: "Total duration of a task's recorded files in seconds, where the vendor reports it.")
    public static let startTime = MetricFamily(
        name: "cloudrec_task_start_time_seconds", type: .gauge, help: "Unix time the recording started, where the vendor reports it.")
    public static let lastSuccess = MetricFamily(
        name: "cloudrec_task_last_success_timestamp_seconds", type: .gauge, help: "Unix time of the last successful status query of a task.")

    public static let labels = MetricFamily(
        name: "cloudrec_task_labels", type: .gauge,
        help: "Free labels given when the task was registered (allow-listed in the config), as label_<name>.")

    public static let all: [MetricFamily] = [status, info, files, uploadFiles, sizeBytes, recordedSeconds, startTime, lastSuccess, labels]
}

private extension MetricFamily {
    init(name: String, type: MetricType, help: String) { self.init(name: name, help: help, type: type) }
}

public enum TaskRenderer {
    public static func render(_ task: TaskExport) -> RenderedTask {
        var out: [UInt8] = []
        out.reserveCapacity(1400)
        var ends: [Int] = []
        ends.reserveCapacity(TaskFamilies.all.count)
        let identity = [("vendor", task.vendor.rawValue), ("account", task.account), ("task_id", task.taskID)]

        for status in TaskStatus.allCases {
            SampleWriter.appendSample(into: &out, name: TaskFamilies.status.name, labels: identity + [("status", status.rawValue)],
                                      value: status == task.status ? 1 : 0)
        }
        ends.append(out.count)
        SampleWriter.appendSample(into: &out, name: TaskFamilies.info.name, labels: identity + [("vendor_status", task.vendorStatus)], value: 1)
        ends.append(out.count)
        for format in FileFormat.allCases {
            if let count = task.fileCounts[format], count > 0 {
                SampleWriter.appendSample(into: &out, name: TaskFamilies.files.name, labels: identity + [("format", format.rawValue)],
                                          value: Double(count))
            }
        }
        ends.append(out.count)
        if let uploads = task.uploadCounts {
            for state in UploadState.allCases {
                SampleWriter.appendSample(into: &out, name: TaskFamilies.uploadFiles.name,
                                          labels: identity + [("upload_state", state.rawValue)], value: Double(uploads[state] ?? 0))
            }
        }
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.sizeBytes, identity, task.totalSizeBytes.map(Double.init))
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.recordedSeconds, identity, task.recordedSeconds)
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.startTime, identity, task.startTime)
        ends.append(out.count)
        appendOptional(&out, TaskFamilies.lastSuccess, identity, task.lastSuccess)
        ends.append(out.count)
        if !task.labels.isEmpty {
            let extra = task.labels.sorted { $0.key < $1.key }.map { ("label_\($0.key)", $0.value) }
            SampleWriter.appendSample(into: &out, name: TaskFamilies.labels.name, labels: identity + extra, value: 1)
        }
        ends.append(out.count)
        // Trim the reservation when more than an eighth of it is unused (as kube-state-metrics does).
        if out.capacity - out.count > out.count / 8 { out = out.withUnsafeBufferPointer { Array($0) } }
        return RenderedTask(bytes: out, ends: ends)
    }

    private static func appendOptional(_ out: inout [UInt8], _ family: MetricFamily, _ labels: [(String, String)], _ value: Double?) {
        if let value { SampleWriter.appendSample(into: &out, name: family.name, labels: labels, value: value) }
    }
}

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
        /// Each slot's status, and the tasks per account and status (`cloudrec_tasks`), kept with the series so a
        /// scrape's counts always agree with its per-task series.
        var statuses: [TaskStatus] = []
        var statusCounts: [String: [TaskStatus: Int]] = [:]
        var byteCount = 0
        /// How many tasks have samples in each family (a family's header is written when this is non-zero).
        var familyTasks = [Int](repeating: 0, count: TaskFamilies.all.count)
        var generation: UInt64 = 0

        mutating func countStatus(_ status: TaskStatus, of key: TaskKey, _ sign: Int) {
            let count = (statusCounts[key.account]?[status] ?? 0) + sign
            statusCounts[key.account]?[status] = count == 0 ? nil : count
            if statusCounts[key.account]?.isEmpty == true { statusCounts[key.account] = nil }
        }

        mutating func account(_ task: RenderedTask, sign: Int) {
            byteCount += sign * task.bytes.count
            for family in familyTasks.indices where !task.range(family).isEmpty { familyTasks[family] += sign }
        }
    }

    /// What a scrape renders: the rendered tasks at one instant, and their sizes.
    public struct Snapshot: Sendable {
        let tasks: [RenderedTask]
        let byteCount: Int
        let familyTasks: [Int]
        /// Tasks per account and status at the same instant as the series.
        public let statusCounts: [String: [TaskStatus: Int]]
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

    public func set(_ key: TaskKey, _ export: TaskExport) {
        let rendered = TaskRenderer.render(export)
        storage.withLock { s in
            s.generation &+= 1
            s.account(rendered, sign: 1)
            s.statusCounts[key.account, default: [:]][export.status, default: 0] += 1
            if let slot = s.slots[key] {
                s.account(s.tasks[slot], sign: -1)
                s.countStatus(s.statuses[slot], of: key, -1)
                s.tasks[slot] = rendered
                s.statuses[slot] = export.status
            } else {
                s.slots[key] = s.tasks.count
                s.keys.append(key)
                s.tasks.append(rendered)
                s.statuses.append(export.status)
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
        s.countStatus(s.statuses[slot], of: key, -1)
        let last = s.tasks.count - 1
        if slot != last {
            s.tasks[slot] = s.tasks[last]
            s.keys[slot] = s.keys[last]
            s.statuses[slot] = s.statuses[last]
            s.slots[s.keys[slot]] = slot
        }
        s.tasks.removeLast()
        s.keys.removeLast()
        s.statuses.removeLast()
    }

    public func removeAll(where predicate: (TaskKey) -> Bool) {
        storage.withLock { s in
            for key in s.keys.filter(predicate) { Self.remove(key, from: &s) }
        }
    }

    public var count: Int { storage.withLock { $0.tasks.count } }

    /// Changes since the store was created (wraps); equal generations mean equal contents.
    public var generation: UInt64 { storage.withLock { $0.generation } }

    /// The rendered tasks at this instant (O(1): copy-on-write).
    public func renderSnapshot() -> Snapshot {
        storage.withLock { s in Snapshot(tasks: s.tasks, byteCount: s.byteCount, familyTasks: s.familyTasks, statusCounts: s.statusCounts,
                                 generation: s.generation) }
    }

    /// Every task's rendered series by key (builds a dictionary: for tests and tools, not the scrape path).
    public func snapshot() -> [TaskKey: RenderedTask] {
        storage.withLock { s in Dictionary(uniqueKeysWithValues: zip(s.keys, s.tasks)) }
    }

    /// Appends every family that has samples, each header once.
    public static func write(_ snapshot: [TaskKey: RenderedTask], format: ExpositionFormat, into out: inout [UInt8]) {
        guard !snapshot.isEmpty else { return }
        for (index, family) in TaskFamilies.all.enumerated() {
            var wroteHeader = false
            for rendered in snapshot.values {
                let slice = rendered.slice(index)
                if slice.isEmpty { continue }
                if !wroteHeader {
                    out.append(contentsOf: family.header(format))
                    wroteHeader = true
                }
                out.append(contentsOf: slice)
            }
        }
    }
}
