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
    /// `ends[i]` is where family `i`'s samples end in `bytes`.
    public let ends: [Int]

    public func slice(_ family: Int) -> ArraySlice<UInt8> {
        bytes[(family == 0 ? 0 : ends[family - 1])..<ends[family]]
    }
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
        return RenderedTask(bytes: out, ends: ends)
    }

    private static func appendOptional(_ out: inout [UInt8], _ family: MetricFamily, _ labels: [(String, String)], _ value: Double?) {
        if let value { SampleWriter.appendSample(into: &out, name: family.name, labels: labels, value: value) }
    }
}

/// Pre-rendered series of every tracked task. Writers replace a task's lines when it changes; a scrape takes an O(1)
/// copy-on-write snapshot under the lock and concatenates outside it, so slow scrapers never block polling.
public final class TaskSeriesStore: Sendable {
    private let tasks = Mutex<[TaskKey: RenderedTask]>([:])

    public init() {}

    public func set(_ key: TaskKey, _ export: TaskExport) {
        let rendered = TaskRenderer.render(export)
        tasks.withLock { $0[key] = rendered }
    }

    public func remove(_ key: TaskKey) {
        _ = tasks.withLock { $0.removeValue(forKey: key) }
    }

    public func removeAll(where predicate: (TaskKey) -> Bool) {
        tasks.withLock { all in
            for key in all.keys where predicate(key) { all.removeValue(forKey: key) }
        }
    }

    public var count: Int { tasks.withLock { $0.count } }

    public func snapshot() -> [TaskKey: RenderedTask] { tasks.withLock { $0 } }

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
