import CloudRecCore
import Crypto
import Foundation

/// TRTC cloud-recording callbacks (trtc.io/document/54914): POST JSON with headers `Sign` and `SdkAppId`, where
/// `Sign = Base64(HMAC-SHA256(callback key, raw body))`. Body: `EventGroupId` (3 cloud recording, 8 web recording),
/// `EventType`, `CallbackTs` (ms), `EventInfo{RoomId, EventTs, EventMsTs, UserId, TaskId, Payload}`.
///
/// | event | meaning | applied as |
/// |---|---|---|
/// | 301 | recorder start, `Payload.Status` 0 ok / 1 failed | started / exited abnormally |
/// | 302 | recorder stop, `LeaveCode` | 0 (normal) and 99 (no other users left) exited normally; every other code (kicked, room dismissed, timeout, duplicate join) exited abnormally |
/// | 303 | upload start, `Status` 1 = failed | upload failed (task) |
/// | 305 | upload to your storage finished, `LeaveCode` 0 all uploaded / 1 files left on server or backup / 2 left files restored and uploaded | uploaded / backup / uploaded (task) |
/// | 310 | MP4 task stopped, per file (`Status` read like 305's `LeaveCode`, **unconfirmed**) | per named file, else task |
/// | 311 | VOD commit, `Status` 0 uploaded / 1 stuck on server or backup / 2 VOD task error | per file (`TencentVod.CacheFile`/`FileId`) |
/// | 312 | VOD task stopped, `Status` 1 = abnormal | upload failed (task) |
/// | 304, 306, 307, 309, 801–804 | first m3u8, failover, slice, image error, web recording | counted only |
///
/// Replay: the body is signed, so its `CallbackTs` (or, without it, `EventInfo.EventMsTs`/`EventTs`) bounds the window
/// and a digest of the body identifies it. A signed body with none of the three is refused (400): its time cannot be
/// checked.
public struct TencentTRTCCallback: VendorCallbackHandler {
    public let vendor = Vendor.tencentTRTC
    /// HTTP 200 is what TRTC checks; the body is ignored and `{"code":0}` is the suggested one.
    public var acknowledgement: JSONValue { .obj(("code", 0)) }

    public static let signatureHeader = "Sign"
    public static let recordingGroup = 3
    public static let webRecordingGroup = 8
    public static let recordingEvents: Set<Int> = [301, 302, 303, 304, 305, 306, 307, 309, 310, 311, 312]
    public static let webRecordingEvents: Set<Int> = [801, 802, 803, 804]

    public init() {}

    public static func sign(body: [UInt8], key: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(key.utf8)))
        return Data(mac).base64EncodedString()
    }

    public func open(_ request: CallbackRequest, secret: String) throws(CallbackRejection) -> DecodedCallback {
        guard let sign = request.header(Self.signatureHeader)?.trimmingCharacters(in: .whitespaces), !sign.isEmpty else {
            throw .signature("Sign header missing")
        }
        guard CallbackSupport.constantTimeEqual(sign, Self.sign(body: request.body, key: secret)) else {
            throw .signature("Sign does not match the body")
        }
        let json = try CallbackSupport.object(request.body)
        guard let eventType = json["EventType"]?.intValue else { throw .malformed("EventType missing or not a number") }
        let group = json["EventGroupId"]?.intValue
        let info = json["EventInfo"]
        let signedTime = try CallbackSupport.signedTime(
            json["CallbackTs"]?.doubleValue.map { $0 / 1000 } ?? info?["EventMsTs"]?.doubleValue.map { $0 / 1000 }
                ?? info?["EventTs"]?.doubleValue,
            field: "CallbackTs")
        let keys = [CallbackSupport.digestKey(request.body)]
        let label: String
        switch group {
        case Self.recordingGroup?: label = CallbackSupport.label(eventType, documented: Self.recordingEvents)
        case Self.webRecordingGroup?: label = CallbackSupport.label(eventType, documented: Self.webRecordingEvents)
        default: label = "other"
        }
        guard group == Self.recordingGroup, label != "other" else {
            return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys, events: [])
        }
        guard let info, info.isObject else { throw .malformed("EventInfo missing") }
        guard let taskID = info["TaskId"]?.stringValue, !taskID.isEmpty else { throw .malformed("EventInfo.TaskId missing") }
        let payload = info["Payload"] ?? .object([])
        return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys,
                               events: Self.events(eventType, taskID: taskID, payload: payload))
    }

    static func events(_ eventType: Int, taskID: String, payload: JSONValue) -> [CallbackEvent] {
        let status = payload["Status"]?.intValue
        switch eventType {
        case 301:
            return [CallbackEvent(taskID: taskID, kind: status == 1 ? .exitedAbnormally : .started,
                                  reason: status == 1 ? "Status=1" : nil)]
        case 302:
            let code = payload["LeaveCode"]?.intValue ?? 0
            return [CallbackEvent(taskID: taskID, kind: [0, 99].contains(code) ? .exitedNormally : .exitedAbnormally,
                                  reason: "LeaveCode=\(code)")]
        case 303 where status == 1:
            return [CallbackEvent(taskID: taskID, kind: .uploadFailed, reason: "Status=1")]
        case 305:
            let code = payload["LeaveCode"]?.intValue ?? status
            guard let kind = storageKind(code) else { return [CallbackEvent(taskID: taskID, kind: .other)] }
            return [CallbackEvent(taskID: taskID, kind: kind, reason: "LeaveCode=\(code ?? 0)")]
        case 310:
            guard let kind = storageKind(status) else { return [CallbackEvent(taskID: taskID, kind: .other)] }
            let names = fileNames310(payload)
            let files = names.map { CallbackSupport.file(name: $0, state: kind.uploadState) }
            return [CallbackEvent(taskID: taskID, kind: kind, files: files, reason: "Status=\(status ?? 0)")]
        case 311:
            let kind: CallbackEvent.Kind
            switch status {
            case 0?: kind = .uploadSucceeded
            case 1?: kind = .uploadedToBackup
            case 2?: kind = .uploadFailed
            default: return [CallbackEvent(taskID: taskID, kind: .other)]
            }
            var files: [RecordingFile] = []
            if let vod = payload["TencentVod"], let name = vod["CacheFile"]?.nonEmptyString ?? vod["FileId"]?.nonEmptyString
                ?? vod["VideoUrl"]?.nonEmptyString {
                let format = vod["CacheFile"]?.nonEmptyString ?? vod["VideoUrl"]?.nonEmptyString ?? "mp4"
                files = [CallbackSupport.file(name: name, format: FileFormat(vendorValue: format) == .other ? "mp4" : format,
                                              state: kind.uploadState)]
            }
            return [CallbackEvent(taskID: taskID, kind: kind, files: files, reason: "Status=\(status ?? 0)")]
        case 312 where status == 1:
            return [CallbackEvent(taskID: taskID, kind: .uploadFailed, reason: "Status=1")]
        default:
            return [CallbackEvent(taskID: taskID, kind: .other)]
        }
    }

    /// 305 `LeaveCode` (and, read the same way, 310 `Status`): 0 all uploaded, 1 some file left on the server or the
    /// backup storage (to be retried), 2 the left files were restored and uploaded.
    static func storageKind(_ code: Int?) -> CallbackEvent.Kind? {
        switch code {
        case 0?, 2?: return .uploadSucceeded
        case 1?: return .uploadedToBackup
        default: return nil
        }
    }

    /// 310 names its files in `FileList` (strings or objects with `FileName`) and `FileMessage[].FileName`.
    static func fileNames310(_ payload: JSONValue) -> [String] {
        var names: [String] = []
        for item in payload["FileMessage"]?.arrayValue ?? [] {
            if let name = item["FileName"]?.nonEmptyString { names.append(name) }
        }
        for item in payload["FileList"]?.arrayValue ?? [] {
            if let name = item.nonEmptyString ?? item["FileName"]?.nonEmptyString, !names.contains(name) { names.append(name) }
        }
        if names.isEmpty, let single = payload["FileList"]?.nonEmptyString { names.append(single) }
        return names
    }
}
