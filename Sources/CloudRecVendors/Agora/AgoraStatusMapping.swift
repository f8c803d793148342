import CloudRecCore

/// Agora `serverResponse.status` → common status.
///
/// | Agora | meaning | common |
/// |---|---|---|
/// | 0–4 | not started … all components ready | initializing |
/// | 5 | in progress (web mode `onhold=true`: paused) | running / paused |
/// | 6, 7 | stop requested, components stopped | stopping |
/// | 8 | exited | completed |
/// | 20 | exited abnormally | failed |
/// | HTTP 404 | ended, or failover for up to 90 s | unknown, then completed |
public enum AgoraStatusMapping {
    public static func status(for code: Int, paused: Bool) -> TaskStatus {
        switch code {
        case 0...4: return .initializing
        case 5: return paused ? .paused : .running
        case 6, 7: return .stopping
        case 8: return .completed
        case 20: return .failed
        default: return .unknown
        }
    }
}
