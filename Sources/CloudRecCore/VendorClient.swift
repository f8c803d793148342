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

/// A task a vendor's list API reported.
public struct DiscoveredTask: Sendable, Hashable {
    public var id: String
    public var fields: [String: String]

    public init(id: String, fields: [String: String] = [:]) {
        self.id = id
        self.fields = fields
    }
}

/// One page of a vendor's task list: the outcome of the call, the tasks, and how to ask for the next page.
public struct ListPage: Sendable {
    public var result: PollResult
    public var tasks: [DiscoveredTask]
    /// nil when this was the last page.
    public var nextPage: Int?

    public init(result: PollResult, tasks: [DiscoveredTask] = [], nextPage: Int? = nil) {
        self.result = result
        self.tasks = tasks
        self.nextPage = nextPage
    }
}

/// A vendor's task list API (ZEGO `DescribeTasks`, IMS `ListLiveRecordJobs`), used by accounts with `discover: true`.
/// Pure like `VendorClient`: a query describes what to list (`status`, a time window), the lister builds the request.
public protocol TaskLister: Sendable {
    var listAPIName: String { get }
    /// The queries one discovery round makes (e.g. ZEGO: recording now, and recently ended).
    func queries(now: Date, since: Date) -> [ListQuery]
    func listRequest(_ query: ListQuery, page: Int, context: RequestContext) throws -> OutboundRequest
    func interpretList(_ response: InboundResponse, query: ListQuery, page: Int) -> ListPage
}

public struct ListQuery: Sendable, Hashable {
    public var status: String?
    public var start: Date
    public var end: Date

    public init(status: String?, start: Date, end: Date) {
        self.status = status
        self.start = start
        self.end = end
    }
}
