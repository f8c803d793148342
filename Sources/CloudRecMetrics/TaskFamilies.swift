import CloudRecCore
import Synchronization

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

    public static let stalled = MetricFamily(
        name: "cloudrec_task_stalled", type: .gauge,
        help: "1 when a running task's files (count, size, duration) have not grown for stall_after, else 0; only for running tasks whose vendor reports sizes or durations.")

    public static let labels = MetricFamily(
        name: "cloudrec_task_labels", type: .gauge,
        help: "Free labels given when the task was registered (allow-listed in the config), as label_<name>.")

    public static let all: [MetricFamily] = [status, info, files, uploadFiles, sizeBytes, recordedSeconds, startTime, lastSuccess, stalled, labels]
}

private extension MetricFamily {
    init(name: String, type: MetricType, help: String) { self.init(name: name, help: help, type: type) }
}
