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
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

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

    public init(status: Int, headers: [String: String] = ["content-type": "application/json"], body: [UInt8] = [],
                delaySeconds: Double = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delaySeconds = delaySeconds
    }

    public static func json(_ status: Int, _ value: JSONValue, headers: [String: String] = [:]) -> SimResponse {
        var all = ["content-type": "application/json; charset=utf-8"]
        for (k, v) in headers { all[k.lowercased()] = v }
        return SimResponse(status: status, headers: all, body: value.bytes)
    }

    public var inbound: InboundResponse { InboundResponse(status: status, headers: headers, body: body) }
}

/// A vendor simulator: a pure function from request to response over a shared task book.
public protocol VendorSimulator: Sendable {
    var vendor: Vendor { get }
    var book: SimTaskBook { get }
    var stats: SimStats { get }
    var faults: FaultInjector { get }
    /// Vendor logic only; `respond(to:)` wraps it with fault injection and statistics.
    func handleVendorRequest(_ request: SimRequest) -> SimResponse
}

public extension VendorSimulator {
    func respond(to request: SimRequest) -> SimResponse {
        if let injected = faults.response(for: request) {
            stats.record(.faulted)
            return injected
        }
        var response = handleVendorRequest(request)
        response.delaySeconds = max(response.delaySeconds, faults.delaySeconds)
        return response
    }
}
