import CloudRecCore

/// IMS `RecordJob.Status` → common status. No stopping, terminal or failed state is documented.
///
/// | IMS | meaning | common |
/// |---|---|---|
/// | `initial` | not started | initializing |
/// | `started` | in progress | running |
/// | `paused` | paused | paused |
/// | anything else | not documented (raw value kept in `vendorStatus`) | unknown |
/// | a `*NotFound*` / `*NotExist*` job code | gone, or never existed (exact code unconfirmed) | unknown, or ended if seen before |
public enum AlibabaIMSStatusMapping {
    public static func taskStatus(_ status: String) -> TaskStatus {
        switch status {
        case "initial": return .initializing
        case "started": return .running
        case "paused": return .paused
        default: return .unknown
        }
    }
}
