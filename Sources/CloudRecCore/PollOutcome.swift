/// Every status call ends in exactly one outcome; the `outcome` label of `cloudrec_api_requests_total`.
public enum PollOutcome: String, CaseIterable, Sendable, Codable, Hashable {
    case success
    case throttled
    case notFound = "not_found"
    case authError = "auth_error"
    case clientError = "client_error"
    case serverError = "server_error"
    case timeout
    case transportError = "transport_error"
    case decodeError = "decode_error"
}

/// A vendor client's reading of one HTTP answer.
public struct PollResult: Sendable, Hashable {
    public var outcome: PollOutcome
    /// The vendor's own error code (`RequestLimitExceeded`, `300001000`, `429`), for `cloudrec_api_errors_total`.
    public var vendorCode: String?
    /// A short, secret-free explanation for logs and `probe`.
    public var message: String?
    /// Seconds the vendor asked us to wait (Retry-After and friends).
    public var retryAfter: Double?
    public var observation: TaskObservation?
    /// With `notFound`: the vendor says the task exists but can no longer be queried (it left its queryable states
    /// or aged out of the vendor's query window: Alibaba Live `InvalidParameter.TaskId`), rather than "no such task
    /// (yet)". A task seen before ends as usual; a task never seen ends as `unknown` and goes after the retention
    /// instead of being polled for ever.
    public var taskGone: Bool

    public init(outcome: PollOutcome, vendorCode: String? = nil, message: String? = nil, retryAfter: Double? = nil,
                observation: TaskObservation? = nil, taskGone: Bool = false) {
        self.outcome = outcome
        self.vendorCode = vendorCode
        self.message = message
        self.retryAfter = retryAfter
        self.observation = observation
        self.taskGone = taskGone
    }

    public static func success(_ observation: TaskObservation) -> PollResult {
        PollResult(outcome: .success, observation: observation)
    }

    public static func failure(_ outcome: PollOutcome, code: String?, message: String?, retryAfter: Double? = nil,
                               taskGone: Bool = false) -> PollResult {
        PollResult(outcome: outcome, vendorCode: code, message: message, retryAfter: retryAfter, taskGone: taskGone)
    }
}
