/// A tracked task as the registration API shows it: the narrow view the HTTP layer gets from the running exporter,
/// so it needs neither the tracker's internals nor the config.
public struct TaskView: Sendable, Hashable {
    public var key: TaskKey
    public var vendor: Vendor
    public var status: TaskStatus
    public var vendorStatus: String
    /// Where the task came from (`config`, `api`, `file`, `discovery`, `callback`).
    public var sources: [String]
    public var fields: [String: String]
    public var labels: [String: String]
    public var files: [RecordingFile]
    public var lastSuccess: Double?
    public var endedAt: Double?
    public var registeredAt: Double

    public init(key: TaskKey, vendor: Vendor, status: TaskStatus, vendorStatus: String, sources: [String],
                fields: [String: String], labels: [String: String], files: [RecordingFile], lastSuccess: Double?,
                endedAt: Double?, registeredAt: Double) {
        self.key = key
        self.vendor = vendor
        self.status = status
        self.vendorStatus = vendorStatus
        self.sources = sources
        self.fields = fields
        self.labels = labels
        self.files = files
        self.lastSuccess = lastSuccess
        self.endedAt = endedAt
        self.registeredAt = registeredAt
    }
}

/// Why a registration or lookup was refused; the API answers each with its status code and the message.
public enum RegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 404: no such account (or task).
    case notFound(String)
    /// 400: a field, label or id the vendor's schema or the label allow-list refuses.
    case invalid(String)
    /// 421: another replica owns the task (`--shard` / `--total-shards`).
    case misdirected(String)
    /// 503: the durable store refused the write; nothing was acknowledged.
    case unavailable(String)

    public var description: String {
        switch self {
        case let .notFound(message), let .invalid(message), let .misdirected(message), let .unavailable(message): return message
        }
    }
}

/// The registration API's settings, when it is on.
public struct APIAccess: Sendable {
    public var token: Secret
    public var maxBodyBytes: Int

    public init(token: Secret, maxBodyBytes: Int) {
        self.token = token
        self.maxBodyBytes = maxBodyBytes
    }
}
