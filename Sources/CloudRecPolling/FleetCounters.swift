import CloudRecCore
import CloudRecMetrics

/// Counters that outlive tasks: what began being tracked, how recordings ended, how files ended, how much was
/// recorded, per account (never per task). Each event is counted once, by the tracker, which keeps what it counted
/// with the task (CountedEvents.swift). They restart at 0 only when the process does.
public final class FleetCounters: Sendable {
    public let started = CounterFamily(
        name: "cloudrec_tasks_started_total",
        help: "Tasks that began being tracked, by the source that named them first (config, api, file, discovery, callback).",
        labelNames: ["vendor", "account", "source"])
    public let finished = CounterFamily(
        name: "cloudrec_tasks_finished_total",
        help: "Tasks that finished, by final common status (completed, failed) and how the end was found (vendor_status, not_found, callback).",
        labelNames: ["vendor", "account", "status", "found_by"])
    public let files = CounterFamily(
        name: "cloudrec_files_finished_total",
        help: "Recorded files that reached a final upload state (uploaded, backup_uploaded, failed), where the vendor or its callbacks tell.",
        labelNames: ["vendor", "account", "upload_state"])
    public let recordedSeconds = CounterFamily(
        name: "cloudrec_recorded_seconds_total",
        help: "Duration of the files of finished tasks, in seconds, where the vendor reports it.",
        labelNames: ["vendor", "account"])
    public let recordedBytes = CounterFamily(
        name: "cloudrec_recorded_bytes_total",
        help: "Size of the files of finished tasks, in bytes, where the vendor reports it.",
        labelNames: ["vendor", "account"])

    public init() {}

    /// Makes every series of an account visible at 0, so `rate()` and the ratio rules see the first event.
    public func registerAccount(vendor: Vendor, account: String) {
        let base = [vendor.rawValue, account]
        for source in TaskSource.allCases { started.touch(base + [source.rawValue]) }
        for status in [TaskStatus.completed, .failed] {
            for cause in FinishCause.allCases { finished.touch(base + [status.rawValue, cause.rawValue]) }
        }
        for state in UploadState.final { files.touch(base + [state.rawValue]) }
        recordedSeconds.touch(base)
        recordedBytes.touch(base)
    }

    func countStart(vendor: Vendor, account: String, source: TaskSource) {
        started.increment([vendor.rawValue, account, source.rawValue])
    }

    func count(_ events: FleetEvents, vendor: Vendor, account: String) {
        let base = [vendor.rawValue, account]
        if let finish = events.finished { finished.increment(base + [finish.status.rawValue, finish.foundBy.rawValue]) }
        for (state, count) in events.files { files.increment(base + [state.rawValue], by: Double(count)) }
        if events.recordedSeconds > 0 { recordedSeconds.increment(base, by: events.recordedSeconds) }
        if events.recordedBytes > 0 { recordedBytes.increment(base, by: Double(events.recordedBytes)) }
    }

    /// Tasks of an account finished with `status` since the process started, however the end was found.
    public func finishedCount(vendor: Vendor, account: String, status: TaskStatus) -> Double {
        FinishCause.allCases.reduce(0) { $0 + finished.value([vendor.rawValue, account, status.rawValue, $1.rawValue]) }
    }

    /// Files of an account that reached `state` since the process started.
    public func filesCount(vendor: Vendor, account: String, state: UploadState) -> Double {
        files.value([vendor.rawValue, account, state.rawValue])
    }

    public var families: [any ExposedFamily] { [started, finished, files, recordedSeconds, recordedBytes] }
}
