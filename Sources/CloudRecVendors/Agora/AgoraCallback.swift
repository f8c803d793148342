import CloudRecCore
import Crypto
import Foundation

/// Agora Notifications (NCS) for Cloud Recording: POST JSON `{noticeId, productId, eventType, notifyMs, payload}` with
/// `Agora-Signature` = hex HMAC-SHA1(secret, raw body) and `Agora-Signature-V2` = hex HMAC-SHA256(secret, raw body).
/// `payload` carries `cname`, `uid`, `sid` (our task id), `sequence`, `sendts`, `serviceType` and `details`.
///
/// | eventType | name | applied as |
/// |---|---|---|
/// | 1 | cloud_recording_error | `errorLevel` 5 (fatal) exited abnormally; uploader errors (`module` 1, or codes 32/47/50/51) upload failed (task) |
/// | 11 | session_exit | `leaveStatus` 0 exited normally / 1 exited abnormally |
/// | 31 | uploaded | upload succeeded (every file, or those in `details.fileList` when present) |
/// | 32 | backuped | uploaded to backup (Agora does not say which files went to its backup: all are counted there) |
/// | 40 | recorder_started | started |
/// | 2, 3, 4, 12, 30, 33, 41–44 | warning, status, file infos, failover, uploader started, progress, recorder leave/slice/stream | counted only |
///
/// `productId` 1 is the RTC channel-events product, whose event numbers mean other things: such notices are
/// counted (`other`) and not applied. The cloud-recording product id (3 is commonly cited) is **unconfirmed**, so
/// every other value is read as cloud recording. Replay: the body is signed, so `notifyMs` bounds the window;
/// `noticeId` (and `sid`+`sequence`) identify a notice, as Agora asks receivers to deduplicate on them.
public struct AgoraCallback: VendorCallbackHandler {
    public let vendor = Vendor.agora
    /// Agora wants HTTP 200 with a JSON body within 10 s, or it resends.
    public var acknowledgement: JSONValue { .obj(("code", 0)) }

    public static let signatureHeader = "Agora-Signature"
    public static let signatureV2Header = "Agora-Signature-V2"
    public static let channelEventsProduct = 1
    public static let documentedEvents: Set<Int> = [1, 2, 3, 4, 11, 12, 30, 31, 32, 33, 40, 41, 42, 43, 44]
    /// Uploader error codes: 32 storage configuration, 47 upload failed, 51 processing error; platform 50 upload timeout.
    public static let uploadErrorCodes: Set<Int> = [32, 47, 50, 51]

    public init() {}

    public static func signatureV1(body: [UInt8], secret: String) -> String {
        Hex.encode(HMAC<Insecure.SHA1>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
    }

    public static func signatureV2(body: [UInt8], secret: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
    }

    public func open(_ request: CallbackRequest, secret: String) throws(CallbackRejection) -> DecodedCallback {
        // The stronger V2 is checked when sent; V1 alone is accepted (older setups send only it).
        if let v2 = request.header(Self.signatureV2Header)?.trimmingCharacters(in: .whitespaces), !v2.isEmpty {
            guard CallbackSupport.constantTimeEqual(v2.lowercased(), Self.signatureV2(body: request.body, secret: secret)) else {
                throw .signature("Agora-Signature-V2 does not match the body")
            }
        } else if let v1 = request.header(Self.signatureHeader)?.trimmingCharacters(in: .whitespaces), !v1.isEmpty {
            guard CallbackSupport.constantTimeEqual(v1.lowercased(), Self.signatureV1(body: request.body, secret: secret)) else {
                throw .signature("Agora-Signature does not match the body")
            }
        } else {
            throw .signature("Agora-Signature-V2 and Agora-Signature headers missing")
        }
        let json = try CallbackSupport.object(request.body)
        guard let eventType = json["eventType"]?.intValue else { throw .malformed("eventType missing or not a number") }
        let payload = json["payload"] ?? .object([])
        var keys = [CallbackSupport.digestKey(request.body)]
        if let notice = json["noticeId"]?.nonEmptyString { keys.append("notice:\(notice)") }
        let signedTime = try CallbackSupport.signedTime(
            (json["notifyMs"] ?? payload["sendts"])?.doubleValue.map { $0 / 1000 }, field: "notifyMs")
        if json["productId"]?.intValue == Self.channelEventsProduct {
            return DecodedCallback(event: "other", signedTime: signedTime, replayKeys: keys, events: [])
        }
        let label = CallbackSupport.label(eventType, documented: Self.documentedEvents)
        guard label != "other" else { return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys, events: []) }
        guard payload.isObject else { throw .malformed("payload missing") }
        guard let sid = payload["sid"]?.nonEmptyString else { throw .malformed("payload.sid missing") }
        if let sequence = payload["sequence"]?.intValue {
            keys.append("sequence:\(sid):\(payload["serviceType"]?.intValue ?? -1):\(eventType):\(sequence)")
        }
        let details = payload["details"] ?? .object([])
        return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys,
                               events: Self.events(eventType, sid: sid, details: details))
    }

    static func events(_ eventType: Int, sid: String, details: JSONValue) -> [CallbackEvent] {
        switch eventType {
        case 1:
            var events: [CallbackEvent] = []
            let code = details["errorCode"]?.intValue
            let reason = "errorCode=\(code.map(String.init) ?? "")"
            if details["module"]?.intValue == 1 || code.map(Self.uploadErrorCodes.contains) == true {
                events.append(CallbackEvent(taskID: sid, kind: .uploadFailed, reason: reason))
            }
            if details["errorLevel"]?.intValue == 5 {
                events.append(CallbackEvent(taskID: sid, kind: .exitedAbnormally, reason: reason + " errorLevel=5"))
            }
            return events.isEmpty ? [CallbackEvent(taskID: sid, kind: .other, reason: reason)] : events
        case 11:
            let status = details["leaveStatus"]?.intValue ?? 0
            return [CallbackEvent(taskID: sid, kind: status == 0 ? .exitedNormally : .exitedAbnormally,
                                  reason: "leaveStatus=\(status)")]
        case 31, 32:
            let kind: CallbackEvent.Kind = eventType == 31 ? .uploadSucceeded : .uploadedToBackup
            return [CallbackEvent(taskID: sid, kind: kind, files: fileList(details["fileList"], state: kind.uploadState))]
        case 40:
            return [CallbackEvent(taskID: sid, kind: .started)]
        default:
            return [CallbackEvent(taskID: sid, kind: .other)]
        }
    }

    /// `fileList` as in the query: one file name (string mode) or `[{fileName, ...}]`.
    static func fileList(_ value: JSONValue?, state: UploadState?) -> [RecordingFile] {
        guard let value else { return [] }
        if let name = value.nonEmptyString { return [CallbackSupport.file(name: name, state: state)] }
        return (value.arrayValue ?? []).compactMap { item in
            (item["fileName"]?.nonEmptyString ?? item["filename"]?.nonEmptyString).map { CallbackSupport.file(name: $0, state: state) }
        }
    }
}
