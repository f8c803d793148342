import Foundation

/// Per-call inputs a signer needs besides the task: the clock reading and randomness, injectable for tests.
public struct RequestContext: Sendable {
    public var now: Date
    /// Random bits for nonces (ZEGO's 16 hex chars, Alibaba's SignatureNonce).
    public var nonce: UInt64

    public init(now: Date = Date(), nonce: UInt64 = UInt64.random(in: .min ... .max)) {
        self.now = now
        self.nonce = nonce
    }
}

/// A vendor's status API for one account: builds signed requests and reads answers into `PollResult`s.
/// Implementations are pure (no I/O), so they are tested directly against published vectors and simulators.
public protocol VendorClient: Sendable {
    var account: AccountSpec { get }
    /// The vendor action name, the `api` label (`query`, `DescribeRecordStatus`, ...).
    var statusAPIName: String { get }
    /// How long a not-found answer must persist after the task was last seen before it counts as ended
    /// (Agora: 404s are transient for up to 90 s during failover). Zero means the first not-found ends it.
    var notFoundGraceSeconds: Double { get }
    func statusRequest(for task: TaskSpec, context: RequestContext) throws -> OutboundRequest
    func interpretStatus(_ response: InboundResponse, for task: TaskSpec) -> PollResult
}

public extension VendorClient {
    var notFoundGraceSeconds: Double { 0 }
}

/// Raised while building a request; names the missing field, never a secret value.
public struct VendorRequestError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
