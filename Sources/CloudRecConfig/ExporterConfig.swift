import CloudRecCore

/// Settings that apply to every account unless an account overrides them.
public struct GlobalConfig: Sendable, Hashable {
    public var pollInterval: Double = 30
    public var requestTimeout: Double = 10
    public var endedTaskRetention: Double = 900
    /// A running task whose files have not grown for this long is stalled (`cloudrec_task_stalled`).
    public var stallAfter: Double = 900
    /// Which tasks get per-task series.
    public var taskSeries: TaskSeriesMode = .all
    /// At most this many tasks get per-task series (nil: no cap); the others are counted in
    /// `cloudrec_task_series_capped`.
    public var maxTaskSeries: Int?
    /// A task the vendor never knew (never answered for it) and no callback named is forgotten this long after it
    /// began being tracked.
    public var unseenTaskRetention: Double = 86_400
    /// Upper bound on status calls in flight at once, across all accounts.
    public var maxConcurrentRequests: Int = 32
    /// Vendor answers larger than this are refused (decode_error) instead of buffered.
    public var maxResponseBytes: Int = 4 * 1024 * 1024

    public init() {}
}

/// The task registration API (`/api/v1/`). Off unless a token is configured.
public struct APIConfig: Sendable, Hashable {
    public var token: Secret
    public var maxBodyBytes: Int = 64 * 1024
    /// Free label names a registration may carry.
    public var allowedLabels: [String] = []

    public init(token: Secret, maxBodyBytes: Int = 64 * 1024, allowedLabels: [String] = []) {
        self.token = token
        self.maxBodyBytes = maxBodyBytes
        self.allowedLabels = allowedLabels
    }
}

/// A validated configuration, ready to run.
public struct ExporterConfig: Sendable {
    public var global: GlobalConfig
    public var accounts: [AccountSpec]
    public var tasks: [TaskSpec]
    public var api: APIConfig?
    /// Glob patterns of task discovery files (file_sd style), resolved against the config file's directory.
    public var taskFiles: [String] = []
    /// Where it was read from, for messages.
    public var source: String

    public init(global: GlobalConfig = GlobalConfig(), accounts: [AccountSpec] = [], tasks: [TaskSpec] = [], source: String = "<memory>") {
        self.global = global
        self.accounts = accounts
        self.tasks = tasks
        self.source = source
    }

    public func account(named name: String) -> AccountSpec? { accounts.first { $0.name == name } }
}

/// One problem in a config file: where it is, which key, what is wrong. Never contains a secret value.
public struct ConfigProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var keyPath: String
    public var problem: String

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String, problem: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.problem = problem
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let column { location += ":\(column)" }
        return keyPath.isEmpty ? "\(location): \(problem)" : "\(location): \(keyPath): \(problem)"
    }
}

/// Every problem found in a config file (check-config lists them all).
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
