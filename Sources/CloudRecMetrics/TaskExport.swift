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
    /// Whether a running task's files stopped growing for `stall_after`; nil when that cannot be told.
    public var stalled: Bool?

    public init(vendor: Vendor, account: String, taskID: String, status: TaskStatus, vendorStatus: String,
                fileCounts: [FileFormat: Int] = [:], uploadCounts: [UploadState: Int]? = nil, totalSizeBytes: Int64? = nil,
                recordedSeconds: Double? = nil, startTime: Double? = nil, lastSuccess: Double? = nil,
                labels: [String: String] = [:], stalled: Bool? = nil) {
        self.labels = labels
        self.stalled = stalled
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
    /// 16 lanes for the 10 families, room to grow).
    let familyEnds: SIMD16<UInt32>

    public init(bytes: [UInt8], ends: [Int]) {
        precondition(ends.count == TaskFamilies.all.count && ends.last == bytes.count, "one end per family")
        self.bytes = bytes
        var packed = SIMD16<UInt32>()
        for (index, end) in ends.enumerated() { packed[index] = UInt32(end) }
        familyEnds = packed
    }

    /// A task with no samples: counted in the per-account gauges, not exported per task.
    public static let empty = RenderedTask(bytes: [], ends: [Int](repeating: 0, count: TaskFamilies.all.count))

    /// `ends[i]` is where family `i`'s samples end in `bytes`.
    public var ends: [Int] { (0..<TaskFamilies.all.count).map { Int(familyEnds[$0]) } }

    @inline(__always)
    func range(_ family: Int) -> Range<Int> {
        (family == 0 ? 0 : Int(familyEnds[family - 1]))..<Int(familyEnds[family])
    }

    public func slice(_ family: Int) -> ArraySlice<UInt8> { bytes[range(family)] }
}
