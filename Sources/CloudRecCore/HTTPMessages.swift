/// A vendor request as a value: built by a vendor client, sent by the poller's transport (or handed straight to a
/// simulator in tests). Keeping it transport-free is what lets signers be unit-tested byte for byte.
public struct OutboundRequest: Sendable, Hashable {
    public var method: String
    /// Absolute URL including the query string, exactly as signed.
    public var url: String
    public var headers: [HeaderField]
    public var body: [UInt8]

    public init(method: String, url: String, headers: [HeaderField] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

public struct HeaderField: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A vendor's HTTP answer, with header names lower-cased.
public struct InboundResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// `Retry-After` in seconds (delta-seconds form only; vendors here do not send HTTP dates).
    public var retryAfterSeconds: Double? {
        (header("retry-after") ?? header("x-acs-retry-after")).flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
    }
}

/// Sends vendor requests. The exporter uses AsyncHTTPClient; unit tests hand requests straight to a simulator.
public protocol VendorTransport: Sendable {
    /// Throws `TransportFailure` for timeouts, oversized answers and connection problems.
    func send(_ request: OutboundRequest, timeout: Double, maxResponseBytes: Int) async throws -> InboundResponse
    /// The transport to use for one account, with its per-account settings applied (`tls_ca_file`). The default
    /// is the transport itself.
    func forAccount(_ account: AccountSpec) -> any VendorTransport
}

public extension VendorTransport {
    func forAccount(_ account: AccountSpec) -> any VendorTransport { self }
}

public enum TransportFailure: Error, Sendable, Hashable, CustomStringConvertible {
    case timeout
    case responseTooLarge(limit: Int)
    case connection(String)

    public var description: String {
        switch self {
        case .timeout: return "request timed out"
        case let .responseTooLarge(limit): return "response larger than \(limit) bytes"
        case let .connection(reason): return "connection failed: \(reason)"
        }
    }
}
