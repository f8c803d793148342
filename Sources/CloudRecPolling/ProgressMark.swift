import CloudRecCore

/// How far a running task's files had got when they last grew (file count, total size, total duration, as the
/// vendor reports them), and since when. A running task whose files do not grow for `stall_after` is stalled.
public struct ProgressMark: Sendable, Codable, Hashable {
    public var files: Int
    public var sizeBytes: Int64?
    public var seconds: Double?
    /// When the files were last seen growing (or the task first seen running).
    public var since: Double

    init(_ observation: TaskObservation, at now: Double) {
        files = observation.files.count
        sizeBytes = observation.totalSizeBytes
        seconds = observation.totalDurationSeconds
        since = now
    }

    func sameProgress(as other: ProgressMark) -> Bool {
        files == other.files && sizeBytes == other.sizeBytes && seconds == other.seconds
    }

    /// Only a size or a duration measures progress: a file count alone does not (an HLS recording lists one growing
    /// index, and Agora MP4 slices appear only when they close), though a change in the count is progress too.
    var isMeasurable: Bool { sizeBytes != nil || seconds != nil }
}

extension TrackedTask {
    /// Follows a running task's progress after a successful poll; any other status clears it.
    mutating func trackProgress(now: Double) {
        guard status == .running, let observation else {
            progress = nil
            return
        }
        let mark = ProgressMark(observation, at: now)
        if let progress, progress.sameProgress(as: mark) { return }
        progress = mark
    }

    /// True when the task runs and its files have not grown for `stallAfter` seconds as of `now`; nil when that
    /// cannot be told (not running, or the vendor reports neither sizes nor durations).
    func isStalled(now: Double, stallAfter: Double) -> Bool? {
        guard status == .running, let progress, progress.isMeasurable else { return nil }
        return now - progress.since >= stallAfter
    }
}
