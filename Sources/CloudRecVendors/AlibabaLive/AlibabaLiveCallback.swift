import CloudRecCore
import Crypto
import Foundation

/// ApsaraVideo Live RTC cloud-recording callbacks ("Cloud recording callback notifications"): POST JSON to the task's
/// `NotifyUrl`, with `ALI-LIVE-TIMESTAMP` (Unix seconds) and `ALI-LIVE-SIGNATURE` = hex MD5(timestamp + "|" +
/// NotifyAuthKey) when the task has a `NotifyAuthKey` (the account's `callback_secret`; use the same key for every task).
/// Body: `appId`, `channelId`, `taskId`, `eventType` (string), `callbackTs` (ms), `payload` (documented as a JSON
/// *string*; an object is accepted too).
///
/// | eventType | applied as |
/// |---|---|
/// | TaskCreated, TaskStarting, TaskRunning | started |
/// | TaskStopped | exited normally (Live documents no abnormal-exit event we could confirm) |
/// | RecordFileUploaded | per file named in the payload, else the task: uploaded, or failed when the payload carries a failure status |
/// | TaskRecovering, TaskStopping | counted only |
///
/// The signature covers only the timestamp, not the body: within the replay window a captured signature would
/// authenticate any body. Exact replays are refused (digest of the body), and the window is the only other bound;
/// use HTTPS and, where possible, an allow list of Alibaba's addresses.
///
/// The payload of every event is **unconfirmed**. For `RecordFileUploaded` both readings are supported: a payload that
/// describes one file (`fileName`/`FileName`/`objectKey`/`url`/`mediaId`, any casing shown) and one with a list of
/// files (`files`/`fileList`/`FileList`/`recordFiles`, entries as above or plain names). A `status`/`code`/`result`
/// that is present and neither 0 nor a success word marks the file failed; without one the event's name is taken at
/// its word: uploaded.
public struct AlibabaLiveCallback: VendorCallbackHandler {
    public let vendor = Vendor.alibabaLive
    /// The reply the callback page asks for; Live resends once on a reply ≥ 500 or a timeout.
    public var acknowledgement: JSONValue { .obj(("Code", 0), ("Msg", "Success")) }

    public static let timestampHeader = "ALI-LIVE-TIMESTAMP"
    public static let signatureHeader = "ALI-LIVE-SIGNATURE"
    public static let startEvents: Set<String> = ["TaskCreated", "TaskStarting", "TaskRunning"]
    public static let documentedEvents: Set<String> = startEvents.union(["TaskRecovering", "TaskStopping", "TaskStopped",
                                                                         "RecordFileUploaded"])

    public init() {}

    public static func signature(timestamp: String, key: String) -> String {
        Hex.encode(Insecure.MD5.hash(data: Array("\(timestamp)|\(key)".utf8)))
    }

    public func open(_ request: CallbackRequest, secret: String) throws(CallbackRejection) -> DecodedCallback {
        guard let timestamp = request.header(Self.timestampHeader)?.trimmingCharacters(in: .whitespaces), !timestamp.isEmpty,
              let signature = request.header(Self.signatureHeader)?.trimmingCharacters(in: .whitespaces), !signature.isEmpty else {
            throw .signature("ALI-LIVE-TIMESTAMP or ALI-LIVE-SIGNATURE header missing")
        }
        guard CallbackSupport.constantTimeEqual(signature.lowercased(), Self.signature(timestamp: timestamp, key: secret)) else {
            throw .signature("ALI-LIVE-SIGNATURE does not match")
        }
        let signedTime = try CallbackSupport.signedTime(text: timestamp, field: "ALI-LIVE-TIMESTAMP")
        let json = try CallbackSupport.object(request.body)
        guard let eventType = Self.field(json, "eventType")?.nonEmptyString else { throw .malformed("eventType missing") }
        let keys = [CallbackSupport.digestKey(request.body)]
        let label = Self.documentedEvents.contains(eventType) ? eventType : "other"
        guard label != "other" else { return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys, events: []) }
        guard let taskID = Self.field(json, "taskId")?.nonEmptyString else { throw .malformed("taskId missing") }
        let payload = try Self.payload(Self.field(json, "payload"))
        return DecodedCallback(event: label, signedTime: signedTime, replayKeys: keys,
                               events: Self.events(eventType, taskID: taskID, payload: payload))
    }

    static func events(_ eventType: String, taskID: String, payload: JSONValue) -> [CallbackEvent] {
        switch eventType {
        case _ where startEvents.contains(eventType): return [CallbackEvent(taskID: taskID, kind: .started)]
        case "TaskStopped": return [CallbackEvent(taskID: taskID, kind: .exitedNormally)]
        case "RecordFileUploaded":
            var entries: [JSONValue] = []
            for name in ["files", "Files", "fileList", "FileList", "recordFiles", "RecordFiles"] {
                if let list = payload[name]?.arrayValue { entries += list }
            }
            if entries.isEmpty { entries = [payload] }
            let files = entries.compactMap(file)
            if files.isEmpty {
                let failed = failure(payload)
                return [CallbackEvent(taskID: taskID, kind: failed == nil ? .uploadSucceeded : .uploadFailed, reason: failed)]
            }
            let kind: CallbackEvent.Kind = files.contains { $0.uploadState == .failed } ? .uploadFailed : .uploadSucceeded
            return [CallbackEvent(taskID: taskID, kind: kind, files: files, reason: failure(payload))]
        default: return [CallbackEvent(taskID: taskID, kind: .other)]
        }
    }

    /// A field by its documented camelCase name or the PascalCase Alibaba uses elsewhere.
    static func field(_ json: JSONValue, _ name: String) -> JSONValue? {
        json[name] ?? json[name.prefix(1).uppercased() + name.dropFirst()]
    }

    /// `payload` is documented as a JSON string; an object (or nothing) is accepted too.
    static func payload(_ value: JSONValue?) throws(CallbackRejection) -> JSONValue {
        guard let value, !value.isNull else { return .object([]) }
        if case let .string(text) = value {
            if text.isEmpty { return .object([]) }
            guard let parsed = try? JSONValue.parse(Array(text.utf8)), parsed.isObject else {
                throw .malformed("payload is a string but not a JSON object")
            }
            return parsed
        }
        guard value.isObject else { throw .malformed("payload is neither a JSON string nor an object") }
        return value
    }

    static let nameKeys = ["fileName", "FileName", "filename", "file", "File", "objectKey", "ObjectKey", "object", "Object",
                           "fileUrl", "FileUrl", "url", "Url", "URL", "mediaId", "MediaId", "videoId", "VideoId"]

    static func file(_ entry: JSONValue) -> RecordingFile? {
        if let name = entry.nonEmptyString { return CallbackSupport.file(name: name, state: .uploaded) }
        guard let name = nameKeys.lazy.compactMap({ entry[$0]?.nonEmptyString }).first else { return nil }
        let format = (entry["format"] ?? entry["Format"] ?? entry["fileFormat"] ?? entry["FileFormat"])?.nonEmptyString
        return CallbackSupport.file(name: name, format: format, state: failure(entry) == nil ? .uploaded : .failed)
    }

    /// A status that says the upload failed, as `key=value`; nil when absent or a success value.
    static func failure(_ entry: JSONValue) -> String? {
        let successWords: Set<String> = ["0", "ok", "success", "succeed", "succeeded", "successful", "uploaded", "true", "done"]
        for key in ["status", "Status", "code", "Code", "result", "Result"] {
            guard let value = entry[key]?.stringValue else { continue }
            if !successWords.contains(value.lowercased()) { return "\(key)=\(value)" }
        }
        return nil
    }
}
