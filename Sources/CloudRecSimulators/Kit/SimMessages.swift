import CloudRecCore
import Foundation

/// An HTTP request as a simulator sees it. Built by the loopback server, or directly from an `OutboundRequest`
/// by the in-memory transport the unit tests use.
public struct SimRequest: Sendable {
    public var method: String
    public var path: String
    /// The raw query string without `?`, exactly as sent (signatures are checked against it).
    public var rawQuery: String
    public var query: [(String, String)]
    /// Header names lower-cased.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, rawQuery: String = "", headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.rawQuery = rawQuery
        self.query = SimRequest.parseQuery(rawQuery)
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }

    public init(_ request: OutboundRequest) {
        let url = request.url
        var rest = Substring(url)
        if let schemeEnd = rest.range(of: "://") { rest = rest[schemeEnd.upperBound...] }
        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        let pathAndQuery = rest[pathStart...]
        let parts = pathAndQuery.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = parts.first.map(String.init) ?? "/"
        self.init(method: request.method, path: path.isEmpty ? "/" : path,
                  rawQuery: parts.count > 1 ? String(parts[1]) : "",
                  headers: Dictionary(request.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                  body: request.body)
    }

    public func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }

    /// The vendor operation asked for, the key of per-endpoint faults: the RPC `Action`, the `x-acs-action` or
    /// `x-tc-action` header, else the last path segment (Agora's `query`).
    public var operation: String {
        if let action = queryValue("Action"), !action.isEmpty { return action }
        if let action = header("x-acs-action") ?? header("x-tc-action") { return action }
        return path.split(separator: "/").last.map(String.init) ?? "/"
    }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
    /// The client's `User-Agent` (the exporter's names its version and, in HA mode, its replica).
    public var userAgent: String? { header("user-agent") }

    public static func parseQuery(_ raw: String) -> [(String, String)] {
        raw.split(separator: "&").map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(kv[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[0])
            let value = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[1])) : ""
            return (key, value)
        }
    }
}

public struct SimResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
    /// Seconds the server waits before answering (fault injection: hangs and slow answers).
    public var delaySeconds: Double
    /// How the server puts the answer on the wire (fault injection: drips, resets, truncation).
    public var delivery: Delivery = .whole
    /// Whitespace the server sends after the body (fault injection: huge answers that are still valid JSON),
    /// written from a shared buffer rather than built per answer.
    public var paddingBytes = 0

    public enum Delivery: Sendable, Hashable {
        case whole
        /// Headers at once, then the body a few bytes at a time.
        case drip(bytesPerSecond: Int)
        /// The connection is reset before anything is sent.
        case reset
        /// The headers announce the full length; the connection closes after half the body.
        case truncate
    }

    public init(status: Int, headers: [String: String] = ["content-type": "application/json"], body: [UInt8] = [],
                delaySeconds: Double = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delaySeconds = delaySeconds
    }

    /// What the `_sim` control API, Agora's gateway (Kong) and ZEGO answers carry; Tencent and Alibaba pass their own.
    public static let defaultJSONContentType = "application/json; charset=utf-8"

    public static func json(_ status: Int, _ value: JSONValue, headers: [String: String] = [:],
                            contentType: String = defaultJSONContentType) -> SimResponse {
        var all = ["content-type": contentType]
        for (k, v) in headers { all[k.lowercased()] = v }
        return SimResponse(status: status, headers: all, body: value.bytes)
    }

    public var inbound: InboundResponse { InboundResponse(status: status, headers: headers, body: body) }

    /// What a real transport would make of this answer without a socket (in-memory tests): a reset or truncated
    /// answer is a connection failure, a delay past `timeout` a timeout, a body over the cap too large.
    public func received(timeout: Double, maxResponseBytes: Int) throws(TransportFailure) -> InboundResponse {
        switch delivery {
        case .reset: throw .connection("connection reset by peer")
        case .truncate: throw .connection("the connection closed before the whole body arrived")
        case let .drip(rate) where delaySeconds + Double(body.count) / Double(max(rate, 1)) > timeout: throw .timeout
        case .whole, .drip: break
        }
        if delaySeconds > timeout { throw .timeout }
        if body.count + paddingBytes > maxResponseBytes { throw .responseTooLarge(limit: maxResponseBytes) }
        return inbound
    }
}

/// A vendor simulator: a pure function from request to response over a shared task book.
public protocol VendorSimulator: Sendable {
    var vendor: Vendor { get }
    var book: SimTaskBook { get }
    var stats: SimStats { get }
    var faults: FaultInjector { get }
    /// The vendor's QPS limit (`setLimit` changes it, e.g. `cloudrec_exporter simulators --rate-limit`).
    var limiter: SimRateLimiter { get }
    /// Vendor logic only; `respond(to:)` wraps it with fault injection and statistics. `conditions` carries the
    /// faults that act inside the vendor (a skewed clock, a rate limiter refusing everything).
    func handleVendorRequest(_ request: SimRequest, conditions: SimConditions) -> SimResponse
}

public extension VendorSimulator {
    func respond(to request: SimRequest) -> SimResponse {
        let (response, faulted) = faults.respond(to: request) { handleVendorRequest(request, conditions: $0) }
        if faulted { stats.record(.faulted) }
        return response
    }
}
