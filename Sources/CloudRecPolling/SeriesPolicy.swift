import CloudRecCore

/// Which tasks get per-task series (`global.task_series`, `max_task_series`), and what the `attention` mode needs
/// to judge a task: each account's poll interval.
public struct SeriesPolicy: Sendable, Hashable {
    public var mode: TaskSeriesMode = .all
    public var cap: Int?
    public var pollIntervals: [String: Double] = [:]
    /// Poll interval assumed for an account the policy does not know.
    public static let defaultPollInterval: Double = 30

    /// How long a task may sit in a transitional status before it needs attention (the thresholds of
    /// CloudRecTaskStuckTransitional): recorders join within seconds; the final upload can take a while.
    static let stuckAfter: [TaskStatus: Double] = [.initializing: 600, .stopping: 1800]
    /// Polls in a row a task may go without a successful answer before it needs attention.
    static let missedPolls: Double = 3

    public init(mode: TaskSeriesMode = .all, cap: Int? = nil, pollIntervals: [String: Double] = [:]) {
        self.mode = mode
        self.cap = cap
        self.pollIntervals = pollIntervals
    }

    /// Whether the task gets series now.
    func shows(_ task: TrackedTask, now: Double) -> Bool {
        switch mode {
        case .all: true
        case .none: false
        case .attention: task.needsAttention(now: now, pollInterval: pollIntervals[task.spec.account] ?? Self.defaultPollInterval)
        }
    }
}

extension TrackedTask {
    /// Why a human should look at the task, empty when nothing: failed, files failed or only in the vendor's backup,
    /// stalled, stuck in a transitional status, or not polled successfully for three poll intervals while it still
    /// needs polling.
    public func attentionReasons(now: Double, pollInterval: Double) -> [String] {
        var reasons: [String] = []
        if status == .failed { reasons.append("failed") }
        if let uploads = mergedUploadCounts {
            if (uploads[.failed] ?? 0) > 0 { reasons.append("upload failed") }
            if (uploads[.backupUploaded] ?? 0) > 0 { reasons.append("backup storage only") }
        }
        if stalled == true, status == .running { reasons.append("stalled") }
        if let limit = SeriesPolicy.stuckAfter[status], now - (statusSince ?? registeredAt) >= limit {
            reasons.append("stuck \(status.rawValue)")
        }
        if needsPolling, now - (lastSuccess ?? registeredAt) >= SeriesPolicy.missedPolls * pollInterval {
            reasons.append("not polled successfully")
        }
        return reasons
    }

    func needsAttention(now: Double, pollInterval: Double) -> Bool {
        !attentionReasons(now: now, pollInterval: pollInterval).isEmpty
    }
}
