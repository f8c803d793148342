import CloudRecCore

/// TRTC `Response.Status` and error codes → common model.
///
/// | TRTC | meaning | common |
/// |---|---|---|
/// | `Idle` | task up, nobody publishing yet (about 15 s after Create) | running |
/// | `InProgress` | recording | running |
/// | `Exited` | task is exiting (transient, not final) | stopping |
/// | anything else | undocumented | unknown |
/// | error `FailedOperation.TaskNotExist`, `FailedOperation.TaskFinished`, `ResourceNotFound[.*]`, `InvalidParameter.TaskId` | ended, or never existed | not_found: completed if the task was seen before, else unknown |
///
/// There is no per-file upload state: files are listed by name only and hidden while they upload to VOD; upload
/// outcomes arrive only in callbacks 305, 310, 311 and 312.
public enum TencentTRTCStatusMapping {
    public static func taskStatus(_ status: String) -> TaskStatus {
        switch status {
        case "Idle", "InProgress": return .running
        case "Exited": return .stopping
        default: return .unknown
        }
    }
}
