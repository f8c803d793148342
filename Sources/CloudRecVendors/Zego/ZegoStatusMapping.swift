import CloudRecCore

/// ZEGO task `Data.Status` and file `RecordFiles[].Status` → common model.
///
/// | task | meaning | common |     | file | meaning | upload_state |
/// |---|---|---|---|---|---|---|
/// | 1 | initialized | initializing | | 1 | being recorded | recording |
/// | 2 | recording | running | | 2 | uploading | uploading |
/// | 3 | ended | completed | | 3 | uploaded | uploaded |
/// | 4 | ended abnormally | failed | | 4 | only on ZEGO backup (kept 3 days) | backup_uploaded |
/// | 5 | paused | paused | | 5 | failed on both | failed |
/// | `Code` 300001000 | unknown task | unknown / ended if seen before | | | | |
public enum ZegoStatusMapping {
    public static func taskStatus(_ code: Int) -> TaskStatus {
        switch code {
        case 1: return .initializing
        case 2: return .running
        case 3: return .completed
        case 4: return .failed
        case 5: return .paused
        default: return .unknown
        }
    }

    public static func uploadState(_ code: Int) -> UploadState? {
        switch code {
        case 1: return .recording
        case 2: return .uploading
        case 3: return .uploaded
        case 4: return .backupUploaded
        case 5: return .failed
        default: return nil
        }
    }
}
