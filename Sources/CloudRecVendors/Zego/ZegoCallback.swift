import CloudRecCore
import Crypto
import Foundation

/// ZEGOCLOUD "recording status callback" (v2): POST JSON with `app_id`, `task_id`, `room_id`, `event_type`, `message`,
/// `nonce`, `timestamp` (Unix seconds, a string), `signature`, `sequence`, `detail`. The signature is the hex SHA-1 of
/// `callbacksecret`, `timestamp` and `nonce` sorted in dictionary order and concatenated. The body itself is not
/// signed, so the signature is checked first of all and then the (timestamp, nonce) pair is what identifies a callback:
/// a captured signature cannot be used twice.
///
/// | event_type | meaning | applied as |
/// |---|---|---|
/// | 1 | upload finished: `detail.upload_status` 1 all / 2 some failed; `detail.file_info[].status` 3/4/5 | per file (uploaded / backup / failed), else the task |
/// | 2 | ended abnormally (`detail.quit_reason`; ZEGO counts MaxIdleTime and MaxRecordTime here too) | exited abnormally |
/// | 5 | exited normally | exited normally |
/// | 3, 4, 6, 7, 102, 201, 202 | image download failed, no stream, stream missing, stopped and uploading, m3u8 address, paused, resumed | counted only |
///
/// ZEGO's status API reports per-file states itself; those win over the callback's when the poller has them.
public struct ZegoCallback: VendorCallbackHandler {
    public let vendor = Vendor.zego
    /// Any 2xx; without one ZEGO retries twice, 5 s apart.
    public var acknowledgement: JSONValue { .obj(("code", 0)) }

    public static let documentedEvents: Set<Int> = [1, 2, 3, 4, 5, 6, 7, 102, 201, 202]

    public init() {}

    public static func signature(secret: String, timestamp: String, nonce: String) -> String {
        let sorted = [secret, timestamp, nonce].sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        return Hex.encode(Insecure.SHA1.hash(data: Array(sorted.joined().utf8)))
    }

    public func open(_ request: CallbackRequest, secret: String) throws(CallbackRejection) -> DecodedCallback {
        let json = try CallbackSupport.object(request.body)
        guard let signature = json["signature"]?.nonEmptyString else { throw .signature("signature missing") }
        guard let timestamp = json["timestamp"]?.nonEmptyString, let nonce = json["nonce"]?.nonEmptyString else {
            throw .signature("timestamp or nonce missing")
        }
        guard CallbackSupport.constantTimeEqual(signature.lowercased(),
                                                Self.signature(secret: secret, timestamp: timestamp, nonce: nonce)) else {
            throw .signature("signature does not match")
        }
        let signedTime = try CallbackSupport.signedTime(text: timestamp, field: "timestamp")
        guard let eventType = json["event_type"]?.intValue else { throw .malformed("event_type missing or not a number") }
        var keys = ["nonce:\(timestamp):\(nonce)"]
        let label = CallbackSupport.label(eventType, documented: Self.documentedEvents)
        guard label != "other" else { return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys, events: []) }
        guard let taskID = json["task_id"]?.nonEmptyString else { throw .malformed("task_id missing") }
        if let sequence = json["sequence"]?.intValue { keys.append("sequence:\(taskID):\(eventType):\(sequence)") }
        let detail = json["detail"] ?? .object([])
        return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys,
                               events: Self.events(eventType, taskID: taskID, detail: detail))
    }

    static func events(_ eventType: Int, taskID: String, detail: JSONValue) -> [CallbackEvent] {
        switch eventType {
        case 1:
            let files = (detail["file_info"]?.arrayValue ?? []).compactMap(file)
            let uploadStatus = detail["upload_status"]?.intValue
            let kind: CallbackEvent.Kind
            if uploadStatus == 2 || files.contains(where: { $0.uploadState == .failed }) {
                kind = .uploadFailed
            } else if files.contains(where: { $0.uploadState == .backupUploaded }) {
                kind = .uploadedToBackup
            } else {
                kind = .uploadSucceeded
            }
            return [CallbackEvent(taskID: taskID, kind: kind, files: files,
                                  reason: uploadStatus.map { "upload_status=\($0)" })]
        case 2:
            let reason = detail["quit_reason"]?.stringValue
            return [CallbackEvent(taskID: taskID, kind: .exitedAbnormally, reason: reason.map { "quit_reason=\($0)" })]
        case 5:
            return [CallbackEvent(taskID: taskID, kind: .exitedNormally)]
        default:
            return [CallbackEvent(taskID: taskID, kind: .other)]
        }
    }

    /// A `file_info` entry: snake_case copies of the status API's `RecordFiles` fields.
    static func file(_ info: JSONValue) -> RecordingFile? {
        guard let name = info["file_id"]?.nonEmptyString ?? info["file_url"]?.nonEmptyString else { return nil }
        return CallbackSupport.file(
            name: name, format: info["output_file_format"]?.nonEmptyString,
            state: info["status"]?.intValue.flatMap(ZegoStatusMapping.uploadState),
            sizeBytes: info["file_size"]?.int64Value,
            durationSeconds: info["duration"]?.doubleValue.map { $0 / 1000 })
    }
}
