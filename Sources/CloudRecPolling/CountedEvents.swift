import CloudRecCore

/// How a task was found finished, the `found_by` label of `cloudrec_tasks_finished_total`.
public enum FinishCause: String, Sendable, Codable, Hashable, CaseIterable {
    /// The vendor's status API reported a terminal status.
    case vendorStatus = "vendor_status"
    /// The vendor answered not-found after it had shown the task (Tencent, Agora forget ended recordings).
    case notFound = "not_found"
    /// A verified callback said the recording exited.
    case callback
}

/// What of a task has already gone into the fleet counters (FleetCounters.swift). Stored with the task in the durable
/// store, so a restart, a reload or a second source naming the task never counts the same event twice, and restoring
/// the task does not replay its past into counters that restarted at 0.
public struct CountedEvents: Sendable, Codable, Hashable {
    public struct Finish: Sendable, Codable, Hashable {
        public var status: TaskStatus
        public var foundBy: FinishCause
    }

    /// The end counted, if any.
    public var finished: Finish?
    /// The final upload state last counted per file name (`""`: the task counted as one file, see CallbackEvidence).
    public var files: [String: UploadState] = [:]
    /// Recorded seconds and bytes counted so far (counted once the task has ended, growth after that included).
    public var recordedSeconds: Double = 0
    public var recordedBytes: Int64 = 0
    /// A task that was already finished and forgotten, then named again (a config entry on reload, a listing): its
    /// events were counted the first time round, so nothing of it is counted again.
    public var closed = false

    public init(closed: Bool = false) { self.closed = closed }
}

/// New events of one task, to be added to the fleet counters.
public struct FleetEvents: Sendable, Hashable {
    public var finished: CountedEvents.Finish?
    public var files: [UploadState: Int] = [:]
    public var recordedSeconds: Double = 0
    public var recordedBytes: Int64 = 0

    public var isEmpty: Bool { finished == nil && files.isEmpty && recordedSeconds == 0 && recordedBytes == 0 }
}

extension UploadState {
    /// The states a file ends in: `cloudrec_files_finished_total` counts files reaching one of them.
    public static let final: [UploadState] = [.uploaded, .backupUploaded, .failed]
    public var isFinal: Bool { Self.final.contains(self) }
}

extension TrackedTask {
    /// Files in a final upload state by name, from the same merge of polled and callback states that
    /// `cloudrec_task_upload_files` shows (`""` stands for the task counted as one file).
    var finalUploadStates: [String: UploadState] {
        var states: [String: UploadState] = [:]
        for file in mergedUploadStates ?? [] where file.state.isFinal { states[file.name] = file.state }
        return states
    }

    /// Marks what is new since the last call as counted and returns it. A task ends once (a later abnormal-exit
    /// callback turning a completed task `failed` is counted as a failure found by callback); each file is counted
    /// once per final state it reaches; recorded seconds and bytes count their growth once the task has ended.
    mutating func countNew() -> FleetEvents {
        var ledger = counted ?? CountedEvents()
        var events = FleetEvents()
        defer { counted = ledger }
        guard !ledger.closed else { return events }
        if endedAt != nil, status.isTerminal {
            if ledger.finished == nil {
                ledger.finished = .init(status: status, foundBy: endedBy ?? .vendorStatus)
                events.finished = ledger.finished
            } else if ledger.finished?.status == .completed, status == .failed {
                ledger.finished = .init(status: .failed, foundBy: .callback)
                events.finished = ledger.finished
            }
        }
        for (name, state) in finalUploadStates where ledger.files[name] != state {
            ledger.files[name] = state
            events.files[state, default: 0] += 1
        }
        if endedAt != nil {
            if let seconds = observation?.totalDurationSeconds, seconds > ledger.recordedSeconds {
                events.recordedSeconds = seconds - ledger.recordedSeconds
                ledger.recordedSeconds = seconds
            }
            if let bytes = observation?.totalSizeBytes, bytes > ledger.recordedBytes {
                events.recordedBytes = bytes - ledger.recordedBytes
                ledger.recordedBytes = bytes
            }
        }
        return events
    }
}
