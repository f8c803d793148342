/// What one successful status query said about a task, normalised onto the common model.
public struct TaskObservation: Sendable, Codable, Hashable {
    /// The vendor's raw status exactly as sent (`5`, `InProgress`, `RECOVERING`), kept for `cloudrec_task_info`.
    public var vendorStatus: String
    public var status: TaskStatus
    public var files: [RecordingFile]
    /// True when the vendor reports an upload state for every file, so upload counts are meaningful.
    public var reportsUploadStates: Bool
    /// Unix seconds.
    public var startTime: Double?
    /// Unix seconds.
    public var endTime: Double?

    public init(vendorStatus: String, status: TaskStatus, files: [RecordingFile] = [], reportsUploadStates: Bool = false,
                startTime: Double? = nil, endTime: Double? = nil) {
        self.vendorStatus = vendorStatus
        self.status = status
        self.files = files
        self.reportsUploadStates = reportsUploadStates
        self.startTime = startTime
        self.endTime = endTime
    }

    public var totalSizeBytes: Int64? {
        let sizes = files.compactMap(\.sizeBytes)
        return sizes.isEmpty ? nil : sizes.reduce(0, +)
    }

    public var totalDurationSeconds: Double? {
        let durations = files.compactMap(\.durationSeconds)
        return durations.isEmpty ? nil : durations.reduce(0, +)
    }
}
