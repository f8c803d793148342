/// Identity of a tracked task: task ids are only unique within an account.
public struct TaskKey: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var account: String
    public var taskID: String

    public init(account: String, taskID: String) {
        self.account = account
        self.taskID = taskID
    }

    public static func < (lhs: TaskKey, rhs: TaskKey) -> Bool {
        (lhs.account, lhs.taskID) < (rhs.account, rhs.taskID)
    }

    public var description: String { "\(account)/\(taskID)" }
}

/// A vendor account as the exporter uses it at run time (validated config).
public struct AccountSpec: Sendable, Hashable {
    public var name: String
    public var vendor: Vendor
    /// Base URL (scheme, host, optional port). Defaults to the vendor's documented host.
    public var endpoint: String
    /// Requests per second we allow ourselves at this account.
    public var rateLimit: Double
    /// Seconds between polls of one task.
    public var pollInterval: Double
    /// Vendor-specific account fields (`app_id`, `region`, `sdk_app_id`), as strings.
    public var fields: [String: String]
    public var credentials: [String: Secret]
    /// Optional PEM file with extra CA certificates to trust for this endpoint (simulators, private gateways).
    public var tlsCAFile: String?
    /// Track the tasks the vendor's list API reports (vendors with one: ZEGO, Alibaba IMS).
    public var discover: Bool = false
    /// Seconds between two listings when `discover` is on.
    public var discoverInterval: Double = 60

    public init(name: String, vendor: Vendor, endpoint: String, rateLimit: Double, pollInterval: Double,
                fields: [String: String] = [:], credentials: [String: Secret] = [:], tlsCAFile: String? = nil) {
        self.name = name
        self.vendor = vendor
        self.endpoint = endpoint
        self.rateLimit = rateLimit
        self.pollInterval = pollInterval
        self.fields = fields
        self.credentials = credentials
        self.tlsCAFile = tlsCAFile
    }

    public func credential(_ name: String) -> Secret { credentials[name] ?? Secret("") }
}

/// A recording task to watch: its account, the vendor's id for it, and vendor fields (`resource_id`, `mode`).
public struct TaskSpec: Sendable, Hashable, Codable {
    public var account: String
    public var id: String
    public var fields: [String: String]
    /// Free labels from the configured allow-list (registration API), exported on `cloudrec_task_labels`.
    public var labels: [String: String]

    public init(account: String, id: String, fields: [String: String] = [:], labels: [String: String] = [:]) {
        self.account = account
        self.id = id
        self.fields = fields
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey { case account, id, fields, labels }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        account = try container.decode(String.self, forKey: .account)
        id = try container.decode(String.self, forKey: .id)
        fields = try container.decodeIfPresent([String: String].self, forKey: .fields) ?? [:]
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
    }

    public var key: TaskKey { TaskKey(account: account, taskID: id) }
}
