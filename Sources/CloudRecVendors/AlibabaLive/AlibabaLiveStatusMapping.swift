import CloudRecCore

/// ApsaraVideo Live `TaskInfo.Status` → common status.
///
/// | Live | meaning | common |
/// |---|---|---|
/// | `RUNNING` | recording | running |
/// | `RECOVERING` | automatic failover in progress; alive but degraded (raw value kept in `vendorStatus`) | running |
/// | `STOPPING` | stop requested | stopping |
/// | `STOPPED` | ended; failures show only in callbacks, so an abnormal end also reads `STOPPED` | completed |
/// | anything else | not documented | unknown |
/// | `Code` `NotFound.Task` (HTTP 400) | never existed or purged | unknown, or ended if it was seen before |
/// | `Code` `InvalidParameter.TaskId` (HTTP 400) | not running/recovering, or created over 3 days ago | ended if seen before; else unknown, dropped after the retention |
public enum AlibabaLiveStatusMapping {
    public static func taskStatus(_ status: String) -> TaskStatus {
        switch status {
        case "RUNNING", "RECOVERING": return .running
        case "STOPPING": return .stopping
        case "STOPPED": return .completed
        default: return .unknown
        }
    }
}
