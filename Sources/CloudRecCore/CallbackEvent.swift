/// What a vendor's recording callback says about one task, normalised. Decoded by the vendor's
/// `<Vendor>Callback` handler after its signature was verified; applied by `TaskTracker.recordCallback`.
public struct CallbackEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        /// The recording started (Tencent 301, Agora 40, Alibaba TaskCreated/TaskStarting/TaskRunning).
        case started
        case exitedNormally = "exited_normally"
        case exitedAbnormally = "exited_abnormally"
        case uploadSucceeded = "upload_succeeded"
        /// Uploaded, but (some) files only reached the vendor's backup storage.
        case uploadedToBackup = "uploaded_to_backup"
        case uploadFailed = "upload_failed"
        /// Anything else: counted, not applied.
        case other

        /// The upload state an upload event gives files it does not name one by one.
        public var uploadState: UploadState? {
            switch self {
            case .uploadSucceeded: return .uploaded
            case .uploadedToBackup: return .backupUploaded
            case .uploadFailed: return .failed
            default: return nil
            }
        }
    }

    public var taskID: String
    public var kind: Kind
    /// Files the callback names, each with its own `uploadState`. Empty: the event is about the task as a whole.
    public var files: [RecordingFile]
    /// The vendor's reason code for an exit or failure (`LeaveCode=101`, `quit_reason=6`), for logs and the task API.
    public var reason: String?

    public init(taskID: String, kind: Kind, files: [RecordingFile] = [], reason: String? = nil) {
        self.taskID = taskID
        self.kind = kind
        self.files = files
        self.reason = reason
    }
}

/// One verified, decoded callback request.
public struct DecodedCallback: Sendable, Hashable {
    /// The `event` label: the vendor's documented event number or name, `other` for anything undocumented.
    public var event: String
    /// Unix seconds from a signed part of the request (a timestamp the signature covers), for the replay window.
    public var signedTime: Double?
    /// Identities of this callback for duplicate detection (notice id, nonce, digest of the signed bytes).
    public var replayKeys: [String]
    public var events: [CallbackEvent]

    public init(event: String, signedTime: Double?, replayKeys: [String], events: [CallbackEvent]) {
        self.event = event
        self.signedTime = signedTime
        self.replayKeys = replayKeys
        self.events = events
    }
}

/// A callback request as received: header names lower-cased, the body exactly as sent (signatures cover raw bytes).
public struct CallbackRequest: Sendable {
    public var headers: [String: String]
    public var body: [UInt8]

    public init(headers: [String: String], body: [UInt8]) {
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Why a callback was refused before it could be applied.
public enum CallbackRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// Missing or wrong signature (or the signed fields it needs).
    case signature(String)
    /// Not JSON, not an object, or a required field missing or of the wrong type.
    case malformed(String)

    public var description: String {
        switch self {
        case let .signature(reason): return "signature rejected: \(reason)"
        case let .malformed(reason): return "malformed callback: \(reason)"
        }
    }
}

/// The `result` label of `cloudrec_callbacks_total`.
public enum CallbackResult: String, Sendable, CaseIterable {
    case accepted
    case rejectedSignature = "rejected_signature"
    /// Signed timestamp outside the window, or a callback already accepted.
    case rejectedReplay = "rejected_replay"
    case malformed
    case unknownAccount = "unknown_account"
    /// The account has no `callback_secret`, or its vendor has no documented callbacks (Alibaba IMS).
    case notConfigured = "not_configured"
    /// Verified, but its effect could not be stored (durable store failure); the vendor's retry is taken.
    case error
}

/// The answer to one callback request, for the HTTP layer.
public struct CallbackReply: Sendable {
    /// Callbacks larger than this are refused (413) before they are read; vendors send a few KiB.
    public static let maxBodyBytes = 1 << 20

    public var status: Int
    public var body: JSONValue
    public var result: CallbackResult

    public init(status: Int, body: JSONValue, result: CallbackResult) {
        self.status = status
        self.body = body
        self.result = result
    }
}
