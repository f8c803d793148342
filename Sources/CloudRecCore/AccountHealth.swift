/// What an account's vendor calls last did, for the landing page: when one last succeeded, and the last failure.
public struct AccountHealth: Sendable, Hashable {
    public struct Failure: Sendable, Hashable {
        public var at: Double
        /// The outcome (`timeout`, `auth_error`...) and the vendor's own code, when it gave one.
        public var outcome: String
        public var code: String?

        public init(at: Double, outcome: String, code: String?) {
            self.at = at
            self.outcome = outcome
            self.code = code
        }
    }

    /// Unix time of the last call the vendor answered (a not-found answer included).
    public var lastSuccess: Double?
    public var lastFailure: Failure?

    public init() {}
}
